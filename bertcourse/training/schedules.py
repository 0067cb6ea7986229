"""Learning-rate schedules: a table of small named functions, and :func:`lr_at`, which reads it.

A schedule maps ``(step, warmup_steps, max_steps)`` to a multiplier of the peak
learning rate; ``step`` is the 0-based number of the optimizer update. Adding a
schedule is one function and one entry in :data:`SCHEDULES`, and
``TrainConfig(schedule=...)`` accepts it at once. Taught in book/ch2_pretraining/pretraining_run.md.
"""

from __future__ import annotations

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


SCHEDULES: Mapping[str, Schedule] = MappingProxyType({
    "linear": linear,
    "constant": constant,
})


def lr_at(step: int, config) -> float:
    """The learning rate (not a multiplier) of update number ``step`` (0-based) under ``config``.

    ``config`` is a :class:`bertcourse.training.loop.TrainConfig` (its ``schedule``,
    ``learning_rate``, ``warmup_steps`` and ``max_steps``). Equal to the transformers
    schedule of the same name after ``step`` scheduler steps.
    """
    return config.learning_rate * SCHEDULES[config.schedule](step, config.warmup_steps, config.max_steps)
