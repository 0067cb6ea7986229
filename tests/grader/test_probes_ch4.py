"""The re-check probes of Chapter 4: the reference passes, every mutant is caught, every alternative passes.

The probes call the notebook's harness (a locked cell the worker runs with the setup), so each
variant is judged in a namespace where the solution's setup and harness cells ran and the
variant's answer replaced the reference; requests are answered the way the worker answers them
(its argument decoding, then a round trip through the codec). One case goes through the real path,
:func:`recheck.recheck` in the sandboxed worker.
"""

from __future__ import annotations

import pytest

from bertcourse import registry
from bertcourse.grader import probes, recheck
from tests import notebook_runner as runner
from tests.grader import probe_support as support
from tests.grader_support import require_sandbox
from tests.mutants.ch4_training import VARIANTS

ASSIGNMENT = "ch4_training"
ITEMS = [i.name for i in registry.items(ASSIGNMENT, with_reference=True)]


@pytest.fixture(scope="module")
def notebook():
    return support.solution(ASSIGNMENT)


def _namespace(notebook, answers: dict[str, str]) -> dict:
    """The worker's namespace: what recheck.program runs (setup, harness, answers), with ``answers`` swapped in."""
    return support.namespace((f"cell {grade_id}", answers.get(grade_id, runner.strip_markers(source)))
                             for grade_id, source in recheck.program(notebook))


def test_every_chapter_4_item_has_a_probe_and_the_training_check_depends_on_them():
    assert set(ITEMS) <= set(probes.PROBES)
    assert set(probes.DEPENDS["training_with_your_components"]) == set(ITEMS)


@pytest.mark.parametrize("item", ITEMS)
def test_reference_answer_passes(item, notebook):
    problem = support.verdict(_namespace(notebook, {}), support.cases(item))
    assert problem is None, problem


@pytest.mark.parametrize("variant", VARIANTS, ids=support.variant_ids(VARIANTS))
def test_variant_is_judged_as_expected(variant, notebook):
    source = variant.apply(runner.answer_source(notebook, variant.item))
    problem = support.verdict(_namespace(notebook, {variant.item: source}), support.cases(variant.item))
    if variant.correct:
        assert problem is None, f"a correct alternative failed the re-check: {problem}"
    else:
        assert problem is not None, f"mutant '{variant.name}' passed the re-check"


def test_recheck_in_the_sandboxed_worker(notebook):
    """The real path: the solution passes; an L2-style AdamW fails its item and lowers the training check."""
    require_sandbox()
    adamw_l2 = next(v for v in VARIANTS if v.item == "adamw_update" and not v.correct)
    honest, broken = support.recheck_in_sandbox(ITEMS + ["training_with_your_components"], notebook,
                                                support.submission(notebook, {"adamw_update": adamw_l2}))
    assert all(c.passed for c in honest[:-1]) and honest[-1].passed is None, [(c.item, c.detail) for c in honest]
    verdict = {c.item: c.passed for c in broken}
    assert verdict == {item: item != "adamw_update" for item in ITEMS} | {"training_with_your_components": False}, \
        [(c.item, c.detail) for c in broken]
