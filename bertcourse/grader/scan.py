"""Static scan of the cells a student wrote for code that games the grader (flags for review).

Scores are unchanged by a flag, except that importing a graded item's reference
implementation (or its whole module) costs the item (:data:`BORROWED`); only the
current assignment's references count, since a chapter builds on the earlier ones.
The reference modules come from :data:`bertcourse.registry.ITEMS`. Looks,
in the AST of each cell, for: imports of the reference implementation or of
grading modules, assignments to attributes of library modules
(``torch.allclose = ...``), ``setattr`` on them, ``__eq__``-style
overrides, ``os._exit``/``sys.exit``/``kill``, file and process access, and
reflection on the grader's frames or modules.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass

from .. import registry

# Modules that call a reference implementation without holding one, by assignment (the registry names the rest).
WRAPPING_MODULES = {"ch2_pretraining": ("bertcourse.pretraining.data", "bertcourse.pretraining.run")}
# Modules a student's answer has no business importing, whatever the assignment.
OUTSIDE_THE_ANSWER = ("bertcourse.grading", "bertcourse.grader", "nbgrader", "subprocess", "socket", "ctypes", "shutil",
                      "inspect", "gc")
BORROWED = "imports the reference implementation"
# Names that reach the grader's state or the source of the cells that run (hidden tests included).
INTROSPECTION = {"globals", "__builtins__", "In", "_ih", "Out", "_oh", "get_ipython", "_i", "_ii", "_iii"}
LIBRARY_NAMES = {"torch", "np", "numpy", "grading", "F", "nn", "math", "random", "transformers", "builtins",
                 "json", "os", "sys", "testing", "hub", "functional"}
COMPARISON_DUNDERS = {"__eq__", "__ne__", "__hash__", "__bool__", "__len__", "__instancecheck__",
                      "__subclasscheck__", "__class__", "__getattribute__"}
DANGEROUS_CALLS = {"_exit", "exit", "quit", "kill", "killpg", "abort", "fork", "system", "popen", "execv",
                   "execve", "setrecursionlimit", "settrace", "setprofile", "_getframe", "get_objects",
                   "import_module", "__import__", "listdir", "walk", "scandir", "glob", "remove", "unlink",
                   "rmtree", "chmod", "read_text", "read_bytes", "write_text", "write_bytes"}


@dataclass(frozen=True)
class Flag:
    grade_id: str
    line: int
    what: str


def _dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def _assignments(assignment: str | None) -> tuple[str, ...]:
    """The assignments whose references are forbidden: this one (a chapter may import earlier chapters'
    references), or every one when it is None or unknown."""
    return (assignment,) if assignment in registry.ASSIGNMENTS else registry.ASSIGNMENTS


@functools.cache
def reference_modules(assignment: str | None = None) -> tuple[str, ...]:
    """The modules that hold (or wrap) the reference implementations of ``assignment``'s items, from the registry."""
    chosen = _assignments(assignment)
    modules = {i.reference.split(":")[0] for a in chosen for i in registry.items(a, with_reference=True)}
    modules.update(m for a in chosen for m in WRAPPING_MODULES.get(a, ()))
    return tuple(sorted(modules))


@functools.cache
def _references(assignment: str | None) -> frozenset[str]:
    """``module.attribute`` of the reference implementation of every item of ``assignment``."""
    return frozenset(i.reference.replace(":", ".") for a in _assignments(assignment)
                     for i in registry.items(a, with_reference=True))


def _import_flags(grade_id: str, node, assignment: str | None) -> list[Flag]:
    """Importing a reference implementation (or its whole module) borrows it; other risky imports are flagged."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        names = [f"{node.module}.{alias.name}" if node.module else alias.name for alias in node.names]
    modules = reference_modules(assignment)
    flags = []
    for name in names:
        if name in modules or name in _references(assignment):
            flags.append(Flag(grade_id, node.lineno, f"{BORROWED} ({name})"))
        elif name.startswith(modules + OUTSIDE_THE_ANSWER):
            flags.append(Flag(grade_id, node.lineno, f"imports {name}"))
    return flags


def scan_source(grade_id: str, source: str, assignment: str | None = None) -> list[Flag]:
    """The suspicious constructs of one cell's code (IPython magics are translated first).

    Importing a reference implementation borrows it only when it is one of ``assignment``'s
    (None: any assignment's): a chapter builds on the reference of the chapters before it.
    """
    # IPython only when a cell is scanned: the grader's other steps never need it.
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError as error:
        return [Flag(grade_id, error.lineno or 0, f"syntax error: {error.msg}")]
    flags = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            flags += _import_flags(grade_id, node, assignment)
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and _dotted(target).split(".")[0] in LIBRARY_NAMES:
                    flags.append(Flag(grade_id, line, f"redefines library attribute {_dotted(target)}"))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in COMPARISON_DUNDERS:
            flags.append(Flag(grade_id, line, f"defines {node.name} (comparison/identity override)"))
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            last = name.rsplit(".", 1)[-1]
            if last == "setattr" and node.args and _dotted(node.args[0]).split(".")[0] in LIBRARY_NAMES:
                flags.append(Flag(grade_id, line, f"setattr on {_dotted(node.args[0])}"))
            elif last in DANGEROUS_CALLS:
                flags.append(Flag(grade_id, line, f"calls {name}"))
            elif last == "open" or name in ("io.open", "os.open"):
                flags.append(Flag(grade_id, line, f"opens a file ({name})"))
        elif isinstance(node, ast.Attribute) and _dotted(node) in ("sys.modules", "builtins.__dict__"):
            flags.append(Flag(grade_id, line, f"touches {_dotted(node)}"))
        elif isinstance(node, ast.Name) and node.id in INTROSPECTION:
            flags.append(Flag(grade_id, line, f"uses {node.id}"))
    return sorted(set(flags), key=lambda f: (f.grade_id, f.line, f.what))
