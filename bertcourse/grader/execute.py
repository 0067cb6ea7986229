"""nbgrader's Execute step, hardened: jailed kernel, time budget, output cap, crash recovery.

Stock ``Execute`` gives up on the whole notebook when the kernel dies
(``os._exit``, out of memory, the CPU limit), and the submission then needs
manual grading. :class:`SandboxedExecute` instead

* records an error in the cell that killed the kernel (so the test cells that
  depend on it score 0 with an explanation a student can read),
* starts a fresh kernel, replays the cells that had run before, and goes on
  with the next cell (at most ``max_restarts`` times);
* does the same after a cell runs past ``timeout`` (the interrupt may not stop
  a loop inside C code, so the kernel is replaced rather than trusted);
* stops executing once the whole notebook has used ``notebook_timeout``
  seconds; the remaining cells get an error saying so;
* keeps at most ``max_output_bytes`` of output per notebook (a print loop
  cannot fill the grader's memory or the gradebook).
"""

from __future__ import annotations

import copy
import json
import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Dict, Integer

from .kernel import SandboxKernelManager

KERNEL_DIED = "KernelDied"
NOT_RUN = "NotRun"


def _shortened(content: dict, limit: int = 4000) -> dict:
    """An output message's content with every string cut to ``limit`` characters (lists to 20 items)."""
    if isinstance(content, dict):
        return {key: _shortened(value, limit) for key, value in content.items()}
    if isinstance(content, list):
        return [_shortened(value, limit) for value in content[:20]]
    return content[:limit] if isinstance(content, str) else content


def _error(ename: str, message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


class SandboxedExecute(Execute):
    notebook_timeout = Integer(1800, help="seconds for the whole notebook, restarts included").tag(config=True)
    max_output_bytes = Integer(2_000_000, help="output kept per notebook; the rest is dropped").tag(config=True)
    max_restarts = Integer(3, help="fresh kernels after a crash or a timeout before giving up").tag(config=True)
    cell_timeouts = Dict(help="grade_id -> seconds for that cell (bertcourse.grader.timing); other cells: "
                              "timeout").tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)

    # --- output cap ---------------------------------------------------------------------------------

    def output(self, outs, msg, display_id, cell_index):
        """Keep at most ``max_output_bytes`` of output per notebook, never at the cost of a score.

        Past the cap, stdout and display data are dropped (one marker per cell says so);
        what nbgrader scores from is kept, shortened: errors and results (a failed test must
        not pass because its error was dropped) and the first stderr chunk of each cell.
        """
        content = msg.get("content", {})
        self._output_bytes += len(json.dumps(content, default=str))
        if self._output_bytes <= self.max_output_bytes:
            return super().output(outs, msg, display_id, cell_index)
        kind = msg.get("msg_type")
        if kind in ("error", "execute_result") or (kind == "stream" and content.get("name") == "stderr"
                                                   and (cell_index, "stderr") not in self._truncated):
            if kind == "stream":  # errors and results are always kept; stderr only its first chunk
                self._truncated.add((cell_index, "stderr"))
            return super().output(outs, {**msg, "content": _shortened(content)}, display_id, cell_index)
        if cell_index not in self._truncated:
            self._truncated.add(cell_index)
            outs.append(NotebookNode(output_type="stream", name="stdout",
                                     text=f"\n[output truncated: more than {self.max_output_bytes} bytes of "
                                          "output in this notebook]\n"))
        return None

    def _get_timeout(self, cell):
        """A cell's own limit (derived from the reference's time for that cell), else ``timeout``."""
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id") if cell is not None else None
        if grade_id in self.cell_timeouts:
            return int(self.cell_timeouts[grade_id])
        return super()._get_timeout(cell)

    # --- the run ------------------------------------------------------------------------------------

    def preprocess(self, nb, resources=None, km=None):
        # Imported here: nbclient's client loads only when a cell is executed.
        from nbclient import NotebookClient

        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._output_bytes, self._truncated = 0, set()
        deadline = time.monotonic() + self.notebook_timeout
        cells = self.nb.cells
        completed: list[int] = []  # code cells that ran to the end in some kernel, in order
        index, restarts = 0, 0
        while index < len(cells):
            replay = list(completed)
            with self.setup_kernel():
                info = self.wait_for_reply(self.kc.kernel_info())
                self.nb.metadata["language_info"] = info["content"]["language_info"]
                try:
                    for i in replay:  # rebuild the state a dead kernel lost; outputs are discarded
                        self.execute_cell(copy.deepcopy(cells[i]), i, store_history=False)
                except (DeadKernelError, RuntimeError, TimeoutError) as error:
                    self._give_up(cells, index, f"the kernel could not be restarted ({type(error).__name__})")
                    break
                while index < len(cells):
                    cell = cells[index]
                    if cell.cell_type != "code" or not cell.source.strip():
                        index += 1
                        continue
                    if time.monotonic() > deadline:
                        self._give_up(cells, index, f"the notebook used its {self.notebook_timeout} s time "
                                                    "limit before this cell")
                        index = len(cells)
                        break
                    started = time.monotonic()
                    try:
                        self.preprocess_cell(cell, resources, index)
                    except DeadKernelError:
                        cell.outputs.append(_error(KERNEL_DIED, self._death_message()))
                        index += 1
                        break  # new kernel, replay, go on
                    except CellTimeoutError:  # e.g. a fork bomb left the kernel unable to answer
                        cell.outputs.append(_error(KERNEL_DIED, "the kernel stopped responding while running "
                                                                "this cell; it was replaced by a fresh one"))
                        index += 1
                        break
                    limit = self._get_timeout(cell)
                    if limit and time.monotonic() - started >= limit:
                        cell.outputs.append(_error(
                            KERNEL_DIED, f"this cell ran past its {limit} s time limit; it was stopped and "
                                         "the kernel restarted (an infinite loop?)"))
                        index += 1
                        break
                    completed.append(index)
                    index += 1
                else:
                    break
            restarts += 1
            if index < len(cells) and restarts > self.max_restarts:
                self._give_up(cells, index, f"the kernel died {restarts} times")
                break
            self.km = self.kc = None
        self.set_widgets_metadata()
        return self.nb, self.resources

    def _death_message(self) -> str:
        code = None
        try:
            code = self.km.provisioner.process.returncode if self.km and self.km.provisioner else None
        except AttributeError:
            pass
        status = f" (exit status {code})" if code is not None else ""
        return (f"the kernel died while running this cell{status}: os._exit/sys.exit at top level, running out "
                "of memory, the CPU-time limit or a crash. Everything defined in earlier cells was re-run in a "
                "fresh kernel; what this cell defines is missing.")

    @staticmethod
    def _give_up(cells, start: int, why: str) -> None:
        for cell in cells[start:]:
            if cell.cell_type == "code" and cell.source.strip():
                cell.outputs.append(_error(NOT_RUN, f"not run: {why}"))
