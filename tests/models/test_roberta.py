"""RoBERTa: BERT with offset position ids reproduces transformers.RobertaModel."""

from __future__ import annotations

import pytest
import torch
import transformers

from bertcourse.models.roberta import RobertaConfig, RobertaModel, load_transformers_weights, roberta_position_ids
from tests.models import parity

CONFIGS = [
    dict(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
         max_position_embeddings=24),
    dict(vocab_size=60, hidden_size=24, num_hidden_layers=3, num_attention_heads=3, intermediate_size=40,
         max_position_embeddings=40, pad_token_id=0, type_vocab_size=2, layer_norm_eps=1e-7),
]


@pytest.mark.parametrize("overrides", CONFIGS)
def test_matches_transformers(overrides):
    config = RobertaConfig(**overrides)
    theirs = parity.randomized(transformers.RobertaModel(config.to_transformers()), seed=len(overrides))
    ours = load_transformers_weights(RobertaModel(config), theirs.state_dict()).eval()
    pairs = []
    with torch.no_grad():
        for ids, mask, types in parity.batches(config, seed=3, pad_token_id=config.pad_token_id):
            expected = theirs(input_ids=ids, attention_mask=mask, token_type_ids=types)
            got = ours(ids, mask, types)
            pairs += [(got.last_hidden_state, expected.last_hidden_state),
                      (got.pooler_output, expected.pooler_output)]
    assert parity.worst(pairs) <= parity.TOLERANCE


def test_position_ids_start_after_padding():
    ids = torch.tensor([[0, 5, 6, 7, 2], [0, 5, 2, 1, 1]])
    assert roberta_position_ids(ids, 1).tolist() == [[2, 3, 4, 5, 6], [2, 3, 4, 1, 1]]
