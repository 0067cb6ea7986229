"""adamw_update against torch.optim.AdamW over many steps, with a schedule and every setting."""

from __future__ import annotations

import pytest
import torch

from bertcourse.training.optim import adamw_update

SETTINGS = [
    dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
    dict(lr=0.1, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1),
    dict(lr=3e-2, betas=(0.0, 0.5), eps=1e-3, weight_decay=0.0),
]


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_torch_adamw_after_many_steps(settings, dtype):
    g = torch.Generator().manual_seed(0)
    start = torch.randn(5, 7, generator=g, dtype=dtype)
    grads = [torch.randn(5, 7, generator=g, dtype=dtype) * (k + 1) for k in range(25)]
    ours = start.clone().requires_grad_()
    theirs = torch.nn.Parameter(start.clone())
    optimizer = torch.optim.AdamW([theirs], **settings)
    state = {}
    for k, grad in enumerate(grads):
        lr = settings["lr"] * (1 - k / 50)  # a schedule: the rate changes every step
        before = grad.clone()
        adamw_update(ours, grad, state, lr, settings["betas"], settings["eps"], settings["weight_decay"])
        assert torch.equal(grad, before)
        optimizer.param_groups[0]["lr"] = lr
        theirs.grad = grad.clone()
        optimizer.step()
        torch.testing.assert_close(ours.detach(), theirs.detach(), atol=1e-6, rtol=1e-6)
    assert int(state["step"]) == 25 and set(state) == {"step", "exp_avg", "exp_avg_sq"}
    torch.testing.assert_close(state["exp_avg"], optimizer.state[theirs]["exp_avg"])
    torch.testing.assert_close(state["exp_avg_sq"], optimizer.state[theirs]["exp_avg_sq"])


def test_first_step_is_lr_times_sign_and_updates_in_place():
    param = torch.zeros(3)
    pointer = param.data_ptr()
    adamw_update(param, torch.tensor([2.0, -3.0, 0.5]), {}, lr=0.1, weight_decay=0.0)
    assert param.data_ptr() == pointer
    torch.testing.assert_close(param, torch.tensor([-0.1, 0.1, -0.1]))  # bias correction: the full step
