"""Chapter 3's graded functions against independent formulas and PyTorch equivalents."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bertcourse.models.albert import FactorizedEmbedding, SharedLayerEncoder
from bertcourse.models.deberta import relative_positions
from bertcourse.models.distilbert import distillation_loss
from bertcourse.models.electra import electra_corrupt, electra_discriminator_loss

# --- FactorizedEmbedding / SharedLayerEncoder ---------------------------------------------------------

def test_factorized_embedding_is_lookup_then_projection():
    embedding = FactorizedEmbedding(50, 8, 20)
    assert isinstance(embedding.word_embeddings, nn.Embedding) and embedding.word_embeddings.weight.shape == (50, 8)
    assert isinstance(embedding.projection, nn.Linear) and embedding.projection.weight.shape == (20, 8)
    assert sum(p.numel() for p in embedding.parameters()) == 50 * 8 + 8 * 20 + 20
    ids = torch.randint(0, 50, (3, 7))
    expected = embedding.word_embeddings.weight[ids] @ embedding.projection.weight.T + embedding.projection.bias
    torch.testing.assert_close(embedding(ids), expected)


class _Affine(nn.Module):
    """A toy layer whose effect depends on the mask: x -> tanh(W x) * mask."""

    def __init__(self, hidden):
        super().__init__()
        self.linear = nn.Linear(hidden, hidden)

    def forward(self, hidden_states, attention_mask=None):
        out = torch.tanh(self.linear(hidden_states))
        return out if attention_mask is None else out * attention_mask[..., None]


@pytest.mark.parametrize("num_layers", [0, 1, 3])
def test_shared_layer_encoder_repeats_one_layer(num_layers):
    layer = _Affine(6)
    encoder = SharedLayerEncoder(layer, num_layers)
    assert sum(p.numel() for p in encoder.parameters()) == sum(p.numel() for p in layer.parameters())
    x, mask = torch.randn(2, 4, 6), torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    expected = x
    for _ in range(num_layers):
        expected = layer(expected, mask)
    torch.testing.assert_close(encoder(x, mask), expected)
    with torch.no_grad():
        layer.linear.weight.mul_(2)  # the encoder holds the layer itself, not a copy
    expected = x
    for _ in range(num_layers):
        expected = layer(expected, mask)
    torch.testing.assert_close(encoder(x, mask), expected)


# --- electra_corrupt -----------------------------------------------------------------------------------

def _masked_batch(batch, seq, vocab, p, generator):
    original = torch.randint(5, vocab, (batch, seq), generator=generator)
    masked = torch.rand(batch, seq, generator=generator) < p
    labels = original.masked_fill(~masked, -100)
    input_ids = original.masked_fill(masked, 4)  # 4 plays [MASK]
    return original, input_ids, labels, masked


def test_corrupt_keeps_unmasked_positions_and_inputs():
    g = torch.Generator().manual_seed(0)
    original, input_ids, labels, masked = _masked_batch(4, 32, 20, 0.3, g)
    logits = torch.randn(4, 32, 20, generator=g)
    before = (input_ids.clone(), labels.clone(), logits.clone())
    corrupted, is_replaced = electra_corrupt(input_ids, labels, logits, generator=g)
    assert corrupted.dtype == input_ids.dtype and is_replaced.dtype == torch.bool
    assert torch.equal(corrupted[~masked], input_ids[~masked])
    assert torch.equal(is_replaced, masked & (corrupted != original))
    for a, b in zip(before, (input_ids, labels, logits)):
        assert torch.equal(a, b)


def test_corrupt_samples_from_the_tempered_softmax():
    vocab, draws = 6, 20_000
    logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, 0.3])
    for temperature in (1.0, 0.5, 3.0):
        labels = torch.zeros(1, draws, dtype=torch.long)
        input_ids = torch.full((1, draws), 4)
        corrupted, is_replaced = electra_corrupt(input_ids, labels, logits.expand(1, draws, vocab), temperature,
                                                 torch.Generator().manual_seed(1))
        expected = torch.softmax(logits / temperature, -1)
        observed = torch.bincount(corrupted[0], minlength=vocab).double() / draws
        sigma = (expected * (1 - expected) / draws).sqrt()
        assert ((observed - expected).abs() <= 5 * sigma + 1e-9).all(), (temperature, observed, expected)
        # a sample equal to the original (id 0) is not a replacement
        assert math.isclose(is_replaced.double().mean().item(), 1 - observed[0].item(), abs_tol=1e-12)


def test_corrupt_uses_the_generator():
    g = torch.Generator().manual_seed(0)
    _, input_ids, labels, _ = _masked_batch(4, 64, 50, 0.5, g)
    logits = torch.zeros(4, 64, 50)

    def run(seed):
        return electra_corrupt(input_ids, labels, logits, generator=torch.Generator().manual_seed(seed))[0]

    assert torch.equal(run(3), run(3)) and not torch.equal(run(3), run(4))


def test_corrupt_with_nothing_masked():
    ids = torch.randint(0, 9, (2, 5))
    corrupted, is_replaced = electra_corrupt(ids, torch.full((2, 5), -100), torch.randn(2, 5, 9))
    assert torch.equal(corrupted, ids) and not is_replaced.any()


# --- electra_discriminator_loss ------------------------------------------------------------------------

def test_discriminator_loss_averages_over_real_tokens():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 7, generator=g, dtype=torch.float64, requires_grad=True)
    targets = torch.rand(3, 7, generator=g) < 0.3
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] + [0] * 6])
    loss = electra_discriminator_loss(logits, targets, mask)
    p = torch.sigmoid(logits)
    per_token = -(targets * p.log() + (~targets) * (1 - p).log())
    expected = (per_token * mask).sum() / mask.sum()
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(torch.autograd.grad(loss, logits)[0], torch.autograd.grad(expected, logits)[0])
    assert loss.dtype == torch.float64 and loss.shape == ()


# --- distillation_loss ---------------------------------------------------------------------------------

def _manual_distillation(student, teacher, labels, T, alpha):
    """The formula row by row, in float64, from softmax and log alone."""
    total_soft, total_hard, rows = 0.0, 0.0, 0
    C = student.shape[-1]
    for s, t, y in zip(student.reshape(-1, C), teacher.reshape(-1, C).detach(), labels.reshape(-1)):
        if y == -100:
            continue
        p_t, p_s = torch.softmax(t / T, -1), torch.softmax(s / T, -1)
        total_soft = total_soft + (p_t * (p_t.log() - p_s.log())).sum()
        total_hard = total_hard - torch.log_softmax(s, -1)[y]
        rows += 1
    return alpha * T**2 * total_soft / rows + (1 - alpha) * total_hard / rows


@pytest.mark.parametrize("shape", [(6, 5), (2, 4, 7)])
@pytest.mark.parametrize("T,alpha", [(2.0, 0.5), (1.0, 0.5), (4.0, 0.0), (0.5, 1.0), (3.0, 0.3)])
def test_distillation_matches_the_formula(shape, T, alpha):
    g = torch.Generator().manual_seed(1)
    student = (torch.randn(*shape, generator=g, dtype=torch.float64) * 2).requires_grad_()
    teacher = (torch.randn(*shape, generator=g, dtype=torch.float64) * 2).requires_grad_()
    labels = torch.randint(0, shape[-1], shape[:-1], generator=g)
    labels.view(-1)[1::3] = -100
    loss = distillation_loss(student, teacher, labels, T, alpha)
    expected = _manual_distillation(student, teacher, labels, T, alpha)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(torch.autograd.grad(loss, student)[0], torch.autograd.grad(expected, student)[0])


def test_distillation_of_identical_logits_is_the_hard_loss():
    logits = torch.randn(5, 4)
    labels = torch.tensor([0, 1, -100, 3, 2])
    keep = labels != -100
    torch.testing.assert_close(distillation_loss(logits, logits, labels, 3.0, 0.25),
                               0.75 * F.cross_entropy(logits[keep], labels[keep]))


# --- relative_positions --------------------------------------------------------------------------------

@pytest.mark.parametrize("q,k,d", [(5, 5, 2), (3, 7, 3), (7, 3, 1), (4, 4, 0), (1, 6, 10)])
def test_relative_positions(q, k, d):
    got = relative_positions(q, k, d)
    assert got.dtype == torch.long and got.shape == (q, k)
    for i in range(q):
        for j in range(k):
            assert got[i, j] == min(max(j - i, -d), d) + d
