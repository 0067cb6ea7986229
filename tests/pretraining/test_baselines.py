"""The counting baselines the pre-training page compares a run against."""

from __future__ import annotations

import math

import pytest
import torch

from bertcourse.pretraining import baselines

MASK, CLS = 1, 2
VOCAB = 10


def held_out(sequences: list[list[int]], masked: list[tuple[int, int]]) -> list[dict[str, torch.Tensor]]:
    """One batch: ``masked`` (row, column) positions become MASK in the input and are labelled."""
    input_ids = torch.tensor(sequences)
    labels = torch.full_like(input_ids, -100)
    for row, col in masked:
        labels[row, col] = input_ids[row, col]
        input_ids[row, col] = MASK
    return [{"input_ids": input_ids, "labels": labels}]


def test_unigram_baseline_answers_the_most_frequent_token_and_scores_add_one_loss():
    train = [[CLS, 5, 5, 5, 6], [CLS, 5, 7]]  # CLS is special: not counted
    batches = held_out([[CLS, 5, 6, 7]], [(0, 1), (0, 2), (0, 3)])
    result = baselines.unigram_baseline(train, batches, VOCAB, special_ids=[CLS, MASK])
    assert result["token"] == 5
    assert result["accuracy"] == pytest.approx(1 / 3)
    total = 6  # 5 x4, 6 x1, 7 x1
    expected = -(math.log(5 / (total + VOCAB)) + math.log(2 / (total + VOCAB)) + math.log(2 / (total + VOCAB))) / 3
    assert result["loss"] == pytest.approx(expected)


def test_neighbour_baseline_reads_the_tokens_beside_the_mask():
    # 3 is always followed by 4 and 5 by 6: the left neighbour decides; unigram cannot (all equally frequent).
    train = [[3, 4, 5, 6] * 5, [5, 6, 3, 4] * 5]
    sequence = [3, 4, 5, 6, 3, 4, 5, 6]
    batches = held_out([sequence], [(0, 1), (0, 3), (0, 5), (0, 7)])
    assert baselines.neighbour_baseline(train, batches, VOCAB, special_ids=[CLS, MASK]) == 1.0
    assert baselines.unigram_baseline(train, batches, VOCAB, special_ids=[CLS, MASK])["accuracy"] <= 0.5


def test_neighbour_baseline_answers_only_candidates():
    train = [[3, 4] * 10 + [8, 9]]
    batches = held_out([[8, 9, 8, 9]], [(0, 1), (0, 3)])  # 9 follows 8, but 9 is rare
    assert baselines.neighbour_baseline(train, batches, VOCAB, special_ids=[], candidates=2) == 0.0
    assert baselines.neighbour_baseline(train, batches, VOCAB, special_ids=[], candidates=VOCAB) == 1.0
