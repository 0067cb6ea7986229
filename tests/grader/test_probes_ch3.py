"""The re-check probes of Chapter 3: the reference passes, every mutant is caught, every alternative passes.

As for Chapter 2 (tests/grader/test_probes.py), variants are judged in this process: each
request is answered the way the worker answers it (its argument decoding and module building,
then a round trip through the codec) and the probe's own comparison decides. One test takes the
real path, :func:`recheck.recheck` in the sandboxed worker.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path

import numpy as np
import pytest

from bertcourse import registry
from bertcourse.grader import codec, probes, recheck, worker
from bertcourse.grader.sandbox import Limits, Sandbox, reserved_slots
from tests import notebook_runner as runner
from tests.grader_support import require_sandbox
from tests.mutants.ch3_variants import VARIANTS

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "ch3_variants"
ITEMS = [i.name for i in registry.items(ASSIGNMENT, with_reference=True)]
PREAMBLE = ("import math\nimport random\n\nimport torch\nimport torch.nn.functional as F\n"
            "from torch import Tensor, nn\n")
SEED = 20240607
# The re-check runs forward passes only: a mistake that shows only in gradients is the hidden tests' to catch.
FORWARD_BLIND = {("FactorizedEmbedding", "padding_idx=0: id 0 never learns")}


@pytest.fixture(scope="module")
def notebook():
    return runner.load(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")


def _cases(item: str) -> list:
    return probes.PROBES[item](np.random.default_rng([SEED, len(item)]), probes.Context())


def _namespace(item: str, source: str) -> dict:
    namespace = {"__name__": "__main__"}
    exec(compile(PREAMBLE + source, f"<{item}>", "exec"), namespace)
    return namespace


def _verdict(namespace: dict, item_cases: list) -> str | None:
    """What the re-check says of the answer in ``namespace``: None (passed) or the first problem."""
    import torch

    torch.manual_seed(0)
    random.seed(0)
    for case in item_cases:
        request = copy.deepcopy(case.request)
        answer = worker.call if request["op"] == "call" else worker._module_call
        try:
            got = codec.decode(codec.encode(answer(namespace, request)))
        except Exception as error:  # noqa: BLE001 - a variant that raises fails, as in the worker
            return f"{case.label}: raised {type(error).__name__}: {error}"
        problem = probes.compare(case, got)
        if problem:
            return f"{case.label}: {problem}"
    return None


def test_every_chapter_3_item_has_a_probe():
    assert set(ITEMS) <= set(probes.PROBES)
    assert probes.DEPENDS["albert_with_your_components"] == ("FactorizedEmbedding", "SharedLayerEncoder")


@pytest.mark.parametrize("item", ITEMS)
def test_reference_answer_passes(item, notebook):
    problem = _verdict(_namespace(item, runner.answer_source(notebook, item)), _cases(item))
    assert problem is None, problem


@pytest.mark.parametrize("variant", VARIANTS, ids=[f"{v.item}:{'ok' if v.correct else 'mutant'}:{v.name}"
                                                   for v in VARIANTS])
def test_variant_is_judged_as_expected(variant, notebook):
    source = variant.apply(runner.answer_source(notebook, variant.item))
    problem = _verdict(_namespace(variant.item, source), _cases(variant.item))
    if variant.correct:
        assert problem is None, f"a correct alternative failed the re-check: {problem}"
    elif (variant.item, variant.name) in FORWARD_BLIND:
        assert problem is None, "a forward-blind mutant is now caught: remove it from FORWARD_BLIND"
    else:
        assert problem is not None, f"mutant '{variant.name}' passed the re-check"


def test_recheck_in_the_sandboxed_worker(notebook):
    """The real path: the solution passes; a copied layer, argmax sampling and a dropped T² fail their item only."""
    require_sandbox()
    broken = {"SharedLayerEncoder": "one private copy of the layer", "electra_corrupt": "argmax instead of sampling",
              "distillation_loss": "missing T**2"}
    submission = copy.deepcopy(notebook)
    for cell in submission.cells:
        cell.source = runner.strip_markers(cell.source)
        grade_id = runner.nbgrader_meta(cell).get("grade_id")
        if grade_id in broken:
            variant = next(v for v in VARIANTS if v.item == grade_id and v.name == broken[grade_id])
            cell.source = variant.apply(cell.source)
    items = ITEMS + ["albert_with_your_components"]
    with reserved_slots() as first:
        sandbox = Sandbox(Limits(cpu_seconds=300), slot=first)
        honest = recheck.recheck(notebook, items, sandbox, timeout=300)
        mixed = recheck.recheck(submission, items, sandbox, timeout=300)
    assert all(c.passed for c in honest[:-1]), [(c.item, c.detail) for c in honest]
    assert honest[-1].passed is None
    verdict = {c.item: c.passed for c in mixed}
    assert verdict == {item: item not in broken for item in ITEMS} | {"albert_with_your_components": False}, \
        [(c.item, c.detail) for c in mixed]
