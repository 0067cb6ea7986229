"""Copies of the reference and of each other: flagged for a person to review, never scored.

An answer is reduced to its normalised token stream: Python tokens with every
name that is not a keyword or builtin replaced by ``N``, every string by ``S``,
comments, docstrings and layout dropped, so renaming variables, rewording
comments or reformatting changes nothing. Two streams are compared with
:class:`difflib.SequenceMatcher` (the share of tokens in matching blocks, 0..1).

* an answer at or above :data:`REFERENCE_THRESHOLD` of the reference
  implementation of the same item is flagged "near-identical to the reference";
* two students' answers at or above :data:`PAIR_THRESHOLD` of each other, and
  not both that close to the reference, are flagged as a pair.

The thresholds were measured on the held-in variants (``tests/mutants``): the
correct alternatives, written independently of the reference, score below them
(``tests/test_similarity.py`` holds that, and prints the margins); the mutants,
each the reference with one small edit, score above. Each flag carries a
side-by-side diff of the two original sources for review.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import io
import keyword
import re
import tokenize
from dataclasses import dataclass
from itertools import combinations

from ..authoring import strip_markers

REFERENCE_THRESHOLD = 0.90
PAIR_THRESHOLD = 0.90
YOUR_CODE = re.compile(r"^\s*# YOUR CODE HERE\s*$", re.M)
KEEP = set(keyword.kwlist) | set(dir(builtins))
SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING,
        tokenize.ENDMARKER}


def _plain(source: str) -> str:
    """The answer without nbgrader's markers and the release's ``# YOUR CODE HERE``."""
    return YOUR_CODE.sub("", strip_markers(source))


def _without_docstrings(source: str) -> str:
    """``source`` with the docstrings of its module, classes and functions removed (when it parses)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
                    and isinstance(first.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def normalise(source: str) -> list[str]:
    """The answer's token stream with names, strings, comments and docstrings stripped."""
    source = _without_docstrings(_plain(source))
    tokens = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type in SKIP:
                continue
            if token.type == tokenize.NAME:
                tokens.append(token.string if token.string in KEEP else "N")
            elif token.type == tokenize.STRING or token.type in getattr(tokenize, "FSTRING_TYPES", ()):
                tokens.append("S")
            else:
                tokens.append(token.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        tokens = source.split()
    return tokens


def similarity(a: str | list[str], b: str | list[str]) -> float:
    """The share of normalised tokens of ``a`` and ``b`` in matching blocks (1.0: the same stream)."""
    x = normalise(a) if isinstance(a, str) else a
    y = normalise(b) if isinstance(b, str) else b
    if not x and not y:
        return 1.0
    return difflib.SequenceMatcher(None, x, y, autojunk=False).ratio()


def side_by_side(left: str, right: str, width: int = 60, titles: tuple[str, str] = ("", "")) -> str:
    """Two sources in columns, ``|`` where a line differs, ``<``/``>`` where one side has a line the other lacks."""
    a, b = _plain(left).strip("\n").splitlines(), _plain(right).strip("\n").splitlines()
    rows = [f"{titles[0][:width]:<{width}}   {titles[1][:width]}"] if any(titles) else []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        for k in range(max(i2 - i1, j2 - j1)):
            x = a[i1 + k] if i1 + k < i2 else ""
            y = b[j1 + k] if j1 + k < j2 else ""
            mark = " " if tag == "equal" else "|" if x and y else "<" if x else ">"
            rows.append(f"{x[:width]:<{width}} {mark} {y[:width]}")
    return "\n".join(rows)


@dataclass(frozen=True)
class Flag:
    item: str
    students: tuple[str, ...]  # one: near the reference; two: near each other
    score: float
    diff: str

    def line(self) -> str:
        if len(self.students) == 1:
            return f"{self.item}: {self.students[0]}'s answer is {self.score:.0%} identical to the reference " \
                   "(normalised tokens)"
        return f"{self.item}: {' and '.join(self.students)} answered {self.score:.0%} identically " \
               "(normalised tokens), not as the reference"


def flags(answers: dict[str, dict[str, str]], references: dict[str, str],
          reference_threshold: float = REFERENCE_THRESHOLD, pair_threshold: float = PAIR_THRESHOLD) -> list[Flag]:
    """Flags for ``answers`` (student -> item -> source) against ``references`` (item -> source) and each other.

    ``stubs`` are never flagged: an answer whose stream equals the release's stub is no answer.
    """
    found = []
    for item, reference in references.items():
        ref_tokens = normalise(reference)
        streams = {s: normalise(a[item]) for s, a in answers.items() if a.get(item, "").strip()}
        streams = {s: t for s, t in streams.items() if "NotImplementedError" not in t}
        near_reference = set()
        for student, tokens in sorted(streams.items()):
            score = similarity(tokens, ref_tokens)
            if score >= reference_threshold:
                near_reference.add(student)
                found.append(Flag(item, (student,), score, side_by_side(
                    answers[student][item], reference, titles=(student, "reference"))))
        for s1, s2 in combinations(sorted(streams), 2):
            if s1 in near_reference and s2 in near_reference:
                continue  # both copy the reference: already flagged each
            score = similarity(streams[s1], streams[s2])
            if score >= pair_threshold:
                found.append(Flag(item, (s1, s2), score, side_by_side(
                    answers[s1][item], answers[s2][item], titles=(s1, s2))))
    return found
