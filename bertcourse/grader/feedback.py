"""Feedback that teaches without leaking: hidden tests keep their secret, the CSV keeps the record.

nbgrader's feedback shows the autograded notebook, hidden tests included
(nbgrader #917). :class:`HideHiddenTests` replaces the hidden part of each test
cell with one comment line and cuts error tracebacks (which quote the failing
source line) down to the message the grading helpers write for students.
"""

from __future__ import annotations

import re
from pathlib import Path

from nbgrader.preprocessors import NbGraderPreprocessor

HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[ \t]*\n.*?^[ \t]*### END HIDDEN TESTS[ \t]*$", re.S | re.M)
PLACEHOLDER = "# (hidden tests: their source is not shown; the messages below say what failed)"


class HideHiddenTests(NbGraderPreprocessor):
    """Replace hidden tests by a placeholder; cut any output line that quotes their source.

    A student's code can read the source of the cell that calls it (IPython's ``In``,
    frames) and print it; so every output of the notebook, not only the test cells',
    loses the lines that contain a line of a hidden test.
    """

    def preprocess(self, nb, resources):
        hidden = set()
        for cell in nb.cells:
            if _is_test(cell):
                for region in HIDDEN.findall(cell.source):
                    hidden.update(line.strip() for line in region.splitlines()[1:-1] if len(line.strip()) > 12)
        self._hidden = hidden
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if _is_test(cell) and HIDDEN.search(cell.source):
            cell.source = HIDDEN.sub(PLACEHOLDER, cell.source)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename')}: {output.get('evalue')}"]
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            _redact(output, self._hidden)
        return cell, resources


def _is_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _redact(output, hidden: set[str]) -> None:
    """Drop the lines of an output's texts that contain a line of a hidden test."""
    def clean(text: str) -> str:
        return "".join(line if not any(h in line for h in hidden) else "[a line of a hidden test, removed]\n"
                       for line in text.splitlines(keepends=True))

    if "text" in output:
        output["text"] = clean(output["text"])
    for key in ("evalue", "ename"):
        if key in output:
            output[key] = clean(output[key])
    if "traceback" in output:
        output["traceback"] = [clean(line) for line in output["traceback"]]
    for mime, value in output.get("data", {}).items():
        if isinstance(value, str):
            output["data"][mime] = clean(value)


def generate(course: Path, assignment: str, db_url: str | None = None, students: list[str] | None = None) -> dict:
    """``generate_feedback`` for every autograded student (or only ``students``), hidden tests hidden."""
    # Imported here: nbgrader's apps load only when feedback is generated.
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import GetGrades

    from .autograde import _config
    from .settings import GradingSettings

    config = _config(course, db_url, course / "submitted", GradingSettings())
    config.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    if students is None:
        return api.generate_feedback(assignment, force=True)
    graded = [s for s in students if (Path(course) / "autograded" / s / assignment).exists()]
    return {student: api.generate_feedback(assignment, student, force=True) for student in graded}


def export_csv(course: Path, path: Path, db_url: str | None = None) -> Path:
    """The gradebook as nbgrader's CSV (one row per student and assignment)."""
    # Imported here: nbgrader's apps load only when feedback is generated.
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    from .autograde import _config
    from .settings import GradingSettings

    config = _config(course, db_url, course / "submitted", GradingSettings())
    config.CsvExportPlugin.to = str(path)
    with Gradebook(config.CourseDirectory.db_url) as gb:
        CsvExportPlugin(config=config).export(gb)
    return path
