"""Task 5's cross-encoder: does passage B follow passage A in the same State of the Union address?

A pair task built from document structure. Each address is cut into segments of a few
sentences; a positive pair is a segment and the next one, a negative pair a segment and
another segment of the *same* address at least ``gap`` segments away. Both halves of every
pair share the speaker, the year and the subject of the address, so matching topics (what
TF-IDF cosine does) helps less than in next-sentence prediction with random documents
(:mod:`bertcourse.pretraining.sentence_pairs`). The cross-encoder reads ``[CLS] A [SEP] B [SEP]``
together: :class:`~bertcourse.finetuning.classifier.SequenceClassifier` with two labels (1: B
follows A), trained by :func:`~bertcourse.finetuning.finetune.fine_tune`. Addresses are split by
key (:func:`bertcourse.data.sotu_splits`), so no address gives pairs to two splits.
"""

from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bertcourse import data, hub, runtime

from . import seeds
from .classifier import SequenceClassifier
from .finetune import FinetuneConfig, fine_tune, predict_proba
from .inputs import encode

Pair = tuple[str, str, int]  # (A, B, 1 if B follows A else 0)


@dataclass(frozen=True)
class PairConfig:
    """One run: ``train_pairs``/``test_pairs`` pairs at most (None: all), segments of ``sentences`` sentences, drawn
    with ``sample_seed``; the cross-encoder is fine-tuned once per seed of ``seeds`` on those same pairs."""

    sentences: int = 2
    gap: int = 3
    max_length: int = 128
    train_pairs: int | None = 1600
    test_pairs: int | None = 800
    sample_seed: int = 0
    seeds: tuple[int, ...] = (0, 1, 2)
    checkpoint: str = hub.MINILM
    finetune: FinetuneConfig = FinetuneConfig(epochs=1)

    def __post_init__(self):
        if self.sentences < 1 or self.gap < 2:
            raise ValueError(f"sentences must be >= 1 and gap >= 2; got sentences={self.sentences}, gap={self.gap}")

    @classmethod
    def for_profile(cls, name: str | None = None) -> PairConfig:
        """``ci``: 48 training pairs at 64 tokens, one seed (seconds); ``cpu``: 1,600 at 128 tokens, one epoch,
        three seeds (about two CPU minutes a seed); ``gpu``: every pair, two epochs."""
        return {"ci": cls(max_length=64, train_pairs=48, test_pairs=48, seeds=(0,),
                          finetune=FinetuneConfig(learning_rate=1e-4)),
                "cpu": cls(),
                "gpu": cls(train_pairs=None, test_pairs=None, finetune=FinetuneConfig(epochs=2, batch_size=32)),
                }[runtime.profile(name).name]

    def longer(self, epochs: float = 3) -> PairConfig:
        """The same run with ``epochs`` epochs: the cpu profile's one epoch leaves the training loss near ln 2."""
        return dataclasses.replace(self, finetune=dataclasses.replace(self.finetune, epochs=epochs))

    def key(self) -> str:
        """A short hash of the config: the cache file's name."""
        return runtime.config_key(self)


def make_pairs(segments: list[str], rng: random.Random, gap: int) -> list[Pair]:
    """One pair per segment that has a successor: the successor (label 1) or, with probability 1/2, a segment at
    least ``gap`` segments away in either direction (label 0). A document too short for a negative gives none."""
    pairs = []
    for i in range(len(segments) - 1):
        far = [j for j in range(len(segments)) if abs(j - i) >= gap]
        if far and rng.random() < 0.5:
            pairs.append((segments[i], segments[rng.choice(far)], 0))
        else:
            pairs.append((segments[i], segments[i + 1], 1))
    return pairs


def load(config: PairConfig) -> dict[str, list[Pair]]:
    """Train and test pairs from the addresses of each split, each a fixed sample of at most its limit."""
    out = {}
    for split, limit in (("train", config.train_pairs), ("test", config.test_pairs)):
        pairs = []
        for address in data.sotu_splits()[split]:
            sentences = address.sentences
            segments = [" ".join(sentences[i: i + config.sentences]) for i in range(0, len(sentences), config.sentences)]
            pairs += make_pairs(segments, random.Random(f"{address.key}|{config.sample_seed}"), config.gap)
        random.Random(f"{split}|{config.sample_seed}").shuffle(pairs)
        out[split] = pairs[:limit] if limit else pairs
    return out


def _scores(labels: np.ndarray, p_follows: np.ndarray, threshold: float) -> dict:
    from sklearn.metrics import roc_auc_score

    return {"n": len(labels), "accuracy": float(((p_follows >= threshold) == labels).mean()),
            "auc": float(roc_auc_score(labels, p_follows)), "positives": float(labels.mean())}


def tfidf_cosine_baseline(parts: dict[str, list[Pair]]) -> dict:
    """Cosine of A's and B's TF-IDF vectors as the score; the threshold that is best on the training pairs."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    started = time.process_time()
    vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=1).fit([t for a, b, _ in parts["train"] for t in (a, b)])

    def cosine(pairs):
        a = vectorizer.transform([a for a, _, _ in pairs])
        b = vectorizer.transform([b for _, b, _ in pairs])
        return np.asarray(a.multiply(b).sum(axis=1)).ravel()  # rows are L2-normalised: the dot is the cosine

    train_cos, train_y = cosine(parts["train"]), np.array([y for _, _, y in parts["train"]])
    threshold = max(np.unique(train_cos), key=lambda t: ((train_cos >= t) == train_y).mean())
    test_y = np.array([y for _, _, y in parts["test"]])
    return {"test": _scores(test_y, cosine(parts["test"]), float(threshold)), "threshold": float(threshold),
            "cpu_seconds": time.process_time() - started}


def examples(tokenizer, pairs: list[Pair], config: PairConfig):
    """``[CLS] A [SEP] B [SEP]``, A keeping at most half of the budget."""
    return encode(tokenizer, [a for a, _, _ in pairs], [b for _, b, _ in pairs], max_length=config.max_length,
                  first_max=config.max_length // 2)


def cross_encoder(parts: dict[str, list[Pair]], config: PairConfig, tokenizer, seed: int) -> dict:
    """Fine-tune MiniLM as a cross-encoder on the training pairs with ``seed``; its test scores and training time."""
    runtime.set_seed(seed)
    encoder = hub.load_bert(config.checkpoint)
    model = SequenceClassifier(encoder, encoder.config.hidden_size, 2)
    started = time.process_time()
    history, _ = fine_tune(model, examples(tokenizer, parts["train"], config), [y for _, _, y in parts["train"]],
                           dataclasses.replace(config.finetune, seed=seed))
    cpu_train = time.process_time() - started
    p_follows = predict_proba(model, examples(tokenizer, parts["test"], config))[:, 1]
    test_y = np.array([y for _, _, y in parts["test"]])
    return {"seed": seed, "test": _scores(test_y, p_follows, 0.5), "train_cpu_seconds": cpu_train,
            "test_cpu_seconds": time.process_time() - started - cpu_train, "history": history.records}


def run(config: PairConfig) -> dict:
    """The TF-IDF cosine baseline and the cross-encoder, once per seed, on the same pairs."""
    parts = load(config)
    tokenizer = hub.load_tokenizer(config.checkpoint)
    tuned = [cross_encoder(parts, config, tokenizer, seed) for seed in config.seeds]
    return {"config": dataclasses.asdict(config), "pairs": {name: len(p) for name, p in parts.items()},
            "tfidf_cosine": tfidf_cosine_baseline(parts), "cross_encoder": tuned,
            "spread": {metric: seeds.spread([run["test"][metric] for run in tuned]) for metric in ("accuracy", "auc")},
            "machine": runtime.machine()}


def verdict(result: dict, metric: str = "accuracy") -> dict:
    """:func:`seeds.verdict` of the cross-encoder against the TF-IDF cosine on ``metric`` (``accuracy`` or ``auc``)."""
    return seeds.verdict([run["test"][metric] for run in result["cross_encoder"]], result["tfidf_cosine"]["test"][metric])


def cached_run(config: PairConfig, folder: Path | str, refresh: bool = False) -> dict:
    """:func:`run`, read from ``folder/next_passage-<config key>.json`` when it exists, else run and saved there."""
    return runtime.cached_json(Path(folder) / f"next_passage-{config.key()}.json", lambda: run(config), refresh=refresh)
