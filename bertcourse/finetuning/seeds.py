"""A fine-tune's score over several seeds: its spread, and whether it beats a baseline by more than that.

A fine-tune's score moves with the seed (the head's initialisation, the dropout masks, the
order of the batches), so one run says little about a margin of a point or two. The book
reports the mean, the range and the standard deviation over the seeds, and calls a margin
over a deterministic baseline real only when it is larger than the range of the seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def spread(values: Sequence[float]) -> dict:
    """Mean, standard deviation (n - 1; 0 for one value), min and max of one score over the seeds."""
    if len(values) == 0:
        raise ValueError("spread: values must hold one score per seed, got an empty sequence")
    array = np.asarray(values, dtype=float)
    return {"mean": float(array.mean()), "std": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
            "min": float(array.min()), "max": float(array.max())}


def verdict(values: Sequence[float], baseline: float) -> dict:
    """Does a fine-tune scoring ``values`` (one per seed) beat ``baseline`` by more than its seed spread?

    It does when the mean margin over the baseline is larger than the range of the seeds
    (max - min) and every seed is above the baseline. Returns the margin, the range, how many
    seeds are above, and ``"beats"`` (by more than the spread), ``"ahead"`` (on average, not by
    more than the spread) or ``"loses"`` (not ahead on average), with :func:`spread`'s fields.
    """
    spread_ = spread(values)
    margin, width = spread_["mean"] - baseline, spread_["max"] - spread_["min"]
    above = sum(value > baseline for value in values)
    if margin > width and above == len(values):
        outcome = "beats"
    else:
        outcome = "ahead" if margin > 0 else "loses"
    return {"outcome": outcome, "margin": margin, "range": width, "seeds_above": above,
            "seeds": len(values), "baseline": baseline, **spread_}
