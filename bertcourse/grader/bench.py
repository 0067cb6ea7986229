"""Serial vs parallel grading of a simulated class (``python -m bertcourse grade --bench N``).

Builds two temporary courses with the same N submissions (the reference answers,
every fifth with one item broken), grades one with 1 job on SQLite and the other
with ``jobs`` workers on a temporary PostgreSQL, checks that every score agrees
and nothing is lost or duplicated, and writes the wall times to
``_build/bench/autograde.json``, which ``python -m bertcourse bench`` reports
with the other timings. Speed-ups are only meaningful on a machine with at least
``jobs`` otherwise idle cores: the load average is recorded with the numbers.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..bench.timings import TIMING_FILES
from . import classroom
from .batch import grade
from .pgtemp import TemporaryPostgres

OUTPUT = TIMING_FILES["autograde"]  # where `python -m bertcourse bench` reads it back
ITEMS = ["wordpiece_tokenize", "scaled_dot_product_attention"]  # a quick class: two items of Chapter 1
BROKEN = {"scaled_dot_product_attention": "def scaled_dot_product_attention(query, key, value, attention_mask=None):\n"
                                          "    return value, None\n"}


def _class(folder: Path, assignment: str, n: int, db_url: str | None) -> Path:
    course = classroom.make_course(folder, assignment, items=ITEMS, db_url=db_url)
    good, broken = (classroom.submission(course, assignment, replace=r) for r in (None, BROKEN))
    for i in range(n):
        classroom.submit(course, assignment, f"s{i:03d}", broken if i % 5 == 4 else good)
    return course


def measure(assignment: str, n: int, jobs: int, settings) -> dict:
    """Grade the same simulated class serially (SQLite) and with ``jobs`` workers (PostgreSQL)."""
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp, TemporaryPostgres() as pg:
        serial = grade(_class(Path(tmp) / "serial", assignment, n, None), assignment, jobs=1, settings=settings,
                       feedback=False)
        url = pg.url("bench")
        parallel = grade(_class(Path(tmp) / "parallel", assignment, n, url), assignment, jobs=jobs, db_url=url,
                         settings=settings, feedback=False)
    serial_seconds, parallel_seconds = serial.seconds, parallel.seconds  # as each batch timed itself
    missing = [s for s in serial.students if not serial.scores()[s]]
    return {
        "submissions": n, "items": ", ".join(ITEMS), "jobs": jobs,
        "serial_seconds": round(serial_seconds, 1), "parallel_seconds": round(parallel_seconds, 1),
        "speedup": round(serial_seconds / parallel_seconds, 2),
        "scores_identical": serial.scores() == parallel.scores() and not missing,
        "lost": len(serial.lost + parallel.lost), "duplicated": len(serial.duplicated + parallel.duplicated),
        "cpus": os.cpu_count(), "load_average": f"{load_start:.1f} -> {os.getloadavg()[0]:.1f}",
    }


def write(results: dict, output: Path = OUTPUT) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2))
    return output


def summary(results: dict) -> str:
    """The measurement in a few lines for the terminal."""
    return (f"{results['submissions']} submissions ({results['items']}) on {results['cpus']} CPUs, "
            f"load average {results['load_average']}\n"
            f"serial (1 job, SQLite):             {results['serial_seconds']:8.1f} s\n"
            f"parallel ({results['jobs']} jobs, PostgreSQL):    {results['parallel_seconds']:8.1f} s   "
            f"speed-up {results['speedup']:.2f}x\n"
            f"scores identical: {results['scores_identical']}; lost: {results['lost']}; "
            f"duplicated: {results['duplicated']}\n")


def agrees(results: dict) -> bool:
    """Every grade of the parallel run equals the serial one, and none is lost or duplicated."""
    return results["scores_identical"] and not results["lost"] and not results["duplicated"]
