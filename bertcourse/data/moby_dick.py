"""Moby Dick (``load_moby_dick``): chapters -> paragraphs -> sentences."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass

from .fetch import fetch
from .splits import splits
from .text import _paragraphs, normalize_whitespace, split_sentences

#: ``Chapter.number`` given to the epilogue, which follows chapter 135.
EPILOGUE = 136


@dataclass(frozen=True)
class Chapter:
    """One chapter: its number (``EPILOGUE`` = 136 for the epilogue), title
    and paragraphs, each paragraph a list of sentences."""

    number: int
    title: str
    paragraphs: list[list[str]]

    @property
    def key(self) -> str:
        """Stable split key, e.g. ``moby-dick:chapter-12``."""
        if self.number == EPILOGUE:
            return "moby-dick:epilogue"
        return f"moby-dick:chapter-{self.number}"

    @property
    def sentences(self) -> list[str]:
        """All sentences of the chapter in order."""
        return [s for paragraph in self.paragraphs for s in paragraph]


def _chapter(number: int, title: str, text: str) -> Chapter:
    """Build a ``Chapter`` from raw text (paragraphs separated by blank lines)."""
    paragraphs = [split_sentences(p) for p in _paragraphs(text)]
    return Chapter(number, normalize_whitespace(title), paragraphs)


@functools.cache
def load_moby_dick() -> list[Chapter]:
    """Return the 135 chapters of Moby Dick plus the epilogue, in order.

    Read from the package's ``data/chapter_<n>.json`` and ``epilogue.json``.
    Excluded front matter: the table of contents, the "Etymology" and the
    "Extracts" (``contents``/``etymology``/``extracts.json``), and the
    epilogue's heading line (its title becomes ``"Epilogue"``). Chapter
    texts in the package carry no heading line.
    """
    data = fetch("moby-dick") / "data"
    chapters = []
    for path in data.glob("chapter_*.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        chapters.append(_chapter(int(record["chapter"]), record["title"], record["text"]))
    epilogue = json.loads((data / "epilogue.json").read_text(encoding="utf-8"))
    body = re.sub(r"\AEpilogue\b[^\n]*\n", "", epilogue["text"].lstrip())
    chapters.append(_chapter(EPILOGUE, "Epilogue", body))
    return sorted(chapters, key=lambda c: c.number)


def moby_dick_splits() -> dict[str, list[Chapter]]:
    """Moby Dick split by chapter (``Chapter.key``)."""
    return splits(load_moby_dick(), lambda c: c.key)
