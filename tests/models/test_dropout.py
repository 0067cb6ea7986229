"""Cheap-mask dropout and the training path of attention (bertcourse.models.dropout)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bertcourse.models.bert import BertConfig, BertModel
from bertcourse.models.dropout import LEVELS, CheapMaskDropout, attention_with_dropout, keep_mask, use_cheap_dropout


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9, 1e-3])
def test_keep_mask_drops_at_the_rounded_rate(p):
    torch.manual_seed(0)
    keep, scale = keep_mask((1000, 1000), p)
    rounded = round(p * LEVELS) / LEVELS
    assert abs(rounded - p) <= 0.5 / LEVELS
    assert scale == pytest.approx(1 / (1 - rounded), rel=1e-12)
    assert keep.dtype == torch.bool and keep.shape == (1000, 1000)
    dropped = 1 - keep.double().mean().item()
    assert abs(dropped - rounded) <= 5 * math.sqrt(rounded * (1 - rounded) / keep.numel())


def test_keep_mask_draws_are_independent_across_positions():
    # Four uniforms come from one 64-bit word: neighbours must still be independent.
    torch.manual_seed(1)
    keep, _ = keep_mask((4, 250_000), 0.5)
    pairs = keep.view(-1, 4).double()
    for i in range(4):
        for j in range(i + 1, 4):
            correlation = torch.corrcoef(torch.stack([pairs[:, i], pairs[:, j]]))[0, 1].item()
            assert abs(correlation) < 0.01, (i, j, correlation)


def test_keep_mask_is_reproducible_from_the_seed():
    torch.manual_seed(3)
    first = keep_mask((7, 9), 0.3)[0]
    torch.manual_seed(3)
    assert torch.equal(first, keep_mask((7, 9), 0.3)[0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_cheap_mask_dropout_behaves_like_nn_dropout(dtype):
    torch.manual_seed(0)
    dropout = CheapMaskDropout(0.25)
    x = torch.rand(500, 400, dtype=dtype) + 0.5
    assert torch.equal(dropout.eval()(x), x)
    out = dropout.train()(x)
    assert out.dtype == dtype and out.shape == x.shape
    kept = out != 0
    ratio = out[kept].double() / x[kept].double()
    assert torch.allclose(ratio, torch.full_like(ratio, 4 / 3), rtol=1e-2)  # bf16 rounds the scale
    assert abs(1 - kept.double().mean().item() - 0.25) < 0.005
    assert abs(out.double().mean().item() / x.double().mean().item() - 1) < 0.01


def test_cheap_mask_dropout_edges_and_gradient():
    x = torch.randn(3, 5, requires_grad=True)
    assert torch.equal(CheapMaskDropout(0.0).train()(x), x)
    assert torch.equal(CheapMaskDropout(1.0).train()(x), torch.zeros(3, 5))
    torch.manual_seed(2)
    out = CheapMaskDropout(0.5).train()(x)
    out.sum().backward()
    assert torch.equal(x.grad, (out != 0).float() * 2.0)  # d out / d x = mask / (1 - p)


def test_use_cheap_dropout_replaces_plain_dropout_only():
    class Custom(nn.Dropout):
        pass

    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.3), nn.Sequential(nn.Dropout(0.7, inplace=True)), Custom(0.2))
    use_cheap_dropout(model)
    assert type(model[1]) is CheapMaskDropout and model[1].p == 0.3
    assert type(model[2][0]) is CheapMaskDropout and model[2][0].p == 0.7 and model[2][0].inplace
    assert type(model[3]) is Custom  # a student's own dropout class is left alone


def test_bert_model_uses_cheap_masks():
    model = BertModel(BertConfig.preset("tiny", vocab_size=50))
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert dropouts and all(type(m) is CheapMaskDropout for m in dropouts)


def _heads(seed, dtype=torch.float32, shape=(2, 3, 6, 8)):
    generator = torch.Generator().manual_seed(seed)
    return [3 * torch.randn(shape, generator=generator, dtype=dtype) for _ in range(3)]


@pytest.mark.parametrize("with_mask", [False, True])
def test_attention_with_dropout_zero_equals_fused_attention(with_mask):
    query, key, value = _heads(0)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)[:, None, None, :] if with_mask else None
    got = attention_with_dropout(query, key, value, mask, nn.Dropout(0.0).train())
    torch.testing.assert_close(got, F.scaled_dot_product_attention(query, key, value, attn_mask=mask), atol=1e-6, rtol=1e-5)


def test_attention_with_dropout_keeps_fp64_and_scores_in_fp32_under_autocast():
    query, key, value = _heads(1, torch.float64)
    assert attention_with_dropout(query, key, value, None, nn.Dropout(0.0)).dtype == torch.float64
    low = [t.to(torch.bfloat16) for t in (query, key, value)]
    exact = F.scaled_dot_product_attention(*(t.double() for t in low))  # of the rounded inputs
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = attention_with_dropout(*low, None, nn.Dropout(0.0))
    fused = F.scaled_dot_product_attention(*low)
    bf16_scores = ((low[0] / math.sqrt(8)) @ low[1].transpose(-2, -1)).softmax(-1) @ low[2]
    error = (ours.double() - exact).abs().mean().item()
    assert error <= 1.5 * (fused.double() - exact).abs().mean().item()
    assert error < 0.5 * (bf16_scores.double() - exact).abs().mean().item()


def test_attention_with_dropout_drops_weights_without_bias():
    query, key, value = _heads(2, shape=(1, 1, 3, 4))
    expected = F.scaled_dot_product_attention(query, key, value)
    torch.manual_seed(0)
    samples = torch.stack([attention_with_dropout(query, key, value, None, CheapMaskDropout(0.5)) for _ in range(4000)])
    standard_error = samples.std(0) / math.sqrt(len(samples))
    assert ((samples.mean(0) - expected).abs() <= 5 * standard_error + 1e-5).all()
