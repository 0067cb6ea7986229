"""Distant supervision for token classification: BIO tags from gazetteers over State of the Union text.

A reproducible label source with stated limits: a word sequence is tagged

* ``PER`` when it is a president's full name or surname as the SOTU corpus spells it
  (so other people, and presidents named otherwise, are missed, and "Washington", the city
  or the state, is the first president: a president's name wins over a state's);
* ``LOC`` when it is the name of one of the 50 US states (other places are missed);
* ``DATE`` for a month name, optionally followed by a day, and for a four-digit year 1700-2099.

Longest match first, left to right; tags are IOB2 (Ramshaw & Marcus, 1995). These are
the labels a model would be trained on, so its scores measure agreement with the gazetteer,
not with the truth.
"""

from __future__ import annotations

import functools
import re

STATES = (
    "Alabama Alaska Arizona Arkansas California Colorado Connecticut Delaware Florida Georgia Hawaii Idaho "
    "Illinois Indiana Iowa Kansas Kentucky Louisiana Maine Maryland Massachusetts Michigan Minnesota Mississippi "
    "Missouri Montana Nebraska Nevada Ohio Oklahoma Oregon Pennsylvania Tennessee Texas Utah Vermont Virginia "
    "Washington Wisconsin Wyoming").split() + ["New Hampshire", "New Jersey", "New Mexico", "New York",
                                             "North Carolina", "North Dakota", "Rhode Island", "South Carolina",
                                             "South Dakota", "West Virginia"]
MONTHS = ("January February March April May June July August September October November December").split()
YEAR = re.compile(r"^(1[7-9]|20)\d\d$")
DAY = re.compile(r"^([1-9]|[12]\d|3[01]),?$")


class Gazetteer(dict):
    """Word tuples -> entity type, with what longest-match tagging would otherwise recompute for every sentence."""

    @functools.cached_property
    def longest(self) -> int:
        return max(map(len, self), default=0)

    @functools.cached_property
    def first_words(self) -> frozenset[str]:
        return frozenset(words[0] for words in self if words)


@functools.cache
def gazetteer(presidents: tuple[str, ...]) -> Gazetteer:
    """Word tuples -> entity type, from the presidents' names and the states (PER wins over LOC on a tie)."""
    entries = Gazetteer({tuple(state.split()): "LOC" for state in STATES})
    for name in presidents:
        words = tuple(w for w in name.replace(".", "").split() if len(w) > 1)
        entries[words] = "PER"
        entries[words[-1:]] = "PER"
    return entries


def words_of(text: str) -> list[str]:
    """Words and punctuation marks, as a token classification data set stores them."""
    return re.findall(r"\w+(?:['’]\w+)*|[^\w\s]", text)


def tag(words: list[str], entries: dict[tuple[str, ...], str], dates: bool = True) -> list[str]:
    """IOB2 tags of ``words`` by longest gazetteer match, then (with ``dates``) the month and year rules."""
    entries = entries if isinstance(entries, Gazetteer) else Gazetteer(entries)
    tags, i = ["O"] * len(words), 0
    while i < len(words):
        # Only a word that starts an entry can start a match longer than one word (one word can be a date).
        longest = min(entries.longest, len(words) - i) if words[i] in entries.first_words else 1
        for n in range(longest, 0, -1):
            kind = entries.get(tuple(words[i: i + n]))
            if kind is None and dates and n == 1 and (words[i] in MONTHS or YEAR.match(words[i])):
                kind = "DATE"
                if words[i] in MONTHS and i + 1 < len(words) and DAY.match(words[i + 1]):
                    n = 2
            if kind is not None:
                tags[i: i + n] = [f"B-{kind}"] + [f"I-{kind}"] * (n - 1)
                i += n
                break
        else:
            i += 1
    return tags
