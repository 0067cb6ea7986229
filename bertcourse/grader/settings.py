"""The nbgrader configuration grading runs under, on top of the course's ``nbgrader_config.py``.

One place for every setting that makes autograding robust:

* ``Execute`` is :class:`~bertcourse.grader.execute.SandboxedExecute` (jailed
  kernel, per-cell ``timeout``, whole-notebook ``notebook_timeout``, output cap,
  crash recovery);
* ``OverwriteCells.add_missing_cells``: a deleted test cell comes back and runs;
* ``IgnorePattern`` drops stderr outputs that are Python warnings, so a
  ``UserWarning`` no longer costs a test cell its points (an exception still does);
* feedback hides the source of hidden tests (:mod:`bertcourse.grader.feedback`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .sandbox import Limits

# A Python warning as the warnings module prints it: "path:line: SomeWarning: message".
WARNING_PATTERN = r"(^|\n)[^\n]*:\d+: [A-Za-z_]*Warning: "


@dataclass(frozen=True)
class GradingSettings:
    """Limits of one grading run. The time limits left None are derived from the source notebook's own
    measured cell times (:mod:`bertcourse.grader.timing`) by :func:`resolve`; a number overrides that."""

    cell_timeout: int | None = None      # seconds per cell; None: per cell, timeout_factor x its measured time
    notebook_timeout: int | None = None  # seconds per notebook, kernel restarts and replays included
    timeout_factor: float = 10.0
    min_cell_timeout: int = 30
    cell_timeouts: dict = field(default_factory=dict)  # grade_id -> seconds, filled in by resolve()
    max_output_bytes: int = 2_000_000
    max_restarts: int = 3
    recheck_timeout: int = 600       # seconds for one submission's re-check worker
    limits: Limits = field(default_factory=Limits)
    allow_unsandboxed: bool = False  # only where bwrap cannot work; the report says so

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> GradingSettings:
        data = dict(data)
        data["limits"] = Limits(**data.get("limits", {}))
        return cls(**data)


def resolve(settings: GradingSettings, course, assignment: str) -> GradingSettings:
    """``settings`` with concrete time limits: derived from the measured cell times where not given."""
    from dataclasses import replace

    from . import timing

    if settings.cell_timeout is not None and settings.notebook_timeout is not None:
        return settings
    derived = timing.limits_for(course, assignment, settings.timeout_factor, settings.min_cell_timeout)
    if settings.cell_timeout is not None:  # one limit for every cell, as asked
        return replace(settings, notebook_timeout=derived.notebook)
    return replace(settings, cell_timeout=derived.default, cell_timeouts=derived.cells,
                   notebook_timeout=settings.notebook_timeout or derived.notebook)


def venv_on_path() -> None:
    """nbgrader runs ``alembic`` (its gradebook migrations) by name: put this interpreter's bin/ on PATH.

    Without it, ``python -m bertcourse grade`` run with the venv's python but without the venv
    activated died in nbgrader's raw ``FileNotFoundError: 'alembic'``.
    """
    import os
    import sys
    from pathlib import Path

    folder = str(Path(sys.executable).parent)
    if folder not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = folder + os.pathsep + os.environ.get("PATH", "")


def apply(config, settings: GradingSettings, db_url: str | None = None) -> None:
    """Add the grading settings to a traitlets ``Config`` loaded from the course's nbgrader_config.py."""
    venv_on_path()
    # Imported here: nbgrader's preprocessors load only when a grading config is built.
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades

    from .execute import SandboxedExecute

    if db_url:
        config.CourseDirectory.db_url = db_url
    config.Execute.timeout = settings.cell_timeout or 300
    config.SandboxedExecute.cell_timeouts = dict(settings.cell_timeouts)
    config.Execute.interrupt_on_timeout = True
    config.Execute.execute_retries = 0
    config.SandboxedExecute.notebook_timeout = settings.notebook_timeout or 1800
    config.SandboxedExecute.max_output_bytes = settings.max_output_bytes
    config.SandboxedExecute.max_restarts = settings.max_restarts
    config.OverwriteCells.add_missing_cells = True
    config.IgnorePattern.pattern = WARNING_PATTERN
    config.IgnorePattern.enabled = True
    config.LimitOutput.max_lines = 200
    config.Autograde.autograde_preprocessors = [
        SandboxedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
        AssignLatePenalties, CheckCellMetadata,
    ]
