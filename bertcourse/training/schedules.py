"""Learning-rate schedules: a table of small named functions, and :func:`lr_at`, which reads it.

A schedule maps ``(step, warmup_steps, max_steps)`` to a multiplier of the peak
learning rate; ``step`` is the 0-based number of the optimizer update. Adding a
schedule is one function and one entry in :data:`SCHEDULES`, and
``TrainConfig(schedule=...)`` accepts it at once. Taught in book/ch2_pretraining/pretraining_run.md.

Chapter 4's graded schedules, :func:`linear_warmup_decay` and :func:`cosine_warmup_decay`, give
the rate itself (``peak_lr`` times the multiplier); taught in book/ch4_training/schedules.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType

Schedule = Callable[[int, int, int], float]


def _warmup(step: int, warmup_steps: int) -> float:
    """Linear warm-up from 0: the multiplier of update ``step`` while ``step < warmup_steps``."""
    return float(step) / float(max(1, warmup_steps))


def linear(step: int, warmup_steps: int, max_steps: int) -> float:
    """BERT's: linear warm-up, then linear decay to 0 at ``max_steps`` (transformers' get_linear_schedule_with_warmup)."""
    if step < warmup_steps:
        return _warmup(step, warmup_steps)
    return max(0.0, float(max_steps - step) / float(max(1, max_steps - warmup_steps)))


def constant(step: int, warmup_steps: int, max_steps: int) -> float:
    """Linear warm-up, then the peak rate to the end (transformers' get_constant_schedule_with_warmup)."""
    if step < warmup_steps:
        return _warmup(step, warmup_steps)
    return 1.0


def cosine(step: int, warmup_steps: int, max_steps: int) -> float:
    """Linear warm-up, then half a cosine to 0 at ``max_steps`` (transformers' get_cosine_schedule_with_warmup
    up to ``max_steps``; 0 after it)."""
    return cosine_warmup_decay(step, warmup_steps, max_steps, 1.0)


SCHEDULES: Mapping[str, Schedule] = MappingProxyType({
    "linear": linear,
    "constant": constant,
    "cosine": cosine,
})


def lr_at(step: int, config) -> float:
    """The learning rate (not a multiplier) of update number ``step`` (0-based) under ``config``.

    ``config`` is a :class:`bertcourse.training.loop.TrainConfig` (its ``schedule``,
    ``learning_rate``, ``warmup_steps`` and ``max_steps``). Equal to the transformers
    schedule of the same name after ``step`` scheduler steps.
    """
    return config.learning_rate * SCHEDULES[config.schedule](step, config.warmup_steps, config.max_steps)


# --- Chapter 4's graded items: the rate of update ``step`` -------------------------------------------


def linear_warmup_decay(step: int, warmup_steps: int, total_steps: int, peak_lr: float) -> float:
    """BERT's schedule: linear warm-up from 0 to ``peak_lr``, then linear decay to 0 at ``total_steps``.

    The learning rate of update number ``step`` (0-based), equal to ``peak_lr`` times the multiplier of
    ``transformers.get_linear_schedule_with_warmup(optimizer, warmup_steps, total_steps)`` after ``step``
    scheduler steps:

    * warm-up, ``step < warmup_steps``: ``peak_lr * step / warmup_steps`` (0 at step 0);
    * decay, ``warmup_steps <= step``: ``peak_lr * (total_steps - step) / (total_steps - warmup_steps)``,
      so ``peak_lr`` at ``step == warmup_steps`` (at step 0 when ``warmup_steps == 0``) and 0 at
      ``total_steps``; every step past ``total_steps`` gives 0, never a negative rate.
      When ``warmup_steps == total_steps`` the divisor is taken as 1 (as in transformers), so the
      rate is 0 from ``total_steps`` on.

    Args are ints with ``0 <= warmup_steps <= total_steps``, ``step >= 0``, and ``peak_lr`` a float.
    Returns a Python ``float``.

    Taught in book/ch4_training/schedules.md.
    """
    if step < warmup_steps:
        return peak_lr * float(step) / float(max(1, warmup_steps))
    remaining = float(total_steps - step) / float(max(1, total_steps - warmup_steps))
    return peak_lr * max(0.0, remaining)


def cosine_warmup_decay(step: int, warmup_steps: int, total_steps: int, peak_lr: float,
                        min_lr: float = 0.0) -> float:
    """Linear warm-up from 0 to ``peak_lr``, then half a cosine from ``peak_lr`` down to ``min_lr``.

    The learning rate of update number ``step`` (0-based):

    * warm-up, ``step < warmup_steps``: ``peak_lr * step / warmup_steps`` (from 0, as in transformers'
      ``get_cosine_schedule_with_warmup``; not from ``min_lr``);
    * decay, ``warmup_steps <= step < total_steps``: with ``progress = (step - warmup_steps) /
      (total_steps - warmup_steps)``, ``min_lr + (peak_lr - min_lr) * 0.5 * (1 + cos(pi * progress))``:
      ``peak_lr`` at ``step == warmup_steps``, falling to ``min_lr``;
    * ``step >= total_steps``: ``min_lr``, at every step from ``total_steps`` on (transformers' cosine
      would rise again past ``total_steps``; this one stays at the floor).

    With ``min_lr = 0`` it equals ``peak_lr`` times transformers' multiplier at every step before
    ``total_steps`` (and at ``total_steps`` itself, where both give 0, unless ``warmup_steps ==
    total_steps``, where transformers gives ``peak_lr`` and this function ``min_lr``). Args are ints
    with ``0 <= warmup_steps <= total_steps``, ``step >= 0`` and floats ``0 <= min_lr <= peak_lr``.
    Returns a Python ``float``.

    Taught in book/ch4_training/schedules.md.
    """
    if step < warmup_steps:
        return peak_lr * float(step) / float(max(1, warmup_steps))
    if step >= total_steps:
        return float(min_lr)
    progress = float(step - warmup_steps) / float(total_steps - warmup_steps)
    return min_lr + (peak_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
