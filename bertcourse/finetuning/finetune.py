"""Fine-tune a sequence classifier, predict with it, and embed texts with a frozen encoder.

Task-agnostic: examples come from :mod:`bertcourse.finetuning.inputs`, labels
are class ids, and training runs :func:`bertcourse.train.train` (AdamW, linear
warm-up and decay, clipping, autocast where :mod:`bertcourse.runtime` says it helps).
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


def training_batches(examples: Sequence[Example], labels: Sequence[int], config: FinetuneConfig) -> list[dict]:
    """``epochs`` passes over the examples, each shuffled (seeded), cut into padded batches with ``labels``."""
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
        batch["labels"] = torch.tensor([labels[i] for i in chosen], dtype=torch.long)
        batches.append(batch)
    return batches


def classification_loss(model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
    """Cross-entropy of ``model``'s logits against ``batch["labels"]``, and the batch accuracy."""
    logits = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])  # (B, C)
    loss = F.cross_entropy(logits.float(), batch["labels"])
    return loss, {"accuracy": (logits.argmax(-1) == batch["labels"]).float().mean()}


def fine_tune(model: nn.Module, examples: Sequence[Example], labels: Sequence[int], config: FinetuneConfig,
              *, device=None, progress: bool = False, evaluate: Callable[[nn.Module], dict] | None = None,
              eval_every: int | None = None) -> tuple[History, float]:
    """Train ``model`` (a :class:`~bertcourse.finetuning.classifier.SequenceClassifier`); return (history, seconds).

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
    history = train(model, batches, classification_loss, train_config, device=device, evaluate=evaluate)
    return history, time.perf_counter() - started


@torch.no_grad()
def predict_proba(model: nn.Module, examples: Sequence[Example], batch_size: int = 64) -> np.ndarray:
    """(N, C) class probabilities of ``model`` for ``examples``, in eval mode, in their order."""
    device = next(model.parameters()).device
    model.eval()
    out = np.zeros((len(examples), 0), dtype=np.float32)
    rows = {}
    for chosen in length_sorted_batches(examples, batch_size):
        batch = {k: v.to(device) for k, v in collate([examples[i] for i in chosen]).items()}
        with runtime.autocast(device):
            logits = model(**batch)
        for i, p in zip(chosen, logits.float().softmax(-1).cpu().numpy()):
            rows[i] = p
    if rows:
        out = np.stack([rows[i] for i in range(len(examples))])
    return out


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
