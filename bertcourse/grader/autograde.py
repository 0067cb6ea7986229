"""Grade one student: nbgrader autograde in the sandbox, then the re-check, then the gradebook.

Runs in its own process (``python -m bertcourse.grader.autograde SPEC.json``) so
that N students grade in parallel with nothing shared but the gradebook, and a
grader-side crash loses one student's run, never the batch. Writes a JSON
result (final scores, lowered items, flags) next to the spec.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

from ..registry import item_of
from . import ledger, scan
from . import recheck as recheck_lib
from . import settings as settings_lib
from .sandbox import Sandbox


def _config(course: Path, db_url: str | None, staged: Path, settings) -> object:
    # Imported here: nbgrader and the grading steps load in the grading process only, not in every importer of the grader.
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    if (course / "nbgrader_config.py").exists():
        config.merge(PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config())
    config.CourseDirectory.root = str(course)
    if not config.CourseDirectory.get("course_id"):
        # PostgreSQL enforces the gradebook's course foreign key; SQLite does not.
        config.CourseDirectory.course_id = "default_course"
    config.CourseDirectory.submitted_directory = str(staged)
    settings_lib.apply(config, settings, db_url)
    return config


def grade_one(spec: dict) -> dict:
    """Autograde one student in the sandbox, scan and re-check the answers, lower what fails."""
    # Imported here: nbgrader and the grading steps load in the grading process only, not in every importer of the grader.
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from .kernel import SandboxKernelManager

    course, assignment, student = Path(spec["course"]), spec["assignment"], spec["student"]
    settings = settings_lib.GradingSettings.from_json(spec["settings"])
    sandbox = Sandbox(settings.limits, slot=spec.get("slot", 0), allow_unsandboxed=settings.allow_unsandboxed)
    SandboxKernelManager.sandbox = sandbox
    config = _config(course, spec.get("db_url"), Path(spec["staged"]), settings)
    db_url = config.CourseDirectory.db_url
    result = {"student": student, "autograde_ok": False, "log": "", "items": {}, "flags": [], "lowered": [],
              "mismatches": [], "seconds": {}}
    notebooks = _notebook_ids(db_url, assignment)
    started = time.monotonic()
    release = course / config.CourseDirectory.release_directory / assignment
    borrowed = _scan(Path(spec["staged"]) / student / assignment, release, notebooks, result, assignment)
    restored = ledger.restore_lowered(db_url, assignment, student)  # a fixed hand-in earns its points back
    result["restored"] = restored
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    outcome = api.autograde(assignment, student, force=True, create=True)
    result["autograde_ok"] = bool(outcome.get("success"))
    result["log"] = (outcome.get("log") or "")[-4000:] + (outcome.get("error") or "")[-2000:]
    result["seconds"]["autograde"] = round(time.monotonic() - started, 2)
    started = time.monotonic()
    for notebook_id in notebooks:
        path = course / "autograded" / student / assignment / f"{notebook_id}.ipynb"
        if path.exists():
            checks = _recheck(path, assignment, sandbox, settings, borrowed)
            result["items"].update({c.item: {"passed": c.passed, "detail": c.detail} for c in checks})
            _lower(db_url, assignment, student, notebook_id, {c.item: c for c in checks}, result, config)
    result["seconds"]["recheck"] = round(time.monotonic() - started, 2)
    return result


def _notebook_ids(db_url: str, assignment: str) -> list[str]:
    # Imported here: nbgrader and the grading steps load in the grading process only, not in every importer of the grader.
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        return [nb.name for nb in gb.find_assignment(assignment).notebooks]


def _student_cells(notebook, release) -> list[tuple[str, str]]:
    """(grade_id, source) of every code cell the student wrote or changed: not a cell of the release as is.

    Metadata is the student's to edit, so it decides nothing here: a cell counts as the
    release's only when its source is that of a locked (setup or test) cell of the release.
    """
    given = {c.source for c in release.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("locked")}
    return [(c.metadata.get("nbgrader", {}).get("grade_id", f"cell-{i}"), c.source)
            for i, c in enumerate(notebook.cells) if c.cell_type == "code" and c.source not in given]


def _scan(folder: Path, release: Path, notebooks: list[str], result: dict, assignment: str) -> set[str]:
    """Flag suspicious code in the student's cells; return the cells that import the reference."""
    # Imported here: nbgrader and the grading steps load in the grading process only, not in every importer of the grader.
    import nbformat

    borrowed = set()
    for notebook_id in notebooks:
        path, given = folder / f"{notebook_id}.ipynb", release / f"{notebook_id}.ipynb"
        if not path.exists() or not given.exists():
            continue
        cells = _student_cells(nbformat.read(str(path), as_version=4), nbformat.read(str(given), as_version=4))
        for grade_id, source in cells:
            flags = scan.scan_source(grade_id, source, assignment)
            result["flags"] += [f"{notebook_id}/{f.grade_id} line {f.line}: {f.what}" for f in flags]
            if any(f.what.startswith(scan.BORROWED) for f in flags):
                borrowed.add(grade_id)
    return borrowed


def _recheck(path: Path, assignment: str, sandbox, settings, borrowed: set[str]) -> list:
    """Re-check the items graded in this notebook; an answer that imports the reference earns nothing."""
    # Imported here: nbgrader and the grading steps load in the grading process only, not in every importer of the grader.
    import nbformat

    from bertcourse import registry

    notebook = nbformat.read(str(path), as_version=4)
    try:
        names = [i.name for i in registry.items(assignment)]
    except ValueError:
        names = []
    graded = {item_of(c.metadata.get("nbgrader", {}).get("grade_id", ""), names) for c in notebook.cells
              if c.metadata.get("nbgrader", {}).get("grade")}
    checks = recheck_lib.recheck(notebook, [n for n in names if n in graded], sandbox,
                                 timeout=settings.recheck_timeout, cell_timeout=settings.cell_timeout or 300,
                                 cell_timeouts=settings.cell_timeouts)
    return [recheck_lib.ItemCheck(c.item, False, f"the answer {scan.BORROWED}")
            if c.item in borrowed else c for c in checks]


def _lower(db_url: str, assignment: str, student: str, notebook_id: str, verdict: dict, result: dict,
           config=None) -> None:
    """Set a failed re-check's test cells to a manual score of 0; report every disagreement.

    Each lowered cell is recorded (:func:`ledger.record_lowered`) so that grading the student
    again starts from the kernel's score; a late penalty is recomputed on the lowered score.
    """
    # Imported here: nbgrader and the grading steps load in the grading process only, not in every importer of the grader.
    from nbgrader.api import Gradebook

    names = list(verdict)
    lowered = []
    with Gradebook(db_url) as gb:
        submission = gb.find_submission_notebook(notebook_id, assignment, student)
        for grade in submission.grades:
            check = verdict.get(item_of(grade.name, names) or "")
            if grade.cell.cell_type != "code" or grade.auto_score is None or check is None or check.passed is None:
                continue
            in_kernel = f"{grade.name}: in-kernel {grade.auto_score:g}/{grade.max_score:g}"
            if check.passed is False and grade.auto_score > 0:
                grade.manual_score = 0.0  # the re-check only ever lowers
                grade.needs_manual_grade = True
                lowered.append(grade.name)
                result["lowered"].append(grade.name)
                result["mismatches"].append(f"{in_kernel}, re-check failed: {check.detail}")
            elif check.passed and grade.auto_score < grade.max_score:
                result["mismatches"].append(f"{in_kernel}, re-check passed (score not raised; review)")
        gb.db.commit()
        if lowered and submission.late_submission_penalty and config is not None:
            from .late import recompute

            recompute(gb, config, submission, student)
    ledger.record_lowered(db_url, assignment, student, notebook_id, lowered)


def main(argv: list[str] | None = None) -> int:
    spec_path = Path((argv or sys.argv[1:])[0])
    spec = json.loads(spec_path.read_text())
    try:
        result = grade_one(spec)
    except Exception:  # noqa: BLE001 - reported, never silent
        result = {"student": spec["student"], "autograde_ok": False, "error": traceback.format_exc()[-4000:]}
    Path(spec["result"]).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
