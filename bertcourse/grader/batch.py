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
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import intake as intake_lib
from . import ledger
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
    similar: list[dict] = field(default_factory=list)  # copy-detection flags: item, students, score, line, diff

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
                                                      "leftovers")) or any(student in f["students"]
                                                                           for f in self.similar)
            elsewhere = "  (graded by another grader)" if result.get("graded_elsewhere") else ""
            lines += ["", f"## {student}: {total:g} points{'  (REVIEW)' if review else ''}{elsewhere}"]
            lines += [f"- intake: {p}" for p in result.get("problems", [])]
            lines += [f"- lowered by the re-check: {m}" for m in result.get("mismatches", []) if "failed" in m]
            lines += [f"- mismatch: {m}" for m in result.get("mismatches", []) if "failed" not in m]
            lines += [f"- suspicious code: {f}" for f in result.get("flags", [])]
            lines += [f"- similar answer (review; score unchanged): {f['line']}" for f in self.similar
                      if student in f["students"]]
            lines += [f"- killed after grading (still running): {p}" for p in result.get("leftovers", [])]
            if result.get("error"):
                lines += ["- grading failed:", "```", result["error"][-1500:], "```"]
        if self.similar:
            lines += ["", "## Similar answers (flags for a person to review; no score was changed)"]
            for flag in self.similar:
                lines += ["", f"### {flag['line']}", "", "```", flag["diff"], "```"]
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
    # Imported here: the per-student steps load where they run (each student is graded in a subprocess).
    from .autograde import _config

    return _config(course, None, course / "submitted", GradingSettings()).CourseDirectory.db_url


def grade(course: Path, assignment: str, *, jobs: int = 1, db_url: str | None = None,
          settings: GradingSettings | None = None, students: list[str] | None = None,
          feedback: bool = True, report_dir: Path | None = None, shared: bool | None = None,
          lease: float = 120.0, regrade: bool = False) -> Report:
    """Grade every submission of ``assignment`` in ``course`` (or only ``students``); write the report.

    ``shared`` (default: the gradebook is PostgreSQL): take students from the gradebook's work
    queue (:mod:`bertcourse.grader.ledger`), so that graders on several machines, each with the
    same ``submitted/``, share the class; a claim not renewed for ``lease`` seconds (its machine
    died) is graded by another. The report then covers what this grader graded, and the audit
    the whole class once every shard is done. A shared queue grades a student again only when
    the hand-in changed, or for ``regrade`` (give it to the first grader only: it resets the queue).
    """
    from .settings import resolve

    course = Path(course).resolve()
    db_url = db_url or default_db_url(course)
    capabilities = _check(assignment, jobs, db_url, settings or GradingSettings())
    settings = resolve(settings or GradingSettings(), course, assignment)
    shared = db_url.startswith("postgresql") if shared is None else shared
    report = Report(assignment, jobs, db_url, sandbox=list(capabilities.problems), limits=_limits_line(settings))
    report_dir = report_dir or course / "grading_reports" / assignment
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f"bertcourse-grade-{assignment}-"))
    try:
        intakes = intake_lib.stage(course, assignment, work / "staged", students)
        if shared:
            ledger.enqueue(db_url, assignment, {e.student: ledger.fingerprint(
                course / "submitted" / e.student / assignment) for e in intakes}, reset=regrade)
        _grade_all(course, assignment, intakes, jobs, db_url, settings, work, report, capabilities,
                   shared, lease)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    graded = sorted(report.students)
    everyone = sorted(ledger.rows(db_url, assignment)) if shared else [e.student for e in intakes]
    _audit(db_url, assignment, everyone, report)
    report.similar = _similar(course, assignment, everyone)
    report_dir.mkdir(parents=True, exist_ok=True)
    if feedback:
        # Imported here: the per-student steps load where they run (each student is graded in a subprocess).
        from . import feedback as feedback_lib
        from . import lms

        feedback_lib.generate(course, assignment, db_url, students=graded)
        feedback_lib.export_csv(course, report_dir / "grades.csv", db_url)
        lms.export(db_url, report_dir)
        lms.zip_feedback(course, assignment, report_dir / "feedback", graded)
    report.seconds = time.monotonic() - started
    (report_dir / "report.json").write_text(json.dumps(report.to_json(), indent=1, default=str))
    (report_dir / "report.md").write_text(report.markdown())
    return report


def _similar(course: Path, assignment: str, students: list[str]) -> list[dict]:
    """Copy-detection flags over the class's hand-ins (:mod:`bertcourse.grader.similarity`)."""
    import inspect

    import nbformat

    from .. import registry
    from . import similarity

    try:
        references = {i.name: inspect.getsource(i.load_reference())
                      for i in registry.items(assignment, with_reference=True)}
    except ValueError:
        return []
    answers: dict[str, dict[str, str]] = {}
    for student in students:
        for path in sorted((course / "submitted" / student / assignment).glob("*.ipynb")):
            try:
                notebook = nbformat.read(str(path), as_version=4)
            except Exception:  # noqa: BLE001 - unreadable: the intake reports it
                continue
            for cell in notebook.cells:
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                if cell.cell_type == "code" and grade_id in references:
                    answers.setdefault(student, {})[grade_id] = cell.source
    return [{"item": f.item, "students": list(f.students), "score": round(f.score, 3), "line": f.line(),
             "diff": f.diff} for f in similarity.flags(answers, references)]


def _check(assignment: str, jobs: int, db_url: str, settings: GradingSettings):
    """The sandbox's capabilities, or a GradingError when the batch cannot run as asked."""
    # Imported here: the per-student steps load where they run (each student is graded in a subprocess).
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
               settings: GradingSettings, work: Path, report: Report, capabilities, shared: bool,
               lease: float) -> None:
    """Each student in its own grading process, ``jobs`` at a time, each slot's kernels as their own uid."""
    slots: queue.Queue = queue.Queue()
    limit = settings.notebook_timeout + settings.recheck_timeout + 300
    by_name = {entry.student: entry for entry in intakes}

    def run(entry: intake_lib.Intake) -> dict:
        if not entry.gradable:
            return _not_gradable(db_url, assignment, entry)
        slot = slots.get()
        try:
            spec = {"course": str(course), "assignment": assignment, "student": entry.student, "slot": slot,
                    "db_url": db_url, "staged": str(work / "staged"), "settings": settings.to_json(),
                    "result": str(work / f"{entry.student}.result.json")}
            result = _grade_process(course, spec, work / f"{entry.student}.spec.json", limit)
            result["leftovers"] = kill_leftovers(slot) if capabilities.drops_uid else []
        finally:
            slots.put(slot)
        result["problems"] = list(entry.problems) + list(result.get("problems", []))
        if not result.get("autograde_ok", False) and not result.get("error"):
            result["error"] = "nbgrader autograde failed:\n" + result.get("log", "")[-3000:]
        return result

    with reserved_slots() as first, ThreadPoolExecutor(max_workers=jobs) as pool:
        for slot in range(first, first + jobs):
            slots.put(slot)
        if not shared:
            for entry, result in zip(intakes, pool.map(run, intakes)):
                report.students[entry.student] = result
            return
        claims = _Claims(db_url, assignment, lease)
        try:
            for student, result in _shard(pool, claims, by_name, run, jobs):
                report.students[student] = result
        finally:
            claims.stop()


class _Claims:
    """This grader's claims on the work queue, kept alive by a heartbeat thread."""

    def __init__(self, db_url: str, assignment: str, lease: float):
        self.db_url, self.assignment, self.lease = db_url, assignment, lease
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.held: set[str] = set()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        threading.Thread(target=self._beat, daemon=True).start()

    def _beat(self) -> None:
        while not self.stopped.wait(max(self.lease / 4, 0.5)):
            with self.lock:
                held = sorted(self.held)
            ledger.heartbeat(self.db_url, self.assignment, held, self.worker)

    def next(self) -> str | None:
        student = ledger.claim(self.db_url, self.assignment, self.worker, self.lease)
        if student is not None:
            with self.lock:
                self.held.add(student)
        return student

    def finish(self, student: str) -> bool:
        with self.lock:
            self.held.discard(student)
        return ledger.done(self.db_url, self.assignment, student, self.worker)

    def stop(self) -> None:
        self.stopped.set()


def _shard(pool, claims: _Claims, by_name: dict, run, jobs: int, poll: float = 2.0):
    """Claim, grade, mark done, until the queue has nothing left to claim and no claim is outstanding."""
    def one() -> list[tuple[str, dict]]:
        graded = []
        while True:
            student = claims.next()
            if student is None:
                if not ledger.unfinished(claims.db_url, claims.assignment):
                    return graded
                time.sleep(poll)  # others' claims: wait until they are done or their lease runs out
                continue
            entry = by_name.get(student)
            if entry is None:
                result = {"student": student, "problems": [], "error": f"{student} has a hand-in in the shared "
                          "gradebook's queue but none in this grader's submitted/ folder"}
            else:
                result = run(entry)
            if not claims.finish(student):
                result.setdefault("problems", []).append("the claim ran out while grading (another grader took "
                                                         "over); this grading may be repeated")
            graded.append((student, result))

    for future in [pool.submit(one) for _ in range(jobs)]:
        yield from future.result()


def _not_gradable(db_url: str, assignment: str, entry) -> dict:
    """Nothing gradable handed in: keep an earlier grade if there is one, else record zeros; say which."""
    earlier = intake_lib.earlier_score(db_url, assignment, entry.student)
    problems = list(entry.problems)
    if earlier is None:
        intake_lib.record_zero(db_url, assignment, entry.student)
    else:
        problems.append(f"KEPT THE EARLIER GRADE ({earlier:g} points): the new hand-in cannot be graded, so the "
                        "grade of the previous hand-in stands; ask the student for a readable notebook")
    return {"student": entry.student, "problems": problems, "kept_earlier": earlier is not None}


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
    """Nothing lost, nothing twice: every student handed in has exactly one submission; record its scores.

    With a shared work queue, a student whose row is not done, or was completed more than once, counts too.
    """
    # Imported here: the per-student steps load where they run (each student is graded in a subprocess).
    from nbgrader.api import Gradebook

    queue_rows = ledger.rows(db_url, assignment)
    with Gradebook(db_url) as gb:
        submissions: dict[str, list] = {}
        for submission in gb.find_assignment(assignment).submissions:  # one query for the whole class
            submissions.setdefault(submission.student_id, []).append(submission)
        for student in students:
            rows = submissions.get(student, [])
            queued = queue_rows.get(student)
            if not rows or (queued is not None and queued["state"] != "done"):
                report.lost.append(student)
            elif len(rows) > 1 or (queued is not None and queued["completions"] > 1):
                report.duplicated.append(student)
            notebooks = rows[0].notebooks if rows else []
            entry = report.students.setdefault(student, {"student": student, "graded_elsewhere": True})
            entry["scores"] = {f"{nb.name}/{g.name}": g.score for nb in notebooks for g in nb.grades}
