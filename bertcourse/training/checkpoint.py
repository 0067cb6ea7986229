"""Checkpoints that resume a run exactly: model, optimiser, scheduler, random states and data position.

A resumed run continues bit for bit (in fp32, on the same machine and library versions) when
everything that decides the next step is saved: the parameters, the optimiser's moments and step
counts, the scheduler's step, every random generator (Python, NumPy, torch; CUDA's too) and where
the data stream is (:class:`ResumableBatches`: epoch and position in a seeded shuffle). The file
is written atomically (a temporary file, then a rename), so a run killed while saving leaves the
previous checkpoint intact, and read with ``torch.load(weights_only=True)``: plain tensors and
containers, no pickled code.

Taught in book/ch4_training/checkpoints.md.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor


def rng_state() -> dict:
    """The state of every random generator a training step may draw from, as plain tensors and tuples."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached)}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class ResumableBatches:
    """Shuffled mini-batches of ``tensors`` (sharing dim 0), epoch after epoch, that can resume mid-epoch.

    Epoch ``e`` visits the examples in the order ``torch.randperm(n)`` drawn from a generator seeded
    with ``seed + e`` (its own generator: the model's dropout draws do not move it). The last,
    incomplete batch of an epoch is dropped, so every batch has ``batch_size`` examples.
    :meth:`state_dict` is the next batch's (epoch, index); iterating continues from there forever.
    """

    def __init__(self, tensors: Sequence[Tensor], batch_size: int, seed: int = 0):
        sizes = {t.shape[0] for t in tensors}
        if len(sizes) != 1:
            raise ValueError(f"tensors must share their first dimension; got sizes {sorted(sizes)}")
        if not 1 <= batch_size <= sizes.pop():
            raise ValueError(f"batch_size must be in [1, {tensors[0].shape[0]}]; got {batch_size}")
        self.tensors, self.batch_size, self.seed = tuple(tensors), batch_size, seed
        self.epoch, self.index = 0, 0

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        per_epoch = self.tensors[0].shape[0] // self.batch_size
        while True:
            order = torch.randperm(self.tensors[0].shape[0], generator=torch.Generator().manual_seed(self.seed + self.epoch))
            while self.index < per_epoch:
                rows = order[self.index * self.batch_size:(self.index + 1) * self.batch_size]
                self.index += 1  # the position is that of the *next* batch once this one is handed out
                yield tuple(t[rows] for t in self.tensors)
            self.epoch, self.index = self.epoch + 1, 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "index": self.index, "seed": self.seed, "batch_size": self.batch_size}

    def load_state_dict(self, state: dict) -> None:
        if (state["seed"], state["batch_size"]) != (self.seed, self.batch_size):
            raise ValueError(f"the checkpoint's data stream has seed {state['seed']} and batch size "
                             f"{state['batch_size']}; this one {self.seed} and {self.batch_size}")
        self.epoch, self.index = state["epoch"], state["index"]


def save_checkpoint(path: str | Path, *, model, optimizer, step: int, scheduler=None, data=None,
                    extra: dict | None = None) -> Path:
    """Write everything needed to continue after update ``step`` to ``path`` (atomically); returns the path.

    ``scheduler`` (a ``torch.optim.lr_scheduler``) and ``data`` (a :class:`ResumableBatches`, or anything
    with ``state_dict``/``load_state_dict``) are optional; ``extra`` holds plain values of your own
    (e.g. the loss history).
    """
    path = Path(path)
    state = {
        "step": int(step),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "data": None if data is None else data.state_dict(),
        "rng": rng_state(),
        "extra": extra or {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    os.replace(partial, path)  # atomic on POSIX: the old checkpoint survives a crash mid-write
    return path


def load_checkpoint(path: str | Path, *, model, optimizer, scheduler=None, data=None) -> dict:
    """Restore a :func:`save_checkpoint` file into freshly built objects; returns ``{"step", "extra"}``.

    Load after building the model, optimiser and scheduler the way the original run built them (same
    parameter groups); the random generators are restored last, so nothing built here moves them.
    """
    state = torch.load(path, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        if state["scheduler"] is None:
            raise ValueError(f"{path} holds no scheduler state, but a scheduler was given")
        scheduler.load_state_dict(state["scheduler"])
    if data is not None:
        if state["data"] is None:
            raise ValueError(f"{path} holds no data position, but a data stream was given")
        data.load_state_dict(state["data"])
    set_rng_state(state["rng"])
    return {"step": state["step"], "extra": state["extra"]}
