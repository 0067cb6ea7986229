"""``python -m bertcourse check``: one line per graded item, no hidden test, a kernel crash explained.

The notebooks are the Chapter 1 release cut to its first items (``classroom.trimmed``),
so that each run takes seconds.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from bertcourse.grader import check, classroom
from bertcourse.grader.sandbox import SLOTS_PER_BATCH, reserved_slots
from tests.grader_support import WRONG

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "ch1_architecture"
ITEMS = ["wordpiece_tokenize", "build_inputs", "scaled_dot_product_attention"]


def _notebook(tmp_path: Path, replace: dict[str, str], name: str = ASSIGNMENT, hidden: bool = False) -> Path:
    """The trimmed release with the reference answers, ``replace`` swapped in (``hidden``: the source notebook)."""
    notebook = classroom.submission(ROOT, ASSIGNMENT, replace=replace)
    if hidden:
        notebook = classroom.source(ROOT, ASSIGNMENT)
    notebook = classroom.trimmed(notebook, ITEMS)
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(notebook, str(path))
    return path


def test_one_line_per_item_passed_failed_and_not_yet(tmp_path, capsys):
    stub = classroom.release(ROOT, ASSIGNMENT)
    stub_source = next(c.source for c in stub.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "build_inputs")
    path = _notebook(tmp_path, {"scaled_dot_product_attention": WRONG["scaled_dot_product_attention"],
                                "build_inputs": stub_source})
    result = check.check(path)
    lines = {line.item: line for line in result.lines}
    assert lines["wordpiece_tokenize"].status == check.PASSED
    assert lines["build_inputs"].status == check.NOT_YET
    assert lines["scaled_dot_product_attention"].status == "failed"
    assert lines["scaled_dot_product_attention"].message.startswith("GradingError: ")
    assert lines["wordpiece_tokenize"].points == 4 and lines["scaled_dot_product_attention"].points == 5
    assert lines["BertLayer"].status == "not run"  # cut from this notebook
    printed = capsys.readouterr().out
    assert "wordpiece_tokenize" in printed and "4 pt  passed" in printed and "not yet" in printed
    assert result.seconds < 60, result.seconds
    assert "NOTE" not in printed  # the kernel's own chatter stays out of the student's terminal


def test_hidden_tests_never_run_or_show(tmp_path, capsys):
    path = _notebook(tmp_path, {}, hidden=True)  # an instructor's source notebook, hidden tests in it
    source = nbformat.read(str(path), as_version=4)
    hidden = [c for c in source.cells if "BEGIN HIDDEN TESTS" in c.source]
    assert hidden
    # a hidden test that would fail, and print, if it ran
    hidden[0].source = hidden[0].source.replace("### BEGIN HIDDEN TESTS",
                                                "### BEGIN HIDDEN TESTS\nprint('SECRET'); raise AssertionError('SECRET')")
    nbformat.write(source, str(path))
    result = check.check(path)
    assert all(line.status in (check.PASSED, "manual", "not run") for line in result.lines), result.render()
    assert "SECRET" not in capsys.readouterr().out


def test_a_kernel_crash_is_explained(tmp_path):
    good = classroom.submission(ROOT, ASSIGNMENT)
    answer = next(c.source for c in good.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "build_inputs")
    path = _notebook(tmp_path, {"build_inputs": answer + "\nimport os\nos._exit(3)\n"})
    result = check.check(path, quiet=True)
    lines = {line.item: line for line in result.lines}
    assert result.crash and "`build_inputs`" in result.crash and "os._exit" in result.crash
    assert lines["wordpiece_tokenize"].status == check.PASSED
    assert lines["scaled_dot_product_attention"].status == "not run"
    assert "KERNEL DIED" in result.render()


def test_the_kernel_runs_on_uids_no_grading_batch_holds(tmp_path, monkeypatch):
    # A batch kills what still runs as its uids after each student, and shares RLIMIT_NPROC per uid:
    # a check beside it (another test worker, an instructor's own check) must take a block of its own.
    slots = []
    monkeypatch.setattr(check, "_run", lambda notebook, folder, assignment, slot: (slots.append(slot), (None, True))[1])
    with reserved_slots() as batch:
        check.check(_notebook(tmp_path, {}), quiet=True)
    assert slots and not batch <= slots[0] < batch + SLOTS_PER_BATCH, (slots, batch)


def test_a_notebook_of_no_assignment_is_refused_in_one_line(tmp_path):
    path = tmp_path / "mine.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), str(path))
    with pytest.raises(ValueError, match="not a course notebook"):
        check.check(path)
