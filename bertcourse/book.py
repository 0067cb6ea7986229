"""Building the book: ``jupyter-book build`` as ``make book`` runs it, timed for the Performance page.

``python -m bertcourse book`` calls :func:`build`. The build time goes to the file the
benchmarks' ``timings`` table reads (:data:`bertcourse.bench.timings.TIMING_FILES`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import runtime
from .bench.timings import TIMING_FILES

BUILD_COMMAND = ("build", ".", "--builder", "html", "-n", "-W", "--keep-going")


def build(root: Path = Path("."), output: Path | None = None) -> int:
    """``jupyter-book build`` as ``make book`` runs it, timed into ``_build/bench/book_build.json``.

    A build with an empty execution cache is recorded as ``clean``, one that reuses it as
    ``cached``; each kind keeps its latest successful build, with the profile it ran under.
    An execution cache left by a build under another profile is removed first.
    Returns jupyter-book's exit status.
    """
    root = Path(root)
    output = output or root / TIMING_FILES["book_build"]
    cache = root / ".jupyter_cache"
    # The execution cache is keyed on the cells' source, not on the profile: outputs of a ci
    # build would be reused by a cpu build. A cache made under another profile is dropped.
    profile_marker = cache / "bertcourse-profile"
    profile = runtime.profile().name
    if cache.is_dir() and (not profile_marker.is_file() or profile_marker.read_text() != profile):
        shutil.rmtree(cache)
    kind = "cached" if cache.is_dir() and any(p != profile_marker for p in cache.iterdir()) else "clean"
    started = time.perf_counter()
    completed = subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), *BUILD_COMMAND], cwd=root)
    seconds = time.perf_counter() - started
    if cache.is_dir():
        profile_marker.write_text(profile)
    if completed.returncode == 0:
        recorded = json.loads(output.read_text()) if output.exists() else {}
        recorded[f"{kind} build"] = (f"{seconds:.0f} s (profile {profile}, "
                                     f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')})")
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(recorded, indent=1))
    return completed.returncode
