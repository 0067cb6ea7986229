"""Static scan of the cells a student wrote for code that games the grader (flags for review).

Scores are unchanged by a flag, except that importing a graded item's reference
implementation (or its whole module) costs the item (:data:`BORROWED`). Looks,
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

# Modules that re-export or call a reference implementation without holding one (the registry names the rest).
WRAPPING_MODULES = ("bertcourse.pretraining.data", "bertcourse.pretraining.run")


def _reference_modules() -> tuple[str, ...]:
    """The modules the graded items' reference implementations live in, from the registry, and their wrappers."""
    modules = {item.reference.split(":")[0] for item in registry.ITEMS if item.reference}
    return tuple(sorted(modules)) + WRAPPING_MODULES


# Importing one of these costs the item.
REFERENCE_MODULES = _reference_modules()
BORROWED = "imports the reference implementation"
FORBIDDEN_IMPORTS = REFERENCE_MODULES + ("bertcourse.grading", "bertcourse.grader", "nbgrader", "subprocess",
                                         "socket", "ctypes", "shutil", "inspect", "gc")
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


@functools.cache
def _references() -> frozenset[str]:
    """``module.attribute`` of every graded item's reference implementation."""
    return frozenset(i.reference.replace(":", ".") for i in registry.ITEMS if i.reference)


def _import_flags(grade_id: str, node) -> list[Flag]:
    """Importing a reference implementation (or its whole module) borrows it; other risky imports are flagged."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        names = [f"{node.module}.{alias.name}" if node.module else alias.name for alias in node.names]
    flags = []
    for name in names:
        if name in REFERENCE_MODULES or name in _references():
            flags.append(Flag(grade_id, node.lineno, f"{BORROWED} ({name})"))
        elif name.startswith(FORBIDDEN_IMPORTS):
            flags.append(Flag(grade_id, node.lineno, f"imports {name}"))
    return flags


def scan_source(grade_id: str, source: str) -> list[Flag]:
    """The suspicious constructs of one cell's code (IPython magics are translated first)."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError as error:
        return [Flag(grade_id, error.lineno or 0, f"syntax error: {error.msg}")]
    flags = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            flags += _import_flags(grade_id, node)
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
