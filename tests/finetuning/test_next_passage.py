"""Task 5's pair task: pairs from document structure, the TF-IDF cosine baseline, the configs."""

from __future__ import annotations

import random

import pytest

from bertcourse.finetuning import next_passage


def test_pairs_are_successors_or_far_segments_of_the_same_document():
    segments = [f"segment {i}" for i in range(30)]
    pairs = next_passage.make_pairs(segments, random.Random(0), gap=3)
    assert len(pairs) == len(segments) - 1
    for i, (a, b, label) in enumerate(pairs):
        assert a == segments[i]
        j = segments.index(b)
        assert (j == i + 1) if label else abs(j - i) >= 3
    assert 5 < sum(label for _, _, label in pairs) < 25  # about half positive
    assert pairs == next_passage.make_pairs(segments, random.Random(0), gap=3)  # seeded


def test_short_documents_give_positives_only():
    pairs = next_passage.make_pairs(["a", "b", "c"], random.Random(0), gap=3)
    assert [label for _, _, label in pairs] == [1, 1]


def test_tfidf_cosine_baseline_reads_shared_words():
    train = [("the tariff on steel", "steel tariff revenue", 1), ("the tariff on steel", "our navy ships", 0)] * 4
    test = [("steel revenue", "the tariff revenue", 1), ("steel revenue", "the navy", 0)]  # words seen in training
    result = next_passage.tfidf_cosine_baseline({"train": train, "test": test})
    assert result["test"]["n"] == 2 and result["test"]["auc"] == 1.0


def test_configs():
    ci, cpu = next_passage.PairConfig.for_profile("ci"), next_passage.PairConfig.for_profile("cpu")
    assert ci.train_pairs < cpu.train_pairs and ci.key() != cpu.key() == next_passage.PairConfig.for_profile("cpu").key()
    longer = cpu.longer(3)
    assert longer.finetune.epochs == 3 and longer.key() != cpu.key()
    assert longer.finetune.learning_rate == cpu.finetune.learning_rate and longer.train_pairs == cpu.train_pairs
    with pytest.raises(ValueError, match="gap"):
        next_passage.PairConfig(gap=1)
