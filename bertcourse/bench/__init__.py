"""Benchmarks: the reference BERT against transformers, model FLOP utilisation, the CPU
training-path levers, the MLM head, the time a pre-training run takes to a held-out accuracy, and
the course's pre-training recipe against the obvious transformers loop on the same data.

``python -m bertcourse bench`` (``make bench``) runs every comparison and
writes ``_build/bench/results.json``; the book's Performance page renders that
file. ``--quick`` runs a tiny version in well under a minute (the CI book build
and the tests use it).

- ``harness``: plans, the machine record, interleaved A/B timing and medians (how the numbers are taken).
- one module per table, each with its ``measure()`` and its ``rows()`` side by side:
  ``encoder``, ``mfu``, ``levers``, ``mlm``, ``time_to_accuracy``, ``recipe_vs_transformers``, ``timings`` (book build and
  autograding, measured elsewhere and read from files).
- ``report``: the tables as Markdown and HTML.

The book is built by :mod:`bertcourse.book`, which records its build time where ``timings`` reads it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch

from .. import runtime
from . import encoder, harness, levers, mfu, mlm, recipe_vs_transformers, time_to_accuracy
from .harness import BENCH_DIR, FULL, QUICK, RESULTS_PATH, SCHEMA_VERSION, BenchPlan, EncoderCase, interleaved
from .report import TITLES, machine_line, markdown_table, report, report_html, tables
from .timings import TIMING_FILES, read_timing_files

__all__ = [
    "BENCH_DIR", "FULL", "QUICK", "RESULTS_PATH", "SCHEMA_VERSION", "TIMING_FILES", "TITLES", "BenchPlan",
    "EncoderCase", "interleaved", "load_results", "machine_line", "markdown_table", "read_timing_files", "report",
    "report_html", "results_for_book", "run", "tables",
]


def run(quick: bool = False, device: str | torch.device | None = None, output: str | Path | None = RESULTS_PATH,
        progress: Callable[[str], None] | None = None, threads: int | None = None) -> dict:
    """Run every benchmark, write the JSON to ``output`` (unless None) and return the results.

    ``threads`` sets ``torch.set_num_threads`` for the run (and restores it after);
    None keeps torch's default, one per core.
    """
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _run(quick, device, output, progress)
    finally:
        torch.set_num_threads(previous_threads)


def _run(quick, device, output, progress) -> dict:
    device = runtime.pick_device(None if device is None else str(device))
    if device.type == "mps":  # no fair timing story there yet: run the CPU numbers
        device = torch.device("cpu")
    plan = harness.plan_for(quick, device)
    say = progress or (lambda message: None)
    started = time.perf_counter()
    results: dict = {
        "schema": SCHEMA_VERSION,
        "plan": {**asdict(plan), "encoder_cases": [asdict(c) for c in plan.encoder_cases]},
        "machine": harness.machine_info(device),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "encoder": [],
    }
    for case in plan.encoder_cases:
        say(f"encoder: {case.preset} B={case.batch} T={case.seq}")
        results["encoder"] += encoder.measure(case, plan, device)
    say("model FLOP utilisation")
    results["mfu"] = mfu.measure(plan, device)
    say("levers")
    results["levers"] = levers.measure(plan, device)
    say("MLM pre-training step")
    results["mlm"] = mlm.measure(plan, device)
    if not quick:
        results["mlm"] += mlm.measure(plan, device, vocab_size=30522)
    say("time to a held-out MLM accuracy")
    results["time_to_accuracy"] = time_to_accuracy.measure(plan, device)
    say("the course's pre-training recipe against a transformers loop at BERT's defaults")
    results[recipe_vs_transformers.KEY] = recipe_vs_transformers.measure(plan, device)
    results.update(read_timing_files())
    results["seconds"] = time.perf_counter() - started
    results["machine"]["load_average_end"] = harness.load_average()
    if output is not None:
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(results, indent=2, default=str))
    return results


def load_results(path: str | Path = RESULTS_PATH) -> dict:
    """The results a run wrote."""
    return json.loads(Path(path).read_text())


def results_for_book(path: str | Path = RESULTS_PATH) -> dict:
    """The saved results, or, where there are none (CI) or they predate this code, a fresh ``--quick`` run.

    The book-build and autograding rows are read again from their files, which later builds
    and grading runs may have written since the benchmark ran.
    """
    path = Path(path)
    if path.exists():
        results = load_results(path)
        if results.get("schema") == SCHEMA_VERSION:
            return {**results, **read_timing_files(path.parent)}  # they sit beside the results
    return run(quick=True, output=path)
