"""``python -m bertcourse check <notebook>``: a student's own notebook, run headless, one line per graded item.

The notebook is copied to a temporary folder and run from top to bottom in a
fresh kernel under the ``ci`` profile (in the grading sandbox where the machine
has one), each cell within the time limit grading would give it
(:mod:`bertcourse.grader.timing`). Then, for each graded item of its assignment:

* ``passed``: every visible test cell of the item ran without an error;
* ``not yet``: the answer is still the stub (``NotImplementedError``);
* the first failing visible test's message (its hint included);

with the points the item's test cells carry. Hidden tests never run here: a
hidden region still in a cell (an instructor's source notebook) is cut before
the run. A kernel that dies is explained: which cell, what usually causes it.
From a notebook cell: ``from bertcourse.grader.check import check; check("ch1_architecture.ipynb")``
(save the notebook first: the file on disk is what runs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .. import registry
from .feedback import HIDDEN
from .sandbox import Limits, Sandbox, reserved_slots

NOT_YET = "not yet"
PASSED = "passed"
DEFAULT_CELL_LIMIT = 120  # seconds, where the assignment's measured cell times are not at hand


@dataclass(frozen=True)
class ItemLine:
    item: str
    status: str        # PASSED, NOT_YET, "failed", "manual", "not run"
    message: str
    points: float

    def render(self, width: int) -> str:
        label = {"manual": "graded by hand", "failed": "FAILED"}.get(self.status, self.status)
        text = f"{self.item:<{width}}  {self.points:>4g} pt  {label}"
        return text + (f": {self.message}" if self.message else "")


@dataclass
class CheckResult:
    notebook: Path
    assignment: str
    lines: list[ItemLine]
    seconds: float
    crash: str | None = None
    sandboxed: bool = False

    def render(self) -> str:
        width = max((len(line.item) for line in self.lines), default=10)
        passed = sum(line.points for line in self.lines if line.status == PASSED)
        auto = sum(line.points for line in self.lines if line.status != "manual")
        out = [f"{self.notebook.name} ({self.assignment}), run in {self.seconds:.0f} s, profile ci"
               f"{', sandboxed' if self.sandboxed else ''}:"]
        out += [line.render(width) for line in self.lines]
        if self.crash:
            out.append(f"KERNEL DIED: {self.crash}")
        out.append(f"visible tests pass for items worth {passed:g} of {auto:g} autograded points; "
                   "hidden tests run only when the notebook is graded")
        return "\n".join(out)


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def assignment_of(notebook, path: Path) -> str:
    """The assignment a notebook belongs to: its file name, else the graded items its cells name."""
    if path.stem in registry.ASSIGNMENTS:
        return path.stem
    ids = {_meta(c).get("grade_id") for c in notebook.cells}
    for assignment in registry.ASSIGNMENTS:
        if any(item.name in ids for item in registry.items(assignment)):
            return assignment
    raise ValueError(f"{path} is not a course notebook: its name is none of {registry.ASSIGNMENTS} and no cell "
                     "is a graded item (was it renamed, or its cells' metadata removed?)")


def _first_error(cell) -> dict | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return output
    return None


def _message(error: dict) -> str:
    """The first line of the error, and its hint line when the grading helpers wrote one."""
    lines = [line for line in str(error.get("evalue", "")).splitlines() if line.strip()]
    text = f"{error.get('ename')}: {lines[0] if lines else ''}"
    hint = next((line.strip() for line in lines[1:] if line.strip().startswith("Hint:")), None)
    return f"{text} ({hint})" if hint else text


def _limits(assignment: str):
    from . import timing

    root = Path(registry.__file__).resolve().parents[1]
    times = timing.load(root, assignment)
    return timing.derive(times) if times else None


def _run(notebook, folder: Path, assignment: str, slot: int) -> tuple[str | None, bool]:
    """Execute ``notebook`` in place as sandbox ``slot``; a description of a kernel crash (or None) and whether it was jailed."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    from .kernel import SandboxKernelManager

    sandbox = Sandbox(Limits(), slot=slot, allow_unsandboxed=True)
    SandboxKernelManager.sandbox = sandbox
    limits = _limits(assignment)
    running: list[int] = []

    def timeout(cell) -> int:
        if limits is None:
            return DEFAULT_CELL_LIMIT
        return limits.cells.get(_meta(cell).get("grade_id"), limits.default)

    class Client(NotebookClient):
        async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
            running.append(cell_index)
            return await super().async_execute_cell(cell, cell_index, *args, **kwargs)

    client = Client(notebook, timeout_func=timeout, allow_errors=True, interrupt_on_timeout=True,
                    kernel_name="python3", kernel_manager_class=SandboxKernelManager,
                    resources={"metadata": {"path": str(folder)}})
    try:
        client.execute(cwd=str(folder), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except DeadKernelError:
        cell = notebook.cells[running[-1]] if running else None
        where = _meta(cell).get("grade_id", f"cell {running[-1] + 1}") if cell is not None else "startup"
        return (f"while running `{where}`: the kernel stopped, usually os._exit/sys.exit/exit() at top level, "
                "running out of memory (a tensor far too large, a list growing forever) or a crash in a native "
                "library. Fix that cell; the items after it were not checked."), sandbox.capabilities.isolated
    return None, sandbox.capabilities.isolated


def _verdicts(notebook, assignment: str, crash: str | None) -> list[ItemLine]:
    cells = {_meta(c).get("grade_id"): c for c in notebook.cells if _meta(c).get("grade_id")}
    lines = []
    for item in registry.items(assignment):
        tests = [c for gid, c in cells.items() if registry.item_of(gid, [item.name]) and not _meta(c).get("solution")
                 and _meta(c).get("grade")]
        manual = [c for gid, c in cells.items() if gid == item.name and _meta(c).get("solution")
                  and _meta(c).get("grade")]
        points = sum(float(_meta(c).get("points", 0)) for c in tests + manual)
        if manual and not tests:
            lines.append(ItemLine(item.name, "manual", "", points))
            continue
        visible = [c for c in tests if c.source.strip() and not c.source.lstrip().startswith("# Hidden tests")]
        if not tests:
            lines.append(ItemLine(item.name, "not run", "no test cell for it in this notebook", points))
            continue
        ran = [c for c in visible if c.get("execution_count") or c.get("outputs")]
        errors = [e for e in (_first_error(c) for c in visible) if e is not None]
        if crash and len(ran) < len(visible):
            lines.append(ItemLine(item.name, "not run", "the kernel died before its tests", points))
        elif any(e.get("ename") == "NotImplementedError" for e in errors):
            lines.append(ItemLine(item.name, NOT_YET, "", points))
        elif errors:
            lines.append(ItemLine(item.name, "failed", _message(errors[0]), points))
        else:
            lines.append(ItemLine(item.name, PASSED, "", points))
    return lines


def check(path: Path | str, *, quiet: bool = False) -> CheckResult:
    """Run the notebook at ``path`` headless (ci profile) and judge its visible tests; print the lines."""
    path = Path(path).resolve()
    try:
        notebook = nbformat.read(str(path), as_version=4)
    except Exception as error:  # noqa: BLE001 - said in one line, as grading would
        raise ValueError(f"{path} is not a readable notebook ({type(error).__name__}: {error})") from None
    assignment = assignment_of(notebook, path)
    for cell in notebook.cells:  # hidden tests never run (nor show) here
        if cell.cell_type == "code":
            cell.source = HIDDEN.sub("pass  # hidden tests run when the notebook is graded", cell.source)
            cell.outputs, cell.execution_count = [], None
    folder = Path(tempfile.mkdtemp(prefix="bertcourse-check-"))
    previous = os.environ.get("BERTCOURSE_PROFILE")
    os.environ["BERTCOURSE_PROFILE"] = "ci"
    started = time.monotonic()
    try:
        for sibling in path.parent.iterdir():  # the notebook's data files, as graded
            if sibling.is_file() and sibling.suffix != ".ipynb" and sibling.stat().st_size < 50 * 2 ** 20:
                shutil.copy2(sibling, folder / sibling.name)
        # A block of uids of its own: a grading batch on this machine kills what runs as its uids once
        # a student is done, and a shared uid would share RLIMIT_NPROC with that batch's kernels.
        with reserved_slots() as slot:
            crash, sandboxed = _run(notebook, folder, assignment, slot)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if previous is None:
            os.environ.pop("BERTCOURSE_PROFILE", None)
        else:
            os.environ["BERTCOURSE_PROFILE"] = previous
    result = CheckResult(path, assignment, _verdicts(notebook, assignment, crash), time.monotonic() - started,
                         crash, sandboxed)
    if not quiet:
        print(result.render())
    return result


def add_parser(commands) -> None:
    parser = commands.add_parser("check", help="run your notebook headless and say, per graded item, where it stands")
    parser.add_argument("notebook", type=Path)
    parser.set_defaults(run=_main)


def _main(args) -> int:
    try:
        result = check(args.notebook)
    except (ValueError, FileNotFoundError) as error:
        print(f"check: {error}")
        return 2
    return 0 if not result.crash and all(l.status in (PASSED, "manual") for l in result.lines) else 1
