"""The graded schedules against transformers' schedulers, step by step (table-driven)."""

from __future__ import annotations

import math

import pytest
import torch
import transformers

from bertcourse.training.schedules import cosine_warmup_decay, linear_warmup_decay

CASES = [(0, 10), (3, 10), (10, 10), (1, 1), (0, 1), (5, 37), (100, 1000)]


def _multipliers(make, warmup, total, steps):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = make(optimizer, warmup, total)
    values = []
    for _ in range(steps):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return values


@pytest.mark.parametrize("warmup,total", CASES)
def test_linear_matches_transformers_at_every_step_and_past_the_end(warmup, total):
    expected = _multipliers(transformers.get_linear_schedule_with_warmup, warmup, total, total + 5)
    for step, multiplier in enumerate(expected):
        got = linear_warmup_decay(step, warmup, total, 3e-4)
        assert type(got) is float
        assert got == pytest.approx(3e-4 * multiplier, rel=1e-12, abs=1e-18), step
    assert linear_warmup_decay(total + 50, warmup, total, 3e-4) == 0.0


@pytest.mark.parametrize("warmup,total", CASES)
def test_cosine_matches_transformers_before_total_then_stays_at_the_floor(warmup, total):
    expected = _multipliers(transformers.get_cosine_schedule_with_warmup, warmup, total, total)
    for step, multiplier in enumerate(expected):
        assert cosine_warmup_decay(step, warmup, total, 1e-3) == pytest.approx(1e-3 * multiplier, abs=1e-15), step
    for step in range(total, total + 20):
        assert cosine_warmup_decay(step, warmup, total, 1e-3, min_lr=1e-5) == 1e-5


def test_cosine_with_a_floor_matches_transformers_min_lr_schedule():
    make = getattr(transformers, "get_cosine_with_min_lr_schedule_with_warmup", None)
    if make is None:
        pytest.skip("this transformers has no get_cosine_with_min_lr_schedule_with_warmup")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2e-3)
    scheduler = make(optimizer, 10, 100, min_lr=2e-4)
    for step in range(100):
        got = cosine_warmup_decay(step, 10, 100, 2e-3, 2e-4)
        if step >= 10:  # transformers warms up from 0 too; compare the decay
            assert got == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-9), step
        optimizer.step()
        scheduler.step()


def test_cosine_shape_peak_midpoint_and_floor():
    assert cosine_warmup_decay(0, 4, 104, 1.0, 0.1) == 0.0
    assert cosine_warmup_decay(2, 4, 104, 1.0, 0.1) == 0.5
    assert cosine_warmup_decay(4, 4, 104, 1.0, 0.1) == 1.0
    assert cosine_warmup_decay(54, 4, 104, 1.0, 0.1) == pytest.approx(0.55)
    assert cosine_warmup_decay(104, 4, 104, 1.0, 0.1) == 0.1
    assert math.isclose(cosine_warmup_decay(103, 4, 104, 1.0, 0.0), 0.5 * (1 + math.cos(math.pi * 99 / 100)))


def test_cosine_is_a_named_schedule_of_the_training_loop():
    from bertcourse.training.loop import TrainConfig
    from bertcourse.training.schedules import SCHEDULES, lr_at

    config = TrainConfig(max_steps=50, learning_rate=2e-3, warmup_steps=5, schedule="cosine", progress=False)
    for step in range(60):
        assert lr_at(step, config) == pytest.approx(cosine_warmup_decay(step, 5, 50, 2e-3), abs=1e-15)
        assert SCHEDULES["cosine"](step, 5, 50) == cosine_warmup_decay(step, 5, 50, 1.0)
