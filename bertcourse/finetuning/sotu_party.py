"""Task 2, SOTU passage -> the speaker's party: a task where documents must not be split, and its runs.

An address is cut into passages of five sentences; each passage is labelled with its
president's party. Splitting the passages at random puts passages of one address in both
train and test (its topics, names and phrasing leak); the course's split is by address
(:func:`bertcourse.data.split_of` of ``Address.key``), or, stricter, by president.

The task keeps the two major parties (:data:`PARTIES`, 1853-2021): the minor parties are a
few addresses each, all before 1861, where vocabulary alone names the era. Two models see the
same passages: TF-IDF + logistic regression and MiniLM fine-tuned with a linear head on [CLS]
(:class:`~bertcourse.finetuning.classifier.SequenceClassifier`), several seeds; optionally with
LoRA adapters instead of full fine-tuning (:mod:`bertcourse.finetuning.lora`). A run is sized by
the profile (:meth:`PartyConfig.for_profile`) and cached as JSON by config (:func:`cached_run`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bertcourse import data, hub, runtime

from . import seeds
from .classifier import SequenceClassifier
from .finetune import FinetuneConfig, fine_tune, predict_proba
from .inputs import encode
from .lora import LoraConfig, add_lora, trainable_parameters

Passage = tuple[str, str, str]  # (address key, party, text)
PARTIES = ("Democratic", "Republican")
SPLITS = ("train", "validation", "test")
UNITS = ("address", "president", "passage")


def passages(sentences_per_passage: int = 5, parties: tuple[str, ...] | None = None) -> list[Passage]:
    """Every address (of ``parties``, default all) cut into passages of ``sentences_per_passage`` sentences."""
    out = []
    for address in data.load_sotu():
        if parties is not None and address.party not in parties:
            continue
        sentences = address.sentences
        for i in range(0, len(sentences), sentences_per_passage):
            out.append((address.key, address.party, " ".join(sentences[i: i + sentences_per_passage])))
    return out


def split(items: list[Passage], by: str) -> dict[str, list[Passage]]:
    """Train, validation and test passages, split ``by`` "address", "president" or "passage" (the leaky way)."""
    if by not in UNITS:
        raise ValueError(f"by must be one of {UNITS}; got {by!r}")
    out: dict[str, list[Passage]] = {name: [] for name in SPLITS}
    for key, party, text in items:
        unit = {"address": key, "president": key.split(":", 2)[-1], "passage": f"{key}|{text}"}[by]
        out[data.split_of(unit)].append((key, party, text))
    return out


def sample(items: list[Passage], limit: int | None) -> list[Passage]:
    """The first ``limit`` passages in the order of a hash of their text: a fixed, unbiased sample, in order."""
    if limit is None or limit >= len(items):
        return items
    chosen = set(sorted(range(len(items)), key=lambda i: hashlib.sha256(items[i][2].encode()).digest())[:limit])
    return [item for i, item in enumerate(items) if i in chosen]


def skew(items: list[Passage], minority: str, share: float) -> list[Passage]:
    """``items`` with the passages of party ``minority`` thinned (a fixed sample) to about ``share`` of the result."""
    if not 0 < share < 1:
        raise ValueError(f"share must be in (0, 1); got {share!r}")
    others = [item for item in items if item[1] != minority]
    kept = set(sample([item for item in items if item[1] == minority], round(share / (1 - share) * len(others))))
    return [item for item in items if item[1] != minority or item in kept]


def scores(truth: list[str], predicted: list[str], labels: tuple[str, ...]) -> dict:
    """Accuracy, macro-F1, recall of each class, share of each predicted class, confusion matrix (rows: truth)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score

    recall = recall_score(truth, predicted, labels=list(labels), average=None, zero_division=0)
    shares = Counter(predicted)
    return {"n": len(truth), "accuracy": float(accuracy_score(truth, predicted)),
            "macro_f1": float(f1_score(truth, predicted, labels=list(labels), average="macro", zero_division=0)),
            "recall": {label: float(r) for label, r in zip(labels, recall)},
            "predicted_share": {label: shares[label] / max(1, len(predicted)) for label in labels},
            "confusion": confusion_matrix(truth, predicted, labels=list(labels)).tolist()}


def tfidf_baseline(train: list[Passage], test: list[Passage], class_weight: str | None = None) -> dict:
    """TF-IDF + logistic regression fitted on ``train``, scored on ``test``, beside always answering the majority.

    The regression is solved to its optimum (newton-cg to a tight tolerance, in about a second): lbfgs at
    sklearn's default tolerance stopped at weights that moved with the number of BLAS threads, and so
    did about one test prediction in a hundred.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.process_time()
    labels = tuple(sorted({party for _, party, _ in train}))
    vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=2)
    features = vectorizer.fit_transform([text for _, _, text in train])
    model = LogisticRegression(C=10.0, solver="newton-cg", tol=1e-8, max_iter=1000, class_weight=class_weight)
    model.fit(features, [party for _, party, _ in train])
    predicted = list(model.predict(vectorizer.transform([text for _, _, text in test])))
    truth = [party for _, party, _ in test]
    majority = Counter(party for _, party, _ in train).most_common(1)[0][0]
    return {"test": scores(truth, predicted, labels), "majority": scores(truth, [majority] * len(truth), labels),
            "cpu_seconds": time.process_time() - started, "train passages": len(train),
            "test addresses": len({key for key, _, _ in test})}


@dataclass(frozen=True)
class PartyConfig:
    """One run of task 2: TF-IDF + LR and one fine-tune per seed, on the same passages.

    ``train_limit``/``eval_limit``: at most this many passages of the train split / of the
    validation and test splits (None: all). ``curve_points``: how many times to score the
    validation passages during training (0: never; for learning curves). ``lora``: train LoRA
    adapters and the head instead of every weight.
    """

    parties: tuple[str, ...] = PARTIES
    sentences_per_passage: int = 5
    max_length: int = 128
    train_limit: int | None = 1200
    eval_limit: int | None = None
    seeds: tuple[int, ...] = (0, 1, 2)
    curve_points: int = 0
    lora: LoraConfig | None = None
    checkpoint: str = hub.MINILM
    finetune: FinetuneConfig = FinetuneConfig(epochs=2)

    @classmethod
    def for_profile(cls, name: str | None = None, **overrides) -> PartyConfig:
        """``ci``: 48 training passages at 64 tokens, two seeds (seconds); ``cpu``: 1,200 training passages at
        128 tokens, two epochs, three seeds (about 3 CPU minutes a seed); ``gpu``: every passage, five seeds."""
        sizes = {
            "ci": dict(max_length=64, train_limit=48, eval_limit=48, seeds=(0, 1),
                       finetune=FinetuneConfig(epochs=1, learning_rate=1e-4)),
            "cpu": dict(),
            "gpu": dict(train_limit=None, seeds=(0, 1, 2, 3, 4), finetune=FinetuneConfig(epochs=2, batch_size=32)),
        }[runtime.profile(name).name]
        return cls(**{**sizes, **overrides})

    def key(self) -> str:
        """A short hash of the config: the cache file's name."""
        return runtime.config_key(self)


def variants(name: str | None = None) -> dict[str, PartyConfig]:
    """The chapter's runs of task 2 for profile ``name``, on the same split:

    * ``"main"``: full fine-tuning, :meth:`PartyConfig.for_profile`;
    * ``"lora"``: LoRA adapters (r = 8) on the query and value projections, at 10x the learning rate
      (the adapters start at zero and have few steps to grow; not tuned), the first two seeds (CPU time);
    * ``"high_lr"``: full fine-tuning at 1e-3, one seed (the forgetting pitfall);
    * ``"small"``: 64 training passages (16 under ``ci``) for 15 epochs, with validation curves
      (the overfitting pitfall).
    """
    main = PartyConfig.for_profile(name)
    tiny = runtime.profile(name).name == "ci"
    return {
        "main": main,
        "lora": dataclasses.replace(main, seeds=main.seeds[:2], lora=LoraConfig(), finetune=dataclasses.replace(
            main.finetune, learning_rate=10 * main.finetune.learning_rate)),
        "high_lr": dataclasses.replace(main, seeds=(0,), finetune=dataclasses.replace(main.finetune, learning_rate=1e-3)),
        "small": dataclasses.replace(main, seeds=(0,), train_limit=16 if tiny else 64, eval_limit=16 if tiny else 128,
                                     curve_points=2 if tiny else 10,
                                     finetune=dataclasses.replace(main.finetune, epochs=4 if tiny else 15)),
    }


def load(config: PartyConfig) -> dict[str, list[Passage]]:
    """The passages of ``config.parties``, split by address, each split sampled to its limit."""
    parts = split(passages(config.sentences_per_passage, config.parties), "address")
    return {name: sample(items, config.train_limit if name == "train" else config.eval_limit)
            for name, items in parts.items()}


def examples(tokenizer, items: list[Passage], config: PartyConfig):
    """``[CLS] passage [SEP]`` in ``config.max_length`` tokens (a five-sentence passage rarely needs more)."""
    return encode(tokenizer, [text for _, _, text in items], max_length=config.max_length)


def _encoder_drift(encoder, start: dict) -> float:
    """How far the encoder's weights moved: ||theta - theta_0|| / ||theta_0||, over all its tensors."""
    now = {name: tensor.detach().float().cpu() for name, tensor in encoder.state_dict().items()}
    moved = sum(float(((now[name] - start[name]) ** 2).sum()) for name in start if name in now)
    return (moved / sum(float((t ** 2).sum()) for t in start.values())) ** 0.5


def fine_tuned(parts: dict, config: PartyConfig, seed: int, tokenizer) -> dict:
    """Fine-tune MiniLM (or its LoRA adapters) with seed ``seed`` on the train passages; test scores and timing."""
    runtime.set_seed(seed)
    encoder = hub.load_bert(config.checkpoint)
    start = {name: tensor.detach().float().clone() for name, tensor in encoder.state_dict().items()}
    if config.lora is not None:
        add_lora(encoder, config.lora)
    model = SequenceClassifier(encoder, encoder.config.hidden_size, len(config.parties))
    train = parts["train"]
    labels = [config.parties.index(party) for _, party, _ in train]
    settings = dataclasses.replace(config.finetune, seed=seed)
    steps = max(1, round(settings.epochs * len(train) / settings.batch_size))
    validation = parts["validation"]
    validation_examples = examples(tokenizer, validation, config)
    validation_labels = np.array([config.parties.index(party) for _, party, _ in validation])

    def evaluate(model) -> dict:
        p = predict_proba(model, validation_examples)  # (N, C)
        picked = p[np.arange(len(p)), validation_labels]
        return {"loss": float(-np.log(np.clip(picked, 1e-12, None)).mean()),
                "accuracy": float((p.argmax(-1) == validation_labels).mean())}

    started = time.process_time()
    history, _ = fine_tune(model, examples(tokenizer, train, config), labels, settings,
                           evaluate=evaluate if config.curve_points else None,
                           eval_every=max(1, steps // config.curve_points) if config.curve_points else None)
    cpu_train = time.process_time() - started
    p = predict_proba(model, examples(tokenizer, parts["test"], config))
    predicted = [config.parties[i] for i in p.argmax(-1)]
    drift = _encoder_drift(encoder, start) if config.lora is None else 0.0  # LoRA leaves the base weights untouched
    return {"seed": seed, "test": scores([party for _, party, _ in parts["test"]], predicted, config.parties),
            "train_cpu_seconds": cpu_train, "test_cpu_seconds": time.process_time() - started - cpu_train,
            "trainable_parameters": trainable_parameters(model),
            "total_parameters": sum(t.numel() for t in model.parameters()),
            "encoder_drift": drift, "history": history.records}


def spread(runs: list[dict], metric: str) -> dict:
    """:func:`seeds.spread` of ``run["test"][metric]`` over the seeds' runs."""
    return seeds.spread([run["test"][metric] for run in runs])


def run(config: PartyConfig) -> dict:
    """TF-IDF + LR (on the same training passages, and on all of them) and one fine-tune per seed."""
    parts = load(config)
    every_train_passage = split(passages(config.sentences_per_passage, config.parties), "address")["train"]
    tokenizer = hub.load_tokenizer(config.checkpoint)
    tuned = [fine_tuned(parts, config, seed, tokenizer) for seed in config.seeds]
    return {"config": dataclasses.asdict(config),
            "passages": {name: dict(Counter(party for _, party, _ in items)) for name, items in parts.items()},
            "addresses": {name: len({key for key, _, _ in items}) for name, items in parts.items()},
            "tfidf": tfidf_baseline(parts["train"], parts["test"]),
            "tfidf_all_train": tfidf_baseline(every_train_passage, parts["test"]),
            "fine_tuned": tuned,
            "spread": {metric: spread(tuned, metric) for metric in ("accuracy", "macro_f1")},
            "machine": runtime.machine()}


def verdict(result: dict, metric: str = "macro_f1") -> dict:
    """:func:`seeds.verdict` of the fine-tune against TF-IDF + LR (same passages) on ``metric``."""
    return seeds.verdict([run["test"][metric] for run in result["fine_tuned"]], result["tfidf"]["test"][metric])


def cached_run(config: PartyConfig, folder: Path | str, refresh: bool = False) -> dict:
    """:func:`run`, read from ``folder/sotu_party-<config key>.json`` when that file exists, else run and saved there."""
    return runtime.cached_json(Path(folder) / f"sotu_party-{config.key()}.json", lambda: run(config), refresh=refresh)
