"""One clean ci-profile build of the book, shared by the book tests of a pytest run.

A copy of the book's sources in a temporary folder (so no execution cache of the checkout
is reused), built exactly as ``make book`` builds it: ``python -m bertcourse book``
(:mod:`bertcourse.book`). Under pytest-xdist the build
runs once per run, not once per worker: it lives in the run's shared temporary folder,
behind a file lock (the pattern of pytest-xdist's documentation).

``BERTCOURSE_BOOK_BUILD=<folder>`` points the tests at a finished build instead (a folder
holding ``_build/html``, e.g. the checkout after ``make book``): for iterating on a test
without rebuilding. ``make test`` never sets it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from filelock import FileLock

from .nbgrader_course import REPO

BOOK_SOURCES = ("_config.yml", "_toc.yml", "book", "exercises", "_static")
BUILD_TIMEOUT_S = 2700  # a clean ci build took 25-30 minutes on 2 cores shared with other jobs


def build_clean_book(root: Path) -> tuple[int, str]:
    """Copy the book's sources into ``root`` and build the HTML there; returns (exit code, log)."""
    root.mkdir(parents=True, exist_ok=True)
    for name in BOOK_SOURCES:
        source = REPO / name
        if not source.exists():
            continue
        copy = shutil.copytree if source.is_dir() else shutil.copy2
        copy(source, root / name)
    # Pages that read solutions/ metadata (the graded-items table) find it through the package.
    env = dict(os.environ, BERTCOURSE_PROFILE="ci", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               MPLBACKEND="Agg", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run([sys.executable, "-m", "bertcourse", "book"], cwd=root, env=env, capture_output=True,
                            text=True, timeout=BUILD_TIMEOUT_S)
    return result.returncode, result.stdout + result.stderr


def shared_clean_book(tmp_path_factory) -> Path:
    """The run's one clean build (built on first use); raises AssertionError when the build failed."""
    if os.environ.get("BERTCOURSE_BOOK_BUILD"):
        root = Path(os.environ["BERTCOURSE_BOOK_BUILD"]).resolve()
        assert (root / "_build/html/index.html").is_file(), f"BERTCOURSE_BOOK_BUILD={root} holds no _build/html"
        return root
    # Under xdist the parent of a worker's base folder is the run's, shared by its workers; without
    # xdist the base folder is the run's own (its parent holds earlier runs, never reused).
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root = shared / "book"
    with FileLock(str(shared / "book.lock")):
        if not (root / "build.log").is_file():
            returncode, log = build_clean_book(root)
            (root / "build.log").write_text(log)
            (root / "build.returncode").write_text(str(returncode))
    returncode = int((root / "build.returncode").read_text())
    log = (root / "build.log").read_text()
    assert returncode == 0, f"jupyter-book build failed:\n{log[-9000:]}"
    return root


# --------------------------------------------------------------------------
# Reading the build log
# --------------------------------------------------------------------------

# The kernels' own stderr goes into the log too. Two of its records are the kernel's machinery
# talking about itself, not the book: ipykernel's notice that its sockets are plain TCP, and an
# exception inside a ZMQStream callback of the kernel's event loop whose traceback has no frame
# outside zmq, tornado, ipykernel, jupyter_client, anyio, traitlets and the standard library (seen once in CI, on a
# build whose every cell ran: ``raise_on_error`` would have failed the build otherwise).
KERNEL_TCP_NOTICE = "Kernel is running over TCP"
KERNEL_LOOP_ERROR = "ERROR:tornado.general:Uncaught exception in ZMQStream callback"
_MACHINERY_PACKAGES = "zmq|tornado|ipykernel|jupyter_client|anyio|traitlets|asyncio"
_MACHINERY_FRAME = re.compile(rf'File "[^"]*(/({_MACHINERY_PACKAGES})/|/python3\.\d+/[a-z_]+\.py")')
_PROBLEM = re.compile(r"\bWARNING\b|\bERROR\b")


def _record(lines: list[str], start: int) -> int:
    """The end (exclusive) of the log record starting at ``start``: its line and any traceback after it."""
    end = start + 1
    while end < len(lines) and (lines[end].startswith((" ", "\t", "Traceback", "During handling"))
                                or (lines[end - 1].startswith(" ") and re.match(r"^[\w.]+(Error|Exception)\b", lines[end]))):
        end += 1
    return end


def is_kernel_machinery(record: list[str]) -> bool:
    """True for the kernel's TCP notice, or a ZMQStream callback error with a traceback only through its machinery."""
    if KERNEL_TCP_NOTICE in record[0]:
        return True
    frames = [line for line in record if line.strip().startswith('File "')]
    return record[0].startswith(KERNEL_LOOP_ERROR) and bool(frames) and all(_MACHINERY_FRAME.search(f) for f in frames)


def log_problems(log: str) -> list[str]:
    """Every WARNING or ERROR record of a build log (with its traceback), the kernel's machinery excepted."""
    lines, problems, index = log.splitlines(), [], 0
    while index < len(lines):
        if not _PROBLEM.search(lines[index]):
            index += 1
            continue
        end = _record(lines, index)
        if not is_kernel_machinery(lines[index:end]):
            problems.append("\n".join(lines[index:end]))
        index = end
    return problems
