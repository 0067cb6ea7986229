"""DistilBERT's recipe on the course's MiniLM: a three-layer student distilled on the course corpora.

The teacher is all-MiniLM-L6-v2 (a sentence-embedding model, no MLM head), so the soft targets
are the teacher's distribution over **which sentence comes next**: for a batch of consecutive
sentence pairs (a, b), the logits of a_i against every b_j are the cosine similarities of their
mean-pooled embeddings over a temperature. ``distillation_loss`` matches the student's
distribution to the teacher's (labels: the true next sentence), and a cosine term pulls the
student's sentence embeddings towards the teacher's, as DistilBERT's cosine loss does for hidden
states. Quality is next-sentence retrieval on held-out pairs (accuracy@1 among the pairs of a
pool); speed is measured on this CPU. Results are cached by config in ``book/ch3_variants/_results``.
Taught in book/ch3_variants/distilbert.md.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import runtime
from .distilbert import distillation_loss, student_from_teacher

RESULTS = Path(__file__).resolve().parents[2] / "book" / "ch3_variants" / "_results"


@dataclass(frozen=True)
class DistillationConfig:
    """The training budget, batch, temperature and the evaluation pool."""

    seconds: float = 120.0  # CPU seconds of training
    batch_size: int = 32
    max_length: int = 48
    temperature: float = 2.0
    alpha: float = 0.5
    similarity_scale: float = 20.0  # cosine similarities are in [-1, 1]: scale them into logits
    learning_rate: float = 2e-4
    eval_pairs: int = 512
    pool: int = 64  # retrieval among this many candidates
    seed: int = 0
    profile: str = "cpu"

    @classmethod
    def for_profile(cls, name: str | None = None) -> DistillationConfig:
        chosen = runtime.profile(name).name
        sizes = {"ci": dict(seconds=2.0, batch_size=8, eval_pairs=32, pool=16), "cpu": {},
                 "gpu": dict(seconds=900.0, batch_size=128, eval_pairs=4096)}
        return replace(cls(), profile=chosen, **sizes[chosen])

    def key(self) -> str:
        return runtime.config_key(self, "sha1", 10)


def _pairs(split: str) -> list[tuple[str, str]]:
    """Consecutive sentences (a, b) of the corpora's ``split``, in document order."""
    from ..pretraining.data import load_documents

    return [(doc[i], doc[i + 1]) for doc in load_documents(split) for i in range(len(doc) - 1)]


def _embed(model, tokenizer, texts: list[str], max_length: int):
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    mask = batch["attention_mask"]
    hidden = model(batch["input_ids"], mask).last_hidden_state  # (B, T, H)
    return F.normalize((hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True), dim=-1)  # (B, H)


@torch.no_grad()
def retrieval_accuracy(model, tokenizer, pairs, config: DistillationConfig) -> float:
    """Accuracy@1 of finding b among ``pool`` candidates from a's embedding, over the held-out pairs."""
    model.eval()
    hits = 0
    for start in range(0, len(pairs) - config.pool + 1, config.pool):
        chunk = pairs[start:start + config.pool]
        a = _embed(model, tokenizer, [p[0] for p in chunk], config.max_length)
        b = _embed(model, tokenizer, [p[1] for p in chunk], config.max_length)
        hits += int(((a @ b.T).argmax(-1) == torch.arange(len(chunk))).sum())
    return hits / (len(pairs) // config.pool * config.pool)


@torch.no_grad()
def seconds_per_batch(model, tokenizer, texts, config: DistillationConfig, repeats: int = 5) -> float:
    """CPU seconds of this process per batch (one thread): unlike wall-clock, not inflated by other processes."""
    model.eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _embed(model, tokenizer, texts, config.max_length)  # warm-up
        start = time.process_time()
        for _ in range(repeats):
            _embed(model, tokenizer, texts, config.max_length)
        return (time.process_time() - start) / repeats
    finally:
        torch.set_num_threads(threads)


def run(config: DistillationConfig) -> dict:
    from .. import hub

    runtime.set_seed(config.seed)
    teacher, tokenizer = hub.load_bert(), hub.load_tokenizer()
    student = student_from_teacher(teacher)
    train, held_out = _pairs("train"), _pairs("validation")
    random.Random(config.seed).shuffle(train)
    evaluation = random.Random(1).sample(held_out, min(config.eval_pairs, len(held_out)))
    timing_texts = [a for a, _ in evaluation[:config.batch_size]]
    before = retrieval_accuracy(student, tokenizer, evaluation, config)
    optimizer = torch.optim.AdamW(student.parameters(), lr=config.learning_rate, weight_decay=0.01)
    labels = torch.arange(config.batch_size)
    start, step, losses = time.process_time(), 0, []
    student.train()
    while time.process_time() - start < config.seconds:
        chunk = train[(step * config.batch_size) % len(train):][:config.batch_size]
        if len(chunk) < config.batch_size:
            step += 1
            continue
        a_texts, b_texts = [p[0] for p in chunk], [p[1] for p in chunk]
        with torch.no_grad():
            teacher_a = _embed(teacher, tokenizer, a_texts, config.max_length)
            teacher_b = _embed(teacher, tokenizer, b_texts, config.max_length)
        student_a = _embed(student, tokenizer, a_texts, config.max_length)
        student_b = _embed(student, tokenizer, b_texts, config.max_length)
        soft = distillation_loss(config.similarity_scale * student_a @ student_b.T,
                                 config.similarity_scale * teacher_a @ teacher_b.T, labels,
                                 config.temperature, config.alpha)
        cosine = (2 - F.cosine_similarity(student_a, teacher_a).mean() - F.cosine_similarity(student_b, teacher_b).mean())
        loss = soft + cosine
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        step += 1
    trained_seconds = time.process_time() - start
    return {"config": asdict(config), "steps": step, "seconds": trained_seconds,
            "loss_first": sum(losses[:10]) / max(1, len(losses[:10])),
            "loss_last": sum(losses[-10:]) / max(1, len(losses[-10:])),
            "accuracy": {"teacher": retrieval_accuracy(teacher, tokenizer, evaluation, config),
                         "student before": before,
                         "student after": retrieval_accuracy(student, tokenizer, evaluation, config),
                         "chance": 1 / config.pool},
            "parameters": {"teacher": sum(p.numel() for p in teacher.parameters()),
                           "student": sum(p.numel() for p in student.parameters())},
            "seconds_per_batch": {"teacher": seconds_per_batch(teacher, tokenizer, timing_texts, config,
                                                               2 if config.profile == "ci" else 10),
                                  "student": seconds_per_batch(student, tokenizer, timing_texts, config,
                                                               2 if config.profile == "ci" else 10)},
            "evaluation_pairs": len(evaluation), "threads": torch.get_num_threads()}


def kept_fraction(result: dict) -> float:
    """The share of the teacher's accuracy above chance that the distilled student keeps."""
    accuracy = result["accuracy"]
    return (accuracy["student after"] - accuracy["chance"]) / (accuracy["teacher"] - accuracy["chance"])


def speedup(result: dict) -> float:
    """The teacher's CPU time per batch over the student's."""
    return result["seconds_per_batch"]["teacher"] / result["seconds_per_batch"]["student"]


def seeds_for(config: DistillationConfig) -> tuple[int, ...]:
    """The seeds the book reports: three at ``cpu`` (a run costs about 2 CPU minutes), one elsewhere."""
    return (0, 1, 2) if config.profile == "cpu" else (config.seed,)


def cached(config: DistillationConfig, folder: Path = RESULTS) -> dict:
    """The results of ``config`` from ``folder``, else measured now (and written there, except under ``ci``)."""
    return runtime.cached_json(folder / f"distillation_{config.profile}_{config.key()}.json", lambda: run(config),
                               write=config.profile != "ci")
