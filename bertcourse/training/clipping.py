"""Gradient clipping by global norm, the one ``torch.nn.utils.clip_grad_norm_`` does.

Taught in book/ch4_training/clipping.md.
"""

from __future__ import annotations

import torch
from torch import Tensor


def clip_grad_norm(parameters, max_norm: float) -> Tensor:
    """Scale all gradients together so that their global L2 norm is at most ``max_norm``.

    Args:
        parameters: any iterable of tensors (a list, or a generator such as ``model.parameters()``,
            read once); a parameter whose ``.grad`` is None is skipped.
        max_norm: the largest global norm allowed.

    Returns:
        The total norm **before** clipping, ``sqrt(sum over parameters of ||grad||^2)``, as a 0-d
        tensor in the gradients' dtype; ``torch.tensor(0.)`` when no parameter has a gradient.

    Every gradient is multiplied in place by ``min(1, max_norm / (total_norm + 1e-6))``, exactly as
    ``torch.nn.utils.clip_grad_norm_`` does (its epsilon included): gradients whose norm is below
    ``max_norm`` are (almost) unchanged and are never scaled up; the direction of the whole
    gradient is kept.

    Taught in book/ch4_training/clipping.md.
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    norms = torch.stack([torch.linalg.vector_norm(g.detach(), 2) for g in grads])  # (P,) one norm per tensor
    total_norm = torch.linalg.vector_norm(norms, 2)
    # torch adds 1e-6 to the norm so that an all-zero gradient does not divide by zero.
    scale = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)
    for g in grads:
        g.detach().mul_(scale)
    return total_norm
