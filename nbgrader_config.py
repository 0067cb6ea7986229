"""nbgrader configuration of the course (used from the repository root).

Source notebooks with solutions and hidden tests live in solutions/, the student
release in exercises/. The gradebook is SQLite (gradebook.db) by default; set
BERTCOURSE_GRADEBOOK_URL (e.g. postgresql://...) to share one between graders.
"""

import os

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.db_url = os.environ.get(
    "BERTCOURSE_GRADEBOOK_URL", "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db")
)
# Nothing but the notebook (and its data) goes into a release or a submission.
# cell_times.json: the source notebook's measured cell times, from which grading derives its time limits.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*", "cell_times.json"]

# Grading runs the whole notebook: each cell may take a while under the ci profile, never forever.
c.Execute.timeout = 300
c.Execute.interrupt_on_timeout = True
# Students may delete a test cell by accident (or on purpose): put it back and grade it.
c.OverwriteCells.add_missing_cells = True

# Late work: 10% of the score per started day after the due date, at most 50% (bertcourse/grader/late.py).
# Set the due date with `nbgrader db assignment add <assignment> --duedate="2025-03-01 23:59:00 UTC"`.
c.AssignLatePenalties.plugin_class = "bertcourse.grader.late.PerDayPenalty"
c.PerDayPenalty.per_day = 0.1
c.PerDayPenalty.cap = 0.5
