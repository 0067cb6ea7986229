"""Time limits derived from the reference notebook's own cell times.

A cell of a student's notebook may take ``FACTOR`` times as long as the same cell
of the source notebook (the reference answers) took when it was measured, and
never less than ``FLOOR`` seconds; a cell the source does not have (one the
student added) gets ``FLOOR``. The whole notebook gets ``FACTOR`` times the
source's total, at least ``NOTEBOOK_FLOOR``. One infinite loop then costs its
cell's limit once: the re-check does not run a cell again that the kernel could
not finish (:func:`bertcourse.grader.recheck.stopped_in_kernel`).

The times live beside the source notebook in ``solutions/<assignment>/cell_times.json``
(``{grade_id: seconds}``, profile ``ci``), written by :func:`measure`
(``python -m bertcourse grade <assignment> --measure``; committed for every assignment,
re-measured when a notebook's cells change).
``grade`` measures once when the file is missing. ``--cell-timeout`` and
``--notebook-timeout`` override the derived limits; ``--timeout-factor`` and
``--min-cell-timeout`` change the rule.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

FACTOR = 10.0
FLOOR = 30.0           # seconds: a cell's least limit (machine load, a slow first import)
NOTEBOOK_FLOOR = 300.0  # seconds: the least limit of a whole notebook
TIMES_FILE = "cell_times.json"


@dataclass(frozen=True)
class CellLimits:
    """Per-cell limits by grade id, the limit of any other cell, and the whole notebook's limit (seconds)."""

    cells: dict[str, int]
    default: int
    notebook: int


def times_path(course: Path, assignment: str, source_directory: str = "solutions") -> Path:
    return Path(course) / source_directory / assignment / TIMES_FILE


def derive(times: dict[str, float], factor: float = FACTOR, floor: float = FLOOR,
           notebook_floor: float = NOTEBOOK_FLOOR) -> CellLimits:
    """``max(floor, factor * t)`` per cell; the notebook ``max(notebook_floor, factor * sum(t))``."""
    if factor < 1 or floor <= 0:
        raise ValueError(f"the timeout factor must be >= 1 and the floor > 0, got factor={factor}, floor={floor}")
    cells = {grade_id: int(max(floor, factor * seconds) + 0.999) for grade_id, seconds in times.items()}
    return CellLimits(cells, int(floor), int(max(notebook_floor, factor * sum(times.values()))))


def load(course: Path, assignment: str) -> dict[str, float] | None:
    path = times_path(course, assignment)
    return json.loads(path.read_text()) if path.exists() else None


def measure(course: Path, assignment: str, timeout: int = 1800) -> dict[str, float]:
    """Run the source notebook (trusted: the reference answers) under the ci profile; write its cell times."""
    from nbclient import NotebookClient

    source = Path(course) / "solutions" / assignment / f"{assignment}.ipynb"
    notebook = nbformat.read(str(source), as_version=4)
    times: dict[str, float] = {}

    class Timed(NotebookClient):
        async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
            started = time.monotonic()
            try:
                return await super().async_execute_cell(cell, cell_index, *args, **kwargs)
            finally:
                if cell.cell_type == "code":
                    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell-{cell_index}")
                    times[grade_id] = round(time.monotonic() - started, 2)

    previous = os.environ.get("BERTCOURSE_PROFILE")
    os.environ["BERTCOURSE_PROFILE"] = "ci"  # the kernel inherits it: grading runs the ci profile
    try:
        Timed(notebook, timeout=timeout, kernel_name="python3", allow_errors=False,
              resources={"metadata": {"path": str(source.parent)}}).execute()
    finally:
        if previous is None:
            os.environ.pop("BERTCOURSE_PROFILE", None)
        else:
            os.environ["BERTCOURSE_PROFILE"] = previous
    path = times_path(course, assignment)
    path.write_text(json.dumps(times, indent=1) + "\n")
    return times


def limits_for(course: Path, assignment: str, factor: float = FACTOR, floor: float = FLOOR) -> CellLimits:
    """The limits of ``assignment``: from its recorded cell times, measured now when there are none."""
    times = load(course, assignment)
    if times is None:
        times = measure(course, assignment)
    return derive(times, factor, floor)
