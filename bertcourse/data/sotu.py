"""State of the Union addresses 1790-2021 (``load_sotu``)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from .fetch import fetch
from .splits import splits
from .text import _paragraphs, normalize_whitespace, split_sentences


@dataclass(frozen=True)
class Address:
    """One State of the Union address.

    ``party`` is as the package spells it (``"Democratic"``, ``"Whig"``,
    ``"none"`` for Washington, ...). The package stores each address as a
    single line with no paragraph breaks, so ``paragraphs`` holds exactly one
    string, the whole (whitespace-normalised) text; use ``sentences`` for
    finer units.
    """

    year: int
    president: str
    party: str
    paragraphs: list[str]

    @property
    def key(self) -> str:
        """Stable split key, e.g. ``sotu:1953:Harry S Truman`` (two addresses
        share a year in 1953 and 1961)."""
        return f"sotu:{self.year}:{self.president}"

    @property
    def text(self) -> str:
        """The whole address."""
        return "\n\n".join(self.paragraphs)

    @property
    def sentences(self) -> list[str]:
        """The address split with ``split_sentences``."""
        return [s for p in self.paragraphs for s in split_sentences(p)]


@functools.cache
def load_sotu() -> list[Address]:
    """Return all State of the Union addresses sorted by year, then by file
    name (``data/<year>_<name>_<party>.json`` in the package); so in 1953
    Eisenhower comes before Truman although Truman's message came first."""
    addresses = []
    for path in sorted((fetch("sotu") / "data").glob("[0-9]*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        addresses.append(
            Address(
                year=int(record["year"]),
                president=normalize_whitespace(record["name"]),
                party=normalize_whitespace(record["party"]),
                paragraphs=_paragraphs(record["text"]),
            )
        )
    return sorted(addresses, key=lambda a: a.year)  # stable: keeps file order


def sotu_splits() -> dict[str, list[Address]]:
    """State of the Union split by address (``Address.key``)."""
    return splits(load_sotu(), lambda a: a.key)
