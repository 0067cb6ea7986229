"""Entity-level scores for token classification over BIO (IOB2) tags.

Tags are ``"O"`` (outside), ``"B-<type>"`` (the first token of an entity) and
``"I-<type>"`` (a following token of the same entity). An entity counts as
found only if the prediction has exactly its tokens and its type: this is
seqeval's strict IOB2 mode, which the course checks its scores against.
"""

from __future__ import annotations


def entity_f1(true_tags: list[list[str]], pred_tags: list[list[str]]) -> float:
    """Entity-level micro F1 of ``pred_tags`` against ``true_tags`` (strict IOB2).

    Taught in book/ch5_finetuning/token_classification.md.

    An entity is a ``B-X`` tag followed by every ``I-X`` that comes right after it (same
    type X): tokens ``start`` to ``end`` of one sequence. Anything else is no entity: an
    ``I-X`` that does not continue an entity of type X (after ``O``, after another type, at the
    start of a sequence) is ignored, not turned into an entity. Entities never cross sequences.
    A predicted entity is correct when the true tags have an entity with the same sequence,
    start, end and type. With ``C`` correct, ``P`` predicted and ``T`` true entities (counted over
    all sequences and types together), precision is ``C / P``, recall ``C / T`` and F1 their
    harmonic mean ``2 C / (P + T)``; 0.0 when ``C`` is 0 (including when there are no entities
    at all). Equal, up to rounding, to
    ``seqeval.metrics.f1_score(true_tags, pred_tags, mode="strict", scheme=IOB2)``.

    Args:
        true_tags: one list of tags per sequence.
        pred_tags: the predicted tags, the same number of sequences, each as long as its true one.

    Returns:
        The F1 as a Python float in [0, 1].

    Raises:
        ValueError: the numbers of sequences differ, or a predicted sequence is not as long as
            its true sequence.
    """
    if len(true_tags) != len(pred_tags):
        raise ValueError(f"true_tags has {len(true_tags)} sequences but pred_tags has {len(pred_tags)}")

    def entities(sequences) -> set[tuple[int, int, int, str]]:
        found = set()  # (sequence, start, end, type), end inclusive
        for index, tags in enumerate(sequences):
            start, kind = None, None
            for position, tag in enumerate(list(tags) + ["O"]):  # a final "O" closes the last entity
                prefix, label = tag[:1], tag[2:]
                if start is not None and not (prefix == "I" and label == kind):
                    found.add((index, start, position - 1, kind))  # the entity ended just before
                    start = None
                if prefix == "B":
                    start, kind = position, label
        return found

    for index, (true, pred) in enumerate(zip(true_tags, pred_tags)):
        if len(true) != len(pred):
            raise ValueError(f"sequence {index}: {len(true)} true tags but {len(pred)} predicted tags")
    true_entities, pred_entities = entities(true_tags), entities(pred_tags)
    correct = len(true_entities & pred_entities)
    return 2 * correct / (len(true_entities) + len(pred_entities)) if correct else 0.0
