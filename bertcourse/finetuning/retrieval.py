"""Task 5, retrieval: find an email's body from its subject, by mean-pooled MiniLM embeddings and cosine.

Queries are the subjects, documents the bodies of the same emails (SpamAssassin's test
split, emails with both); the right document of query ``i`` is document ``i``. Scored by
recall@k (the share of queries whose own body is among the k nearest) against TF-IDF
cosine retrieval, before and after a short contrastive fine-tune of the encoder on the
train split's (subject, body) pairs with in-batch negatives (Karpukhin et al., 2020):
each subject must pick its own body among the batch's bodies.

Shapes: B batch, H hidden size.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bertcourse import data, hub, runtime
from bertcourse.training.loop import TrainConfig, train

from . import seeds
from .finetune import embed
from .inputs import collate, encode
from .pooling import cosine_top_k, mean_pooling

KS = (1, 5, 10)


@dataclass(frozen=True)
class RetrievalConfig:
    """``limit``: emails per split (None: all); the fine-tune runs ``steps`` steps of ``batch_size`` pairs, once per seed."""

    max_length: int = 128
    limit: int | None = None
    steps: int = 150
    batch_size: int = 16
    learning_rate: float = 2e-5
    scale: float = 20.0  # 1 / temperature of the in-batch softmax over cosine similarities
    seeds: tuple[int, ...] = (0, 1, 2)
    checkpoint: str = hub.MINILM

    @classmethod
    def for_profile(cls, name: str | None = None) -> RetrievalConfig:
        """``ci``: 64 emails at 64 tokens, 4 steps of 8, one seed; ``cpu``: every email, 150 steps of 16, three
        seeds (about 3 CPU minutes a seed); ``gpu``: 1000 steps of 32."""
        return {"ci": cls(max_length=64, limit=64, steps=4, batch_size=8, seeds=(0,)),
                "cpu": cls(), "gpu": cls(steps=1000, batch_size=32)}[runtime.profile(name).name]

    def key(self) -> str:
        return runtime.config_key(self)


def pairs(emails, limit: int | None = None) -> tuple[list[str], list[str], list[str]]:
    """(ids, subjects, bodies) of the emails that have both, the first ``limit`` in a fixed hashed order."""
    kept = [e for e in emails if e.subject.strip() and e.body.strip()]
    kept.sort(key=lambda e: hashlib.sha256(e.key.encode()).digest())
    kept = sorted(kept[:limit] if limit else kept, key=lambda e: e.id)
    return [e.id for e in kept], [e.subject for e in kept], [e.body for e in kept]


def recall_at_k(indices: np.ndarray, ks=KS) -> dict[str, float]:
    """Share of queries ``i`` whose document ``i`` is among their first k results, for each k."""
    hits = indices == np.arange(len(indices))[:, None]  # (Q, K)
    return {f"recall@{k}": float(hits[:, :k].any(axis=1).mean()) for k in ks}


def tfidf_ranking(queries: list[str], documents: list[str], fit_on: list[str], k: int) -> np.ndarray:
    """(Q, k) indices of the k documents nearest each query by TF-IDF cosine (vocabulary fitted on ``fit_on``)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=1).fit(fit_on)
    q = torch.as_tensor(vectorizer.transform(queries).toarray(), dtype=torch.float32)
    d = torch.as_tensor(vectorizer.transform(documents).toarray(), dtype=torch.float32)
    return cosine_top_k(q, d, k)[1].numpy()


def encoder_ranking(encoder, tokenizer, queries, documents, config: RetrievalConfig, k: int) -> np.ndarray:
    """(Q, k) indices of the k documents nearest each query by the encoder's mean-pooled embeddings."""
    q = embed(encoder, encode(tokenizer, queries, max_length=config.max_length))
    d = embed(encoder, encode(tokenizer, documents, max_length=config.max_length))
    return cosine_top_k(torch.as_tensor(q), torch.as_tensor(d), k)[1].numpy()


def in_batch_loss(encoder, batch: dict) -> tuple[torch.Tensor, dict]:
    """Cross-entropy of each query against every document of the batch, its own being the right one."""
    q = mean_pooling(encoder(**batch["queries"]).last_hidden_state, batch["queries"]["attention_mask"])  # (B, H)
    d = mean_pooling(encoder(**batch["documents"]).last_hidden_state, batch["documents"]["attention_mask"])
    scores = F.normalize(q.float(), dim=-1) @ F.normalize(d.float(), dim=-1).T  # (B, B) cosine similarities
    target = torch.arange(len(scores), device=scores.device)
    loss = F.cross_entropy(scores * batch["scale"], target)
    return loss, {"accuracy": (scores.argmax(-1) == target).float().mean()}


def contrastive_fine_tune(encoder, tokenizer, subjects, bodies, config: RetrievalConfig, seed: int):
    """Train ``encoder`` for ``config.steps`` steps on (subject, body) pairs, in-batch negatives; ``seed`` draws the batches."""
    rng = np.random.default_rng(seed)
    q_examples = encode(tokenizer, subjects, max_length=config.max_length)
    d_examples = encode(tokenizer, bodies, max_length=config.max_length)
    batches = []
    for _ in range(config.steps):
        chosen = rng.choice(len(subjects), size=min(config.batch_size, len(subjects)), replace=False)
        batches.append({"queries": collate([q_examples[i] for i in chosen]),
                        "documents": collate([d_examples[i] for i in chosen]), "scale": config.scale})
    settings = TrainConfig(max_steps=config.steps, learning_rate=config.learning_rate,
                           warmup_steps=max(1, config.steps // 10), log_every=max(1, config.steps // 10),
                           eval_every=config.steps, seed=seed, progress=False)
    return train(encoder, batches, in_batch_loss, settings)


def fine_tuned(config: RetrievalConfig, seed: int, tokenizer, train_pairs, test_pairs, k: int) -> dict:
    """recall@k of MiniLM (loaded afresh) after the contrastive fine-tune with ``seed``, its CPU time and curve."""
    encoder = hub.load_bert(config.checkpoint).to(runtime.pick_device())
    runtime.set_seed(seed)
    started = time.process_time()
    history = contrastive_fine_tune(encoder, tokenizer, *train_pairs, config, seed)
    train_seconds = time.process_time() - started
    return {"seed": seed, **recall_at_k(encoder_ranking(encoder, tokenizer, *test_pairs, config, k)),
            "train_cpu_seconds": train_seconds, "history": history.records}


def run(config: RetrievalConfig) -> dict:
    """recall@k of TF-IDF, MiniLM as shipped and MiniLM after the contrastive fine-tune (one per seed), on the test split."""
    splits = data.spam_assassin_splits()
    ids, subjects, bodies = pairs(splits["test"], config.limit)
    _, train_subjects, train_bodies = pairs(splits["train"], None if config.limit is None else 4 * config.limit)
    tokenizer = hub.load_tokenizer(config.checkpoint)
    k = max(KS)
    started = time.process_time()
    results = {"tfidf": recall_at_k(tfidf_ranking(subjects, bodies, train_subjects + train_bodies, k))}
    results["tfidf"]["cpu_seconds"] = time.process_time() - started
    encoder = hub.load_bert(config.checkpoint).to(runtime.pick_device())
    started = time.process_time()
    results["minilm"] = recall_at_k(encoder_ranking(encoder, tokenizer, subjects, bodies, config, k))
    results["minilm"]["cpu_seconds"] = time.process_time() - started
    tuned = [fine_tuned(config, seed, tokenizer, (train_subjects, train_bodies), (subjects, bodies), k)
             for seed in config.seeds]
    return {"config": dataclasses.asdict(config), "queries": len(ids), "ids": ids, **results, "fine_tuned": tuned,
            "spread": {metric: seeds.spread([run[metric] for run in tuned]) for metric in (f"recall@{k}" for k in KS)},
            "machine": runtime.machine()}


def verdict(result: dict, baseline: str = "tfidf", metric: str = "recall@1") -> dict:
    """:func:`seeds.verdict` of the fine-tuned MiniLM's ``metric`` against ``result[baseline]`` (``tfidf`` or ``minilm``)."""
    return seeds.verdict([run[metric] for run in result["fine_tuned"]], result[baseline][metric])


def cached_run(config: RetrievalConfig, folder: Path | str, refresh: bool = False) -> dict:
    """:func:`run`, read from ``folder/retrieval-<config key>.json`` when it exists, else run and saved there."""
    return runtime.cached_json(Path(folder) / f"retrieval-{config.key()}.json", lambda: run(config), refresh=refresh)
