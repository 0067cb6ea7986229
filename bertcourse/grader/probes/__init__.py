"""What the re-check feeds each graded item, and how it compares the answer.

A probe turns a seeded random generator into :class:`Case`\\ s: a request for
the sandboxed worker and the value the reference implementation (from
:mod:`bertcourse.registry`, run here in the trusted checker) returns for the
same input, or, for a random function, a check of the properties every correct
answer has (``compare="check"``; a check may judge several calls together, so a
probe's cases are made afresh for each re-check and run in order). Items without
a probe (written answers, end-to-end checks) are not re-checked themselves;
:data:`DEPENDS` lowers an end-to-end check whose parts failed their re-check.
A new chapter adds its probes to :data:`PROBES`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from ..masking import word_positions


@dataclass(frozen=True)
class Case:
    label: str
    request: dict
    expected: object
    compare: str = "equal"  # "equal" (plain data), "close" (arrays, nested in tuples/lists) or "check"
    atol: float = 1e-5
    rtol: float = 1e-5
    check: Callable[[object], str | None] | None = None  # compare="check": None when ``got`` has the properties


def _checked(label: str, request: dict, check: Callable[[object], str | None]) -> Case:
    """A case judged by properties of the answer (random functions), not by one expected value."""
    return Case(label, request, None, compare="check", check=check)


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
        config_fields = asdict(config)
        for args in inputs(config):
            with torch.no_grad():
                expected = reference(*(torch.as_tensor(a) if isinstance(a, np.ndarray) else a for a in args))
            cases.append(Case(f"{item}({', '.join(_short(a, 30) for a in args)}) with {overrides}",
                              {"op": "module", "target": item, "config": config_fields, "state": state,
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


# --- Chapter 2 -----------------------------------------------------------------------------------------
# Five of these items are random: a correct answer may draw its numbers in any order, so their cases
# check properties (invariants, and rates within five binomial standard deviations) of the answer on
# inputs and seeds the checker picks, never one random stream. Generators cannot cross the codec: the
# worker builds them from a seed ({"$torch_generator": seed}, {"$random": seed}).

def _binomial_ok(observed: float, p: float, n: int, sigmas: float = 5.0) -> bool:
    return abs(observed - p) <= sigmas * math.sqrt(max(p * (1 - p), 1e-12) / max(n, 1)) + 1e-12


def _array(got, what: str, shape: tuple, dtype=None) -> np.ndarray:
    """``got`` if it is an array of ``shape`` (and ``dtype``); else raises a ``_Mismatch`` saying why not."""
    if not isinstance(got, np.ndarray):
        raise _Mismatch(f"{what}: expected an array, got {_short(got)}")
    if got.shape != tuple(shape) or (dtype is not None and got.dtype != np.dtype(dtype)):
        raise _Mismatch(f"{what}: expected {tuple(shape)} {np.dtype(dtype) if dtype else ''}, "
                        f"got {got.shape} {got.dtype}")
    return got


class _Mismatch(Exception):
    """A property that does not hold; its message is the case's problem."""


def _property(check: Callable[[object], None]) -> Callable[[object], str | None]:
    def run(got):
        try:
            check(got)
        except _Mismatch as mismatch:
            return str(mismatch)
        return None
    return run


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape \
            and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return type(b) is dict and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _seeded(name: str, request: Callable[[int], dict], seeds: tuple[int, int]) -> list[Case]:
    """Three calls: seed a, seed a again (the same answer), seed b (another answer: the seed is used).

    The worker's global random state moves on between the calls, so an answer that ignores the
    generator fails the second. Cases run in order; the first one's answer is kept for the others.
    """
    kept = {}

    def first(got):
        kept["first"] = got

    def again(got):
        return None if "first" in kept and _same(got, kept["first"]) else \
            "the same seed gave a different result: draw every random number from the generator (rng) argument"

    def other(got):
        return "two different seeds gave the same result" if "first" in kept and _same(got, kept["first"]) else None

    a, b = seeds
    return [_checked(f"{name} with seed {a}", request(a), first),
            _checked(f"{name} with seed {a} again", request(a), again),
            _checked(f"{name} with seed {b}", request(b), other)]


MASK_ID, VOCAB_SIZE = 103, 30522  # bert-base-uncased's; any ids do


def _masking_batch(rng: np.random.Generator, rows: int, seq: int):
    """Ids away from [MASK], [CLS] first, [SEP] and padding (id 0) at the end of each row."""
    ids = rng.integers(1000, VOCAB_SIZE, (rows, seq))
    lengths = rng.integers(2, seq + 1, rows)
    positions = np.arange(seq)[None, :]
    special = (positions == 0) | (positions >= lengths[:, None] - 1)
    ids[special] = 0
    return ids, special


def _mask_tokens(rng: np.random.Generator, context: Context) -> list[Case]:
    def call(ids, special, vocab, mask_id, p, seed):
        return {"op": "call", "target": "mask_tokens", "return_args": True,
                "args": [ids, special, mask_id, vocab, p, {"$torch_generator": seed}]}

    def outputs(got, ids, special):
        if not isinstance(got, dict) or set(got) != {"result", "args"}:
            raise _Mismatch(f"unexpected reply {_short(got)}")
        result, after = got["result"], got["args"]
        if not isinstance(result, (list, tuple)) or len(result) != 2:
            raise _Mismatch(f"expected (masked_input_ids, labels), got {_short(result)}")
        masked = _array(result[0], "masked_input_ids", ids.shape, ids.dtype)
        labels = _array(result[1], "labels", ids.shape, ids.dtype)
        if len(after) != 2 or not _same(after[0], ids) or not _same(after[1], special):
            raise _Mismatch("input_ids or special_tokens_mask was modified in place")
        selected = labels != -100
        if selected[special.astype(bool)].any():
            raise _Mismatch("a special token was selected")
        if not np.array_equal(labels[selected], ids[selected]):
            raise _Mismatch("labels must be the original ids at the selected positions (and -100 elsewhere)")
        if not np.array_equal(masked[~selected], ids[~selected]):
            raise _Mismatch("a position that is not selected changed")
        return masked, labels, selected

    def statistics(ids, special, p):
        def check(got):
            masked, labels, selected = outputs(got, ids, special)
            candidates, n = int((~special.astype(bool)).sum()), int(selected.sum())
            if not _binomial_ok(n / candidates, p, candidates):
                raise _Mismatch(f"mlm_probability={p}: {n / candidates:.2%} of the non-special tokens selected")
            new, old = masked[selected], ids[selected]
            if ((new < 0) | (new >= VOCAB_SIZE)).any():
                raise _Mismatch("a replacement id outside [0, vocab_size)")
            shares = {"[MASK]": (new == MASK_ID).mean(), "a random id": ((new != old) & (new != MASK_ID)).mean(),
                      "unchanged": (new == old).mean()}
            for outcome, expected in (("[MASK]", 0.8), ("a random id", 0.1), ("unchanged", 0.1)):
                if not _binomial_ok(float(shares[outcome]), expected, n):
                    raise _Mismatch(f"{shares[outcome]:.2%} of the selected tokens became {outcome}, "
                                    f"expected {expected:.0%}")
        return _property(check)

    cases = []
    for rows, seq, p in ((16, 64, 0.5), (64, 512, 0.15), (64, 512, 0.4)):
        ids, special = _masking_batch(rng, rows, seq)
        for given in ((special,) if rows > 16 else (special, special.astype(np.int64))):
            cases.append(_checked(f"mask_tokens({rows}x{seq}, special as {given.dtype}, {p})",
                                  call(ids, given, VOCAB_SIZE, MASK_ID, p, int(rng.integers(2**31))),
                                  statistics(ids, given, p)))

    # the random ids are uniform over [0, vocab_size): a chi-square over a small vocabulary
    uniform_ids, nothing_special = np.full((200, 500), 7, dtype=np.int64), np.zeros((200, 500), dtype=bool)

    def uniform(got):
        masked, _, _ = outputs(got, uniform_ids, nothing_special)
        replaced = masked[(masked != 7) & (masked != 49)]
        if ((replaced < 0) | (replaced >= 50)).any() or replaced.size == 0:
            raise _Mismatch("random ids must lie in [0, vocab_size)")
        counts = np.bincount(replaced, minlength=50)[[i for i in range(50) if i not in (7, 49)]].astype(float)
        expected = counts.sum() / 48
        chi2 = float(((counts - expected) ** 2 / expected).sum())
        if chi2 >= 47 + 5 * math.sqrt(2 * 47):
            raise _Mismatch(f"the random ids are not uniform over [0, vocab_size): chi-square {chi2:.0f} on 47 dof")
    cases.append(_checked("mask_tokens(vocab_size=50, mlm_probability=1.0): uniform random ids",
                          call(uniform_ids, nothing_special, 50, 49, 1.0, int(rng.integers(2**31))),
                          _property(uniform)))

    # edge cases: an all-special row with probability 1, and probability 0
    edge_ids, edge_special = _masking_batch(rng, 4, 32)
    edge_special[2] = True

    def everything(got):
        _, labels, _ = outputs(got, edge_ids, edge_special)
        if not np.array_equal(labels[~edge_special], edge_ids[~edge_special]):
            raise _Mismatch("with mlm_probability=1 every non-special token is selected")

    def nothing(got):
        masked, labels, _ = outputs(got, edge_ids, edge_special)
        if not (labels == -100).all() or not np.array_equal(masked, edge_ids):
            raise _Mismatch("with mlm_probability=0 nothing is selected")
    cases.append(_checked("mask_tokens(mlm_probability=1.0, an all-special row)",
                          call(edge_ids, edge_special, VOCAB_SIZE, MASK_ID, 1.0, 7), _property(everything)))
    cases.append(_checked("mask_tokens(mlm_probability=0.0)",
                          call(edge_ids, edge_special, VOCAB_SIZE, MASK_ID, 0.0, 7), _property(nothing)))

    ids, special = _masking_batch(rng, 8, 64)
    cases += _seeded("mask_tokens", lambda seed: call(ids, special, VOCAB_SIZE, MASK_ID, 0.3, seed), (11, 12))
    return cases


def _whole_word_mask(rng: np.random.Generator, context: Context) -> list[Case]:
    # a long sentence pair: words of 1 to 3 sub-tokens; the word ids restart in the second segment
    segments = [[int(n) for n in rng.integers(1, 4, 1500)] for _ in range(2)]
    word_ids = [None]
    for pieces in segments:
        word_ids += [w for w, n in enumerate(pieces) for _ in range(n)] + [None]
    words = word_positions(word_ids)
    second = len(segments[0])  # words[second + k] is word k of segment B, words[k] word k of segment A
    special = np.array([w is None for w in word_ids])

    def call(ids, p, seed):
        return {"op": "call", "target": "whole_word_mask", "args": [ids, p, {"$torch_generator": seed}]}

    def mask_of(got, n):
        return _array(got, "whole_word_mask(...)", (n,), np.bool_)

    def statistics(p):
        def check(got):
            mask = mask_of(got, len(word_ids))
            if mask[special].any():
                raise _Mismatch("a special token (word id None) was selected")
            chosen = np.array([mask[positions].any() for positions in words])
            partly = [k for k, positions in enumerate(words) if chosen[k] and not mask[positions].all()]
            if partly:
                raise _Mismatch(f"a word (tokens {words[partly[0]]}) was only partly selected")
            word_rate = chosen.mean()
            token_rate = mask.sum() / (~special).sum()
            slack = 5 * math.sqrt(p * (1 - p) / len(words)) + 0.02
            if abs(word_rate - p) >= slack and abs(token_rate - p) >= slack:
                raise _Mismatch(f"mlm_probability={p}: {word_rate:.1%} of the words ({token_rate:.1%} of the "
                                "tokens) selected")
            third = len(words) // 3
            early, late = chosen[:third].mean(), chosen[-third:].mean()
            if abs(early - late) >= 5 * math.sqrt(2 * p / third) + 0.03:
                raise _Mismatch(f"the first words were selected {early:.1%} of the time, the last {late:.1%}")
            if p == 0.5:  # word k of segment A and word k of segment B are different words
                agree = (chosen[:second] == chosen[second:]).mean()
                if agree >= 0.5 + 5 * math.sqrt(0.25 / second) + 0.05:
                    raise _Mismatch(f"words with the same id in the two segments agree {agree:.0%} of the time: "
                                    "a word is a run of consecutive tokens with the same id")
        return _property(check)

    cases = [_checked(f"whole_word_mask({len(word_ids)} tokens, {p})", call(word_ids, p, int(rng.integers(2**31))),
                      statistics(p)) for p in (0.15, 0.4, 0.5)]
    for ids, p, expected in ((word_ids, 1.0, [w is not None for w in word_ids]),
                             (word_ids, 0.0, [False] * len(word_ids)),
                             ([None, None], 1.0, [False, False]), ([], 0.5, [])):
        def exact(got, expected=expected):
            if mask_of(got, len(expected)).tolist() != expected:
                raise _Mismatch("with mlm_probability 1 every word is selected (special tokens never), with 0 none")
        cases.append(_checked(f"whole_word_mask({len(ids)} tokens, {p})", call(ids, p, 3), _property(exact)))
    cases += _seeded("whole_word_mask", lambda seed: call(word_ids, 0.3, seed), (5, 6))
    return cases


def _span_runs(mask: np.ndarray) -> list[int]:
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return (edges[1::2] - edges[::2]).tolist()


def _span_mask(rng: np.random.Generator, context: Context) -> list[Case]:
    def call(seq_len, p, seed, geometric_p=0.2, max_span_length=10):
        return {"op": "call", "target": "span_mask", "args": [seq_len, p],
                "kwargs": {"geometric_p": geometric_p, "max_span_length": max_span_length,
                           "generator": {"$torch_generator": seed}}}

    def budget(seq_len, p, max_span_length=10):
        # the docstring's exact ceil(p * T), or a last span that overflows it (at most max_span_length - 1)
        def check(got):
            count = int(_array(got, f"span_mask({seq_len}, {p})", (seq_len,), np.bool_).sum())
            low, high = math.floor(round(p * seq_len, 9)), math.ceil(round(p * seq_len, 9)) + max_span_length - 1
            if not low <= count <= min(seq_len, high):
                raise _Mismatch(f"span_mask({seq_len}, {p}) selected {count} positions; the budget is "
                                f"ceil({p} * {seq_len}) = {math.ceil(round(p * seq_len, 9))}")
        return _property(check)

    cases = [_checked(f"span_mask({n}, {p}) draw {k}", call(n, p, int(rng.integers(2**31))), budget(n, p))
             for n, p in ((100, 0.15), (512, 0.15), (64, 0.3), (37, 0.5), (10, 0.2), (64, 1.0)) for k in range(4)]

    # span lengths: on long sequences with few spans, the runs of selected positions are the spans;
    # DRAWS calls (about 5000 spans) are judged together by the last one, as the hidden tests do
    def lengths(seq_len, p, geometric_p, max_span_length, mean_range, ratio_range):
        runs, totals = [], np.zeros(2)

        def collect(got):
            mask = _array(got, f"span_mask({seq_len}, {p})", (seq_len,), np.bool_)
            runs.extend(_span_runs(mask))
            totals[:] += [mask[:seq_len // 2].sum(), mask.sum()]

        def judge(got):
            collect(got)
            if not runs:
                raise _Mismatch("nothing selected")
            too_long = sum(n > max_span_length for n in runs) / len(runs)
            if too_long >= 0.04:
                raise _Mismatch(f"{too_long:.1%} of the spans are longer than max_span_length={max_span_length}")
            mean = sum(runs) / len(runs)
            if mean_range and not mean_range[0] < mean < mean_range[1]:
                raise _Mismatch(f"the mean span length is {mean:.2f}, expected about 3.8 (geometric 0.2, at most 10)")
            ratio = runs.count(2) / max(1, runs.count(1))
            if not ratio_range[0] < ratio < ratio_range[1]:
                raise _Mismatch(f"P(length 2) / P(length 1) = {ratio:.2f}, expected {1 - geometric_p:.2f} "
                                f"(geometric_p={geometric_p})")
            if abs(totals[0] / totals[1] - 0.5) >= 0.05:
                raise _Mismatch(f"{totals[0] / totals[1]:.0%} of the selected positions are in the first half: "
                                "draw the starts uniformly")
        return _property(collect), _property(judge)

    draws = 100
    for geometric_p, longest, mean_range, ratio_range in ((0.2, 10, (3.3, 4.9), (0.62, 0.98)),
                                                          (0.5, 3, None, (0.38, 0.64))):
        collect, judge = lengths(20_000, 0.01, geometric_p, longest, mean_range, ratio_range)
        cases += [_checked(f"span_mask(20000, 0.01, geometric_p={geometric_p}, max_span_length={longest}) "
                           f"draw {k} of {draws}", call(20_000, 0.01, int(rng.integers(2**31)), geometric_p, longest),
                           judge if k == draws - 1 else collect) for k in range(draws)]
    for n, p, expected in ((1, 0.15, None), (50, 0.0, [False] * 50)):
        def exact(got, n=n, expected=expected):
            mask = _array(got, f"span_mask({n})", (n,), np.bool_)
            if expected is not None and mask.tolist() != expected:
                raise _Mismatch("with mlm_probability=0 nothing is selected")
        cases.append(_checked(f"span_mask({n}, {p})", call(n, p, 0), _property(exact)))
    cases += _seeded("span_mask", lambda seed: call(200, 0.15, seed), (5, 6))
    return cases


def _corpus(rng: np.random.Generator, num_documents: int) -> list[list[str]]:
    """Documents of 1 to 8 unique sentences "d<document> s<sentence>", some of one sentence."""
    sizes = [int(n) for n in rng.integers(1, 9, num_documents)]
    sizes[0] = sizes[-1] = 1
    return [[f"d{d} s{i}" for i in range(n)] for d, n in enumerate(sizes)]


def _place(sentence) -> tuple[int, int]:
    if type(sentence) is not str or not sentence.startswith("d") or " s" not in sentence:
        raise _Mismatch(f"{_short(sentence)} is not a sentence of the documents")
    d, s = sentence.split()
    return int(d[1:]), int(s[1:])


def _examples(got, documents, count, flag_name) -> list[tuple]:
    if not isinstance(got, list):
        raise _Mismatch(f"expected a list of examples, got {_short(got)}")
    if count is not None and len(got) != count:
        raise _Mismatch(f"expected {count} examples, got {len(got)}")
    for example in got:
        if type(example) is not tuple or len(example) != 3:
            raise _Mismatch(f"each example is a tuple (a, b, {flag_name}), got {_short(example)}")
        if type(example[2]) is not bool:
            raise _Mismatch(f"{flag_name} must be a bool, got {_short(example[2])}")
        for sentence in example[:2]:
            d, i = _place(sentence)
            if not (0 <= d < len(documents) and 0 <= i < len(documents[d])):
                raise _Mismatch(f"{sentence!r} is not a sentence of the documents")
    return got


def _pair_cases(name, rng, flag_name, check_one, statistics, small) -> list[Case]:
    documents = _corpus(rng, 40)
    pairs = sorted(s for doc in documents for s in doc[:-1])  # the sentences with a successor

    def call(docs, seed, num_examples):
        return {"op": "call", "target": name, "args": [docs, {"$random": seed}, num_examples]}

    def every_pair(got):
        examples = _examples(got, documents, len(pairs), flag_name)
        for example in examples:
            check_one(documents, example)
        first = sorted(min(a, b, key=_place) if name == "create_sop_examples" else a for a, b, _ in examples)
        if first != pairs:
            raise _Mismatch("num_examples=None: one example per pair of consecutive sentences, each once")

    def drawn(got):
        examples = _examples(got, documents, 4000, flag_name)
        for example in examples:
            check_one(documents, example)
        natural = sum(flag for _, _, flag in examples)
        if not _binomial_ok(natural / 4000, 0.5, 4000):
            raise _Mismatch(f"{natural / 4000:.1%} of the examples have {flag_name}=True, expected about half")
        statistics(documents, examples)

    def none(got):
        if _examples(got, [], 0, flag_name):
            raise _Mismatch("single-sentence documents give no example")

    cases = [_checked(f"{name}(40 documents)", call(documents, int(rng.integers(2**31)), None), _property(every_pair)),
             _checked(f"{name}(40 documents, num_examples=4000)", call(documents, int(rng.integers(2**31)), 4000),
                      _property(drawn)),
             _checked(f"{name}(single-sentence documents)", call([["x"], ["y"], ["z"]], 0, None), _property(none))]
    if small:
        cases.append(_checked(f"{name}({small[0]}, num_examples=300)", call(small[0], int(rng.integers(2**31)), 300),
                              _property(small[1])))
    return cases + _seeded(name, lambda seed: call(documents, seed, 200), (7, 8))


def _nsp(rng: np.random.Generator, context: Context) -> list[Case]:
    def check_one(documents, example):
        a, b, is_next = example
        (da, ia), (db, ib) = _place(a), _place(b)
        if ia + 1 >= len(documents[da]):
            raise _Mismatch(f"sentence A {a!r} has no successor in its document")
        if is_next and (db, ib) != (da, ia + 1):
            raise _Mismatch(f"is_next=True but {b!r} is not the sentence after {a!r}")
        if not is_next and db == da:
            raise _Mismatch(f"is_next=False but {b!r} comes from the same document as {a!r}")

    def statistics(documents, examples):
        negatives = [(_place(a)[0], _place(b)[0]) for a, b, is_next in examples if not is_next]
        sources = {db for _, db in negatives}
        if len(sources) < 0.9 * len(documents):
            raise _Mismatch(f"the random sentences come from only {len(sources)} of {len(documents)} documents")
        neighbour = sum(db == (da + 1) % len(documents) for da, db in negatives) / max(1, len(negatives))
        if neighbour >= 0.2:
            raise _Mismatch(f"{neighbour:.0%} of the random sentences come from the next document")

    small = [["d0 s0", "d0 s1"], ["d1 s0"], ["d2 s0"]]

    def from_small(got):
        examples = _examples(got, small, 300, "is_next")
        if {(a, b) for a, b, is_next in examples if is_next} - {("d0 s0", "d0 s1")}:
            raise _Mismatch("a true pair must be two consecutive sentences")
        if {b for _, b, is_next in examples if not is_next} != {"d1 s0", "d2 s0"}:
            raise _Mismatch("the random sentences come from the other (single-sentence) documents")
    return _pair_cases("create_nsp_examples", rng, "is_next", check_one, statistics, (small, from_small))


def _sop(rng: np.random.Generator, context: Context) -> list[Case]:
    def check_one(documents, example):
        a, b, in_order = example
        (da, ia), (db, ib) = _place(a), _place(b)
        if da != db:
            raise _Mismatch(f"{a!r} and {b!r} come from different documents")
        if ib - ia != (1 if in_order else -1):
            raise _Mismatch(f"{example}: in order, B is the sentence right after A; swapped, A right after B")
    return _pair_cases("create_sop_examples", rng, "in_order", check_one, lambda documents, examples: None, None)


def _mlm_loss(rng: np.random.Generator, context: Context) -> list[Case]:
    import torch

    reference = _reference("mlm_loss_and_accuracy")

    def against(expected_loss, expected_accuracy, dtype):
        def check(got):
            if not isinstance(got, (list, tuple)) or len(got) != 2:
                raise _Mismatch(f"expected (loss, accuracy), got {_short(got)}")
            loss = _array(got[0], "loss", (), dtype)
            accuracy = _array(got[1], "accuracy", (), None)
            if accuracy.dtype.kind != "f":
                raise _Mismatch(f"accuracy must be a float tensor, got {accuracy.dtype}")
            if not np.isclose(float(loss), expected_loss, atol=1e-6, rtol=1e-5):
                raise _Mismatch(f"loss {float(loss):.6g}, expected {expected_loss:.6g}: the mean cross-entropy "
                                "over the labelled positions only")
            if math.isnan(expected_accuracy) != math.isnan(float(accuracy)) or (
                    not math.isnan(expected_accuracy) and abs(float(accuracy) - expected_accuracy) >= 1e-6):
                raise _Mismatch(f"accuracy {float(accuracy):.6g}, expected {expected_accuracy:.6g}")
        return _property(check)

    cases = []
    for batch, seq, vocab, dtype, keep in ((3, 7, 11, np.float64, 0.4), (4, 16, 50, np.float32, 0.15),
                                           (2, 5, 5, np.float32, 1.0), (8, 32, 200, np.float64, 0.1),
                                           (2, 6, 9, np.float32, 0.0), (2, 6, 9, np.float64, 0.0)):
        logits = (rng.standard_normal((batch, seq, vocab)) * 3).astype(dtype)
        labels = rng.integers(0, vocab, (batch, seq))
        labels[rng.random((batch, seq)) >= keep] = -100
        if keep:
            labels[-1, seq // 2:] = -100  # padding at the end of the last row
            labels[0, 0], logits[0, 0, 1] = 1, 100.0  # at least one labelled position, predicted right
        with torch.no_grad():
            loss, accuracy = reference(torch.as_tensor(logits), torch.as_tensor(labels))
        cases.append(_checked(f"mlm_loss_and_accuracy({batch}x{seq}x{vocab} {np.dtype(dtype)}, "
                              f"{int((labels != -100).sum())} labelled)",
                              {"op": "call", "target": "mlm_loss_and_accuracy", "args": [logits, labels]},
                              against(float(loss), float(accuracy), dtype)))
    return cases


Probe = Callable[[np.random.Generator, Context], list[Case]]

PROBES: dict[str, Probe] = {
    "wordpiece_tokenize": _wordpiece,
    "build_inputs": _build_inputs,
    "scaled_dot_product_attention": _attention,
    "BertSelfAttention": _self_attention,
    "BertEmbeddings": _embeddings,
    "BertLayer": _layer,
    "mask_tokens": _mask_tokens,
    "whole_word_mask": _whole_word_mask,
    "span_mask": _span_mask,
    "create_nsp_examples": _nsp,
    "create_sop_examples": _sop,
    "mlm_loss_and_accuracy": _mlm_loss,
}

# An end-to-end check passes only if its parts are right: it is lowered when one of them fails.
DEPENDS: dict[str, tuple[str, ...]] = {
    "encoder_matches_transformers": ("BertSelfAttention", "BertEmbeddings", "BertLayer"),
    "pretraining_with_your_masking": ("mask_tokens",),
}

# Values the worker binds before the calls (referenced as {"$ref": name}).
def bindings(items: list[str], context: Context) -> dict[str, object]:
    return {"probe_vocab": context.vocab} if "wordpiece_tokenize" in items else {}

