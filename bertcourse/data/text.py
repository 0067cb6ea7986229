"""Text helpers shared by the corpus parsers: whitespace, sentences, paragraphs."""

from __future__ import annotations

import re

#: Lower-cased words that end with a period without ending a sentence.
ABBREVIATIONS = frozenset(
    "mr mrs ms messrs mme mlle dr st mt jr sr prof capt col gen lt sgt cmdr "
    "adm gov sen rep rev hon pres esq vs viz cf ca approx dept inc ltd co corp "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
_OPEN = "\"'“‘(["
_CLOSE = "\"'”’)]"
_BOUNDARY = re.compile(
    rf"(?P<end>[.!?]+)[{re.escape(_CLOSE)}]*\s+(?=[{re.escape(_OPEN)}]*[A-Z])"
)


def normalize_whitespace(text: str) -> str:
    """Collapse every run of whitespace to one space and strip the ends."""
    return " ".join(text.split())


def _is_abbreviation(before: str) -> bool:
    """True if the text ``before`` a single period ends in an abbreviation:
    a listed word (``Mr``), a lone capital initial other than ``I``
    (``John F``) or a dotted token (``U.S``, ``e.g``)."""
    words = before.split()
    word = words[-1].lstrip(_OPEN) if words else ""
    return (
        word.lower() in ABBREVIATIONS
        or re.fullmatch(r"[A-HJ-Z]", word) is not None
        or "." in word
    )


def split_sentences(text: str) -> list[str]:
    """Split English prose into sentences with one regular expression.

    A boundary is a run of ``.``, ``!`` or ``?``, optionally followed by
    closing quotes or brackets, then whitespace, then (after optional opening
    quotes or brackets) a capital letter. So ``"Hast seen the White Whale?"
    asked he`` stays one sentence, and a quote closing after ``!`` stays with
    its sentence. A single period does not end a sentence after a known
    abbreviation (``Mr.``, ``Mrs.``, ``Dr.``, ``St.``, ... see
    ``ABBREVIATIONS``), a lone initial (``John F. Kennedy``) or a dotted
    token (``U.S.``, ``e.g.``); the price is that a sentence really ending in
    one of these is not split. Whitespace is normalised first; quotes that
    span several sentences are not balanced.
    """
    text = normalize_whitespace(text)
    sentences, start = [], 0
    for match in _BOUNDARY.finditer(text):
        if match["end"] == "." and _is_abbreviation(text[start : match.start()]):
            continue
        sentences.append(text[start : match.end()].strip())
        start = match.end()
    tail = text[start:].strip()
    return sentences + [tail] if tail else sentences


def _paragraphs(text: str) -> list[str]:
    """Split on blank lines; normalise whitespace; drop empty paragraphs."""
    paragraphs = (normalize_whitespace(p) for p in re.split(r"\n\s*\n", text))
    return [p for p in paragraphs if p]
