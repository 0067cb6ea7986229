"""A throw-away nbgrader course for the release and round-trip tests.

Each test builds its own course folder under a temporary directory: the
repository's ``nbgrader_config.py`` copied verbatim (it sets
``CourseDirectory.root`` to its own folder, so the copy points at the temporary
course and its gradebook is ``<course>/gradebook.db``) and the source folders of
``solutions/``. ``nbgrader`` runs there as a subprocess with ``--CourseDirectory.root``
given explicitly as well, so nothing touches the repository's gradebook,
``submitted/``, ``autograded/`` or ``feedback/`` folders.
"""

from __future__ import annotations

import ast
import html
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from bertcourse.authoring import strip_markers  # noqa: F401 - the tests take it from here

REPO = Path(__file__).resolve().parents[1]
SOURCE_DIR = "solutions"  # CourseDirectory.source_directory in nbgrader_config.py
RELEASE_DIR = "exercises"  # CourseDirectory.release_directory in nbgrader_config.py

MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
# Files a checkout may hold that are neither tracked nor part of a release (see .gitignore).
JUNK = re.compile(r"(^|/)(\.ipynb_checkpoints|__pycache__)(/|$)|\.pyc$")


# --- notebooks -----------------------------------------------------------------------------------

def meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def read(path: Path | str):
    return nbformat.read(str(path), as_version=4)


def source_notebook_path(assignment: str, root: Path = REPO) -> Path:
    return root / SOURCE_DIR / assignment / f"{assignment}.ipynb"


def release_notebook_path(assignment: str, root: Path = REPO) -> Path:
    return root / RELEASE_DIR / assignment / f"{assignment}.ipynb"


def source_assignments(root: Path = REPO) -> list[str]:
    """Every assignment folder of solutions/ (what ``make release`` generates)."""
    return sorted(p.name for p in (root / SOURCE_DIR).iterdir() if p.is_dir() and not JUNK.search(p.name))


def is_answer(cell) -> bool:
    """An autograded answer cell: code the student writes, graded by test cells."""
    m = meta(cell)
    return cell.cell_type == "code" and bool(m.get("solution")) and not m.get("grade")


def is_manual(cell) -> bool:
    """A manually graded answer (solution and grade)."""
    m = meta(cell)
    return bool(m.get("solution")) and bool(m.get("grade"))


def is_test(cell) -> bool:
    """An autograded test cell."""
    m = meta(cell)
    return cell.cell_type == "code" and bool(m.get("grade")) and not m.get("solution")


def cells_by_id(notebook) -> dict[str, object]:
    return {meta(c)["grade_id"]: c for c in notebook.cells if meta(c).get("grade_id")}



def marked_regions(source: str, kind: str) -> list[str]:
    """The lines between ``### BEGIN <kind>`` and ``### END <kind>`` (kind: SOLUTION or HIDDEN TESTS)."""
    lines, inside = [], False
    for line in source.splitlines():
        if line.strip() == f"### BEGIN {kind}":
            inside = True
        elif line.strip() == f"### END {kind}":
            inside = False
        elif inside:
            lines.append(line)
    return lines


def secret_lines(notebook, min_length: int = 25) -> dict[str, set[str]]:
    """Non-trivial lines of the solution bodies and hidden tests, by grade_id.

    Only lines longer than ``min_length`` characters that are not comments and do not
    also appear in the notebook outside every marked region (those are public anyway).
    """
    public, secret = set(), {}
    for cell in notebook.cells:
        hidden = set()
        if meta(cell).get("solution"):
            hidden.update(l.strip() for l in marked_regions(cell.source, "SOLUTION"))
        if is_test(cell):
            hidden.update(l.strip() for l in marked_regions(cell.source, "HIDDEN TESTS"))
        public.update(l.strip() for l in cell.source.splitlines() if l.strip() not in hidden)
        if hidden and meta(cell).get("grade_id"):
            secret.setdefault(meta(cell)["grade_id"], set()).update(hidden)
    return {
        grade_id: {l for l in lines if len(l) > min_length and not l.startswith("#") and l not in public}
        for grade_id, lines in secret.items()
    }


def html_text(path: Path) -> str:
    """The text of an HTML file with tags removed and entities decoded (code is split into spans)."""
    text = Path(path).read_text(encoding="utf-8")
    text = re.sub(r"<(script|style)\b.*?</\1>", "", text, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def function_bodies(source: str) -> dict[str, list[ast.stmt]]:
    """What a student writes in each function of an answer cell, by qualified name.

    The body of a top-level function or of each method of a top-level class, without
    its docstring and, in a constructor, without the leading ``super().__init__()``.
    """
    bodies = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            functions = [(node.name, node)]
        elif isinstance(node, ast.ClassDef):
            functions = [(f"{node.name}.{f.name}", f) for f in node.body if isinstance(f, ast.FunctionDef)]
        else:
            continue
        for name, function in functions:
            body = list(function.body)
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                body.pop(0)
            if body and ast.unparse(body[0]) == "super().__init__()":
                body.pop(0)
            bodies[name] = body
    return bodies


# --- the course folder and nbgrader ---------------------------------------------------------------

def make_course(directory: Path, assignments: list[str]) -> Path:
    """A course folder: the repository's nbgrader_config.py and the given source folders."""
    course = Path(directory)
    course.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    for assignment in assignments:
        shutil.copytree(REPO / SOURCE_DIR / assignment, course / SOURCE_DIR / assignment,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc"))
    return course


def nbgrader_env(course: Path) -> dict[str, str]:
    """The environment nbgrader (and the kernels it starts) runs in."""
    env = dict(os.environ)
    # A shared gradebook URL would send the test's grades to the real gradebook.
    env.pop("BERTCOURSE_GRADEBOOK_URL", None)
    # nbgrader shells out to alembic: the interpreter's bin/ must come first on PATH.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    # No user-level nbgrader_config.py (~/.jupyter) may change the course.
    env["JUPYTER_CONFIG_DIR"] = str(course / ".jupyter_config")
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", MPLBACKEND="Agg")
    env.setdefault("BERTCOURSE_PROFILE", "ci")
    return env


def nbgrader(course: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``nbgrader <args>`` in ``course``; fail with its output unless it succeeds."""
    command = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"]
    result = subprocess.run(command, cwd=course, env=nbgrader_env(course), capture_output=True,
                            text=True, timeout=timeout)
    output = f"$ {' '.join(command[1:])}\n--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    assert result.returncode == 0, f"nbgrader exited with {result.returncode}\n{output}"
    errors = [line for line in (result.stdout + result.stderr).splitlines() if "| ERROR]" in line]
    assert not errors, f"nbgrader logged errors\n{output}"
    return result


def generate_assignment(course: Path, assignment: str) -> subprocess.CompletedProcess:
    result = nbgrader(course, "generate_assignment", assignment, "--force")
    assert (course / "gradebook.db").exists(), "the gradebook is not in the course folder"
    return result


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes), without checkout junk."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not JUNK.search(path.relative_to(folder).as_posix())
    }


class Stopwatch:
    """Wall time, and the CPU time of the child processes that ended inside the block (nbgrader and its kernels)."""

    @staticmethod
    def _children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def __enter__(self):
        self.start, self._cpu = time.time(), self._children_cpu()
        return self

    def __exit__(self, *exc):
        self.end = time.time()
        self.seconds = self.end - self.start
        self.cpu_seconds = self._children_cpu() - self._cpu
