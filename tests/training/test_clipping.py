"""clip_grad_norm against torch.nn.utils.clip_grad_norm_: the norm returned and the gradients left."""

from __future__ import annotations

import pytest
import torch

from bertcourse.training.clipping import clip_grad_norm


def _params(shapes, scale, dtype, missing=(), seed=0):
    g = torch.Generator().manual_seed(seed)
    params = []
    for k, shape in enumerate(shapes):
        p = torch.nn.Parameter(torch.randn(shape, generator=g, dtype=dtype))
        if k not in missing:
            p.grad = torch.randn(shape, generator=g, dtype=dtype) * scale
        params.append(p)
    return params


@pytest.mark.parametrize("scale,max_norm", [(1.0, 0.5), (1.0, 100.0), (1e-6, 1e-7), (10.0, 1.0), (1e-6, 1e-6)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_torch(scale, max_norm, dtype):
    shapes = [(3, 4), (5,), (2, 2, 2), (1,)]
    ours, theirs = _params(shapes, scale, dtype, missing=(1,)), _params(shapes, scale, dtype, missing=(1,))
    norm = clip_grad_norm((p for p in ours), max_norm)  # a generator, read once
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    assert norm.dtype == expected.dtype and norm.shape == ()
    torch.testing.assert_close(norm, expected, rtol=1e-6, atol=0)
    for a, b in zip(ours, theirs):
        assert (a.grad is None) == (b.grad is None)
        if a.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-6, atol=0)


def test_no_gradients_gives_a_zero_tensor():
    norm = clip_grad_norm([torch.nn.Parameter(torch.ones(2))], 1.0)
    assert torch.equal(norm, torch.tensor(0.0))
