"""SequenceClassifier against a manual computation, on transformers' BertModel and on the course's."""

from __future__ import annotations

import torch
from transformers import BertConfig as HFBertConfig
from transformers import BertModel as HFBertModel

from bertcourse.finetuning.classifier import SequenceClassifier
from bertcourse.models.bert import BertConfig, BertModel


def batch(vocab_size, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab_size, (3, 7), generator=g)
    mask = torch.ones(3, 7, dtype=torch.long)
    mask[1, 4:] = 0
    mask[2, 2:] = 0
    types = torch.zeros(3, 7, dtype=torch.long)
    types[:, 3:] = 1
    return ids, mask, types


def check(encoder, hidden_size):
    torch.manual_seed(0)
    model = SequenceClassifier(encoder, hidden_size, 4, dropout=0.3).eval()
    assert isinstance(model.classifier, torch.nn.Linear) and model.classifier.out_features == 4
    assert isinstance(model.dropout, torch.nn.Dropout) and model.dropout.p == 0.3
    ids, mask, types = batch(encoder.config.vocab_size)
    with torch.no_grad():
        logits = model(ids, mask, types)
        states = encoder(ids, attention_mask=mask, token_type_ids=types).last_hidden_state
        expected = states[:, 0] @ model.classifier.weight.T + model.classifier.bias
    assert logits.shape == (3, 4)
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)
    # gradients reach the encoder
    model.train()
    model(ids, mask, types).sum().backward()
    grads = [p.grad for p in encoder.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    return model


def test_on_transformers_bert():
    config = HFBertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=37)
    torch.manual_seed(1)
    check(HFBertModel(config).eval(), 32)


def test_on_the_course_bert():
    config = BertConfig.preset("tiny")
    torch.manual_seed(1)
    check(BertModel(config).eval(), config.hidden_size)


def test_dropout_active_in_train_mode_only():
    config = BertConfig.preset("tiny")
    torch.manual_seed(1)
    model = SequenceClassifier(BertModel(config), config.hidden_size, 2, dropout=0.5)
    ids, mask, types = batch(config.vocab_size)
    model.encoder.eval()
    model.dropout.train()
    with torch.no_grad():
        a, b = model(ids, mask, types), model(ids, mask, types)
    assert not torch.equal(a, b)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(ids, mask, types), model(ids, mask, types))


def test_minilm_twins_agree(minilm, hf_minilm, tokenizer):
    encoded = tokenizer(["Free money!!! Click now", "Meeting moved to 3pm"], padding=True, return_tensors="pt")
    torch.manual_seed(0)
    ours = SequenceClassifier(minilm, 384, 2).eval()
    theirs = SequenceClassifier(hf_minilm, 384, 2).eval()
    theirs.classifier.load_state_dict(ours.classifier.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(ours(**encoded), theirs(**encoded), atol=1e-5, rtol=1e-4)
