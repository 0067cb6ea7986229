"""Tests of bertcourse.training.precision: detection, the one resolver of autocast settings, the contexts."""

from __future__ import annotations

import contextlib

import pytest
import torch

from bertcourse.training import precision


def test_cpu_has_fast_bf16_is_detected():
    detected = precision.cpu_has_fast_bf16()
    assert type(detected) is bool
    assert detected == (bool(torch.cpu._is_amx_tile_supported()) or bool(torch.cpu._is_avx512_bf16_supported()))


def test_autocast_none_is_a_null_context():
    context = precision.autocast("cpu", dtype=None)
    assert isinstance(context, contextlib.nullcontext)
    with context:
        assert not torch.is_autocast_enabled("cpu")
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_autocast_forced_bf16_is_real():
    context = precision.autocast("cpu", dtype=torch.bfloat16)
    assert isinstance(context, torch.autocast)
    with context:
        assert torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    assert not torch.is_autocast_enabled("cpu")


@pytest.mark.parametrize("fast", [False, True])
def test_autocast_auto_follows_the_cpu(monkeypatch, fast):
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: fast)
    assert precision.autocast_dtype("cpu") == (torch.bfloat16 if fast else None)
    context = precision.autocast("cpu")
    assert isinstance(context, torch.autocast) == fast
    assert isinstance(context, contextlib.nullcontext) == (not fast)


def test_autocast_dtype_on_this_machine_matches_the_detection():
    expected = torch.bfloat16 if precision.cpu_has_fast_bf16() else None
    assert precision.autocast_dtype(torch.device("cpu")) == expected
    assert precision.autocast_dtype("meta") is None


def test_grad_scaler_only_for_cuda_fp16():
    assert precision.needs_grad_scaler("cuda", torch.float16)
    assert not precision.needs_grad_scaler("cuda", torch.bfloat16)
    assert not precision.needs_grad_scaler("cpu", torch.float16)
    assert not precision.needs_grad_scaler("cuda", None)


@pytest.mark.parametrize("setting, expected", [
    ("off", None), (None, None), ("bf16", torch.bfloat16), ("fp16", torch.float16),
    (torch.bfloat16, torch.bfloat16), (torch.float16, torch.float16),
])
def test_resolve_forced_settings(setting, expected):
    assert precision.resolve("cpu", setting) == expected


@pytest.mark.parametrize("fast", [False, True])
def test_resolve_auto_asks_the_device(monkeypatch, fast):
    monkeypatch.setattr(precision, "cpu_has_fast_bf16", lambda: fast)
    assert precision.resolve("cpu", "auto") == (torch.bfloat16 if fast else None)
    assert precision.resolve("meta", "auto") is None


@pytest.mark.parametrize("bad", ["fp8", "BF16", 16, torch.int64.__class__])
def test_resolve_names_the_settings_it_accepts(bad):
    with pytest.raises(ValueError, match="autocast setting must be"):
        precision.resolve("cpu", bad)


def test_dtype_name():
    assert precision.dtype_name(torch.bfloat16) == "bfloat16"
    assert precision.dtype_name(None) is None
