"""The grading jail on its own: what a process inside can see, reach, write and use.

One probe script runs inside :meth:`Sandbox.wrap`, the way the grading kernel and
the re-check worker run, next to a fake course (solutions, gradebook, config,
another student's files) and reports as JSON what it managed to do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from bertcourse.grader import kernel
from bertcourse.grader.sandbox import FIRST_SANDBOX_UID, MIB, SLOTS_PER_BATCH, Limits, Sandbox, probe, reserved_slots
from tests.grader_support import loopback_listener, require_sandbox, was_reached

PROBE = textwrap.dedent('''
    import json, os, resource, socket, sys
    course, port = sys.argv[1], int(sys.argv[2])
    out = {"uid": os.getuid(), "gid": os.getgid(), "cwd": os.getcwd(), "secret": os.environ.get("GRADER_SECRET")}
    def attempt(name, action):
        try:
            action()
            out[name] = "ok"
        except BaseException as error:
            out[name] = type(error).__name__
    for name in ("solutions/a/a.ipynb", "gradebook.db", "nbgrader_config.py", "submitted/bob/a/a.ipynb",
                 "autograded/bob/a/a.ipynb"):
        attempt("read " + name, lambda: open(os.path.join(course, name)).read())
    attempt("list course", lambda: os.listdir(course + "/submitted") or 1 / 0)
    attempt("write workdir", lambda: open("answer.txt", "w").write("mine"))
    attempt("write course", lambda: open(os.path.join(course, "PWNED"), "w").write("x"))
    attempt("write usr", lambda: open("/usr/PWNED", "w").write("x"))
    attempt("write venv", lambda: open(os.path.join(sys.prefix, "PWNED"), "w").write("x"))
    attempt("write tmp", lambda: open("/tmp/scratch", "w").write("x"))
    attempt("loopback", lambda: socket.create_connection(("127.0.0.1", port), timeout=3))
    # No route out: tested by the interfaces, so that no packet is ever sent off the machine.
    out["interfaces"] = sorted(name for _, name in socket.if_nameindex())
    attempt("memory", lambda: bytearray(8 * 2 ** 30))
    attempt("big file", lambda: open("big.bin", "wb").write(b"x" * (80 * 2 ** 20)))
    out["limits"] = {name: resource.getrlimit(getattr(resource, "RLIMIT_" + name))[0]
                     for name in ("CPU", "AS", "NPROC", "FSIZE", "NOFILE")}
    out["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    children = 0
    try:
        while children < 500:
            pid = os.fork()
            if pid == 0:
                import time
                time.sleep(30)
                os._exit(0)
            children += 1
    except OSError:
        pass
    out["children"] = children
    print(json.dumps(out))
''')

LIMITS = replace(Limits(), cpu_seconds=20, address_space=2048 * MIB, processes=32, file_size=64 * MIB)


@pytest.fixture(scope="module")
def jailed(tmp_path_factory):
    require_sandbox()
    course = tmp_path_factory.mktemp("jail") / "course"
    for name in ("solutions/a/a.ipynb", "gradebook.db", "nbgrader_config.py", "submitted/bob/a/a.ipynb",
                 "autograded/bob/a/a.ipynb"):
        (course / name).parent.mkdir(parents=True, exist_ok=True)
        (course / name).write_text("secret")
    workdir = course / "autograded" / "alice" / "a"
    workdir.mkdir(parents=True)
    listener = loopback_listener(timeout=0.5)
    with reserved_slots() as first:
        sandbox = Sandbox(LIMITS, slot=first + 1)
        sandbox.prepare(workdir)
        argv = sandbox.wrap([sys.executable, "-c", PROBE, str(course), str(listener.getsockname()[1])], workdir)
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                                   env={**os.environ, "GRADER_SECRET": "hunter2"})
    reached = was_reached(listener)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return {"out": json.loads(completed.stdout.splitlines()[-1]), "course": course, "workdir": workdir,
            "reached": reached, "sandbox": sandbox}


def test_this_machine_gives_the_full_sandbox():
    require_sandbox()
    capabilities = probe()
    if os.geteuid() == 0:
        assert capabilities.drops_uid and not capabilities.problems, capabilities.problems
    else:
        assert any(line.startswith("SAME UID") for line in capabilities.problems)


@pytest.mark.parametrize("name", ["solutions/a/a.ipynb", "gradebook.db", "nbgrader_config.py",
                                  "submitted/bob/a/a.ipynb", "autograded/bob/a/a.ipynb"])
def test_course_files_do_not_exist_inside(jailed, name):
    assert jailed["out"][f"read {name}"] == "FileNotFoundError"


def test_writes_only_in_the_workdir(jailed):
    out = jailed["out"]
    assert out["write workdir"] == "ok" and (jailed["workdir"] / "answer.txt").read_text() == "mine"
    assert out["write tmp"] == "ok"  # a private tmpfs
    for where in ("write course", "write usr", "write venv"):
        assert out[where] in ("PermissionError", "OSError", "FileNotFoundError"), (where, out[where])
    assert not (jailed["course"] / "PWNED").exists() and not Path(sys.prefix, "PWNED").exists()
    assert out["cwd"] == str(jailed["workdir"].resolve())


def test_no_network(jailed):
    assert jailed["out"]["loopback"] != "ok" and not jailed["reached"]
    assert jailed["out"]["interfaces"] == ["lo"]


def test_runs_as_the_slot_uid_without_the_graders_environment(jailed):
    out = jailed["out"]
    if os.geteuid() == 0:
        assert out["uid"] == out["gid"] == FIRST_SANDBOX_UID + jailed["sandbox"].slot
    assert out["secret"] is None
    assert len(out["pids"]) <= 3, out["pids"]  # its own PID namespace: bwrap's init, itself


def test_limits_apply(jailed):
    out = jailed["out"]
    assert out["limits"] == {"CPU": LIMITS.cpu_seconds, "AS": LIMITS.address_space, "NPROC": LIMITS.processes,
                             "FSIZE": LIMITS.file_size, "NOFILE": LIMITS.open_files}
    assert out["memory"] == "MemoryError"
    assert out["big file"] == "OSError" and (jailed["workdir"] / "big.bin").stat().st_size <= LIMITS.file_size
    if os.geteuid() == 0:  # RLIMIT_NPROC holds for the sandbox uid, not for a grader's own uid
        assert out["children"] < LIMITS.processes


def test_cpu_time_limit_kills_a_busy_loop(tmp_path):
    require_sandbox()
    with reserved_slots() as first:
        sandbox = Sandbox(replace(LIMITS, cpu_seconds=1), slot=first)
        sandbox.prepare(tmp_path)
        completed = subprocess.run(sandbox.wrap([sys.executable, "-c", "while True: pass"], tmp_path),
                                   capture_output=True, timeout=60)
    assert completed.returncode != 0


def test_missing_bubblewrap_is_said_in_one_line(monkeypatch):
    import shutil

    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "bwrap" else real(name))
    capabilities = probe()
    assert not capabilities.isolated
    assert any(line.startswith("NO SANDBOX: bubblewrap") and "\n" not in line for line in capabilities.problems)


def test_nbgrader_run_directly_takes_uids_no_batch_holds():
    # `nbgrader autograde` with the course's config starts kernels without a batch's slot: its own block, held
    # for the life of the process, or a batch beside it would kill those kernels as leftovers of its uids.
    with reserved_slots() as batch:
        own = kernel._own_slot()
        assert not batch <= own < batch + SLOTS_PER_BATCH
    with reserved_slots() as later:
        assert not later <= own < later + SLOTS_PER_BATCH and kernel._own_slot() == own
