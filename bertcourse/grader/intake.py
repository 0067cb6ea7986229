"""Intake: what each student handed in, checked before anything runs.

``submitted/`` is the record and is never changed. Each submission is copied
to a staging folder that nbgrader grades from, without the notebooks it cannot
grade: malformed JSON, a notebook under another name, an empty folder. Each of
those becomes a report entry; nbgrader scores a notebook that is not staged 0.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat


@dataclass
class Intake:
    student: str
    gradable: bool = True  # at least one expected notebook could be staged
    problems: list[str] = field(default_factory=list)


def expected_notebooks(course: Path, assignment: str, source_directory: str = "solutions") -> list[str]:
    return sorted(p.stem for p in (course / source_directory / assignment).glob("*.ipynb"))


def stage(course: Path, assignment: str, staged_root: Path, students: list[str] | None = None,
          submitted_directory: str = "submitted") -> list[Intake]:
    """Copy every submission of ``assignment`` to ``staged_root``, leaving out what cannot be graded."""
    expected = expected_notebooks(course, assignment)
    intakes = []
    folders = sorted((course / submitted_directory).glob(f"*/{assignment}"))
    for folder in folders:
        student = folder.parent.name
        if students and student not in students:
            continue
        intake = Intake(student)
        target = staged_root / student / assignment
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        found = {p.stem: p for p in folder.glob("*.ipynb")}
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix != ".ipynb":
                destination = target / path.relative_to(folder)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, destination)
        staged = 0
        for name in expected:
            if name not in found:
                intake.problems.append(f"missing notebook {name}.ipynb: scored 0")
                continue
            try:
                notebook = nbformat.read(str(found[name]), as_version=4)
            except Exception as error:  # noqa: BLE001 - any unreadable notebook is reported
                intake.problems.append(f"{name}.ipynb is not a readable notebook ({type(error).__name__}: "
                                       f"{str(error).splitlines()[0][:160] if str(error) else ''}): scored 0")
                continue
            nbformat.write(notebook, str(target / f"{name}.ipynb"))
            staged += 1
        for name in sorted(set(found) - set(expected)):
            intake.problems.append(f"unexpected notebook {name}.ipynb (renamed? expected "
                                   f"{', '.join(n + '.ipynb' for n in expected)}): not graded; rename it and "
                                   "grade again if you accept it")
        intake.gradable = staged > 0
        intakes.append(intake)
    return intakes


def record_zero(db_url: str, assignment: str, student: str) -> None:
    """A submission with every grade 0, for a student nbgrader cannot autograde (nothing gradable handed in)."""
    # Imported here: the gradebook loads only for a submission with nothing gradable.
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        gb.update_or_create_student(student)
        submission = gb.update_or_create_submission(assignment, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                grade.auto_score = 0.0
                grade.needs_manual_grade = False
        gb.db.commit()


def earlier_score(db_url: str, assignment: str, student: str) -> float | None:
    """The score of ``student``'s graded earlier submission, or None when there is none."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            return None
        graded = any(g.auto_score is not None or g.manual_score is not None
                     for nb in submission.notebooks for g in nb.grades)
        return float(submission.score) if graded else None
