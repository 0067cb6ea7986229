"""best_answer_span against a brute-force search over every span, with masks and ties."""

from __future__ import annotations

import pytest
import torch

from bertcourse.finetuning.qa import best_answer_span


def brute_force(start, end, mask, max_len):
    best, where = None, None
    for s in range(len(start)):
        for e in range(s, min(len(start), s + max_len)):
            if mask[s] and mask[e]:
                score = start[s] + end[e]
                if best is None or score > best:  # strict: the first (smallest s, then e) wins ties
                    best, where = score, (s, e)
    return where


@pytest.mark.parametrize("integer_logits", [False, True])
def test_matches_brute_force(integer_logits):
    g = torch.Generator().manual_seed(0)
    for trial in range(500):
        length = int(torch.randint(1, 40, (1,), generator=g))
        if integer_logits:  # many ties
            start = torch.randint(-2, 3, (length,), generator=g).float()
            end = torch.randint(-2, 3, (length,), generator=g).float()
        else:
            start, end = torch.randn(length, generator=g), torch.randn(length, generator=g)
        mask = torch.rand(length, generator=g) < 0.7
        if not mask.any():
            mask[int(torch.randint(length, (1,), generator=g))] = True
        as_ints = trial % 2 == 0
        max_len = int(torch.randint(1, 12, (1,), generator=g))
        got = best_answer_span(start, end, mask.long() if as_ints else mask, max_len)
        assert type(got) is tuple and all(type(i) is int for i in got)
        assert got == brute_force(start.tolist(), end.tolist(), mask.tolist(), max_len)


def test_rules_one_by_one():
    start = torch.tensor([0.0, 0.0, 5.0, 0.0, 0.0])
    end = torch.tensor([9.0, 0.0, 0.0, 0.0, 4.0])
    context = torch.tensor([False, True, True, True, True])
    # the best end (0) lies before the start and outside the context
    assert best_answer_span(start, end, context) == (2, 4)
    assert best_answer_span(start, end, context, max_answer_length=3) == (2, 4)
    assert best_answer_span(start, end, context, max_answer_length=2) == (2, 2)  # end inclusive: 2 tokens max
    assert best_answer_span(torch.zeros(4), torch.zeros(4), torch.ones(4, dtype=torch.bool)) == (0, 0)


def test_errors():
    with pytest.raises(ValueError, match="context"):
        best_answer_span(torch.zeros(3), torch.zeros(3), torch.zeros(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="max_answer_length"):
        best_answer_span(torch.zeros(3), torch.zeros(3), torch.ones(3, dtype=torch.bool), 0)
