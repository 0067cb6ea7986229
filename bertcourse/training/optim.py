"""AdamW written out: one in-place update of one parameter, the step ``torch.optim.AdamW`` takes.

Taught in book/ch4_training/adamw.md.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def adamw_update(param: Tensor, grad: Tensor, state: dict, lr: float, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01) -> None:
    """One AdamW step (Loshchilov & Hutter, 2019) on ``param``, in place, exactly as ``torch.optim.AdamW``.

    Args:
        param: the parameter tensor, updated in place (the same tensor object afterwards, under
            ``torch.no_grad()``, so a leaf that requires grad works). Any float dtype.
        grad: its gradient, same shape and dtype; not modified.
        state: this parameter's optimiser state. Empty before the first step; the function keeps in it
            ``"step"`` (the number of steps taken so far, this one included: an int or a 0-d tensor),
            ``"exp_avg"`` (the first moment m) and ``"exp_avg_sq"`` (the second moment v), two
            tensors shaped like ``param``, created as zeros at the first step.
        lr, betas, eps, weight_decay: as in ``torch.optim.AdamW``; ``lr`` may change from call to call
            (a schedule), the moments and the bias correction do not care.

    With ``t`` the step number after incrementing (1 at the first call) and ``g = grad``:
    decoupled weight decay first, ``param *= 1 - lr * weight_decay`` (the decay never passes through
    the moments: that is the difference from Adam with an L2 term); then ``m = beta1 m + (1 - beta1) g``,
    ``v = beta2 v + (1 - beta2) g^2``, and
    ``param -= lr / (1 - beta1^t) * m / (sqrt(v / (1 - beta2^t)) + eps)`` (bias-corrected moments;
    ``eps`` outside the square root). After N calls ``param`` equals N steps of ``torch.optim.AdamW``
    with the same settings (to 1e-6). Returns None.

    Taught in book/ch4_training/adamw.md.
    """
    beta1, beta2 = betas
    with torch.no_grad():
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(param)
            state["exp_avg_sq"] = torch.zeros_like(param)
        state["step"] += 1
        t = int(state["step"])
        # Decoupled weight decay: shrink the weights directly, not through the gradient.
        param.mul_(1.0 - lr * weight_decay)
        state["exp_avg"].mul_(beta1).add_(grad, alpha=1.0 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
        # Bias correction: m and v start at 0, so early averages are too small by (1 - beta^t).
        step_size = lr / (1.0 - beta1**t)
        denominator = (state["exp_avg_sq"].sqrt() / math.sqrt(1.0 - beta2**t)).add_(eps)
        param.addcdiv_(state["exp_avg"], denominator, value=-step_size)
