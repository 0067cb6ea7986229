"""The grader's own tables in the gradebook database: what the re-check lowered, and who grades whom.

* ``bertcourse_lowered``: each test cell the re-check set to 0 (a manual score in
  nbgrader's terms). Before a student is graded again, a cell still at that 0 gets
  its manual score cleared, so a fixed hand-in earns its points back; a manual
  score an instructor gave (anything else) is never touched.
* ``bertcourse_work``: one row per (assignment, student) for grading a class on
  several machines that share one PostgreSQL gradebook. A grader claims the next
  row with ``SELECT ... FOR UPDATE SKIP LOCKED`` (two graders never get the same
  row), keeps its claim alive with a heartbeat, and marks it done. A claim whose
  heartbeat is older than the lease (its machine died) is claimed again; a done
  row is never graded again unless the hand-in changed (its fingerprint).

The tables live next to nbgrader's in the same database (SQLite or PostgreSQL),
so they move with the gradebook and need no server of their own.
"""

from __future__ import annotations

import hashlib
import time
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

METADATA = sa.MetaData()
LOWERED = sa.Table(
    "bertcourse_lowered", METADATA,
    sa.Column("assignment", sa.String(128), primary_key=True),
    sa.Column("student", sa.String(128), primary_key=True),
    sa.Column("notebook", sa.String(128), primary_key=True),
    sa.Column("grade", sa.String(128), primary_key=True),
)
WORK = sa.Table(
    "bertcourse_work", METADATA,
    sa.Column("assignment", sa.String(128), primary_key=True),
    sa.Column("student", sa.String(128), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending | claimed | done
    sa.Column("worker", sa.String(128)),
    sa.Column("heartbeat", sa.Float),  # time.time() of the claimant's last sign of life
    sa.Column("claims", sa.Integer, nullable=False, default=0),
    sa.Column("completions", sa.Integer, nullable=False, default=0),
)


def _engine(db_url: str):
    return sa.create_engine(db_url, poolclass=sa.pool.NullPool)


@contextmanager
def connect(db_url: str):
    """A transaction on the gradebook database, with the grader's tables created if missing."""
    engine = _engine(db_url)
    try:
        METADATA.create_all(engine, checkfirst=True)
    except sa.exc.IntegrityError:  # two graders created them at the same moment (PostgreSQL catalog race)
        pass
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


# --- lowered cells ------------------------------------------------------------------------------------

def record_lowered(db_url: str, assignment: str, student: str, notebook: str, grades: list[str]) -> None:
    with connect(db_url) as db:
        for grade in grades:
            key = dict(assignment=assignment, student=student, notebook=notebook, grade=grade)
            if db.execute(sa.select(LOWERED).filter_by(**key)).first() is None:
                db.execute(LOWERED.insert().values(**key))


def restore_lowered(db_url: str, assignment: str, student: str) -> list[str]:
    """Clear the re-check's 0 on ``student``'s cells before a new grading; an instructor's score stays."""
    from nbgrader.api import Gradebook, MissingEntry

    with connect(db_url) as db:
        rows = db.execute(sa.select(LOWERED).filter_by(assignment=assignment, student=student)).all()
        db.execute(LOWERED.delete().filter_by(assignment=assignment, student=student))
    cleared = []
    if not rows:
        return cleared
    with Gradebook(db_url) as gb:
        for row in rows:
            try:
                grade = gb.find_grade(row.grade, row.notebook, assignment, student)
            except MissingEntry:
                continue
            if grade.manual_score == 0:  # still the re-check's 0: not a score a person gave
                grade.manual_score = None
                cleared.append(row.grade)
        gb.db.commit()
    return cleared


# --- the work queue -----------------------------------------------------------------------------------

def fingerprint(folder: Path) -> str:
    """A hash of a hand-in's files (names and bytes): a new hand-in is graded again."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def enqueue(db_url: str, assignment: str, fingerprints: dict[str, str], reset: bool = False) -> None:
    """A pending row per student; a done row whose hand-in changed (every done row: ``reset``) is pending again."""
    with connect(db_url) as db:
        if reset:
            db.execute(WORK.update().where(WORK.c.assignment == assignment).where(WORK.c.state == "done")
                       .values(state="pending", completions=0))
        for student, print_ in fingerprints.items():
            key = dict(assignment=assignment, student=student)
            row = db.execute(sa.select(WORK).filter_by(**key).with_for_update()).first()
            if row is None:
                try:
                    with db.begin_nested():
                        db.execute(WORK.insert().values(**key, fingerprint=print_, state="pending", claims=0,
                                                        completions=0))
                except sa.exc.IntegrityError:  # another grader enqueued it meanwhile
                    pass
            elif row.state == "done" and row.fingerprint != print_:
                db.execute(WORK.update().filter_by(**key).values(fingerprint=print_, state="pending"))


def claim(db_url: str, assignment: str, worker: str, lease: float) -> str | None:
    """The next student to grade (now claimed by ``worker``), or None when nothing is left to claim."""
    stale = time.time() - lease
    with connect(db_url) as db:
        query = (sa.select(WORK.c.student).where(WORK.c.assignment == assignment)
                 .where(sa.or_(WORK.c.state == "pending",
                               sa.and_(WORK.c.state == "claimed", WORK.c.heartbeat < stale)))
                 .order_by(WORK.c.student).limit(1))
        if db.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        row = db.execute(query).first()
        if row is None:
            return None
        db.execute(WORK.update().filter_by(assignment=assignment, student=row.student)
                   .values(state="claimed", worker=worker, heartbeat=time.time(), claims=WORK.c.claims + 1))
        return row.student


def heartbeat(db_url: str, assignment: str, students: list[str], worker: str) -> None:
    if not students:
        return
    with connect(db_url) as db:
        db.execute(WORK.update().where(WORK.c.assignment == assignment).where(WORK.c.student.in_(students))
                   .where(WORK.c.worker == worker).where(WORK.c.state == "claimed").values(heartbeat=time.time()))


def done(db_url: str, assignment: str, student: str, worker: str) -> bool:
    """Mark ``student`` graded; False when the claim was lost meanwhile (the lease ran out)."""
    with connect(db_url) as db:
        result = db.execute(WORK.update().filter_by(assignment=assignment, student=student, worker=worker,
                                                    state="claimed")
                            .values(state="done", completions=WORK.c.completions + 1))
        return result.rowcount == 1


def unfinished(db_url: str, assignment: str) -> list[tuple[str, str, float | None]]:
    """(student, state, heartbeat) of the rows not done yet."""
    with connect(db_url) as db:
        rows = db.execute(sa.select(WORK.c.student, WORK.c.state, WORK.c.heartbeat)
                          .where(WORK.c.assignment == assignment).where(WORK.c.state != "done")).all()
    return [tuple(r) for r in rows]


def rows(db_url: str, assignment: str) -> dict[str, dict]:
    with connect(db_url) as db:
        found = db.execute(sa.select(WORK).where(WORK.c.assignment == assignment)).mappings().all()
    return {r["student"]: dict(r) for r in found}
