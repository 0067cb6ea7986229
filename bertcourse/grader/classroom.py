"""Throw-away courses for the benchmark and the tests: release, simulated submissions.

``make_course`` copies ``nbgrader_config.py`` and one source notebook (or its
first items only, ``items=...``, for a quicker class) into a folder and runs
``generate_assignment`` there; ``submission`` fills the release's answer cells
with the reference answers, with per-cell replacements.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat

from ..authoring import strip_markers
from ..registry import item_of
from . import timing

REPO = Path(__file__).resolve().parents[2]


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def trimmed(notebook, items: list[str]):
    """``notebook`` with the setup cells and the cells of ``items`` only (answers and their tests)."""
    def keep(index, cell):
        grade_id = _meta(cell).get("grade_id", "")
        return (index < first_answer and cell.cell_type == "code") or grade_id in items or (
            item_of(grade_id, items) is not None)

    first_answer = min(i for i, c in enumerate(notebook.cells) if _meta(c).get("solution"))
    copy = nbformat.from_dict(notebook)
    copy.cells = [c for i, c in enumerate(copy.cells) if keep(i, c)]
    return copy


def make_course(folder: Path, assignment: str, items: list[str] | None = None, db_url: str | None = None) -> Path:
    """A course folder with ``assignment`` released (``generate_assignment``) into its gradebook."""
    # Imported here: nbgrader loads only when a test or benchmark class is built.
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from .autograde import _config
    from .settings import GradingSettings

    course = Path(folder).resolve()
    (course / "solutions" / assignment).mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    source = nbformat.read(str(REPO / "solutions" / assignment / f"{assignment}.ipynb"), as_version=4)
    if items:
        source = trimmed(source, items)
    nbformat.write(source, str(course / "solutions" / assignment / f"{assignment}.ipynb"))
    times = timing.load(REPO, assignment)
    if times is not None:  # the measured cell times of the cells kept: grading derives its limits from them
        kept = {_meta(c).get("grade_id") for c in source.cells}
        timing.times_path(course, assignment).write_text(
            json.dumps({k: v for k, v in times.items() if k in kept}, indent=1) + "\n")
    config = _config(course, db_url, course / "submitted", GradingSettings())
    result = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config).generate_assignment(assignment)
    if not result.get("success"):
        raise RuntimeError(f"generate_assignment failed:\n{result.get('log')}\n{result.get('error')}")
    return course


def release(course: Path, assignment: str):
    return nbformat.read(str(course / "exercises" / assignment / f"{assignment}.ipynb"), as_version=4)


def source(course: Path, assignment: str):
    return nbformat.read(str(course / "solutions" / assignment / f"{assignment}.ipynb"), as_version=4)


def submission(course: Path, assignment: str, replace: dict[str, str] | None = None, answered: bool = True):
    """The release with answer cells filled from the source (``replace``: grade_id -> new source)."""
    notebook = release(course, assignment)
    answers = {_meta(c).get("grade_id"): c.source for c in source(course, assignment).cells}
    for cell in notebook.cells:
        grade_id = _meta(cell).get("grade_id")
        if answered and _meta(cell).get("solution") and grade_id in answers:
            cell.source = strip_markers(answers[grade_id])
        if replace and grade_id in replace:
            cell.source = replace[grade_id]
    return notebook


def submit(course: Path, assignment: str, student: str, notebook=None, *, raw: str | None = None,
           name: str | None = None) -> Path:
    """Put a submission in ``submitted/<student>/<assignment>/`` (``raw``: file text as is)."""
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "timestamp.txt").write_text("2024-06-01 12:00:00.000000 UTC")
    path = folder / f"{name or assignment}.ipynb"
    if raw is not None:
        path.write_text(raw)
    elif notebook is not None:
        nbformat.write(notebook, str(path))
    return path
