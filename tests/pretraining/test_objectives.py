"""Tests of bertcourse.pretraining.objectives against PyTorch's cross-entropy with ignore_index."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from bertcourse.pretraining.objectives import mlm_loss_and_accuracy


def test_loss_and_gradient_match_cross_entropy_with_ignore_index():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 7, 11, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 11, (3, 7), generator=g)
    labels[torch.rand(3, 7, generator=g) < 0.6] = -100
    labels[2] = -100  # a row that is all padding counts for nothing
    loss, accuracy = mlm_loss_and_accuracy(logits, labels)
    expected = F.cross_entropy(logits.reshape(-1, 11), labels.reshape(-1), ignore_index=-100)
    assert loss.shape == () and loss.dtype == torch.float64
    torch.testing.assert_close(loss, expected)
    (grad,) = torch.autograd.grad(loss, logits)
    (expected_grad,) = torch.autograd.grad(expected, logits)
    torch.testing.assert_close(grad, expected_grad)
    labelled = labels != -100
    expected_accuracy = (logits.argmax(-1) == labels)[labelled].double().mean()
    assert accuracy.shape == () and math.isclose(float(accuracy), float(expected_accuracy))


def test_no_labelled_position():
    logits = torch.randn(2, 4, 5, requires_grad=True)
    loss, accuracy = mlm_loss_and_accuracy(logits, torch.full((2, 4), -100))
    assert float(loss.detach()) == 0.0 and math.isnan(float(accuracy))
    loss.backward()
    assert logits.grad is not None and not logits.grad.any()


def test_accuracy_counts_labelled_positions_only():
    logits = torch.zeros(1, 4, 3)
    logits[0, :, 1] = 1.0  # predicts id 1 everywhere
    labels = torch.tensor([[1, 2, -100, -100]])
    loss, accuracy = mlm_loss_and_accuracy(logits, labels)
    assert float(accuracy) == 0.5
