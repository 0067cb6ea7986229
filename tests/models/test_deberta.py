"""DeBERTa: disentangled attention on BERT's layers reproduces transformers.DebertaV2Model (v3 settings)."""

from __future__ import annotations

import pytest
import torch
import transformers

from bertcourse.models.deberta import DebertaConfig, DebertaModel, load_transformers_weights, relative_index
from tests.models import parity

CONFIGS = [
    dict(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
         max_position_embeddings=24, position_buckets=-1, max_relative_positions=6),
    dict(vocab_size=60, hidden_size=24, num_hidden_layers=3, num_attention_heads=3, intermediate_size=40,
         max_position_embeddings=64, position_buckets=8, layer_norm_eps=1e-5),
    dict(vocab_size=60, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=40,
         max_position_embeddings=32, position_buckets=-1),
]


@pytest.mark.parametrize("overrides", CONFIGS)
def test_matches_transformers(overrides):
    config = DebertaConfig(**overrides)
    theirs = parity.randomized(transformers.DebertaV2Model(config.to_transformers()), seed=1)
    ours = load_transformers_weights(DebertaModel(config), theirs.state_dict()).eval()
    pairs = []
    with torch.no_grad():
        for ids, mask, _ in parity.batches(config, seed=4):
            expected = theirs(input_ids=ids, attention_mask=mask, output_hidden_states=True)
            got = ours(ids, mask)
            pairs += list(zip(got.hidden_states, expected.hidden_states))
    assert parity.worst(pairs) <= parity.TOLERANCE


def test_index_matches_transformers_relative_positions():
    from transformers.models.deberta_v2.modeling_deberta_v2 import build_relative_position

    for buckets, max_position in ((-1, 6), (8, 64), (256, 512)):
        config = DebertaConfig(position_buckets=buckets, max_relative_positions=max_position)
        span = buckets if buckets > 0 else max_position
        x = torch.zeros(1, 40, 1)
        theirs = build_relative_position(x, x, bucket_size=buckets, max_position=max_position)
        expected = torch.clamp(theirs[0] + span, 0, 2 * span - 1)
        assert torch.equal(relative_index(40, config), expected)
