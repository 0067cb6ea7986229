"""Where and how a training cell runs: device, seed, profile, mixed precision, eval mode, cached results.

Every training cell in the book and the notebooks asks this module three things:
which device to use (:func:`pick_device`), how big to make the run
(:func:`profile`, from ``BERTCOURSE_PROFILE``) and which autocast context to
train under (:func:`autocast`, from :mod:`bertcourse.training.precision`). The
answers are detected, never assumed: CPU bf16 autocast is only a speed-up on
CPUs with bf16 matrix instructions (AMX or AVX512-BF16); elsewhere it is
emulated and can be 100x slower than fp32. :func:`to_device` moves a batch and
:func:`eval_mode` runs a block in eval mode and restores the mode it found.
:func:`cached_json` keeps an expensive run's results in a JSON file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

# Re-exported: the training cells ask the runtime for autocast; the dtype rules live in precision.
from .training.precision import autocast, autocast_dtype, cpu_has_fast_bf16, needs_grad_scaler  # noqa: F401

PROFILE_ENV = "BERTCOURSE_PROFILE"
PROFILES = ("ci", "cpu", "gpu")


@dataclass(frozen=True)
class Profile:
    """How big a training cell may be: ``ci``, ``cpu`` or ``gpu``.

    ``ci`` runs in seconds (tests, grading, CI book builds), ``cpu`` in minutes
    on a laptop or a 2-core machine (the default), ``gpu`` at full size. Each
    cell (or its package function, e.g. ``PretrainConfig.for_profile``) keeps its
    own table of sizes per profile name, chosen from measurements.
    """

    name: str


_PROFILES = {name: Profile(name) for name in PROFILES}


def profile(name: str | None = None) -> Profile:
    """The active profile: ``name``, else ``$BERTCOURSE_PROFILE``, else ``cpu``."""
    chosen = (name or os.environ.get(PROFILE_ENV) or "cpu").strip().lower()
    if chosen not in _PROFILES:
        raise ValueError(
            f"{PROFILE_ENV}={chosen!r} is not a profile; expected one of {', '.join(PROFILES)}"
        )
    return _PROFILES[chosen]


def pick_device(preferred: str | None = None) -> torch.device:
    """The best available device: ``preferred`` if given, else cuda, then mps, then cpu."""
    if preferred is not None:
        return torch.device(preferred)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def set_seed(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def to_device(batch, device: torch.device | str):
    """``batch`` with every tensor in it (nested dicts, lists and tuples too) moved to ``device``."""
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, Mapping):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a NamedTuple
        return type(batch)(*(to_device(value, device) for value in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(value, device) for value in batch)
    return batch


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run the block with ``model`` in eval mode, then restore the mode it was in (even on an error)."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def machine() -> dict:
    """What a stored result records of the machine that produced it: torch's threads and native CPU bf16."""
    return {"threads": torch.get_num_threads(), "bf16": cpu_has_fast_bf16()}


def config_key(config, algorithm: str = "sha256", length: int = 12) -> str:
    """A short hash of a dataclass config's fields: the name of its cached results' file."""
    text = json.dumps(dataclasses.asdict(config), sort_keys=True)
    return hashlib.new(algorithm, text.encode()).hexdigest()[:length]


def cached_json(path: Path | str, compute: Callable[[], dict], *, refresh: bool = False, write: bool = True) -> dict:
    """The JSON object in ``path`` if it exists (and not ``refresh``), else ``compute()``, written there when ``write``.

    The book's expensive runs cache their results by config this way (the folder is made as needed).
    """
    path = Path(path)
    if path.exists() and not refresh:
        return json.loads(path.read_text())
    result = compute()
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1))
    return result
