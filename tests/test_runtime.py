"""Tests of bertcourse.runtime: profile, seed, device and autocast."""

from __future__ import annotations

import contextlib
import random

import numpy as np
import pytest
import torch

from bertcourse import runtime


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


def test_cpu_has_fast_bf16_is_detected():
    detected = runtime.cpu_has_fast_bf16()
    assert type(detected) is bool
    assert detected == (bool(torch.cpu._is_amx_tile_supported()) or bool(torch.cpu._is_avx512_bf16_supported()))


def test_autocast_none_is_a_null_context():
    context = runtime.autocast("cpu", dtype=None)
    assert isinstance(context, contextlib.nullcontext)
    with context:
        assert not torch.is_autocast_enabled("cpu")
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_autocast_forced_bf16_is_real():
    context = runtime.autocast("cpu", dtype=torch.bfloat16)
    assert isinstance(context, torch.autocast)
    with context:
        assert torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    assert not torch.is_autocast_enabled("cpu")


@pytest.mark.parametrize("fast", [False, True])
def test_autocast_auto_follows_the_cpu(monkeypatch, fast):
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: fast)
    assert runtime.autocast_dtype("cpu") == (torch.bfloat16 if fast else None)
    context = runtime.autocast("cpu")
    assert isinstance(context, torch.autocast) == fast
    assert isinstance(context, contextlib.nullcontext) == (not fast)


def test_autocast_dtype_on_this_machine_matches_the_detection():
    expected = torch.bfloat16 if runtime.cpu_has_fast_bf16() else None
    assert runtime.autocast_dtype(torch.device("cpu")) == expected
    assert runtime.autocast_dtype("meta") is None


def test_grad_scaler_only_for_cuda_fp16():
    assert runtime.needs_grad_scaler("cuda", torch.float16)
    assert not runtime.needs_grad_scaler("cuda", torch.bfloat16)
    assert not runtime.needs_grad_scaler("cpu", torch.float16)
    assert not runtime.needs_grad_scaler("cuda", None)
