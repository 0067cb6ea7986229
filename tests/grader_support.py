"""Shared pieces of the instructor-grading tests: a quick class, test settings, capability checks.

The grading tests build a throw-away course with the first two items of Chapter 1
(``wordpiece_tokenize``: plain-data answers, ``scaled_dot_product_attention``:
tensors), so that one submission grades in seconds. They skip only where the
machine lacks what grading needs (bubblewrap and namespaces, PostgreSQL), and
say which.
"""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest

from bertcourse.authoring import solution_notebook
from bertcourse.grader import classroom
from bertcourse.grader.bench import ITEMS  # the quick class of the grading benchmark
from bertcourse.grader.sandbox import GIB, Limits, probe
from bertcourse.grader.settings import GradingSettings
from bertcourse.registry import item_of

ASSIGNMENT = "ch1_architecture"
NOTEBOOK = ASSIGNMENT

# test cell -> points, as the source notebook's nbgrader metadata gives them, and the item each one grades
_SOURCE = nbformat.read(solution_notebook(ASSIGNMENT, Path(__file__).resolve().parents[1]), as_version=4)
POINTS = {m["grade_id"]: m["points"] for m in (c.metadata.get("nbgrader", {}) for c in _SOURCE.cells)
          if m.get("grade") and not m.get("solution") and item_of(m["grade_id"], ITEMS)}
ITEM_CELLS = {item: tuple(cell for cell in POINTS if item_of(cell, ITEMS) == item) for item in ITEMS}

# Short limits: an attack costs seconds, an honest notebook of this class needs far less.
SETTINGS = GradingSettings(cell_timeout=30, notebook_timeout=300, recheck_timeout=200,
                           limits=replace(Limits(), cpu_seconds=240, address_space=4 * GIB, processes=128))

WRONG = {
    "wordpiece_tokenize": "def wordpiece_tokenize(word, vocab, unk_token='[UNK]', max_input_chars_per_word=100):\n"
                          "    return [word]\n",
    "scaled_dot_product_attention": "def scaled_dot_product_attention(query, key, value, attention_mask=None):\n"
                                    "    import torch\n"
                                    "    n = key.shape[-2]\n"
                                    "    weights = torch.full((*query.shape[:-1], n), 1.0 / n)\n"
                                    "    return weights @ value, weights\n",
}


def require_sandbox() -> None:
    capabilities = probe()
    if not capabilities.isolated:
        pytest.skip("grading sandbox unavailable on this machine: " + " | ".join(capabilities.problems))


def require_postgres():
    """A started :class:`TemporaryPostgres` context manager, or a skip saying what is missing."""
    from bertcourse.grader import pgtemp

    if pgtemp.binaries() is None:
        pytest.skip("PostgreSQL is not installed (make system: apt-get install postgresql)")
    pytest.importorskip("psycopg2", reason="psycopg2-binary is not installed (see requirements.lock)")
    return pgtemp.TemporaryPostgres()


def answers(course) -> dict[str, str]:
    """The reference answer of every item (markers removed), as a student would write it."""
    notebook = classroom.submission(course, ASSIGNMENT)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in notebook.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def expected_scores(correct: set[str]) -> dict[str, float]:
    """The gradebook scores an honest submission gets when exactly the items in ``correct`` are right."""
    return {f"{NOTEBOOK}/{cell}": float(POINTS[cell]) if item in correct else 0.0
            for item, cells in ITEM_CELLS.items() for cell in cells}


def loopback_listener(timeout: float) -> socket.socket:
    """A socket listening on the host's loopback (an ephemeral port) that a sandbox must not reach."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(timeout)
    return listener


def was_reached(listener: socket.socket) -> bool:
    """Whether anything connected to ``listener``; closes it."""
    try:
        listener.accept()
        return True
    except OSError:
        return False
    finally:
        listener.close()
