"""SQuAD's normalisation, exact match and F1, on the cases its evaluation script defines."""

from __future__ import annotations

import pytest

from bertcourse.finetuning.squad_metrics import exact_match, normalize_answer, token_f1


@pytest.mark.parametrize("text,expected", [
    ("The  Cat!", "cat"),
    ("an apple, a pear", "apple pear"),
    ("Mon, 2 Sep 2002 10:25:57 -0700", "mon 2 sep 2002 102557 0700"),
    ("theory", "theory"),  # articles only as whole words
])
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


@pytest.mark.parametrize("prediction,truth,em,f1", [
    ("the Subject", "subject", 1.0, 1.0),
    ('"Craig R.Hughes" <craig@deersoft.com>', '"Craig R.Hughes" <craig@deersoft.com>', 1.0, 1.0),
    ("Re: bad DCC traffic", "Re: bad DCC traffic from e-corp.net", 0.0, 2 * 1 * 4 / 6 / (1 + 4 / 6)),
    ("nothing", "something else", 0.0, 0.0),
    ("", "", 1.0, 1.0),
    ("", "x", 0.0, 0.0),
])
def test_exact_match_and_f1(prediction, truth, em, f1):
    assert exact_match(prediction, truth) == em
    assert token_f1(prediction, truth) == pytest.approx(f1)
