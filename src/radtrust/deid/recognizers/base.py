"""What every recognizer shares: the :class:`Recognizer` protocol, the candidate and span types, the
evidence strengths and the trigger index (:class:`Doc`) that lets an expression run only where a cue sits."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from radtrust.deid.allowlist import AllowList

#: The identifier kinds, in the order used for reporting.
KINDS: tuple[str, ...] = ("NAME", "DATE", "AGE", "PHONE", "EMAIL", "URL", "ID", "ADDRESS", "INSTITUTION")


# Evidence strength. STRONG survives the allow-list ("Dr. Paget" is a person); MEDIUM loses where every
# word is allow-listed; WEAK also loses where it touches a clinical number shape (C5-6, 3.2 x 1.1 cm).
WEAK, MEDIUM, STRONG = 0, 1, 2


@dataclass(frozen=True)
class Span:
    """One identifier: character offsets into the text, its kind, and which recognizer family found it."""

    start: int
    end: int
    kind: str
    source: str = "radtrust"


@dataclass(frozen=True)
class Candidate:
    """A recognizer's proposal, before the allow-list and merging."""

    start: int
    end: int
    kind: str
    strength: int
    source: str = "radtrust"


# ---------------------------------------------------------------------------------------------------
# The trigger index: where words and digit runs start
# ---------------------------------------------------------------------------------------------------

ALPHA_RUN_RE = re.compile(r"[A-Za-z]+")
_DIGIT_RUN_RE = re.compile(r"\d+")


@dataclass
class Doc:
    """A text plus the positions of its (lower-cased) letter runs and its digit runs."""

    text: str
    words: dict[str, list[int]] = field(default_factory=dict)
    digits: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def of(cls, text: str) -> Doc:
        doc = cls(text)
        words = doc.words
        for m in ALPHA_RUN_RE.finditer(text):
            words.setdefault(m.group().lower(), []).append(m.start())
        doc.digits = [m.span() for m in _DIGIT_RUN_RE.finditer(text)]
        return doc

    def at(self, triggers: frozenset[str] | set[str]) -> list[int]:
        """Sorted start positions of the trigger words."""
        words = self.words
        keys = [w for w in words if w in triggers] if len(words) < len(triggers) else [t for t in triggers if t in words]
        if not keys:
            return []
        if len(keys) == 1:
            return words[keys[0]]
        out: list[int] = []
        for t in keys:
            out.extend(words[t])
        out.sort()
        return out


def matches_at(rx: re.Pattern[str], text: str, positions: Iterable[int]) -> Iterator[re.Match[str]]:
    """``rx.match`` at each position, in order, skipping positions inside an earlier match."""
    end = -1
    for p in positions:
        if p < end:
            continue
        m = rx.match(text, p)
        if m is not None and m.end() > m.start():
            end = m.end()
            yield m


def cue_regex(frags: Sequence[str]) -> tuple[str, frozenset[str]]:
    """A case-insensitive alternation of cue phrases and the set of their first words (the triggers).

    Every phrase must start with a letter run, which is how the index finds it."""
    triggers = set()
    for f in frags:
        m = re.match(r"[a-z]+", f)
        if m is None:
            raise ValueError(f"cue fragment must start with a lower-case word: {f!r}")
        triggers.add(m.group())
    ordered = sorted(frags, key=len, reverse=True)
    return "(?i:" + "|".join(ordered) + ")", frozenset(triggers)


# Python's re has no \p{Lu}: Latin-1 and Latin Extended-A/B/Additional cover the names we expect (Müller,
# Łukasz, Nguyễn). The extended blocks mix cases; counting them as both is harmless here.
UP = "A-ZÀ-ÖØ-Þ\u0100-\u024f\u1e00-\u1eff"
LO = "a-zß-öø-ÿ\u0100-\u024f\u1e00-\u1eff"


class Recognizer(Protocol):
    """One identifier kind's rules: the kinds it proposes and what it proposes inside one sentence.

    ``found`` holds what the recognizers before it in :data:`~radtrust.deid.recognizers.RECOGNIZERS` proposed
    for the same sentence (the header-field names and the affiliations are read around them); most ignore it."""

    @property
    def kinds(self) -> tuple[str, ...]: ...

    def find(self, doc: Doc, allow: AllowList, found: Sequence[Candidate]) -> Iterable[Candidate]: ...
