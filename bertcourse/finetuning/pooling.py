"""Sentence embeddings from token states, and cosine retrieval over them.

Shapes: B batch, T sequence length, H hidden size, Q queries, N documents, D embedding size, K results.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def mean_pooling(last_hidden_state: Tensor, attention_mask: Tensor) -> Tensor:
    """One vector per sequence: the mean of its token vectors over the real (non-padding) tokens.

    Taught in book/ch5_finetuning/retrieval.md.

    Args:
        last_hidden_state: (B, T, H) float token vectors, e.g. an encoder's ``last_hidden_state``.
        attention_mask: (B, T), 1 (or True) at real tokens and 0 (False) at padding; bool or integer.

    Returns:
        (B, H), with ``last_hidden_state``'s dtype and device: row ``b`` is the sum of the vectors at
        the real tokens of row ``b`` divided by their number, so padding never changes the result
        (whatever the values there). A row with no real token (all padding) gives zeros, not NaN.
        Differentiable with respect to ``last_hidden_state``.
    """
    mask = attention_mask.to(last_hidden_state.dtype).unsqueeze(-1)  # (B, T, 1)
    summed = (last_hidden_state * mask).sum(dim=1)  # (B, H): padding contributes 0
    counts = mask.sum(dim=1).clamp(min=1.0)  # (B, 1): an all-padding row divides 0 by 1
    return summed / counts


def cosine_top_k(queries: Tensor, documents: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The ``k`` documents most cosine-similar to each query, best first.

    Taught in book/ch5_finetuning/retrieval.md.

    Args:
        queries: (Q, D) float vectors.
        documents: (N, D) float vectors, same D.
        k: how many documents per query, ``1 <= k <= N``.

    Returns:
        ``(scores, indices)``, both (Q, K): ``scores[q, j]`` is the cosine similarity
        ``<a, b> / (|a| |b|)`` of query ``q`` and document ``indices[q, j]`` (a float tensor, ``queries``'
        dtype), sorted from the highest down; ``indices`` is int64. Equal scores may come in any order.
        A zero vector has similarity 0 with everything (no NaN).

    Raises:
        ValueError: ``k`` outside ``[1, N]`` (e.g. ``k > N``), or ``D`` differs between the two.
    """
    if queries.shape[-1] != documents.shape[-1]:
        raise ValueError(f"queries and documents must have the same size D; got {tuple(queries.shape)} "
                         f"and {tuple(documents.shape)}")
    if not 1 <= k <= documents.shape[0]:
        raise ValueError(f"k must be in [1, {documents.shape[0]}] (the number of documents); got {k}")
    # Unit vectors make the dot product the cosine; F.normalize leaves a zero vector at zero.
    similarity = F.normalize(queries, dim=-1) @ F.normalize(documents, dim=-1).T  # (Q, N)
    scores, indices = torch.topk(similarity, k, dim=-1)  # (Q, K) each, largest first
    return scores, indices
