"""LoRA: low-rank adapters on a frozen encoder's linear layers (Hu et al., 2022).

A wrapped layer computes ``base(x) + (alpha / r) * x A^T B^T``: the pretrained weight W (out, in)
stays frozen, and only A (r, in) and B (out, r) learn, ``r * (in + out)`` numbers instead of
``in * out``. B starts at zero, so before the first update the model is exactly the pretrained
one. After training, ``W + (alpha / r) B A`` is one plain matrix again (:func:`merge_lora`): no
extra cost at inference. The layout and initialisation follow ``peft``'s ``lora_A``/``lora_B``,
and the tests check both against it. Taught in book/ch5_finetuning/sotu_party.md.

Shapes: N any leading dimensions, I in_features, O out_features, r the rank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class LoraConfig:
    """Rank ``r``, scale ``alpha`` (the update is multiplied by ``alpha / r``), dropout on the adapter's input,
    and the names of the linear layers to wrap (BERT's attention query and value projections, as in the paper)."""

    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    targets: tuple[str, ...] = ("query", "value")

    def __post_init__(self):
        if not (isinstance(self.r, int) and self.r >= 1):
            raise ValueError(f"r must be an int >= 1; got {self.r!r}")
        if not self.alpha > 0 or not 0 <= self.dropout < 1:
            raise ValueError(f"alpha must be > 0 and dropout in [0, 1); got alpha={self.alpha!r}, dropout={self.dropout!r}")
        if not self.targets:
            raise ValueError("targets must name at least one linear layer; got ()")


class LoraLinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update: ``base(x) + scaling * dropout(x) A^T B^T``."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise ValueError(f"base must be an nn.Linear; got {type(base).__name__}")
        self.base = base.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))  # (r, I)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))  # (O, r): zero, so the start is the base model
        # A as peft initialises it (nn.Linear's Kaiming-uniform; the paper draws a Gaussian): B = 0 already makes
        # the update zero, A only needs a sensible scale so that B's first gradients are not zero.
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scaling = alpha / r
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """(N, I) -> (N, O)."""
        update = self.dropout(x) @ self.lora_A.T @ self.lora_B.T  # (N, r) then (N, O): never the (O, I) matrix
        return self.base(x) + self.scaling * update

    @torch.no_grad()
    def merged(self) -> nn.Linear:
        """One ``nn.Linear`` computing the same function (in eval mode): weight ``W + scaling * B A``."""
        merged = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        merged.to(self.base.weight.device, self.base.weight.dtype)
        merged.weight.copy_(self.base.weight + self.scaling * self.lora_B @ self.lora_A)
        if self.base.bias is not None:
            merged.bias.copy_(self.base.bias)
        return merged


def add_lora(model: nn.Module, config: LoraConfig) -> int:
    """Freeze every parameter of ``model`` and wrap each ``nn.Linear`` named in ``config.targets``, in place.

    Returns the number of wrapped layers; a ``ValueError`` when none matches, so a typo cannot
    silently train nothing. Call it on the encoder, before adding a (trainable) head.
    """
    model.requires_grad_(False)
    chosen = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
              if name in config.targets and isinstance(child, nn.Linear)]
    if not chosen:
        raise ValueError(f"config.targets {config.targets} name no nn.Linear of the model")
    for parent, name, child in chosen:
        setattr(parent, name, LoraLinear(child, config.r, config.alpha, config.dropout))
    return len(chosen)


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace each :class:`LoraLinear` of ``model`` by its merged ``nn.Linear``, in place; returns ``model``."""
    chosen = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
              if isinstance(child, LoraLinear)]
    for parent, name, child in chosen:
        setattr(parent, name, child.merged())
    return model


def trainable_parameters(model: nn.Module) -> int:
    """How many numbers the optimizer updates: the parameters with ``requires_grad``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
