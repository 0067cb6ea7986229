"""A variant of a graded answer: a mutant that must lose points, or an alternative that must not."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    item: str
    name: str
    correct: bool
    edits: tuple[tuple[str, str], ...] = ()
    source: str | None = None

    def apply(self, reference: str) -> str:
        """The answer cell for this variant, given the reference answer (markers stripped)."""
        if self.source is not None:
            return self.source.strip("\n")
        answer = reference
        for old, new in self.edits:
            if answer.count(old) != 1:
                raise ValueError(f"{self.item} / {self.name}: {old!r} occurs {answer.count(old)} times in the reference")
            answer = answer.replace(old, new)
        return answer


def mutant(item: str, name: str, *edits: tuple[str, str], source: str | None = None) -> Variant:
    return Variant(item, name, correct=False, edits=edits, source=source)


def alternative(item: str, name: str, source: str) -> Variant:
    return Variant(item, name, correct=True, source=source)
