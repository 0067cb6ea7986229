"""Fine-tune a classifier head (per sequence, per token or per answer span), predict with it, embed texts.

Task-agnostic: examples come from :mod:`bertcourse.finetuning.inputs`, labels are
a class id per example (sequence classification), a list of class ids per token
(token classification, -100 where ignored) or a ``(start, end)`` token pair
(extractive QA); a loss function per kind of label reads them. Training runs
:func:`bertcourse.train.train` (AdamW, linear warm-up and decay, clipping,
autocast where :mod:`bertcourse.runtime` says it helps).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bertcourse import runtime
from bertcourse.training.loop import History, TrainConfig, train

from .inputs import Example, collate, length_sorted_batches
from .pooling import mean_pooling
from .token_labels import IGNORE_INDEX


@dataclass(frozen=True)
class FinetuneConfig:
    """How to fine-tune: BERT's recipe (Devlin et al., 2019) with a warm-up of ``warmup_fraction`` of the steps."""

    epochs: float = 1.0
    batch_size: int = 16
    learning_rate: float = 5e-5
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    seed: int = 0

    def __post_init__(self):
        if not self.epochs > 0 or self.batch_size < 1 or not self.learning_rate > 0:
            raise ValueError(f"epochs and learning_rate must be > 0 and batch_size >= 1; got {self}")


def label_tensor(rows: Sequence) -> torch.Tensor:
    """The labels of one batch as int64: (B,) from ints, (B, L) from lists padded with -100 to the longest.

    Token labels are as long as their example, so padding them to the longest row pads them to the
    batch's T; a ``(start, end)`` pair per example gives (B, 2).
    """
    if all(isinstance(row, (int, np.integer)) for row in rows):
        return torch.tensor([int(row) for row in rows], dtype=torch.long)
    longest = max(len(row) for row in rows)
    return torch.tensor([list(row) + [IGNORE_INDEX] * (longest - len(row)) for row in rows], dtype=torch.long)


def training_batches(examples: Sequence[Example], labels: Sequence, config: FinetuneConfig) -> list[dict]:
    """``epochs`` passes over the examples, each shuffled (seeded), cut into padded batches with ``labels``
    (see :func:`label_tensor`)."""
    rng = random.Random(config.seed)
    steps = max(1, round(config.epochs * len(examples) / config.batch_size))
    order: list[int] = []
    while len(order) < steps * config.batch_size:
        epoch = list(range(len(examples)))
        rng.shuffle(epoch)
        order += epoch
    batches = []
    for step in range(steps):
        chosen = order[step * config.batch_size: (step + 1) * config.batch_size]
        batch = collate([examples[i] for i in chosen])
        batch["labels"] = label_tensor([labels[i] for i in chosen])
        batches.append(batch)
    return batches


def classification_loss(model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
    """Cross-entropy of ``model``'s logits against ``batch["labels"]``, and the batch accuracy."""
    logits = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])  # (B, C)
    loss = F.cross_entropy(logits.float(), batch["labels"])
    return loss, {"accuracy": (logits.argmax(-1) == batch["labels"]).float().mean()}


def token_classification_loss(model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
    """Cross-entropy of per-token logits (B, T, C) against ``batch["labels"]`` (B, T), -100 ignored, and the
    accuracy over the labelled tokens."""
    logits = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])  # (B, T, C)
    labels = batch["labels"]
    loss = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX)
    scored = labels != IGNORE_INDEX
    return loss, {"accuracy": (logits.argmax(-1) == labels)[scored].float().mean()}


def span_loss(model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
    """Extractive QA: the mean of the start and end cross-entropies over the tokens (BERT's SQuAD loss).

    The model returns (B, T, 2) logits, start then end; ``batch["labels"]`` is (B, 2), the answer's
    first and last token (both 0, the [CLS] token, when the window does not hold the answer).
    """
    logits = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]).float()  # (B, T, 2)
    padding = batch["attention_mask"] == 0  # (B, T): a padding token is never a start or an end
    logits = logits.masked_fill(padding[..., None], float("-inf"))
    start, end = logits.unbind(-1)  # (B, T) each
    loss = (F.cross_entropy(start, batch["labels"][:, 0]) + F.cross_entropy(end, batch["labels"][:, 1])) / 2
    both = (start.argmax(-1) == batch["labels"][:, 0]) & (end.argmax(-1) == batch["labels"][:, 1])
    return loss, {"accuracy": both.float().mean()}


def fine_tune(model: nn.Module, examples: Sequence[Example], labels: Sequence, config: FinetuneConfig,
              *, loss_fn=classification_loss, device=None, progress: bool = False,
              evaluate: Callable[[nn.Module], dict] | None = None, eval_every: int | None = None
              ) -> tuple[History, float]:
    """Train ``model`` with ``loss_fn``; return (history, seconds).

    ``loss_fn`` is :func:`classification_loss` for a
    :class:`~bertcourse.finetuning.classifier.SequenceClassifier`, :func:`token_classification_loss`
    or :func:`span_loss` for a :class:`~bertcourse.finetuning.token_classifier.TokenClassifier`.
    ``evaluate(model) -> dict``, if given, is logged as "validation" every ``eval_every`` steps
    (default: once, at the end) and after the last step, for learning curves.
    """
    batches = training_batches(examples, labels, config)
    train_config = TrainConfig(max_steps=len(batches), learning_rate=config.learning_rate,
                               weight_decay=config.weight_decay,
                               warmup_steps=round(config.warmup_fraction * len(batches)),
                               log_every=max(1, len(batches) // 20), eval_every=eval_every or len(batches),
                               seed=config.seed, progress=progress)
    started = time.perf_counter()
    history = train(model, batches, loss_fn, train_config, device=device, evaluate=evaluate)
    return history, time.perf_counter() - started


@torch.no_grad()
def predict_logits(model: nn.Module, examples: Sequence[Example], batch_size: int = 64) -> list[np.ndarray]:
    """``model``'s float logits per example, in eval mode, in order: (C,) from a sequence head, (T_i, C) from
    a token head, cut to the example's own T_i tokens (its padding dropped)."""
    device = next(model.parameters()).device
    model.eval()
    rows = {}
    for chosen in length_sorted_batches(examples, batch_size):
        batch = {k: v.to(device) for k, v in collate([examples[i] for i in chosen]).items()}
        with runtime.autocast(device):
            logits = model(**batch)  # (B, C) or (B, T, C)
        for i, row in zip(chosen, logits.float().cpu().numpy()):
            rows[i] = row[: len(examples[i][0])] if row.ndim == 2 else row
    return [rows[i] for i in range(len(examples))]


def predict_proba(model: nn.Module, examples: Sequence[Example], batch_size: int = 64) -> np.ndarray:
    """(N, C) class probabilities of a sequence classifier for ``examples``, in eval mode, in their order."""
    logits = predict_logits(model, examples, batch_size)
    if not logits:
        return np.zeros((0, 0), dtype=np.float32)
    return torch.from_numpy(np.stack(logits)).softmax(-1).numpy()


@torch.no_grad()
def embed(encoder: nn.Module, examples: Sequence[Example], batch_size: int = 64) -> np.ndarray:
    """(N, H) mean-pooled final hidden states of a frozen ``encoder``: sentence embeddings, in order."""
    device = next(encoder.parameters()).device
    encoder.eval()
    rows = {}
    for chosen in length_sorted_batches(examples, batch_size):
        batch = {k: v.to(device) for k, v in collate([examples[i] for i in chosen]).items()}
        with runtime.autocast(device):
            states = encoder(**batch).last_hidden_state  # (B, T, H)
        pooled = mean_pooling(states.float(), batch["attention_mask"])
        for i, v in zip(chosen, pooled.cpu().numpy()):
            rows[i] = v
    return np.stack([rows[i] for i in range(len(examples))])
