"""Copy a transformers state dict into a course model through a table of regex renames.

Each variant module (roberta, albert, electra, distilbert, deberta) owns its
table, transformers' name -> ours, applied in order; this module does the
copying and the checks that every parameter is found with its shape.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor, nn

Renames = list[tuple[str, str]]


def rename(name: str, renames: Renames) -> str:
    """``name`` after every (pattern, replacement) of ``renames``, in order."""
    for pattern, replacement in renames:
        name = re.sub(pattern, replacement, name)
    return name


def load_renamed(model: nn.Module, state_dict: dict[str, Tensor], renames: Renames, *,
                 skip: str = r"position_ids$", tied: tuple[str, ...] = ()) -> nn.Module:
    """Copy ``state_dict`` into ``model``: every parameter of ``model`` must be found, with its shape.

    ``skip`` matches source names that carry no weights of their own (buffers);
    ``tied`` names our parameters that may be absent because they are tied to
    another one (a decoder tied to the word embeddings). Raises ValueError naming
    the missing, unexpected or mis-shaped entries.
    """
    renamed = {rename(name, renames): tensor for name, tensor in state_dict.items() if not re.search(skip, name)}
    targets = model.state_dict()
    missing = sorted(set(targets) - set(renamed) - set(tied))
    unexpected = sorted(set(renamed) - set(targets))
    if missing or unexpected:
        raise ValueError(f"state dict does not fit {type(model).__name__}: missing {missing[:8]}, "
                         f"unexpected {unexpected[:8]}")
    with torch.no_grad():
        for name, target in targets.items():
            if name not in renamed:
                continue
            if renamed[name].shape != target.shape:
                raise ValueError(f"{name}: expected shape {tuple(target.shape)}, got {tuple(renamed[name].shape)}")
            target.copy_(renamed[name])
    return model
