"""Tests of bertcourse.pretraining.masking: invariants, edge cases, and statistics against transformers.

Statistical checks use tolerances of 5 binomial standard deviations, so a
correct implementation fails one of them about once in 3 million runs; the
seeds are fixed, so the tests are deterministic anyway.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bertcourse.pretraining.masking import mask_tokens, span_mask, whole_word_mask, word_positions

MASK_ID, VOCAB = 103, 30522


def within(observed: float, p: float, n: int, sigmas: float = 5.0) -> bool:
    """``observed`` is a binomial proportion of ``n`` trials compatible with probability ``p``."""
    return abs(observed - p) <= sigmas * math.sqrt(max(p * (1 - p), 1e-12) / n) + 1e-12


def batch(rows: int = 64, seq: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ids away from MASK_ID, with [CLS] first and padding at the end of each row."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, VOCAB, (rows, seq), generator=g)
    lengths = torch.randint(seq // 4, seq + 1, (rows,), generator=g)
    special = torch.arange(seq)[None, :] >= lengths[:, None]  # padding
    special[:, 0] = True  # [CLS]
    ids[special] = 0
    return ids, special


def outcome_rates(ids, special, masked, labels):
    selected = labels != -100
    n = int(selected.sum())
    return {
        "n": n,
        "selected": n / int((~special).sum()),
        "mask": int((masked[selected] == MASK_ID).sum()) / n,
        "random": int(((masked != ids) & (masked != MASK_ID) & selected).sum()) / n,
        "kept": int((masked[selected] == ids[selected]).sum()) / n,
    }


@pytest.mark.parametrize("probability", [0.15, 0.5])
def test_mask_tokens_statistics(probability):
    ids, special = batch()
    masked, labels = mask_tokens(ids, special, MASK_ID, VOCAB, probability, torch.Generator().manual_seed(1))
    rates = outcome_rates(ids, special, masked, labels)
    assert within(rates["selected"], probability, int((~special).sum()))
    # A random id equals the original with probability 1/VOCAB: negligible at this size.
    for outcome, p in (("mask", 0.8), ("random", 0.1), ("kept", 0.1)):
        assert within(rates[outcome], p, rates["n"]), (outcome, rates)


def test_mask_tokens_matches_transformers_statistics():
    from transformers import DataCollatorForLanguageModeling

    from bertcourse import hub

    tokenizer = hub.load_tokenizer()
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
    collator.generator = torch.Generator().manual_seed(2)
    ids, special = batch(seed=3)
    theirs = collator.torch_mask_tokens(ids.clone(), special.long())
    ours = mask_tokens(ids, special, tokenizer.mask_token_id, len(tokenizer), 0.15, torch.Generator().manual_seed(4))
    theirs_rates, our_rates = outcome_rates(ids, special, *theirs), outcome_rates(ids, special, *ours)
    for key in ("selected", "mask", "random", "kept"):
        p = (theirs_rates[key] + our_rates[key]) / 2
        n = our_rates["n"] if key != "selected" else int((~special).sum())
        assert abs(theirs_rates[key] - our_rates[key]) <= 5 * math.sqrt(2 * p * (1 - p) / n), key
    # The same label convention: -100 outside the selection, the original id inside.
    for _masked, labels in (theirs, ours):
        assert torch.equal(labels[labels != -100], ids[labels != -100])


def test_mask_tokens_invariants():
    ids, special = batch(rows=8, seq=64)
    ids_before, special_before = ids.clone(), special.clone()
    for special_mask in (special, special.long()):
        masked, labels = mask_tokens(ids, special_mask, MASK_ID, VOCAB, 0.5, torch.Generator().manual_seed(0))
        assert masked.dtype == labels.dtype == ids.dtype and masked.shape == labels.shape == ids.shape
        assert torch.equal(ids, ids_before) and torch.equal(special, special_before)  # nothing in place
        assert (labels[special] == -100).all() and torch.equal(masked[special], ids[special])
        unselected = labels == -100
        assert torch.equal(masked[unselected], ids[unselected])
        assert torch.equal(labels[~unselected], ids[~unselected])


def test_mask_tokens_random_ids_are_uniform():
    ids, special = torch.full((200, 500), 7), torch.zeros(200, 500, dtype=torch.bool)
    vocab = 50
    masked, labels = mask_tokens(ids, special, 49, vocab, 1.0, torch.Generator().manual_seed(5))
    # Random ids that differ from the original (7) and from [MASK] (49): uniform over the other 48.
    replaced = masked[(masked != 7) & (masked != 49)]
    assert within(replaced.numel() / ids.numel(), 0.1 * 48 / vocab, ids.numel())
    counts = torch.bincount(replaced, minlength=vocab).double()
    counts = counts[[i for i in range(vocab) if i not in (7, 49)]]
    expected = replaced.numel() / 48
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 47 + 5 * math.sqrt(2 * 47)  # chi-square with 47 degrees of freedom, 5 sigma


def test_mask_tokens_edge_cases_and_generator():
    ids, special = batch(rows=4, seq=32)
    special[1] = True  # an all-special row
    masked, labels = mask_tokens(ids, special, MASK_ID, VOCAB, 1.0)
    assert (labels[1] == -100).all() and torch.equal(masked[1], ids[1])
    assert torch.equal(labels[~special], ids[~special]) and (labels[special] == -100).all()
    masked, labels = mask_tokens(ids, special, MASK_ID, VOCAB, 0.0)
    assert (labels == -100).all() and torch.equal(masked, ids)
    first = mask_tokens(ids, special, MASK_ID, VOCAB, 0.5, torch.Generator().manual_seed(9))
    torch.manual_seed(123)  # the global generator must not matter
    second = mask_tokens(ids, special, MASK_ID, VOCAB, 0.5, torch.Generator().manual_seed(9))
    other = mask_tokens(ids, special, MASK_ID, VOCAB, 0.5, torch.Generator().manual_seed(10))
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not torch.equal(first[1], other[1])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_mask_tokens_on_cuda():
    ids, special = batch(rows=4, seq=32)
    generator = torch.Generator("cuda").manual_seed(0)
    masked, labels = mask_tokens(ids.cuda(), special.cuda(), MASK_ID, VOCAB, 0.5, generator)
    assert masked.is_cuda and labels.is_cuda


def sample_word_ids(num_words: int, seed: int) -> list[int | None]:
    g = torch.Generator().manual_seed(seed)
    pieces = torch.randint(1, 4, (num_words,), generator=g).tolist()
    return [None] + [w for w, n in enumerate(pieces) for _ in range(n)] + [None]


def test_whole_word_mask_selects_whole_words_at_the_right_rate():
    word_ids = sample_word_ids(300, 0)
    words = word_positions(word_ids)
    generator = torch.Generator().manual_seed(1)
    chosen_words = 0
    for _ in range(50):
        mask = whole_word_mask(word_ids, 0.3, generator)
        assert mask.dtype == torch.bool and mask.shape == (len(word_ids),)
        assert not mask[0] and not mask[-1]
        for positions in words:
            assert mask[positions].all() or not mask[positions].any()
        chosen_words += sum(bool(mask[positions[0]]) for positions in words)
    assert within(chosen_words / (50 * len(words)), 0.3, 50 * len(words))


def test_whole_word_mask_pairs_edges_and_generator():
    # Word ids restart in the second segment: word 0 of A and word 0 of B are different words.
    pair = [None, 0, 0, 1, None, 0, 1, 1, None]
    together = sum(bool(m[1] == m[5]) for m in (whole_word_mask(pair, 0.5, torch.Generator().manual_seed(s))
                                              for s in range(400)))
    assert within(together / 400, 0.5, 400)  # independent words agree half the time
    word_ids = sample_word_ids(40, 2)
    assert not whole_word_mask(word_ids, 0.0).any()
    assert torch.equal(whole_word_mask(word_ids, 1.0), torch.tensor([w is not None for w in word_ids]))
    assert whole_word_mask([None, None], 1.0).tolist() == [False, False]
    assert whole_word_mask([], 0.5).shape == (0,)
    first = whole_word_mask(word_ids, 0.5, torch.Generator().manual_seed(3))
    torch.manual_seed(0)
    assert torch.equal(first, whole_word_mask(word_ids, 0.5, torch.Generator().manual_seed(3)))
    assert not torch.equal(first, whole_word_mask(word_ids, 0.5, torch.Generator().manual_seed(4)))


def runs(mask: torch.Tensor) -> list[int]:
    """Lengths of the runs of True in a 1-d bool mask."""
    edges = np.diff(np.concatenate([[0], mask.numpy().astype(np.int8), [0]]))
    return (np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).tolist()


def test_span_mask_budget_and_lengths():
    generator = torch.Generator().manual_seed(0)
    for seq_len, probability in ((100, 0.15), (512, 0.15), (37, 0.5), (10, 0.3)):
        mask = span_mask(seq_len, probability, generator=generator)
        assert mask.dtype == torch.bool and mask.shape == (seq_len,)
        assert int(mask.sum()) == math.ceil(round(probability * seq_len, 9))
    lengths = []
    for _ in range(10):  # low density: spans rarely touch, so runs are spans
        lengths += runs(span_mask(50_000, 0.01, generator=generator))
    mean = sum(lengths) / len(lengths)
    assert 3.6 < mean < 4.1, mean  # truncated geometric(0.2) on 1..10: mean 3.80
    assert sum(n > 10 for n in lengths) / len(lengths) < 0.03  # only merged neighbours exceed 10
    ones, twos = lengths.count(1), lengths.count(2)
    assert 0.7 < twos / ones < 0.92  # P(2) / P(1) = 1 - p = 0.8


def test_span_mask_edges_and_generator():
    assert span_mask(1, 0.15).tolist() == [True]  # ceil(0.15) = 1
    assert not span_mask(50, 0.0).any()
    assert span_mask(50, 1.0).all()
    assert span_mask(0, 0.15).shape == (0,)
    lengths = []
    for seed in range(30):
        lengths += runs(span_mask(20_000, 0.01, geometric_p=0.5, max_span_length=3,
                                  generator=torch.Generator().manual_seed(seed)))
    assert max(lengths) <= 6 and sum(n > 3 for n in lengths) / len(lengths) < 0.02
    first = span_mask(200, 0.15, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    assert torch.equal(first, span_mask(200, 0.15, generator=torch.Generator().manual_seed(1)))
    assert not torch.equal(first, span_mask(200, 0.15, generator=torch.Generator().manual_seed(2)))


def test_word_positions_restart_in_segment_b():
    assert word_positions([None, 0, 0, 1, None, 0, None]) == [[1, 2], [3], [5]]
    assert word_positions([None, None]) == [] and word_positions([]) == []
