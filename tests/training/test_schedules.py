"""Tests of bertcourse.training.schedules: each named schedule, and lr_at against transformers."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers import get_constant_schedule_with_warmup, get_linear_schedule_with_warmup

from bertcourse.training import schedules
from bertcourse.training.loop import TrainConfig
from bertcourse.training.schedules import SCHEDULES, lr_at


def quiet(**overrides) -> TrainConfig:
    return TrainConfig(**{**dict(max_steps=5, learning_rate=0.1, progress=False, autocast=None), **overrides})


# (schedule, step, warmup_steps, max_steps, multiplier)
MULTIPLIERS = [
    ("linear", 0, 4, 10, 0.0), ("linear", 2, 4, 10, 0.5), ("linear", 4, 4, 10, 1.0), ("linear", 7, 4, 10, 0.5),
    ("linear", 10, 4, 10, 0.0), ("linear", 12, 4, 10, 0.0), ("linear", 0, 0, 10, 1.0), ("linear", 3, 10, 10, 0.3),
    ("constant", 0, 4, 10, 0.0), ("constant", 1, 4, 10, 0.25), ("constant", 4, 4, 10, 1.0),
    ("constant", 50, 4, 10, 1.0), ("constant", 0, 0, 10, 1.0),
]


@pytest.mark.parametrize("name, step, warmup, max_steps, expected", MULTIPLIERS)
def test_named_schedules(name, step, warmup, max_steps, expected):
    assert SCHEDULES[name](step, warmup, max_steps) == pytest.approx(expected)


def test_the_table_is_read_only_and_names_its_functions():
    assert SCHEDULES["linear"] is schedules.linear and SCHEDULES["constant"] is schedules.constant
    with pytest.raises(TypeError):
        SCHEDULES["cosine"] = schedules.constant  # type: ignore[index]


@pytest.mark.parametrize("max_steps, warmup", [(1, 0), (10, 0), (10, 3), (25, 25), (100, 10)])
@pytest.mark.parametrize("schedule", ["linear", "constant"])
def test_lr_at_matches_transformers(max_steps, warmup, schedule):
    config = quiet(max_steps=max_steps, warmup_steps=warmup, learning_rate=3e-4, schedule=schedule)
    optimizer = torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=config.learning_rate)
    if schedule == "linear":
        scheduler = get_linear_schedule_with_warmup(optimizer, warmup, max_steps)
    else:
        scheduler = get_constant_schedule_with_warmup(optimizer, warmup)
    for step in range(max_steps + 1):  # one past the end: the linear schedule reaches 0
        assert lr_at(step, config) == scheduler.get_last_lr()[0], f"step {step}"
        optimizer.step()
        scheduler.step()
