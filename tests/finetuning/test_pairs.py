"""Task 5's sentence pairs and re-ranking: pairs stay in their split, negatives are never the next
passage, re-ranking only reorders the candidates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from bertcourse import data
from bertcourse.finetuning import next_passage, rerank


@dataclass(frozen=True)
class FakeAddress:
    key: str
    sentences: list[str]


def fake_addresses(n: int, length: int) -> list[FakeAddress]:
    # Sentence "k:i" is the i-th of address k: text tells where it came from
    return [FakeAddress(f"sotu:{1800 + k}:X", [f"{k}:{i}" for i in range(length)]) for k in range(n)]


def where(text: str) -> tuple[int, int]:
    address, position = text.split(":")
    return int(address), int(position)


def test_pairs_are_labelled_by_position_and_negatives_are_never_the_next_passage():
    pairs = next_passage.make_pairs(fake_addresses(5, 12), sentences=1, anchors=40, seed=3)
    assert len(pairs) == 120 and [p.kind for p in pairs[:3]] == list(next_passage.KINDS)
    for pair in pairs:
        (ka, ia), (kb, ib) = where(pair.a), where(pair.b)
        assert pair.label == (pair.kind == "next") == (ka == kb and ib == ia + 1)
        if pair.kind == "same address":
            assert ka == kb and abs(ib - ia) > 1  # not the next one, nor the previous one
        if pair.kind == "other address":
            assert ka != kb and pair.address_a != pair.address_b


def test_passages_group_sentences_and_a_duplicate_of_the_next_is_no_negative():
    address = FakeAddress("sotu:1900:X", ["a", "b", "c", "d", "e"])
    assert next_passage.passages(address, 2) == ["a b", "c d", "e"]
    with pytest.raises(ValueError, match="sentences must be >= 1"):
        next_passage.passages(address, 0)
    # "y" repeats: "y z" and "y w" are both true next pairs, so neither may be a negative
    repeated = [FakeAddress("sotu:1:X", ["x", "y", "z", "y", "w", "y"]), FakeAddress("sotu:2:X", list("pqrwz"))]
    adjacent = {(s[i], s[i + 1]) for address in repeated for s in [address.sentences] for i in range(len(s) - 1)}
    pairs = next_passage.make_pairs(repeated, 1, anchors=100, seed=0)
    assert {(p.a, p.b) for p in pairs if p.label == 1} <= adjacent
    assert not {(p.a, p.b) for p in pairs if p.label == 0} & adjacent


def test_pairs_need_two_long_enough_addresses():
    with pytest.raises(ValueError, match="addresses must hold"):
        next_passage.make_pairs(fake_addresses(1, 10) + fake_addresses(1, 3), 1, anchors=5)


def test_pair_construction_never_crosses_the_split():
    config = next_passage.NextPassageConfig.for_profile("ci")
    pairs = next_passage.split_pairs(config)
    for split, items in pairs.items():
        assert items and all(data.split_of(p.address_a) == split == data.split_of(p.address_b) for p in items)
    train_text = {p.a for p in pairs["train"]} | {p.b for p in pairs["train"]}
    assert not train_text & ({p.a for p in pairs["test"]} | {p.b for p in pairs["test"]})


def test_threshold_and_scores():
    values, labels = np.array([0.1, 0.2, 0.6, 0.9]), np.array([0, 0, 1, 1])
    assert next_passage.best_threshold(values, labels) == 0.6
    pairs = next_passage.make_pairs(fake_addresses(3, 8), 1, anchors=2)  # next, same, other, next, same, other
    result = next_passage.scores(pairs, np.array([1, 1, 0, 0, 0, 0]))
    assert result["accuracy"] == pytest.approx(4 / 6) and result["f1"] == pytest.approx(0.5)
    assert result["by_kind"] == {"next": 0.5, "same address": 0.5, "other address": 1.0}


def test_rerank_reorders_the_candidates_and_keeps_the_set():
    rng = np.random.default_rng(0)
    candidates = np.stack([rng.permutation(50)[:10] for _ in range(7)])
    scores = rng.random(candidates.shape)
    reranked = rerank.rerank(candidates, scores)
    for row, new, s in zip(candidates, reranked, scores):
        assert sorted(new) == sorted(row)
        assert [s[list(row).index(d)] for d in new] == sorted(s, reverse=True)
    ties = rerank.rerank(np.array([[4, 2, 9]]), np.array([[0.5, 0.5, 0.9]]))
    assert ties.tolist() == [[9, 4, 2]]  # equal scores keep the bi-encoder's order
    with pytest.raises(ValueError, match="same shape"):
        rerank.rerank(candidates, scores[:, :3])


def test_hard_negatives_skip_the_right_document():
    ranking = np.array([[0, 3, 1], [2, 1, 0], [2, 0, 1]])
    assert rerank.hard_negatives(ranking).tolist() == [3, 2, 0]
    subjects, bodies, labels = rerank.training_pairs(["s0", "s1", "s2"], ["b0", "b1", "b2", "b3"], ranking)
    assert list(zip(subjects, bodies, labels))[:2] == [("s0", "b0", 1), ("s0", "b3", 0)]
    assert labels == [1, 0] * 3


def test_configs_by_profile():
    assert next_passage.NextPassageConfig.for_profile("ci").train_anchors < \
        next_passage.NextPassageConfig.for_profile("cpu").train_anchors
    assert len(next_passage.NextPassageConfig.for_profile("cpu").seeds) == 3
    ci, cpu = rerank.RerankConfig.for_profile("ci"), rerank.RerankConfig.for_profile("cpu")
    assert ci.limit and cpu.limit is None and cpu.key() == rerank.RerankConfig.for_profile("cpu").key() != ci.key()
