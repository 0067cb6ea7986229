"""Table-driven tests of bertcourse.grader.scan: sources that must be flagged, and sources that must not."""

from __future__ import annotations

import pytest

from bertcourse import registry
from bertcourse.grader import scan

CH1, CH2 = "ch1_architecture", "ch2_pretraining"

# (assignment, cell source, the flag expected: a prefix of its ``what``, or None for no flag at all)
CASES = [
    # the current assignment's references: importing one costs the item
    (CH1, "from bertcourse.tokenization import wordpiece_tokenize", f"{scan.BORROWED} (bertcourse.tokenization"),
    (CH1, "from bertcourse.models.bert import scaled_dot_product_attention", scan.BORROWED),
    (CH1, "import bertcourse.models.bert", scan.BORROWED),
    (CH1, "import bertcourse.models.bert as m", scan.BORROWED),
    (CH1, "from bertcourse.models import bert", scan.BORROWED),
    (CH2, "from bertcourse.pretraining.masking import mask_tokens", scan.BORROWED),
    (CH2, "from bertcourse.pretraining import sentence_pairs", scan.BORROWED),
    (CH2, "from bertcourse.pretraining.objectives import mlm_loss_and_accuracy as f", scan.BORROWED),
    (CH2, "from bertcourse.pretraining import run", scan.BORROWED),  # calls mask_tokens' twins
    # other names from the current assignment's modules: flagged for review, score unchanged
    (CH1, "from bertcourse.models.bert import BertConfig", "imports bertcourse.models.bert.BertConfig"),
    (CH2, "from bertcourse.pretraining.data import make_pairs", "imports bertcourse.pretraining.data.make_pairs"),
    # earlier (and other) chapters' references may be imported: a chapter builds on the last one
    (CH2, "from bertcourse.models.bert import BertLayer, BertConfig", None),
    (CH2, "from bertcourse.tokenization import build_inputs", None),
    (CH1, "from bertcourse.pretraining.masking import mask_tokens", None),
    # the grader and the grading helpers, and modules that reach outside the kernel
    (CH1, "from bertcourse import grading", "imports bertcourse.grading"),
    (CH1, "import bertcourse.grader.scan", "imports bertcourse.grader.scan"),
    (CH2, "import subprocess", "imports subprocess"),
    (CH2, "from ctypes import CDLL", "imports ctypes.CDLL"),
    (CH1, "import nbgrader", "imports nbgrader"),
    # tampering with libraries and comparisons
    (CH1, "torch.allclose = lambda *a, **k: True", "redefines library attribute torch.allclose"),
    (CH1, "np.testing.assert_allclose = print", "redefines library attribute np.testing.assert_allclose"),
    (CH1, "setattr(torch, 'equal', lambda a, b: True)", "setattr on torch"),
    (CH1, "class T:\n    def __eq__(self, other):\n        return True", "defines __eq__"),
    (CH1, "class T:\n    def __bool__(self):\n        return True", "defines __bool__"),
    # leaving, reading, reflecting
    (CH1, "import os\nos._exit(0)", "calls os._exit"),
    (CH1, "sys.exit()", "calls sys.exit"),
    (CH1, "open('/etc/passwd').read()", "opens a file (open)"),
    (CH1, "import sys\nsys.modules['torch'] = None", "touches sys.modules"),
    (CH1, "x = globals()['expected']", "uses globals"),
    (CH1, "print(In[-1])", "uses In"),
    (CH1, "f = sys._getframe(1)", "calls sys._getframe"),
    (CH1, "def f(:\n    pass", "syntax error"),
    (CH1, "%time x = torch.ones(3)", "uses get_ipython"),  # a magic is translated first, then parsed
]

CLEAN = [
    "def scaled_dot_product_attention(query, key, value, attention_mask=None):\n"
    "    scores = query @ key.transpose(-2, -1) / math.sqrt(query.size(-1))\n"
    "    return scores.softmax(-1) @ value, scores.softmax(-1)",
    "import math\nimport torch\nfrom torch import nn\nimport torch.nn.functional as F",
    "self.query = nn.Linear(4, 4)",  # attributes of one's own objects are fine
    "x = torch.zeros(2)\nx += 1",
]


@pytest.mark.parametrize("assignment, source, expected", CASES, ids=[f"{a}: {s.splitlines()[0]}" for a, s, _ in CASES])
def test_flags(assignment, source, expected):
    flags = scan.scan_source("answer", source, assignment)
    whats = [flag.what for flag in flags]
    if expected is None:
        assert whats == [], whats
    else:
        assert any(what.startswith(expected) for what in whats), whats


@pytest.mark.parametrize("source", CLEAN)
@pytest.mark.parametrize("assignment", [CH1, CH2, None])
def test_clean_code_is_not_flagged(assignment, source):
    assert scan.scan_source("answer", source, assignment) == []


def test_flags_carry_the_cell_and_line():
    flags = scan.scan_source("BertLayer", "x = 1\n\nimport subprocess", CH1)
    assert [(f.grade_id, f.line, f.what) for f in flags] == [("BertLayer", 3, "imports subprocess")]


def test_without_an_assignment_every_chapters_reference_is_borrowed():
    for item in registry.items(with_reference=True):
        module, name = item.reference.split(":")
        flags = scan.scan_source("answer", f"from {module} import {name}", None)
        assert any(f.what.startswith(scan.BORROWED) for f in flags), item.name


def test_reference_modules_come_from_the_registry():
    for assignment in (CH1, CH2):
        modules = scan.reference_modules(assignment)
        for item in registry.items(assignment, with_reference=True):
            assert item.reference.split(":")[0] in modules
    assert "bertcourse.models.bert" not in scan.reference_modules(CH2)
    assert set(scan.reference_modules(None)) >= set(scan.reference_modules(CH1)) | set(scan.reference_modules(CH2))
