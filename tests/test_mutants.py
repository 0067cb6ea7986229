"""Every common mistake loses points; every correct alternative gets full marks.

Each variant replaces one answer cell of the solution notebook and runs that
item's visible and hidden tests in-process (tests/notebook_runner.py).
"""

from __future__ import annotations

import importlib
from collections import Counter
from pathlib import Path

import pytest

from bertcourse import registry
from tests import notebook_runner as runner

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = [a for a in registry.ASSIGNMENTS if (ROOT / "tests" / "mutants" / f"{a}.py").exists()]
VARIANTS = [(a, v) for a in CHAPTERS for v in importlib.import_module(f"tests.mutants.{a}").VARIANTS]


def _notebook(assignment):
    return runner.load(ROOT / "solutions" / assignment / f"{assignment}.ipynb")


def _item_tests(notebook, item):
    return {runner.nbgrader_meta(c)["grade_id"] for c in notebook.cells
            if runner.nbgrader_meta(c).get("grade_id", "").startswith(f"test_{item}")}


@pytest.mark.parametrize("assignment", CHAPTERS)
def test_every_item_has_mutants_and_an_alternative(assignment):
    module = importlib.import_module(f"tests.mutants.{assignment}")
    mutants = Counter(v.item for v in module.VARIANTS if not v.correct)
    alternatives = Counter(v.item for v in module.VARIANTS if v.correct)
    for item in registry.items(assignment, with_reference=True):
        assert mutants[item.name] >= 3, f"{item.name}: only {mutants[item.name]} mutants"
        assert alternatives[item.name] >= 1, f"{item.name}: no correct alternative"


@pytest.mark.parametrize("assignment,variant", VARIANTS,
                         ids=[f"{a}:{v.item}:{'ok' if v.correct else 'mutant'}:{v.name}" for a, v in VARIANTS])
def test_variant_is_graded_as_expected(assignment, variant):
    notebook = _notebook(assignment)
    answer = variant.apply(runner.answer_source(notebook, variant.item))
    tests = _item_tests(notebook, variant.item)
    grades = runner.grade(notebook, {variant.item: answer}, graded=tests, skip={"demo_similarity"})
    assert set(grades) == tests
    points, full = runner.total(grades)
    failures = {g.grade_id: g.error for g in grades.values() if g.error}
    if variant.correct:
        assert points == full, f"a correct alternative lost points: {failures}"
    else:
        assert points < full, f"mutant '{variant.name}' got full marks ({points}/{full})"


@pytest.mark.parametrize("assignment", [a for a in registry.ASSIGNMENTS
                                        if (ROOT / "solutions" / a / f"{a}.ipynb").exists()])
def test_solution_gets_full_marks(assignment):
    grades = runner.grade(_notebook(assignment))
    points, full = runner.total(grades)
    assert full > 0
    assert points == full, {g.grade_id: g.error for g in grades.values() if g.error}
