"""Tests of bertcourse.training (loop and schedules): schedule, optimizer groups, accumulation, clipping, learning, logging."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bertcourse import runtime
from bertcourse.models.bert import BertConfig
from bertcourse.models.heads import BertForPreTraining
from bertcourse.training.loop import History, TrainConfig, evaluate_loss, parameter_groups, train
from bertcourse.training.schedules import SCHEDULES, lr_at


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These models are too small to gain from threads, and on a busy 2-core machine
    two spinning OpenMP threads make a step up to 50x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def quiet(**overrides) -> TrainConfig:
    """A silent config for tests."""
    settings = dict(max_steps=5, learning_rate=0.1, progress=False, autocast=None)
    return TrainConfig(**{**settings, **overrides})


def regression_batches(n_batches=4, batch_size=8, seed=0):
    """(x (B, 4), y (B, 1)) pairs with y = x @ w + 0.5, plus a little noise."""
    generator = torch.Generator().manual_seed(seed)
    w = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    batches = []
    for _ in range(n_batches):
        x = torch.randn(batch_size, 4, generator=generator)
        batches.append((x, x @ w + 0.5 + 0.01 * torch.randn(batch_size, 1, generator=generator)))
    return batches


def mse(model, batch):
    x, y = batch
    return F.mse_loss(model(x), y), {}


def linear_model(seed=0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(4, 1)


# --- schedule ------------------------------------------------------------------------------


def test_train_logs_the_schedule_and_warmup_starts_at_zero():
    model = linear_model()
    before = [p.detach().clone() for p in model.parameters()]
    unchanged_after_first = []

    def check_first(step, history):
        if step == 1:  # update 0 ran at lr 0: nothing moved
            unchanged_after_first.append(all(torch.equal(a, b) for a, b in zip(before, model.parameters())))

    config = quiet(max_steps=8, warmup_steps=3, log_every=1, weight_decay=0.0)
    history = train(model, regression_batches(), mse, config, callbacks=[check_first])
    steps, lrs = history.series("train", "lr")
    assert steps == list(range(1, 9))
    assert lrs == [lr_at(step - 1, config) for step in steps]
    assert unchanged_after_first == [True]


# --- optimizer groups ------------------------------------------------------------------------


def test_no_weight_decay_on_biases_and_layer_norms():
    config = BertConfig.preset("tiny", num_hidden_layers=1, vocab_size=64, max_position_embeddings=16)
    model = BertForPreTraining(config)
    decay, no_decay = parameter_groups(model, weight_decay=0.01)
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    names = {id(p): name for name, p in model.named_parameters()}
    expected_no_decay = {n for n in names.values() if n.endswith("bias") or "norm." in n}
    assert {names[id(p)] for p in no_decay["params"]} == expected_no_decay
    assert "mlm_head.bias" in expected_no_decay and "bert.embeddings.norm.weight" in expected_no_decay
    # Every parameter exactly once; the tied decoder is the word-embedding matrix, decayed.
    all_params = decay["params"] + no_decay["params"]
    assert len(all_params) == len({id(p) for p in all_params}) == len(list(model.parameters()))
    assert any(p is model.bert.embeddings.word_embeddings.weight for p in decay["params"])


def test_frozen_parameters_are_left_out():
    model = nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2))
    model[0].weight.requires_grad_(False)
    groups = parameter_groups(model, 0.1)
    assert sum(len(g["params"]) for g in groups) == 3


# --- accumulation and clipping ---------------------------------------------------------------


def test_accumulating_two_half_batches_equals_one_full_batch():
    (x, y), = regression_batches(n_batches=1, batch_size=8)

    def run(batches, accumulation_steps):
        model, grads = linear_model(), []
        # Gradients stay on the parameters until the next update: compare them, since
        # Adam's update barely changes when every gradient is scaled by the same factor.
        def keep(step, history):
            grads.append([p.grad.clone() for p in model.parameters()])

        config = quiet(max_steps=3, log_every=1, grad_clip=None, accumulation_steps=accumulation_steps)
        history = train(model, batches, mse, config, callbacks=[keep])
        return model, grads, history

    full_model, full_grads, full = run([(x, y)], accumulation_steps=1)
    half_model, half_grads, half = run([(x[:4], y[:4]), (x[4:], y[4:])], accumulation_steps=2)
    torch.testing.assert_close(half_grads, full_grads)
    torch.testing.assert_close(list(half_model.parameters()), list(full_model.parameters()))
    # Equal-size halves: the mean of the half-batch losses is the full-batch loss.
    torch.testing.assert_close(half.series("train", "loss"), full.series("train", "loss"))


def test_clipping_limits_the_gradient_norm():
    batches = regression_batches(n_batches=1)
    model, reference = linear_model(), linear_model()
    # What clip_grad_norm_ makes of the first update's gradients.
    mse(reference, batches[0])[0].backward()
    unclipped = nn.utils.clip_grad_norm_(reference.parameters(), max_norm=0.5)
    assert unclipped > 0.5  # the test means something only if clipping bites
    seen = []
    history = train(
        model, batches, mse, quiet(max_steps=1, grad_clip=0.5),
        callbacks=[lambda step, h: seen.append([p.grad.clone() for p in model.parameters()])],
    )
    for got, expected in zip(seen[0], reference.parameters()):
        torch.testing.assert_close(got, expected.grad)
    assert torch.linalg.vector_norm(torch.cat([g.flatten() for g in seen[0]])).item() == pytest.approx(0.5, rel=1e-4)
    assert history.last("train", "grad_norm") == pytest.approx(unclipped.item())


def test_no_clipping_when_grad_clip_is_none():
    model = linear_model()
    history = train(model, regression_batches(n_batches=1), mse, quiet(max_steps=1, grad_clip=None))
    assert "grad_norm" not in history.records[-1]


# --- learning, reproducibility, evaluation ---------------------------------------------------


MASK, CLS = 3, 2


def copy_batches(n_batches, vocab, seed, batch_size=16, seq=8):
    """Each sequence: [CLS] then one token t repeated, one position masked; the model must say t."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(n_batches):
        tokens = torch.randint(4, vocab, (batch_size, 1), generator=generator)
        input_ids = torch.cat([torch.full((batch_size, 1), CLS), tokens.expand(-1, seq - 1)], dim=1)  # (B, T)
        where = torch.randint(1, seq, (batch_size,), generator=generator)
        mlm_positions = torch.zeros(batch_size, seq, dtype=torch.bool)
        mlm_positions[torch.arange(batch_size), where] = True  # one masked position per row
        labels = input_ids[mlm_positions]  # (N,) with N = B
        input_ids = input_ids.masked_fill(mlm_positions, MASK)
        batches.append({"input_ids": input_ids, "mlm_positions": mlm_positions, "labels": labels})
    return batches


def mlm_loss(model, batch):
    logits = model(batch["input_ids"], mlm_positions=batch["mlm_positions"]).mlm_logits  # (N, V)
    accuracy = (logits.argmax(-1) == batch["labels"]).float().mean()
    return F.cross_entropy(logits, batch["labels"]), {"accuracy": accuracy}


def tiny_bert(seed=0, dropout=0.0, vocab=16):
    """The "tiny" preset cut down further (1 layer, H=64) so a test trains it in seconds."""
    runtime.set_seed(seed)
    config = BertConfig.preset(
        "tiny", num_hidden_layers=1, hidden_size=64, intermediate_size=256, vocab_size=vocab,
        max_position_embeddings=16, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
    )
    return BertForPreTraining(config)


def test_tiny_bert_learns_to_fill_in_the_masked_token():
    model = tiny_bert()
    validation = copy_batches(2, vocab=16, seed=1)
    config = quiet(max_steps=30, learning_rate=1e-2, warmup_steps=3, schedule="constant", eval_every=15)
    before = evaluate_loss(model, validation, mlm_loss)
    history = train(model, copy_batches(8, vocab=16, seed=0), mlm_loss, config,
                    evaluate=lambda m: evaluate_loss(m, validation, mlm_loss))
    assert before["loss"] == pytest.approx(math.log(16), rel=0.1)  # chance level at the start
    assert history.last("validation", "loss") < 0.3 * before["loss"]
    assert history.last("validation", "accuracy") > 0.9
    assert history.series("validation", "loss")[0] == [15, 30]


def test_same_seed_same_history_different_seed_different_history():
    def run(seed):
        model = tiny_bert(dropout=0.1)  # dropout makes the run depend on the training seed
        config = quiet(max_steps=4, learning_rate=1e-3, log_every=1, seed=seed)
        return train(model, copy_batches(3, vocab=16, seed=0), mlm_loss, config).records

    first = run(seed=0)
    assert first == run(seed=0)
    assert first != run(seed=1)


def test_evaluate_is_called_logged_and_train_mode_restored():
    model = linear_model()
    validation = regression_batches(n_batches=2, seed=1)
    modes_during_eval, modes_after = [], []

    def evaluate(m):
        modes_during_eval.append(m.training)
        return evaluate_loss(m, validation, mse)

    history = train(model, regression_batches(), mse, quiet(max_steps=7, eval_every=3), evaluate=evaluate,
                    callbacks=[lambda step, h: modes_after.append(model.training)])
    steps, losses = history.series("validation", "loss")
    assert steps == [3, 6, 7]  # every eval_every updates, and after the last
    assert modes_during_eval == [True, True, True]  # evaluate_loss switches to eval mode itself
    assert modes_after == [True] * 7
    assert losses[-1] == evaluate_loss(model, validation, mse)["loss"]


def test_evaluate_loss_weights_batches_equally_and_restores_mode():
    model = nn.Dropout(0.5)

    def loss_fn(m, batch):
        assert not m.training and not torch.is_grad_enabled()
        return batch.mean(), {"size": batch.numel()}

    model.eval()
    result = evaluate_loss(model, [torch.ones(2), torch.full((4,), 4.0)], loss_fn, device="cpu")
    assert result == {"loss": 2.5, "size": 3.0}
    assert not model.training
    model.train()
    evaluate_loss(model, [torch.ones(2)], loss_fn, device="cpu")
    assert model.training


def test_batches_are_reiterated_and_moved():
    seen = []

    def loss_fn(m, batch):
        seen.append(batch["x"].device.type)
        return F.mse_loss(m(batch["x"]), batch["x"][:, :1]), {}

    batches = [{"x": torch.randn(2, 4)} for _ in range(3)]
    history = train(linear_model(), batches, loss_fn, quiet(max_steps=4, accumulation_steps=2), device="cpu")
    assert seen == ["cpu"] * 8  # 4 updates x 2 micro-batches over a list of 3: re-iterated
    assert history.last("train", "loss") > 0


# --- History, progress, arguments ------------------------------------------------------------


def test_history_series_last_and_json_round_trip():
    history = History()
    history.log(1, "train", loss=torch.tensor(2.0), accuracy=0.5)
    history.log(2, "train", loss=1.0)
    history.log(2, "validation", loss=1.5)
    assert history.records[0] == {"step": 1, "split": "train", "loss": 2.0, "accuracy": 0.5}
    assert history.series("train", "loss") == ([1, 2], [2.0, 1.0])
    assert history.series("train", "accuracy") == ([1], [0.5])
    assert history.last("validation", "loss") == 1.5
    assert History.from_json(history.to_json()) == history
    with pytest.raises(KeyError, match="accuracy"):
        history.last("validation", "accuracy")
    with pytest.raises(ValueError, match="split"):
        history.log(3, "test", loss=1.0)


def test_progress_false_is_silent_and_true_writes_only_to_stderr(capfd):
    train(linear_model(), regression_batches(), mse, quiet(max_steps=3))
    assert capfd.readouterr() == ("", "")
    train(linear_model(), regression_batches(), mse, quiet(max_steps=3, progress=True))
    out, err = capfd.readouterr()
    assert out == "" and "loss=" in err


@pytest.mark.parametrize(
    "overrides, name",
    [
        ({"max_steps": 0}, "max_steps"),
        ({"accumulation_steps": 0}, "accumulation_steps"),
        ({"accumulation_steps": 1.5}, "accumulation_steps"),
        ({"eval_every": 0}, "eval_every"),
        ({"log_every": -1}, "log_every"),
        ({"warmup_steps": 6}, "warmup_steps"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"schedule": "no-such-schedule"}, "schedule"),
        ({"grad_clip": 0}, "grad_clip"),
        ({"autocast": "fp8"}, "autocast"),
    ],
)
def test_bad_config_names_the_argument_and_the_value(overrides, name):
    (key, value), = overrides.items()
    with pytest.raises(ValueError, match=rf"{name} must be .*; got {value!r}"):
        quiet(**overrides)


@pytest.mark.parametrize("setting", ["auto", "off", "bf16", "fp16", None, torch.bfloat16])
def test_autocast_accepts_every_setting_precision_resolves(setting):
    assert quiet(autocast=setting).autocast == setting


def test_schedule_names_come_from_the_table():
    for name in SCHEDULES:
        assert quiet(schedule=name).schedule == name


def test_empty_or_exhausted_batches_raise():
    with pytest.raises(ValueError, match="batches yielded no batch"):
        train(linear_model(), [], mse, quiet())
    one_shot = iter(regression_batches(n_batches=2))  # runs out after 2 of 5 updates
    with pytest.raises(ValueError, match="exhausted iterator"):
        train(linear_model(), one_shot, mse, quiet())


def test_bad_loss_fn_and_config_types_raise():
    with pytest.raises(TypeError, match="loss_fn must return"):
        train(linear_model(), regression_batches(), lambda m, b: F.mse_loss(m(b[0]), b[1]), quiet())
    with pytest.raises(TypeError, match="TrainConfig"):
        train(linear_model(), regression_batches(), mse, {"max_steps": 5})


def test_diverging_loss_raises():
    def nan_loss(m, batch):
        return m(batch[0]).sum() * float("nan"), {}

    with pytest.raises(FloatingPointError, match="step 1"):
        train(linear_model(), regression_batches(), nan_loss, quiet(log_every=1))
