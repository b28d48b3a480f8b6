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
import unicodedata
from collections.abc import Sequence
from typing import Protocol, TypeVar

from radtrust.deid.allowlist import EPONYMS, is_clinical_word

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

#: Titles: a period after them never ends a sentence, since a name follows ("Dr. Smith").
TITLES: frozenset[str] = frozenset("dr drs mr mrs ms mx prof rev sr jr hon gen col capt lt sgt".split())
#: Other words that end with a period without ending a sentence (lower-cased, without the period): saints,
#: street and unit abbreviations, months, and the short forms of reports. They can also close a sentence
#: ("lives at 1 Elm Rd. Mild cardiomegaly."), which is read from the next word: a report word starts a new
#: sentence, anything else ("St. Mary's", "Baker St. London") continues this one.
ABBREVIATIONS: frozenset[str] = frozenset(
    """
    st ste mt ft fr
    ave av rd blvd ln ct pl ter pkwy hwy cir sq trl cres expy fwy tpke rte ctr plz hts jct mtn apt bldg fl rm
    no nos dept univ hosp med mem reg cntr ctre inst clin hlth inc co corp ltd assoc bros ext tel ph fax approx vs etc eg ie cf al fig figs vol pp
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun
    """.split()
)
_NEXT_WORD_RE = re.compile(r"\s+[\"'(\[]?([^\W\d_]+)")
#: Month names of the languages whose dates the recognizers read (English, Spanish, French, Italian,
#: German, Dutch, Portuguese, Polish in the nominative and the genitive), and their abbreviations.
MONTH_NAMES: tuple[str, ...] = tuple(
    """
    january february march april may june july august september october november december
    enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre diciembre
    janvier février mars avril mai juin juillet août septembre octobre novembre décembre
    gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre
    januar jänner februar feber märz maerz april mai juni juli august september oktober november dezember
    januari februari maart april mei juni juli augustus september oktober november december
    janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro
    styczeń luty marzec kwiecień maj czerwiec lipiec sierpień wrzesień październik listopad grudzień
    stycznia lutego marca kwietnia maja czerwca lipca sierpnia września października listopada grudnia
    """.split()
)
MONTH_ABBREVIATIONS: tuple[str, ...] = tuple(
    """
    jan feb mar apr jun jul aug sep sept oct nov dec
    ene abr ago dic janv févr fév avr juil déc gen mag giu lug ott mär mrz okt dez mrt fev mai out set
    sty lut kwi cze lip sie wrz paź lis gru
    """.split()
)


def strip_accents(word: str) -> str:
    """``word`` without its diacritics ("décembre" -> "decembre", "Łukasz" -> "Lukasz")."""
    return "".join(ch for ch in unicodedata.normalize("NFD", word) if not unicodedata.combining(ch)).replace("ł", "l").replace("Ł", "L")


_MONTH_WORDS = frozenset(strip_accents(w) for w in MONTH_NAMES + MONTH_ABBREVIATIONS)
#: month abbreviations that are also words ("3 years ago. 2 nodules"): a period after them ends a sentence
_WORDS_TOO = frozenset("ago out set mag lip sie sty gen lis".split())
#: street types written short: a period after them ends a sentence more often than it continues an address
STREET_ABBREVIATIONS: frozenset[str] = frozenset("ave av rd blvd ln ct pl ter pkwy hwy cir sq trl cres expy fwy tpke rte plz hts jct".split())
_ADDRESS_CONTINUATIONS = frozenset("n s e w ne nw se sw north south east west apt suite ste unit bldg fl rm flat".split())
#: abbreviations that open a place's or an institution's name ("St.", "Ste.", "Mt.", "Ft.")
_SAINT_ABBREVIATIONS = frozenset("st ste mt ft".split())
#: head words of an institution's name that an abbreviation before them belongs to
_INSTITUTION_HEADS = frozenset("hospital hospitals center centre clinic institute infirmary hosp ctr cntr".split())
_DAY_PERIOD_RE = re.compile(r"(?<![\d.,/])\d{1,2}\Z")

_CANDIDATE_END_RE = re.compile(r"[.!?](?=\s+[\"'(\[]?[A-Z0-9])")


def _ends_sentence(text: str, mark: int) -> bool:
    """Whether the mark at ``mark`` (followed by space and a capital or digit) ends a sentence, or closes
    an initial, a title, a dotted form or an abbreviation that the next word continues."""
    if text[mark] != ".":
        return True
    i = mark
    while i > 0 and text[i - 1].isalpha():
        i -= 1
    if i == mark:
        if _DAY_PERIOD_RE.search(text, max(0, mark - 3), mark) is not None:
            nxt = _NEXT_WORD_RE.match(text, mark + 1)
            if nxt is not None and strip_accents(nxt.group(1).lower()) in _MONTH_WORDS:
                return False  # "9. Dezember 1997": a day written as an ordinal
        return True  # a period after a number or a bracket: "4AB.", "2021.", ")."
    word = text[i:mark].lower()
    if i > 0 and text[i - 1].isdigit():
        return True  # letters after a digit are no abbreviation: "LS1 0PP.", "4AB.", "12th."
    if mark - i == 1 or word in TITLES or (i > 0 and text[i - 1] == "."):
        return False  # an initial, a title, a dotted form ("M.D.", "Ph.D.", "p.o.")
    if text[mark + 1 : mark + 3].strip()[:1].isdigit() and word not in _WORDS_TOO and strip_accents(word) in _MONTH_WORDS:
        return False  # "déc. 1997", "Okt. 2001", "May. 14": a month before its day or year
    if len(word) > 4 and word.endswith("str"):
        return False  # a German street: "Radelstr. 92"
    if word in STREET_ABBREVIATIONS:
        # "12 Elm Rd. T2 hyperintense lesion", "1 Elm Rd. John Smith MRN ...": after a street's type a capital
        # starts the next sentence unless it plainly continues the address (a direction, a unit, a city before
        # its comma); a city cut off this way is still found in its own sentence
        nxt = _NEXT_WORD_RE.match(text, mark + 1)
        return nxt is None or not (nxt.group(1).lower() in _ADDRESS_CONTINUATIONS or re.match(r"[ \t]*,", text[nxt.end() : nxt.end() + 2]) is not None)
    if word in ABBREVIATIONS:
        if word in ("st", "ste") and text[mark + 1 : mark + 4].strip()[:1].isdigit():
            return True  # "1 Elm St. 72-year-old with cough": no saint is a number, so this "St." is a street's end
        nxt = _NEXT_WORD_RE.match(text, mark + 1)
        if nxt is not None and nxt.group(1).lower() in _INSTITUTION_HEADS:
            return False  # "Bayview Mem. Hospital", "St. Clinic": the abbreviation opens an institution's name
        if nxt is not None and word in _SAINT_ABBREVIATIONS:
            if text[nxt.end() : nxt.end() + 2] in ("'s", "’s"):
                return False  # "St. James's Hospital": a saint's possessive, though the saint shares a name with an eponym
            before = re.search(r"(\S+)[ \t]+\Z", text[max(0, i - 24) : i])
            prev = before.group(1) if before is not None else ""
            if prev in ("of", "at", "from", "to", "in") or (prev.islower() and not is_clinical_word(nxt.group(1))):
                return False  # "Hospital of St. Louis", "seen at St. Jude": after a lower-case word, a saint
        return nxt is not None and _starts_sentence(nxt.group(1))
    return True


def _starts_sentence(word: str) -> bool:
    """A capitalised report word or eponym ("Mild", "No", "The", "Chiari") after an abbreviation starts a
    new sentence; a place or a name does not."""
    return is_clinical_word(word) or word.lower() in EPONYMS


def sentence_ends(text: str, start: int = 0, end: int | None = None) -> list[int]:
    """Positions just after each sentence-ending mark in ``text[start:end]``."""
    end = len(text) if end is None else end
    return [m.end() for m in _CANDIDATE_END_RE.finditer(text, start, end) if _ends_sentence(text, m.start())]


def first_sentence_end(text: str, start: int, end: int) -> int | None:
    """The position of the first sentence-ending mark inside ``text[start:end]``, or None."""
    for m in _CANDIDATE_END_RE.finditer(text, start, end):
        if _ends_sentence(text, m.start()):
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
            raise DeidInvariantError(f"span [{sp.start}, {sp.end}) overlaps the previous one (ends {prev}), is empty or leaves the text (length {len(text)})")
        prev = sp.end
    prev = 0
    at = 0  # position in output
    for sp, rep in zip(spans, replacements):
        s, e = sp.start, sp.end
        n = s - prev
        if output[at : at + n] != text[prev:s]:
            raise DeidInvariantError(f"the text before offset {s} was altered")
        at += n
        if output[at : at + len(rep)] != rep:
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
