"""Small training runs that Chapter 4's pages measure: a tiny BERT tells Moby Dick from State of the Union sentences.

One task (:func:`sentence_task`), one model (:class:`TinyClassifier`), one loop
(:func:`train_classifier`) with every trick of the chapter as a switch of :class:`DemoRun`:
the schedule, its warm-up and peak, clipping, weight decay, accumulation, autocast and
activation checkpointing. The loop is built from this package's references (the graded
items), and :func:`saved_activation_bytes` measures what backward keeps in memory.

Taught in book/ch4_training/index.md.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from bertcourse import data, hub, runtime
from bertcourse.models.bert import BertConfig, BertModel
from bertcourse.training.clipping import clip_grad_norm
from bertcourse.training.layerwise import layerwise_lr_groups
from bertcourse.training.schedules import cosine_warmup_decay, linear_warmup_decay

SCHEDULES = ("linear", "cosine", "constant")


@dataclass(frozen=True)
class SentenceTask:
    """Token ids (N, T) of sentences, compact vocabulary, labels 0 (Moby Dick) / 1 (State of the Union)."""

    train_ids: Tensor
    train_labels: Tensor
    test_ids: Tensor
    test_labels: Tensor
    vocab_size: int


@functools.cache
def sentence_task(per_class: int = 320, max_length: int = 16, seed: int = 0) -> SentenceTask:
    """``per_class`` sentences (of 6 words or more) of each corpus, shuffled; a fifth held out."""
    def sentences(texts):
        return [s for text in texts for s in text.sentences if len(s.split()) >= 6][:per_class]

    texts = sentences(data.load_moby_dick()[1:]) + sentences(data.load_sotu()[::-1])
    labels = torch.tensor([0] * per_class + [1] * per_class)
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(seed))
    ids = hub.load_tokenizer()([texts[i] for i in order], padding="max_length", truncation=True,
                               max_length=max_length, return_tensors="pt")["input_ids"]
    used, ids = torch.unique(ids, return_inverse=True)  # a compact vocabulary: only the ids that occur
    labels, held_out = labels[order], len(texts) // 5
    return SentenceTask(ids[held_out:], labels[held_out:], ids[:held_out], labels[:held_out], len(used))


class _CheckpointedLayer(nn.Module):
    """A layer whose activations are recomputed in backward instead of kept (activation checkpointing)."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, hidden_states, attention_mask=None):
        return checkpoint(self.layer, hidden_states, attention_mask, use_reentrant=False)


class TinyClassifier(nn.Module):
    """A small post-LN BERT with a linear head on the pooled [CLS] vector."""

    def __init__(self, vocab_size: int, num_layers: int = 2, hidden_size: int = 128, dropout: float = 0.0,
                 seed: int = 0, checkpoint_activations: bool = False):
        super().__init__()
        torch.manual_seed(seed)
        config = BertConfig.preset("tiny", vocab_size=vocab_size, num_hidden_layers=num_layers,
                                   hidden_size=hidden_size, num_attention_heads=max(1, hidden_size // 64),
                                   intermediate_size=4 * hidden_size, hidden_dropout_prob=dropout,
                                   attention_probs_dropout_prob=dropout)
        self.bert = BertModel(config)
        self.classifier = nn.Linear(hidden_size, 2)
        if checkpoint_activations:
            layers = self.bert.encoder.layers
            for i in range(len(layers)):
                layers[i] = _CheckpointedLayer(layers[i])

    def forward(self, input_ids: Tensor) -> Tensor:  # (B, T) -> (B, 2)
        return self.classifier(self.bert(input_ids).pooler_output)


@dataclass(frozen=True)
class DemoRun:
    """One run's settings; ``max_grad_norm=None`` does not clip, ``autocast=None`` is fp32."""

    steps: int = 60
    batch_size: int = 32
    peak_lr: float = 3e-3
    warmup_steps: int = 6
    schedule: str = "linear"
    max_grad_norm: float | None = 1.0
    weight_decay: float = 0.01
    num_layers: int = 2
    hidden_size: int = 128
    dropout: float = 0.0
    autocast: torch.dtype | None = None
    checkpoint_activations: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}; got {self.schedule!r}")


def rate(run: DemoRun, step: int) -> float:
    """The learning rate of update ``step`` under ``run``'s schedule."""
    if run.schedule == "cosine":
        return cosine_warmup_decay(step, run.warmup_steps, run.steps, run.peak_lr)
    if run.schedule == "constant":
        return run.peak_lr * min(1.0, step / max(1, run.warmup_steps))
    return linear_warmup_decay(step, run.warmup_steps, run.steps, run.peak_lr)


def train_classifier(task: SentenceTask, run: DemoRun) -> dict:
    """Train a :class:`TinyClassifier` on ``task``; returns the per-step losses, gradient norms (before
    clipping) and rates, the held-out accuracy, the wall seconds and the training tokens per second."""
    model = TinyClassifier(task.vocab_size, run.num_layers, run.hidden_size, run.dropout, run.seed,
                           run.checkpoint_activations)
    optimizer = torch.optim.AdamW(layerwise_lr_groups(model, 1.0, 1.0, run.weight_decay))  # BERT's decay exclusions
    generator = torch.Generator().manual_seed(run.seed)
    losses, norms, rates = [], [], []
    started = time.perf_counter()
    for step in range(run.steps):
        for group in optimizer.param_groups:
            group["lr"] = rate(run, step)
        rows = torch.randint(0, len(task.train_ids), (run.batch_size,), generator=generator)
        with runtime.autocast("cpu", run.autocast):
            loss = F.cross_entropy(model(task.train_ids[rows]).float(), task.train_labels[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = clip_grad_norm(model.parameters(), run.max_grad_norm if run.max_grad_norm else float("inf"))
        optimizer.step()
        losses.append(loss.item())
        norms.append(float(norm))
        rates.append(optimizer.param_groups[0]["lr"])
        if not torch.isfinite(loss):
            break  # diverged: the rest of the run would be NaN
    seconds = time.perf_counter() - started
    model.eval()
    with torch.no_grad(), runtime.autocast("cpu", run.autocast):
        accuracy = (model(task.test_ids).argmax(-1) == task.test_labels).float().mean().item()
    tokens = len(losses) * run.batch_size * task.train_ids.shape[1]
    return {"losses": losses, "grad_norms": norms, "rates": rates, "accuracy": accuracy, "seconds": seconds,
            "tokens_per_second": tokens / seconds}


def saved_activation_bytes(model: nn.Module, loss_fn) -> int:
    """The bytes of the tensors autograd keeps for backward during ``loss_fn(model)`` (each storage once)."""
    storages: dict[int, int] = {}

    def pack(tensor: Tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = loss_fn(model)
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    loss.backward()
    return sum(size for pointer, size in storages.items() if pointer not in parameters)
