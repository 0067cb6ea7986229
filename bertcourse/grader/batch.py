"""A class at a time: intake, N grading processes, feedback, export, and the report.

``grade(course, assignment, jobs=N, db_url=...)`` is what
``python -m bertcourse grade`` runs. Each student is graded in its own process
(:mod:`bertcourse.grader.autograde`) on one of N slots; slot k's kernels run as
their own uid. Parallel grading needs a gradebook that takes concurrent
writers (PostgreSQL); SQLite stays the default for one process at a time.
After the run every student handed in must have exactly one submission in the
gradebook, or the report says who is missing.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import intake as intake_lib
from .sandbox import SLOTS_PER_BATCH, kill_leftovers, probe, reserved_slots
from .settings import GradingSettings


class GradingError(RuntimeError):
    """The batch cannot run as asked (the message says why and what to do)."""


@dataclass
class Report:
    """What a batch did: per student the scores, lowered items, flags and problems; who is lost or twice."""

    assignment: str
    jobs: int
    db_url: str
    seconds: float = 0.0
    sandbox: list[str] = field(default_factory=list)
    limits: str = ""
    students: dict[str, dict] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)

    def scores(self) -> dict[str, dict[str, float | None]]:
        """student -> {"<notebook>/<test cell>": score} as the gradebook holds them after the batch."""
        return {s: r.get("scores", {}) for s, r in self.students.items()}

    def to_json(self) -> dict:
        data = dict(self.__dict__)
        data["db_url"] = _redact(self.db_url)
        return data

    def markdown(self) -> str:
        """``report.md``: one section per student, REVIEW where a person should look."""
        lines = [f"# Grading report: {self.assignment}", "",
                 f"{len(self.students)} submissions, {self.jobs} job(s), {self.seconds:.0f} s, "
                 f"gradebook {_redact(self.db_url)}", ""]
        lines += [f"- sandbox: {line}" for line in (self.sandbox or ["full (bwrap, prlimit, separate uid)"])]
        lines += [f"- time limits: {self.limits}"] if self.limits else []
        if self.lost or self.duplicated:
            lines += ["", f"**LOST: {self.lost}  DUPLICATED: {self.duplicated}**"]
        for student, result in sorted(self.students.items()):
            total = sum(v or 0 for v in result.get("scores", {}).values())
            review = any(result.get(key) for key in ("problems", "lowered", "mismatches", "flags", "error",
                                                      "leftovers"))
            lines += ["", f"## {student}: {total:g} points{'  (REVIEW)' if review else ''}"]
            lines += [f"- intake: {p}" for p in result.get("problems", [])]
            lines += [f"- lowered by the re-check: {m}" for m in result.get("mismatches", []) if "failed" in m]
            lines += [f"- mismatch: {m}" for m in result.get("mismatches", []) if "failed" not in m]
            lines += [f"- suspicious code: {f}" for f in result.get("flags", [])]
            lines += [f"- killed after grading (still running): {p}" for p in result.get("leftovers", [])]
            if result.get("error"):
                lines += ["- grading failed:", "```", result["error"][-1500:], "```"]
        return "\n".join(lines) + "\n"


def _limits_line(settings: GradingSettings) -> str:
    if not settings.cell_timeouts:
        return f"{settings.cell_timeout} s per cell, {settings.notebook_timeout} s per notebook (as given)"
    return (f"per cell {settings.timeout_factor:g}x the reference's measured time, at least "
            f"{settings.min_cell_timeout} s ({min(settings.cell_timeouts.values())}-"
            f"{max(settings.cell_timeouts.values())} s); {settings.notebook_timeout} s per notebook")


def _redact(url: str) -> str:
    """The gradebook URL without its password."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url or "")


def default_db_url(course: Path) -> str:
    from .autograde import _config

    return _config(course, None, course / "submitted", GradingSettings()).CourseDirectory.db_url


def grade(course: Path, assignment: str, *, jobs: int = 1, db_url: str | None = None,
          settings: GradingSettings | None = None, students: list[str] | None = None,
          feedback: bool = True, report_dir: Path | None = None) -> Report:
    """Grade every submission of ``assignment`` in ``course`` (or only ``students``); write the report."""
    from .settings import resolve

    course = Path(course).resolve()
    db_url = db_url or default_db_url(course)
    capabilities = _check(assignment, jobs, db_url, settings or GradingSettings())
    settings = resolve(settings or GradingSettings(), course, assignment)
    report = Report(assignment, jobs, db_url, sandbox=list(capabilities.problems), limits=_limits_line(settings))
    report_dir = report_dir or course / "grading_reports" / assignment
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f"bertcourse-grade-{assignment}-"))
    try:
        intakes = intake_lib.stage(course, assignment, work / "staged", students)
        for entry in intakes:
            report.students[entry.student] = {"student": entry.student, "problems": list(entry.problems)}
            if not entry.gradable:
                intake_lib.record_zero(db_url, assignment, entry.student)
        _grade_all(course, assignment, [e for e in intakes if e.gradable], jobs, db_url, settings, work, report,
                   capabilities)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _audit(db_url, assignment, [e.student for e in intakes], report)
    report_dir.mkdir(parents=True, exist_ok=True)
    if feedback:
        from . import feedback as feedback_lib

        feedback_lib.generate(course, assignment, db_url)
        feedback_lib.export_csv(course, report_dir / "grades.csv", db_url)
    report.seconds = time.monotonic() - started
    (report_dir / "report.json").write_text(json.dumps(report.to_json(), indent=1, default=str))
    (report_dir / "report.md").write_text(report.markdown())
    return report


def _check(assignment: str, jobs: int, db_url: str, settings: GradingSettings):
    """The sandbox's capabilities, or a GradingError when the batch cannot run as asked."""
    from nbgrader.api import Gradebook, MissingEntry

    capabilities = probe()
    if not capabilities.isolated and not settings.allow_unsandboxed:
        raise GradingError("\n".join(capabilities.problems) + "\n(run `make system`, or pass --allow-unsandboxed "
                                                              "to grade trusted submissions without a sandbox)")
    if not 1 <= jobs <= SLOTS_PER_BATCH:
        raise GradingError(f"--jobs must be between 1 and {SLOTS_PER_BATCH}")
    if jobs > 1 and db_url.startswith("sqlite"):
        raise GradingError("parallel grading needs a gradebook that takes concurrent writers: pass "
                           "--db postgresql://... (see the instructor guide), or --jobs 1 for SQLite")
    with Gradebook(db_url) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            raise GradingError(f"{assignment} is not in the gradebook {_redact(db_url)}: run "
                               f"`nbgrader generate_assignment {assignment}` with this --db first") from None
    return capabilities


def _grade_all(course: Path, assignment: str, intakes: list, jobs: int, db_url: str,
               settings: GradingSettings, work: Path, report: Report, capabilities) -> None:
    """Each student in its own grading process, ``jobs`` at a time, each slot's kernels as their own uid."""
    slots: queue.Queue = queue.Queue()
    limit = settings.notebook_timeout + settings.recheck_timeout + 300

    def run(entry: intake_lib.Intake) -> dict:
        slot = slots.get()
        try:
            spec = {"course": str(course), "assignment": assignment, "student": entry.student, "slot": slot,
                    "db_url": db_url, "staged": str(work / "staged"), "settings": settings.to_json(),
                    "result": str(work / f"{entry.student}.result.json")}
            result = _grade_process(course, spec, work / f"{entry.student}.spec.json", limit)
            result["leftovers"] = kill_leftovers(slot) if capabilities.drops_uid else []
            return result
        finally:
            slots.put(slot)

    with reserved_slots() as first, ThreadPoolExecutor(max_workers=jobs) as pool:
        for slot in range(first, first + jobs):
            slots.put(slot)
        for entry, result in zip(intakes, pool.map(run, intakes)):
            result["problems"] = report.students[entry.student]["problems"] + list(result.get("problems", []))
            if not result.get("autograde_ok", False) and not result.get("error"):
                result["error"] = "nbgrader autograde failed:\n" + result.get("log", "")[-3000:]
            report.students[entry.student] = result


def _grade_process(course: Path, spec: dict, spec_path: Path, limit: float) -> dict:
    """Run ``python -m bertcourse.grader.autograde`` on ``spec``; its JSON result, or what went wrong."""
    spec_path.write_text(json.dumps(spec))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    try:
        completed = subprocess.run([sys.executable, "-m", "bertcourse.grader.autograde", str(spec_path)],
                                   cwd=course, env=env, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"student": spec["student"], "error": f"grading process killed after {limit:.0f} s"}
    result_path = Path(spec["result"])
    if not result_path.exists():
        return {"student": spec["student"],
                "error": f"grading process failed:\n{completed.stdout[-2000:]}{completed.stderr[-2000:]}"}
    return json.loads(result_path.read_text())


def _audit(db_url: str, assignment: str, students: list[str], report: Report) -> None:
    """Nothing lost, nothing twice: every student handed in has exactly one submission; record its scores."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        submissions: dict[str, list] = {}
        for submission in gb.find_assignment(assignment).submissions:  # one query for the whole class
            submissions.setdefault(submission.student_id, []).append(submission)
        for student in students:
            rows = submissions.get(student, [])
            if not rows:
                report.lost.append(student)
            elif len(rows) > 1:
                report.duplicated.append(student)
            notebooks = rows[0].notebooks if rows else []
            report.students[student]["scores"] = {f"{nb.name}/{g.name}": g.score for nb in notebooks for g in nb.grades}
