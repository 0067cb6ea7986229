"""Re-check probes of Chapter 2 (ch2_pretraining): masking, sentence pairs, the MLM loss.

Five of these items are random: a correct answer may draw its numbers in any order, so their
cases check properties of the answer (see :mod:`bertcourse.grader.probes.common`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ...pretraining.masking import word_positions
from ...pretraining.objectives import IGNORE_INDEX
from .common import (
    Case,
    Context,
    Mismatch,
    Probe,
    array_of,
    binomial_ok,
    checked,
    property_check,
    reference_of,
    same,
    seeded,
    short,
)

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
            raise Mismatch(f"unexpected reply {short(got)}")
        result, after = got["result"], got["args"]
        if not isinstance(result, (list, tuple)) or len(result) != 2:
            raise Mismatch(f"expected (masked_input_ids, labels), got {short(result)}")
        masked = array_of(result[0], "masked_input_ids", ids.shape, ids.dtype)
        labels = array_of(result[1], "labels", ids.shape, ids.dtype)
        if len(after) != 2 or not same(after[0], ids) or not same(after[1], special):
            raise Mismatch("input_ids or special_tokens_mask was modified in place")
        selected = labels != IGNORE_INDEX
        if selected[special.astype(bool)].any():
            raise Mismatch("a special token was selected")
        if not np.array_equal(labels[selected], ids[selected]):
            raise Mismatch("labels must be the original ids at the selected positions (and -100 elsewhere)")
        if not np.array_equal(masked[~selected], ids[~selected]):
            raise Mismatch("a position that is not selected changed")
        return masked, labels, selected

    def statistics(ids, special, p):
        def check(got):
            masked, labels, selected = outputs(got, ids, special)
            candidates, n = int((~special.astype(bool)).sum()), int(selected.sum())
            if not binomial_ok(n / candidates, p, candidates):
                raise Mismatch(f"mlm_probability={p}: {n / candidates:.2%} of the non-special tokens selected")
            new, old = masked[selected], ids[selected]
            if ((new < 0) | (new >= VOCAB_SIZE)).any():
                raise Mismatch("a replacement id outside [0, vocab_size)")
            shares = {"[MASK]": (new == MASK_ID).mean(), "a random id": ((new != old) & (new != MASK_ID)).mean(),
                      "unchanged": (new == old).mean()}
            for outcome, expected in (("[MASK]", 0.8), ("a random id", 0.1), ("unchanged", 0.1)):
                if not binomial_ok(float(shares[outcome]), expected, n):
                    raise Mismatch(f"{shares[outcome]:.2%} of the selected tokens became {outcome}, "
                                    f"expected {expected:.0%}")
        return property_check(check)

    cases = []
    for rows, seq, p in ((16, 64, 0.5), (64, 512, 0.15), (64, 512, 0.4)):
        ids, special = _masking_batch(rng, rows, seq)
        for given in ((special,) if rows > 16 else (special, special.astype(np.int64))):
            cases.append(checked(f"mask_tokens({rows}x{seq}, special as {given.dtype}, {p})",
                                  call(ids, given, VOCAB_SIZE, MASK_ID, p, int(rng.integers(2**31))),
                                  statistics(ids, given, p)))

    # the random ids are uniform over [0, vocab_size): a chi-square over a small vocabulary
    uniform_ids, nothing_special = np.full((200, 500), 7, dtype=np.int64), np.zeros((200, 500), dtype=bool)

    def uniform(got):
        masked, _, _ = outputs(got, uniform_ids, nothing_special)
        replaced = masked[(masked != 7) & (masked != 49)]
        if ((replaced < 0) | (replaced >= 50)).any() or replaced.size == 0:
            raise Mismatch("random ids must lie in [0, vocab_size)")
        counts = np.bincount(replaced, minlength=50)[[i for i in range(50) if i not in (7, 49)]].astype(float)
        expected = counts.sum() / 48
        chi2 = float(((counts - expected) ** 2 / expected).sum())
        if chi2 >= 47 + 5 * math.sqrt(2 * 47):
            raise Mismatch(f"the random ids are not uniform over [0, vocab_size): chi-square {chi2:.0f} on 47 dof")
    cases.append(checked("mask_tokens(vocab_size=50, mlm_probability=1.0): uniform random ids",
                          call(uniform_ids, nothing_special, 50, 49, 1.0, int(rng.integers(2**31))),
                          property_check(uniform)))

    # edge cases: an all-special row with probability 1, and probability 0
    edge_ids, edge_special = _masking_batch(rng, 4, 32)
    edge_special[2] = True

    def everything(got):
        _, labels, _ = outputs(got, edge_ids, edge_special)
        if not np.array_equal(labels[~edge_special], edge_ids[~edge_special]):
            raise Mismatch("with mlm_probability=1 every non-special token is selected")

    def nothing(got):
        masked, labels, _ = outputs(got, edge_ids, edge_special)
        if not (labels == IGNORE_INDEX).all() or not np.array_equal(masked, edge_ids):
            raise Mismatch("with mlm_probability=0 nothing is selected")
    cases.append(checked("mask_tokens(mlm_probability=1.0, an all-special row)",
                          call(edge_ids, edge_special, VOCAB_SIZE, MASK_ID, 1.0, 7), property_check(everything)))
    cases.append(checked("mask_tokens(mlm_probability=0.0)",
                          call(edge_ids, edge_special, VOCAB_SIZE, MASK_ID, 0.0, 7), property_check(nothing)))

    ids, special = _masking_batch(rng, 8, 64)
    cases += seeded("mask_tokens", lambda seed: call(ids, special, VOCAB_SIZE, MASK_ID, 0.3, seed), (11, 12))
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
        return array_of(got, "whole_word_mask(...)", (n,), np.bool_)

    def statistics(p):
        def check(got):
            mask = mask_of(got, len(word_ids))
            if mask[special].any():
                raise Mismatch("a special token (word id None) was selected")
            chosen = np.array([mask[positions].any() for positions in words])
            partly = [k for k, positions in enumerate(words) if chosen[k] and not mask[positions].all()]
            if partly:
                raise Mismatch(f"a word (tokens {words[partly[0]]}) was only partly selected")
            word_rate = chosen.mean()
            token_rate = mask.sum() / (~special).sum()
            slack = 5 * math.sqrt(p * (1 - p) / len(words)) + 0.02
            if abs(word_rate - p) >= slack and abs(token_rate - p) >= slack:
                raise Mismatch(f"mlm_probability={p}: {word_rate:.1%} of the words ({token_rate:.1%} of the "
                                "tokens) selected")
            third = len(words) // 3
            early, late = chosen[:third].mean(), chosen[-third:].mean()
            if abs(early - late) >= 5 * math.sqrt(2 * p / third) + 0.03:
                raise Mismatch(f"the first words were selected {early:.1%} of the time, the last {late:.1%}")
            if p == 0.5:  # word k of segment A and word k of segment B are different words
                agree = (chosen[:second] == chosen[second:]).mean()
                if agree >= 0.5 + 5 * math.sqrt(0.25 / second) + 0.05:
                    raise Mismatch(f"words with the same id in the two segments agree {agree:.0%} of the time: "
                                    "a word is a run of consecutive tokens with the same id")
        return property_check(check)

    cases = [checked(f"whole_word_mask({len(word_ids)} tokens, {p})", call(word_ids, p, int(rng.integers(2**31))),
                      statistics(p)) for p in (0.15, 0.4, 0.5)]
    for ids, p, expected in ((word_ids, 1.0, [w is not None for w in word_ids]),
                             (word_ids, 0.0, [False] * len(word_ids)),
                             ([None, None], 1.0, [False, False]), ([], 0.5, [])):
        def exact(got, expected=expected):
            if mask_of(got, len(expected)).tolist() != expected:
                raise Mismatch("with mlm_probability 1 every word is selected (special tokens never), with 0 none")
        cases.append(checked(f"whole_word_mask({len(ids)} tokens, {p})", call(ids, p, 3), property_check(exact)))
    cases += seeded("whole_word_mask", lambda seed: call(word_ids, 0.3, seed), (5, 6))
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
            count = int(array_of(got, f"span_mask({seq_len}, {p})", (seq_len,), np.bool_).sum())
            low, high = math.floor(round(p * seq_len, 9)), math.ceil(round(p * seq_len, 9)) + max_span_length - 1
            if not low <= count <= min(seq_len, high):
                raise Mismatch(f"span_mask({seq_len}, {p}) selected {count} positions; the budget is "
                                f"ceil({p} * {seq_len}) = {math.ceil(round(p * seq_len, 9))}")
        return property_check(check)

    cases = [checked(f"span_mask({n}, {p}) draw {k}", call(n, p, int(rng.integers(2**31))), budget(n, p))
             for n, p in ((100, 0.15), (512, 0.15), (64, 0.3), (37, 0.5), (10, 0.2), (64, 1.0)) for k in range(4)]

    # span lengths: on long sequences with few spans, the runs of selected positions are the spans;
    # DRAWS calls (about 5000 spans) are judged together by the last one, as the hidden tests do
    def lengths(seq_len, p, geometric_p, max_span_length, mean_range, ratio_range):
        runs, totals = [], np.zeros(2)

        def collect(got):
            mask = array_of(got, f"span_mask({seq_len}, {p})", (seq_len,), np.bool_)
            runs.extend(_span_runs(mask))
            totals[:] += [mask[:seq_len // 2].sum(), mask.sum()]

        def judge(got):
            collect(got)
            if not runs:
                raise Mismatch("nothing selected")
            too_long = sum(n > max_span_length for n in runs) / len(runs)
            if too_long >= 0.04:
                raise Mismatch(f"{too_long:.1%} of the spans are longer than max_span_length={max_span_length}")
            mean = sum(runs) / len(runs)
            if mean_range and not mean_range[0] < mean < mean_range[1]:
                raise Mismatch(f"the mean span length is {mean:.2f}, expected about 3.8 (geometric 0.2, at most 10)")
            ratio = runs.count(2) / max(1, runs.count(1))
            if not ratio_range[0] < ratio < ratio_range[1]:
                raise Mismatch(f"P(length 2) / P(length 1) = {ratio:.2f}, expected {1 - geometric_p:.2f} "
                                f"(geometric_p={geometric_p})")
            if abs(totals[0] / totals[1] - 0.5) >= 0.05:
                raise Mismatch(f"{totals[0] / totals[1]:.0%} of the selected positions are in the first half: "
                                "draw the starts uniformly")
        return property_check(collect), property_check(judge)

    draws = 100
    for geometric_p, longest, mean_range, ratio_range in ((0.2, 10, (3.3, 4.9), (0.62, 0.98)),
                                                          (0.5, 3, None, (0.38, 0.64))):
        collect, judge = lengths(20_000, 0.01, geometric_p, longest, mean_range, ratio_range)
        cases += [checked(f"span_mask(20000, 0.01, geometric_p={geometric_p}, max_span_length={longest}) "
                           f"draw {k} of {draws}", call(20_000, 0.01, int(rng.integers(2**31)), geometric_p, longest),
                           judge if k == draws - 1 else collect) for k in range(draws)]
    for n, p, expected in ((1, 0.15, None), (50, 0.0, [False] * 50)):
        def exact(got, n=n, expected=expected):
            mask = array_of(got, f"span_mask({n})", (n,), np.bool_)
            if expected is not None and mask.tolist() != expected:
                raise Mismatch("with mlm_probability=0 nothing is selected")
        cases.append(checked(f"span_mask({n}, {p})", call(n, p, 0), property_check(exact)))
    cases += seeded("span_mask", lambda seed: call(200, 0.15, seed), (5, 6))
    return cases


def _corpus(rng: np.random.Generator, num_documents: int) -> list[list[str]]:
    """Documents of 1 to 8 unique sentences "d<document> s<sentence>", some of one sentence."""
    sizes = [int(n) for n in rng.integers(1, 9, num_documents)]
    sizes[0] = sizes[-1] = 1
    return [[f"d{d} s{i}" for i in range(n)] for d, n in enumerate(sizes)]


def _place(sentence) -> tuple[int, int]:
    if type(sentence) is not str or not sentence.startswith("d") or " s" not in sentence:
        raise Mismatch(f"{short(sentence)} is not a sentence of the documents")
    d, s = sentence.split()
    return int(d[1:]), int(s[1:])


def _examples(got, documents, count, flag_name) -> list[tuple]:
    if not isinstance(got, list):
        raise Mismatch(f"expected a list of examples, got {short(got)}")
    if count is not None and len(got) != count:
        raise Mismatch(f"expected {count} examples, got {len(got)}")
    for example in got:
        if type(example) is not tuple or len(example) != 3:
            raise Mismatch(f"each example is a tuple (a, b, {flag_name}), got {short(example)}")
        if type(example[2]) is not bool:
            raise Mismatch(f"{flag_name} must be a bool, got {short(example[2])}")
        for sentence in example[:2]:
            d, i = _place(sentence)
            if not (0 <= d < len(documents) and 0 <= i < len(documents[d])):
                raise Mismatch(f"{sentence!r} is not a sentence of the documents")
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
            raise Mismatch("num_examples=None: one example per pair of consecutive sentences, each once")

    def drawn(got):
        examples = _examples(got, documents, 4000, flag_name)
        for example in examples:
            check_one(documents, example)
        natural = sum(flag for _, _, flag in examples)
        if not binomial_ok(natural / 4000, 0.5, 4000):
            raise Mismatch(f"{natural / 4000:.1%} of the examples have {flag_name}=True, expected about half")
        statistics(documents, examples)

    def none(got):
        if _examples(got, [], 0, flag_name):
            raise Mismatch("single-sentence documents give no example")

    cases = [checked(f"{name}(40 documents)", call(documents, int(rng.integers(2**31)), None), property_check(every_pair)),
             checked(f"{name}(40 documents, num_examples=4000)", call(documents, int(rng.integers(2**31)), 4000),
                      property_check(drawn)),
             checked(f"{name}(single-sentence documents)", call([["x"], ["y"], ["z"]], 0, None), property_check(none))]
    if small:
        cases.append(checked(f"{name}({small[0]}, num_examples=300)", call(small[0], int(rng.integers(2**31)), 300),
                              property_check(small[1])))
    return cases + seeded(name, lambda seed: call(documents, seed, 200), (7, 8))


def _nsp(rng: np.random.Generator, context: Context) -> list[Case]:
    def check_one(documents, example):
        a, b, is_next = example
        (da, ia), (db, ib) = _place(a), _place(b)
        if ia + 1 >= len(documents[da]):
            raise Mismatch(f"sentence A {a!r} has no successor in its document")
        if is_next and (db, ib) != (da, ia + 1):
            raise Mismatch(f"is_next=True but {b!r} is not the sentence after {a!r}")
        if not is_next and db == da:
            raise Mismatch(f"is_next=False but {b!r} comes from the same document as {a!r}")

    def statistics(documents, examples):
        negatives = [(_place(a)[0], _place(b)[0]) for a, b, is_next in examples if not is_next]
        sources = {db for _, db in negatives}
        if len(sources) < 0.9 * len(documents):
            raise Mismatch(f"the random sentences come from only {len(sources)} of {len(documents)} documents")
        neighbour = sum(db == (da + 1) % len(documents) for da, db in negatives) / max(1, len(negatives))
        if neighbour >= 0.2:
            raise Mismatch(f"{neighbour:.0%} of the random sentences come from the next document")

    small = [["d0 s0", "d0 s1"], ["d1 s0"], ["d2 s0"]]

    def from_small(got):
        examples = _examples(got, small, 300, "is_next")
        if {(a, b) for a, b, is_next in examples if is_next} - {("d0 s0", "d0 s1")}:
            raise Mismatch("a true pair must be two consecutive sentences")
        if {b for _, b, is_next in examples if not is_next} != {"d1 s0", "d2 s0"}:
            raise Mismatch("the random sentences come from the other (single-sentence) documents")
    return _pair_cases("create_nsp_examples", rng, "is_next", check_one, statistics, (small, from_small))


def _sop(rng: np.random.Generator, context: Context) -> list[Case]:
    def check_one(documents, example):
        a, b, in_order = example
        (da, ia), (db, ib) = _place(a), _place(b)
        if da != db:
            raise Mismatch(f"{a!r} and {b!r} come from different documents")
        if ib - ia != (1 if in_order else -1):
            raise Mismatch(f"{example}: in order, B is the sentence right after A; swapped, A right after B")
    return _pair_cases("create_sop_examples", rng, "in_order", check_one, lambda documents, examples: None, None)


def _mlm_loss(rng: np.random.Generator, context: Context) -> list[Case]:
    reference = reference_of("mlm_loss_and_accuracy")

    def against(expected_loss, expected_accuracy, dtype):
        def check(got):
            if not isinstance(got, (list, tuple)) or len(got) != 2:
                raise Mismatch(f"expected (loss, accuracy), got {short(got)}")
            loss = array_of(got[0], "loss", (), dtype)
            accuracy = array_of(got[1], "accuracy", (), None)
            if accuracy.dtype.kind != "f":
                raise Mismatch(f"accuracy must be a float tensor, got {accuracy.dtype}")
            if not np.isclose(float(loss), expected_loss, atol=1e-6, rtol=1e-5):
                raise Mismatch(f"loss {float(loss):.6g}, expected {expected_loss:.6g}: the mean cross-entropy "
                                "over the labelled positions only")
            if math.isnan(expected_accuracy) != math.isnan(float(accuracy)) or (
                    not math.isnan(expected_accuracy) and abs(float(accuracy) - expected_accuracy) >= 1e-6):
                raise Mismatch(f"accuracy {float(accuracy):.6g}, expected {expected_accuracy:.6g}")
        return property_check(check)

    cases = []
    for batch, seq, vocab, dtype, keep in ((3, 7, 11, np.float64, 0.4), (4, 16, 50, np.float32, 0.15),
                                           (2, 5, 5, np.float32, 1.0), (8, 32, 200, np.float64, 0.1),
                                           (2, 6, 9, np.float32, 0.0), (2, 6, 9, np.float64, 0.0)):
        logits = (rng.standard_normal((batch, seq, vocab)) * 3).astype(dtype)
        labels = rng.integers(0, vocab, (batch, seq))
        labels[rng.random((batch, seq)) >= keep] = IGNORE_INDEX
        if keep:
            labels[-1, seq // 2:] = IGNORE_INDEX  # padding at the end of the last row
            labels[0, 0], logits[0, 0, 1] = 1, 100.0  # at least one labelled position, predicted right
        with torch.no_grad():
            loss, accuracy = reference(torch.as_tensor(logits), torch.as_tensor(labels))
        cases.append(checked(f"mlm_loss_and_accuracy({batch}x{seq}x{vocab} {np.dtype(dtype)}, "
                              f"{int((labels != IGNORE_INDEX).sum())} labelled)",
                              {"op": "call", "target": "mlm_loss_and_accuracy", "args": [logits, labels]},
                              against(float(loss), float(accuracy), dtype)))
    return cases


PROBES: dict[str, Probe] = {
    "mask_tokens": _mask_tokens,
    "whole_word_mask": _whole_word_mask,
    "span_mask": _span_mask,
    "create_nsp_examples": _nsp,
    "create_sop_examples": _sop,
    "mlm_loss_and_accuracy": _mlm_loss,
}

# An end-to-end check passes only if its parts are right: it is lowered when one of them fails.
DEPENDS: dict[str, tuple[str, ...]] = {
    "pretraining_with_your_masking": ("mask_tokens",),
}
