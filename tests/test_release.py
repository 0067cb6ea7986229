"""The committed release (exercises/) is what nbgrader makes of solutions/, and gives nothing away.

nbgrader's generate_assignment is deterministic (a cell's checksum is an MD5 of its
source and metadata, nothing depends on time or the gradebook), so the release must
be byte-identical to a fresh one: regenerate with ``make release`` after editing a
source notebook.
"""

from __future__ import annotations

import ast
import json

import pytest

from bertcourse import authoring, registry
from tests import nbgrader_course as course_lib
from tests.nbgrader_course import REPO, meta

ASSIGNMENTS = course_lib.source_assignments()
WITH_NOTEBOOK = [a for a in ASSIGNMENTS if course_lib.source_notebook_path(a).exists()]


@pytest.fixture(scope="module")
def fresh_course(tmp_path_factory):
    """A course folder in which every assignment of solutions/ was just generated."""
    course = course_lib.make_course(tmp_path_factory.mktemp("release") / "course", ASSIGNMENTS)
    for assignment in ASSIGNMENTS:
        course_lib.generate_assignment(course, assignment)
    return course


def test_there_are_assignments():
    assert WITH_NOTEBOOK, "solutions/ holds no assignment notebook"
    unknown = set(ASSIGNMENTS) - set(registry.ASSIGNMENTS)
    assert not unknown, f"solutions/ has folders that are not assignments of the registry: {sorted(unknown)}"


def test_release_folders_match_sources():
    released = sorted(p.name for p in (REPO / course_lib.RELEASE_DIR).iterdir()
                      if p.is_dir() and not course_lib.JUNK.search(p.name))
    assert released == ASSIGNMENTS, "exercises/ and solutions/ hold different assignments: run `make release`"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_a_fresh_generate_assignment(fresh_course, assignment):
    committed = course_lib.files_under(REPO / course_lib.RELEASE_DIR / assignment)
    fresh = course_lib.files_under(fresh_course / course_lib.RELEASE_DIR / assignment)
    assert sorted(committed) == sorted(fresh), "the release's files differ from a fresh generate_assignment"
    for name, data in fresh.items():
        if committed[name] == data:
            continue
        if name.endswith(".ipynb"):  # show what differs, cell by cell
            ours, theirs = json.loads(committed[name]), json.loads(data)
            assert ours.get("metadata") == theirs.get("metadata"), f"{name}: notebook metadata differs"
            assert len(ours["cells"]) == len(theirs["cells"]), f"{name}: the number of cells differs"
            for index, (a, b) in enumerate(zip(ours["cells"], theirs["cells"])):
                assert a == b, f"{name}: cell {index} differs from a fresh release (run `make release`)"
        pytest.fail(f"{name} is not byte-identical to a fresh generate_assignment (run `make release`)")


@pytest.mark.parametrize("assignment", WITH_NOTEBOOK)
def test_release_holds_no_solution_and_no_hidden_test(assignment):
    release = course_lib.read(course_lib.release_notebook_path(assignment))
    for index, cell in enumerate(release.cells):
        for marker in course_lib.MARKERS:
            assert marker not in cell.source, f"cell {index} ({meta(cell).get('grade_id')}) holds '{marker}'"
    released_lines = {line.strip() for cell in release.cells for line in cell.source.splitlines()}
    secrets = course_lib.secret_lines(course_lib.read(course_lib.source_notebook_path(assignment)))
    assert any(secrets.values()), "found no solution or hidden-test line to look for"
    leaked = {grade_id: sorted(lines & released_lines) for grade_id, lines in secrets.items()}
    assert not any(leaked.values()), f"lines of the reference solutions or hidden tests in the release: {leaked}"


@pytest.mark.parametrize("assignment", WITH_NOTEBOOK)
def test_release_answer_cells_are_stubs(assignment):
    release = course_lib.read(course_lib.release_notebook_path(assignment))
    answers = [c for c in release.cells if course_lib.is_answer(c)]
    assert answers
    for cell in answers:
        grade_id = meta(cell)["grade_id"]
        bodies = course_lib.function_bodies(cell.source)
        top_level = {name.split(".")[0] for name in bodies}
        assert grade_id in top_level, f"the answer cell {grade_id} does not define {grade_id}"
        for name, body in bodies.items():
            assert [ast.unparse(s) for s in body] == ["raise NotImplementedError()"], \
                f"{grade_id}: the body of {name} is not `raise NotImplementedError()`"
    for cell in release.cells:
        if course_lib.is_manual(cell):
            assert cell.source.strip() == "YOUR ANSWER HERE", f"{meta(cell)['grade_id']} is not blank in the release"


@pytest.mark.parametrize("assignment", WITH_NOTEBOOK)
def test_answer_cells_do_not_drift_from_the_references(assignment):
    assert authoring.drifted_items(assignment, REPO) == []


@pytest.mark.parametrize("assignment", WITH_NOTEBOOK)
def test_cells_match_the_registry(assignment):
    notebook = course_lib.read(course_lib.source_notebook_path(assignment))
    nbgrader_cells = [c for c in notebook.cells if meta(c)]
    grade_ids = [meta(c).get("grade_id") for c in nbgrader_cells]
    assert None not in grade_ids, "an nbgrader cell has no grade_id"
    duplicates = sorted({g for g in grade_ids if grade_ids.count(g) > 1})
    assert not duplicates, f"grade_ids used more than once: {duplicates}"

    for cell in nbgrader_cells:
        if meta(cell).get("grade"):
            assert meta(cell).get("points", 0) > 0, f"the grade cell {meta(cell)['grade_id']} is worth no points"

    items = registry.items(assignment)
    names = {item.name for item in items}
    answers = [meta(c)["grade_id"] for c in notebook.cells if course_lib.is_answer(c)]
    manual = [meta(c)["grade_id"] for c in notebook.cells if course_lib.is_manual(c)]
    tests = [meta(c)["grade_id"] for c in notebook.cells if course_lib.is_test(c)]
    assert set(answers) <= names, f"answer cells of no registered item: {sorted(set(answers) - names)}"
    assert set(manual) <= names, f"manually graded cells of no registered item: {sorted(set(manual) - names)}"

    # A test cell belongs to the item with the longest name it starts with (test_BertLayer_dropout -> BertLayer).
    owner = {}
    for test in tests:
        matches = [n for n in names if test.startswith(f"test_{n}")]
        assert matches, f"the test cell {test} tests no registered item"
        owner[test] = max(matches, key=len)

    for item in items:
        item_tests = [t for t in tests if owner[t] == item.name]
        if item.name.startswith("written_"):
            assert manual.count(item.name) == 1, f"{item.name}: expected one manually graded answer cell"
            assert item.name not in answers and not item_tests
        elif item.reference is None:  # a check of the assembled parts: a test cell, no answer cell
            assert item.name not in answers and item.name not in manual
            assert f"test_{item.name}" in tests, f"{item.name}: no test cell test_{item.name}"
        else:
            assert answers.count(item.name) == 1, f"{item.name}: expected one answer cell, found {answers.count(item.name)}"
            assert item_tests, f"{item.name}: no test cell"
            # Hidden tests split by property: several cells test_<item>_<property>, one graded share each.
            cells = course_lib.cells_by_id(notebook)
            hidden = [t for t in item_tests if "### BEGIN HIDDEN TESTS" in cells[t].source]
            assert len(hidden) >= 2, f"{item.name}: hidden tests in {len(hidden)} cell(s); split them by property"
            for test in hidden:
                assert "### END HIDDEN TESTS" in cells[test].source, f"{test} has no end of its hidden-test region"
                assert test != f"test_{item.name}_hidden", f"{test}: name the property it checks"
