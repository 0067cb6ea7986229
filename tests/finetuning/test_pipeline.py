"""The task pipelines' small parts: truncation and framing, batches, scores, recall@k, gazetteer tags."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bertcourse.finetuning import entities, inputs, retrieval, sotu_party, spam
from bertcourse.finetuning.finetune import FinetuneConfig, training_batches


@pytest.mark.parametrize("ids,budget,how,expected", [
    (list(range(10)), 20, "head", list(range(10))),
    (list(range(10)), 4, "head", [0, 1, 2, 3]),
    (list(range(20)), 8, "head+tail", [0, 1, 14, 15, 16, 17, 18, 19]),  # a quarter head, the rest tail
    (list(range(20)), 3, "head+tail", [0, 1, 2]),
])
def test_cut(ids, budget, how, expected):
    assert inputs.cut(ids, budget, how) == expected
    with pytest.raises(ValueError, match="truncation"):
        inputs.cut(ids, budget, "tail")


def test_encode_frames_pairs_within_the_budget(tokenizer):
    subjects = ["Cheap meds", "Re: meeting " * 30]
    bodies = ["Buy now " * 300, "See you at three."]
    for ids, types in inputs.encode(tokenizer, subjects, bodies, max_length=40, truncation="head+tail"):
        assert len(ids) == len(types) <= 40
        assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
        assert ids.count(tokenizer.sep_token_id) == 2
        first_b = types.index(1)
        assert ids[first_b - 1] == tokenizer.sep_token_id and set(types[first_b:]) == {1}
    ids, types = inputs.encode(tokenizer, ["Call me Ishmael."], max_length=64)[0]
    assert tokenizer.decode(ids) == "[CLS] call me ishmael. [SEP]" and set(types) == {0}


def test_collate_pads_and_masks():
    batch = inputs.collate([([101, 7, 102], [0, 0, 0]), ([101, 102], [0, 0])])
    assert batch["input_ids"].tolist() == [[101, 7, 102], [101, 102, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["token_type_ids"].dtype == torch.long


def test_training_batches_cover_each_epoch_once():
    examples = [([101, i, 102], [0, 0, 0]) for i in range(10)]
    batches = training_batches(examples, list(range(10)), FinetuneConfig(epochs=2, batch_size=4))
    assert len(batches) == 5
    seen = torch.cat([b["input_ids"][:, 1] for b in batches]).tolist()
    assert sorted(seen[:10]) == list(range(10))  # the first epoch is a permutation
    assert all(b["labels"].tolist() == b["input_ids"][:, 1].tolist() for b in batches)


def test_scores_match_sklearn():
    from sklearn.metrics import f1_score

    y_true, y_pred = np.array([0, 0, 1, 1, 1, 0]), np.array([0, 1, 1, 0, 1, 0])
    groups = ["easy", "hard", "spam", "spam", "spam", "hard"]
    result = spam.scores(y_true, y_pred, groups)
    assert result["confusion"] == [[2, 1], [1, 2]]
    assert result["f1"] == pytest.approx(f1_score(y_true, y_pred))
    assert result["groups"]["hard"] == {"n": 2, "accuracy": 0.5}


def test_hard_ham_accuracy_has_its_own_key_for_the_seed_spread():
    y_true, y_pred = np.array([0, 0, 0, 1]), np.array([0, 1, 0, 1])
    scored = spam.with_hard_ham(spam.scores(y_true, y_pred, [spam.HARD_HAM, spam.HARD_HAM, "easy", "spam"]))
    assert scored["hard_ham"] == 0.5 and scored["accuracy"] == 0.75
    assert spam.with_hard_ham(spam.scores(y_true, y_pred, ["easy"] * 3 + ["spam"]))["hard_ham"] is None
    result = {"tfidf": {"test": {"hard_ham": 26 / 31}},
              "fine_tuned": [{"test": {"hard_ham": a}} for a in (26 / 31, 27 / 31, 28 / 31)]}
    v = spam.verdict(result, "hard_ham")
    assert {k: v[k] for k in ("mean", "min", "max")} == pytest.approx({"mean": 27 / 31, "min": 26 / 31, "max": 28 / 31})
    assert v["outcome"] == "ahead" and v["seeds_above"] == 2  # one email ahead on average, two apart between seeds


def test_wall_clock_times_one_seed_and_restores_the_threads():
    threads = torch.get_num_threads()
    timed = spam.wall_clock(spam.SpamConfig.for_profile("ci"), seed=0, threads=1)
    assert torch.get_num_threads() == threads
    assert timed["seed"] == 0 and timed["threads"] == 1 and 0.0 <= timed["test_accuracy"] <= 1.0
    assert 0 < timed["train_seconds"] <= timed["seconds_with_scoring"]


def test_configs_by_profile_and_stable_keys():
    ci, cpu = spam.SpamConfig.for_profile("ci"), spam.SpamConfig.for_profile("cpu")
    assert ci.limit and cpu.limit is None and cpu.max_length == 128
    assert ci.seeds == (0,) and cpu.seeds == (0, 1, 2)  # seconds under ci; a seed spread in the book
    assert cpu.key() == spam.SpamConfig.for_profile("cpu").key() != ci.key()
    assert spam.SpamConfig.for_notebook("ci").limit == 64
    assert retrieval.RetrievalConfig.for_profile("ci").steps < retrieval.RetrievalConfig.for_profile("cpu").steps


def test_recall_at_k():
    ranking = np.array([[0, 1, 2], [2, 1, 0], [0, 1, 2]])  # query 0 first, query 1 second, query 2 third
    assert retrieval.recall_at_k(ranking, ks=(1, 2, 3)) == {"recall@1": 1 / 3, "recall@2": 2 / 3, "recall@3": 1.0}


def test_gazetteer_tags():
    entries = entities.gazetteer(("Abraham Lincoln", "George W. Bush"))
    words = entities.words_of("On March 4, 1861, Abraham Lincoln left New York for Washington.")
    tagged = dict(zip(words, entities.tag(words, entries)))
    assert entities.tag(words, entries)[words.index("Abraham"):words.index("Lincoln") + 1] == ["B-PER", "I-PER"]
    assert tagged["March"] == "B-DATE" and tagged["4"] == "I-DATE" and tagged["1861"] == "B-DATE"
    assert tagged["New"] == "B-LOC" and tagged["York"] == "I-LOC"
    assert tagged["Washington"] == "B-LOC"  # no president Washington in this list: the state
    assert entities.tag(["Bush"], entries) == ["B-PER"]
    assert entities.tag(["Washington"], entities.gazetteer(("George Washington",))) == ["B-PER"]  # a stated limit


def test_sotu_split_by_address_keeps_addresses_whole():
    items = [(f"sotu:{year}:P{year // 8}", "P", f"passage {i}") for year in range(1800, 1900) for i in range(6)]
    for by, unit in (("address", lambda key: key), ("president", lambda key: key.split(":")[-1])):
        parts = sotu_party.split(items, by)
        assert sorted(parts) == ["test", "train", "validation"] and sum(map(len, parts.values())) == len(items)
        units = {name: {unit(k) for k, _, _ in part} for name, part in parts.items()}
        assert not units["train"] & units["test"] and not units["train"] & units["validation"]
    by_passage = sotu_party.split(items, "passage")
    assert {k for k, _, _ in by_passage["train"]} & {k for k, _, _ in by_passage["test"]}  # the leak
    with pytest.raises(ValueError, match="by must be"):
        sotu_party.split(items, "sentence")


def test_sotu_sample_is_fixed_and_keeps_order():
    items = [("k", "P", f"text {i}") for i in range(50)]
    chosen = sotu_party.sample(items, 10)
    assert len(chosen) == 10 and chosen == sotu_party.sample(list(items), 10)
    assert [items.index(c) for c in chosen] == sorted(items.index(c) for c in chosen)
    assert sotu_party.sample(items, None) == items == sotu_party.sample(items, 99)


def test_sotu_skew_thins_one_party():
    items = [("k", "D" if i % 2 else "R", f"text {i}") for i in range(200)]
    skewed = sotu_party.skew(items, "D", 0.1)
    assert sum(p == "D" for _, p, _ in skewed) == round(0.1 / 0.9 * 100) and sum(p == "R" for _, p, _ in skewed) == 100
    assert skewed == [item for item in items if item in skewed]  # order kept
    with pytest.raises(ValueError, match="share must be"):
        sotu_party.skew(items, "D", 1.0)


def test_sotu_scores_and_spread():
    from sklearn.metrics import f1_score

    truth = ["D", "D", "D", "R"]
    result = sotu_party.scores(truth, ["D", "D", "D", "D"], ("D", "R"))
    assert result["accuracy"] == 0.75 and result["recall"] == {"D": 1.0, "R": 0.0}  # what accuracy hides
    assert result["macro_f1"] == pytest.approx(f1_score(truth, ["D"] * 4, average="macro", zero_division=0))
    assert result["predicted_share"] == {"D": 1.0, "R": 0.0} and result["confusion"] == [[3, 0], [1, 0]]
    runs = [{"test": {"accuracy": a}} for a in (0.6, 0.7, 0.8)]
    assert sotu_party.spread(runs, "accuracy") == pytest.approx({"mean": 0.7, "std": 0.1, "min": 0.6, "max": 0.8})


def test_sotu_variants_differ_only_where_named():
    runs = sotu_party.variants("cpu")
    main = runs["main"]
    assert main == sotu_party.PartyConfig.for_profile("cpu") and len(main.seeds) == 3
    assert len({config.key() for config in runs.values()}) == len(runs)
    assert runs["lora"].lora is not None and runs["lora"].train_limit == main.train_limit
    assert runs["high_lr"].finetune.learning_rate == 1e-3 and runs["high_lr"].train_limit == main.train_limit
    assert runs["small"].train_limit < main.train_limit and runs["small"].curve_points > 0
    assert sotu_party.PartyConfig.for_profile("ci").train_limit < main.train_limit


@pytest.mark.parametrize("seeds,outcome", [
    ((0.70, 0.72, 0.71), "beats"),  # margin 11 points, range 2
    ((0.58, 0.75, 0.70), "ahead"),  # margin 8 points but range 17
    ((0.55, 0.66, 0.60), "ahead"),  # margin 0.3 points, one seed below
    ((0.50, 0.61, 0.55), "loses"),
])
def test_sotu_verdict_compares_the_margin_with_the_seed_spread(seeds, outcome):
    result = {"tfidf": {"test": {"macro_f1": 0.60}}, "fine_tuned": [{"test": {"macro_f1": s}} for s in seeds]}
    result["spread"] = {"macro_f1": sotu_party.spread(result["fine_tuned"], "macro_f1")}
    v = sotu_party.verdict(result)
    assert v["outcome"] == outcome
    assert v["margin"] == pytest.approx(np.mean(seeds) - 0.60) and v["range"] == pytest.approx(max(seeds) - min(seeds))
    assert v["seeds_above"] == sum(s > 0.60 for s in seeds)


def test_fine_tune_logs_the_evaluate_hook_as_validation():
    from bertcourse.finetuning.classifier import SequenceClassifier
    from bertcourse.finetuning.finetune import fine_tune
    from bertcourse.models.bert import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig.preset("tiny")
    model = SequenceClassifier(BertModel(config), config.hidden_size, 2)
    examples = [([101, 5 + i, 102], [0, 0, 0]) for i in range(8)]
    calls = []

    def evaluate(m):
        calls.append(m.training)
        return {"accuracy": 0.5}

    history, _ = fine_tune(model, examples, [i % 2 for i in range(8)], FinetuneConfig(epochs=2, batch_size=4),
                           device="cpu", evaluate=evaluate, eval_every=2)
    assert history.series("validation", "accuracy") == ([2, 4], [0.5, 0.5]) and len(calls) == 2
    assert model.training  # put back in train mode after each evaluation
