"""ALBERT: factorised embeddings and one shared BertLayer reproduce transformers.AlbertModel."""

from __future__ import annotations

import pytest
import torch
import transformers

from bertcourse.models.albert import (
    AlbertConfig,
    AlbertForPreTraining,
    AlbertModel,
    albert_parameter_count,
    load_transformers_weights,
)
from tests.models import parity

CONFIGS = [
    dict(vocab_size=97, embedding_size=8, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
         intermediate_size=48, max_position_embeddings=24),
    dict(vocab_size=60, embedding_size=24, hidden_size=24, num_hidden_layers=2, num_attention_heads=3,
         intermediate_size=40, max_position_embeddings=40, type_vocab_size=3, layer_norm_eps=1e-7),
]


@pytest.mark.parametrize("overrides", CONFIGS)
def test_model_matches_transformers(overrides):
    config = AlbertConfig(**overrides)
    theirs = parity.randomized(transformers.AlbertModel(config.to_transformers()), seed=1)
    ours = load_transformers_weights(AlbertModel(config), theirs.state_dict()).eval()
    pairs = []
    with torch.no_grad():
        for ids, mask, types in parity.batches(config, seed=4):
            expected = theirs(input_ids=ids, attention_mask=mask, token_type_ids=types)
            hidden, pooled = ours(ids, mask, types)
            pairs += [(hidden, expected.last_hidden_state), (pooled, expected.pooler_output)]
    assert parity.worst(pairs) <= parity.TOLERANCE


def test_pretraining_heads_match_transformers():
    config = AlbertConfig(**CONFIGS[0])
    theirs = parity.randomized(transformers.AlbertForPreTraining(config.to_transformers()), seed=2)
    ours = load_transformers_weights(AlbertForPreTraining(config), theirs.state_dict()).eval()
    pairs = []
    with torch.no_grad():
        for ids, mask, types in parity.batches(config, seed=5):
            expected = theirs(input_ids=ids, attention_mask=mask, token_type_ids=types)
            mlm, sop = ours(ids, mask, types)
            pairs += [(mlm, expected.prediction_logits), (sop, expected.sop_logits)]
    assert parity.worst(pairs) <= parity.TOLERANCE


@pytest.mark.parametrize("overrides", CONFIGS)
def test_parameter_count_from_the_config(overrides):
    config = AlbertConfig(**overrides)
    assert albert_parameter_count(config) == sum(p.numel() for p in AlbertModel(config).parameters())
    with torch.device("meta"):
        hf = transformers.AlbertModel(config.to_transformers())
    assert albert_parameter_count(config) == sum(p.numel() for p in hf.parameters())


def test_depth_costs_no_parameters():
    shallow, deep = AlbertConfig(**{**CONFIGS[0], "num_hidden_layers": 1}), AlbertConfig(**CONFIGS[0])
    assert albert_parameter_count(shallow) == albert_parameter_count(deep)
