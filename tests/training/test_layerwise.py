"""layerwise_lr_groups: every parameter once, the rate of its depth, no decay on biases and LayerNorm."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bertcourse.models.bert import BertConfig, BertModel
from bertcourse.models.heads import BertForPreTraining
from bertcourse.training.layerwise import layerwise_lr_groups


class Classifier(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.bert = BertModel(BertConfig.preset("tiny", num_hidden_layers=layers))
        self.classifier = nn.Linear(self.bert.config.hidden_size, 2)


def _table(model, groups):
    by_id = {}
    for group in groups:
        for p in group["params"]:
            assert id(p) not in by_id, "a parameter in two groups"
            by_id[id(p)] = (group["lr"], group["weight_decay"])
    names = dict(model.named_parameters())
    assert set(by_id) == {id(p) for p in names.values()}
    return {name: by_id[id(p)] for name, p in names.items()}


@pytest.mark.parametrize("layers", [1, 3])
def test_rates_and_decay_by_parameter(layers):
    model = Classifier(layers)
    table = _table(model, layerwise_lr_groups(model, 1e-3, 0.5, 0.1))
    for name, (lr, wd) in table.items():
        if name.startswith("bert.embeddings"):
            depth = layers
        elif name.startswith("bert.encoder.layers."):
            depth = layers - (int(name.split(".")[3]) + 1)
        else:
            depth = 0
        assert lr == pytest.approx(1e-3 * 0.5**depth), name
        no_decay = name.endswith("bias") or "norm" in name
        assert wd == (0.0 if no_decay else 0.1), name
    torch.optim.AdamW(layerwise_lr_groups(model, 1e-3, 0.5))  # usable as is


def test_tied_weights_count_once():
    model = BertForPreTraining(BertConfig.preset("tiny"))
    table = _table(model, layerwise_lr_groups(model, 1.0, 0.5))
    assert table["bert.embeddings.word_embeddings.weight"][0] == 0.5 ** model.config.num_hidden_layers
