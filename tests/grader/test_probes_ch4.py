"""The re-check probes of Chapter 4: the reference passes, every mutant is caught, every alternative passes.

The probes call the notebook's harness (a locked cell the worker runs with the setup), so each
variant is judged in a namespace where the solution's setup and harness cells ran and the
variant's answer replaced the reference; requests are answered the way the worker answers them
(its argument decoding, then a round trip through the codec). One case goes through the real path,
:func:`recheck.recheck` in the sandboxed worker.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from bertcourse import registry
from bertcourse.grader import codec, probes, recheck, worker
from bertcourse.grader.sandbox import Limits, Sandbox, reserved_slots
from tests import notebook_runner as runner
from tests.grader_support import require_sandbox
from tests.mutants.ch4_training import VARIANTS

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "ch4_training"
ITEMS = [i.name for i in registry.items(ASSIGNMENT, with_reference=True)]
SEED = 20240607


@pytest.fixture(scope="module")
def notebook():
    return runner.load(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")


def _namespace(notebook, answers: dict[str, str]) -> dict:
    """The worker's namespace: what recheck.program runs (setup, harness, answers), with ``answers`` swapped in."""
    namespace = {"__name__": "__main__"}
    for grade_id, source in recheck.program(notebook):
        exec(compile(answers.get(grade_id, runner.strip_markers(source)), f"<cell {grade_id}>", "exec"), namespace)
    return namespace


def _verdict(namespace: dict, item: str) -> str | None:
    import torch

    torch.manual_seed(0)
    for case in probes.PROBES[item](np.random.default_rng([SEED, len(item)]), probes.Context()):
        request = copy.deepcopy(case.request)
        try:
            got = codec.decode(codec.encode(worker.call(namespace, request)))
        except Exception as error:  # noqa: BLE001 - a variant that raises fails, as in the worker
            return f"{case.label}: raised {type(error).__name__}: {error}"
        problem = probes.compare(case, got)
        if problem:
            return f"{case.label}: {problem}"
    return None


def test_every_chapter_4_item_has_a_probe_and_the_training_check_depends_on_them():
    assert set(ITEMS) <= set(probes.PROBES)
    assert set(probes.DEPENDS["training_with_your_components"]) == set(ITEMS)


@pytest.mark.parametrize("item", ITEMS)
def test_reference_answer_passes(item, notebook):
    problem = _verdict(_namespace(notebook, {}), item)
    assert problem is None, problem


@pytest.mark.parametrize("variant", VARIANTS, ids=[f"{v.item}:{'ok' if v.correct else 'mutant'}:{v.name}" for v in VARIANTS])
def test_variant_is_judged_as_expected(variant, notebook):
    source = variant.apply(runner.answer_source(notebook, variant.item))
    problem = _verdict(_namespace(notebook, {variant.item: source}), variant.item)
    if variant.correct:
        assert problem is None, f"a correct alternative failed the re-check: {problem}"
    else:
        assert problem is not None, f"mutant '{variant.name}' passed the re-check"


def test_recheck_in_the_sandboxed_worker(notebook):
    """The real path: the solution passes; an L2-style AdamW fails its item and lowers the training check."""
    require_sandbox()
    submission = copy.deepcopy(notebook)
    for cell in submission.cells:
        cell.source = runner.strip_markers(cell.source)
        if runner.nbgrader_meta(cell).get("grade_id") == "adamw_update":
            cell.source = next(v for v in VARIANTS if v.item == "adamw_update" and not v.correct).apply(cell.source)
    items = ITEMS + ["training_with_your_components"]
    with reserved_slots() as first:
        sandbox = Sandbox(Limits(cpu_seconds=300), slot=first)
        honest = recheck.recheck(notebook, items, sandbox, timeout=300)
        broken = recheck.recheck(submission, items, sandbox, timeout=300)
    assert all(c.passed for c in honest[:-1]) and honest[-1].passed is None, [(c.item, c.detail) for c in honest]
    verdict = {c.item: c.passed for c in broken}
    assert verdict == {item: item != "adamw_update" for item in ITEMS} | {"training_with_your_components": False}, \
        [(c.item, c.detail) for c in broken]
