"""The re-check probes: one module per assignment, each exporting PROBES and DEPENDS, merged here.

``probes/<assignment>.py`` holds what the re-check feeds each graded item of
that assignment and how it compares the answer (:mod:`.common` has the shared
parts). Items without a probe (written answers, end-to-end checks) are not
re-checked themselves; DEPENDS lowers an end-to-end check whose parts failed
their re-check. A new chapter adds its module; this package finds it by the
assignment's name in :data:`bertcourse.registry.ASSIGNMENTS`.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ...registry import ASSIGNMENTS
from .common import Case, Context, Probe, compare

__all__ = ["CHAPTERS", "DEPENDS", "PROBES", "Case", "Context", "Probe", "bindings", "compare"]

# The chapters that have probes, in course order.
CHAPTERS = {assignment: importlib.import_module(f"{__name__}.{assignment}") for assignment in ASSIGNMENTS
            if (Path(__file__).parent / f"{assignment}.py").exists()}

PROBES: dict[str, Probe] = {name: probe for module in CHAPTERS.values() for name, probe in module.PROBES.items()}
DEPENDS: dict[str, tuple[str, ...]] = {
    name: parts for module in CHAPTERS.values() for name, parts in module.DEPENDS.items()
}


def bindings(items: list[str], context: Context) -> dict[str, object]:
    """Values the worker binds before the calls (referenced as {"$ref": name}), from every chapter that has some."""
    bound: dict[str, object] = {}
    for module in CHAPTERS.values():
        if hasattr(module, "bindings"):
            bound.update(module.bindings(items, context))
    return bound
