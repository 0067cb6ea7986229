"""``python -m bertcourse doctor`` ends with one line: all set, or the one thing to fix next."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _doctor(path: str) -> list[str]:
    env = {**os.environ, "PATH": path}
    done = subprocess.run([sys.executable, "-m", "bertcourse", "doctor"], capture_output=True, text=True, env=env)
    return done.stdout.strip().splitlines()


def test_doctor_ends_with_all_set_or_the_next_fix():
    venv_bin = str(Path(sys.executable).parent)
    assert _doctor(f"{venv_bin}{os.pathsep}/usr/bin:/bin")[-1] == "all set"
    last = _doctor("/usr/bin:/bin")[-1]
    assert last.startswith("next: put the venv on PATH") and "activate" in last
