"""The re-check probes of Chapter 2: the reference passes, every mutant is caught, every alternative passes.

Most variants are judged in this process: the probe's requests are answered the way the
worker answers them (its argument decoding, then a round trip through the codec) by the
variant's function, and the probe's own comparison decides. A few cases go through the real
path, :func:`recheck.recheck` in the sandboxed worker, on the solution notebook with one
answer cell replaced.
"""

from __future__ import annotations

import pytest

from bertcourse import registry
from bertcourse.grader import probes
from tests import notebook_runner as runner
from tests.grader import probe_support as support
from tests.grader_support import require_sandbox
from tests.mutants.ch2_pretraining import VARIANTS

ASSIGNMENT = "ch2_pretraining"
ITEMS = [i.name for i in registry.items(ASSIGNMENT, with_reference=True)]
PREAMBLE = "import math\nimport random\n\nimport torch\nimport torch.nn.functional as F\nfrom torch import Tensor\n"


@pytest.fixture(scope="module")
def notebook():
    return support.solution(ASSIGNMENT)


def _function(item: str, source: str):
    return support.namespace([(item, PREAMBLE + source)])


def test_every_chapter_2_item_has_a_probe():
    assert set(ITEMS) <= set(probes.PROBES)


def test_probes_are_merged_from_one_module_per_assignment():
    assert list(probes.CHAPTERS) == [a for a in registry.ASSIGNMENTS if a in probes.CHAPTERS]  # course order
    seen = set()
    for assignment, module in probes.CHAPTERS.items():
        names = {i.name for i in registry.items(assignment)}
        assert set(module.PROBES) <= {i.name for i in registry.items(assignment, with_reference=True)}, assignment
        assert set(module.DEPENDS) <= names and all(set(parts) <= names for parts in module.DEPENDS.values())
        assert not seen & set(module.PROBES)  # each item is probed by its own chapter only
        seen |= set(module.PROBES)
    assert seen == set(probes.PROBES)


@pytest.mark.parametrize("item", ITEMS)
def test_reference_answer_passes(item, notebook):
    problem = support.verdict(_function(item, runner.answer_source(notebook, item)), support.cases(item))
    assert problem is None, problem


CH2 = [v for v in VARIANTS if v.item in ITEMS]


@pytest.mark.parametrize("variant", CH2, ids=support.variant_ids(CH2))
def test_variant_is_judged_as_expected(variant, notebook):
    source = variant.apply(runner.answer_source(notebook, variant.item))
    problem = support.verdict(_function(variant.item, source), support.cases(variant.item))
    if variant.correct:
        assert problem is None, f"a correct alternative failed the re-check: {problem}"
    else:
        assert problem is not None, f"mutant '{variant.name}' passed the re-check"


def test_recheck_in_the_sandboxed_worker(notebook):
    """The real path: the solution passes every item; one mutant per kind of probe fails only its item."""
    require_sandbox()
    broken = {"mask_tokens": "modifies input_ids in place", "create_nsp_examples": "the random module instead of rng",
              "span_mask": "uniform span lengths", "mlm_loss_and_accuracy": "summed, not averaged"}
    submission = support.submission(notebook, {item: support.find(CH2, item, name) for item, name in broken.items()})
    honest, mixed = support.recheck_in_sandbox(ITEMS + ["pretraining_with_your_masking"], notebook, submission)
    assert all(c.passed for c in honest[:-1]), [(c.item, c.detail) for c in honest]
    assert honest[-1].passed is None  # an end-to-end check: not re-checked itself, and its part passed
    verdict = {c.item: c.passed for c in mixed}
    details = {c.item: c.detail for c in mixed}
    assert "modified in place" in details["mask_tokens"] and "same seed" in details["create_nsp_examples"], details
    assert verdict == {item: item not in broken for item in ITEMS} | {"pretraining_with_your_masking": False}, \
        [(c.item, c.detail) for c in mixed]
