"""The re-check probes of Chapter 3: the reference passes, every mutant is caught, every alternative passes.

As for Chapter 2 (tests/grader/test_probes.py), variants are judged in this process: each
request is answered the way the worker answers it (its argument decoding and module building,
then a round trip through the codec) and the probe's own comparison decides. One test takes the
real path, :func:`recheck.recheck` in the sandboxed worker.
"""

from __future__ import annotations

import pytest

from bertcourse import registry
from bertcourse.grader import probes
from tests import notebook_runner as runner
from tests.grader import probe_support as support
from tests.grader_support import require_sandbox
from tests.mutants.ch3_variants import VARIANTS

ASSIGNMENT = "ch3_variants"
ITEMS = [i.name for i in registry.items(ASSIGNMENT, with_reference=True)]
PREAMBLE = ("import math\nimport random\n\nimport torch\nimport torch.nn.functional as F\n"
            "from torch import Tensor, nn\n")
# The re-check runs forward passes only: a mistake that shows only in gradients is the hidden tests' to catch.
FORWARD_BLIND = {("FactorizedEmbedding", "padding_idx=0: id 0 never learns")}


@pytest.fixture(scope="module")
def notebook():
    return support.solution(ASSIGNMENT)


def _namespace(item: str, source: str) -> dict:
    return support.namespace([(item, PREAMBLE + source)])


def test_every_chapter_3_item_has_a_probe():
    assert set(ITEMS) <= set(probes.PROBES)
    assert probes.DEPENDS["albert_with_your_components"] == ("FactorizedEmbedding", "SharedLayerEncoder")


@pytest.mark.parametrize("item", ITEMS)
def test_reference_answer_passes(item, notebook):
    problem = support.verdict(_namespace(item, runner.answer_source(notebook, item)), support.cases(item))
    assert problem is None, problem


@pytest.mark.parametrize("variant", VARIANTS, ids=support.variant_ids(VARIANTS))
def test_variant_is_judged_as_expected(variant, notebook):
    source = variant.apply(runner.answer_source(notebook, variant.item))
    problem = support.verdict(_namespace(variant.item, source), support.cases(variant.item))
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
    submission = support.submission(notebook, {item: support.find(VARIANTS, item, name) for item, name in broken.items()})
    honest, mixed = support.recheck_in_sandbox(ITEMS + ["albert_with_your_components"], notebook, submission)
    assert all(c.passed for c in honest[:-1]), [(c.item, c.detail) for c in honest]
    assert honest[-1].passed is None
    verdict = {c.item: c.passed for c in mixed}
    assert verdict == {item: item not in broken for item in ITEMS} | {"albert_with_your_components": False}, \
        [(c.item, c.detail) for c in mixed]
