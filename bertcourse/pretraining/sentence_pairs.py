"""Sentence pairs for BERT's second pre-training task: NSP (BERT) and SOP (ALBERT).

* :func:`create_nsp_examples`: next-sentence prediction (Devlin et al., 2019).
  Half of the pairs are a sentence and its true successor, half a sentence and
  one from another document. The model can often tell them apart by topic
  alone, which makes the task easy and of little use (Liu et al., 2019).
* :func:`create_sop_examples`: sentence-order prediction (Lan et al., 2020,
  ALBERT). Both segments always come from the same place of one document;
  half of the pairs are swapped, so topic gives nothing away: only coherence.

A document is a list of sentences (``str``). Both functions return
``(sentence_a, sentence_b, flag)`` triples with ``flag`` True for the
"natural" pair (B follows A). transformers' ``next_sentence_label`` uses the
opposite numbers: 0 = B follows A, 1 = B is random (or swapped), so
``label = 0 if flag else 1``.
"""

from __future__ import annotations

import random


def create_nsp_examples(documents: list[list[str]], rng: random.Random,
                        num_examples: int | None = None) -> list[tuple[str, str, bool]]:
    """Next-sentence-prediction examples ``(sentence_a, sentence_b, is_next)``.

    Args:
        documents: the corpus, each document a list of sentences.
        rng: the ``random.Random`` for every random choice (same seed, same examples).
        num_examples: None makes one example per pair of consecutive sentences: for every document
            and every sentence that has a next sentence in it, in document order. An int makes that
            many examples, each from a consecutive pair drawn uniformly (with replacement).

    Returns:
        A list of ``(sentence_a, sentence_b, is_next)`` with ``sentence_a`` a sentence that has a
        successor in its document. With probability 1/2 (independently per example) ``sentence_b``
        is that successor and ``is_next`` is True; otherwise ``sentence_b`` is a sentence of a
        *different* document (a uniformly chosen other non-empty document, then a uniformly chosen
        sentence of it) and ``is_next`` is False. A single-sentence document gives no example of its
        own (its sentence has no successor) but may supply random sentences. Raises ValueError if a
        random sentence is needed and no other non-empty document exists.

    Taught in book/ch2_pretraining/sentence_pairs.md.
    """
    positions = [(d, i) for d, document in enumerate(documents) for i in range(len(document) - 1)]
    if num_examples is not None:
        if num_examples > 0 and not positions:
            raise ValueError("no document has two sentences: there is no consecutive pair to draw from")
        positions = [rng.choice(positions) for _ in range(num_examples)]
    examples = []
    for d, i in positions:  # sentence i of document d, which has a successor
        sentence_a = documents[d][i]
        if rng.random() < 0.5:
            examples.append((sentence_a, documents[d][i + 1], True))
            continue
        others = [other for k, other in enumerate(documents) if k != d and other]
        if not others:
            raise ValueError("NSP needs at least two non-empty documents to draw random sentences from")
        examples.append((sentence_a, rng.choice(rng.choice(others)), False))
    return examples


def create_sop_examples(documents: list[list[str]], rng: random.Random,
                        num_examples: int | None = None) -> list[tuple[str, str, bool]]:
    """Sentence-order-prediction examples ``(segment_a, segment_b, in_order)`` (ALBERT).

    Args:
        documents: the corpus, each document a list of sentences (the segments).
        rng: the ``random.Random`` for every random choice (same seed, same examples).
        num_examples: None makes one example per pair of consecutive sentences: for every document
            and every sentence that has a next sentence in it, in document order. An int makes that
            many examples, each from a consecutive pair drawn uniformly (with replacement).

    Returns:
        A list of ``(segment_a, segment_b, in_order)``. For the consecutive sentences ``s[i]``,
        ``s[i + 1]`` of one document, with probability 1/2 (independently per example) the example
        is ``(s[i], s[i + 1], True)``, otherwise the swapped ``(s[i + 1], s[i], False)``.
        Single-sentence documents give no example.

    Taught in book/ch2_pretraining/sentence_pairs.md.
    """
    positions = [(d, i) for d, document in enumerate(documents) for i in range(len(document) - 1)]
    if num_examples is not None:
        if num_examples > 0 and not positions:
            raise ValueError("no document has two sentences: there is no consecutive pair to draw from")
        positions = [rng.choice(positions) for _ in range(num_examples)]
    examples = []
    for d, i in positions:  # sentence i of document d, which has a successor
        first, second = documents[d][i], documents[d][i + 1]
        if rng.random() < 0.5:
            examples.append((first, second, True))
        else:
            examples.append((second, first, False))
    return examples
