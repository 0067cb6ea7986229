"""bert_parameter_count against the parameters transformers.BertModel actually allocates."""

from __future__ import annotations

import pytest
import torch
import transformers

from bertcourse.models.counting import bert_parameter_count

CONFIGS = [  # vocab, hidden, layers, intermediate, positions, types
    (30522, 768, 12, 3072, 512, 2), (100, 8, 0, 16, 16, 2), (97, 12, 3, 40, 33, 1),
    (50, 16, 1, 64, 8, 5), (1000, 32, 4, 37, 128, 3), (7, 4, 2, 4, 4, 1),
]


@pytest.mark.parametrize("with_pooler", [True, False])
@pytest.mark.parametrize("vocab,hidden,layers,inter,positions,types", CONFIGS)
def test_count_matches_transformers(vocab, hidden, layers, inter, positions, types, with_pooler):
    config = transformers.BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                                     num_attention_heads=2 if hidden % 2 == 0 else 1, intermediate_size=inter,
                                     max_position_embeddings=positions, type_vocab_size=types)
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        model = transformers.BertModel(config, add_pooling_layer=with_pooler)
    expected = sum(p.numel() for p in model.parameters())
    got = bert_parameter_count(vocab, hidden, layers, inter, positions, types, with_pooler)
    assert type(got) is int and got == expected


def test_bert_base_uncased():
    assert bert_parameter_count(30522, 768, 12, 3072) == 109_482_240
    assert bert_parameter_count(30522, 768, 12, 3072, with_pooler=False) == 109_482_240 - 768 * 768 - 768


def test_agrees_with_the_course_model_count():
    from bertcourse.models.bert import BertConfig, parameter_counts

    config = BertConfig.preset("minilm-l6")
    assert bert_parameter_count(config.vocab_size, config.hidden_size, config.num_hidden_layers,
                                config.intermediate_size) == parameter_counts(config)["total"]
