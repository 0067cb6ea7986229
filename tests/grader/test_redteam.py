"""Red team: submissions that attack the grader, graded end to end in one batch (2 workers, PostgreSQL).

Each case is a real submission notebook built from the release. The whole class,
two honest students included, goes through ``python -m bertcourse grade``'s
``grade()`` once; each test then checks one case: no points it did not earn (the
score an honest submission of the same answers gets), the report entry that
flags it, and that the batch lost and duplicated nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nbformat
import pytest

from bertcourse.grader import classroom
from bertcourse.grader.batch import grade
from tests.grader_support import (
    ASSIGNMENT,
    ITEM_CELLS,
    ITEMS,
    NOTEBOOK,
    SETTINGS,
    WRONG,
    answers,
    expected_scores,
    loopback_listener,
    require_postgres,
    require_sandbox,
    was_reached,
)
from tests.nbgrader_course import html_text, secret_lines

pytestmark = pytest.mark.slow  # a whole class of attackers graded: minutes (make test-fast skips it)

WP, SDPA = ITEMS
BOTH, ONLY_SDPA, ONLY_WP = {WP, SDPA}, {SDPA}, {WP}


def _always_equal() -> str:
    return ("class AlwaysEqual(list):\n"
            "    def __eq__(self, other):\n        return True\n"
            "    def __ne__(self, other):\n        return False\n"
            "    __hash__ = list.__hash__\n\n"
            "def wordpiece_tokenize(word, vocab, unk_token='[UNK]', max_input_chars_per_word=100):\n"
            "    return AlwaysEqual(['anything'])\n")


PATCH_ALLCLOSE = ("import torch\n"
                  "torch.allclose = lambda *args, **kwargs: True\n"
                  "torch.Tensor.allclose = lambda *args, **kwargs: True\n"
                  "torch.equal = lambda *args, **kwargs: True\n")
PATCH_TESTING = ("import numpy, torch\nimport numpy.testing\n"
                 "torch.testing.assert_close = lambda *args, **kwargs: None\n"
                 "numpy.testing.assert_allclose = lambda *args, **kwargs: None\n"
                 "numpy.testing.assert_array_equal = lambda *args, **kwargs: None\n"
                 "numpy.allclose = lambda *args, **kwargs: True\n")
PATCH_GRADING = ("import contextlib\nfrom bertcourse import grading\n"
                 "for name in ('check_equal', 'check_close', 'check_tensor', 'check_unchanged', "
                 "'check_defined_here', 'check_module_layout'):\n"
                 "    setattr(grading, name, lambda *args, **kwargs: None)\n"
                 "grading.forbidden = lambda *args, **kwargs: contextlib.nullcontext()\n")


# Prints the source of each cell that calls it (hidden tests included) into that cell's output.
LEAK_HIDDEN = """
_printed, _real = set(), wordpiece_tokenize

def wordpiece_tokenize(*args, **kwargs):
    try:
        shell = get_ipython()
        if shell.execution_count not in _printed:
            _printed.add(shell.execution_count)
            print("LEAKED SOURCE:", shell.user_ns["In"][-1])
    except Exception:
        pass
    return _real(*args, **kwargs)
"""


# The held-out attack that got the visible test's point: the reference, found by walking the package.
WALK_REFERENCE = """
import importlib, pkgutil, bertcourse
for _info in pkgutil.walk_packages(bertcourse.__path__, "bertcourse."):
    if _info.name.endswith("tokenization"):
        wordpiece_tokenize = getattr(importlib.import_module(_info.name), "wordpiece_tokenize")
"""
WRAP_REFERENCE = """
import importlib
_m = importlib.import_module("bertcourse." + "model")
def scaled_dot_product_attention(query, key, value, attention_mask=None):
    return _m.scaled_dot_product_attention(query, key, value, attention_mask)
"""


def _snoop(course: Path, pg_socket: str, port: int) -> str:
    """Tries to read what a jailed kernel must not see and write what it must not touch; prints LEAK: on success."""
    return f'''
import glob, os, socket
def _leak(what, action):
    try:
        result = action()
    except BaseException as error:
        print("blocked:", what, type(error).__name__)
    else:
        print("LEAK:", what, str(result)[:80])
course = {str(course)!r}
_leak("solutions", lambda: open(course + "/solutions/{ASSIGNMENT}/{NOTEBOOK}.ipynb").read(100))
_leak("relative solutions", lambda: open("../../../solutions/{ASSIGNMENT}/{NOTEBOOK}.ipynb").read(100))
_leak("config", lambda: open(course + "/nbgrader_config.py").read(100))
_leak("gradebook.db", lambda: open(course + "/gradebook.db", "rb").read(100))
_leak("other student", lambda: open(course + "/submitted/honest/{ASSIGNMENT}/{NOTEBOOK}.ipynb").read(100))
_leak("other autograded", lambda: os.listdir(course + "/autograded/honest"))
_leak("write course", lambda: open(course + "/PWNED", "w").write("x"))
_leak("write gradebook", lambda: open(course + "/gradebook.db", "ab").write(b"x"))
_leak("postgres socket", lambda: socket.socket(socket.AF_UNIX).connect({pg_socket!r} + "/.s.PGSQL.5432"))
_leak("loopback", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=3))
# No route out: the only interface is a private loopback (no packet is ever sent off the machine).
_leak("network interfaces", lambda: [name for _, name in socket.if_nameindex() if name != "lo"] or 1 / 0)
_leak("the grader's staging and database folders",
      lambda: (glob.glob("/tmp/bertcourse-grade-*") + glob.glob("/tmp/bertcourse-pg-*")) or 1 / 0)
_leak("the host's processes", lambda: [p for p in os.listdir("/proc") if p.isdigit() and int(p) > 20] or 1 / 0)
'''


def _cases(course: Path, pg_socket: str, port: int) -> dict[str, dict]:
    """student -> {"replace": {grade_id: source}, "delete": [...], "expect": correct items, ...}."""
    good = answers(course)
    return {
        "honest": {"expect": BOTH},
        "honest_partial": {"replace": {WP: WRONG[WP]}, "expect": ONLY_SDPA},
        "edited_test": {"replace": {WP: WRONG[WP], "test_wordpiece_tokenize": "print('visible tests passed')",
                                    "test_wordpiece_tokenize_matches_transformers": "pass",
                                    "test_wordpiece_tokenize_arguments": "pass"}, "expect": ONLY_SDPA},
        "deleted_test": {"replace": {WP: WRONG[WP]}, "delete": list(ITEM_CELLS[WP]), "expect": ONLY_SDPA},
        "always_equal": {"replace": {WP: _always_equal()}, "expect": ONLY_SDPA, "flag": "__eq__"},
        "patch_allclose": {"replace": {SDPA: PATCH_ALLCLOSE + WRONG[SDPA]}, "expect": ONLY_WP,
                           "flag": "torch.allclose"},
        "patch_testing": {"replace": {SDPA: PATCH_TESTING + WRONG[SDPA]}, "expect": ONLY_WP,
                          "flag": "torch.testing.assert_close"},
        "patch_grading": {"replace": {WP: PATCH_GRADING + WRONG[WP], SDPA: WRONG[SDPA]}, "expect": set(),
                          "flag": "setattr on grading", "lowered": True},
        "import_reference": {"replace": {WP: "from bertcourse.tokenization import wordpiece_tokenize\n",
                                         SDPA: "from bertcourse.models.bert import scaled_dot_product_attention\n"},
                             "expect": set(),
                             "flag": "imports the reference implementation (bertcourse.tokenization"},
        "walk_reference": {"replace": {WP: WALK_REFERENCE}, "expect": ONLY_SDPA, "not_written": WP},
        "wrap_reference": {"replace": {SDPA: WRAP_REFERENCE}, "expect": ONLY_WP},
        "snoop": {"replace": {WP: good[WP] + _snoop(course, pg_socket, port)}, "expect": BOTH,
                  "flag": "opens a file"},
        "leak_hidden": {"replace": {WP: good[WP] + LEAK_HIDDEN}, "expect": BOTH, "flag": "uses get_ipython"},
        "infinite_loop": {"replace": {WP: good[WP] + "\nwhile True:\n    pass\n"}, "expect": ONLY_SDPA},
        "memory_bomb": {"replace": {SDPA: "hog = []\nwhile True:\n    hog.append(bytearray(2 ** 28))\n"
                                          + good[SDPA]}, "expect": ONLY_WP},
        "fork_bomb": {"replace": {WP: "import os\nwhile True:\n    os.fork()\n" + good[WP]}, "at_most": ONLY_SDPA,
                      "flag": "calls os.fork"},
        "os_exit": {"replace": {WP: good[WP] + "\nimport os\nos._exit(3)\n"}, "expect": ONLY_SDPA,
                    "flag": "calls os._exit"},
        "huge_output": {"replace": {WP: good[WP] + "\nfor _ in range(40):\n    print('spam ' * 200_000)\n",
                                    SDPA: WRONG[SDPA]}, "expect": ONLY_WP},
        "malformed_json": {"raw": '{"cells": [ this is not json', "expect": set(), "problem": "not a readable"},
        "renamed": {"name": f"{NOTEBOOK}_final", "expect": set(), "problem": "unexpected notebook"},
        "empty": {"empty": True, "expect": set(), "problem": "missing notebook"},
        "unanswered": {"unanswered": True, "expect": set()},
    }


def _submit(course: Path, student: str, case: dict) -> None:
    if case.get("empty"):
        classroom.submit(course, ASSIGNMENT, student)
        return
    if "raw" in case:
        classroom.submit(course, ASSIGNMENT, student, raw=case["raw"])
        return
    notebook = classroom.submission(course, ASSIGNMENT, replace=case.get("replace"),
                                    answered=not case.get("unanswered"))
    delete = set(case.get("delete", ()))
    notebook.cells = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in delete]
    classroom.submit(course, ASSIGNMENT, student, notebook, name=case.get("name"))


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    require_sandbox()
    postgres = require_postgres()
    listener = loopback_listener(timeout=0.1)
    with postgres as pg:
        url = pg.url("redteam")
        course = classroom.make_course(tmp_path_factory.mktemp("redteam") / "course", ASSIGNMENT, items=ITEMS,
                                       db_url=url)
        cases = _cases(course, str(pg.socket), listener.getsockname()[1])
        for student, case in cases.items():
            _submit(course, student, case)
        protected = {name: _digest(course / name) for name in ("solutions", "submitted")}
        protected["nbgrader_config.py"] = hashlib.sha256((course / "nbgrader_config.py").read_bytes()).hexdigest()
        report = grade(course, ASSIGNMENT, jobs=2, db_url=url, settings=SETTINGS)
        reached = was_reached(listener)
        yield {"course": course, "cases": cases, "report": report, "protected": protected, "reached": reached}


def _student(batch, student):
    return batch["report"].students[student]


def _outputs(batch, student) -> str:
    path = batch["course"] / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    notebook = nbformat.read(str(path), as_version=4)
    return json.dumps([c.get("outputs", []) for c in notebook.cells])


def test_nothing_lost_or_duplicated(batch):
    report = batch["report"]
    assert not report.lost and not report.duplicated
    assert set(report.students) == set(batch["cases"])
    for student, result in report.students.items():
        assert set(result["scores"]) == set(expected_scores(set())), f"{student}: {result}"


def test_honest_students_get_exactly_their_points(batch):
    for student in ("honest", "honest_partial"):
        result = _student(batch, student)
        assert result["scores"] == expected_scores(batch["cases"][student]["expect"]), result
        assert not result["flags"] and not result["lowered"] and not result["mismatches"], result


def test_csv_export_has_every_student(batch):
    import csv

    with open(batch["course"] / "grading_reports" / ASSIGNMENT / "grades.csv", newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle) if row["assignment"] == ASSIGNMENT}
    assert set(rows) == set(batch["cases"])
    for student, result in batch["report"].students.items():
        assert float(rows[student]["score"]) == pytest.approx(sum(result["scores"].values())), student


ATTACKS = [
    "edited_test", "deleted_test", "always_equal", "patch_allclose", "patch_testing", "patch_grading",
    "import_reference", "walk_reference", "wrap_reference", "snoop", "leak_hidden", "infinite_loop",
    "memory_bomb", "fork_bomb", "os_exit", "huge_output", "malformed_json", "renamed", "empty", "unanswered"]


@pytest.mark.parametrize("student", ATTACKS)
def test_attack_earns_nothing_undeserved(batch, student):
    case, result = batch["cases"][student], _student(batch, student)
    if "expect" in case:
        assert result["scores"] == expected_scores(case["expect"]), json.dumps(result, indent=1)[:4000]
    else:
        ceiling = expected_scores(case["at_most"])
        assert all(result["scores"][k] <= ceiling[k] for k in ceiling), json.dumps(result, indent=1)[:4000]
    if "flag" in case:
        assert any(case["flag"] in flag for flag in result["flags"]), result["flags"]
    if "problem" in case:
        assert any(case["problem"] in problem for problem in result["problems"]), result["problems"]
    if case.get("lowered"):
        assert result["lowered"] and result["mismatches"], result
    assert f"## {student}:" in batch["report"].markdown()


def test_patched_grading_helpers_are_lowered_and_reported(batch):
    result = _student(batch, "patch_grading")
    report = (batch["course"] / "grading_reports" / ASSIGNMENT / "report.md").read_text()
    section = report.split("## patch_grading:")[1].split("\n## ")[0]
    assert "(REVIEW)" in section.splitlines()[0]
    assert "lowered by the re-check" in section and "suspicious code" in section
    # Lowered cells hold 0 in the gradebook (the manual score overrides the in-kernel one).
    assert result["lowered"] and all(result["scores"][f"{NOTEBOOK}/{cell}"] == 0 for cell in result["lowered"])


def test_an_answer_not_written_in_the_notebook_scores_nothing_and_the_report_says_why(batch):
    result = _student(batch, "walk_reference")
    cells = [f"{NOTEBOOK}/{cell}" for cell in ITEM_CELLS[WP]]
    assert all(result["scores"][cell] == 0 for cell in cells), result["scores"]
    assert result["lowered"], result  # it passed in the kernel: the re-check took the points back
    section = batch["report"].markdown().split("## walk_reference:")[1].split("\n## ")[0]
    assert "not written in the notebook" in section and "wordpiece_tokenize itself" in section, section


def test_a_cell_that_timed_out_in_the_kernel_is_not_run_again_in_the_recheck(batch):
    seconds = _student(batch, "infinite_loop")["seconds"]
    assert seconds["recheck"] < SETTINGS.cell_timeout, seconds


def test_snoop_sees_and_changes_nothing(batch):
    outputs = _outputs(batch, "snoop")
    assert "blocked: solutions" in outputs, outputs[:2000]
    assert "LEAK" not in outputs, outputs[:4000]
    assert not batch["reached"], "the jailed kernel connected to the host's loopback"
    course = batch["course"]
    assert not (course / "PWNED").exists()
    assert _digest(course / "solutions") == batch["protected"]["solutions"]
    assert _digest(course / "submitted") == batch["protected"]["submitted"]


def test_feedback_cuts_hidden_test_source_printed_by_student_code(batch):
    source = classroom.source(batch["course"], ASSIGNMENT)
    hidden = {line for grade_id, lines in secret_lines(source).items() if grade_id.startswith("test_")
              for line in lines}
    assert any(line in _outputs(batch, "leak_hidden") for line in hidden)  # the attack works in the kernel
    for student in batch["cases"]:
        path = batch["course"] / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html"
        if path.exists():
            text = html_text(path)
            assert not [line for line in hidden if line in text], student
    assert "a line of a hidden test, removed" in html_text(
        batch["course"] / "feedback" / "leak_hidden" / ASSIGNMENT / f"{NOTEBOOK}.html")


def test_kernel_death_and_timeouts_are_explained(batch):
    assert "KernelDied" in _outputs(batch, "os_exit") and "exit status" in _outputs(batch, "os_exit")
    assert "time limit" in _outputs(batch, "infinite_loop")
    assert "MemoryError" in _outputs(batch, "memory_bomb")


def test_huge_output_is_capped(batch):
    path = batch["course"] / "autograded" / "huge_output" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    assert path.stat().st_size < 5 * 2 ** 20
    assert "output truncated" in _outputs(batch, "huge_output")


def test_no_sandbox_process_survives(batch):
    from bertcourse.grader.sandbox import probe

    if not probe().drops_uid:
        pytest.skip("leftovers are found by the sandbox uid, which needs root (CI runs as root)")
    graded = {s: r for s, r in batch["report"].students.items() if "seconds" in r}
    assert graded and all(r.get("leftovers") == [] for r in graded.values()), \
        {s: r.get("leftovers") for s, r in graded.items()}
