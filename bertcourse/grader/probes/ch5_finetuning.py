"""Chapter 5's re-check probes: pooling, retrieval, label alignment, entity F1, answer spans, the classifier.

Deterministic items are compared with the reference's answer on the checker's inputs;
``cosine_top_k`` and ``entity_f1`` are judged by properties (scores within tolerance,
each returned index carrying its score; F1 within rounding), because a correct answer
may order equal scores differently or round F1 another way. ``SequenceClassifier``
is built by the notebook's ``small_classifier(config)`` (the student's class on the
course's BERT), loaded with the checker's parameters and run on padded batches.
Errors (``ValueError`` on bad input) are left to the hidden tests: a call that raises
fails its case here.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import torch

from ...models.bert import BertConfig, BertModel
from .common import Case, Context, Mismatch, Probe, array_of, checked, property_check, reference_of, short


def _call(target: str, *args) -> dict:
    return {"op": "call", "target": target, "args": list(args)}


def _padding(rng: np.random.Generator, batch: int, seq: int, empty_rows: int = 0) -> np.ndarray:
    lengths = rng.integers(1, seq + 1, batch)
    lengths[:empty_rows] = 0
    return (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int64)


def _mean_pooling(rng: np.random.Generator, context: Context) -> list[Case]:
    reference = reference_of("mean_pooling")
    cases = []
    for batch, seq, width, dtype, empty in ((3, 5, 4, np.float32, 1), (6, 9, 16, np.float64, 2), (1, 1, 3, np.float32, 0)):
        states = rng.standard_normal((batch, seq, width)).astype(dtype)
        mask = _padding(rng, batch, seq, empty)
        states[mask == 0] = 1000.0  # the padding's values must not matter
        for given in (mask, mask.astype(bool)):
            expected = reference(torch.as_tensor(states), torch.as_tensor(given))
            cases.append(Case(f"mean_pooling({batch}x{seq}x{width} {np.dtype(dtype)}, mask {given.dtype}, "
                              f"{empty} all-padding rows)", _call("mean_pooling", states, given), expected,
                              compare="close", atol=1e-6, rtol=1e-6))
    return cases


def _cosine_top_k(rng: np.random.Generator, context: Context) -> list[Case]:
    def judge(queries, documents, k):
        q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
        d = documents / np.maximum(np.linalg.norm(documents, axis=1, keepdims=True), 1e-12)
        cosine = q.astype(np.float64) @ d.astype(np.float64).T  # (Q, N)
        best = -np.sort(-cosine, axis=1)[:, :k]

        def check(got):
            if not isinstance(got, (list, tuple)) or len(got) != 2:
                raise Mismatch(f"expected (scores, indices), got {short(got)}")
            scores = array_of(got[0], "scores", best.shape, queries.dtype)
            indices = array_of(got[1], "indices", best.shape, np.int64)
            if not np.allclose(scores, best, atol=1e-5):
                raise Mismatch("scores: the k highest cosine similarities of each query, highest first")
            if (indices < 0).any() or (indices >= len(documents)).any() or \
                    any(len(set(row)) != k for row in indices.tolist()):
                raise Mismatch("indices: k distinct document indices per query")
            if not np.allclose(np.take_along_axis(cosine, indices, 1), scores, atol=1e-5):
                raise Mismatch("indices: each index must be the document whose similarity is the score beside it")
        return property_check(check)

    cases = []
    for q, n, d, dtype in ((1, 1, 3, np.float32), (4, 9, 8, np.float32), (7, 20, 16, np.float64), (3, 5, 2, np.float32)):
        queries = (rng.standard_normal((q, d)) * rng.uniform(0.01, 5)).astype(dtype)
        documents = (rng.standard_normal((n, d)) * rng.uniform(0.1, 10, (n, 1))).astype(dtype)
        documents[-1] = 0.0  # a zero vector: similarity 0, not NaN
        for k in sorted({1, n, int(rng.integers(1, n + 1))}):
            cases.append(checked(f"cosine_top_k({q}x{d}, {n}x{d}, k={k})", _call("cosine_top_k", queries, documents, k),
                                 judge(queries, documents, k)))
    return cases


def _align(rng: np.random.Generator, context: Context) -> list[Case]:
    reference = reference_of("align_labels_with_tokens")
    cases = []
    for trial in range(60):
        labels = [int(x) for x in rng.integers(0, 9, int(rng.integers(0, 10)))]
        word_ids: list[int | None] = [None]
        for _segment in range(int(rng.integers(1, 3))):
            for w in range(len(labels)):
                word_ids += [w] * int(rng.integers(1, 4))
            word_ids.append(None)
        word_ids += [None] * int(rng.integers(0, 3))
        flag = bool(trial % 3 == 0)
        cases.append(Case(f"align_labels_with_tokens({labels}, {short(word_ids, 60)}, {flag})",
                          _call("align_labels_with_tokens", labels, word_ids, flag), reference(labels, word_ids, flag)))
    cases.append(Case("align_labels_with_tokens([4, 5], [0, 0, 1])", _call("align_labels_with_tokens", [4, 5], [0, 0, 1]),
                      [4, -100, 5]))
    return cases


TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-DATE", "I-DATE"]


def _entity_f1(rng: np.random.Generator, context: Context) -> list[Case]:
    reference = reference_of("entity_f1")

    def near(expected):
        def check(got):
            if type(got) is not float:
                raise Mismatch(f"expected a float, got {short(got)}")
            if not math.isclose(got, expected, abs_tol=1e-9):
                raise Mismatch(f"F1 {got:.6f}, expected {expected:.6f} (seqeval's strict IOB2 micro F1)")
        return property_check(check)

    cases = []
    for _trial in range(80):
        lengths = [int(n) for n in rng.integers(0, 12, int(rng.integers(1, 5)))]
        true = [[str(t) for t in rng.choice(TAGS, n)] for n in lengths]
        if rng.random() < 0.5:
            pred = [[t if rng.random() < 0.8 else str(rng.choice(TAGS)) for t in seq] for seq in true]
        else:
            pred = [[str(t) for t in rng.choice(TAGS, n)] for n in lengths]
        cases.append(checked(f"entity_f1({short(true, 50)}, {short(pred, 50)})", _call("entity_f1", true, pred),
                             near(reference(true, pred))))
    return cases


def _best_answer_span(rng: np.random.Generator, context: Context) -> list[Case]:
    reference = reference_of("best_answer_span")
    cases = []
    for trial in range(80):
        length = int(rng.integers(1, 40))
        if trial % 2:  # small integers: many ties
            start, end = (rng.integers(-2, 3, length).astype(np.float32) for _ in range(2))
        else:
            start, end = (rng.standard_normal(length).astype(np.float32) * 3 for _ in range(2))
        mask = rng.random(length) < rng.uniform(0.2, 1.0)
        mask[int(rng.integers(length))] = True
        longest = int(rng.integers(1, 12))
        given = mask if trial % 3 else mask.astype(np.int64)
        expected = reference(torch.as_tensor(start), torch.as_tensor(end), torch.as_tensor(given), longest)
        cases.append(Case(f"best_answer_span(length {length}, max_answer_length={longest})",
                          _call("best_answer_span", start, end, given, longest), expected))
    return cases


def _sequence_classifier(rng: np.random.Generator, context: Context) -> list[Case]:
    reference_cls = reference_of("SequenceClassifier")
    cases = []
    for overrides in ({"vocab_size": 100}, {"vocab_size": 100, "num_attention_heads": 4, "layer_norm_eps": 0.1}):
        config = BertConfig.preset("tiny", **overrides)
        torch.manual_seed(int(rng.integers(2**31)))
        reference = reference_cls(BertModel(config), config.hidden_size, 3).eval()
        with torch.no_grad():
            for parameter in reference.classifier.parameters():
                parameter.normal_(0.0, 0.5)  # far from the default initialisation
        state = {k: v.detach().numpy().copy() for k, v in reference.named_parameters()}
        ids = rng.integers(5, config.vocab_size, (4, 9))
        mask = _padding(rng, 4, 9)
        types = np.zeros_like(ids)
        types[:, 5:] = 1
        for args in ([ids, mask, types], [ids, mask], [ids[:1]]):
            with torch.no_grad():
                expected = reference(*(torch.as_tensor(a) for a in args))
            cases.append(Case(f"SequenceClassifier on a tiny BERT {overrides}, {len(args)} inputs",
                              {"op": "module", "target": "small_classifier", "config": asdict(config), "state": state,
                               "args": args, "substitute": {}},
                              expected, compare="close", atol=1e-5, rtol=1e-4))
    return cases


PROBES: dict[str, Probe] = {
    "SequenceClassifier": _sequence_classifier,
    "mean_pooling": _mean_pooling,
    "cosine_top_k": _cosine_top_k,
    "align_labels_with_tokens": _align,
    "entity_f1": _entity_f1,
    "best_answer_span": _best_answer_span,
}

# The fine-tuning cell trains the student's classifier: it is lowered when the classifier fails its re-check.
DEPENDS: dict[str, tuple[str, ...]] = {
    "spam_with_your_classifier": ("SequenceClassifier",),
}
