"""Tests of bertcourse.pretraining.sentence_pairs: NSP and SOP examples."""

from __future__ import annotations

import math
import random

import pytest

from bertcourse.pretraining.sentence_pairs import create_nsp_examples, create_sop_examples


def corpus(num_documents: int = 40, seed: int = 0) -> list[list[str]]:
    """Documents of 1 to 8 sentences, each sentence unique and naming its place."""
    rng = random.Random(seed)
    return [[f"d{d} s{i}" for i in range(rng.randint(1, 8))] for d in range(num_documents)]


def place(sentence: str) -> tuple[int, int]:
    d, s = sentence.split()
    return int(d[1:]), int(s[1:])


def test_nsp_examples_follow_the_contract():
    documents = corpus()
    pairs = sum(len(doc) - 1 for doc in documents)
    examples = create_nsp_examples(documents, random.Random(0))
    assert len(examples) == pairs
    assert sorted(a for a, _, _ in examples) == sorted(s for doc in documents for s in doc[:-1])
    for a, b, is_next in examples:
        assert type(is_next) is bool
        (da, ia), (db, ib) = place(a), place(b)
        assert (db, ib) == (da, ia + 1) if is_next else db != da
    positives = sum(is_next for _, _, is_next in examples)
    assert abs(positives / pairs - 0.5) <= 5 * math.sqrt(0.25 / pairs)


def test_nsp_negatives_come_from_many_documents_and_rng_is_used():
    documents = corpus()
    examples = create_nsp_examples(documents, random.Random(1), num_examples=4000)
    assert len(examples) == 4000
    negatives = [place(b)[0] for _, b, is_next in examples if not is_next]
    assert abs(len(negatives) / 4000 - 0.5) <= 5 * math.sqrt(0.25 / 4000)
    assert len(set(negatives)) == len(documents)
    random.seed(5)
    again = create_nsp_examples(documents, random.Random(1), num_examples=4000)
    assert again == examples
    assert create_nsp_examples(documents, random.Random(2), num_examples=4000) != examples


def test_nsp_edge_cases():
    assert create_nsp_examples([["only"], ["one"], ["each"]], random.Random(0)) == []
    examples = create_nsp_examples([["a0", "a1"], ["b0"], []], random.Random(0), num_examples=200)
    assert {b for _, b, is_next in examples if not is_next} == {"b0"}
    assert {(a, b) for a, b, is_next in examples if is_next} == {("a0", "a1")}
    with pytest.raises(ValueError):
        create_nsp_examples([["a0", "a1", "a2"]], random.Random(0), num_examples=50)
    with pytest.raises(ValueError):
        create_nsp_examples([["a"], ["b"]], random.Random(0), num_examples=1)


def test_sop_examples_follow_the_contract():
    documents = corpus(seed=1)
    pairs = sum(len(doc) - 1 for doc in documents)
    examples = create_sop_examples(documents, random.Random(0))
    assert len(examples) == pairs
    for a, b, in_order in examples:
        assert type(in_order) is bool
        (da, ia), (db, ib) = place(a), place(b)
        assert da == db and ib - ia == (1 if in_order else -1)
    firsts = sorted(min(a, b, key=place) for a, b, _ in examples)
    assert firsts == sorted(s for doc in documents for s in doc[:-1])
    in_order = sum(flag for _, _, flag in examples)
    assert abs(in_order / pairs - 0.5) <= 5 * math.sqrt(0.25 / pairs)
    sampled = create_sop_examples(documents, random.Random(3), num_examples=500)
    assert len(sampled) == 500 and sampled == create_sop_examples(documents, random.Random(3), num_examples=500)
    assert create_sop_examples([["a"], ["b"]], random.Random(0)) == []
