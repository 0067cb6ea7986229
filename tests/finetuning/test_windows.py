"""Strided QA windows on real email headers: labels, offsets back to the exact answer text, stitching."""

from __future__ import annotations

import numpy as np
import pytest

from bertcourse import data
from bertcourse.finetuning import header_qa
from bertcourse.finetuning.windows import answer_tokens, best_answers, encode_windows


@pytest.fixture(scope="module")
def questions():
    paths = sorted((data.fetch("spam-assassin") / "data").glob("*/*.txt"))[::150]
    found = [q for p in paths for q in header_qa.questions_of(p.name, header_qa.context_of(header_qa.raw_header(p)))]
    assert len(found) > 90  # 41 emails, nearly all with the three fields
    return found


def windows_of(tokenizer, questions, max_length=64, stride=16):
    return encode_windows(tokenizer, [q.question for q in questions], [q.context for q in questions], max_length,
                          stride)


def test_labels_map_back_to_the_exact_answer_text(tokenizer, questions):
    windows = windows_of(tokenizer, questions)
    holding = set()
    for window in windows:
        q = questions[window.question]
        start, end = answer_tokens(window, q.start, q.end)
        if (start, end) != (0, 0):
            assert q.context[window.offsets[start][0]: window.offsets[end][1]] == q.answer
            assert window.in_context[start] and window.in_context[end] and start <= end
            holding.add(window.question)
    # neighbours share 16 tokens, so an answer of at most 16 tokens is whole in some window
    long_answers = {i for i, q in enumerate(questions) if len(tokenizer(q.answer, add_special_tokens=False)
                                                                ["input_ids"]) > 16}
    assert holding | long_answers == set(range(len(questions))) and len(holding) > 0.9 * len(questions)
    assert len({w.question for w in windows}) == len(questions) < len(windows)  # long contexts: several windows


def test_windows_share_stride_tokens(tokenizer, questions):
    windows = [w for w in windows_of(tokenizer, questions, 48, 12) if w.question == 0]
    assert len(windows) > 1
    for first, second in zip(windows, windows[1:]):
        tail = [o for o, inside in zip(first.offsets, first.in_context) if inside][-12:]
        head = [o for o, inside in zip(second.offsets, second.in_context) if inside][:12]
        assert tail == head


def test_answer_outside_a_window_is_labelled_cls(tokenizer, questions):
    q = max(questions, key=lambda q: q.start)  # an answer deep in its context
    windows = [w for w in windows_of(tokenizer, [q]) if w.question == 0]
    assert answer_tokens(windows[0], q.start, q.end) == (0, 0)


def test_stitching_picks_the_window_with_the_oracle_span(tokenizer, questions):
    windows = windows_of(tokenizer, questions)
    logits = []
    for window in windows:
        q = questions[window.question]
        row = np.zeros((len(window.input_ids), 2), dtype=np.float32)
        start, end = answer_tokens(window, q.start, q.end)
        if (start, end) != (0, 0):
            row[start, 0], row[end, 1] = 5.0, 5.0
        logits.append(row)
    spans = best_answers(windows, logits, len(questions), max_answer_length=64)
    for q, (start, end, score) in zip(questions, spans):
        if score == 10.0:
            assert q.context[start:end] == q.answer
    assert sum(score == 10.0 for *_, score in spans) >= 0.9 * len(questions)
    with pytest.raises(ValueError, match="no window"):
        best_answers(windows[:1], logits[:1], 2)


def test_encode_windows_checks_lengths(tokenizer):
    with pytest.raises(ValueError, match="questions has 2 texts but contexts has 1"):
        encode_windows(tokenizer, ["a?", "b?"], ["c"])
