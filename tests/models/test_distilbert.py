"""DistilBERT: BERT without token types and pooler reproduces transformers.DistilBertModel."""

from __future__ import annotations

import pytest
import torch
import transformers

from bertcourse.models.bert import BertConfig, BertModel
from bertcourse.models.distilbert import DistilBertConfig, DistilBertModel, load_transformers_weights, student_from_teacher
from tests.conftest import max_abs_diff, randomize_
from tests.models import parity

CONFIGS = [
    dict(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
         max_position_embeddings=24),
    dict(vocab_size=60, hidden_size=24, num_hidden_layers=3, num_attention_heads=3, intermediate_size=40,
         max_position_embeddings=40, pad_token_id=2),
]


@pytest.mark.parametrize("overrides", CONFIGS)
def test_matches_transformers(overrides):
    config = DistilBertConfig(**overrides)
    theirs = parity.randomized(transformers.DistilBertModel(config.to_transformers()), seed=1)
    ours = load_transformers_weights(DistilBertModel(config), theirs.state_dict()).eval()
    pairs = []
    with torch.no_grad():
        for ids, mask, _ in parity.batches(config, seed=4):
            expected = theirs(input_ids=ids, attention_mask=mask, output_hidden_states=True)
            got = ours(ids, mask)
            pairs += [(got.last_hidden_state, expected.last_hidden_state),
                      *zip(got.hidden_states, expected.hidden_states)]
    assert parity.worst(pairs) <= parity.TOLERANCE


def test_student_starts_as_the_teachers_odd_layers():
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16)
    teacher = randomize_(BertModel(config), torch.Generator().manual_seed(0)).eval()
    student = student_from_teacher(teacher).eval()
    assert student.config.num_hidden_layers == 2
    ids, mask = torch.randint(1, 50, (3, 9)), torch.ones(3, 9, dtype=torch.long)
    mask[2, 5:] = 0
    with torch.no_grad():
        taught = teacher(ids, mask).hidden_states
        learned = student(ids, mask).hidden_states
        assert max_abs_diff(learned[0], taught[0]) < 1e-5  # embeddings, token type 0 folded in
        layer_3_on_layer_1 = teacher.encoder.layers[3](student.encoder.layers[0](learned[0], mask), mask)
        assert max_abs_diff(learned[2], layer_3_on_layer_1) < 1e-5
