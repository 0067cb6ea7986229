"""Table: the book build and autograding times, measured elsewhere (the book module, the grader) and read from files."""

from __future__ import annotations

import json
from pathlib import Path

from .harness import BENCH_DIR

KEY = "other"
TITLE = "Book build and autograding"

# Files that `make book` or the grading tools may leave behind; each row is skipped, with the reason, if missing.
TIMING_FILES = {
    "book_build": BENCH_DIR / "book_build.json",
    "autograde": BENCH_DIR / "autograde.json",
}


def read_timing_files(folder: Path = BENCH_DIR) -> dict[str, dict]:
    """The recorded book-build and autograding seconds in ``folder``, or why each is not available."""
    found = {}
    for name, relative in TIMING_FILES.items():
        path = Path(folder) / relative.name
        if not path.exists():
            found[name] = {"skipped": f"not measured in this run: {relative} does not exist"}
            continue
        try:
            found[name] = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            found[name] = {"skipped": f"{relative} could not be read: {error}"}
    return found


def rows(results: dict) -> list[dict[str, str]]:
    """The table's rows as strings."""
    table = []
    for name in TIMING_FILES:
        entry = results.get(name, {})
        value = entry.get("skipped") or ", ".join(f"{k}: {v}" for k, v in entry.items())
        table.append({"measurement": name.replace("_", " "), "value": value})
    return table
