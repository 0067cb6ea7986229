"""Grade a source notebook in this process, the way nbgrader scores it, with answers swapped in.

nbgrader gives a test cell its points when it runs without an error and
writes nothing to stderr. Running the cells in-process with ``exec`` scores
the same way in a fraction of the time of a kernel per submission, which is
what the mutant tests need (dozens of variants per chapter);
``test_nbgrader_roundtrip.py`` checks the real pipeline agrees.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat

from bertcourse.authoring import strip_markers


@dataclass(frozen=True)
class CellGrade:
    grade_id: str
    points: float
    max_points: float
    error: str | None


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def load(path: Path | str):
    return nbformat.read(str(path), as_version=4)


def answer_source(notebook, grade_id: str) -> str:
    """The solution answer of ``grade_id`` without markers."""
    for cell in notebook.cells:
        if nbgrader_meta(cell).get("grade_id") == grade_id:
            return strip_markers(cell.source)
    raise KeyError(grade_id)


def grade(notebook, answers: dict[str, str] | None = None, graded: set[str] | None = None,
          skip: set[str] = frozenset()) -> dict[str, CellGrade]:
    """Run ``notebook``'s code cells in order in a fresh namespace and score its test cells.

    ``answers`` replaces answer cells by grade_id; ``graded`` limits which test
    cells run (default: all); cells whose grade_id is in ``skip`` do not run.
    """
    answers = answers or {}
    namespace = {"__name__": "__main__"}
    grades = {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        meta = nbgrader_meta(cell)
        grade_id = meta.get("grade_id", f"cell-{index}")
        is_test = meta.get("grade") and not meta.get("solution")
        if grade_id in skip or (is_test and graded is not None and grade_id not in graded):
            continue
        source = answers.get(grade_id, strip_markers(cell.source))
        error = _run(source, grade_id, namespace)
        if is_test:
            points = meta["points"]
            grades[grade_id] = CellGrade(grade_id, 0.0 if error else points, points, error)
    return grades


def _run(source: str, name: str, namespace: dict) -> str | None:
    """Execute one cell; return why it would score 0 (an exception or stderr output), else None."""
    stderr = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(stderr), \
            contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("always")
        try:
            exec(compile(source, f"<cell {name}>", "exec"), namespace)
        except Exception as error:  # noqa: BLE001 - a failing cell is a score, not a crash
            return f"{type(error).__name__}: {error}"
    if caught:
        return f"warning on stderr: {caught[0].message}"
    if stderr.getvalue():
        return f"stderr: {stderr.getvalue()[:200]}"
    return None


def total(grades: dict[str, CellGrade]) -> tuple[float, float]:
    return sum(g.points for g in grades.values()), sum(g.max_points for g in grades.values())
