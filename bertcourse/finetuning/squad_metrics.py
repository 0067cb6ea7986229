"""SQuAD's answer scores: exact match and token F1 after normalisation (Rajpurkar et al., 2016).

As the official SQuAD v1.1 evaluation script defines them: an answer is lower-cased, its
punctuation and the articles a/an/the removed and its whitespace collapsed; exact match
compares the normalised strings, F1 the bags of their words.
"""

from __future__ import annotations

import re
import string
from collections import Counter


def normalize_answer(text: str) -> str:
    """Lower case, no punctuation, no articles (a, an, the), single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, truth: str) -> float:
    """1.0 when the normalised strings are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(truth))


def token_f1(prediction: str, truth: str) -> float:
    """F1 of the normalised words of ``prediction`` against those of ``truth`` (counted with repeats)."""
    predicted, true = normalize_answer(prediction).split(), normalize_answer(truth).split()
    if not predicted or not true:
        return float(predicted == true)  # both empty: 1, one empty: 0 (as the SQuAD 2.0 script)
    common = sum((Counter(predicted) & Counter(true)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(true)
    return 2 * precision * recall / (precision + recall)
