"""entity_f1 against seqeval's strict IOB2 F1, over many random tag sequences (malformed ones included)."""

from __future__ import annotations

import math
import random
import warnings

import pytest
from seqeval.metrics import f1_score
from seqeval.scheme import IOB2

from bertcourse.finetuning.metrics import entity_f1

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-DATE", "I-DATE"]


def seqeval_f1(true, pred) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns on 0/0 and returns 0
        return float(f1_score(true, pred, mode="strict", scheme=IOB2))


def random_tags(rng: random.Random, length: int, well_formed: bool) -> list[str]:
    """Random tags; well-formed ones only continue an entity with I- of its own type."""
    tags = []
    for _ in range(length):
        tag = rng.choice(TAGS)
        if well_formed and tag.startswith("I-") and not (tags and tags[-1][2:] == tag[2:] and tags[-1] != "O"):
            tag = "B-" + tag[2:]
        tags.append(tag)
    return tags


@pytest.mark.parametrize("well_formed", [True, False])
def test_matches_seqeval_on_random_sequences(well_formed):
    rng = random.Random(0)
    for _ in range(400):
        lengths = [rng.randint(0, 12) for _ in range(rng.randint(1, 5))]
        true = [random_tags(rng, n, well_formed) for n in lengths]
        if rng.random() < 0.5:  # a noisy copy: many entities shared, some broken
            pred = [[t if rng.random() < 0.8 else rng.choice(TAGS) for t in seq] for seq in true]
        else:
            pred = [random_tags(rng, n, well_formed) for n in lengths]
        got = entity_f1(true, pred)
        assert type(got) is float
        assert math.isclose(got, seqeval_f1(true, pred), abs_tol=1e-12), (true, pred)


@pytest.mark.parametrize("true,pred,expected", [
    ([["O", "O"]], [["O", "O"]], 0.0),                                  # no entities at all
    ([[]], [[]], 0.0),
    ([["B-PER", "I-PER"]], [["B-PER", "I-PER"]], 1.0),
    ([["B-PER", "I-PER"]], [["B-PER", "O"]], 0.0),                      # boundary wrong: not found
    ([["B-PER", "I-PER"]], [["B-LOC", "I-LOC"]], 0.0),                  # type wrong
    ([["I-PER", "I-PER"]], [["B-PER", "I-PER"]], 0.0),                  # I- without B- is no entity
    ([["B-PER", "I-LOC"]], [["B-PER", "O"]], 1.0),                      # I- of another type ends it
    ([["B-PER", "B-PER"]], [["B-PER", "I-PER"]], 0.0),                  # two entities vs one
    ([["B-PER", "O"], ["B-LOC"]], [["B-PER", "O"], ["O"]], 2 / 3),      # micro over sequences
    ([["O", "B-DATE", "I-DATE", "O", "B-LOC"]], [["O", "B-DATE", "I-DATE", "O", "O"]], 2 / 3),
])
def test_table(true, pred, expected):
    assert math.isclose(entity_f1(true, pred), expected)
    assert math.isclose(seqeval_f1(true, pred), expected)


def test_token_level_agreement_is_not_enough():
    # 3 of 4 tokens right, but the one entity has the wrong end
    assert entity_f1([["B-PER", "I-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O", "O"]]) == 0.0


def test_inputs_not_modified_and_errors():
    true, pred = [["B-PER", "O"]], [["B-PER", "O"]]
    entity_f1(true, pred)
    assert true == [["B-PER", "O"]] and pred == [["B-PER", "O"]]
    with pytest.raises(ValueError, match="sequences"):
        entity_f1([["O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match="sequence 0"):
        entity_f1([["O", "O"]], [["O"]])
