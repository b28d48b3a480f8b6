"""What one replacement may remove: sentence boundaries, a length limit per identifier kind, and the
engine's invariant that everything outside the replaced spans is the input, byte for byte.

De-identification runs at the door of every command, so a recognizer that swallows "the rest of the
line" silently deletes findings from every label, model and metric after it. The recognizers are written
to stop at sentence ends; this module is the independent safety net behind them: :func:`cut_back` trims
any span that crosses a sentence boundary or is longer than its kind can be, and the engine counts each
such event instead of deleting text. :func:`check_replacement` verifies the invariant on every text.

Sentence boundaries follow the usual abbreviation-aware rule of rule-based sentence splitters (the Punkt
idea, Kiss & Strunk 2006, with a fixed list instead of a learned one): a ".", "!" or "?" followed by white
space (a line break too) and a capital or digit ends a sentence unless the word before it is an initial, an abbreviation
("Dr.", "St.", "Apt.", "Jan.") or dotted ("M.D.").
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Protocol, TypeVar

#: The most characters one identifier of each kind can hold (a margin above the longest real forms: a
#: four-word name with particles, a full postal address with unit and postcode, a long URL).
MAX_CHARS: dict[str, int] = {
    "NAME": 70,
    "DATE": 40,
    "AGE": 40,
    "PHONE": 40,
    "EMAIL": 120,
    "URL": 250,
    "ID": 64,
    "ADDRESS": 130,
    "INSTITUTION": 100,
}
#: How many line breaks one identifier may hold: a postal address can be written over a few lines in a
#: header; nothing else is.
MAX_LINE_BREAKS: dict[str, int] = {"ADDRESS": 3}

#: Words that end with a period without ending a sentence (lower-cased, without the period): titles,
#: street and unit abbreviations, months, and the short forms of reports.
ABBREVIATIONS: frozenset[str] = frozenset(
    """
    dr drs mr mrs ms mx prof rev sr jr st ste mt ft fr hon gen col capt lt sgt
    ave av rd blvd ln ct pl ter pkwy hwy cir sq trl cres expy fwy tpke rte ctr plz hts jct mtn apt bldg fl rm
    no nos dept univ hosp inc co corp ltd assoc bros ext tel ph fax approx vs etc eg ie cf al fig figs vol pp
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun
    """.split()
)

_CANDIDATE_END_RE = re.compile(r"[.!?](?=\s+[\"'(\[]?[A-Z0-9])")


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the period at ``dot`` closes an initial, an abbreviation or a dotted form, not a sentence."""
    if text[dot] != ".":
        return False
    i = dot
    while i > 0 and text[i - 1].isalpha():
        i -= 1
    word = text[i:dot]
    if not word:
        return False  # "4AB." / "2021." / "). ": a number or a bracket ends a sentence
    if len(word) == 1 or word.lower() in ABBREVIATIONS:
        return True
    if len(word) > 4 and word.endswith("str"):
        return True  # a German street: "Radelstr. 92"
    return i > 0 and text[i - 1] == "."  # "M.D.", "Ph.D.", "p.o."


def sentence_ends(text: str, start: int = 0, end: int | None = None) -> list[int]:
    """Positions just after each sentence-ending mark in ``text[start:end]``."""
    end = len(text) if end is None else end
    return [m.end() for m in _CANDIDATE_END_RE.finditer(text, start, end) if not _is_abbreviation(text, m.start())]


def first_sentence_end(text: str, start: int, end: int) -> int | None:
    """The position of the first sentence-ending mark inside ``text[start:end]``, or None."""
    for m in _CANDIDATE_END_RE.finditer(text, start, end):
        if not _is_abbreviation(text, m.start()):
            return m.start()
    return None


class _SpanLike(Protocol):
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def kind(self) -> str: ...


S = TypeVar("S", bound=_SpanLike)


def bound(text: str, start: int, end: int, kind: str) -> int:
    """The end of the span ``[start, end)`` of ``kind`` cut back to its bounds: before the first sentence
    end inside it, before a line break it may not hold, and within :data:`MAX_CHARS` (at a word boundary
    where there is one). Equal to ``end`` when the span is within bounds."""
    e = end
    stop = first_sentence_end(text, start, e)
    if stop is not None:
        e = stop
    breaks = MAX_LINE_BREAKS.get(kind, 0)
    pos = start
    for _ in range(breaks + 1):
        nl = text.find("\n", pos, e)
        if nl < 0:
            break
        pos = nl + 1
    else:
        e = pos - 1
    limit = MAX_CHARS.get(kind, 100)
    if e - start > limit:
        cut = max(text.rfind(" ", start + 1, start + limit + 1), text.rfind("\t", start + 1, start + limit + 1))
        e = cut if cut > start else start + limit
    while e > start and text[e - 1] in " \t\r\n,;:":
        e -= 1
    return e


def cut_back(text: str, spans: Sequence[S]) -> tuple[list[S], int]:
    """Every span within its bounds (:func:`bound`), and how many had to be cut back.

    A span never grows and never moves its start, so cut-back spans stay sorted and disjoint."""
    out: list[S] = []
    n_cut = 0
    for sp in spans:
        e = bound(text, sp.start, sp.end, sp.kind)
        if e == sp.end:
            out.append(sp)
            continue
        n_cut += 1
        if e > sp.start:
            out.append(dataclasses.replace(sp, end=e))  # type: ignore[type-var]
    return out, n_cut


class DeidInvariantError(RuntimeError):
    """The engine broke its own invariant: a bug in radtrust, never a property of the input. The message
    holds offsets only, never text."""


def check_replacement(text: str, spans: Sequence[_SpanLike], replacements: Sequence[str], output: str) -> None:
    """Verify that ``output`` is ``text`` with exactly ``spans`` replaced by ``replacements``: the spans are
    sorted, disjoint and inside the text, and every character outside them is the input's, in order."""
    if len(spans) != len(replacements):
        raise DeidInvariantError(f"{len(spans)} spans but {len(replacements)} replacements")
    prev = 0
    for sp in spans:
        if not prev <= sp.start < sp.end <= len(text):
            raise DeidInvariantError(
                f"span [{sp.start}, {sp.end}) overlaps the previous one (ends {prev}), is empty or leaves the text (length {len(text)})"
            )
        prev = sp.end
    prev = 0
    at = 0  # position in output
    for sp, rep in zip(spans, replacements):
        s, e = sp.start, sp.end
        n = s - prev
        if output[at:at + n] != text[prev:s]:
            raise DeidInvariantError(f"the text before offset {s} was altered")
        at += n
        if output[at:at + len(rep)] != rep:
            raise DeidInvariantError(f"the replacement for [{s}, {e}) is not where it belongs")
        at += len(rep)
        prev = e
    if output[at:] != text[prev:]:
        raise DeidInvariantError(f"the text after offset {prev} was altered")


__all__ = [
    "ABBREVIATIONS",
    "MAX_CHARS",
    "MAX_LINE_BREAKS",
    "DeidInvariantError",
    "bound",
    "check_replacement",
    "cut_back",
    "first_sentence_end",
    "sentence_ends",
]
