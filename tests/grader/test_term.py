"""An instructor's term on a small class (SQLite): grade, review by hand, hand-ins again, grade again, export.

Run 1 grades four students; then the instructor gives a manual score, one student fixes a
lowered answer, one hands in a file that is not a notebook. Run 2 must keep the manual
score, give the fixed answer its points back, keep the earlier grade of the unreadable
hand-in (and say so), and apply the late policy; the LMS CSVs and feedback zips follow.
"""

from __future__ import annotations

import csv
import zipfile
from datetime import datetime, timezone

import pytest

from bertcourse.grader import classroom
from bertcourse.grader.batch import grade
from tests.grader.test_origin import WALK
from tests.grader_support import ASSIGNMENT, ITEMS, NOTEBOOK, SETTINGS, answers, expected_scores, require_sandbox

pytestmark = pytest.mark.slow  # a class graded twice with a review in between: minutes (make test-fast skips it)

WP, SDPA = ITEMS
MANUAL = ("ada", f"test_{WP}_matches_transformers", 1.5)  # the instructor's partial credit on one cell
LATE = "2024-06-03 11:00:00.000000 UTC"  # 47 hours after the due date: two started days, 20% off


def _report_section(course, student: str) -> str:
    text = (course / "grading_reports" / ASSIGNMENT / "report.md").read_text()
    return text.split(f"## {student}:")[1].split("\n## ")[0]


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    require_sandbox()
    from nbgrader.api import Gradebook

    course = classroom.make_course(tmp_path_factory.mktemp("term") / "course", ASSIGNMENT, items=ITEMS)
    db_url = f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(db_url) as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate=datetime(2024, 6, 1, 12, tzinfo=timezone.utc))
    good = answers(course)
    honest = classroom.submission(course, ASSIGNMENT)
    for student in ("ada", "breaker", "late"):
        classroom.submit(course, ASSIGNMENT, student, honest)
    classroom.submit(course, ASSIGNMENT, "walker", classroom.submission(course, ASSIGNMENT, replace={WP: WALK}))
    (course / "submitted" / "late" / ASSIGNMENT / "timestamp.txt").write_text(LATE)
    first = grade(course, ASSIGNMENT, settings=SETTINGS)
    first_section = _report_section(course, "walker")

    with Gradebook(db_url) as gb:  # the instructor reviews ada by hand
        student, cell, score = MANUAL
        gb.find_grade(cell, NOTEBOOK, ASSIGNMENT, student).manual_score = score
        gb.db.commit()
    classroom.submit(course, ASSIGNMENT, "walker", classroom.submission(course, ASSIGNMENT, replace={WP: good[WP]}))
    classroom.submit(course, ASSIGNMENT, "breaker", raw='{"cells": [ not a notebook')
    second = grade(course, ASSIGNMENT, settings=SETTINGS)
    return {"course": course, "first": first, "second": second, "first_walker": first_section}


def test_the_recheck_lowers_then_a_fixed_hand_in_earns_its_points_back(term):
    assert term["first"].scores()["walker"] == expected_scores({SDPA})
    assert "not written in the notebook" in term["first_walker"]
    assert term["second"].scores()["walker"] == expected_scores({WP, SDPA})
    assert term["second"].students["walker"]["restored"], term["second"].students["walker"]


def test_manual_grades_survive_an_autograde_rerun(term):
    student, cell, score = MANUAL
    assert term["second"].scores()[student][f"{NOTEBOOK}/{cell}"] == score


def test_an_unreadable_new_hand_in_keeps_the_earlier_grade_and_says_so(term):
    assert term["second"].scores()["breaker"] == term["first"].scores()["breaker"] == expected_scores({WP, SDPA})
    section = _report_section(term["course"], "breaker")
    assert "KEPT THE EARLIER GRADE" in section and "not a readable notebook" in section and "(REVIEW)" in section


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_lms_csvs_hold_score_after_the_late_penalty_and_max(term):
    folder = term["course"] / "grading_reports" / ASSIGNMENT
    full = sum(expected_scores({WP, SDPA}).values())
    canvas = _rows(folder / "canvas.csv")
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", ASSIGNMENT]
    assert canvas[1][0] == "Points Possible" and float(canvas[1][-1]) == full
    scores = {row[3]: float(row[-1]) for row in canvas[2:]}
    assert scores["late"] == pytest.approx(0.8 * full)  # two started days late: 10% a day
    assert scores["walker"] == full and scores["ada"] == full - 2 + MANUAL[2]
    moodle = _rows(folder / "moodle.csv")
    assert moodle[0] == ["ID number", ASSIGNMENT, f"{ASSIGNMENT} (max)"]
    assert {row[0]: (float(row[1]), float(row[2])) for row in moodle[1:]}["late"] == (pytest.approx(0.8 * full), full)


def test_feedback_is_zipped_per_student(term):
    folder = term["course"] / "grading_reports" / ASSIGNMENT / "feedback"
    assert {p.stem for p in folder.glob("*.zip")} == {"ada", "breaker", "late", "walker"}
    with zipfile.ZipFile(folder / "ada.zip") as archive:
        assert archive.namelist() == [f"ada/{ASSIGNMENT}/{NOTEBOOK}.html"]
