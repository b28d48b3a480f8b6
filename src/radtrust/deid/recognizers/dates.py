"""DATE: any date more specific than a year, numeric or with an English month name or one of another
Latin-script language."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from radtrust.deid.allowlist import AllowList
from radtrust.deid.bounds import MONTH_ABBREVIATIONS, MONTH_NAMES, strip_accents
from radtrust.deid.recognizers.base import MEDIUM, Candidate, Doc, matches_at

_MON_FULL = "january february march april may june july august september october november december".split()
_MON_ABBR = "jan feb mar apr jun jul aug sep sept oct nov dec".split()
_MON_ANY = rf"(?i:(?:{'|'.join(_MON_FULL)}|{'|'.join(_MON_ABBR)})(?![a-z])\.?)(?![a-z])"
# Without a year the month must look like a month, not "may" or "mar(ked)".
_MON_CAP = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
    r"JANUARY|FEBRUARY|MARCH|APRIL|MAY|JUNE|JULY|AUGUST|SEPTEMBER|OCTOBER|NOVEMBER|DECEMBER|"
    r"(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|JAN|FEB|MAR|APR|JUN|JUL|AUG|SEP|SEPT|OCT|NOV|DEC)\.?)(?![A-Za-z])"
)
_MONTH_TRIGGERS = frozenset(_MON_FULL + _MON_ABBR)
MONTH_NAME_RE = re.compile(_MON_CAP)
_DAY = r"(?:0?[1-9]|[12]\d|3[01])(?i:st|nd|rd|th)?"
_YEAR4 = r"(?:1[89]\d\d|20\d\d)"
_YEAR = rf"(?:{_YEAR4}|['’]\d\d)"
_NOT_MEASURE = r"(?![ \t]*(?:[.,]\d|mm|cm|m\b|ml|mg|%|x\b|×|o['’]?clock|:\d))"

_DATE_TEXT_RE = re.compile(
    "|".join(
        f"(?:{p})"
        for p in (
            # Jan 2, 2020 / January 2nd 2020 / Jan. 02, '20 / SEP-20-2024
            rf"\b{_MON_ANY}[ \t-]*{_DAY}(?:,|-)?[ \t]*{_YEAR}(?!\d)",
            # 2nd January 2020 / 2 Jan 2020 / 2nd of January, 2020
            rf"\b{_DAY}[ \t]*(?:(?i:of)[ \t]+)?{_MON_ANY},?[ \t]*{_YEAR}(?!\d)",
            # 02-Jan-2020 / 2/Jan/20
            rf"\b{_DAY}[-/.]{_MON_ANY}[-/.](?:{_YEAR4}|\d\d)(?!\d)",
            # 2020 Jan 02 / 2020-Jan-02
            rf"\b{_YEAR4}[ \t-]{_MON_ANY}[ \t-]{_DAY}\b",
            # January 2020 / Jan 2020 / Jan-2020 / January of 2020
            rf"\b{_MON_ANY}[ \t]*(?:,|-|of)?[ \t]*{_YEAR}(?!\d)",
            # March 3 / March 3rd (no year), and the 3rd of March / 3 March
            rf"\b{_MON_CAP}[ \t]+{_DAY}\b{_NOT_MEASURE}",
            rf"(?:\b(?i:the)[ \t]+)?\b{_DAY}[ \t]+(?:(?i:of)[ \t]+)?{_MON_CAP}",
        )
    )
)
_DATE_NUM_RE = re.compile(
    "|".join(
        f"(?:{p})"
        for p in (
            # 01/02/2020, 1/2/20, 01-02-2020, 01.02.2020 (validated below)
            r"(?<![\w./-])(?P<a>\d{1,2})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{4}|\d{2})(?![\w/]|[.-]\d)",
            # 2020-01-02, 2020/01/02, 2020.01.02 (validated below)
            r"(?<![\w./-])(?P<y>(?:1[89]|20)\d\d)(?P<sep2>[/.-])(?P<m>\d{1,2})(?P=sep2)(?P<d>\d{1,2})(?![\d/]|[.-]\d)",
            # 01/2020, 1-2020 (month and year)
            r"(?<![\w./-])(?:0?[1-9]|1[0-2])[/-](?:19|20)\d\d(?![\w/]|[.-]\d)",
            # 20200102: a compact date (a record number after a cue stays an ID: the cue is stronger evidence)
            r"(?<![\w./-])(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?![\w/]|[.-]\d)",
        )
    )
)


def _valid_numeric_date(m: re.Match[str]) -> bool:
    if m.group("a") is not None:
        a, b = int(m.group("a")), int(m.group("b"))
        return 1 <= a <= 31 and 1 <= b <= 31 and (a <= 12 or b <= 12)
    if m.group("y") is not None:
        return 1 <= int(m.group("m")) <= 12 and 1 <= int(m.group("d")) <= 31
    return True


def _dates_in(doc: Doc) -> Iterator[Candidate]:
    text = doc.text
    yield from _foreign_dates(doc)
    for m in matches_at(_DATE_NUM_RE, text, (s for s, _ in doc.digits)):
        if _valid_numeric_date(m):
            yield Candidate(m.start(), m.end(), "DATE", MEDIUM)
    seen: set[tuple[int, int]] = set()
    for p in doc.at(_MONTH_TRIGGERS):
        for m in _DATE_TEXT_RE.finditer(text, max(0, p - 20), min(len(text), p + 40)):
            if not m.start() <= p < m.end():
                continue
            s = m.start()
            if text[s : s + 4].lower() == "the ":
                s += 4
            if (s, m.end()) not in seen:
                seen.add((s, m.end()))
                yield Candidate(s, m.end(), "DATE", MEDIUM)


# Month names of other languages written in Latin script (Spanish, French, Italian, German, Dutch,
# Portuguese, Polish in the nominative and the genitive that dates use), with and without their accents,
# and their usual abbreviations. These dates are found from their digits (every date has one), so a word
# that is also English or clinical ("mars", "mai", "set", "out") only counts beside a day and a year. The
# names are :data:`~radtrust.deid.bounds.MONTH_NAMES` (the sentence splitter knows them too: "9. Dezember").
#: abbreviations that are words even after "de" ("3 de set", "7 de ago")
_WORD_MONTHS = frozenset("set out ago gen mag lip lis sie sty".split())
_ROMANCE_ORDINALS = ("er", "re", "º", "ª")
_AMBIGUOUS_MONTHS = frozenset("mars mai mei maj maja mayo marca marco set out mar dec sept ago gen lut lip lis sie sty mag".split())


def _month_alternation(words: Iterable[str]) -> str:
    forms = {w for x in words for w in (x, strip_accents(x))}
    return "|".join(sorted(forms, key=len, reverse=True))


_ANY_MONTH = (
    rf"(?:(?:{_month_alternation(MONTH_NAMES)})(?![^\W\d_])\.?"
    rf"|(?:{_month_alternation(MONTH_ABBREVIATIONS)})(?:\.|(?![^\W\d_])))"
)
# "20 de diciembre de 1995", "1er mars 2020", "9. Dezember 1997", "5 stycznia 2019", "6 déc. 1997",
# "1º de enero", "4 mei 2010": a day, the month, and perhaps a year
# "20-dic-1995", "03/okt/19": the same with dashes or slashes
_DAY_MONTH_RE = re.compile(
    rf"(?i:(?<![\w.,/-])(?:0?[1-9]|[12]\d|3[01])(?P<suffix>\.|er|re|º|ª|°|st|nd|rd|th)?"
    rf"(?:[ \t]*(?P<de>(?:de|del|of)[ \t]+)?(?P<mon>{_ANY_MONTH})(?:[ \t]*,?[ \t]*(?:(?:de|del|of)[ \t]+)?(?P<year>(?:1[89]|20)\d\d)(?!\d))?"
    rf"|(?P<sep>[-/])(?P<mon2>{_ANY_MONTH})(?P=sep)(?P<year2>(?:1[89]|20)?\d\d)(?!\d)))"
)
# "Dezember 2022", "diciembre de 1995", "décembre, 2005", "marzo 18, 2023": a month (perhaps its day) and a
# year, found from the year
_MONTH_BEFORE_YEAR_RE = re.compile(
    rf"(?i:(?<![\w-])(?P<mon>{_ANY_MONTH})[ \t]*(?:(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th|er|º)?[ \t]*)?,?[ \t]*"
    r"(?:(?:de|del|of)[ \t]+)?)\Z"
)


# cheap gates before the long alternation: the word after a day, the word before a year
_MONTH_KEYS = frozenset(strip_accents(w) for w in MONTH_NAMES + MONTH_ABBREVIATIONS)
_WORD_AFTER_DAY_RE = re.compile(r"(?i:\.|er|re|º|ª|°|st|nd|rd|th)?(?:[ \t]*(?i:(?:de|del|of)[ \t]+)?|[-/])([^\W\d_]+)")
_CONNECTORS_BEFORE_YEAR = frozenset(("de", "del", "of"))
_DAY_TOKEN_RE = re.compile(r"(?:0?[1-9]|[12]\d|3[01])(?i:st|nd|rd|th|er|º)?,?")


def _month_word_before(text: str, s: int) -> bool:
    words = text[max(0, s - 24) : s].split()
    if words and words[-1].lower() in _CONNECTORS_BEFORE_YEAR:
        words.pop()
    if words and _DAY_TOKEN_RE.fullmatch(words[-1]):  # "marzo 18, 2023"
        words.pop()
    return bool(words) and strip_accents(words[-1].rstrip(".,").lower()) in _MONTH_KEYS


def _foreign_dates(doc: Doc) -> Iterator[Candidate]:
    text = doc.text
    for s, e in doc.digits:
        if e - s <= 2:
            w = _WORD_AFTER_DAY_RE.match(text, e)
            if w is None or strip_accents(w.group(1).lower()) not in _MONTH_KEYS:
                continue
            m = _DAY_MONTH_RE.match(text, s)
            if m is None:
                continue
            if m.group("mon2") is not None:
                yield Candidate(m.start(), m.end(), "DATE", MEDIUM)
                continue
            mon = m.group("mon").rstrip(".").lower()
            # without a year: a month that is no other word, or one marked as a date by "de" or an ordinal
            # that English never writes ("4 de mayo", "1er mai", "1º de maio")
            marked = (m.group("de") or "").lower().startswith("de") or (m.group("suffix") or "").lower() in _ROMANCE_ORDINALS
            if m.group("year") is not None or (mon not in _MONTH_TRIGGERS and ((len(mon) > 3 and mon not in _AMBIGUOUS_MONTHS) or (marked and mon not in _WORD_MONTHS))):
                yield Candidate(m.start(), m.end(), "DATE", MEDIUM)
        elif e - s == 4 and text[s : s + 2] in ("18", "19", "20") and not (e < len(text) and text[e].isalnum()) and _month_word_before(text, s):
            m = _MONTH_BEFORE_YEAR_RE.search(text, max(0, s - 24), s)
            if m is not None and m.group("mon").rstrip(".").lower() not in _AMBIGUOUS_MONTHS:
                yield Candidate(m.start(), e, "DATE", MEDIUM)


def date_spans(text: str) -> list[tuple[int, int]]:
    """Where the date recognizer finds dates in ``text`` (also used to vet Presidio's DATE_TIME hits)."""
    return [(c.start, c.end) for c in _dates_in(Doc.of(text))]


def has_month_name(text: str) -> bool:
    """True if ``text`` names a month the way dates do ("March", "Jan."), not "may" or "mar"."""
    return MONTH_NAME_RE.search(text) is not None


@dataclass(frozen=True)
class DateRecognizer:
    """DATE: numeric dates and dates with a month name."""

    kinds = ("DATE",)

    def find(self, doc: Doc, allow: AllowList, found: Sequence[Candidate]) -> Iterator[Candidate]:
        return _dates_in(doc)
