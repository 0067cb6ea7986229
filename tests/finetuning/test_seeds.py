"""A score over seeds: its spread, the verdict against a baseline, and the task modules that report it."""

from __future__ import annotations

import pytest

from bertcourse.finetuning import next_passage, rerank, retrieval, seeds


def test_spread_of_one_seed_has_no_width_and_of_none_is_an_error():
    assert seeds.spread([0.4]) == {"mean": 0.4, "std": 0.0, "min": 0.4, "max": 0.4}
    with pytest.raises(ValueError, match="values"):
        seeds.spread([])


@pytest.mark.parametrize("values,outcome", [((0.50, 0.52), "beats"), ((0.42, 0.50), "ahead"), ((0.38, 0.41), "loses")])
def test_verdict_against_a_baseline(values, outcome):
    v = seeds.verdict(values, 0.40)
    assert v["outcome"] == outcome and v["seeds"] == 2 and v["baseline"] == 0.40
    assert v["range"] == pytest.approx(max(values) - min(values))


def test_task_five_verdicts_read_each_seed_against_the_deterministic_baseline():
    result = {"tfidf": {"recall@1": 0.45}, "minilm": {"recall@1": 0.42},
              "fine_tuned": [{"seed": s, "recall@1": r} for s, r in enumerate((0.46, 0.44, 0.47))]}
    assert retrieval.verdict(result)["outcome"] == "ahead"  # one seed below TF-IDF
    assert retrieval.verdict(result, "minilm")["outcome"] == "beats"
    pairs = {"tfidf_cosine": {"test": {"accuracy": 0.71}},
             "cross_encoder": [{"seed": s, "test": {"accuracy": a}} for s, a in enumerate((0.62, 0.60, 0.64))]}
    assert next_passage.verdict(pairs)["outcome"] == "loses"
    reranked = {"bi_encoder": {"recall@1": 0.42}, "reranked": [{"seed": s, "recall@1": r} for s, r in enumerate((0.46, 0.43))]}
    assert rerank.verdict(reranked)["outcome"] == "ahead"  # margin 2.5 points, range 3


def test_cpu_profiles_train_three_seeds_and_ci_one():
    for config_class in (retrieval.RetrievalConfig, next_passage.PairConfig, rerank.RerankConfig):
        assert config_class.for_profile("cpu").seeds == (0, 1, 2) and len(config_class.for_profile("ci").seeds) == 1
