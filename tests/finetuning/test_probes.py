"""The re-check probes of Chapter 5: the reference passes, every mutant is caught, every alternative passes.

Requests are answered in this process the way the sandboxed worker answers them (its
``call`` and ``module`` ops, then a round trip through the codec), with the variant's
answer cell run after the notebook's setup cell, as the worker runs them.
"""

from __future__ import annotations

import pytest

from bertcourse import registry
from bertcourse.grader import probes
from tests import notebook_runner as runner
from tests.grader import probe_support as support
from tests.mutants.ch5_finetuning import VARIANTS

ASSIGNMENT = "ch5_finetuning"
ITEMS = [i.name for i in registry.items(ASSIGNMENT, with_reference=True)]
# Mistakes the re-check cannot see, left to the hidden tests: the worker answers a call that raises with a
# failure (so "raises ValueError" cannot be asked of it), and runs modules in eval mode under no_grad.
HIDDEN_TESTS_ONLY = {"k > N clamped instead of an error", "a frozen encoder (no gradient into it)"}


@pytest.fixture(scope="module")
def notebook():
    return support.solution(ASSIGNMENT)


def _namespace(notebook, item: str, source: str) -> dict:
    return support.namespace([("setup", runner.strip_markers(runner.answer_source(notebook, "setup"))), (item, source)])


def _verdict(namespace: dict, item: str) -> str | None:
    """What the re-check says of the answer in ``namespace``, with the global generators left as they are."""
    return support.verdict(namespace, support.cases(item), seed_globals=False)


def test_every_code_item_has_a_probe_and_the_fine_tune_depends_on_the_classifier():
    assert set(ITEMS) <= set(probes.PROBES)
    assert probes.DEPENDS["spam_with_your_classifier"] == ("SequenceClassifier",)


@pytest.mark.parametrize("item", ITEMS)
def test_reference_answer_passes(item, notebook):
    problem = _verdict(_namespace(notebook, item, runner.answer_source(notebook, item)), item)
    assert problem is None, problem


@pytest.mark.parametrize("variant", VARIANTS, ids=support.variant_ids(VARIANTS))
def test_variant_is_judged_as_expected(variant, notebook):
    source = variant.apply(runner.answer_source(notebook, variant.item))
    problem = _verdict(_namespace(notebook, variant.item, source), variant.item)
    if variant.correct:
        assert problem is None, f"a correct alternative failed the re-check: {problem}"
    elif variant.name in HIDDEN_TESTS_ONLY:
        assert problem is None, f"the re-check now catches '{variant.name}': remove it from HIDDEN_TESTS_ONLY"
    else:
        assert problem is not None, f"mutant '{variant.name}' passed the re-check"
