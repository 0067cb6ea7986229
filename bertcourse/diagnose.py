"""Visible tests that name the mistake: each check recognises a common wrong answer and says how to fix it.

The Chapter 1 notebook's visible tests call these. Each one runs the student's
function or class on small inputs built so that the usual mistakes give
different, recognisable results: the mask applied after the softmax (rows that
no longer sum to one), the softmax over the wrong axis or without ``1/sqrt(d)``
(each matches its own wrong formula), the mask on the queries (real tokens'
outputs change when padding is added), the tanh GELU and PyTorch's default
LayerNorm eps (each matches the reference computed that wrong way), no attention
dropout in training, edited inputs, ignored ``token_type_ids``. Every failure is
a :class:`bertcourse.grading.GradingError` whose hint is specific to the mistake.
:func:`encoder_against_transformers` compares a whole encoder stage by stage and
names the first stage that differs, with positions as (sentence, token, feature).

Taught in book/ch1_architecture (attention.md, layer.md); the references come from
:mod:`bertcourse.registry`, so they follow the package wherever the classes live.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator, MutableMapping

import torch
import torch.nn.functional as F

from . import grading
from .grading import GradingError

PYTORCH_DEFAULT_EPS = 1e-5


def _reference(name: str):
    from . import registry

    return registry.item(name).load_reference()


def _close(a, b, atol: float = 1e-5) -> bool:
    return isinstance(a, torch.Tensor) and a.shape == b.shape and torch.allclose(a.double(), b.double(), atol=atol,
                                                                                  rtol=1e-4)


def _fail(name: str, problem: str, hint: str) -> None:
    raise GradingError(f"{name}: {problem}\n  Hint: {hint}")


# --- scaled_dot_product_attention ----------------------------------------------------------------------

def attention_function(fn) -> None:
    """The common mistakes of ``scaled_dot_product_attention(query, key, value, attention_mask=None)``."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 8, generator=g), torch.randn(2, 5, 8, generator=g), torch.randn(2, 5, 6, generator=g))
    before = [t.clone() for t in (q, k, v)]
    context, weights = fn(q, k, v)
    for label, old, new in zip(("query", "key", "value"), before, (q, k, v)):
        grading.check_unchanged(f"scaled_dot_product_attention's {label}", old, new)
    grading.check_tensor("weights", weights, shape=(2, 3, 5), dtype=torch.float32, hint="weights are (..., Lq, Lk)")
    grading.check_tensor("context", context, shape=(2, 3, 6), dtype=torch.float32, hint="context is weights @ value")
    scores = q @ k.transpose(-2, -1)  # (B, Lq, Lk)
    expected = (scores / math.sqrt(8)).softmax(-1)
    if not _close(weights, expected):
        wrong = {
            "no scaling": (scores.softmax(-1), "divide the scores by sqrt(d) (d = query.size(-1)) before the softmax"),
            "softmax over the queries": ((scores / math.sqrt(8)).softmax(-2),
                                         "softmax over the last dimension (the keys): each query's weights sum to 1"),
            "scaled by 1/d": ((scores / 8).softmax(-1), "divide by sqrt(d), not by d"),
            "no scaling and the wrong axis": (scores.softmax(-2), "two mistakes: divide by sqrt(d), and softmax over "
                                                                 "the last dimension (the keys)"),
        }
        for what, (candidate, hint) in wrong.items():
            if _close(weights, candidate):
                _fail("weights", f"match softmax with {what}", hint)
        sums = weights.sum(-1)
        if not torch.allclose(sums, torch.ones_like(sums), atol=1e-5):
            _fail("weights", f"rows sum to {sums.flatten()[0].item():.4g}, not 1",
                  "the weights are softmax(scores) over the keys (the last dimension)")
        grading.check_close("weights", weights, expected, hint="softmax(Q K^T / sqrt(d)) over the last dimension")
    grading.check_close("context", context, expected @ v, hint="the context is weights @ value")
    keep = torch.tensor([True, True, False, True, False])  # a key mask, broadcast over batch and queries
    _, masked = fn(q, k, v, keep)
    sums = masked.sum(-1)
    if not torch.allclose(sums, torch.ones_like(sums), atol=1e-5):
        _fail("weights with a mask", f"rows sum to {sums.flatten()[0].item():.4g}, not 1",
              "mask the scores before the softmax (masked_fill with a very negative number); multiplying the "
              "weights by the mask after the softmax leaves rows that do not sum to one")
    grading.check_close("weights on masked keys", masked[..., ~keep], torch.zeros(2, 3, 2), atol=1e-7,
                        hint="masked keys must get weight exactly 0: fill their scores before the softmax")
    grading.check_close("weights with a mask", masked, (scores / math.sqrt(8)).masked_fill(~keep, -1e30).softmax(-1),
                        hint="True/1 in the mask means 'may attend'")
    for form in (keep.long(), keep.float()):
        _, other = fn(q, k, v, form)
        grading.check_close(f"weights with a {form.dtype} mask", other, masked,
                            hint="a 0/1 mask of ints or floats means the same as a bool mask: use mask.bool()")


# --- modules -----------------------------------------------------------------------------------------

def _with_reference_weights(name: str, cls, config):
    torch.manual_seed(0)
    reference = _reference(name)(config).eval()
    module = cls(config).eval()
    grading.load_reference_weights(name, module, reference)
    return module, reference


def _padding_invariance(name: str, module, hidden_size: int, hint: str) -> None:
    """Real tokens' outputs do not change when padding (with any content) is appended and masked."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 3, hidden_size, generator=g)
    padded = torch.cat([x, 5 * torch.randn(1, 2, hidden_size, generator=g)], dim=1)
    with torch.no_grad():
        alone = module(x, torch.ones(1, 3, dtype=torch.long))
        with_padding = module(padded, torch.tensor([[1, 1, 1, 0, 0]]))
    if not _close(with_padding[:, :3], alone, atol=1e-5):
        _fail(name, "the outputs at the real tokens changed when padding tokens were added", hint)


def self_attention_module(cls, config) -> None:
    """The common mistakes of ``BertSelfAttention``: the padding mask's axis, dropout in training, mask dtypes."""
    config = dataclasses.replace(config, attention_probs_dropout_prob=0.0)
    module, reference = _with_reference_weights("BertSelfAttention", cls, config)
    _padding_invariance("BertSelfAttention", module, config.hidden_size,
                        "the padding mask must hide padding *keys* from every query: broadcast the (B, T) mask as "
                        "(B, 1, 1, T) over the (B, heads, T_queries, T_keys) scores, not as (B, 1, T, 1)")
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 4, config.hidden_size, generator=g)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    before = x.clone()
    with torch.no_grad():
        expected = reference(x, mask)
        for form in (mask, mask.bool(), mask.float()):
            grading.check_close(f"BertSelfAttention with a {form.dtype} mask", module(x, form), expected, atol=2e-5,
                                rtol=1e-4, hint="project, split into heads, attend with the mask, merge heads, "
                                                "project with `output`; a 0/1 mask means the same as a bool one")
    grading.check_unchanged("BertSelfAttention's hidden_states", before, x)
    dropping = cls(dataclasses.replace(config, attention_probs_dropout_prob=0.5))
    with torch.no_grad():
        evaluated = dropping.eval()(x, mask)
        trained = dropping.train()(x, mask)
    if torch.allclose(trained, evaluated):
        _fail("BertSelfAttention in training mode", "gives the same output as in eval mode with "
              "attention_probs_dropout_prob=0.5",
              "apply self.dropout to the attention weights (after the softmax); nn.Dropout is a no-op in eval "
              "mode, so tests in eval mode cannot see it is missing")


def embeddings_module(cls, config) -> None:
    """The common mistakes of ``BertEmbeddings``: LayerNorm eps, token types, positions, edited inputs."""
    config = dataclasses.replace(config, layer_norm_eps=0.5)  # an eps large enough to show
    module, reference = _with_reference_weights("BertEmbeddings", cls, config)
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(0, config.vocab_size, (2, 6), generator=g)
    types = torch.tensor([[0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1]])
    before = ids.clone(), types.clone()
    with torch.no_grad():
        got, expected = module(ids, types), reference(ids, types)
        if not _close(got, expected):
            if torch.allclose(got, module(ids, torch.zeros_like(types))):
                _fail("BertEmbeddings", "ignores token_type_ids",
                      "add token_type_embeddings(token_type_ids): segment B's tokens (type 1) differ from A's")
            eps_default = _reference("BertEmbeddings")(dataclasses.replace(config, layer_norm_eps=PYTORCH_DEFAULT_EPS))
            eps_default.load_state_dict(reference.state_dict())
            if _close(got, eps_default.eval()(ids, types)):
                _fail("BertEmbeddings", f"uses LayerNorm eps {PYTORCH_DEFAULT_EPS:g}, PyTorch's default",
                      "nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps): BERT's eps is 1e-12")
            grading.check_close("BertEmbeddings", got, expected,
                                hint="word + position (0, 1, 2, ...) + token type embeddings, then LayerNorm, "
                                     "then dropout")
        grading.check_close("BertEmbeddings with token_type_ids=None", module(ids), reference(ids),
                            hint="no token_type_ids means every token is of type 0")
    grading.check_unchanged("BertEmbeddings' input_ids", before[0], ids)
    grading.check_unchanged("BertEmbeddings' token_type_ids", before[1], types)


@contextlib.contextmanager
def _tanh_gelu() -> Iterator[None]:
    exact = F.gelu
    F.gelu = lambda x, approximate="none": exact(x, approximate="tanh")
    try:
        yield
    finally:
        F.gelu = exact


def layer_module(cls, config, namespace: MutableMapping | None = None) -> None:
    """The common mistakes of ``BertLayer``, on the reference attention (``namespace``: the notebook's globals)."""
    substitute = grading.substituted(namespace, BertSelfAttention=_reference("BertSelfAttention")) \
        if namespace is not None else contextlib.nullcontext()
    with substitute:
        config = dataclasses.replace(config, layer_norm_eps=0.3)
        module, reference = _with_reference_weights("BertLayer", cls, config)
        _padding_invariance("BertLayer", module, config.hidden_size,
                            "pass the attention_mask on to self.attention; no other part mixes positions")
        g = torch.Generator().manual_seed(4)
        x = 3 * torch.randn(2, 5, config.hidden_size, generator=g)
        mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
        before = x.clone()
        with torch.no_grad():
            got, expected = module(x, mask), reference(x, mask)
            if not _close(got, expected):
                with _tanh_gelu():
                    tanh = reference(x, mask)
                if _close(got, tanh):
                    _fail("BertLayer", "matches the layer with the tanh approximation of GELU",
                          "BERT uses the exact GELU, x * Phi(x) with the erf: F.gelu(x) or nn.GELU(), without "
                          "approximate='tanh'")
                eps_default = _reference("BertLayer")(dataclasses.replace(config, layer_norm_eps=PYTORCH_DEFAULT_EPS))
                eps_default.load_state_dict(reference.state_dict())
                if _close(got, eps_default.eval()(x, mask)):
                    _fail("BertLayer", f"uses LayerNorm eps {PYTORCH_DEFAULT_EPS:g}, PyTorch's default",
                          "nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) for both norms")
                grading.check_close("BertLayer", got, expected, atol=1e-5, rtol=1e-4,
                                    hint="post-LN: x = norm(x + dropout(sublayer(x))) for attention, then for the "
                                         "feed-forward output(GELU(intermediate(x)))")
        grading.check_unchanged("BertLayer's hidden_states", before, x)


# --- the whole encoder -------------------------------------------------------------------------------

def _causes(stage: str, error: float, only_segment_b: bool, only_padded: bool) -> str:
    """Likely causes of a first difference at ``stage`` of size ``error``."""
    if stage == "embeddings":
        if only_segment_b:
            return "the token types make no difference (or only segment B differs): BertEmbeddings must add " \
                   "token_type_embeddings(token_type_ids)"
        if error < 1e-3:
            return "a small difference from the start: the LayerNorm eps (use config.layer_norm_eps, 1e-12)"
        return "BertEmbeddings: a missing embedding, positions not counted from 0, or dropout/LayerNorm order"
    if only_padded:
        return (f"only sentences with padding differ at {stage}: the attention mask (keys, not queries; applied "
                "before the softmax; 1 = token)")
    if error < 1e-2:
        return (f"a small difference at {stage}: the tanh approximation of GELU, or a LayerNorm eps other than "
                "config.layer_norm_eps")
    return (f"a large difference at {stage}: the attention (1/sqrt(d), softmax over the keys, head split and "
            "merge), a residual added in the wrong place, or the order of LayerNorm and dropout")


def encoder_against_transformers(mine, theirs, batch, tokens: list[list[str]] | None = None,
                                 atol: float = 1e-4) -> float:
    """Compare a course ``BertModel`` with ``transformers.BertModel`` stage by stage; the max error at the end.

    ``batch``: the tokenizer's output (input_ids, attention_mask, token_type_ids). The first
    stage that differs (embeddings, then each layer, then the pooler) fails with its position
    as (sentence, token, feature) and the likely causes for an error of that size there.
    """
    with torch.no_grad():
        ours = mine(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        reference = theirs(**batch, output_hidden_states=True)
    real = batch["attention_mask"].bool()  # (B, T)
    padded_rows = ~real.all(-1)  # sentences with padding
    segment_b = batch["token_type_ids"].bool()
    stages = ["embeddings"] + [f"layer {i}" for i in range(1, len(reference.hidden_states))]
    worst = 0.0
    for stage, got, expected in zip(stages, ours.hidden_states, reference.hidden_states):
        error = (got - expected).abs() * real[..., None]  # (B, T, H), padding ignored
        worst = max(worst, float(error.max()))
        if error.max() <= atol:
            continue
        sentence, token, feature = (int(i) for i in torch.unravel_index(error.argmax(), error.shape))
        where = f"(sentence {sentence}, token {token}" + (f" {tokens[sentence][token]!r}" if tokens else "") + \
                f", feature {feature})"
        wrong = error.amax(-1) > atol  # (B, T): which real tokens differ
        only_b = bool(wrong.any() and (wrong <= segment_b).all())
        if stage == "embeddings" and segment_b.any() and hasattr(mine, "embeddings"):
            with torch.no_grad():  # does the answer look at the token types at all?
                ids, types = batch["input_ids"], batch["token_type_ids"]
                only_b = only_b or torch.equal(mine.embeddings(ids, types), mine.embeddings(ids, torch.zeros_like(types)))
        only_padded = bool(wrong.any() and (wrong.any(-1) <= padded_rows).all())
        _fail(f"your encoder at {stage}", f"max abs difference {float(error.max()):.3g} at {where}; "
              f"every earlier stage matches", _causes(stage, float(error.max()), only_b, only_padded))
    grading.check_close("pooler output", ours.pooler_output, reference.pooler_output, atol=atol, rtol=atol,
                        hint="the pooler is tanh(dense(hidden state of [CLS]))")
    return worst
