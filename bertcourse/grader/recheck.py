"""The trusted re-check: call the student's code in a jailed worker, judge it here.

For each item of the assignment that has a probe (:mod:`bertcourse.grader.probes`),
this process makes inputs, computes the reference result itself, asks the
sandboxed worker (:mod:`bertcourse.grader.worker`) for the student's result as
plain data, and compares. Nothing the kernel or the worker reports about
itself is believed; a worker that dies, hangs or answers garbage fails the item
it was working on and is replaced for the next one.

An item whose answer is not written in the notebook (the reference object itself,
however it was found, or any function or class defined outside the notebook's
cells) fails without being probed, with :data:`NOT_WRITTEN` in its detail, and an
answer that runs the reference's code while it is probed fails too. A cell that
killed the grading kernel or ran past its time there (the autograded notebook's
output says so) is not run again: it would cost its time limit a second time.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import codec, probes
from .execute import KERNEL_DIED
from .sandbox import Sandbox

NOT_WRITTEN = "the answer is not written in the notebook"


@dataclass(frozen=True)
class ItemCheck:
    item: str
    passed: bool | None  # None: not re-checked (no probe)
    detail: str = ""


def program(notebook) -> list[tuple[str, str]]:
    """(grade_id, source) of what the worker runs: the setup before the first answer, then the student's cells.

    Test cells never run, nor locked cells after the first answer (demos); every other code
    cell does, the answer cells and any cell the student added (a helper, an import).
    """
    cells, seen_answer = [], False
    for index, cell in enumerate(notebook.cells):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade"):
            continue
        seen_answer = seen_answer or bool(meta.get("solution"))
        if not (seen_answer and meta.get("locked")):
            cells.append((meta.get("grade_id", f"cell-{index}"), cell.source))
    return cells


def stopped_in_kernel(notebook) -> set[str]:
    """Grade ids (as :func:`program` names them) of the cells the grading kernel could not finish."""
    stopped = set()
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and any(o.get("output_type") == "error" and o.get("ename") == KERNEL_DIED
                                            for o in cell.get("outputs", [])):
            stopped.add(cell.metadata.get("nbgrader", {}).get("grade_id", f"cell-{index}"))
    return stopped


class _Worker:
    """One jailed worker process that has run the student's program and answers calls."""

    def __init__(self, sandbox: Sandbox, cells, bindings: dict, timeout: float, cell_timeout):
        self.folder = Path(tempfile.mkdtemp(prefix="bertcourse-recheck-"))
        sandbox.prepare(self.folder)
        argv = sandbox.wrap([sys.executable, "-m", "bertcourse.grader.worker"], self.folder)
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, cwd=self.folder, env=sandbox.process_environment(),
                                        start_new_session=True)
        self.replies: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.send({"cells": cells})
        self.running = None
        deadline = time.monotonic() + timeout
        while True:
            try:  # each cell gets its own time limit, as in the grading kernel
                reply = self.receive(min(cell_timeout(self.running), deadline - time.monotonic()))
            except (RuntimeError, TimeoutError) as error:
                self.close()
                raise CellKilledWorker(self.running, error) from None
            if "running" not in reply:
                break
            self.running = reply["running"]
        for name, value in bindings.items():
            self.send({"op": "set", "name": name, "value": value})
            self.receive(timeout)

    def _read(self):
        try:
            while True:
                self.replies.put(codec.read_frame(self.process.stdout))
        except Exception as error:  # noqa: BLE001 - EOF, garbage: the caller reports it
            self.replies.put(error)

    def send(self, request) -> None:
        codec.write_frame(self.process.stdin, request)

    def receive(self, timeout: float):
        try:
            reply = self.replies.get(timeout=max(timeout, 0.1))
        except queue.Empty:
            raise TimeoutError(f"no answer within {timeout:.0f} s") from None
        if isinstance(reply, BaseException):
            code = self.process.poll()
            raise RuntimeError(f"the worker stopped ({type(reply).__name__}"
                               f"{'' if code is None else f', exit status {code}'})")
        if not isinstance(reply, dict):
            raise RuntimeError("the worker answered something that is not a reply")
        return reply

    def close(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


class CellKilledWorker(RuntimeError):
    """A cell of the program killed the worker or ran past its time while the worker started."""

    def __init__(self, grade_id, error):
        super().__init__(f"cell {grade_id} stopped the worker ({error})")
        self.grade_id = grade_id


def _reference_of(item: str) -> str | None:
    from bertcourse import registry

    try:
        return registry.item(item).reference
    except KeyError:
        return None


def recheck(notebook, items: list[str], sandbox: Sandbox, timeout: float = 600, cell_timeout: float = 300,
            seed: int = 20240607, cell_timeouts: dict[str, float] | None = None) -> list[ItemCheck]:
    """Re-check ``items`` of a student's (autograded) ``notebook``; items without a probe get passed=None.

    Every item with a reference implementation is first asked where its answer comes from
    (:data:`NOT_WRITTEN`). A cell that kills the worker or runs past its time limit
    (``cell_timeouts[grade_id]``, else ``cell_timeout``) while the program starts is left
    out (at most three), as the grading kernel leaves out a cell that kills it; a cell that
    the kernel already could not finish is left out from the start.
    """
    context = probes.Context()
    cells = program(notebook)
    limits = cell_timeouts or {}
    references = {item: _reference_of(item) for item in items}
    probed = [item for item in items if item in probes.PROBES or references[item]]
    results = {item: ItemCheck(item, None, "no re-check probe") for item in items if item not in probed}
    deadline = time.monotonic() + timeout
    worker = None
    skipped = stopped_in_kernel(notebook)  # cells that killed the kernel or ran past their time: not again
    budget = len(skipped) + 3
    try:
        for item in probed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                results[item] = ItemCheck(item, False, "re-check time limit reached")
                continue
            try:
                while worker is None:
                    try:
                        worker = _Worker(sandbox, [c for c in cells if c[0] not in skipped],
                                         probes.bindings(probed, context), remaining,
                                         lambda grade_id: limits.get(grade_id, cell_timeout))
                    except CellKilledWorker as error:  # e.g. os._exit at the top of an answer cell
                        if error.grade_id is None or len(skipped) >= budget:
                            raise RuntimeError(f"the worker died while starting: {error}") from None
                        skipped.add(error.grade_id)
                if references[item]:
                    worker.send({"op": "origin", "target": item, "reference": references[item]})
                    reply = worker.receive(deadline - time.monotonic())
                    found = reply.get("result") if reply.get("ok") else None
                    if not isinstance(found, dict) or found.get("written_here") is not True:
                        why = found.get("why") if isinstance(found, dict) else reply.get("error")
                        results[item] = ItemCheck(item, False, f"{NOT_WRITTEN}: {str(why)[:300]}")
                        continue
                if item not in probes.PROBES:
                    results[item] = ItemCheck(item, None, "written in the notebook; no re-check probe")
                    continue
                cases = probes.PROBES[item](np.random.default_rng([seed, len(item)]), context)
                problem = None
                for case in cases:
                    worker.send({**case.request, "forbid": references[item]})
                    reply = worker.receive(deadline - time.monotonic())
                    if not reply.get("ok"):
                        problem = f"{case.label}: raised {str(reply.get('error'))[:300]}"
                        break
                    problem = probes.compare(case, reply.get("result"))
                    if problem:
                        problem = f"{case.label}: {problem}"
                        break
                results[item] = ItemCheck(item, problem is None, problem or f"{len(cases)} cases match")
            except (TimeoutError, RuntimeError, codec.CodecError, OSError) as error:
                results[item] = ItemCheck(item, False, f"{type(error).__name__}: {error}")
                if worker is not None:
                    worker.close()
                worker = None
    finally:
        if worker is not None:
            worker.close()
    for item, parts in probes.DEPENDS.items():
        if item in results and results[item].passed is None:
            failed = [p for p in parts if p in results and results[p].passed is False]
            if failed:
                results[item] = ItemCheck(item, False, f"depends on {', '.join(failed)}, which failed the re-check")
    return [results[item] for item in items]

