"""ELECTRA: the discriminator and the generator reproduce transformers; the pair shares its embeddings."""

from __future__ import annotations

import pytest
import torch
import transformers

from bertcourse.models.electra import (
    ElectraConfig,
    ElectraForMaskedLM,
    ElectraForPreTraining,
    ElectraPair,
    load_transformers_weights,
)
from tests.models import parity

CONFIGS = [
    dict(vocab_size=97, embedding_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
         intermediate_size=48, max_position_embeddings=24),
    dict(vocab_size=60, embedding_size=24, hidden_size=24, num_hidden_layers=3, num_attention_heads=3,
         intermediate_size=40, max_position_embeddings=40, type_vocab_size=3, layer_norm_eps=1e-7),
]
TWINS = [(ElectraForPreTraining, transformers.ElectraForPreTraining, "logits"),
         (ElectraForMaskedLM, transformers.ElectraForMaskedLM, "logits")]


@pytest.mark.parametrize("ours_cls,theirs_cls,field", TWINS, ids=["discriminator", "generator"])
@pytest.mark.parametrize("overrides", CONFIGS)
def test_matches_transformers(overrides, ours_cls, theirs_cls, field):
    config = ElectraConfig(**overrides)
    theirs = parity.randomized(theirs_cls(config.to_transformers()), seed=1)
    ours = load_transformers_weights(ours_cls(config), theirs.state_dict()).eval()
    pairs = []
    with torch.no_grad():
        for ids, mask, types in parity.batches(config, seed=4):
            expected = getattr(theirs(input_ids=ids, attention_mask=mask, token_type_ids=types), field)
            pairs.append((ours(ids, mask, types), expected))
    assert parity.worst(pairs) <= parity.TOLERANCE


def test_pair_shares_the_embeddings_and_trains_both():
    disc = ElectraConfig(vocab_size=50, embedding_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=16, hidden_dropout_prob=0.0,
                         attention_probs_dropout_prob=0.0)
    gen = ElectraConfig(**{**disc.__dict__, "hidden_size": 8, "intermediate_size": 16})
    pair = ElectraPair(gen, disc)
    assert pair.generator.electra.embeddings is pair.discriminator.electra.embeddings
    names = {name for name, _ in pair.named_parameters()}
    assert not any(name.startswith("generator.electra.embeddings") for name in names)  # registered once
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 50, (4, 12), generator=g)
    masked = torch.rand(4, 12, generator=g) < 0.3
    masked[0, 0] = True
    labels = ids.masked_fill(~masked, -100)
    mlm, disc_loss, is_replaced = pair.losses(ids.masked_fill(masked, 4), labels, torch.ones(4, 12), generator=g)
    (mlm + 50 * disc_loss).backward()
    assert pair.generator.mlm_head.dense.weight.grad is not None
    assert pair.discriminator.head.prediction.weight.grad is not None
    assert not (is_replaced & ~masked).any()
