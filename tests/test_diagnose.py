"""The visible tests' diagnoses: each common mistake of Chapter 1 fails with the hint written for it.

Every mutant of the four tensor items (``tests/mutants/ch1_architecture.py``) is run
through its item's check; the mistakes the course names get their own hint, every
correct alternative passes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bertcourse import diagnose
from bertcourse.grading import GradingError
from bertcourse.models.bert import BertConfig
from tests import notebook_runner as runner
from tests.mutants.ch1_architecture import VARIANTS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = runner.load(ROOT / "solutions" / "ch1_architecture" / "ch1_architecture.ipynb")
SETUP = next(c.source for c in NOTEBOOK.cells if runner.nbgrader_meta(c).get("grade_id") == "setup")
SETUP = "\n".join(l for l in SETUP.splitlines() if "tokenizer" not in l and "vocab" not in l and "print" not in l)
ITEMS = ("scaled_dot_product_attention", "BertSelfAttention", "BertEmbeddings", "BertLayer")
# mutant name -> words its hint must contain
NAMED = {
    "no 1/sqrt(d) scaling": "sqrt(d)",
    "softmax over the queries": "last dimension (the keys)",
    "scaled by d, not sqrt(d)": "not by d",
    "mask applied after the softmax": "before the softmax",
    "scales the query in place": "modified its input in place",
    "mask on queries instead of keys": "(B, 1, 1, T)",
    "padding mask ignored": "padding *keys*",
    "no attention dropout": "nn.Dropout is a no-op in eval",
    "no token type embedding": "token_type_embeddings",
    "LayerNorm with PyTorch's default eps": "eps=config.layer_norm_eps",
    "tanh-approximate GELU": "exact GELU",
    "padding mask not passed to attention": "pass the attention_mask",
}


def _run(item: str, source: str) -> None:
    namespace = {"__name__": "__main__"}
    exec(compile(SETUP, "<setup>", "exec"), namespace)
    exec(compile(source, f"<{item}>", "exec"), namespace)
    config = BertConfig.preset("tiny")
    answer = namespace[item]
    if item == "scaled_dot_product_attention":
        diagnose.attention_function(answer)
    elif item == "BertSelfAttention":
        diagnose.self_attention_module(answer, config)
    elif item == "BertEmbeddings":
        diagnose.embeddings_module(answer, config)
    else:
        diagnose.layer_module(answer, config, namespace)


def test_the_references_pass():
    for item in ITEMS:
        _run(item, runner.answer_source(NOTEBOOK, item))


# Correct alternatives must pass; of the mistakes, those with a named hint must get it (the others
# are left to the hidden tests, which tests/test_mutants.py covers).
CASES = [v for v in VARIANTS if v.item in ITEMS and (v.correct or v.name in NAMED)]


@pytest.mark.parametrize("variant", CASES, ids=[f"{v.item}:{v.name}" for v in CASES])
def test_each_variant_is_judged_and_named_mistakes_get_their_hint(variant):
    source = variant.apply(runner.answer_source(NOTEBOOK, variant.item))
    if variant.correct:
        _run(variant.item, source)
        return
    with pytest.raises((GradingError, AssertionError)) as raised:
        _run(variant.item, source)
    assert NAMED[variant.name] in str(raised.value), str(raised.value)


def _batch(tokenizer):
    """Two single sentences and a pair, padded together (the final check's batch)."""
    encodings = [tokenizer("Call me Ishmael."), tokenizer("It is not down on any map; true places never are."),
                 tokenizer("Some years ago.", "Never mind how long precisely.")]
    return tokenizer.pad(encodings, return_tensors="pt")


@pytest.mark.parametrize("mistake, stage, words", [
    ("no token type embedding", "embeddings", "token_type_ids"),
    ("tanh-approximate GELU", "layer 1", "tanh approximation of GELU"),
    ("mask on queries instead of keys", "layer 1", "only sentences with padding differ"),
])
def test_the_end_to_end_check_names_the_first_stage_that_differs(mistake, stage, words):
    from bertcourse import hub
    from bertcourse.models import bert as reference

    variant = next(v for v in VARIANTS if v.name == mistake)
    namespace = {"__name__": "__main__"}
    exec(compile(SETUP, "<setup>", "exec"), namespace)
    namespace["BertSelfAttention"] = reference.BertSelfAttention
    exec(compile(variant.apply(runner.answer_source(NOTEBOOK, variant.item)), "<answer>", "exec"), namespace)
    classes = {"embeddings_cls": reference.BertEmbeddings, "layer_cls": reference.BertLayer}
    if variant.item == "BertSelfAttention":
        layer = type("Layer", (reference.BertLayer,), {})
        namespace["BertLayer"] = layer
        original = reference.BertSelfAttention
        reference.BertSelfAttention = namespace["BertSelfAttention"]  # the reference layer builds on the broken one
        try:
            mine = hub.load_bert("minilm", layer_cls=layer)
        finally:
            reference.BertSelfAttention = original
    else:
        classes[{"BertEmbeddings": "embeddings_cls", "BertLayer": "layer_cls"}[variant.item]] = namespace[variant.item]
        mine = hub.load_bert("minilm", **classes)
    tokenizer = hub.load_tokenizer()
    batch = _batch(tokenizer)
    with pytest.raises(GradingError) as raised:
        diagnose.encoder_against_transformers(mine, hub.load_transformers_model("minilm"), batch)
    message = str(raised.value)
    assert f"at {stage}:" in message and words in message and "(sentence " in message, message


def test_the_end_to_end_check_passes_the_reference():
    from bertcourse import hub

    tokenizer = hub.load_tokenizer()
    worst = diagnose.encoder_against_transformers(hub.load_bert("minilm"), hub.load_transformers_model("minilm"),
                                                  _batch(tokenizer))
    assert worst < 1e-4
