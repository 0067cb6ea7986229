"""Re-ranking the retriever's top-k: it only reorders the candidates, and hard negatives are never the answer."""

from __future__ import annotations

import numpy as np
import pytest

from bertcourse.finetuning import rerank


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


def test_training_pairs_label_only_the_own_body_positive():
    ranking = np.array([[0, 3, 1], [2, 1, 0], [2, 0, 1]])
    bodies = ["b0", "b1", "b2", "b3"]
    for seed in range(20):
        subjects, chosen, labels = rerank.training_pairs(["s0", "s1", "s2"], bodies, ranking, seed)
        assert labels == [1, 0, 0] * 3 and subjects == ["s0"] * 3 + ["s1"] * 3 + ["s2"] * 3
        assert chosen[0::3] == ["b0", "b1", "b2"] and chosen[1::3] == ["b3", "b2", "b0"]
        assert all(body != f"b{i}" for i, body in enumerate(chosen[2::3]))  # the random one is wrong too
    with pytest.raises(ValueError, match="bodies must hold"):
        rerank.training_pairs(["s0"], ["b0"], np.array([[0]]))


def test_configs_by_profile():
    ci, cpu = rerank.RerankConfig.for_profile("ci"), rerank.RerankConfig.for_profile("cpu")
    assert ci.limit and cpu.limit is None and ci.candidates < cpu.candidates
    assert cpu.key() == rerank.RerankConfig.for_profile("cpu").key() != ci.key()
    three = rerank.longer(cpu, epochs=3)
    assert three.finetune.epochs == 3 and three.train_queries == cpu.train_queries and three.key() != cpu.key()
