"""Task 5, sentence pairs: does passage B directly follow passage A in the same SOTU address?

A cross-encoder reads both texts at once, ``[CLS] A [SEP] B [SEP]``, and classifies the pair
with a head on [CLS] (:class:`~bertcourse.finetuning.classifier.SequenceClassifier`, trained
by :func:`~bertcourse.finetuning.finetune.fine_tune`). The labels come from document
structure: each anchor passage A gives three pairs,

* ``"next"``: the passage that follows A (label 1);
* ``"same address"``: a passage of the same address that is neither A, nor next to A
  (label 0): same speaker, same year, same topics, so topic matching cannot tell it apart;
* ``"other address"``: a passage of another address of the same split (label 0).

Pairs are built within one split of :func:`bertcourse.data.sotu_splits` (by address), so no
address gives passages to both training and test pairs. The baseline is TF-IDF cosine of A
and B with a threshold fitted on the training pairs: it finds pairs on the same topic.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from bertcourse import data, hub, runtime

from .classifier import SequenceClassifier
from .finetune import FinetuneConfig, fine_tune, predict_proba
from .inputs import encode

KINDS = ("next", "same address", "other address")


class Pair(NamedTuple):
    """Two passages, ``label`` 1 when ``b`` directly follows ``a``; ``kind`` one of :data:`KINDS`."""

    a: str
    b: str
    label: int
    kind: str
    address_a: str
    address_b: str


@dataclass(frozen=True)
class NextPassageConfig:
    """``train_anchors``/``test_anchors``: anchor passages sampled per split (three pairs each)."""

    sentences: int = 1
    max_length: int = 128
    train_anchors: int = 384
    test_anchors: int = 300
    seeds: tuple[int, ...] = (0, 1, 2)
    checkpoint: str = hub.MINILM
    finetune: FinetuneConfig = FinetuneConfig(epochs=1, batch_size=16, learning_rate=5e-5)

    @classmethod
    def for_profile(cls, name: str | None = None) -> NextPassageConfig:
        """``ci``: 32 train and 16 test anchors at 64 tokens, one seed (seconds); ``cpu``: 384 and 300
        anchors, three seeds (minutes on one core); ``gpu``: 4000 and 1000 anchors, two epochs."""
        return {"ci": cls(max_length=64, train_anchors=32, test_anchors=16, seeds=(0,),
                          finetune=FinetuneConfig(epochs=2, batch_size=8, learning_rate=1e-4)),
                "cpu": cls(),
                "gpu": cls(train_anchors=4000, test_anchors=1000,
                           finetune=FinetuneConfig(epochs=2, batch_size=32))}[runtime.profile(name).name]

    def key(self) -> str:
        """A short hash of the config: the cache file's name."""
        return hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def passages(address, sentences: int) -> list[str]:
    """``address`` cut into consecutive passages of ``sentences`` sentences, in order."""
    if sentences < 1:
        raise ValueError(f"sentences must be >= 1; got {sentences}")
    units = address.sentences
    return [" ".join(units[i: i + sentences]) for i in range(0, len(units), sentences)]


def make_pairs(addresses, sentences: int, anchors: int, seed: int = 0) -> list[Pair]:
    """Three pairs (next, same address, other address) for each of ``anchors`` sampled anchor passages.

    Only ``addresses`` are used (one split). Anchors are drawn in a seeded random order; one is
    skipped when its address has no passage that is neither adjacent to it nor a text that follows
    A somewhere in ``addresses`` (repeated sentences).
    """
    texts = {a.key: passages(a, sentences) for a in addresses}
    keys = [k for k, p in texts.items() if len(p) >= 4]
    if len(keys) < 2:
        raise ValueError(f"addresses must hold >= 2 addresses of >= 4 passages; got {len(keys)}")
    # A text that follows A anywhere in the split (repeated sentences) is no negative: that pair is labelled 1
    followers = defaultdict(set)
    for own in texts.values():
        for first, second in zip(own, own[1:]):
            followers[first].add(second)
    rng = random.Random(seed)
    slots = [(k, i) for k in keys for i in range(len(texts[k]) - 1)]
    rng.shuffle(slots)
    out: list[Pair] = []
    for key, i in slots:
        if len(out) == 3 * anchors:
            break
        own = texts[key]
        a = own[i]
        follows = {a} | followers[a]
        far = [own[j] for j in range(len(own)) if abs(j - i) > 1 and own[j] not in follows]
        other = rng.choice([k for k in keys if k != key])
        elsewhere = [t for t in texts[other] if t not in follows]
        if far and elsewhere:
            out += [Pair(a, own[i + 1], 1, "next", key, key), Pair(a, rng.choice(far), 0, "same address", key, key),
                    Pair(a, rng.choice(elsewhere), 0, "other address", key, other)]
    return out


def split_pairs(config: NextPassageConfig) -> dict[str, list[Pair]]:
    """Training pairs from the train addresses, test pairs from the test addresses."""
    splits = data.sotu_splits()
    return {"train": make_pairs(splits["train"], config.sentences, config.train_anchors, seed=0),
            "test": make_pairs(splits["test"], config.sentences, config.test_anchors, seed=1)}


def scores(pairs: list[Pair], predicted: np.ndarray) -> dict:
    """Accuracy, F1 of the "next" class, and accuracy on each kind of pair."""
    from sklearn.metrics import accuracy_score, f1_score

    truth = np.array([p.label for p in pairs])
    kinds = np.array([p.kind for p in pairs])
    return {"accuracy": float(accuracy_score(truth, predicted)),
            "f1": float(f1_score(truth, predicted, zero_division=0)),
            "by_kind": {kind: float((predicted[kinds == kind] == truth[kinds == kind]).mean()) for kind in KINDS}}


def tfidf_cosines(pairs: list[Pair], vectorizer) -> np.ndarray:
    """(N,) TF-IDF cosine of each pair's A and B (rows are L2-normalised, so a dot product)."""
    a = vectorizer.transform([p.a for p in pairs])
    b = vectorizer.transform([p.b for p in pairs])
    return np.asarray(a.multiply(b).sum(axis=1)).ravel()


def best_threshold(values: np.ndarray, labels: np.ndarray) -> float:
    """The threshold t maximising the accuracy of ``values >= t`` against ``labels``."""
    candidates = np.unique(np.concatenate([values, [np.inf]]))
    accuracy = [((values >= t) == labels).mean() for t in candidates]
    return float(candidates[int(np.argmax(accuracy))])


def tfidf_baseline(pairs: dict[str, list[Pair]]) -> dict:
    """TF-IDF cosine of A and B >= a threshold fitted on the training pairs; scores on the test pairs."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    started = time.process_time()
    vectorizer = TfidfVectorizer(sublinear_tf=True).fit([p.a for p in pairs["train"]] + [p.b for p in pairs["train"]])
    threshold = best_threshold(tfidf_cosines(pairs["train"], vectorizer), np.array([p.label for p in pairs["train"]]))
    predicted = (tfidf_cosines(pairs["test"], vectorizer) >= threshold).astype(int)
    return {**scores(pairs["test"], predicted), "threshold": threshold, "cpu_seconds": time.process_time() - started}


def examples(tokenizer, pairs: list[Pair], config: NextPassageConfig):
    """``[CLS] A [SEP] B [SEP]``, A cut to half the budget."""
    return encode(tokenizer, [p.a for p in pairs], [p.b for p in pairs], max_length=config.max_length,
                  first_max=config.max_length // 2 - 2)


def cross_encoder(pairs: dict[str, list[Pair]], config: NextPassageConfig, seed: int, tokenizer) -> dict:
    """Fine-tune MiniLM + a 2-way head on [CLS] on the training pairs (seeded); scores on the test pairs."""
    runtime.set_seed(seed)
    encoder = hub.load_bert(config.checkpoint)
    model = SequenceClassifier(encoder, encoder.config.hidden_size, 2)
    labels = [p.label for p in pairs["train"]]
    started = time.process_time()
    history, _ = fine_tune(model, examples(tokenizer, pairs["train"], config), labels,
                           dataclasses.replace(config.finetune, seed=seed))
    train_seconds = time.process_time() - started
    p_next = predict_proba(model, examples(tokenizer, pairs["test"], config))[:, 1]
    return {**scores(pairs["test"], (p_next >= 0.5).astype(int)), "seed": seed,
            "train_cpu_seconds": train_seconds, "cpu_seconds": time.process_time() - started,
            "history": history.records}


def run(config: NextPassageConfig) -> dict:
    """The TF-IDF baseline and one cross-encoder per seed on the same pairs."""
    import torch

    pairs = split_pairs(config)
    tokenizer = hub.load_tokenizer(config.checkpoint)
    return {"config": dataclasses.asdict(config),
            "pairs": {split: len(items) for split, items in pairs.items()},
            "addresses": {split: len({p.address_a for p in items}) for split, items in pairs.items()},
            "examples": [p._asdict() for p in pairs["test"][:6]],
            "tfidf": tfidf_baseline(pairs),
            "cross_encoder": [cross_encoder(pairs, config, seed, tokenizer) for seed in config.seeds],
            "machine": {"threads": torch.get_num_threads(), "bf16": runtime.cpu_has_fast_bf16()}}


def cached_run(config: NextPassageConfig, folder: Path | str, refresh: bool = False) -> dict:
    """:func:`run`, read from ``folder/next_passage-<config key>.json`` when it exists, else run and saved there."""
    return runtime.cached_json(Path(folder) / f"next_passage-{config.key()}.json", lambda: run(config),
                               refresh=refresh)
