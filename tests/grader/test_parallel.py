"""A small class graded twice: serially on SQLite, and by 2 workers on PostgreSQL.

Every score of every student and test cell must agree, and each gradebook must hold
exactly one submission per student. The serial run also writes the feedback, which
must teach (pass/fail, the grading helpers' messages) without showing hidden tests.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from bertcourse.grader import classroom
from bertcourse.grader.batch import GradingError, grade
from tests.grader_support import (
    ASSIGNMENT,
    ITEMS,
    NOTEBOOK,
    SETTINGS,
    WRONG,
    answers,
    expected_scores,
    require_postgres,
    require_sandbox,
)
from tests.nbgrader_course import html_text, secret_lines

pytestmark = pytest.mark.slow  # a whole class graded twice, serially and in parallel: minutes (make test-fast skips it)

WP, SDPA = ITEMS
CLASS = {
    "ada": ({}, {WP, SDPA}),
    "ben": ({WP: WRONG[WP]}, {SDPA}),
    "cy": ({SDPA: WRONG[SDPA]}, {WP}),
    "dee": (dict(WRONG), set()),
    "eve": ({WP: "WARNS"}, {WP, SDPA}),  # right, but warns on every call: warnings cost no points
    "fay": (None, set()),  # the release as handed out, nothing answered
}


WARNS = ("\nimport warnings\nwarnings.simplefilter('always')\n_quiet = wordpiece_tokenize\n\n"
         "def wordpiece_tokenize(*args, **kwargs):\n"
         "    warnings.warn('wordpiece_tokenize is slow', UserWarning)\n"
         "    return _quiet(*args, **kwargs)\n")


def _course(folder, db_url=None):
    course = classroom.make_course(folder, ASSIGNMENT, items=ITEMS, db_url=db_url)
    good = answers(course)
    for student, (replace, _) in CLASS.items():
        if replace and replace.get(WP) == "WARNS":
            replace = {WP: good[WP] + WARNS}
        notebook = classroom.submission(course, ASSIGNMENT, replace=replace, answered=replace is not None)
        classroom.submit(course, ASSIGNMENT, student, notebook)
    return course


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    require_sandbox()
    postgres = require_postgres()
    root = tmp_path_factory.mktemp("parallel")
    serial_course = _course(root / "serial")
    serial = grade(serial_course, ASSIGNMENT, jobs=1, settings=SETTINGS)
    with postgres as pg:
        url = pg.url("parallel")
        parallel_course = _course(root / "parallel", url)
        # the instructor guide's command, as an instructor runs it
        completed = subprocess.run(
            [sys.executable, "-m", "bertcourse", "grade", ASSIGNMENT, "--jobs", "2", "--db", url,
             "--course", str(parallel_course), "--no-feedback",
             "--cell-timeout", str(SETTINGS.cell_timeout), "--notebook-timeout", str(SETTINGS.notebook_timeout)],
            capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    parallel = json.loads((parallel_course / "grading_reports" / ASSIGNMENT / "report.json").read_text())
    return {"serial": serial, "parallel": parallel, "course": serial_course, "stdout": completed.stdout}


def test_every_student_graded_once_in_both_runs(runs):
    serial, parallel = runs["serial"], runs["parallel"]
    assert not serial.lost and not serial.duplicated and not parallel["lost"] and not parallel["duplicated"]
    assert set(serial.students) == set(parallel["students"]) == set(CLASS)


def test_parallel_scores_equal_serial_scores(runs):
    parallel = runs["parallel"]
    assert parallel["jobs"] == 2 and parallel["db_url"].startswith("postgresql")
    assert runs["serial"].scores() == {s: r["scores"] for s, r in parallel["students"].items()}
    assert "# Grading report: ch1_architecture" in runs["stdout"]


def test_scores_are_the_deserved_ones(runs):
    for student, (_, correct) in CLASS.items():
        assert runs["serial"].scores()[student] == expected_scores(correct), student


def test_csv_export_matches_the_gradebook(runs):
    with open(runs["course"] / "grading_reports" / ASSIGNMENT / "grades.csv", newline="") as handle:
        rows = {row["student_id"]: float(row["score"]) for row in csv.DictReader(handle)}
    assert rows == {s: sum(v.values()) for s, v in runs["serial"].scores().items()}


def _feedback(runs, student) -> str:
    return html_text(runs["course"] / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html")


def test_feedback_teaches(runs):
    ben = _feedback(runs, "ben")
    assert "Hint: continuation pieces start with" in ben  # the visible test's message
    assert "GradingError" in ben and "wordpiece_tokenize(" in ben  # the hidden test's message, not its code
    assert "hidden tests: their source is not shown" in ben
    assert "visible tests passed" in _feedback(runs, "ada")


def test_feedback_hides_hidden_tests(runs):
    source = classroom.source(runs["course"], ASSIGNMENT)
    hidden = {line for grade_id, lines in secret_lines(source).items() if grade_id.startswith("test_")
              for line in lines}
    assert hidden
    for student in CLASS:
        text = _feedback(runs, student)
        leaked = sorted(line for line in hidden if line in text)
        assert not leaked, f"{student}'s feedback shows hidden tests: {leaked[:3]}"


def test_sqlite_refuses_parallel_grading(runs):
    with pytest.raises(GradingError, match="concurrent writers"):
        grade(runs["course"], ASSIGNMENT, jobs=2, settings=SETTINGS)
