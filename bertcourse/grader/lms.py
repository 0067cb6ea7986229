"""Grades and feedback for the learning-management system: CSVs that Canvas and Moodle import, zips to upload.

* ``canvas.csv``: Canvas's gradebook import layout: ``Student, ID, SIS User ID,
  SIS Login ID, Section``, one column per assignment, and a ``Points Possible`` row
  (Canvas reads the maximum from it). The nbgrader student id goes in
  ``SIS Login ID``, the column Canvas matches students by when ``ID`` is empty.
* ``moodle.csv``: ``ID number``, then per assignment its score and its maximum
  (``<assignment>`` and ``<assignment> (max)``); in Moodle's "Import grades: CSV"
  map ``ID number`` to the user's ID number and each score column to its grade item.
* Scores are nbgrader's: the autograded and manual points minus the late penalty
  (:mod:`bertcourse.grader.late`); a student with no submission gets 0.
* ``feedback/<student>.zip``: that student's feedback HTML of the assignment, for upload.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path


def scores(db_url: str, assignments: list[str] | None = None) -> tuple[list[str], dict[str, float],
                                                                         dict[str, dict[str, float]]]:
    """(assignments, max score of each, student -> assignment -> score after the late penalty)."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        names = [a.name for a in gb.assignments if assignments is None or a.name in assignments]
        maxima = {a.name: float(a.max_score) for a in gb.assignments if a.name in names}
        table: dict[str, dict[str, float]] = {}
        for student in gb.students:
            row = table.setdefault(student.id, {})
            for name in names:
                try:
                    submission = gb.find_submission(name, student.id)
                except MissingEntry:
                    row[name] = 0.0
                    continue
                row[name] = round(max(0.0, submission.score - (submission.late_submission_penalty or 0.0)), 4)
    return names, maxima, table


def write_canvas(path: Path, names, maxima, table) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *names])
        writer.writerow(["Points Possible", "", "", "", "", *(f"{maxima[n]:g}" for n in names)])
        for student in sorted(table):
            writer.writerow([student, "", "", student, "", *(f"{table[student][n]:g}" for n in names)])
    return path


def write_moodle(path: Path, names, maxima, table) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ID number", *(c for n in names for c in (n, f"{n} (max)"))])
        for student in sorted(table):
            writer.writerow([student, *(c for n in names for c in (f"{table[student][n]:g}", f"{maxima[n]:g}"))])
    return path


def export(db_url: str, folder: Path, assignments: list[str] | None = None) -> dict[str, Path]:
    """``canvas.csv`` and ``moodle.csv`` of ``assignments`` (default: all) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    names, maxima, table = scores(db_url, assignments)
    return {"canvas": write_canvas(folder / "canvas.csv", names, maxima, table),
            "moodle": write_moodle(folder / "moodle.csv", names, maxima, table)}


def zip_feedback(course: Path, assignment: str, folder: Path, students: list[str] | None = None) -> list[Path]:
    """One zip per student of ``feedback/<student>/<assignment>/`` (the HTML nbgrader generated)."""
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for source in sorted((Path(course) / "feedback").glob(f"*/{assignment}")):
        student = source.parent.name
        if students is not None and student not in students:
            continue
        target = folder / f"{student}.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(p for p in source.rglob("*.html") if p.is_file()):
                archive.write(path, f"{student}/{assignment}/{path.relative_to(source)}")
        made.append(target)
    return made
