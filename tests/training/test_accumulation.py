"""accumulate_and_step equals one full-batch step (fp64), whatever was in .grad before."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bertcourse.training.accumulation import accumulate_and_step


def _model(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()


@pytest.mark.parametrize("steps", [1, 2, 4, 8])
@pytest.mark.parametrize("make_optimizer", [lambda p: torch.optim.SGD(p, lr=0.5, momentum=0.9),
                                            lambda p: torch.optim.AdamW(p, lr=1e-2)])
def test_equals_the_full_batch_step(steps, make_optimizer):
    g = torch.Generator().manual_seed(1)
    inputs = torch.randn(16, 6, generator=g, dtype=torch.float64)
    targets = torch.randint(0, 3, (16,), generator=g)
    ours, full = _model(0), _model(0)
    for p in ours.parameters():
        p.grad = torch.ones_like(p)  # stale gradients must not leak into the step
    optimizer, full_optimizer = make_optimizer(ours.parameters()), make_optimizer(full.parameters())
    loss = accumulate_and_step(ours, optimizer, inputs, targets, F.cross_entropy, steps)
    expected = F.cross_entropy(full(inputs), targets)
    expected.backward()
    full_optimizer.step()
    assert type(loss) is float and loss == pytest.approx(expected.item(), rel=1e-12)
    for a, b in zip(ours.parameters(), full.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
        assert a.grad is None or not a.grad.any()


@pytest.mark.parametrize("steps", [3, 0, 2.0])
def test_unequal_or_bad_steps_raise(steps):
    model = _model(0)
    with pytest.raises(ValueError, match="accumulation_steps"):
        accumulate_and_step(model, torch.optim.SGD(model.parameters(), lr=0.1), torch.zeros(8, 6, dtype=torch.float64),
                            torch.zeros(8, dtype=torch.long), F.cross_entropy, steps)
