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
    return copy_checked(model, renamed, tied=tied)


def copy_checked(model: nn.Module, renamed: dict[str, Tensor], *, tied: tuple[str, ...] = (),
                 spare: tuple[str, ...] = ()) -> nn.Module:
    """Copy ``renamed`` (already in our names) into ``model``, every parameter found with its shape.

    ``tied`` names our parameters that may be absent; ``spare`` are name prefixes of source
    weights the model may have no place for (heads it lacks). Raises ValueError naming the
    missing, unexpected or mis-shaped entries.
    """
    targets = model.state_dict()
    missing = sorted(set(targets) - set(renamed) - set(tied))
    unexpected = sorted(k for k in set(renamed) - set(targets) if not k.startswith(spare))
    if missing or unexpected:
        raise ValueError(
            f"state dict does not fit {type(model).__name__}: missing {missing[:8]}"
            f"{' ...' if len(missing) > 8 else ''}, unexpected {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}"
        )
    with torch.no_grad():
        for name, target in targets.items():
            if name not in renamed:  # a tied parameter, filled by the one it is tied to
                continue
            if renamed[name].shape != target.shape:
                raise ValueError(f"{name}: expected shape {tuple(target.shape)}, got {tuple(renamed[name].shape)}")
            target.copy_(renamed[name])
    return model
