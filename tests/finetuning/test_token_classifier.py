"""TokenClassifier against a manual computation, and the per-token and span losses it trains with."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bertcourse.finetuning.finetune import label_tensor, span_loss, token_classification_loss
from bertcourse.finetuning.token_classifier import TokenClassifier
from bertcourse.models.bert import BertConfig, BertModel


@pytest.fixture
def model():
    config = BertConfig.preset("tiny")
    torch.manual_seed(1)
    return TokenClassifier(BertModel(config), config.hidden_size, 3, dropout=0.2).eval()


def inputs(vocab_size):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab_size, (2, 6), generator=g)
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2])
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


def test_head_on_every_token(model):
    batch = inputs(model.encoder.config.vocab_size)
    with torch.no_grad():
        logits = model(**batch)
        states = model.encoder(batch["input_ids"], attention_mask=batch["attention_mask"],
                               token_type_ids=batch["token_type_ids"]).last_hidden_state
    assert logits.shape == (2, 6, 3)
    torch.testing.assert_close(logits, states @ model.classifier.weight.T + model.classifier.bias)
    model.train()
    model(**batch).sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())


@pytest.mark.parametrize("rows,expected", [
    ([1, 0, 2], [1, 0, 2]),
    ([[1, 2, 3], [4]], [[1, 2, 3], [4, -100, -100]]),  # token labels padded to the batch's T
    ([(3, 5), (0, 0)], [[3, 5], [0, 0]]),  # answer spans
])
def test_label_tensor(rows, expected):
    assert label_tensor(rows).tolist() == expected and label_tensor(rows).dtype == torch.long


def test_token_loss_ignores_unlabelled_tokens(model):
    batch = inputs(model.encoder.config.vocab_size)
    batch["labels"] = label_tensor([[-100, 2, -100, 1, 0, -100], [-100, 1, 1, -100]])
    loss, metrics = token_classification_loss(model, batch)
    logits = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    kept = batch["labels"] != -100
    assert loss.item() == pytest.approx(F.cross_entropy(logits[kept], batch["labels"][kept]).item(), rel=1e-5)
    assert 0.0 <= metrics["accuracy"].item() <= 1.0


def test_span_loss_is_the_mean_of_start_and_end_losses():
    class Fixed(torch.nn.Module):
        def forward(self, input_ids, attention_mask, token_type_ids):
            return torch.log_softmax(torch.arange(12.0).reshape(1, 6, 2), 1).expand(len(input_ids), 6, 2)

    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    batch = {"input_ids": torch.zeros(1, 6, dtype=torch.long), "attention_mask": mask,
             "token_type_ids": torch.zeros(1, 6, dtype=torch.long), "labels": torch.tensor([[3, 3]])}
    loss, metrics = span_loss(Fixed(), batch)
    logits = Fixed()(**{k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")})[0, :4]  # no padding
    expected = (F.cross_entropy(logits[None, :, 0], torch.tensor([3])) +
                F.cross_entropy(logits[None, :, 1], torch.tensor([3]))) / 2
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert metrics["accuracy"].item() == 1.0  # padding is never chosen: the last real token has the top logits
