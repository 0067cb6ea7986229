"""The small task and loop the Chapter 4 pages measure with: sizes, switches and the activation counter."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bertcourse.training.demo import DemoRun, TinyClassifier, saved_activation_bytes, sentence_task, train_classifier


@pytest.fixture(scope="module")
def task():
    return sentence_task(per_class=40, max_length=12)


def test_task_is_balanced_and_compact(task):
    assert task.train_ids.shape[1] == 12 and len(task.train_ids) + len(task.test_ids) == 80
    assert int(task.train_ids.max()) < task.vocab_size
    assert 0.3 < task.train_labels.float().mean().item() < 0.7


def test_train_classifier_logs_every_step(task):
    result = train_classifier(task, DemoRun(steps=3, batch_size=4, hidden_size=64))
    assert len(result["losses"]) == len(result["grad_norms"]) == len(result["rates"]) == 3
    assert result["rates"][0] == 0.0 and 0.0 <= result["accuracy"] <= 1.0


def test_activation_memory_halves_with_the_batch_and_checkpointing_saves(task):
    def kept(batch, checkpoint=False):
        model = TinyClassifier(task.vocab_size, hidden_size=64, checkpoint_activations=checkpoint)
        x, y = task.train_ids[:batch], task.train_labels[:batch]
        return saved_activation_bytes(model, lambda m: F.cross_entropy(m(x), y))
    assert kept(16) == pytest.approx(2 * kept(8), rel=0.05)
    assert kept(16, checkpoint=True) < kept(16) / 3


def test_checkpointed_model_computes_the_same_gradients(task):
    plain, checkpointed = (TinyClassifier(task.vocab_size, hidden_size=64, checkpoint_activations=c) for c in (False, True))
    x, y = task.train_ids[:8], task.train_labels[:8]
    for model in (plain, checkpointed):
        F.cross_entropy(model(x), y).backward()
    for a, b in zip(plain.parameters(), checkpointed.parameters()):
        torch.testing.assert_close(a.grad, b.grad)
