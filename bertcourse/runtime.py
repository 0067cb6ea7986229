"""Where and how a training cell runs: device, seed, profile and mixed precision.

Every training cell in the book and the notebooks asks this module three things:
which device to use (:func:`pick_device`), how big to make the run
(:func:`profile`, from ``BERTCOURSE_PROFILE``) and which autocast context to
train under (:func:`autocast`). The answers are detected, never assumed: CPU
bf16 autocast is only a speed-up on CPUs with bf16 matrix instructions (AMX or
AVX512-BF16); elsewhere it is emulated and can be 100x slower than fp32.
"""

from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass

import numpy as np
import torch

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


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU has native bf16 matrix instructions (AMX tiles or AVX512-BF16)."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def autocast_dtype(device: torch.device | str) -> torch.dtype | None:
    """The dtype mixed precision should use on ``device``, or None where it does not help.

    CUDA: bf16 where the GPU supports it (Ampere and newer), else fp16.
    CPU: bf16 only where :func:`cpu_has_fast_bf16` is true. MPS: none.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return None


def autocast(device: torch.device | str, dtype: torch.dtype | None | str = "auto"):
    """An autocast context for ``device``; ``dtype="auto"`` asks :func:`autocast_dtype`.

    Pass ``dtype=None`` to force full precision, or a dtype to force that one.
    """
    device = torch.device(device)
    chosen = autocast_dtype(device) if isinstance(dtype, str) and dtype == "auto" else dtype
    if chosen is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=chosen)


def needs_grad_scaler(device: torch.device | str, dtype: torch.dtype | None) -> bool:
    """fp16 on CUDA underflows small gradients, so it needs loss scaling; bf16 does not."""
    return torch.device(device).type == "cuda" and dtype == torch.float16
