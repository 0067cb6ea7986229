"""Shared pieces of the re-check probe tests: run a variant's answer through an item's probes, in process or sandboxed.

A variant is judged in this process the way the sandboxed worker judges it: each probe request is
answered by the worker's own ``call`` or ``module`` op, the result makes a round trip through the
codec, and the probe's comparison decides. :func:`recheck_in_sandbox` takes the real path,
:func:`recheck.recheck` in the sandboxed worker.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from bertcourse.grader import codec, probes, recheck, worker
from bertcourse.grader.sandbox import Limits, Sandbox, reserved_slots
from tests import notebook_runner as runner

ROOT = Path(__file__).resolve().parents[2]
SEED = 20240607


def solution(assignment: str):
    """The assignment's solution notebook."""
    return runner.load(ROOT / "solutions" / assignment / f"{assignment}.ipynb")


def variant_ids(variants) -> list[str]:
    """Test ids for a VARIANTS list: item, ok or mutant, name."""
    return [f"{v.item}:{'ok' if v.correct else 'mutant'}:{v.name}" for v in variants]


def cases(item: str) -> list:
    """A fresh set of the item's cases, as each re-check makes (cases that judge several calls keep state)."""
    return probes.PROBES[item](np.random.default_rng([SEED, len(item)]), probes.Context())


def namespace(cells: Iterable[tuple[str, str]]) -> dict:
    """A fresh ``__main__`` namespace in which each ``(name, source)`` cell ran, in order."""
    space = {"__name__": "__main__"}
    for name, source in cells:
        exec(compile(source, f"<{name}>", "exec"), space)
    return space


def verdict(space: dict, item_cases: list, *, seed_globals: bool = True) -> str | None:
    """What the re-check says of the answer in ``space``: None (passed) or the first problem.

    ``seed_globals`` seeds torch's and Python's global generators once, before the first case:
    the global state moves on between the calls, as in the worker.
    """
    if seed_globals:
        import torch

        torch.manual_seed(0)
        random.seed(0)
    for case in item_cases:
        request = copy.deepcopy(case.request)
        answer = worker.call if request["op"] == "call" else worker._module_call
        try:
            got = codec.decode(codec.encode(answer(space, request)))
        except Exception as error:  # noqa: BLE001 - a variant that raises fails, as in the worker
            return f"{case.label}: raised {type(error).__name__}: {error}"
        problem = probes.compare(case, got)
        if problem:
            return f"{case.label}: {problem}"
    return None


def find(variants, item: str, name: str):
    """The variant of ``item`` called ``name``."""
    return next(v for v in variants if v.item == item and v.name == name)


def submission(notebook, replaced: dict):
    """A copy of ``notebook`` without solution markers, each answer cell in ``replaced`` (grade id -> variant) swapped."""
    copied = copy.deepcopy(notebook)
    for cell in copied.cells:
        cell.source = runner.strip_markers(cell.source)
        grade_id = runner.nbgrader_meta(cell).get("grade_id")
        if grade_id in replaced:
            cell.source = replaced[grade_id].apply(cell.source)
    return copied


def recheck_in_sandbox(items: list[str], *notebooks) -> list:
    """The re-check of ``items`` in each notebook, in one sandbox: a list of check lists, one per notebook."""
    with reserved_slots() as first:
        sandbox = Sandbox(Limits(cpu_seconds=300), slot=first)
        return [recheck.recheck(notebook, items, sandbox, timeout=300) for notebook in notebooks]
