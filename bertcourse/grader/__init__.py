"""The instructor's grading pipeline (``python -m bertcourse grade``): not to be confused with
:mod:`bertcourse.grading`, the assertions the students' notebooks call.

One module per step, in the order a submission meets them: ``intake`` (what was handed in),
``scan`` (static flags), ``sandbox``/``kernel``/``execute``/``autograde`` (nbgrader's autograde
in a jail), ``recheck``/``worker``/``codec``/``probes`` (each item re-checked outside the
student's kernel), ``feedback`` (without hidden tests), ``batch`` (a whole class, in parallel on
PostgreSQL), ``settings``, ``classroom`` and ``pgtemp`` (test and benchmark classes), ``bench``
(grading times), ``cli``.
"""
