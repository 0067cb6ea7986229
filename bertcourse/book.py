"""Building the book: ``jupyter-book build`` as ``make book`` runs it, timed for the Performance page.

``python -m bertcourse book`` calls :func:`build`. The build time goes to the file the
benchmarks' ``timings`` table reads (:data:`bertcourse.bench.timings.TIMING_FILES`).

Under the ``ci`` profile the pages are first executed into jupyter-book's execution cache
one per core (:func:`execute_pages`); jupyter-book then finds every page executed. About half
of a ci page's time is starting its kernel and importing torch and transformers, work of one
core, so two pages at a time nearly halve the build on two cores. Under ``cpu`` and ``gpu`` the
pages run one after the other, as jupyter-book runs them: some measure speed, and a page
measured beside another would report the sharing.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

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
    workers = os.cpu_count() or 1
    if profile == "ci" and workers > 1:
        execute_pages(root, workers)
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


def toc_files(toc: dict) -> list[str]:
    """Every ``file:`` entry of a jb-book table of contents, in order."""
    found = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            found.extend([entry["file"]] if "file" in entry else [])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return found


def notebook_pages(root: Path) -> list[Path]:
    """The pages of ``root``'s table of contents that jupyter-book executes through its cache: MyST notebooks
    not excluded by ``execute.exclude_patterns`` of ``_config.yml`` and not setting an execution mode of
    their own (the Performance page forces a run of its own, alone, for its timings)."""
    from myst_nb.core.read import is_myst_markdown_notebook, read_myst_markdown_notebook

    def cached(page: Path) -> bool:
        text = page.read_text()
        return (is_myst_markdown_notebook(text)
                and "execution_mode" not in read_myst_markdown_notebook(text).metadata.get("mystnb", {}))

    excluded = (yaml.safe_load((root / "_config.yml").read_text()).get("execute") or {}).get("exclude_patterns", [])
    pages = [root / f"{name}.md" for name in toc_files(yaml.safe_load((root / "_toc.yml").read_text()))]
    return [page for page in pages if page.is_file() and cached(page)
            and not any(fnmatch.fnmatch(str(page.relative_to(root)), pattern) for pattern in excluded)]


def execute_pages(root: Path, workers: int) -> None:
    """Execute ``root``'s notebook pages ``workers`` at a time into its execution cache, each kernel on
    ``cores // workers`` threads, as jupyter-book would run them (in the page's folder, the config's timeout).

    A page already in the cache is skipped. A page that fails is only reported here: jupyter-book then
    runs it again itself and reports the error as it always does.
    """
    from jupyter_cache import get_cache
    from jupyter_cache.executors.basic import ExecutionWorkerLocalMProc, ProcessData

    config = yaml.safe_load((root / "_config.yml").read_text()).get("execute") or {}
    cache = get_cache(str(root / config.get("cache", ".jupyter_cache")))
    reader = {"name": "myst_nb_md", "type": "plugin"}
    records = [cache.add_nb_to_project(str(page), read_data=reader) for page in notebook_pages(root)]
    jobs = [ProcessData(r.pk, r.uri, cache, config.get("timeout", 30), bool(config.get("allow_errors")))
            for r in cache.list_unexecuted(filter_pks=[r.pk for r in records])]
    if not jobs:  # a rebuild: every page is in the cache already, no worker processes to start
        return
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    started = time.perf_counter()
    with _environment(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads), \
            multiprocessing.get_context("spawn").Pool(workers) as pool:
        # One page at a time per worker, in any order: a slow page does not hold up a queue behind it.
        outcomes = list(pool.imap_unordered(ExecutionWorkerLocalMProc(), jobs, chunksize=1))
    failed = sorted(str(Path(uri).relative_to(root.resolve())) for code, uri in outcomes if code != 0)
    print(f"bertcourse book: executed {len(jobs) - len(failed)} of {len(jobs)} pages, {workers} at a time on "
          f"{threads} thread(s) each, in {time.perf_counter() - started:.0f} s"
          + (f"; jupyter-book runs these again: {', '.join(failed)}" if failed else ""), flush=True)


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for a ``with`` block (child processes inherit them), then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
