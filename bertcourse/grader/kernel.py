"""A Jupyter kernel manager whose kernels run in the grading sandbox.

nbgrader's Execute step starts kernels through a ``KernelManager``; this one
wraps the ipykernel command in :meth:`Sandbox.wrap`. The kernel talks to the
grader over Unix sockets (``transport = "ipc"``) in a private folder made for
that kernel alone, because the jail has its own network namespace (no shared
loopback) and must not see other kernels' connection files. Interrupts go as
``interrupt_request`` messages: a signal would reach bubblewrap, not the
kernel inside it.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

from .sandbox import Sandbox, reserved_slots

NO_HISTORY = "--HistoryManager.hist_file=:memory:"  # no SQLite history file in the jail


_HELD = []  # this process's reservation of sandbox uids: referenced, so that its lock lasts as long as the process


@functools.cache
def _own_slot() -> int:
    """The first slot of a block of sandbox uids that this process holds until it exits.

    For nbgrader run directly (``nbgrader autograde`` with the course's config) rather than by a
    grading batch, which hands its processes their slots: a grading batch beside it kills what
    still runs as its own uids after each student, so a kernel must never borrow them.
    """
    reservation = reserved_slots()
    _HELD.append(reservation)
    return reservation.__enter__()


class SandboxKernelManager(AsyncKernelManager):
    """``AsyncKernelManager`` that jails its kernel; set :attr:`sandbox` before use."""

    sandbox: Sandbox | None = None  # set once per grading process (see autograde.grade_one)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._jail_runtime = Path(tempfile.mkdtemp(prefix="bertcourse-kernel-"))
        os.chmod(self._jail_runtime, 0o700)
        self.transport = "ipc"
        self.ip = str(self._jail_runtime / "ipc")
        self.connection_file = str(self._jail_runtime / "kernel.json")

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        sandbox = self.sandbox or Sandbox(slot=_own_slot())
        self.kernel_spec.interrupt_mode = "message"
        workdir = Path(self._launch_args.get("cwd") or os.getcwd())
        # Always this interpreter's ipykernel: the kernelspec's argv could name any program.
        extra = [a for a in extra_arguments or [] if a != NO_HISTORY]
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file, NO_HISTORY, *extra]
        sandbox.prepare(self._jail_runtime, workdir)
        return sandbox.wrap(argv, workdir, runtime_dir=self._jail_runtime)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self._jail_runtime, ignore_errors=True)

    cleanup_resources = _async_cleanup_resources
