"""Dropout with a mask that is cheap to draw on CPU.

``nn.Dropout`` draws its mask with ``bernoulli_``: one 32-bit random number
per element. BERT drops the (B, nh, T, T) attention weights of every layer,
and in a bf16 training step of MiniLM on a 2-core CPU torch.profiler put a
third of the step in those draws. :class:`CheapMaskDropout` cuts four 16-bit
uniforms out of each 64-bit random word and compares them with a threshold.
That is several times cheaper (``make bench`` times it, in its "levers"
table), and it draws from the same seeded generator, so runs stay
reproducible.

The price is a drop probability rounded to a multiple of 2^-16 (at most
7.7e-6 away from ``p``); kept elements are scaled by 1 / (1 - rounded p), so
the expected output still equals the input. On other devices, and for p = 0
or 1, it is ``nn.Dropout`` itself.

:func:`attention_with_dropout` is the training path of the reference
attention: PyTorch's fused CPU attention kernel cannot drop weights, and asking
it to sends it down a slow path with ``bernoulli_`` masks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LEVELS = 1 << 16  # a 16-bit uniform takes this many values


def keep_mask(shape: tuple[int, ...], p: float, device: torch.device | str = "cpu") -> tuple[Tensor, float]:
    """A bool mask of ``shape`` (True = keep) that drops each element with probability ~p, and the scale for kept ones.

    The drop probability is ``round(p * 2**16) / 2**16``; the scale is
    1 / (1 - that probability).
    """
    count = math.prod(shape)
    words = torch.empty((count + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), None)
    uniforms = words.view(torch.int16)[:count].view(shape)  # each value of [-2^15, 2^15) equally likely
    dropped_levels = round(p * LEVELS)
    return uniforms >= dropped_levels - LEVELS // 2, LEVELS / (LEVELS - dropped_levels)


class CheapMaskDropout(nn.Dropout):
    """``nn.Dropout(p)`` whose training-mode mask on CPU comes from :func:`keep_mask`."""

    def forward(self, input: Tensor) -> Tensor:
        """(...) -> (...), the same shape and dtype."""
        if not self.training or input.device.type != "cpu" or self.p in (0.0, 1.0):
            return F.dropout(input, self.p, self.training, self.inplace)
        keep, scale = keep_mask(input.shape, self.p, input.device)
        # One multiplication by a mask in the input's dtype, as nn.Dropout does.
        return input * keep.to(input.dtype).mul_(scale)


def replace_dropout(model: nn.Module, old: type[nn.Dropout], new: type[nn.Dropout]) -> nn.Module:
    """Replace every dropout layer of exactly type ``old`` inside ``model`` by a ``new`` with the same p; returns model."""
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if type(child) is old:
                setattr(parent, name, new(child.p, child.inplace))
    return model


def use_cheap_dropout(model: nn.Module) -> nn.Module:
    """Replace every plain ``nn.Dropout`` inside ``model`` by a :class:`CheapMaskDropout`; returns model.

    Subclasses of ``nn.Dropout`` (a student's own, say) are left alone.
    """
    return replace_dropout(model, nn.Dropout, CheapMaskDropout)


def attention_with_dropout(query: Tensor, key: Tensor, value: Tensor, attention_mask: Tensor | None,
                           dropout: nn.Module) -> Tensor:
    """softmax(Q K^T / sqrt(d)) V with ``dropout`` applied to the weights: attention in training.

    query, key, value (B, nh, T, hd); attention_mask bool, broadcastable to
    (B, nh, T, T), True = may attend, or None -> (B, nh, T, hd).

    On a GPU the fused kernel drops weights itself. On CPU, PyTorch's fused
    kernel cannot, and ``F.scaled_dot_product_attention`` with ``dropout_p``
    falls back to a slow path, so the steps are spelled out here. The scores
    and softmax stay in fp32 under autocast, as fused kernels keep them:
    bf16 scores would round a logit of 20 to a multiple of 0.125.

    Taught in book/ch1_architecture/attention.md.
    """
    if query.device.type != "cpu":
        return F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask,
                                              dropout_p=dropout.p if dropout.training else 0.0)
    precise = torch.promote_types(query.dtype, torch.float32)  # fp32, or fp64 for fp64 inputs
    with torch.autocast("cpu", enabled=False):
        scores = (query.to(precise) / math.sqrt(query.size(-1))) @ key.to(precise).transpose(-2, -1)  # (B, nh, T, T)
    if attention_mask is not None:
        scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
    return dropout(scores.softmax(dim=-1)).to(value.dtype) @ value
