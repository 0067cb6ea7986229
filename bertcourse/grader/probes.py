"""What the re-check feeds each graded item, and how it compares the answer.

A probe turns a seeded random generator into :class:`Case`\\ s: a request for
the sandboxed worker and the value the reference implementation (from
:mod:`bertcourse.registry`, run here in the trusted checker) returns for the
same input. Items without a probe (written answers, end-to-end checks) are not
re-checked themselves; :data:`DEPENDS` lowers an end-to-end check whose parts
failed their re-check. A new chapter adds its probes to :data:`PROBES`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Case:
    label: str
    request: dict
    expected: object
    compare: str = "equal"  # "equal" (plain data) or "close" (arrays, nested in tuples/lists)
    atol: float = 1e-5
    rtol: float = 1e-5


class Context:
    """Shared, lazily built inputs of the probes (the checker's own vocabulary)."""

    def __init__(self):
        self._vocab = None

    @property
    def vocab(self) -> dict[str, int]:
        if self._vocab is None:
            from bertcourse import hub

            self._vocab = dict(hub.load_tokenizer().get_vocab())
        return self._vocab


def _reference(name: str):
    from bertcourse import registry

    return registry.item(name).load_reference()


# --- comparisons ---------------------------------------------------------------------------------------

def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        raise TypeError("an array where plain data was expected")
    return value


def _as_numpy(value):
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, (list, tuple)):
        return [_as_numpy(v) for v in value]
    return value


def compare(case: Case, got) -> str | None:
    """None when ``got`` matches ``case.expected``, else what differs (one line)."""
    if case.compare == "equal":
        try:
            same = json.dumps(_plain(got)) == json.dumps(_plain(case.expected))
        except TypeError as error:
            return str(error)
        return None if same else f"expected {_short(case.expected)}, got {_short(got)}"
    return _close(_as_numpy(case.expected), got, case.atol, case.rtol)


def _close(expected, got, atol, rtol, where="") -> str | None:
    if isinstance(expected, list):
        if not isinstance(got, (list, tuple)) or len(got) != len(expected):
            return f"{where or 'result'}: expected {len(expected)} values, got {_short(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            problem = _close(e, g, atol, rtol, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if not isinstance(got, np.ndarray):
        return f"{where or 'result'}: expected an array, got {_short(got)}"
    if got.shape != expected.shape or got.dtype != expected.dtype:
        return f"{where or 'result'}: expected {expected.shape} {expected.dtype}, got {got.shape} {got.dtype}"
    e, g = expected.astype(np.float64), got.astype(np.float64)
    if not np.array_equal(np.isnan(e), np.isnan(g)):
        return f"{where or 'result'}: NaN pattern differs"
    error = np.nan_to_num(np.abs(g - e)) - (atol + rtol * np.nan_to_num(np.abs(e)))
    if error.size and error.max() > 0:
        return f"{where or 'result'}: max abs error {np.nan_to_num(np.abs(g - e)).max():.3g}"
    return None


def _short(value, limit: int = 120) -> str:
    text = repr(value) if not isinstance(value, np.ndarray) else f"array{value.shape}"
    return text if len(text) <= limit else text[:limit] + "..."


# --- Chapter 1 -----------------------------------------------------------------------------------------

def _wordpiece(rng: np.random.Generator, context: Context) -> list[Case]:
    reference = _reference("wordpiece_tokenize")
    vocab = context.vocab
    whole = sorted(w for w in vocab if w.isalpha() and not w.startswith("##"))
    suffixes = sorted(w[2:] for w in vocab if w.startswith("##") and w[2:].isalpha())
    words = [str(w) for w in rng.choice(whole, 60)]
    words += ["".join(rng.choice(suffixes, rng.integers(2, 5))) for _ in range(60)]
    words += ["", "a", "##", "unaffable", "x" * 101, "ab\ue000", str(rng.choice(whole)) + "qx"]
    return [Case(f"wordpiece_tokenize({w!r}, vocab)",
                 {"op": "call", "target": "wordpiece_tokenize", "args": [w, {"$ref": "probe_vocab"}]},
                 reference(w, vocab)) for w in words]


def _build_inputs(rng: np.random.Generator, context: Context) -> list[Case]:
    reference = _reference("build_inputs")
    words = [f"w{i}" for i in range(50)]
    cases = []
    while len(cases) < 80:
        a = [str(w) for w in rng.choice(words, rng.integers(0, 10))]
        b = [str(w) for w in rng.choice(words, rng.integers(0, 10))] if rng.random() < 0.7 else None
        max_length = int(rng.integers(3, 25)) if rng.random() < 0.6 else None
        if max_length is not None and not _unambiguous(len(a), None if b is None else len(b), max_length):
            continue  # BERT's tie rule may shorten either segment: the hidden tests accept both
        cases.append(Case(f"build_inputs({len(a)} tokens, {None if b is None else len(b)} tokens, {max_length})",
                          {"op": "call", "target": "build_inputs", "args": [a, b, max_length]},
                          reference(list(a), None if b is None else list(b), max_length)))
    return cases


def _unambiguous(len_a: int, len_b: int | None, max_length: int) -> bool:
    budget = max_length - (2 if len_b is None else 3)
    if budget < 0:
        return False
    a, b = len_a, len_b or 0
    while a + b > budget:
        if a == b:
            return False
        if a > b:
            a -= 1
        else:
            b -= 1
    return True


def _attention(rng: np.random.Generator, context: Context) -> list[Case]:
    import torch

    reference = _reference("scaled_dot_product_attention")
    cases = []
    for lead, lq, lk, d, dv in [((), 2, 3, 4, 4), ((2,), 3, 5, 8, 6), ((2, 3), 4, 4, 16, 8)]:
        for with_mask in (False, True):
            q = rng.standard_normal((*lead, lq, d)).astype(np.float32) * 2
            k = rng.standard_normal((*lead, lk, d)).astype(np.float32) * 2
            v = rng.standard_normal((*lead, lk, dv)).astype(np.float32)
            args = [q, k, v]
            if with_mask:
                keep = rng.random((*lead, lq, lk)) < 0.6
                keep[..., 0] = True
                args.append(keep)
            with torch.no_grad():
                expected = reference(*(torch.as_tensor(a) for a in args))
            cases.append(Case(f"scaled_dot_product_attention{tuple(q.shape)}{' masked' if with_mask else ''}",
                              {"op": "call", "target": "scaled_dot_product_attention", "args": args},
                              expected, compare="close"))
    return cases


def _module_cases(item: str, configs, inputs, substitute=None, atol=1e-5, rtol=1e-4):
    import torch

    from bertcourse.model import BertConfig

    reference_cls = _reference(item)
    cases = []
    for overrides in configs:
        config = BertConfig.preset("tiny", **overrides)
        torch.manual_seed(1)
        reference = reference_cls(config).eval()
        state = {k: v.detach().numpy().copy() for k, v in reference.named_parameters()}
        for args in inputs(config):
            with torch.no_grad():
                expected = reference(*(torch.as_tensor(a) if isinstance(a, np.ndarray) else a for a in args))
            from dataclasses import asdict

            cases.append(Case(f"{item}({', '.join(_short(a, 30) for a in args)}) with {overrides}",
                              {"op": "module", "target": item, "config": asdict(config), "state": state,
                               "args": list(args), "substitute": substitute or {}},
                              expected, compare="close", atol=atol, rtol=rtol))
    return cases


def _padding_mask(rng, batch, seq):
    lengths = rng.integers(1, seq + 1, batch)
    lengths[0] = seq
    return (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int64)


def _self_attention(rng, context):
    def inputs(config):
        hidden = rng.standard_normal((3, 6, config.hidden_size)).astype(np.float32)
        return [[hidden], [hidden, _padding_mask(rng, 3, 6)]]
    return _module_cases("BertSelfAttention", [{}, {"num_attention_heads": 4}], inputs)


def _embeddings(rng, context):
    def inputs(config):
        ids = rng.integers(0, config.vocab_size, (2, 7))
        types = rng.integers(0, config.type_vocab_size, (2, 7))
        return [[ids, types], [ids]]
    return _module_cases("BertEmbeddings", [{}, {"layer_norm_eps": 0.5}], inputs)


def _layer(rng, context):
    def inputs(config):
        hidden = (rng.standard_normal((2, 5, config.hidden_size)) * 3).astype(np.float32)
        return [[hidden, _padding_mask(rng, 2, 5)]]
    # on the reference attention, as the hidden tests do: one mistake costs one item
    return _module_cases("BertLayer", [{}, {"layer_norm_eps": 0.3}], inputs,
                         substitute={"BertSelfAttention": "bertcourse.model:BertSelfAttention"})


Probe = Callable[[np.random.Generator, Context], list[Case]]

PROBES: dict[str, Probe] = {
    "wordpiece_tokenize": _wordpiece,
    "build_inputs": _build_inputs,
    "scaled_dot_product_attention": _attention,
    "BertSelfAttention": _self_attention,
    "BertEmbeddings": _embeddings,
    "BertLayer": _layer,
}

# An end-to-end check passes only if its parts are right: it is lowered when one of them fails.
DEPENDS: dict[str, tuple[str, ...]] = {
    "encoder_matches_transformers": ("BertSelfAttention", "BertEmbeddings", "BertLayer"),
}

# Values the worker binds before the calls (referenced as {"$ref": name}).
def bindings(items: list[str], context: Context) -> dict[str, object]:
    return {"probe_vocab": context.vocab} if "wordpiece_tokenize" in items else {}

