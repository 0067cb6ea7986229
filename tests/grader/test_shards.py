"""One class, two grader processes, one PostgreSQL gradebook; one grader is killed midway.

Both run ``python -m bertcourse grade --db <url>`` on the same course folder (as two
machines would on a shared one). They claim students through the gradebook's work
queue; grader A is killed (its whole process group, kernels included) while it holds a
claim. B takes A's claim over once A's lease runs out, and finishes the class. Every
student is graded to completion exactly once, none is lost, every score is deserved.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bertcourse.grader import classroom, ledger
from tests.grader_support import ASSIGNMENT, ITEMS, SETTINGS, WRONG, expected_scores, require_postgres, require_sandbox

pytestmark = pytest.mark.slow  # two graders on one class, one killed: minutes (make test-fast skips it)

WP, SDPA = ITEMS
CLASS = {f"s{i}": ({WP: WRONG[WP]} if i % 3 == 1 else {}, {SDPA} if i % 3 == 1 else {WP, SDPA}) for i in range(6)}
LEASE = 8


def _grader(course, url, name):
    command = [sys.executable, "-m", "bertcourse", "grade", ASSIGNMENT, "--db", url, "--course", str(course),
               "--no-feedback", "--lease", str(LEASE), "--cell-timeout", str(SETTINGS.cell_timeout),
               "--notebook-timeout", str(SETTINGS.notebook_timeout)]
    log = open(course.parent / f"{name}.log", "w")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=course)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    require_sandbox()
    postgres = require_postgres()
    with postgres as pg:
        url = pg.url("shards")
        course = classroom.make_course(tmp_path_factory.mktemp("shards") / "course", ASSIGNMENT, items=ITEMS,
                                       db_url=url)
        for student, (replace, _) in CLASS.items():
            classroom.submit(course, ASSIGNMENT, student, classroom.submission(course, ASSIGNMENT, replace=replace))
        a = _grader(course, url, "a")
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:  # kill A while it grades its second student: one done, one held
            rows = ledger.rows(url, ASSIGNMENT) if a.poll() is None else {}
            mine = [r for r in rows.values() if (r["worker"] or "").endswith(f":{a.pid}")]
            if any(r["state"] == "done" for r in mine) and any(r["state"] == "claimed" for r in mine):
                break
            time.sleep(0.5)
        b = _grader(course, url, "b")
        time.sleep(2)
        held = [s for s, r in ledger.rows(url, ASSIGNMENT).items()
                if r["state"] == "claimed" and r["worker"].endswith(f":{a.pid}")]
        os.killpg(a.pid, signal.SIGKILL)
        a.wait()
        assert b.wait(timeout=900) == 0, (course.parent / "b.log").read_text()[-3000:]
        rows = ledger.rows(url, ASSIGNMENT)
    report = json.loads((course / "grading_reports" / ASSIGNMENT / "report.json").read_text())
    return {"rows": rows, "report": report, "held": held, "a": a.pid}


def test_a_grader_was_killed_while_holding_a_claim(shards):
    assert shards["held"], "grader A held no claim when it was killed"


def test_nothing_lost_nothing_graded_twice(shards):
    rows, report = shards["rows"], shards["report"]
    assert set(rows) == set(CLASS)
    assert all(r["state"] == "done" and r["completions"] == 1 for r in rows.values()), rows
    assert not report["lost"] and not report["duplicated"]
    for student in shards["held"]:  # the killed grader's claim was taken over
        assert rows[student]["claims"] == 2 and not rows[student]["worker"].endswith(f":{shards['a']}")


def test_every_score_is_deserved_and_the_audit_covers_the_class(shards):
    scores = {s: r["scores"] for s, r in shards["report"]["students"].items()}
    assert scores == {s: expected_scores(correct) for s, (_, correct) in CLASS.items()}
