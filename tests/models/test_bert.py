"""Tests of bertcourse.models (bert, heads, convert): parity with transformers, attention paths, errors, loading, counts.

Parity is checked to 1e-5 max abs difference on the MiniLM checkpoint and on
random configurations with random (not initial) weights and padded batches.
"""

from __future__ import annotations

import dataclasses
import math
import os

import pytest
import torch
import torch.nn.functional as F
import transformers

from bertcourse import hub
from bertcourse.models.bert import (
    PRESETS,
    BertConfig,
    BertEmbeddings,
    BertLayer,
    BertModel,
    BertSelfAttention,
    PreLNBertLayer,
    attention_weights,
    parameter_counts,
    scaled_dot_product_attention,
)
from bertcourse.models.convert import load_transformers_weights
from bertcourse.models.heads import BertForPreTraining
from tests.conftest import max_abs_diff, padded_batch, randomize_

TOL = 1e-5


@pytest.fixture(autouse=True, scope="module")
def one_thread_under_xdist():
    """Tiny tensors: with one xdist worker per core, more threads per worker only oversubscribe."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def hf_outputs(hf_model, input_ids, attention_mask, token_type_ids):
    with torch.no_grad():
        return hf_model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            output_hidden_states=True,
        )


def assert_same_encoder_outputs(ours, theirs, num_layers: int) -> dict[str, float]:
    """last_hidden_state, pooler_output and every hidden state within TOL; returns the differences."""
    diffs = {
        "last_hidden_state": max_abs_diff(ours.last_hidden_state, theirs.last_hidden_state),
        "pooler_output": max_abs_diff(ours.pooler_output, theirs.pooler_output),
    }
    assert len(ours.hidden_states) == len(theirs.hidden_states) == num_layers + 1
    for i, (a, b) in enumerate(zip(ours.hidden_states, theirs.hidden_states)):
        diffs[f"hidden_states[{i}]"] = max_abs_diff(a, b)
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= TOL, f"{worst} differs by {diffs[worst]:.3g}: {diffs}"
    return diffs


# --------------------------------------------------------------------------- MiniLM parity

SENTENCES = [
    "The whale surfaced.",
    "Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse.",
    "BERT reads both directions at once!",
    "Hi",
]


def test_minilm_matches_transformers_on_a_padded_batch(minilm, hf_minilm, tokenizer):
    encoded = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    assert (encoded["attention_mask"] == 0).any(), "the batch should contain padding"
    with torch.no_grad():
        ours = minilm(encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"])
    theirs = hf_outputs(hf_minilm, encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"])
    assert ours.last_hidden_state.shape == (len(SENTENCES), encoded["input_ids"].shape[1], 384)
    assert_same_encoder_outputs(ours, theirs, hf_minilm.config.num_hidden_layers)


def test_minilm_matches_transformers_on_sentence_pairs(minilm, hf_minilm, tokenizer):
    encoded = tokenizer(SENTENCES[:3], ["It dove again.", "Ishmael is the narrator of the book.", "Yes"],
                        padding=True, return_tensors="pt")
    assert encoded["token_type_ids"].max() == 1 and (encoded["attention_mask"] == 0).any()
    with torch.no_grad():
        ours = minilm(encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"])
        without_types = minilm(encoded["input_ids"], encoded["attention_mask"])
    theirs = hf_outputs(hf_minilm, encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"])
    assert_same_encoder_outputs(ours, theirs, hf_minilm.config.num_hidden_layers)
    # The segment ids must reach the model: dropping them changes the output.
    assert max_abs_diff(ours.last_hidden_state, without_types.last_hidden_state) > 1e-3


def test_minilm_config_and_eval_mode(minilm, hf_minilm):
    assert not minilm.training
    assert minilm.config == BertConfig.from_transformers(hf_minilm.config)
    assert dataclasses.asdict(minilm.config) | {"hidden_dropout_prob": 0.1} == dataclasses.asdict(
        PRESETS["minilm-l6"]
    ) | {"hidden_dropout_prob": 0.1}


# --------------------------------------------------------------------------- random configs

RANDOM_CONFIGS = {
    "tiny-eps0.5-types3": dict(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                               intermediate_size=40, max_position_embeddings=24, type_vocab_size=3,
                               layer_norm_eps=0.5),
    "one-head": dict(vocab_size=61, hidden_size=24, num_hidden_layers=3, num_attention_heads=1,
                     intermediate_size=96, max_position_embeddings=16, type_vocab_size=2, layer_norm_eps=1e-12),
    "many-heads": dict(vocab_size=128, hidden_size=48, num_hidden_layers=1, num_attention_heads=12,
                       intermediate_size=17, max_position_embeddings=40, type_vocab_size=5, layer_norm_eps=1e-5),
    "deeper": dict(vocab_size=50, hidden_size=64, num_hidden_layers=4, num_attention_heads=8,
                   intermediate_size=128, max_position_embeddings=33, type_vocab_size=1, layer_norm_eps=1e-3,
                   pad_token_id=3),
}


def random_pair(overrides: dict, seed: int, cls_ours=BertModel, cls_theirs=transformers.BertModel,
                attn_implementation: str | None = None):
    config = BertConfig(**overrides)
    generator = torch.Generator().manual_seed(seed)
    hf_config = config.to_transformers()
    if attn_implementation:
        hf_config._attn_implementation = attn_implementation
    theirs = randomize_(cls_theirs(hf_config), generator).eval()
    ours = load_transformers_weights(cls_ours(config), theirs.state_dict()).eval()
    return config, ours, theirs, generator


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
@pytest.mark.parametrize("name", list(RANDOM_CONFIGS))
def test_random_config_matches_transformers(name, attn_implementation):
    overrides = RANDOM_CONFIGS[name]
    config, ours, theirs, generator = random_pair(overrides, seed=len(name), attn_implementation=attn_implementation)
    for batch, seq in ((3, config.max_position_embeddings), (4, 7)):
        input_ids, attention_mask, token_type_ids = padded_batch(config, batch, seq, generator)
        with torch.no_grad():
            got = ours(input_ids, attention_mask, token_type_ids)
        assert_same_encoder_outputs(got, hf_outputs(theirs, input_ids, attention_mask, token_type_ids),
                                    config.num_hidden_layers)
    # And with no mask and no token types at all.
    with torch.no_grad():
        got = ours(input_ids)
    assert_same_encoder_outputs(got, hf_outputs(theirs, input_ids, None, None), config.num_hidden_layers)


def test_random_weights_are_far_from_initial():
    """The parity tests above are only meaningful if the weights are not BERT's near-zero init."""
    config, ours, _, _ = random_pair(RANDOM_CONFIGS["tiny-eps0.5-types3"], seed=0)
    norm = ours.encoder.layers[0].attention_norm
    assert norm.weight.std() > 0.05 and norm.bias.abs().max() > 0.1
    assert ours.encoder.layers[0].attention.query.weight.std() > 0.1


def test_pretraining_model_matches_transformers():
    overrides = RANDOM_CONFIGS["tiny-eps0.5-types3"]
    config, ours, theirs, generator = random_pair(
        overrides, seed=1, cls_ours=BertForPreTraining, cls_theirs=transformers.BertForPreTraining
    )
    input_ids, attention_mask, token_type_ids = padded_batch(config, 4, 11, generator)
    with torch.no_grad():
        got = ours(input_ids, attention_mask, token_type_ids)
        expected = theirs(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
    assert got.mlm_logits.shape == (4, 11, config.vocab_size)
    assert got.nsp_logits.shape == (4, 2)
    assert max_abs_diff(got.mlm_logits, expected.prediction_logits) <= TOL
    assert max_abs_diff(got.nsp_logits, expected.seq_relationship_logits) <= TOL
    # The MLM bias was randomised, so it must have been loaded.
    assert torch.equal(ours.mlm_head.bias, theirs.cls.predictions.bias)

    mlm_positions = torch.rand(input_ids.shape, generator=generator) < 0.3
    mlm_positions[0, 1] = True
    with torch.no_grad():
        selected = ours(input_ids, attention_mask, token_type_ids, mlm_positions=mlm_positions)
    assert selected.mlm_logits.shape == (int(mlm_positions.sum()), config.vocab_size)
    assert max_abs_diff(selected.mlm_logits, got.mlm_logits[mlm_positions]) <= 1e-6
    assert torch.equal(selected.nsp_logits, got.nsp_logits)


def test_decoder_is_tied_to_word_embeddings_and_stays_tied_after_loading():
    config = BertConfig.preset("tiny", vocab_size=40, max_position_embeddings=16)
    model = BertForPreTraining(config)
    word = model.bert.embeddings.word_embeddings.weight
    assert model.mlm_head.decoder.weight is word
    theirs = randomize_(transformers.BertForPreTraining(config.to_transformers()), torch.Generator().manual_seed(2))
    load_transformers_weights(model, theirs.state_dict())
    assert model.mlm_head.decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert model.mlm_head.decoder.weight.data_ptr() == model.bert.embeddings.word_embeddings.weight.data_ptr()
    assert torch.equal(model.bert.embeddings.word_embeddings.weight, theirs.bert.embeddings.word_embeddings.weight)
    # One matrix: a change through the embedding shows in the decoder.
    with torch.no_grad():
        model.bert.embeddings.word_embeddings.weight[5, 0] = 123.0
    assert model.mlm_head.decoder.weight[5, 0] == 123.0
    # Checkpoints may omit the decoder, since it is the embedding matrix.
    state = {k: v for k, v in theirs.state_dict().items() if not k.startswith("cls.predictions.decoder")}
    fresh = load_transformers_weights(BertForPreTraining(config), state)
    assert torch.equal(fresh.mlm_head.decoder.weight, theirs.cls.predictions.decoder.weight)


# --------------------------------------------------------------------------- attention

def _random_qkv(generator, lead=(2, 3), lq=5, lk=7, d=8, dv=6):
    return (torch.randn(*lead, lq, d, generator=generator), torch.randn(*lead, lk, d, generator=generator),
            torch.randn(*lead, lk, dv, generator=generator))


@pytest.mark.parametrize("mask_shape", [None, (2, 3, 5, 7), (2, 1, 1, 7), (1, 3, 1, 7), (5, 7), (1, 7)])
def test_readable_attention_matches_torch(mask_shape):
    generator = torch.Generator().manual_seed(0)
    query, key, value = _random_qkv(generator)
    mask = None
    if mask_shape is not None:
        mask = torch.rand(mask_shape, generator=generator) < 0.6
        mask[..., 0] = True  # at least one visible key in every row
    context, weights = scaled_dot_product_attention(query, key, value, mask)
    expected = F.scaled_dot_product_attention(query, key, value, attn_mask=mask)
    assert context.shape == (2, 3, 5, 6) and weights.shape == (2, 3, 5, 7)
    assert max_abs_diff(context, expected) <= 1e-6
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3, 5))
    if mask is not None:
        assert (weights[~mask.expand(2, 3, 5, 7)] == 0).all()
        # A 0/1 integer mask means the same as the bool mask.
        context01, _ = scaled_dot_product_attention(query, key, value, mask.long())
        assert torch.equal(context01, context)


def test_readable_attention_scales_by_sqrt_d():
    query = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    key = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    value = torch.tensor([[1.0], [0.0]])
    _, weights = scaled_dot_product_attention(query, key, value)
    expected = torch.softmax(torch.tensor([4.0 / math.sqrt(4), 0.0]), -1)
    assert torch.allclose(weights[0], expected)


def test_readable_attention_fully_masked_row_is_uniform_not_nan():
    generator = torch.Generator().manual_seed(1)
    query, key, value = _random_qkv(generator, lead=(1,), lq=2, lk=4)
    mask = torch.tensor([[True, False, True, False], [False, False, False, False]])
    context, weights = scaled_dot_product_attention(query, key, value, mask)
    assert not context.isnan().any()
    assert torch.allclose(weights[0, 1], torch.full((4,), 0.25))


def test_fast_attention_matches_recomputed_weights():
    config = BertConfig.preset("tiny", hidden_size=32, num_attention_heads=4, attention_probs_dropout_prob=0.3)
    generator = torch.Generator().manual_seed(3)
    attention = randomize_(BertSelfAttention(config), generator).eval()
    hidden = torch.randn(3, 6, 32, generator=generator)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]])
    with torch.no_grad():
        output = attention(hidden, mask)
        weights = attention_weights(attention, hidden, mask)
        assert weights.shape == (3, 4, 6, 6)
        assert torch.allclose(weights.sum(-1), torch.ones(3, 4, 6), atol=1e-6)
        assert (weights[1, :, :, 3:] == 0).all() and (weights[2, :, :, 1:] == 0).all()
        assert (weights[0] > 0).all()
        value = attention.value(hidden).view(3, 6, 4, 8).transpose(1, 2)  # (B, nh, T, hd)
        context = (weights @ value).transpose(1, 2).reshape(3, 6, 32)
        assert max_abs_diff(attention.output(context), output) <= TOL
        # Without a mask every key is visible.
        unmasked = attention_weights(attention, hidden)
        assert (unmasked > 0).all()
        context = (unmasked @ value).transpose(1, 2).reshape(3, 6, 32)
        assert max_abs_diff(attention.output(context), attention(hidden)) <= TOL


def test_attention_maps_shapes_and_values():
    config = BertConfig.preset("tiny", vocab_size=30, max_position_embeddings=12, num_hidden_layers=3)
    model = BertModel(config).eval()
    generator = torch.Generator().manual_seed(4)
    input_ids, attention_mask, token_type_ids = padded_batch(config, 2, 9, generator)
    maps = model.attention_maps(input_ids, attention_mask, token_type_ids)
    assert isinstance(maps, list) and len(maps) == config.num_hidden_layers
    for layer_map in maps:
        assert layer_map.shape == (2, config.num_attention_heads, 9, 9)
        assert torch.allclose(layer_map.sum(-1), torch.ones(2, config.num_attention_heads, 9), atol=1e-6)
        assert (layer_map[-1, :, :, 1:] == 0).all()  # the last row holds a single token
    with torch.no_grad():
        states = model(input_ids, attention_mask, token_type_ids).hidden_states
        expected = attention_weights(model.encoder.layers[2].attention, states[2], attention_mask)
    assert torch.equal(maps[2], expected)


# --------------------------------------------------------------------------- parameter counts

@pytest.mark.parametrize("name", ["tiny", "minilm-l6"])
def test_parameter_counts_match_the_model(name):
    config = PRESETS[name]
    with torch.device("meta"):
        model = BertModel(config)
    counts = parameter_counts(config)
    assert counts["embeddings"] == sum(p.numel() for p in model.embeddings.parameters())
    assert counts["encoder"] == sum(p.numel() for p in model.encoder.parameters())
    assert counts["pooler"] == sum(p.numel() for p in model.pooler.parameters())
    assert counts["total"] == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name,total", [("bert-base", 109_482_240), ("bert-large", 335_141_888)])
def test_parameter_counts_of_the_paper_sizes(name, total):
    config = PRESETS[name]
    assert parameter_counts(config)["total"] == total
    with torch.device("meta"):
        ours = BertModel(config)
        theirs = transformers.BertModel(config.to_transformers())
    assert sum(p.numel() for p in ours.parameters()) == total
    assert theirs.num_parameters() == total


# --------------------------------------------------------------------------- bring your own component

def test_bring_your_own_layer_and_embeddings():
    calls = {"layer": 0, "embeddings": 0}

    class MyLayer(BertLayer):
        def forward(self, hidden_states, attention_mask=None):
            calls["layer"] += 1
            return super().forward(hidden_states, attention_mask)

    class MyEmbeddings(BertEmbeddings):
        def forward(self, input_ids, token_type_ids=None):
            calls["embeddings"] += 1
            return super().forward(input_ids, token_type_ids)

    config = BertConfig.preset("tiny", vocab_size=30, max_position_embeddings=12, num_hidden_layers=3)
    reference = BertModel(config).eval()
    model = BertModel(config, layer_cls=MyLayer, embeddings_cls=MyEmbeddings).eval()
    assert all(type(layer) is MyLayer for layer in model.encoder.layers)
    assert len(model.encoder.layers) == 3 and type(model.embeddings) is MyEmbeddings
    model.load_state_dict(reference.state_dict())
    input_ids = torch.randint(0, 30, (2, 5))
    with torch.no_grad():
        out = model(input_ids)
    assert calls == {"layer": 3, "embeddings": 1}
    with torch.no_grad():
        assert torch.equal(out.last_hidden_state, reference(input_ids).last_hidden_state)

    class BrokenLayer(BertLayer):
        def forward(self, hidden_states, attention_mask=None):
            return hidden_states

    broken = BertModel(config, layer_cls=BrokenLayer).eval()
    broken.load_state_dict(reference.state_dict())
    with torch.no_grad():
        assert not torch.allclose(broken(input_ids).last_hidden_state, reference(input_ids).last_hidden_state)


def test_load_bert_with_a_student_layer(minilm, hf_minilm, tokenizer, monkeypatch):
    class MyLayer(BertLayer):
        pass

    # Reuse the session's transformers model instead of reading the checkpoint again.
    monkeypatch.setattr(hub, "load_transformers_model", lambda name_or_path=hub.MINILM: hf_minilm)
    model = hub.load_bert(layer_cls=MyLayer)
    assert all(type(layer) is MyLayer for layer in model.encoder.layers) and not model.training
    encoded = tokenizer(SENTENCES[:2], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(model(**encoded).last_hidden_state, minilm(**encoded).last_hidden_state)


# --------------------------------------------------------------------------- input errors

SMALL = BertConfig.preset("tiny", vocab_size=20, max_position_embeddings=8, type_vocab_size=2)


@pytest.fixture(scope="module")
def small_model():
    return BertModel(SMALL).eval()


@pytest.mark.parametrize(
    "kwargs,fragments",
    [
        (dict(input_ids=torch.ones(2, 3)), ["input_ids", "integer", "(batch, seq)", "float32", "(2, 3)"]),
        (dict(input_ids=torch.ones(3, dtype=torch.long)), ["input_ids", "(batch, seq)", "(3,)"]),
        (dict(input_ids=[[1, 2]]), ["input_ids", "integer tensor", "list"]),
        (dict(input_ids=torch.ones(1, 9, dtype=torch.long)), ["input_ids", "9", "max_position_embeddings=8"]),
        (dict(input_ids=torch.ones(2, 4, dtype=torch.long), attention_mask=torch.ones(2, 5)),
         ["attention_mask", "(2, 4)", "(2, 5)"]),
        (dict(input_ids=torch.ones(2, 4, dtype=torch.long), token_type_ids=torch.zeros(4, dtype=torch.long)),
         ["token_type_ids", "(2, 4)", "(4,)"]),
        (dict(input_ids=torch.tensor([[1, 20]])), ["input_ids", "vocab_size=20", "[1, 20]"]),
        (dict(input_ids=torch.tensor([[-1, 2]])), ["input_ids", "vocab_size=20", "[-1, 2]"]),
        (dict(input_ids=torch.tensor([[1, 2]]), token_type_ids=torch.tensor([[0, 2]])),
         ["token_type_ids", "type_vocab_size=2", "[0, 2]"]),
        (dict(input_ids=torch.tensor([[1, 2]]), token_type_ids=torch.tensor([[0, -1]])),
         ["token_type_ids", "type_vocab_size=2", "[-1, 0]"]),
    ],
    ids=["float-ids", "1d-ids", "list-ids", "too-long", "mask-shape", "types-shape", "id-too-big", "id-negative",
         "type-too-big", "type-negative"],
)
def test_bad_inputs_raise_clear_errors(small_model, kwargs, fragments):
    with pytest.raises(ValueError) as info:
        small_model(**kwargs)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_longest_allowed_input_is_accepted(small_model):
    with torch.no_grad():
        out = small_model(torch.full((1, 8), 19), token_type_ids=torch.ones(1, 8, dtype=torch.long))
    assert out.last_hidden_state.shape == (1, 8, SMALL.hidden_size)


# --------------------------------------------------------------------------- loading errors

@pytest.fixture(scope="module")
def hf_small():
    return transformers.BertForPreTraining(SMALL.to_transformers()).eval()


def test_loading_reports_a_missing_key(hf_small):
    state = {k: v for k, v in hf_small.state_dict().items() if k != "bert.encoder.layer.1.output.dense.weight"}
    with pytest.raises(ValueError, match=r"missing \['encoder\.layers\.1\.output\.weight'\]"):
        load_transformers_weights(BertModel(SMALL), state)


def test_loading_reports_an_unexpected_key(hf_small):
    state = dict(hf_small.state_dict(), **{"bert.encoder.layer.9.output.dense.weight": torch.zeros(2)})
    with pytest.raises(ValueError, match=r"unexpected \['encoder\.layers\.9\.output\.weight'\]"):
        load_transformers_weights(BertModel(SMALL), state)


def test_loading_reports_a_shape_mismatch(hf_small):
    state = dict(hf_small.state_dict())
    state["bert.encoder.layer.0.intermediate.dense.weight"] = torch.zeros(7, SMALL.hidden_size)
    with pytest.raises(ValueError) as info:
        load_transformers_weights(BertModel(SMALL), state)
    message = str(info.value)
    assert "encoder.layers.0.intermediate.weight" in message
    assert f"({SMALL.intermediate_size}, {SMALL.hidden_size})" in message and f"(7, {SMALL.hidden_size})" in message


def test_pretraining_state_dict_loads_into_a_bert_model(hf_small):
    state = hf_small.state_dict()
    assert any(k.startswith("cls.") for k in state)
    model = load_transformers_weights(BertModel(SMALL), state)
    ours = model.state_dict()
    assert torch.equal(ours["encoder.layers.1.attention.key.weight"], state["bert.encoder.layer.1.attention.self.key.weight"])
    assert torch.equal(ours["embeddings.norm.bias"], state["bert.embeddings.LayerNorm.bias"])
    assert torch.equal(ours["pooler.dense.weight"], state["bert.pooler.dense.weight"])
    # Every parameter was written: compare against a BertModel loaded from the bare encoder.
    bare = load_transformers_weights(BertModel(SMALL), hf_small.bert.state_dict())
    for name, tensor in bare.state_dict().items():
        assert torch.equal(tensor, ours[name]), name


# --------------------------------------------------------------------------- dropout, config, gradients

def test_dropout_only_in_training():
    config = BertConfig.preset("tiny", vocab_size=30, max_position_embeddings=12,
                               hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.2)
    torch.manual_seed(0)
    model = BertModel(config)
    input_ids = torch.randint(0, 30, (2, 10))
    mask = torch.ones(2, 10, dtype=torch.long)
    mask[1, 6:] = 0
    model.train()
    first, second = model(input_ids, mask).last_hidden_state, model(input_ids, mask).last_hidden_state
    model.eval()
    with torch.no_grad():
        eval_a, eval_b = model(input_ids, mask).last_hidden_state, model(input_ids, mask).last_hidden_state
    assert torch.equal(eval_a, eval_b)
    assert max_abs_diff(first, second) > 1e-3
    assert max_abs_diff(first, eval_a) > 1e-3
    # Attention dropout alone also acts in training.
    only_attention = BertModel(dataclasses.replace(config, hidden_dropout_prob=0.0)).train()
    a, b = only_attention(input_ids).last_hidden_state, only_attention(input_ids).last_hidden_state
    assert max_abs_diff(a, b) > 1e-4


def test_config_rejects_hidden_not_divisible_by_heads():
    with pytest.raises(ValueError, match=r"hidden_size \(100\).*num_attention_heads \(12\)"):
        BertConfig(hidden_size=100, num_attention_heads=12)
    with pytest.raises(ValueError, match="divisible"):
        BertConfig.preset("tiny", num_attention_heads=3)


def test_config_is_frozen_and_defaults_are_bert_base():
    config = BertConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.hidden_size = 10
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.intermediate_size,
            config.vocab_size, config.layer_norm_eps) == (768, 12, 12, 3072, 30522, 1e-12)
    assert config.head_size == 64


def test_config_presets_and_overrides():
    tiny = BertConfig.preset("tiny", vocab_size=100, hidden_dropout_prob=0.0)
    assert (tiny.vocab_size, tiny.hidden_dropout_prob, tiny.hidden_size) == (100, 0.0, 128)
    assert PRESETS["tiny"].vocab_size == 30522  # the preset itself is untouched
    assert BertConfig.preset("bert-base") == BertConfig()
    assert BertConfig.preset("bert-large").hidden_size == 1024
    with pytest.raises(ValueError, match=r"unknown preset 'bert-huge'.*tiny"):
        BertConfig.preset("bert-huge")
    with pytest.raises(TypeError):
        BertConfig.preset("tiny", hidden_sizes=3)


@pytest.mark.parametrize("config", [BertConfig(), PRESETS["tiny"], BertConfig(**RANDOM_CONFIGS["deeper"])],
                         ids=["base", "tiny", "random"])
def test_config_round_trips_through_transformers(config):
    hf_config = config.to_transformers()
    assert isinstance(hf_config, transformers.BertConfig)
    assert hf_config.hidden_act == "gelu"
    for field in dataclasses.fields(BertConfig):
        assert getattr(hf_config, field.name) == getattr(config, field.name), field.name
    assert BertConfig.from_transformers(hf_config) == config


def test_config_from_transformers_rejects_other_activations():
    hf_config = transformers.BertConfig(hidden_act="gelu_new")
    with pytest.raises(ValueError, match="gelu_new"):
        BertConfig.from_transformers(hf_config)


def test_gradients_reach_every_parameter():
    config = BertConfig.preset("tiny", vocab_size=25, max_position_embeddings=10, type_vocab_size=3,
                               hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    model = BertForPreTraining(config).train()
    input_ids = torch.randint(0, 25, (3, 10))
    token_type_ids = torch.arange(10).div(4, rounding_mode="floor").expand(3, 10)  # types 0, 1 and 2
    mask = torch.ones(3, 10, dtype=torch.long)
    mask[2, 7:] = 0
    out = model(input_ids, mask, token_type_ids)
    loss = F.cross_entropy(out.mlm_logits.flatten(0, 1), torch.randint(0, 25, (30,))) + F.cross_entropy(
        out.nsp_logits, torch.tensor([0, 1, 0])
    )
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{name} got no gradient"
        assert parameter.grad.abs().sum() > 0, f"{name} got a zero gradient"
    # BertModel alone: everything, pooler included, gets a gradient from a loss on both outputs.
    encoder = BertModel(config)
    encoded = encoder(input_ids, mask, token_type_ids)
    (encoded.last_hidden_state.pow(2).mean() + encoded.pooler_output.sum()).backward()
    for name, parameter in encoder.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


# --------------------------------------------------------------------------- pre-LN layer order

def test_pre_ln_layer_normalises_each_sublayers_input_not_the_residual():
    config = BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    post = BertLayer(config).eval()
    pre = PreLNBertLayer(config).eval()
    pre.load_state_dict(post.state_dict())  # the same parameters under the same names
    for norm in (pre.attention_norm, pre.output_norm):  # LayerNorms that are not the identity
        torch.nn.init.normal_(norm.weight, 1.0, 0.3)
        torch.nn.init.normal_(norm.bias, 0.0, 0.3)
    x = torch.randn(2, 5, 16)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    h = x + pre.attention(pre.attention_norm(x), mask)
    expected = h + pre.output(F.gelu(pre.intermediate(pre.output_norm(h))))
    assert torch.allclose(pre(x, mask), expected, atol=1e-6)
    assert not torch.allclose(post(x, mask), expected, atol=1e-3)
