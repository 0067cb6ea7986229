"""The pre-training pipeline (bertcourse.pretraining.data) and run (.run), on ci-sized runs of a few seconds."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest
import torch

from bertcourse.models.bert import BertConfig, BertLayer, PreLNBertLayer
from bertcourse.models.deberta import DebertaForPreTraining, attention_span
from bertcourse.models.heads import BertForPreTraining
from bertcourse.pretraining import data as pipeline
from bertcourse.pretraining import objectives, run
from bertcourse.pretraining.masking import mask_tokens
from bertcourse.pretraining.run import PretrainConfig
from bertcourse.training.loop import TrainConfig

TINY = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
            corpus_vocab_size=1024, seq_len=32, max_documents=3, batch_size=8, max_steps=6,
            eval_examples=16, num_evals=2)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: the tests run two at a time (pytest -n 2) on small CPUs, where
    two processes of two spinning threads each slow every step down many times over."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_config() -> PretrainConfig:
    return PretrainConfig.for_profile("ci", **TINY)


@pytest.fixture(scope="module")
def tiny_data(tiny_config):
    return pipeline.prepare_data(tiny_config)


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize("field, value, message", [
    ("objective", "nsp", "objective"),
    ("masking", "random", "masking"),
    ("tokenizer", "bpe", "tokenizer"),
    ("autocast", "fp8", "autocast"),
    ("corpora", ("wikipedia",), "corpora"),
    ("corpora", (), "corpora"),
    ("mlm_probability", 0.0, "mlm_probability"),
    ("mlm_probability", 1.5, "mlm_probability"),
    ("warmup", 1.0, "warmup"),
    ("num_evals", 0, "num_evals"),
    ("max_steps", 0, "max_steps"),
    ("warmup_steps", 100, "warmup_steps"),
    ("schedule", "cosine-ish", "schedule"),
    ("accumulation_steps", 0, "accumulation_steps"),
    ("grad_clip", -1.0, "grad_clip"),
    ("batch_size", 2.5, "batch_size"),
    ("seq_len", 4, "seq_len"),
    ("learning_rate", 0.0, "learning_rate"),
    ("num_attention_heads", 3, "hidden_size"),
    ("hidden_dropout_prob", 1.0, "hidden_dropout_prob"),
    ("initializer_range", 0.0, "initializer_range"),
    ("max_documents", 1, "max_documents"),
    ("profile", "laptop", "laptop"),
    ("layer_norm", "middle", "layer_norm"),
    ("position_init", "zeros", "position_init"),
    ("positions", "rotary", "positions"),
])
def test_config_rejects_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        PretrainConfig.for_profile("ci", **{field: value})


def test_config_is_frozen_and_sized_by_profile():
    ci, cpu, gpu = (PretrainConfig.for_profile(name) for name in ("ci", "cpu", "gpu"))
    assert ci.profile == "ci" and cpu.profile == "cpu"
    assert (ci.train.max_steps * ci.batch_size < cpu.train.max_steps * cpu.batch_size
            < gpu.train.max_steps * gpu.batch_size)
    assert ci.model.hidden_size <= cpu.model.hidden_size <= gpu.model.hidden_size
    with pytest.raises(AttributeError):
        ci.seq_len = 5  # frozen
    configured = PretrainConfig.for_profile("ci", objective="mlm+sop", seed=3)
    assert configured.objective == "mlm+sop" and configured.train.seed == 3
    with pytest.raises(ValueError, match="no field"):
        PretrainConfig.for_profile("ci", stepz=5)


def test_config_composes_a_model_and_a_training_config():
    config = PretrainConfig.for_profile("ci", schedule="constant", accumulation_steps=2, grad_clip=None,
                                        autocast="off", hidden_size=96, num_attention_heads=3)
    assert isinstance(config.model, BertConfig) and isinstance(config.train, TrainConfig)
    assert (config.train.schedule, config.train.accumulation_steps, config.train.grad_clip) == ("constant", 2, None)
    assert config.train.autocast == "off" and config.model.hidden_size == 96
    assert config.model.hidden_dropout_prob == config.model.attention_probs_dropout_prob == 0.0
    model = config.model_config(vocab_size=500, pad_token_id=3)
    assert (model.vocab_size, model.pad_token_id, model.hidden_size) == (500, 3, 96)
    assert PretrainConfig().train == PretrainConfig.for_profile("cpu").train  # the defaults are the cpu profile


def test_for_profile_derives_warmup_and_evaluations_from_the_length():
    config = PretrainConfig.for_profile("cpu", max_steps=600, num_evals=6)
    assert (config.train.warmup_steps, config.train.eval_every, config.train.log_every) == (60, 100, 12)
    assert PretrainConfig.for_profile("cpu", max_steps=600, warmup=0.3).train.warmup_steps == 180
    assert PretrainConfig.for_profile("cpu", warmup_steps=7).train.warmup_steps == 7  # given, not derived
    assert PretrainConfig.for_profile("ci", seq_len=300).model.max_position_embeddings == 300


def test_with_changes_routes_each_name_to_its_part():
    base = PretrainConfig.for_profile("ci")
    changed = base.with_changes(seed=4, masking="static", intermediate_size=128, schedule="constant", seq_len=256)
    assert (changed.train.seed, changed.masking, changed.model.intermediate_size) == (4, "static", 128)
    assert changed.train.schedule == "constant" and changed.model.max_position_embeddings == 256
    assert changed.train.max_steps == base.train.max_steps  # nothing else moves
    with pytest.raises(ValueError, match="no field"):
        base.with_changes(steps=3)
    assert set(base.settings()) >= {"objective", "hidden_size", "max_steps", "schedule", "accumulation_steps"}


def test_for_profile_reads_the_environment(monkeypatch):
    monkeypatch.setenv("BERTCOURSE_PROFILE", "ci")
    assert PretrainConfig.for_profile().profile == "ci"


# --- data ------------------------------------------------------------------------------------


def test_examples_are_framed_and_truncated(tiny_config, tiny_data):
    tokenizer = tiny_data.tokenizer
    assert tiny_data.train and tiny_data.validation
    for example in tiny_data.train[:200]:
        ids, types = example["input_ids"], example["token_type_ids"]
        assert len(ids) == len(types) <= tiny_config.seq_len
        assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
        assert ids.count(tokenizer.sep_token_id) == 2
        first_sep = ids.index(tokenizer.sep_token_id)
        assert types == [0] * (first_sep + 1) + [1] * (len(ids) - first_sep - 1)


def test_nsp_and_sop_labels_follow_the_hf_convention():
    documents = [[f"doc{d} sentence{s}" for s in range(6)] for d in range(4)]
    for objective in ("mlm+nsp", "mlm+sop"):
        pairs = pipeline.make_pairs(documents, objective, random.Random(0))
        assert {label for _, _, label in pairs} == {0, 1}
        for a, b, label in pairs:
            doc_a, index_a = a.split()
            doc_b, index_b = b.split()
            follows = doc_a == doc_b and int(index_b[8:]) == int(index_a[8:]) + 1
            assert (label == 0) == follows  # 0 = "B follows A", as transformers' next_sentence_label


def test_bucketed_batches_cover_every_example_once():
    lengths = [random.Random(i).randint(5, 60) for i in range(103)]
    batches = pipeline.bucketed_batches(lengths, 8, random.Random(0), pool_batches=4)
    flat = sorted(i for batch in batches for i in batch)
    assert flat == list(range(103))
    assert all(len(batch) <= 8 for batch in batches)
    # Inside a pool, batches hold neighbouring lengths: far less padding than a random split.
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    assert padded < 1.3 * sum(lengths)


def test_static_masking_reuses_masks_and_dynamic_masking_does_not(tiny_config, tiny_data):
    few = tiny_data.train[:16]
    config = replace(tiny_config, batch_size=4)

    def masks_per_example(masking: str, epochs: int = 2) -> dict[int, list[tuple]]:
        stream = pipeline.MaskedBatches(few, tiny_data.tokenizer, mask_tokens, replace(config, masking=masking))
        seen: dict[tuple, list[tuple]] = {}
        batches = iter(stream)
        for _ in range(epochs * 4):
            batch = next(batches)
            for row in range(batch["input_ids"].size(0)):
                n = int(batch["attention_mask"][row].sum())
                labels = tuple(batch["labels"][row, :n].tolist())
                original = tuple(torch.where(batch["labels"][row, :n] == -100, batch["input_ids"][row, :n],
                                             batch["labels"][row, :n]).tolist())
                seen.setdefault(original, []).append(labels)
        return seen

    static = masks_per_example("static")
    assert all(len(set(masks)) == 1 for masks in static.values())
    dynamic = masks_per_example("dynamic")
    assert sum(len(set(masks)) > 1 for masks in dynamic.values()) >= len(dynamic) // 2


# --- model and loss --------------------------------------------------------------------------


def test_masked_positions_only_logits_equal_the_full_rows():
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig.preset("tiny", vocab_size=300)).eval()
    input_ids = torch.randint(5, 300, (3, 12))
    positions = torch.rand(3, 12) < 0.3
    positions[0, 1] = True
    with torch.no_grad():
        full = model(input_ids).mlm_logits  # (B, T, V)
        sparse = model(input_ids, mlm_positions=positions).mlm_logits  # (N, V)
    assert sparse.shape == (int(positions.sum()), 300)
    torch.testing.assert_close(sparse, full[positions], rtol=1e-5, atol=1e-5)


def test_loss_counts_masked_positions_only(tiny_data):
    tokenizer = tiny_data.tokenizer
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig.preset("tiny", vocab_size=len(tokenizer))).eval()
    batch = pipeline.collate(tiny_data.train[:4], tokenizer.pad_token_id)
    batch = pipeline.mask_batch(batch, tokenizer, mask_tokens, 0.15, torch.Generator().manual_seed(0))
    with torch.no_grad():
        loss, metrics = objectives.pretraining_loss(model, batch, "mlm")
        logits = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]).mlm_logits
    labelled = batch["labels"] != -100
    expected = torch.nn.functional.cross_entropy(logits[labelled], batch["labels"][labelled])
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-5)
    assert not (labelled & (batch["attention_mask"] == 0)).any()  # padding is never a target


# --- runs ------------------------------------------------------------------------------------


def test_same_seed_gives_the_same_history(tiny_config, tiny_data):
    def records(seed):
        result = run.pretrain(tiny_config.with_changes(seed=seed), data=tiny_data, progress=False)
        return [{k: v for k, v in r.items() if k != "seconds"} for r in result.history.records]

    first, again, other = records(0), records(0), records(1)
    assert first == again
    assert first != other


def test_custom_mask_fn_is_called(tiny_config, tiny_data):
    calls = []

    def my_mask(input_ids, special_tokens_mask, mask_token_id, vocab_size, mlm_probability=0.15, generator=None):
        calls.append((tuple(input_ids.shape), mask_token_id, vocab_size, mlm_probability))
        return mask_tokens(input_ids, special_tokens_mask, mask_token_id, vocab_size, mlm_probability, generator)

    config = PretrainConfig.for_profile("ci", **{**TINY, "max_steps": 3, "mlm_probability": 0.2})
    run.pretrain(config, mask_fn=my_mask, data=tiny_data, progress=False)
    tokenizer = tiny_data.tokenizer
    assert len(calls) >= 3 + 1  # every training batch and the held-out batches
    assert all(call[1:] == (tokenizer.mask_token_id, len(tokenizer), 0.2) for call in calls)


def test_held_out_loss_falls_and_fill_mask_answers(tiny_config, tiny_data):
    config = PretrainConfig.for_profile("ci", **{**TINY, "max_steps": 40, "num_evals": 4, "learning_rate": 3e-3,
                                                 "objective": "mlm+sop"})
    data = pipeline.prepare_data(config, tokenizer=tiny_data.tokenizer)
    torch.manual_seed(config.train.seed)
    untrained = BertForPreTraining(config.model_config(len(data.tokenizer)))
    held_out = pipeline.validation_batches(data.validation, data.tokenizer, config, mask_tokens)
    before = run.evaluate(untrained, held_out, config.objective)["mlm_loss"]
    result = run.pretrain(config, data=data, progress=False)
    _, losses = result.history.series("validation", "mlm_loss")
    assert len(losses) == 4  # num_evals
    assert losses[-1] < before - 0.3, (before, losses)  # measured: 6.95 -> 6.39 on CPU, seed 0
    assert math.isfinite(result.history.last("validation", "sentence_accuracy"))
    assert result.history.last("validation", "tokens") > 0
    guesses = run.fill_mask(result, "the [MASK] of the sea.", top_k=3)
    assert len(guesses) == 1 and len(guesses[0]) == 3
    assert all(0.0 <= p <= 1.0 for _, p in guesses[0])
    with pytest.raises(ValueError, match="MASK"):
        run.fill_mask(result, "no mask here")


def test_initializer_range_reaches_the_model():
    config = PretrainConfig.for_profile("ci", **{**TINY, "initializer_range": 0.05})
    assert config.model_config(100).initializer_range == 0.05
    torch.manual_seed(0)
    model = BertForPreTraining(config.model_config(4000))
    std = float(model.bert.embeddings.word_embeddings.weight.detach()[1:].std())
    assert 0.045 < std < 0.055
    with pytest.raises(ValueError, match="initializer_range"):
        config.with_changes(initializer_range=0.0)


def test_layer_norm_and_position_init_reach_the_model():
    config = PretrainConfig.for_profile("ci", **{**TINY, "initializer_range": 0.05})
    post = run.build_model(config, 500)
    pre = run.build_model(config.with_changes(layer_norm="pre", position_init="sinusoidal"), 500)
    assert all(type(layer) is BertLayer for layer in post.bert.encoder.layers)
    assert all(type(layer) is PreLNBertLayer for layer in pre.bert.encoder.layers)
    positions = pre.bert.embeddings.position_embeddings.weight.detach()  # (P, H)
    assert abs(float(positions.std()) - 0.05) < 1e-4
    # position 0 is sin(0) = 0 at even and cos(0) at odd dimensions, all rescaled alike
    assert float(positions[0, 0::2].abs().max()) < 1e-6
    assert torch.allclose(positions[0, 1::2], positions[0, 1].expand(TINY["hidden_size"] // 2))


def test_relative_positions_give_debertas_encoder_with_berts_heads(tiny_config, tiny_data):
    config = tiny_config.with_changes(positions="relative")
    model = run.build_model(config, 500)
    assert isinstance(model, DebertaForPreTraining)
    assert not any("position_embeddings" in name for name, _ in model.named_parameters())  # no absolute positions
    assert model.mlm_head.decoder.weight is model.deberta.embeddings.word_embeddings.weight  # tied, as in BERT
    assert attention_span(model.config) == run.RELATIVE_SPAN
    ids = torch.randint(5, 500, (2, 12))
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    positions = torch.zeros_like(ids, dtype=torch.bool)
    positions[:, 3] = True
    out = model(ids, mask, torch.ones_like(ids), mlm_positions=positions)  # token types are ignored
    assert out.mlm_logits.shape == (2, 500) and out.nsp_logits.shape == (2, 2)
    result = run.pretrain(config, data=tiny_data, progress=False)
    assert math.isfinite(result.history.last("validation", "mlm_loss"))


@pytest.mark.parametrize("change", [dict(layer_norm="pre"), dict(position_init="sinusoidal")])
def test_relative_positions_reject_absolute_position_levers(tiny_config, change):
    with pytest.raises(ValueError, match="positions"):
        tiny_config.with_changes(positions="relative", **change)


def test_evaluation_uses_the_runs_autocast_setting(tiny_config, tiny_data, monkeypatch):
    # pretrain(autocast="off") once scored the held-out set under runtime's "auto" dtype
    # (bf16 on CPUs with AVX512-BF16) while training in fp32.
    seen = []
    real = run.precision.autocast

    def spy(device, dtype="auto"):
        seen.append(dtype)
        return real(device, dtype)

    monkeypatch.setattr(run.precision, "autocast", spy)
    monkeypatch.setattr(run.precision, "autocast_dtype", lambda device: torch.bfloat16)  # any machine
    run.pretrain(PretrainConfig.for_profile("ci", **{**TINY, "max_steps": 2, "num_evals": 1, "autocast": "off"}),
                 data=tiny_data, progress=False)
    assert seen and all(run.precision.resolve("cpu", dtype) is None for dtype in seen), seen
