"""``python -m bertcourse grade <assignment> [--jobs N] [--db URL]`` and ``--bench N``."""

from __future__ import annotations

import sys
from pathlib import Path


def add_parser(commands) -> None:
    parser = commands.add_parser("grade", help="autograde submitted/ in the sandbox, re-check, feedback, export")
    parser.add_argument("assignment", nargs="?", default="ch1_architecture")
    parser.add_argument("--jobs", type=int, default=1, help="parallel graders (needs --db postgresql://...)")
    parser.add_argument("--db", default=None, help="gradebook URL (default: nbgrader_config.py, SQLite)")
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="course folder (default: here)")
    parser.add_argument("--student", action="append", help="grade only these students")
    parser.add_argument("--cell-timeout", type=int, default=None,
                        help="seconds for every cell (default: per cell, --timeout-factor x the time the "
                             "reference notebook took, at least --min-cell-timeout)")
    parser.add_argument("--notebook-timeout", type=int, default=None,
                        help="seconds for a whole notebook (default: the factor x the reference's total, >= 300)")
    parser.add_argument("--timeout-factor", type=float, default=10.0)
    parser.add_argument("--min-cell-timeout", type=int, default=30)
    parser.add_argument("--measure", action="store_true",
                        help="run the source notebook and record its cell times (solutions/<a>/cell_times.json)")
    parser.add_argument("--no-feedback", action="store_true")
    parser.add_argument("--lease", type=float, default=120.0,
                        help="with PostgreSQL: seconds after which a silent grader's claim is taken over")
    parser.add_argument("--regrade", action="store_true",
                        help="with PostgreSQL: grade every student again (on the first machine only)")
    parser.add_argument("--allow-unsandboxed", action="store_true",
                        help="grade without bwrap where it cannot run (trusted submissions only)")
    parser.add_argument("--bench", type=int, metavar="N", default=0,
                        help="benchmark: N simulated submissions, serial vs --jobs (default 2) workers")
    parser.set_defaults(run=run)


def run(args) -> int:
    # Imported here: the grading pipeline loads only when `grade` runs, not for every `python -m bertcourse` command.
    from .batch import GradingError, grade
    from .settings import GradingSettings

    settings = GradingSettings(allow_unsandboxed=args.allow_unsandboxed, cell_timeout=args.cell_timeout,
                               notebook_timeout=args.notebook_timeout, timeout_factor=args.timeout_factor,
                               min_cell_timeout=args.min_cell_timeout)
    if args.measure:
        from . import timing

        times = timing.measure(args.course, args.assignment)
        print(f"{len(times)} cells, {sum(times.values()):.1f} s in all: "
              f"{timing.times_path(args.course, args.assignment)}")
        return 0
    if args.bench:
        # Imported here: the grading pipeline loads only when `grade` runs, not for every `python -m bertcourse` command.
        from . import bench

        results = bench.measure(args.assignment, args.bench, max(args.jobs, 2), settings)
        sys.stdout.write(bench.summary(results))
        print(f"results written to {bench.write(results)}")
        return 0 if bench.agrees(results) else 1
    try:
        report = grade(args.course, args.assignment, jobs=args.jobs, db_url=args.db, settings=settings,
                       students=args.student, feedback=not args.no_feedback, lease=args.lease,
                       regrade=args.regrade)
    except GradingError as error:
        print(f"grade: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(report.markdown())
    print(f"report: {args.course / 'grading_reports' / args.assignment / 'report.md'}")
    return 1 if report.lost or report.duplicated else 0
