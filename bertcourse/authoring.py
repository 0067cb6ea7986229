"""Keep the solution notebooks' answer cells identical to the package's references.

An answer cell is the reference's source with nbgrader's solution markers
around each function body (after the docstring, and after ``super().__init__()``
in a constructor). ``nbgrader generate_assignment`` replaces each marked body
with ``raise NotImplementedError()``, so the student sees the signature and the
docstring. ``python -m bertcourse sync`` rewrites the answer cells from the
references; the tests fail when a notebook and its references drift apart.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from pathlib import Path

import nbformat

from .registry import ASSIGNMENTS, item_of, items

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
# One line of nbgrader's markers: the solution's and the hidden tests' (the one copy of this rule).
MARKER_LINE = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")


def strip_markers(source: str) -> str:
    """``source`` without nbgrader's solution and hidden-test marker lines (the answer as a student writes it)."""
    return "\n".join(line for line in source.splitlines() if not MARKER_LINE.match(line))


def _has_docstring(function: ast.FunctionDef) -> bool:
    first = function.body[0]
    return isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)


def _is_super_init(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and ast.unparse(statement) == "super().__init__()"


def _solution_span(function: ast.FunctionDef) -> tuple[int, int]:
    """0-based line range [start, end) of the part of ``function``'s body a student writes."""
    body = list(function.body)
    start = function.body[0].lineno - 1
    if _has_docstring(function):
        start = body.pop(0).end_lineno
    if body and _is_super_init(body[0]):
        start = body.pop(0).end_lineno
    return start, function.end_lineno


def solution_source(obj) -> str:
    """The answer-cell source for a reference function or class: its code with solution markers."""
    source = textwrap.dedent(inspect.getsource(obj))
    lines = source.splitlines()
    definition = ast.parse(source).body[0]
    functions = [definition] if isinstance(definition, ast.FunctionDef) else [
        node for node in definition.body if isinstance(node, ast.FunctionDef)
    ]
    for function in sorted(functions, key=lambda f: f.lineno, reverse=True):
        start, end = _solution_span(function)
        body_line = next(line for line in lines[start:end] if line.strip())
        indent = body_line[: len(body_line) - len(body_line.lstrip())]
        lines[end:end] = [indent + END_SOLUTION]
        lines[start:start] = [indent + BEGIN_SOLUTION]
    return "\n".join(lines)


def solution_notebook(assignment: str, root: Path | str = ".") -> Path:
    """The path of an assignment's solution (nbgrader source) notebook."""
    return Path(root) / "solutions" / assignment / f"{assignment}.ipynb"


def answer_cells(notebook) -> dict[str, nbformat.NotebookNode]:
    """The notebook's autograded answer cells by their nbgrader ``grade_id``."""
    found = {}
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and not meta.get("grade") and cell.cell_type == "code":
            found[meta["grade_id"]] = cell
    return found


def drifted_items(assignment: str, root: Path | str = ".") -> list[str]:
    """Names of graded items whose answer cell differs from (or lacks) the reference source."""
    notebook = nbformat.read(solution_notebook(assignment, root), as_version=4)
    cells = answer_cells(notebook)
    return [
        item.name for item in items(assignment, with_reference=True)
        if item.name not in cells or cells[item.name].source != solution_source(item.load_reference())
    ]


def sync_solutions(assignment: str, root: Path | str = ".") -> list[str]:
    """Rewrite the answer cells of ``assignment`` from the references; return the items changed."""
    path = solution_notebook(assignment, root)
    notebook = nbformat.read(path, as_version=4)
    cells = answer_cells(notebook)
    changed = []
    for item in items(assignment, with_reference=True):
        if item.name not in cells:
            raise KeyError(f"{path} has no answer cell with grade_id {item.name!r}")
        source = solution_source(item.load_reference())
        if cells[item.name].source != source:
            cells[item.name].source = source
            changed.append(item.name)
    if changed:
        nbformat.write(notebook, path)
    return changed


def points_by_item(assignment: str, root: Path | str = ".") -> dict[str, tuple[float, float]]:
    """(autograded points, manually graded points) of each item, read from the source notebook's metadata."""
    notebook = nbformat.read(solution_notebook(assignment, root), as_version=4)
    points = {item.name: [0.0, 0.0] for item in items(assignment)}
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("grade"):
            continue
        grade_id = meta["grade_id"]
        if meta.get("solution"):  # a manually graded answer
            points[grade_id][1] += meta["points"]
            continue
        name = item_of(grade_id, points)
        if name is not None:
            points[name][0] += meta["points"]
    return {name: (auto, manual) for name, (auto, manual) in points.items()}


def graded_items_markdown(root: Path | str | None = None) -> str:
    """A Markdown table of every graded item of every assignment that has a source notebook."""
    root = Path(root) if root is not None else Path(__file__).resolve().parents[1]
    rows = ["| assignment | item | what | autograded | by hand |", "| --- | --- | --- | ---: | ---: |"]
    for assignment in ASSIGNMENTS:
        if not solution_notebook(assignment, root).exists():
            continue
        points = points_by_item(assignment, root)
        for item in items(assignment):
            auto, manual = points[item.name]
            signature = f"`{item.signature()}`: " if item.reference else ""
            rows.append(f"| `{assignment}` | `{item.name}` | {signature}{item.summary} | {auto:g} | {manual:g} |")
    return "\n".join(rows)
