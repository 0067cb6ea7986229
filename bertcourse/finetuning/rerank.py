"""Task 5, re-ranking: a cross-encoder re-scores the bi-encoder's top-k bodies for each subject.

The retrieval task of :mod:`bertcourse.finetuning.retrieval` (a SpamAssassin subject must find
its own body among the test split's bodies). A bi-encoder (MiniLM as shipped, mean-pooled,
cosine) embeds every text once and ranks every body; a cross-encoder reads
``[CLS] subject [SEP] body [SEP]`` together, every token of one attending to the other, at far more
cost per pair, so it only re-scores the bi-encoder's ``candidates`` best bodies (Nogueira and Cho,
2019). Re-ranking reorders that set; it cannot add a body the bi-encoder missed, so recall at
``candidates`` is the same before and after.

The cross-encoder is :class:`~bertcourse.finetuning.classifier.SequenceClassifier` fine-tuned
on the train split's subjects, each with its own body (label 1), the bi-encoder's best wrong
body (label 0, a hard negative: what the re-ranker will have to reject) and a random wrong body
(label 0, the easy case).

Shapes: Q queries, K candidates per query.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bertcourse import data, hub, runtime

from . import seeds
from .classifier import SequenceClassifier
from .finetune import FinetuneConfig, fine_tune, predict_proba
from .inputs import encode
from .retrieval import RetrievalConfig, encoder_ranking, pairs, recall_at_k

KS = (1, 5)


@dataclass(frozen=True)
class RerankConfig:
    """``train_queries``: train subjects for the cross-encoder (three pairs each); ``limit``: test emails (None: all);
    the cross-encoder is trained once per seed of ``seeds`` (the seed also draws each subject's random wrong body)."""

    max_length: int = 128
    candidates: int = 10
    train_queries: int = 1024
    limit: int | None = None
    seeds: tuple[int, ...] = (0, 1, 2)
    checkpoint: str = hub.MINILM
    finetune: FinetuneConfig = FinetuneConfig(epochs=1, batch_size=16, learning_rate=1e-4)

    @classmethod
    def for_profile(cls, name: str | None = None) -> RerankConfig:
        """``ci``: 32 test emails, 5 candidates, 32 train subjects at 64 tokens, one seed; ``cpu``: every test
        email, 10 candidates, 1024 train subjects, three seeds; ``gpu``: 20 candidates, 3000 train subjects."""
        return {"ci": cls(max_length=64, candidates=5, train_queries=32, limit=32, seeds=(0,),
                          finetune=FinetuneConfig(epochs=1, batch_size=8, learning_rate=1e-4)),
                "cpu": cls(),
                "gpu": cls(candidates=20, train_queries=3000,
                           finetune=FinetuneConfig(epochs=2, batch_size=32))}[runtime.profile(name).name]

    def key(self) -> str:
        """A short hash of the config: the cache file's name."""
        return runtime.config_key(self)


def longer(config: RerankConfig, epochs: float) -> RerankConfig:
    """``config`` with ``epochs`` passes over the same training pairs: does more training make a better re-ranker?"""
    return dataclasses.replace(config, finetune=dataclasses.replace(config.finetune, epochs=epochs))


def rerank(candidates: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(Q, K) ``candidates`` reordered in each row by (Q, K) ``scores``, highest first (ties keep their order)."""
    if candidates.shape != scores.shape:
        raise ValueError(f"candidates and scores must have the same shape; got {candidates.shape} and {scores.shape}")
    order = np.argsort(-scores, axis=1, kind="stable")
    return np.take_along_axis(candidates, order, axis=1)


def hard_negatives(ranking: np.ndarray) -> np.ndarray:
    """(Q,) for each query ``i``, the first document of its (Q, K) ranking that is not document ``i``."""
    wrong = ranking != np.arange(len(ranking))[:, None]
    return ranking[np.arange(len(ranking)), wrong.argmax(axis=1)]


def training_pairs(subjects: list[str], bodies: list[str], ranking: np.ndarray,
                   seed: int = 0) -> tuple[list, list, list[int]]:
    """(subjects, bodies, labels): each subject with its own body (1), its hardest wrong body and a random one (0)."""
    if len(bodies) < 2:
        raise ValueError(f"bodies must hold >= 2 texts to draw a wrong one from; got {len(bodies)}")
    wrong = hard_negatives(ranking)
    rng = np.random.default_rng(seed)
    firsts, seconds, labels = [], [], []
    for i, subject in enumerate(subjects):
        other = (i + rng.integers(1, len(bodies))) % len(bodies)  # any body but body i
        firsts += [subject] * 3
        seconds += [bodies[i], bodies[wrong[i]], bodies[other]]
        labels += [1, 0, 0]
    return firsts, seconds, labels


def cross_scores(model, tokenizer, subjects: list[str], bodies: list[str], candidates: np.ndarray,
                 max_length: int) -> np.ndarray:
    """(Q, K) the cross-encoder's probability that body ``candidates[q, k]`` belongs to subject ``q``."""
    q_index = np.repeat(np.arange(len(subjects)), candidates.shape[1])
    chosen = encode(tokenizer, [subjects[q] for q in q_index], [bodies[d] for d in candidates.ravel()],
                    max_length=max_length)
    return predict_proba(model, chosen)[:, 1].reshape(candidates.shape)


def reranker(config: RerankConfig, seed: int, encoder, tokenizer, train: tuple[list, list], test: tuple[list, list],
             candidates: np.ndarray) -> dict:
    """Train the cross-encoder with ``seed`` on pairs mined by ``encoder`` (the bi-encoder) from ``train``'s
    (subjects, bodies); recall@k of the (Q, K) ``candidates`` of ``test`` re-ranked by it, and its CPU times."""
    started = time.process_time()
    bi = RetrievalConfig(max_length=config.max_length, checkpoint=config.checkpoint)
    mined = encoder_ranking(encoder, tokenizer, *train, bi, 2)
    firsts, seconds, labels = training_pairs(*train, mined, seed)
    runtime.set_seed(seed)
    model = SequenceClassifier(hub.load_bert(config.checkpoint), encoder.config.hidden_size, 2)
    history, _ = fine_tune(model, encode(tokenizer, firsts, seconds, max_length=config.max_length), labels,
                           dataclasses.replace(config.finetune, seed=seed))
    train_seconds = time.process_time() - started

    started = time.process_time()
    reranked = rerank(candidates, cross_scores(model, tokenizer, *test, candidates, config.max_length))
    cross_seconds = time.process_time() - started
    return {"seed": seed, **recall_at_k(reranked, (*KS, config.candidates)),
            "cpu_seconds_per_query": cross_seconds / len(candidates), "train_cpu_seconds": train_seconds,
            "history": history.records, "changed_top1": float((reranked[:, 0] != candidates[:, 0]).mean())}


def run(config: RerankConfig) -> dict:
    """recall@1/@5 of the bi-encoder alone and re-ranked by the cross-encoder (one per seed), on the same test subjects."""
    splits = data.spam_assassin_splits()
    ids, subjects, bodies = pairs(splits["test"], config.limit)
    train_ids, train_subjects, train_bodies = pairs(splits["train"], config.train_queries)
    tokenizer = hub.load_tokenizer(config.checkpoint)
    bi = RetrievalConfig(max_length=config.max_length, checkpoint=config.checkpoint)
    encoder = hub.load_bert(config.checkpoint).to(runtime.pick_device())
    started = time.process_time()
    candidates = encoder_ranking(encoder, tokenizer, subjects, bodies, bi, config.candidates)  # (Q, K)
    bi_seconds = time.process_time() - started
    ks = (*KS, config.candidates)
    tuned = [reranker(config, seed, encoder, tokenizer, (train_subjects, train_bodies), (subjects, bodies), candidates)
             for seed in config.seeds]
    return {"config": dataclasses.asdict(config), "queries": len(ids), "train_queries": len(train_ids),
            "bi_encoder": {**recall_at_k(candidates, ks), "cpu_seconds_per_query": bi_seconds / len(ids)},
            "reranked": tuned,
            "spread": {metric: seeds.spread([run[metric] for run in tuned]) for metric in (f"recall@{k}" for k in KS)},
            "machine": runtime.machine()}


def verdict(result: dict, metric: str = "recall@1") -> dict:
    """:func:`seeds.verdict` of the re-ranked top-k against the bi-encoder's own order on ``metric``."""
    return seeds.verdict([run[metric] for run in result["reranked"]], result["bi_encoder"][metric])


def cached_run(config: RerankConfig, folder: Path | str, refresh: bool = False) -> dict:
    """:func:`run`, read from ``folder/rerank-<config key>.json`` when it exists, else run and saved there."""
    return runtime.cached_json(Path(folder) / f"rerank-{config.key()}.json", lambda: run(config), refresh=refresh)
