"""Which tokens to hide for masked language modelling (MLM), three ways.

* :func:`mask_tokens`: BERT's rule (Devlin et al., 2019). Each non-special
  token is selected with probability ``mlm_probability``; of the selected,
  80% become ``[MASK]``, 10% a random token and 10% stay as they are.
* :func:`whole_word_mask`: select whole words, so that the model cannot
  recover ``##mael`` from the visible ``ish`` of the same word.
* :func:`span_mask`: SpanBERT's contiguous spans (Joshi et al., 2020) with
  geometric lengths, p = 0.2, at most 10 tokens (mean ≈ 3.8).

Shapes: B = batch size, T = sequence length (tokens). Every random draw uses
the ``generator`` argument (``None``: torch's global generator), so the same
seed gives the same mask.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def mask_tokens(input_ids, special_tokens_mask, mask_token_id: int, vocab_size: int,
                mlm_probability: float = 0.15, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """BERT's MLM masking of a batch: select tokens, then apply the 80/10/10 rule.

    Args:
        input_ids: (B, T) integer token ids. Never modified in place.
        special_tokens_mask: (B, T) bool or 0/1, True/1 at special tokens ([CLS], [SEP], [PAD], ...),
            which are never selected.
        mask_token_id: the id of ``[MASK]``.
        vocab_size: random replacements are drawn uniformly from ``[0, vocab_size)``.
        mlm_probability: each non-special position is selected independently with this probability.
        generator: the torch.Generator for every random draw (on the device of ``input_ids``);
            None uses torch's global generator.

    Returns:
        ``(masked_input_ids, labels)``, both (B, T) with ``input_ids``' dtype and device.
        Of the selected positions, each independently becomes ``mask_token_id`` with probability
        0.8, a uniformly random id in ``[0, vocab_size)`` with probability 0.1 (it may happen to
        equal the original), and keeps its token with probability 0.1. Unselected positions keep
        their token. ``labels`` holds the original id at selected positions and -100 elsewhere.

    Taught in book/ch2_pretraining/masking.md.
    """
    shape, device = input_ids.shape, input_ids.device
    # 1. Select: a Bernoulli(mlm_probability) draw per position, never at special tokens.
    probability = torch.full(shape, mlm_probability, device=device)  # (B, T)
    probability = probability.masked_fill(special_tokens_mask.bool(), 0.0)
    selected = torch.bernoulli(probability, generator=generator).bool()  # (B, T)
    labels = input_ids.masked_fill(~selected, -100)  # (B, T): -100 is the loss's ignore_index

    # 2. Of the selected: 80% [MASK]; half of the remaining 20% a random token; the rest unchanged.
    to_mask = selected & torch.bernoulli(torch.full(shape, 0.8, device=device), generator=generator).bool()
    to_random = selected & ~to_mask & torch.bernoulli(torch.full(shape, 0.5, device=device), generator=generator).bool()
    random_ids = torch.randint(vocab_size, shape, generator=generator, device=device, dtype=input_ids.dtype)

    masked_input_ids = input_ids.masked_fill(to_mask, mask_token_id)  # a new tensor: input_ids is untouched
    masked_input_ids = torch.where(to_random, random_ids, masked_input_ids)
    return masked_input_ids, labels


def whole_word_mask(word_ids: list[int | None], mlm_probability: float = 0.15,
                    generator: torch.Generator | None = None) -> torch.BoolTensor:
    """Select whole words for MLM: all sub-tokens of a word together, special tokens never.

    Args:
        word_ids: one entry per token, as a fast tokenizer's ``encoding.word_ids()`` gives them:
            the index of the word the token belongs to, None for special tokens. A word is a run
            of consecutive tokens with the same index (in a sentence pair the indices restart at
            0 in the second segment, so equal indices in different runs are different words).
        mlm_probability: each word is selected independently with this probability
            (a Bernoulli draw per word, not an exact count).
        generator: the CPU torch.Generator for the random draws; None uses torch's global generator.

    Returns:
        A (T,) bool CPU tensor, True at every token of the selected words and False at special tokens.

    Taught in book/ch2_pretraining/masking.md.
    """
    # A new word starts wherever the index changes (and after a special token).
    words = []  # words[k] = the token positions of the k-th word
    previous = None
    for position, word in enumerate(word_ids):
        if word is None:
            previous = None
            continue
        if word != previous:
            words.append([])
        words[-1].append(position)
        previous = word
    chosen = torch.rand(len(words), generator=generator) < mlm_probability  # (number of words,)
    mask = torch.zeros(len(word_ids), dtype=torch.bool)  # (T,)
    for positions, is_chosen in zip(words, chosen.tolist()):
        if is_chosen:
            mask[positions] = True
    return mask


def span_mask(seq_len: int, mlm_probability: float = 0.15, geometric_p: float = 0.2, max_span_length: int = 10,
              generator: torch.Generator | None = None) -> torch.BoolTensor:
    """SpanBERT's span masking of one sequence of ``seq_len`` positions.

    The budget is ``ceil(mlm_probability * seq_len)`` positions. Until the budget is reached:
    draw a span length ``L`` from the geometric distribution ``P(L = k) ∝ geometric_p *
    (1 - geometric_p) ** (k - 1)``, truncated to ``1 <= k <= max_span_length`` (renormalised, as in
    SpanBERT: mean ≈ 3.8 for p = 0.2 and 10), and a start uniformly among the ``seq_len``
    positions; select positions ``start, start + 1, ...`` up to ``L`` of them, stopping at the end
    of the sequence and as soon as the budget is reached (so the last span is cut short rather than
    overflowing: exactly ``budget`` positions end up selected). Spans may touch or overlap earlier
    ones; a position already selected is not counted twice.

    Args:
        seq_len: the number of positions T.
        mlm_probability: the fraction of positions to select.
        geometric_p: the parameter of the geometric span-length distribution.
        max_span_length: the longest span.
        generator: the CPU torch.Generator for the random draws; None uses torch's global generator.

    Returns:
        A (T,) bool CPU tensor with exactly ``ceil(mlm_probability * seq_len)`` True entries.

    Taught in book/ch2_pretraining/masking.md.
    """
    lengths = torch.arange(1, max_span_length + 1)  # (max_span_length,) the possible span lengths
    length_weights = geometric_p * (1 - geometric_p) ** (lengths - 1.0)  # unnormalised truncated geometric
    # round() first removes float noise: 0.15 * 100 is 15.000000000000002, whose ceil would be 16.
    budget = min(seq_len, math.ceil(round(mlm_probability * seq_len, 9)))
    mask = torch.zeros(seq_len, dtype=torch.bool)  # (T,)
    selected = 0
    while selected < budget:
        length = int(lengths[torch.multinomial(length_weights, 1, generator=generator)])
        start = int(torch.randint(seq_len, (1,), generator=generator))
        for position in range(start, min(start + length, seq_len)):
            if selected == budget:
                break
            if not mask[position]:
                mask[position] = True
                selected += 1
    return mask


def word_positions(word_ids: list[int | None]) -> list[list[int]]:
    """The words of a sequence as lists of positions: runs of equal, non-None word ids.

    ``[None, 0, 0, 1, None, 0, None]`` (a pair whose word ids restart in segment B)
    gives ``[[1, 2], [3], [5]]``. Whole-word masking selects these lists all or nothing.
    """
    words, previous = [], None
    for position, word in enumerate(word_ids):
        if word is not None and word == previous:
            words[-1].append(position)
        elif word is not None:
            words.append([position])
        previous = word
    return words
