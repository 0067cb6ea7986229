"""Helpers for the variant parity tests: random weights in transformers' model, copied into ours, compared."""

from __future__ import annotations

from dataclasses import replace

import torch

from tests.conftest import max_abs_diff, padded_batch, randomize_

TOLERANCE = 1e-5
CASES = [(4, 11), (3, 16), (1, 5)]  # (batch, seq) of the padded batches


def randomized(hf_model, seed: int):
    """``hf_model`` in eval mode with random weights (LayerNorms too)."""
    return randomize_(hf_model, torch.Generator().manual_seed(seed)).eval()


def batches(config, seed: int, pad_token_id: int | None = None):
    """Padded batches (input_ids, attention_mask, token_type_ids); padding gets ``pad_token_id``."""
    g = torch.Generator().manual_seed(seed)
    if config.type_vocab_size < 1:  # padded_batch draws token types; DeBERTa-v3 has none
        config = replace(config, type_vocab_size=1)
    for batch, seq in CASES:
        ids, mask, types = padded_batch(config, batch, seq, g)
        if pad_token_id is not None:  # real tokens must not use the padding id
            ids = torch.where(ids == pad_token_id, pad_token_id + 1, ids).masked_fill(mask == 0, pad_token_id)
        yield ids, mask, types


def worst(pairs) -> float:
    """The largest max-abs difference over (ours, theirs) pairs."""
    return max(max_abs_diff(ours, theirs) for ours, theirs in pairs)
