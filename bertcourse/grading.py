"""Assertions that teach: what visible and hidden tests call in the graded notebooks.

(The students' side; the instructor's grading pipeline is :mod:`bertcourse.grader`.)

Every check raises :class:`GradingError` (an AssertionError) with a message a
student can act on: which value, what was expected, what was given, and a
hint. The checks compare plain data (lists of ``str``, real ``torch.Tensor``)
and do not trust ``==`` of the object under test, so an object whose
``__eq__`` always answers True does not pass.

:func:`forbidden` fails a call that delegates to the implementation it is
asked to write (fused attention, a library tokenizer, the reference in this
package). :func:`substituted` lets a test run a student's class on top of the
reference version of the pieces it builds on, so one broken item does not
take the points of the next.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, MutableMapping

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode


class GradingError(AssertionError):
    """A check failed; the message says what to fix."""


def _fail(name: str, problem: str, hint: str | None = None) -> None:
    message = f"{name}: {problem}"
    if hint:
        message += f"\n  Hint: {hint}"
    raise GradingError(message)


def describe(value) -> str:
    """A short description of a value for error messages: type, and shape/dtype for tensors."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of length {len(value)}"
    return f"a {type(value).__name__}"


def check_tensor(name: str, got, *, shape=None, dtype=None, hint: str | None = None) -> None:
    """``got`` is a torch.Tensor, with ``shape`` (a tuple; None entries match any size) and ``dtype``."""
    if type(got) not in (torch.Tensor, torch.nn.Parameter):
        _fail(name, f"expected a torch.Tensor, got {describe(got)}", hint)
    if shape is not None:
        same = len(got.shape) == len(shape) and all(e is None or e == g for g, e in zip(got.shape, shape))
        if not same:
            wanted = tuple("any" if e is None else e for e in shape)
            _fail(name, f"expected shape {wanted}, got {tuple(got.shape)}", hint)
    if dtype is not None and got.dtype != dtype:
        _fail(name, f"expected dtype {dtype}, got {got.dtype}", hint)


def check_close(name: str, got, expected: torch.Tensor, *, atol: float = 1e-5, rtol: float = 1e-5,
                hint: str | None = None) -> None:
    """``got`` has ``expected``'s shape and dtype and matches it elementwise within atol + rtol*|expected|."""
    check_tensor(name, got, shape=tuple(expected.shape), dtype=expected.dtype, hint=hint)
    got64 = got.detach().to("cpu", torch.float64)
    expected64 = expected.detach().to("cpu", torch.float64)
    if got64.isnan().ne(expected64.isnan()).any():
        _fail(name, "NaN where the reference has a number (or the reverse)", hint)
    error = (got64 - expected64).abs().nan_to_num(0.0)
    excess = error - (atol + rtol * expected64.abs().nan_to_num(0.0))
    if excess.numel() and excess.max() > 0:
        worst = tuple(int(i) for i in torch.unravel_index(excess.argmax(), excess.shape))
        _fail(
            name,
            f"values differ from the reference: max abs error {error.max().item():.3g} "
            f"(tolerance {atol:g} + {rtol:g}*|expected|); worst at index {worst}: "
            f"got {got64[worst].item():.6g}, expected {expected64[worst].item():.6g}",
            hint,
        )


def _plain(value):
    """``value`` as plain JSON-able data, refusing objects that only pretend to be lists, str or ints."""
    if type(value) in (list, tuple):
        return [_plain(v) for v in value]
    if type(value) in (str, int, float, bool) or value is None:
        return value
    raise TypeError(type(value).__name__)


def check_equal(name: str, got, expected, hint: str | None = None) -> None:
    """``got`` equals ``expected`` as plain data (lists/tuples of str, int, float, bool, None)."""
    try:
        got_plain = _plain(got)
    except TypeError as error:
        _fail(name, f"expected plain Python data like {describe(expected)}, got a value containing a {error}", hint)
    if json.dumps(got_plain) != json.dumps(_plain(expected)):
        _fail(name, f"expected {expected!r}, got {got!r}", hint)


def check_unchanged(name: str, before: torch.Tensor, after: torch.Tensor) -> None:
    """An input tensor was not modified in place (``before`` is a clone taken before the call)."""
    if not torch.equal(before, after):
        _fail(name, "your function modified its input in place", "work on a copy, e.g. x.clone(), or use out-of-place ops")


class _ForbiddenTorchFunctions(TorchFunctionMode):
    def __init__(self, names: tuple[str, ...]):
        super().__init__()
        self.names = names
        self.called: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        label = getattr(func, "__name__", str(func))
        if any(n in label for n in self.names):
            self.called.append(label)
        return func(*args, **(kwargs or {}))


class _ForbiddenAtenOps(TorchDispatchMode):
    def __init__(self, names: tuple[str, ...]):
        super().__init__()
        self.names = names
        self.called: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        label = str(func)
        if any(n in label for n in self.names):
            self.called.append(label)
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def forbidden(name: str, *, torch_functions: Iterable[str] = (), modules: Iterable[str] = (),
              hint: str | None = None) -> Iterator[None]:
    """Fail if code run inside the block calls a forbidden implementation.

    ``torch_functions``: substrings of torch function or ATen op names (e.g.
    ``"scaled_dot_product"``), caught however they were imported.
    ``modules``: prefixes of Python modules (e.g. ``"transformers"``,
    ``"bertcourse.tokenization"``) whose functions must not be called.
    """
    function_names, module_names = tuple(torch_functions), tuple(modules)
    function_mode, aten_mode = _ForbiddenTorchFunctions(function_names), _ForbiddenAtenOps(function_names)
    called_modules: list[str] = []

    def profiler(frame, event, arg):
        if event == "call":
            module = frame.f_globals.get("__name__", "")
        elif event == "c_call":
            owner = getattr(arg, "__self__", None)
            module = getattr(arg, "__module__", None) or type(owner).__module__
        else:
            return
        if module and module.startswith(module_names):
            called_modules.append(f"{module}.{getattr(arg, '__name__', frame.f_code.co_name)}")

    previous = sys.getprofile()
    with contextlib.ExitStack() as stack:
        if function_names:
            stack.enter_context(function_mode)
            stack.enter_context(aten_mode)
        if module_names:
            sys.setprofile(profiler)
            stack.callback(sys.setprofile, previous)
        yield
    used = function_mode.called + aten_mode.called + called_modules
    if used:
        _fail(name, f"calls {used[0]}, the implementation you are asked to write yourself", hint)


@contextlib.contextmanager
def substituted(namespace: MutableMapping, **objects) -> Iterator[None]:
    """Temporarily bind ``objects`` in ``namespace`` (e.g. a notebook's ``globals()``), then restore it."""
    missing = object()
    saved = {key: namespace.get(key, missing) for key in objects}
    namespace.update(objects)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is missing:
                namespace.pop(key, None)
            else:
                namespace[key] = value


def check_module_layout(name: str, module, submodules: dict[str, type], hint: str | None = None) -> None:
    """``module`` is an nn.Module whose named children include ``submodules`` (name -> type)."""
    if not isinstance(module, torch.nn.Module):
        _fail(name, f"expected an nn.Module, got {describe(module)}", hint)
    for child, kind in submodules.items():
        found = getattr(module, child, None)
        if not isinstance(found, kind):
            _fail(name, f"expected a submodule `{child}` of type {kind.__name__}, got {describe(found)}",
                  hint or f"create it in __init__: self.{child} = {kind.__name__}(...)")


def check_defined_here(name: str, obj, forbidden_modules: tuple[str, ...] = ("bertcourse", "transformers")) -> None:
    """``obj`` was written in the notebook, not imported from (or derived from) a reference implementation."""
    module = getattr(obj, "__module__", "") or ""
    bases = [base.__module__ for base in getattr(obj, "__mro__", ())[1:]]
    if module.startswith(forbidden_modules) or any(b.startswith(forbidden_modules) for b in bases):
        _fail(name, f"is taken from {module or bases}, not written here",
              "write the implementation yourself in the answer cell")


def load_reference_weights(name: str, module, reference) -> None:
    """Copy ``reference``'s parameters into ``module``, whose parameters must have the same names and shapes.

    ``reference`` is an ``nn.Module`` or a mapping of parameter name to tensor (the re-check
    sends a state dict). Extra buffers in ``module`` (e.g. a ``position_ids`` buffer) are allowed;
    a parameter the reference lacks, or one it has under another name, is not.
    """
    own = dict(module.named_parameters())
    expected = dict(reference) if isinstance(reference, Mapping) else dict(reference.named_parameters())
    for key, tensor in expected.items():
        if key not in own:
            _fail(name, f"has no parameter `{key}` (the reference's names: {sorted(expected)})",
                  "keep the submodule names the docstring gives")
        if own[key].shape != tensor.shape:
            _fail(name, f"parameter `{key}` has shape {tuple(own[key].shape)}, expected {tuple(tensor.shape)}")
    extra = sorted(set(own) - set(expected))
    if extra:
        _fail(name, f"has parameters the reference does not have: {extra}",
              "BERT's modules have exactly the submodules the docstring lists")
    with torch.no_grad():
        for key, tensor in expected.items():
            own[key].copy_(tensor)
