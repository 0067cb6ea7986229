"""Tests of bertcourse.grading: checks that cannot be fooled and say what is wrong."""

from __future__ import annotations

import math
import sys

import pytest
import torch
import torch.nn.functional as F
from torch.nn.functional import scaled_dot_product_attention as aliased_sdpa

import bertcourse.models.bert
from bertcourse.grading import (
    GradingError,
    check_close,
    check_equal,
    check_tensor,
    check_unchanged,
    forbidden,
    substituted,
)


class AlwaysEqual:
    """Pretends to be anything: equal to everything, with a plausible shape and dtype."""

    shape = (2, 3)
    dtype = torch.float32

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__


class SneakyStr(str):
    def __eq__(self, other):
        return True

    __hash__ = str.__hash__


# --------------------------------------------------------------------------- check_close / check_tensor

def test_check_close_accepts_close_values():
    expected = torch.randn(2, 3)
    check_close("x", expected + 1e-7, expected)
    check_close("x", expected.clone().requires_grad_(), expected)
    check_close("x", torch.nn.Parameter(expected.clone()), expected)


def test_check_close_reports_the_shape():
    with pytest.raises(GradingError, match=r"^y: expected shape \(2, 3\), got \(3, 2\)"):
        check_close("y", torch.zeros(3, 2), torch.zeros(2, 3))


def test_check_close_reports_the_dtype():
    with pytest.raises(GradingError, match=r"expected dtype torch.float32, got torch.float64"):
        check_close("y", torch.zeros(2, 3, dtype=torch.float64), torch.zeros(2, 3))


def test_check_close_reports_the_max_abs_error_and_where():
    expected = torch.zeros(2, 3)
    got = expected.clone()
    got[1, 2] = 0.5
    got[0, 0] = 0.25
    with pytest.raises(GradingError) as info:
        check_close("scores", got, expected, hint="scale by sqrt(d)")
    message = str(info.value)
    assert message.startswith("scores: ")
    assert "max abs error 0.5" in message and "(1, 2)" in message and "got 0.5, expected 0" in message
    assert "Hint: scale by sqrt(d)" in message


def test_check_close_tolerances():
    expected = torch.full((4,), 100.0)
    check_close("x", expected + 5e-4, expected, atol=0.0, rtol=1e-5)  # 5e-4 <= 1e-5 * |100|
    with pytest.raises(GradingError, match="max abs error"):
        check_close("x", expected + 2e-3, expected, atol=0.0, rtol=1e-5)
    with pytest.raises(GradingError, match="max abs error"):
        check_close("x", torch.tensor([1e-4]), torch.tensor([0.0]))


def test_check_close_catches_nan():
    with pytest.raises(GradingError, match="NaN"):
        check_close("x", torch.tensor([float("nan"), 1.0]), torch.tensor([0.0, 1.0]))
    check_close("x", torch.tensor([float("nan"), 1.0]), torch.tensor([float("nan"), 1.0]))


@pytest.mark.parametrize("got", [[[0.0] * 3] * 2, AlwaysEqual(), 0.0, None], ids=["list", "always-equal", "float", "none"])
def test_check_close_rejects_non_tensors(got):
    with pytest.raises(GradingError, match=r"expected a torch.Tensor, got a"):
        check_close("x", got, torch.zeros(2, 3))


def test_check_close_rejects_a_numpy_array():
    with pytest.raises(GradingError, match="ndarray"):
        check_close("x", torch.zeros(2, 3).numpy(), torch.zeros(2, 3))


def test_check_close_rejects_a_tensor_subclass_that_hides_its_values():
    class Liar(torch.Tensor):
        def __eq__(self, other):
            return True

    with pytest.raises(GradingError, match="expected a torch.Tensor"):
        check_close("x", torch.ones(2, 3).as_subclass(Liar), torch.zeros(2, 3))


def test_check_tensor_accepts_wildcard_dimensions():
    check_tensor("x", torch.zeros(4, 7), shape=(None, 7), dtype=torch.float32)
    with pytest.raises(GradingError, match=r"expected shape \('any', 8\), got \(4, 7\)"):
        check_tensor("x", torch.zeros(4, 7), shape=(None, 8))


# --------------------------------------------------------------------------- check_equal

def test_check_equal_accepts_plain_equal_data():
    check_equal("tokens", ["[CLS]", "a", "[SEP]"], ["[CLS]", "a", "[SEP]"])
    check_equal("pair", (["a"], [0, 0]), (["a"], [0, 0]))


@pytest.mark.parametrize("got", [["[CLS]", "b"], ["[CLS]"], [0, 1], "[CLS] a"], ids=["value", "length", "type", "str"])
def test_check_equal_rejects_different_data(got):
    with pytest.raises(GradingError, match=r"tokens: expected \['\[CLS\]', 'a'\], got"):
        check_equal("tokens", got, ["[CLS]", "a"])


def test_check_equal_rejects_ints_for_bools():
    with pytest.raises(GradingError):
        check_equal("flags", [1, 0], [True, False])


def test_check_equal_rejects_an_always_equal_object():
    assert AlwaysEqual() == ["a"]  # the trick this check must not fall for
    with pytest.raises(GradingError, match="plain Python data.*AlwaysEqual"):
        check_equal("tokens", AlwaysEqual(), ["a"])
    with pytest.raises(GradingError, match="AlwaysEqual"):
        check_equal("tokens", [AlwaysEqual()], ["a"])


def test_check_equal_rejects_a_str_subclass():
    assert SneakyStr("x") == "a"
    with pytest.raises(GradingError, match="SneakyStr"):
        check_equal("tokens", [SneakyStr("x")], ["a"])
    with pytest.raises(GradingError, match="SneakyStr"):
        check_equal("token", SneakyStr("a"), "a")


# --------------------------------------------------------------------------- check_unchanged

def test_check_unchanged():
    x = torch.randn(3)
    before = x.clone()
    check_unchanged("x", before, x)
    x.add_(1)
    with pytest.raises(GradingError, match="modified its input in place"):
        check_unchanged("x", before, x)


# --------------------------------------------------------------------------- forbidden

def _qkv():
    generator = torch.Generator().manual_seed(0)
    return tuple(torch.randn(1, 2, 4, 5, generator=generator) for _ in range(3))  # (B, nh, T, hd)


def manual_attention(query, key, value):
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.size(-1))
    return scores.softmax(-1) @ value


ATTENTION_CALLS = {
    "F": lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
    "alias": lambda q, k, v: aliased_sdpa(q, k, v),
    "torch._C._nn": lambda q, k, v: torch._C._nn.scaled_dot_product_attention(q, k, v),
    "aten": lambda q, k, v: torch.ops.aten.scaled_dot_product_attention(q, k, v),
    "aten-cpu-kernel": lambda q, k, v: torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v)[0],
    "aten-math": lambda q, k, v: torch.ops.aten._scaled_dot_product_attention_math(q, k, v)[0],
}


@pytest.mark.parametrize("call", list(ATTENTION_CALLS))
def test_forbidden_catches_fused_attention_however_imported(call):
    with pytest.raises(GradingError, match=r"^attention: calls .*scaled_dot_product.*yourself") as info:
        with forbidden("attention", torch_functions=("scaled_dot_product",), hint="write softmax(QK^T/sqrt(d))V"):
            ATTENTION_CALLS[call](*_qkv())
    assert "Hint: write softmax" in str(info.value)


def test_forbidden_allows_a_manual_implementation():
    query, key, value = _qkv()
    with forbidden("attention", torch_functions=("scaled_dot_product",), modules=("bertcourse.models.bert",)):
        context = manual_attention(query, key, value)
    check_close("context", context, F.scaled_dot_product_attention(query, key, value))


def test_forbidden_catches_calls_into_a_forbidden_module():
    query, key, value = _qkv()
    with pytest.raises(GradingError, match=r"calls bertcourse\.models\.bert\.scaled_dot_product_attention"):
        with forbidden("attention", modules=("bertcourse.models.bert",)):
            bertcourse.models.bert.scaled_dot_product_attention(query, key, value)


def test_forbidden_catches_the_library_tokenizer(tokenizer):
    with pytest.raises(GradingError, match=r"calls (transformers|tokenizers)"):
        with forbidden("wordpiece", modules=("transformers", "tokenizers")):
            tokenizer.tokenize("unaffable")
    with pytest.raises(GradingError, match=r"calls tokenizers"):
        with forbidden("wordpiece", modules=("tokenizers",)):
            tokenizer.backend_tokenizer.model.tokenize("unaffable")


def test_forbidden_does_not_flag_other_modules():
    from bertcourse.tokenization import wordpiece_tokenize

    with forbidden("model", modules=("bertcourse.models.bert", "transformers")):
        assert wordpiece_tokenize("unwanted", {"un", "##want", "##ed"}) == ["un", "##want", "##ed"]


def _dummy_profiler(frame, event, arg):
    return None


@pytest.mark.parametrize("outcome", ["clean", "forbidden-call", "exception"])
def test_forbidden_restores_the_profiler_and_modes(outcome):
    previous = sys.getprofile()
    sys.setprofile(_dummy_profiler)
    try:
        if outcome == "clean":
            with forbidden("x", torch_functions=("scaled_dot_product",), modules=("bertcourse.models.bert",)):
                manual_attention(*_qkv())
        elif outcome == "forbidden-call":
            with pytest.raises(GradingError):
                with forbidden("x", torch_functions=("scaled_dot_product",), modules=("bertcourse.models.bert",)):
                    bertcourse.models.bert.scaled_dot_product_attention(*_qkv())
        else:
            with pytest.raises(KeyError, match="student bug"):
                with forbidden("x", torch_functions=("scaled_dot_product",), modules=("bertcourse.models.bert",)):
                    raise KeyError("student bug")
        restored = sys.getprofile()
    finally:
        sys.setprofile(previous)
    assert restored is _dummy_profiler
    # No torch function/dispatch mode is left behind: a forbidden op now runs unobserved.
    assert not torch._C._is_torch_function_mode_enabled()
    with forbidden("later", modules=("nothing.here",)):
        F.scaled_dot_product_attention(*_qkv())


# --------------------------------------------------------------------------- substituted

def test_substituted_binds_and_restores():
    namespace = {"a": 1, "keep": "k"}
    with substituted(namespace, a=2, b=3):
        assert namespace == {"a": 2, "keep": "k", "b": 3}
    assert namespace == {"a": 1, "keep": "k"}


def test_substituted_restores_on_exception():
    namespace = {"a": 1}
    with pytest.raises(RuntimeError, match="boom"):
        with substituted(namespace, a=2, b=3):
            namespace["a"] = 99  # even a rebinding inside the block is undone
            raise RuntimeError("boom")
    assert namespace == {"a": 1}
