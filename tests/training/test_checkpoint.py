"""A run stopped, saved, rebuilt from scratch and resumed continues bit-identically in fp32."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bertcourse.runtime import set_seed
from bertcourse.training.checkpoint import ResumableBatches, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from bertcourse.training.schedules import linear_warmup_decay

STEPS, STOP = 12, 5


def _build(seed):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Dropout(0.3), nn.Linear(32, 4))  # dropout: RNG matters
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: linear_warmup_decay(step, 3, STEPS, 1.0))
    g = torch.Generator().manual_seed(0)
    data = ResumableBatches((torch.randn(40, 8, generator=g), torch.randint(0, 4, (40,), generator=g)), 16, seed=7)
    return model, optimizer, scheduler, data


def _steps(model, optimizer, scheduler, stream, count, losses):
    for _ in range(count):
        x, y = next(stream)
        noise = torch.rand(()) * 1e-3 + np.random.rand() * 1e-3 + random.random() * 1e-3  # every generator is used
        loss = F.cross_entropy(model(x), y) + noise
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())


def test_resumed_run_is_bit_identical(tmp_path):
    set_seed(123)
    straight_model, optimizer, scheduler, data = _build(0)
    straight = []
    _steps(straight_model, optimizer, scheduler, iter(data), STEPS, straight)  # 12 steps of 2 batches/epoch: 6 epochs

    set_seed(123)
    model, optimizer, scheduler, data = _build(0)
    resumed = []
    _steps(model, optimizer, scheduler, iter(data), STOP, resumed)
    save_checkpoint(tmp_path / "run.pt", model=model, optimizer=optimizer, scheduler=scheduler, data=data,
                    step=STOP, extra={"losses": resumed})
    torch.manual_seed(999)  # anything that happens between the runs must not matter
    random.seed(999)
    fresh, fresh_optimizer, fresh_scheduler, fresh_data = _build(42)
    info = load_checkpoint(tmp_path / "run.pt", model=fresh, optimizer=fresh_optimizer, scheduler=fresh_scheduler,
                           data=fresh_data)
    assert info["step"] == STOP and info["extra"]["losses"] == resumed
    _steps(fresh, fresh_optimizer, fresh_scheduler, iter(fresh_data), STEPS - STOP, resumed)

    assert resumed == straight  # bit-identical floats, not approximately equal
    for a, b in zip(straight_model.parameters(), fresh.parameters()):
        assert torch.equal(a, b)


def test_rng_state_round_trip():
    state = rng_state()
    a = (random.random(), np.random.rand(), torch.rand(3))
    set_rng_state(state)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_data_stream_resumes_mid_epoch():
    stream = ResumableBatches((torch.arange(10),), 3, seed=1)
    it = iter(stream)
    first = [next(it)[0].tolist() for _ in range(4)]  # crosses an epoch (3 batches per epoch)
    saved = stream.state_dict()
    rest = [next(it)[0].tolist() for _ in range(3)]
    again = ResumableBatches((torch.arange(10),), 3, seed=1)
    again.load_state_dict(saved)
    assert [b[0].tolist() for b, _ in zip(again, range(3))] == rest
    assert sorted(sum(first[:3], [])) == sorted(set(sum(first[:3], [])))  # an epoch visits each example once
    with pytest.raises(ValueError, match="seed"):
        ResumableBatches((torch.arange(10),), 3, seed=2).load_state_dict(saved)
