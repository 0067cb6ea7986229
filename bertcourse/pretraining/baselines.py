"""Counting baselines for masked-token prediction: what a number like "15% MLM accuracy" is worth.

Two models that need no training loop, scored on the same held-out masked
batches as a pre-trained BERT (``labels`` = -100 except at masked positions):

* :func:`unigram_baseline` ignores the context: it always answers the most
  frequent training token, and its loss is that of the add-one unigram distribution.
* :func:`neighbour_baseline` looks at the two tokens beside the mask only, as they
  stand in the masked input: naive Bayes over left-token and right-token counts,
  p(w | left, right) ∝ p(w) p(left | w) p(right | w), with add-``smoothing`` counts.

A BERT that beats the first has learned something from context; one that beats the
second uses more than the immediate neighbours.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from .objectives import IGNORE_INDEX


def _token_counts(train_ids: Iterable[Sequence[int]], vocab_size: int, special_ids: set[int]) -> np.ndarray:
    counts = np.zeros(vocab_size, dtype=np.int64)
    for ids in train_ids:
        counts += np.bincount([i for i in ids if i not in special_ids], minlength=vocab_size)
    return counts


def unigram_baseline(train_ids: Iterable[Sequence[int]], batches: Iterable[dict[str, Tensor]], vocab_size: int,
                     special_ids: Iterable[int]) -> dict[str, float]:
    """Accuracy of always answering the most frequent token, and the add-one unigram loss in nats.

    Args:
        train_ids: the training sequences (token ids); special tokens are not counted.
        batches: held-out batches with ``labels`` (batch, seq), -100 where nothing is asked.
    Returns:
        ``{"accuracy": ..., "loss": ..., "token": id of the most frequent token}``.

    Taught in book/ch2_pretraining/pretraining_run.md.
    """
    counts = _token_counts(train_ids, vocab_size, set(special_ids))
    targets = torch.cat([batch["labels"][batch["labels"] != IGNORE_INDEX] for batch in batches]).numpy()
    log_probability = np.log((counts + 1) / (counts.sum() + vocab_size))
    most_frequent = int(counts.argmax())
    return {"accuracy": float((targets == most_frequent).mean()), "loss": float(-log_probability[targets].mean()),
            "token": most_frequent}


def neighbour_baseline(train_ids: Sequence[Sequence[int]], batches: Iterable[dict[str, Tensor]], vocab_size: int,
                       special_ids: Iterable[int], candidates: int = 1024, smoothing: float = 0.1) -> float:
    """Held-out accuracy of predicting each masked token from its left and right neighbours.

    Args:
        train_ids: the training sequences (token ids), unmasked.
        batches: held-out batches with ``input_ids`` (the masked input) and ``labels``.
        candidates: only the most frequent ``candidates`` tokens are ever answered.
        smoothing: added to every neighbour count (add-k smoothing).

    Taught in book/ch2_pretraining/pretraining_run.md.
    """
    counts = _token_counts(train_ids, vocab_size, set(special_ids))
    answers = np.argsort(-counts, kind="stable")[:candidates]  # (C,) token ids, most frequent first
    column = np.full(vocab_size, -1)
    column[answers] = np.arange(len(answers))
    before = np.zeros((vocab_size, len(answers)), dtype=np.float32)  # before[t, c]: times token t stands just before answer c
    after = np.zeros((vocab_size, len(answers)), dtype=np.float32)  # after[t, c]: times token t stands just after answer c
    for ids in train_ids:
        ids = np.asarray(ids)
        _add_pairs(before, ids[:-1], ids[1:], column)
        _add_pairs(after, ids[1:], ids[:-1], column)
    denominator = counts[answers] + smoothing * vocab_size
    log_prior = np.log(counts[answers] + 1)  # (C,)
    log_before = np.log((before + smoothing) / denominator)  # (V, C): log p(left = t | answer c)
    log_after = np.log((after + smoothing) / denominator)  # (V, C): log p(right = t | answer c)
    correct = total = 0
    for batch in batches:
        input_ids, labels = batch["input_ids"].numpy(), batch["labels"].numpy()
        for row, col in zip(*np.nonzero(labels != IGNORE_INDEX)):
            score = log_prior.copy()
            if col > 0:
                score += log_before[input_ids[row, col - 1]]
            if col + 1 < input_ids.shape[1]:
                score += log_after[input_ids[row, col + 1]]
            correct += int(answers[score.argmax()] == labels[row, col])
            total += 1
    return correct / max(total, 1)


def _add_pairs(table: np.ndarray, neighbours: np.ndarray, words: np.ndarray, column: np.ndarray) -> None:
    """table[neighbour, column of word] += 1 for every pair whose word is a candidate answer."""
    keep = column[words] >= 0
    np.add.at(table, (neighbours[keep], column[words[keep]]), 1)
