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
    cell_timeout: int = 300          # seconds per cell (the ci profile keeps cells short)
    notebook_timeout: int = 1800     # seconds per notebook, kernel restarts and replays included
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


def apply(config, settings: GradingSettings, db_url: str | None = None) -> None:
    """Add the grading settings to a traitlets ``Config`` loaded from the course's nbgrader_config.py."""
    # Imported here: nbgrader's preprocessors load only when a grading config is built.
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades

    from .execute import SandboxedExecute

    if db_url:
        config.CourseDirectory.db_url = db_url
    config.Execute.timeout = settings.cell_timeout
    config.Execute.interrupt_on_timeout = True
    config.Execute.execute_retries = 0
    config.SandboxedExecute.notebook_timeout = settings.notebook_timeout
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
