"""Long contexts for extractive QA: strided windows, answers as token spans, and back to characters.

A context longer than the model's budget is cut into overlapping windows, as SQuAD pipelines do
(the tokenizer's ``return_overflowing_tokens`` with a ``stride`` of shared tokens), so an answer
near a cut is whole in at least one window. Each window keeps the tokenizer's ``offset_mapping``:
the character span of every context token, which turns a predicted token span back into text.
Training labels a window with the answer's first and last token, or (0, 0), the [CLS] token,
when the answer is not wholly inside it. At inference the best span of each window
(:func:`~bertcourse.finetuning.qa.best_answer_span`) competes with the other windows' on the sum
of its start and end logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .qa import best_answer_span


@dataclass(frozen=True)
class Window:
    """One window of one question: ``[CLS] question [SEP] part of the context [SEP]``.

    ``offsets[t]`` is the character span ``(start, end)`` of token ``t`` in the context, and
    ``(0, 0)`` for the question's and the special tokens (``in_context[t]`` is False there).
    """

    question: int
    input_ids: list[int]
    token_type_ids: list[int]
    offsets: list[tuple[int, int]]
    in_context: list[bool]

    @property
    def example(self) -> tuple[list[int], list[int]]:
        """The model input, as :mod:`bertcourse.finetuning.inputs` frames it."""
        return self.input_ids, self.token_type_ids


def encode_windows(tokenizer, questions: Sequence[str], contexts: Sequence[str], max_length: int = 128,
                   stride: int = 32) -> list[Window]:
    """Every window of every (question, context) pair, in order; ``stride`` tokens shared by neighbours."""
    if len(questions) != len(contexts):
        raise ValueError(f"questions has {len(questions)} texts but contexts has {len(contexts)}")
    encoded = tokenizer(list(questions), list(contexts), truncation="only_second", max_length=max_length,
                        stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True)
    windows = []
    for w, ids in enumerate(encoded["input_ids"]):
        in_context = [sid == 1 for sid in encoded.sequence_ids(w)]
        offsets = [tuple(o) if inside else (0, 0) for o, inside in zip(encoded["offset_mapping"][w], in_context)]
        windows.append(Window(encoded["overflow_to_sample_mapping"][w], ids, encoded["token_type_ids"][w],
                              offsets, in_context))
    return windows


def answer_tokens(window: Window, char_start: int, char_end: int) -> tuple[int, int]:
    """The first and last token (inclusive) of the answer ``context[char_start:char_end]`` in ``window``, or
    ``(0, 0)`` when the window does not hold all of it."""
    tokens = [t for t, (inside, (a, b)) in enumerate(zip(window.in_context, window.offsets))
              if inside and a < char_end and b > char_start]  # tokens overlapping the answer
    context = [t for t, inside in enumerate(window.in_context) if inside]
    if not tokens or window.offsets[context[0]][0] > char_start or window.offsets[context[-1]][1] < char_end:
        return 0, 0
    return tokens[0], tokens[-1]


def best_answers(windows: Sequence[Window], logits: Sequence[np.ndarray], n_questions: int,
                 max_answer_length: int = 30) -> list[tuple[int, int, float]]:
    """Per question, the character span ``(start, end)`` and score of the best span over all its windows.

    ``logits[w]`` is window ``w``'s (T, 2) start and end logits. A window's best span is
    :func:`~bertcourse.finetuning.qa.best_answer_span`'s; the windows compete on its
    ``start + end`` logit sum (the first window wins a tie).
    """
    best: list[tuple[int, int, float] | None] = [None] * n_questions
    for window, row in zip(windows, logits):
        start, end = torch.from_numpy(np.ascontiguousarray(row[:, 0])), torch.from_numpy(np.ascontiguousarray(row[:, 1]))
        s, e = best_answer_span(start, end, torch.tensor(window.in_context), max_answer_length)
        score = float(start[s] + end[e])
        if best[window.question] is None or score > best[window.question][2]:
            best[window.question] = (window.offsets[s][0], window.offsets[e][1], score)
    missing = [q for q, b in enumerate(best) if b is None]
    if missing:
        raise ValueError(f"questions {missing[:5]} have no window; expected every question index < {n_questions}")
    return best
