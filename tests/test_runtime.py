"""Tests of bertcourse.runtime: profile, seed, device, to_device, eval_mode, cached_json (autocast: tests/training)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from bertcourse import runtime
from bertcourse.training import precision


def test_profile_defaults_to_cpu(monkeypatch):
    monkeypatch.delenv(runtime.PROFILE_ENV, raising=False)
    assert runtime.profile().name == "cpu"
    monkeypatch.setenv(runtime.PROFILE_ENV, "")
    assert runtime.profile().name == "cpu"


@pytest.mark.parametrize("value,name", [("ci", "ci"), ("gpu", "gpu"), (" GPU ", "gpu"), ("CPU", "cpu")])
def test_profile_from_the_environment(monkeypatch, value, name):
    monkeypatch.setenv(runtime.PROFILE_ENV, value)
    assert runtime.profile().name == name


def test_explicit_profile_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv(runtime.PROFILE_ENV, "gpu")
    assert runtime.profile("ci").name == "ci"


def test_bad_profile_names_the_variable_and_the_options(monkeypatch):
    monkeypatch.setenv(runtime.PROFILE_ENV, "laptop")
    with pytest.raises(ValueError) as info:
        runtime.profile()
    message = str(info.value)
    assert "BERTCOURSE_PROFILE" in message and "'laptop'" in message
    assert all(option in message for option in ("ci", "cpu", "gpu"))


def _draws():
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_set_seed_makes_runs_reproducible():
    generator = runtime.set_seed(1234)
    first = _draws(), torch.rand(2, generator=generator).tolist()
    generator = runtime.set_seed(1234)
    second = _draws(), torch.rand(2, generator=generator).tolist()
    assert first == second
    assert isinstance(generator, torch.Generator) and generator.initial_seed() == 1234
    runtime.set_seed(4321)
    assert _draws() != first[0]


def test_pick_device_on_this_machine():
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("an accelerator is present; this test is about CPU-only machines")
    assert runtime.pick_device() == torch.device("cpu")


def test_pick_device_order(monkeypatch):
    assert runtime.pick_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.pick_device() == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert runtime.pick_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.pick_device() == torch.device("cuda")


def test_runtime_re_exports_the_one_autocast():
    assert runtime.autocast is precision.autocast
    assert runtime.autocast_dtype is precision.autocast_dtype


def test_to_device_moves_nested_tensors_and_keeps_containers():
    Pair = __import__("collections").namedtuple("Pair", "a b")
    batch = {"x": torch.ones(2), "nested": [torch.zeros(1), (torch.ones(1), "label")], "pair": Pair(torch.ones(1), 3)}
    moved = runtime.to_device(batch, "meta")
    assert moved["x"].device.type == "meta"
    assert isinstance(moved["nested"], list) and isinstance(moved["nested"][1], tuple)
    assert moved["nested"][1][0].device.type == "meta" and moved["nested"][1][1] == "label"
    assert isinstance(moved["pair"], Pair) and moved["pair"].a.device.type == "meta" and moved["pair"].b == 3


@pytest.mark.parametrize("training", [True, False])
def test_eval_mode_restores_the_mode_it_found(training):
    model = torch.nn.Sequential(torch.nn.Dropout(0.5)).train(training)
    with runtime.eval_mode(model) as inside:
        assert inside is model and not model.training and not model[0].training
    assert model.training == training and model[0].training == training


def test_eval_mode_restores_the_mode_after_an_error():
    model = torch.nn.Linear(1, 1).train()
    with pytest.raises(RuntimeError, match="boom"):
        with runtime.eval_mode(model):
            raise RuntimeError("boom")
    assert model.training



def test_cached_json_computes_once_then_reads_and_refresh_recomputes(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"run": len(calls)}

    path = tmp_path / "deeper" / "result.json"
    assert runtime.cached_json(path, compute) == {"run": 1} and path.exists()
    assert runtime.cached_json(path, compute) == {"run": 1} and len(calls) == 1
    assert runtime.cached_json(path, compute, refresh=True) == {"run": 2}


def test_cached_json_without_write_leaves_no_file(tmp_path):
    assert runtime.cached_json(tmp_path / "ci.json", lambda: {"a": 1}, write=False) == {"a": 1}
    assert not (tmp_path / "ci.json").exists()
