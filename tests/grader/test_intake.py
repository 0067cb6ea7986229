"""Tests of bertcourse.grader.intake: what is staged for grading, and what is reported instead."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from bertcourse.grader import intake

ASSIGNMENT = "ch9_toy"


def _notebook(text: str = "x = 1") -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_code_cell(text))
    return notebook


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A course whose assignment expects two notebooks, part1 and part2."""
    source = tmp_path / "solutions" / ASSIGNMENT
    source.mkdir(parents=True)
    for name in ("part1", "part2"):
        nbformat.write(_notebook(), source / f"{name}.ipynb")
    return tmp_path


def _submit(course: Path, student: str, files: dict[str, str | nbformat.NotebookNode]) -> Path:
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            nbformat.write(content, path)
    return folder


def test_expected_notebooks(course):
    assert intake.expected_notebooks(course, ASSIGNMENT) == ["part1", "part2"]


# (files handed in, staged notebooks, problems: a substring of each, gradable)
CASES = [
    ({"part1.ipynb": _notebook(), "part2.ipynb": _notebook()}, ["part1", "part2"], [], True),
    ({"part1.ipynb": _notebook()}, ["part1"], ["missing notebook part2.ipynb: scored 0"], True),
    ({"part1.ipynb": "{not json", "part2.ipynb": _notebook()}, ["part2"],
     ["part1.ipynb is not a readable notebook"], True),
    ({"part1 (1).ipynb": _notebook(), "part2.ipynb": _notebook()}, ["part2"],
     ["missing notebook part1.ipynb", "unexpected notebook part1 (1).ipynb (renamed?"], True),
    ({}, [], ["missing notebook part1.ipynb", "missing notebook part2.ipynb"], False),
    ({"part1.ipynb": "", "part2.ipynb": "[]"}, [], ["part1.ipynb is not a readable", "part2.ipynb is not a readable"],
     False),
]


@pytest.mark.parametrize("files, staged, problems, gradable", CASES,
                         ids=["complete", "missing", "malformed", "renamed", "empty", "nothing readable"])
def test_stage(course, tmp_path, files, staged, problems, gradable):
    _submit(course, "ada", files)
    [result] = intake.stage(course, ASSIGNMENT, tmp_path / "staged")
    assert result.student == "ada" and result.gradable == gradable
    assert sorted(p.stem for p in (tmp_path / "staged" / "ada" / ASSIGNMENT).glob("*.ipynb")) == staged
    assert len(result.problems) == len(problems)
    for expected in problems:
        assert any(expected in problem for problem in result.problems), result.problems


def test_submitted_is_never_changed_and_other_files_travel(course, tmp_path):
    folder = _submit(course, "ada", {"part1.ipynb": "{not json", "part2.ipynb": _notebook(),
                                      "data/extra.csv": "a,b\n"})
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    intake.stage(course, ASSIGNMENT, tmp_path / "staged")
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert (tmp_path / "staged" / "ada" / ASSIGNMENT / "data" / "extra.csv").read_text() == "a,b\n"


def test_students_filter_and_restaging(course, tmp_path):
    _submit(course, "ada", {"part1.ipynb": _notebook(), "part2.ipynb": _notebook()})
    _submit(course, "bob", {"part1.ipynb": _notebook()})
    staged = tmp_path / "staged"
    assert [i.student for i in intake.stage(course, ASSIGNMENT, staged, students=["bob"])] == ["bob"]
    assert not (staged / "ada").exists()
    (staged / "bob" / ASSIGNMENT / "stale.ipynb").write_text("{}")
    assert [i.student for i in intake.stage(course, ASSIGNMENT, staged)] == ["ada", "bob"]
    assert not (staged / "bob" / ASSIGNMENT / "stale.ipynb").exists()  # a second intake starts afresh
