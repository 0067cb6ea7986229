"""Copy detection: thresholds measured on the held-in variants, flags with diffs, never a score change.

Independent answers are the correct alternatives in ``tests/mutants`` (written from scratch,
``source=``); copies are the variants made by editing the reference (``edits=``: the mutants
and the edited alternatives), as a student who pastes the reference and changes a line.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from bertcourse.grader import similarity as sim
from tests import notebook_runner as runner
from tests.mutants import ch1_architecture, ch2_pretraining

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = {"ch1_architecture": ch1_architecture.VARIANTS, "ch2_pretraining": ch2_pretraining.VARIANTS}


def _measured():
    """(item, kind, name, similarity to the reference) of every variant; kind: independent | edited."""
    rows, pairs = [], []
    for assignment, variants in CHAPTERS.items():
        notebook = runner.load(ROOT / "solutions" / assignment / f"{assignment}.ipynb")
        for item in sorted({v.item for v in variants}):
            reference = runner.answer_source(notebook, item)
            own = [v for v in variants if v.item == item]
            for v in own:
                kind = "independent" if v.source is not None and v.correct else "edited" if v.edits else "rewritten"
                rows.append((item, kind, v.name, sim.similarity(v.apply(reference), reference)))
            independent = [v for v in own if v.source is not None and v.correct]
            pairs += [(item, a.name, b.name, sim.similarity(a.apply(reference), b.apply(reference)))
                      for a, b in itertools.combinations(independent, 2)]
    return rows, pairs


def test_thresholds_flag_no_independent_answer_and_every_edited_copy(capsys):
    rows, pairs = _measured()
    independent = [r for r in rows if r[1] == "independent"]
    edited = [r for r in rows if r[1] == "edited"]
    false_positives = [r for r in independent if r[3] >= sim.REFERENCE_THRESHOLD]
    pair_false_positives = [p for p in pairs if p[3] >= sim.PAIR_THRESHOLD]
    missed = [r for r in edited if r[3] < sim.REFERENCE_THRESHOLD]
    with capsys.disabled():
        print(f"\nindependent alternatives vs reference: {len(independent)}, max "
              f"{max(r[3] for r in independent):.2f}, flagged {len(false_positives)}; independent pairs: "
              f"{len(pairs)}, max {max(p[3] for p in pairs):.2f}, flagged {len(pair_false_positives)}; "
              f"edited copies: {len(edited)}, min {min(r[3] for r in edited):.2f}, missed {len(missed)}")
    assert not false_positives and not pair_false_positives, false_positives + pair_false_positives
    assert len(missed) <= len(edited) // 10, missed  # an edit may rewrite most of a short answer


def test_renaming_and_comments_do_not_hide_a_copy():
    reference = ("def f(xs, k=2):\n    '''Doc.'''\n    total = 0  # sum\n    for x in xs:\n"
                 "        total += x * k\n    return total\n")
    disguised = "def f(values, factor=2):\n    acc = 0\n    # loop over the values\n    for v in values:\n" \
                "        acc += v * factor\n\n    return acc\n"
    assert sim.similarity(reference, disguised) == 1.0
    assert sim.similarity(reference, "def f(xs, k=2):\n    return sum(xs) * k\n") < 0.7


def test_flags_copies_of_the_reference_and_pairs_with_side_by_side_diffs():
    reference = "def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n"
    pair = "def f(xs):\n    return functools.reduce(lambda a, b: a + b, xs, 0)\n"
    answers = {"ann": {"f": reference.replace("total", "t")},
               "bob": {"f": pair}, "cat": {"f": pair.replace("a, b", "p, q")},
               "dan": {"f": "def f(xs):\n    return sum(xs)\n"},
               "eve": {"f": "def f(xs):\n    raise NotImplementedError()\n"}}
    found = sim.flags(answers, {"f": reference})
    assert [(f.students, round(f.score, 2)) for f in found] == [(("ann",), 1.0), (("bob", "cat"), 1.0)]
    assert "identical to the reference" in found[0].line() and "bob and cat" in found[1].line()
    assert "|" in found[1].diff and found[1].diff.splitlines()[0].split() == ["bob", "cat"]


def test_the_grading_report_lists_pasted_answers_with_diffs(tmp_path):
    """A hand-in that pastes the reference is flagged per item; independent answers are not; scores untouched."""
    from bertcourse.grader import classroom
    from bertcourse.grader.batch import Report, _similar

    assignment = "ch1_architecture"
    alternatives = {v.item: v.source for v in ch1_architecture.VARIANTS if v.correct and v.source}
    pasted = classroom.submission(ROOT, assignment)  # the reference answers, markers removed
    own = classroom.submission(ROOT, assignment, replace=alternatives)
    classroom.submit(tmp_path, assignment, "paster", pasted)
    classroom.submit(tmp_path, assignment, "writer", own)
    report = Report(assignment, 1, "sqlite://", students={"paster": {"scores": {}}, "writer": {"scores": {}}})
    report.similar = _similar(tmp_path, assignment, ["paster", "writer"])
    flagged = {(f["item"], tuple(f["students"])) for f in report.similar}
    assert {students for _, students in flagged} == {("paster",)}
    assert {item for item, _ in flagged} >= {"wordpiece_tokenize", "BertLayer"}
    text = report.markdown()
    assert "## paster: 0 points  (REVIEW)" in text and "## writer: 0 points\n" in text
    assert "## Similar answers" in text and "identical to the reference" in text
