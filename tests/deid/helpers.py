"""Helpers shared by the de-identification tests."""

from __future__ import annotations

from radtrust.deid import find_identifiers


def found(text: str, value: str, kind: str) -> bool:
    """True if spans of ``kind`` cover every letter and digit of ``value`` (its first occurrence)."""
    start = text.index(value)
    covered = set()
    for sp in find_identifiers(text):
        if sp.kind == kind:
            covered.update(range(sp.start, sp.end))
    return all(i in covered for i in range(start, start + len(value)) if text[i].isalnum())


def spans_of(text: str) -> list[tuple[str, str]]:
    """The (value, kind) of every span found in ``text``."""
    return [(text[s.start : s.end], s.kind) for s in find_identifiers(text)]


def covered(text: str, value: str, kinds: tuple[str, ...]) -> bool:
    """Every letter and digit of ``value`` (first occurrence) is inside a span of one of ``kinds``."""
    start = text.index(value)
    inside = set()
    for sp in find_identifiers(text):
        if sp.kind in kinds:
            inside.update(range(sp.start, sp.end))
    return all(i in inside for i in range(start, start + len(value)) if text[i].isalnum())
