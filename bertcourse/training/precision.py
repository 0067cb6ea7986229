"""Mixed precision: which dtype autocast uses, detected per device, and the one resolver of a setting.

CPU bf16 autocast is a speed-up only on CPUs with bf16 matrix instructions (AMX
or AVX512-BF16); elsewhere it is emulated and can be 100x slower than fp32, so
"auto" asks the machine (:func:`autocast_dtype`). A setting is what a config
holds: "auto", "off" (or None) for fp32, "bf16"/"fp16" (or the torch dtype) to
force one; :func:`resolve` turns any of them into a dtype or None, and every
caller (the training loop, pre-training, the benchmarks) goes through it.
:mod:`bertcourse.runtime` re-exports :func:`autocast` for the book's training cells.
"""

from __future__ import annotations

import contextlib

import torch

# The settings a config may name, and the dtype each forces ("auto" is resolved per device).
SETTINGS = {"auto": "auto", "off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


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


def resolve(device: torch.device | str, setting: str | torch.dtype | None = "auto") -> torch.dtype | None:
    """The dtype autocast runs in on ``device`` for ``setting``, or None for fp32.

    ``setting``: "auto" (:func:`autocast_dtype` decides), "off" or None (fp32),
    "bf16" or "fp16", or a ``torch.dtype``.
    """
    if isinstance(setting, str):
        if setting not in SETTINGS:
            raise ValueError(f"autocast setting must be one of {sorted(SETTINGS)}, None or a torch.dtype; "
                             f"got {setting!r}")
        setting = SETTINGS[setting]
        if setting == "auto":
            return autocast_dtype(device)
    if setting is not None and not isinstance(setting, torch.dtype):
        raise ValueError(f"autocast setting must be a string, None or a torch.dtype; got {setting!r}")
    return setting


def dtype_name(dtype: torch.dtype | None) -> str | None:
    """"bfloat16" for torch.bfloat16, None for None (fp32): how results record a precision."""
    return None if dtype is None else str(dtype).replace("torch.", "")


def autocast(device: torch.device | str, dtype: torch.dtype | None | str = "auto"):
    """An autocast context for ``device`` under the setting ``dtype`` (see :func:`resolve`).

    Pass ``dtype=None`` to force full precision, or a dtype to force that one.
    """
    device = torch.device(device)
    chosen = resolve(device, dtype)
    if chosen is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=chosen)


def needs_grad_scaler(device: torch.device | str, dtype: torch.dtype | None) -> bool:
    """fp16 on CUDA underflows small gradients, so it needs loss scaling; bf16 does not."""
    return torch.device(device).type == "cuda" and dtype == torch.float16
