"""The course's late-submission policy, as an nbgrader late-submission plugin.

``nbgrader_config.py`` selects it (``c.AssignLatePenalties.plugin_class``) and sets
its rate: late work loses ``per_day`` of its score for each started day after the
due date (``nbgrader db assignment add <a> --duedate=...``, or the formgrader),
at most ``cap`` of it. With the defaults (0.1, 0.5): 1 hour late costs 10%,
3 days 30%, a week 50%. nbgrader stores the penalty per notebook; its CSV and the
LMS export subtract it. The re-check lowers scores after nbgrader computed the
penalty, so :func:`recompute` applies the policy again to the lowered score.
"""

from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float

DAY = 24 * 3600


class PerDayPenalty(LateSubmissionPlugin):
    """``per_day`` of the score per started day late, at most ``cap`` of it."""

    per_day = Float(0.1, help="fraction of the score lost per started day late").tag(config=True)
    cap = Float(0.5, help="largest fraction of the score lost").tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float | None:
        if total_seconds_late <= 0:
            return None
        days = math.ceil(total_seconds_late / DAY)
        return round(score * min(self.cap, self.per_day * days), 4)


def recompute(gradebook, config, notebook, student: str) -> None:
    """Apply the configured policy again to a submitted notebook whose score changed after autograding."""
    from nbgrader.preprocessors import AssignLatePenalties

    plugin = AssignLatePenalties(config=config).plugin_class(config=config)
    seconds = notebook.assignment.total_seconds_late
    penalty = plugin.late_submission_penalty(student, notebook.score, seconds) if seconds > 0 else None
    notebook.late_submission_penalty = None if penalty is None else max(0.0, min(penalty, notebook.score))
    gradebook.db.commit()
