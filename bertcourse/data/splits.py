"""Train/validation/test splits decided by hashing a stable key of each document.

``split_of`` depends on the key alone, so splits never depend on list order or on an RNG.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")

SPLIT_NAMES = ("train", "validation", "test")


def split_of(key: str, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> str:
    """Assign ``key`` to ``"train"``, ``"validation"`` or ``"test"``.

    The first 8 bytes of ``sha256(key)`` read as a big-endian integer and
    divided by 2**64 give a number ``u`` in [0, 1), uniform over keys;
    ``u < f_train`` is train, ``u < f_train + f_validation`` validation, else
    test. The answer depends on the key alone: not on order, RNG or Python's
    hash seed.
    """
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"need three non-negative fractions summing to 1: {fractions}")
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < fractions[0]:
        return "train"
    return "validation" if u < fractions[0] + fractions[1] else "test"


def splits(
    items: Iterable[T],
    key: Callable[[T], str],
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
) -> dict[str, list[T]]:
    """Group ``items`` by ``split_of(key(item))``, keeping their order.
    All three split names are always present."""
    out: dict[str, list[T]] = {name: [] for name in SPLIT_NAMES}
    for item in items:
        out[split_of(key(item), fractions)].append(item)
    return out
