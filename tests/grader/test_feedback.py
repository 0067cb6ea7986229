"""Tests of bertcourse.grader.feedback: hidden tests keep their secret in the feedback notebook."""

from __future__ import annotations

import nbformat
import pytest

from bertcourse.grader.feedback import PLACEHOLDER, HideHiddenTests

HIDDEN_LINE = "assert secret_function(3) == 27, 'cube'"
TEST_SOURCE = f"""assert answer(2) == 4
### BEGIN HIDDEN TESTS
{HIDDEN_LINE}
### END HIDDEN TESTS"""


def _cell(source, *, grade=False, solution=False, outputs=()):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": grade, "solution": solution, "grade_id": "c", "locked": not solution}
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def _feedback(*cells):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = list(cells)
    notebook, _ = HideHiddenTests().preprocess(notebook, {})
    return notebook


def test_hidden_region_becomes_the_placeholder():
    [cell] = _feedback(_cell(TEST_SOURCE, grade=True)).cells
    assert cell.source == f"assert answer(2) == 4\n{PLACEHOLDER}"
    assert "secret_function" not in cell.source


def test_a_failing_hidden_test_shows_its_message_not_its_traceback():
    error = {"output_type": "error", "ename": "AssertionError", "evalue": "cube",
             "traceback": ["Traceback", f"----> 3 {HIDDEN_LINE}", "AssertionError: cube"]}
    [cell] = _feedback(_cell(TEST_SOURCE, grade=True, outputs=[error])).cells
    assert cell.outputs[0]["traceback"] == ["AssertionError: cube"]


@pytest.mark.parametrize("output", [
    {"output_type": "stream", "name": "stdout", "text": f"leaked:\n{HIDDEN_LINE}\nok\n"},
    {"output_type": "execute_result", "execution_count": 1, "metadata": {},
     "data": {"text/plain": f"leaked:\n{HIDDEN_LINE}\nok\n"}},
])
def test_a_student_cell_that_prints_a_hidden_line_loses_that_line(output):
    answer = _cell("print(In[-1])", solution=True, outputs=[output])
    cells = _feedback(answer, _cell(TEST_SOURCE, grade=True)).cells
    text = cells[0].outputs[0].get("text") or cells[0].outputs[0]["data"]["text/plain"]
    assert HIDDEN_LINE not in text
    assert text.splitlines() == ["leaked:", "[a line of a hidden test, removed]", "ok"]


def test_cells_without_hidden_tests_are_left_alone():
    visible = _cell("assert answer(2) == 4", grade=True)
    answer = _cell("def answer(x):\n    return x * x", solution=True,
                   outputs=[{"output_type": "stream", "name": "stdout", "text": "4\n"}])
    markdown = nbformat.v4.new_markdown_cell("### BEGIN HIDDEN TESTS\nnot code\n### END HIDDEN TESTS")
    cells = _feedback(visible, answer, markdown).cells
    assert cells[0].source == "assert answer(2) == 4"
    assert cells[1].source.startswith("def answer") and cells[1].outputs[0]["text"] == "4\n"
    assert "not code" in cells[2].source  # only test cells have hidden tests
