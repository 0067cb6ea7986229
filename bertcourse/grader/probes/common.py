"""What every chapter's probes share: the Case, the checker's Context, comparisons and property checks.

A probe turns a seeded random generator into :class:`Case`\\ s: a request for
the sandboxed worker and the value the reference implementation (from
:mod:`bertcourse.registry`, run here in the trusted checker) returns for the
same input, or, for a random function, a check of the properties every correct
answer has (``compare="check"``; a check may judge several calls together, so a
probe's cases are made afresh for each re-check and run in order).

Random items are checked by properties (invariants, and rates within five binomial
standard deviations) of the answer on inputs and seeds the checker picks, never one
random stream. Generators cannot cross the codec: the worker builds them from a seed
(``{"$torch_generator": seed}``, ``{"$random": seed}``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ... import hub, registry
from ...models.bert import BertConfig


@dataclass(frozen=True)
class Case:
    label: str
    request: dict
    expected: object
    compare: str = "equal"  # "equal" (plain data), "close" (arrays, nested in tuples/lists) or "check"
    atol: float = 1e-5
    rtol: float = 1e-5
    check: Callable[[object], str | None] | None = None  # compare="check": None when ``got`` has the properties


def checked(label: str, request: dict, check: Callable[[object], str | None]) -> Case:
    """A case judged by properties of the answer (random functions), not by one expected value."""
    return Case(label, request, None, compare="check", check=check)


class Context:
    """Shared, lazily built inputs of the probes (the checker's own vocabulary)."""

    def __init__(self):
        self._vocab = None

    @property
    def vocab(self) -> dict[str, int]:
        if self._vocab is None:
            self._vocab = dict(hub.load_tokenizer().get_vocab())
        return self._vocab


def reference_of(name: str):
    """The reference implementation of the graded item ``name`` (from the registry)."""
    return registry.item(name).load_reference()


# --- comparisons ---------------------------------------------------------------------------------------

def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        raise TypeError("an array where plain data was expected")
    return value


def _as_numpy(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, (list, tuple)):
        return [_as_numpy(v) for v in value]
    return value


def compare(case: Case, got) -> str | None:
    """None when ``got`` matches ``case.expected`` (or passes ``case.check``), else what differs (one line)."""
    if case.compare == "check":
        try:  # ``got`` is whatever the worker sent: a check that trips over it fails the case
            return case.check(got)
        except Exception as error:  # noqa: BLE001
            return f"unexpected result ({type(error).__name__}: {str(error)[:200]})"
    if case.compare == "equal":
        try:
            same = json.dumps(_plain(got)) == json.dumps(_plain(case.expected))
        except TypeError as error:
            return str(error)
        return None if same else f"expected {short(case.expected)}, got {short(got)}"
    return _close(_as_numpy(case.expected), got, case.atol, case.rtol)


def _close(expected, got, atol, rtol, where="") -> str | None:
    if isinstance(expected, list):
        if not isinstance(got, (list, tuple)) or len(got) != len(expected):
            return f"{where or 'result'}: expected {len(expected)} values, got {short(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            problem = _close(e, g, atol, rtol, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if not isinstance(got, np.ndarray):
        return f"{where or 'result'}: expected an array, got {short(got)}"
    import torch

    from bertcourse.grading import GradingError, check_close

    try:  # the notebook's own comparison (shape, dtype, NaN pattern, atol + rtol*|expected|), on the decoded arrays
        check_close(where or "result", torch.from_numpy(np.ascontiguousarray(got)),
                    torch.from_numpy(np.ascontiguousarray(expected)), atol=atol, rtol=rtol)
    except GradingError as error:
        return str(error)
    return None


def short(value, limit: int = 120) -> str:
    text = repr(value) if not isinstance(value, np.ndarray) else f"array{value.shape}"
    return text if len(text) <= limit else text[:limit] + "..."


Probe = Callable[[np.random.Generator, "Context"], list[Case]]


# --- modules built from a config -----------------------------------------------------------------------

def module_cases(item: str, configs, inputs, substitute=None, atol=1e-5, rtol=1e-4):
    reference_cls = reference_of(item)
    cases = []
    for overrides in configs:
        config = BertConfig.preset("tiny", **overrides)
        torch.manual_seed(1)
        reference = reference_cls(config).eval()
        state = {k: v.detach().numpy().copy() for k, v in reference.named_parameters()}
        config_fields = asdict(config)
        for args in inputs(config):
            with torch.no_grad():
                expected = reference(*(torch.as_tensor(a) if isinstance(a, np.ndarray) else a for a in args))
            cases.append(Case(f"{item}({', '.join(short(a, 30) for a in args)}) with {overrides}",
                              {"op": "module", "target": item, "config": config_fields, "state": state,
                               "args": list(args), "substitute": substitute or {}},
                              expected, compare="close", atol=atol, rtol=rtol))
    return cases


# --- property checks of random functions ---------------------------------------------------------------

def binomial_ok(observed: float, p: float, n: int, sigmas: float = 5.0) -> bool:
    return abs(observed - p) <= sigmas * math.sqrt(max(p * (1 - p), 1e-12) / max(n, 1)) + 1e-12


def array_of(got, what: str, shape: tuple, dtype=None) -> np.ndarray:
    """``got`` if it is an array of ``shape`` (and ``dtype``); else raises a ``Mismatch`` saying why not."""
    if not isinstance(got, np.ndarray):
        raise Mismatch(f"{what}: expected an array, got {short(got)}")
    if got.shape != tuple(shape) or (dtype is not None and got.dtype != np.dtype(dtype)):
        raise Mismatch(f"{what}: expected {tuple(shape)} {np.dtype(dtype) if dtype else ''}, "
                        f"got {got.shape} {got.dtype}")
    return got


class Mismatch(Exception):
    """A property that does not hold; its message is the case's problem."""


def property_check(check: Callable[[object], None]) -> Callable[[object], str | None]:
    def run(got):
        try:
            check(got)
        except Mismatch as mismatch:
            return str(mismatch)
        return None
    return run


def same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape \
            and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return type(b) is dict and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def seeded(name: str, request: Callable[[int], dict], seeds: tuple[int, int]) -> list[Case]:
    """Three calls: seed a, seed a again (the same answer), seed b (another answer: the seed is used).

    The worker's global random state moves on between the calls, so an answer that ignores the
    generator fails the second. Cases run in order; the first one's answer is kept for the others.
    """
    kept = {}

    def first(got):
        kept["first"] = got

    def again(got):
        return None if "first" in kept and same(got, kept["first"]) else \
            "the same seed gave a different result: draw every random number from the generator (rng) argument"

    def other(got):
        return "two different seeds gave the same result" if "first" in kept and same(got, kept["first"]) else None

    a, b = seeds
    return [checked(f"{name} with seed {a}", request(a), first),
            checked(f"{name} with seed {a} again", request(a), again),
            checked(f"{name} with seed {b}", request(b), other)]
