"""Answers that are not written in the notebook, and time limits derived from the reference's cell times.

The worker's ``origin`` answer and its delegation guard are tested in this process on
namespaces built the way the worker builds them (each cell compiled as ``<cell id>``);
the real path (a sandboxed re-check of a notebook) runs once at the end.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest

from bertcourse import registry
from bertcourse.grader import recheck, timing, worker
from bertcourse.grader.execute import KERNEL_DIED
from tests import notebook_runner as runner
from tests.grader_support import require_sandbox

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = "bertcourse.tokenization:wordpiece_tokenize"
WALK = """
import importlib, pkgutil, bertcourse
for info in pkgutil.walk_packages(bertcourse.__path__, "bertcourse."):
    if info.name.startswith("bertcourse.tokenization"):
        wordpiece_tokenize = getattr(importlib.import_module(info.name), "wordpiece_tokenize")
"""

ANSWERS = {  # name -> (cell source, written in the notebook?)
    "own function": ("def wordpiece_tokenize(word, vocab, unk_token='[UNK]', max_input_chars_per_word=100):\n"
                     "    return [word]\n", True),
    "reference found by walking the package": (WALK, False),
    "reference imported under another name": ("from bertcourse import tokenization as t\n"
                                              "wordpiece_tokenize = t.wordpiece_tokenize\n", False),
    "functools.partial of the reference": ("import functools\nfrom bertcourse.tokenization import "
                                           "wordpiece_tokenize as w\nwordpiece_tokenize = functools.partial(w)\n",
                                           False),
    "functools.wraps around the reference": (
        "import functools\nfrom bertcourse.tokenization import wordpiece_tokenize as w\n"
        "@functools.wraps(w)\ndef wordpiece_tokenize(*a, **k):\n    return w(*a, **k)\n", False),
    "the reference's code in a new function": (
        "import types\nfrom bertcourse.tokenization import wordpiece_tokenize as w\n"
        "wordpiece_tokenize = types.FunctionType(w.__code__, w.__globals__)\n", False),
    "the reference's source exec'd": (
        "import inspect\nfrom bertcourse import tokenization as t\nns = dict(vars(t))\n"
        "exec(inspect.getsource(t.wordpiece_tokenize), ns)\nwordpiece_tokenize = ns['wordpiece_tokenize']\n", False),
    "a builtin": ("wordpiece_tokenize = list\n", False),
}


def _namespace(source: str, grade_id: str = "wordpiece_tokenize") -> dict:
    namespace = {"__name__": "__main__"}
    exec(compile(source, f"{worker.CELL_FILE}{grade_id}>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("case", list(ANSWERS))
def test_origin_tells_written_answers_from_borrowed_ones(case):
    source, written = ANSWERS[case]
    found = worker.origin(_namespace(source), "wordpiece_tokenize", REFERENCE)
    assert found["written_here"] is written, found
    if not written:
        assert "wordpiece_tokenize" in found["why"] and found["why"], found


def test_classes_written_here_pass_and_subclasses_of_the_reference_do_not():
    own = "import torch\nclass BertLayer(torch.nn.Module):\n    def forward(self, x):\n        return x\n"
    sub = "from bertcourse.models import bert\nclass BertLayer(bert.BertLayer):\n    pass\n"
    dataclass = ("import dataclasses\n@dataclasses.dataclass\nclass BertLayer:\n    size: int = 1\n"
                 "    def forward(self, x):\n        return x\n")
    assert worker.origin(_namespace(own), "BertLayer", "bertcourse.models.bert:BertLayer")["written_here"]
    assert worker.origin(_namespace(dataclass), "BertLayer", None)["written_here"]
    found = worker.origin(_namespace(sub), "BertLayer", "bertcourse.models.bert:BertLayer")
    assert not found["written_here"] and "derives from bertcourse.models.bert.BertLayer" in found["why"]


def test_a_wrapper_that_runs_the_reference_fails_the_call():
    wrapper = _namespace("from bertcourse.tokenization import wordpiece_tokenize as w\n"
                         "wordpiece_tokenize = lambda *a, **k: w(*a, **k)\n")
    assert worker.origin(wrapper, "wordpiece_tokenize", REFERENCE)["written_here"]  # a lambda of the notebook...
    request = {"op": "call", "target": "wordpiece_tokenize", "args": ["ab", {"$ref": "vocab"}], "forbid": REFERENCE}
    wrapper["vocab"] = {"ab": 1}
    with pytest.raises(PermissionError, match="runs the reference implementation"):
        worker.call(wrapper, request)  # ...that runs the reference's code
    own = _namespace(ANSWERS["own function"][0])
    own["vocab"] = {"ab": 1}
    assert worker.call(own, request) == ["ab"]


@pytest.mark.parametrize("times, factor, floor, cells, notebook", [
    ({"a": 0.1, "b": 12.0}, 10, 30, {"a": 30, "b": 120}, 300),
    ({"a": 40.0}, 10, 30, {"a": 400}, 400),
    ({"a": 1.0}, 3, 5, {"a": 5}, 300),
    ({}, 10, 30, {}, 300),
])
def test_limits_are_a_factor_of_the_reference_times_with_a_floor(times, factor, floor, cells, notebook):
    limits = timing.derive(times, factor, floor)
    assert (limits.cells, limits.default, limits.notebook) == (cells, floor, notebook)


def test_limits_refuse_a_factor_below_one():
    with pytest.raises(ValueError, match="factor"):
        timing.derive({"a": 1.0}, 0.5)


@pytest.mark.parametrize("assignment", registry.ASSIGNMENTS)
def test_the_source_notebooks_have_measured_cell_times(assignment):
    times = timing.load(ROOT, assignment)
    assert times, f"run `python -m bertcourse grade {assignment} --measure`"
    notebook = runner.load(ROOT / "solutions" / assignment / f"{assignment}.ipynb")
    code = {runner.nbgrader_meta(c).get("grade_id") for c in notebook.cells if c.cell_type == "code"}
    assert set(times) == code


def test_a_cell_the_kernel_could_not_finish_is_not_run_again():
    """The re-check leaves out the looping cell (the kernel's output says it ran past its limit): no time lost."""
    require_sandbox()
    from bertcourse.grader.sandbox import Limits, Sandbox, reserved_slots

    notebook = copy.deepcopy(runner.load(ROOT / "solutions" / "ch1_architecture" / "ch1_architecture.ipynb"))
    walked = copy.deepcopy(notebook)
    for cell in notebook.cells:
        if runner.nbgrader_meta(cell).get("grade_id") == "wordpiece_tokenize":
            cell.source = runner.strip_markers(cell.source) + "\nwhile True:\n    pass\n"
            cell.outputs = [{"output_type": "error", "ename": KERNEL_DIED, "evalue": "ran past", "traceback": []}]
    for cell in walked.cells:
        if runner.nbgrader_meta(cell).get("grade_id") == "wordpiece_tokenize":
            cell.source = WALK
    assert recheck.stopped_in_kernel(notebook) == {"wordpiece_tokenize"}
    items = ["wordpiece_tokenize", "scaled_dot_product_attention"]
    with reserved_slots() as first:
        sandbox = Sandbox(Limits(cpu_seconds=120), slot=first)
        started = time.monotonic()
        looped = {c.item: c for c in recheck.recheck(notebook, items, sandbox, timeout=200, cell_timeout=60)}
        seconds = time.monotonic() - started
        borrowed = {c.item: c for c in recheck.recheck(walked, items, sandbox, timeout=200, cell_timeout=60)}
    assert seconds < 60, f"the re-check ran the looping cell again ({seconds:.0f} s)"
    assert looped["wordpiece_tokenize"].passed is False and looped["scaled_dot_product_attention"].passed
    assert borrowed["wordpiece_tokenize"].passed is False, borrowed
    assert recheck.NOT_WRITTEN in borrowed["wordpiece_tokenize"].detail
    assert "bertcourse.tokenization.wordpiece_tokenize itself" in borrowed["wordpiece_tokenize"].detail
    assert borrowed["scaled_dot_product_attention"].passed
