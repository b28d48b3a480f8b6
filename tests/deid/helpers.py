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
