"""Extractive question answering: from start and end logits to the best answer span.

A QA head scores every token as the answer's start and as its end; the answer
is the span (start, end) with the highest ``start_logits[start] + end_logits[end]``
that lies in the context and is not too long.
"""

from __future__ import annotations

import torch
from torch import Tensor


def best_answer_span(start_logits: Tensor, end_logits: Tensor, context_mask: Tensor,
                     max_answer_length: int = 30) -> tuple[int, int]:
    """The highest-scoring valid answer span of one example.

    Taught in book/ch5_finetuning/question_answering.md.

    Args:
        start_logits: (T,) float scores of each token as the answer's first token.
        end_logits: (T,) float scores of each token as the answer's last token.
        context_mask: (T,) bool or 0/1, true at the tokens of the context (not the question,
            not special tokens, not padding).
        max_answer_length: the longest answer, in tokens.

    Returns:
        ``(start, end)`` as Python ints, token indices with ``end`` inclusive, maximising
        ``start_logits[start] + end_logits[end]`` (the sum in the logits' dtype) over
        ``start <= end < start + max_answer_length`` with both ``start`` and ``end`` inside the
        context (tokens between them need not be). Ties go to the smallest ``start``, then the
        smallest ``end``.

    Raises:
        ValueError: the context is empty (``context_mask`` has no true entry), or
            ``max_answer_length < 1``.
    """
    if max_answer_length < 1:
        raise ValueError(f"max_answer_length must be >= 1; got {max_answer_length}")
    inside = context_mask.bool()  # (T,)
    if not inside.any():
        raise ValueError("context_mask is empty: there is no context token to answer from")
    length = start_logits.shape[0]
    scores = start_logits[:, None] + end_logits[None, :]  # (T, T): scores[s, e]
    starts = torch.arange(length)[:, None]
    ends = torch.arange(length)[None, :]
    valid = (ends >= starts) & (ends < starts + max_answer_length)  # end inclusive, at most L tokens
    valid &= inside[:, None] & inside[None, :]
    scores = scores.masked_fill(~valid.to(scores.device), float("-inf"))
    # argmax returns the first maximum; row-major order puts the smallest start, then end, first.
    best = int(torch.argmax(scores.flatten()))
    return best // length, best % length
