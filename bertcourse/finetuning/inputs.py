"""Model inputs for fine-tuning: text (pairs) -> token ids with a length budget -> padded batches.

An example is a pair ``(input_ids, token_type_ids)`` of plain lists, framed
``[CLS] A [SEP] B [SEP]``; batches are padded to their longest example only
(dynamic padding). Long texts are cut to the budget either from the end
(``"head"``, what ``tokenizer(..., truncation=True)`` does) or by keeping their
first quarter and last three quarters of the budget (``"head+tail"``, Sun et al.,
2019): the end of an email often holds the signature, the unsubscribe link or
the quoted thread.

Shapes: B batch, T the longest example of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

Example = tuple[list[int], list[int]]
TRUNCATIONS = ("head", "head+tail")


def cut(ids: list[int], budget: int, truncation: str = "head") -> list[int]:
    """``ids`` shortened to at most ``budget`` tokens by ``truncation`` ("head" or "head+tail")."""
    if truncation not in TRUNCATIONS:
        raise ValueError(f"truncation must be one of {TRUNCATIONS}; got {truncation!r}")
    if len(ids) <= budget:
        return list(ids)
    if truncation == "head" or budget < 4:
        return list(ids[:budget])
    head = budget // 4
    return list(ids[:head]) + list(ids[len(ids) - (budget - head):])


def encode(tokenizer, first: Sequence[str], second: Sequence[str] | None = None, *, max_length: int = 128,
           first_max: int = 32, truncation: str = "head") -> list[Example]:
    """Frame each text (or pair of texts) as ``[CLS] A [SEP] (B [SEP])`` in at most ``max_length`` tokens.

    With a pair, A (e.g. an email's subject) keeps at most ``first_max`` tokens and B (the body)
    gets the rest of the budget; a text is cut with ``truncation``.
    """
    if max_length < 4:
        raise ValueError(f"max_length must be >= 4; got {max_length}")
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    # verbose=False: long texts are cut below, so the "longer than 512" warning does not apply
    a_ids = tokenizer(list(first), add_special_tokens=False, verbose=False)["input_ids"]
    if second is None:
        return [([cls, *cut(a, max_length - 2, truncation), sep], [0] * min(len(a) + 2, max_length)) for a in a_ids]
    if len(second) != len(first):
        raise ValueError(f"first has {len(first)} texts but second has {len(second)}")
    b_ids = tokenizer(list(second), add_special_tokens=False, verbose=False)["input_ids"]
    examples = []
    for a, b in zip(a_ids, b_ids):
        a = cut(a, min(first_max, max_length - 3), "head")
        b = cut(b, max_length - 3 - len(a), truncation)
        examples.append(([cls, *a, sep, *b, sep], [0] * (len(a) + 2) + [1] * (len(b) + 1)))
    return examples


def collate(examples: Sequence[Example], pad_id: int = 0) -> dict[str, Tensor]:
    """Pad ``examples`` to the longest: ``input_ids``, ``attention_mask``, ``token_type_ids``, each (B, T) int64."""
    longest = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), longest), pad_id, dtype=torch.long)
    token_type_ids = torch.zeros((len(examples), longest), dtype=torch.long)
    attention_mask = torch.zeros((len(examples), longest), dtype=torch.long)
    for row, (ids, types) in enumerate(examples):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        token_type_ids[row, : len(types)] = torch.tensor(types)
        attention_mask[row, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def length_sorted_batches(examples: Sequence[Example], batch_size: int) -> list[list[int]]:
    """Indices of ``examples`` in batches of similar length, for inference (little padding)."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
    return [order[i: i + batch_size] for i in range(0, len(order), batch_size)]
