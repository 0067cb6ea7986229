"""The course's LoRA against peft's, and its properties: zero start, trainable count, merge, frozen base."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from bertcourse.finetuning import lora
from bertcourse.finetuning.classifier import SequenceClassifier
from bertcourse.models.bert import BertConfig, BertModel


def tiny_bert(seed=0):
    torch.manual_seed(seed)
    return BertModel(BertConfig.preset("tiny")).eval()


def inputs(vocab_size):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, vocab_size, (2, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    return ids, mask


def outputs(model, vocab_size):
    ids, mask = inputs(vocab_size)
    with torch.no_grad():
        return model(ids, attention_mask=mask).last_hidden_state


def randomise_b(model):
    """Give every B a non-zero value, so that the adapters change the function."""
    torch.manual_seed(2)
    for module in model.modules():
        if isinstance(module, lora.LoraLinear):
            nn.init.normal_(module.lora_B, std=0.1)


def test_zero_start_equals_the_base_model():
    base = tiny_bert()
    adapted = copy.deepcopy(base)
    assert lora.add_lora(adapted, lora.LoraConfig(r=4)) == 2 * base.config.num_hidden_layers
    torch.testing.assert_close(outputs(adapted, base.config.vocab_size), outputs(base, base.config.vocab_size))


def test_trainable_count_is_r_times_in_plus_out_per_wrapped_layer():
    model = tiny_bert()
    H, L = model.config.hidden_size, model.config.num_hidden_layers
    for r in (1, 4, 8):
        adapted = copy.deepcopy(model)
        lora.add_lora(adapted, lora.LoraConfig(r=r))
        assert lora.trainable_parameters(adapted) == L * 2 * r * (H + H)
        assert {name.rsplit(".", 1)[-1] for name, p in adapted.named_parameters() if p.requires_grad} == {"lora_A", "lora_B"}
    head = SequenceClassifier(adapted, H, 3)
    assert lora.trainable_parameters(head) == L * 2 * 8 * 2 * H + H * 3 + 3  # the head stays trainable


def test_merge_equals_unmerged():
    model = tiny_bert()
    lora.add_lora(model, lora.LoraConfig(r=4, alpha=8.0))
    randomise_b(model)
    before = outputs(model, model.config.vocab_size)
    lora.merge_lora(model)
    assert not any(isinstance(m, lora.LoraLinear) for m in model.modules())
    torch.testing.assert_close(outputs(model, model.config.vocab_size), before, atol=1e-5, rtol=1e-5)


def test_gradients_reach_the_adapters_only():
    model = tiny_bert()
    lora.add_lora(model, lora.LoraConfig(r=2))
    randomise_b(model)
    ids, mask = inputs(model.config.vocab_size)
    model.train()
    model(ids, attention_mask=mask).last_hidden_state.sum().backward()
    for name, p in model.named_parameters():
        assert (p.grad is not None) == p.requires_grad, name
        if p.requires_grad:
            assert p.grad.abs().sum() > 0, name


def test_equals_peft():
    """Same A and B in both: the same outputs, the same trainable parameters, the same scaling."""
    peft = pytest.importorskip("peft")
    base = tiny_bert()
    ours = copy.deepcopy(base)
    lora.add_lora(ours, lora.LoraConfig(r=4, alpha=8.0))
    randomise_b(ours)
    theirs = peft.inject_adapter_in_model(
        peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["query", "value"]), copy.deepcopy(base))
    pairs = [(m, theirs.get_submodule(name)) for name, m in ours.named_modules() if isinstance(m, lora.LoraLinear)]
    assert len(pairs) == 2 * base.config.num_hidden_layers
    with torch.no_grad():
        for mine, peft_layer in pairs:
            assert peft_layer.lora_A["default"].weight.shape == mine.lora_A.shape
            assert peft_layer.lora_B["default"].weight.shape == mine.lora_B.shape
            assert peft_layer.scaling["default"] == mine.scaling
            peft_layer.lora_A["default"].weight.copy_(mine.lora_A)
            peft_layer.lora_B["default"].weight.copy_(mine.lora_B)
    assert lora.trainable_parameters(ours) == lora.trainable_parameters(theirs)
    torch.testing.assert_close(outputs(ours, base.config.vocab_size), outputs(theirs, base.config.vocab_size),
                               atol=1e-5, rtol=1e-5)


def test_peft_also_starts_at_zero():
    peft = pytest.importorskip("peft")
    layer = peft.inject_adapter_in_model(peft.LoraConfig(r=4, target_modules=["query"]), tiny_bert())
    assert all(m.lora_B["default"].weight.abs().sum() == 0 for m in layer.modules() if hasattr(m, "lora_B"))


@pytest.mark.parametrize("kwargs,match", [
    (dict(r=0), "r must be"), (dict(alpha=0.0), "alpha must be"), (dict(dropout=1.0), "dropout"),
    (dict(targets=()), "targets must"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lora.LoraConfig(**kwargs)


def test_bad_targets_and_bad_base():
    with pytest.raises(ValueError, match="name no nn.Linear"):
        lora.add_lora(tiny_bert(), lora.LoraConfig(targets=("qkv",)))
    with pytest.raises(ValueError, match="base must be an nn.Linear"):
        lora.LoraLinear(nn.Conv1d(2, 2, 1), r=2, alpha=2.0)
