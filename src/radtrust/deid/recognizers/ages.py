"""AGE: ages over 89 in digits or words (only these are identifiers under Safe Harbor)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from radtrust.deid.allowlist import AllowList
from radtrust.deid.recognizers.base import STRONG, Candidate, Doc

# What says a number is an age: after it ("93-year-old", "93 y/o", "93 years old", "93 yrs") or before it
# ("aged 93", "Age: 93", "age of 93"). "93 years ago" is a duration, not an age.
_AGE_AFTER_RE = re.compile(
    "|".join(
        (
            r"[ \t]*-?[ \t]*(?i:years?|yrs?|y)[ \t]*-?[ \t]*(?i:old|o\.?)(?![a-z])",
            r"[ \t]*-?[ \t]*(?i:y/o|y\.o\.?|yo|yrs?|years?|y)(?![a-z])(?![ \t]*(?i:ago|later|earlier|prior|before|after|since))",
            r"[ \t]*(?i:-?year-old|-?yr-old|-?years-old)",
        )
    )
)
# digits only: "92M", "98 F", "92/F", "96yoF", and attached lower case "98f" ("92 m" with a space is a length)
_AGE_SEX_AFTER_RE = re.compile(r"(?:[ \t]*[-/]?[ \t]*(?:F|M|yoF|yoM|yF|yM)|[fm])(?![\w])")
_AGE_BEFORE_RE = re.compile(r"(?<![\w])(?i:age[ds]?|aged|age[ \t]+of|age[ \t]*/[ \t]*(?:sex|gender))[ \t]*[:=]?[ \t]*\Z")
# DICOM's Age String (PatientAge): three digits and a unit, "092Y"
_DICOM_AGE_AFTER_RE = re.compile(r"Y(?![\w])")
# Ages in words: "ninety-three", "Ninety two", "one hundred and five", "a hundred and one". Only ninety and
# up can be identifiers, so "ninety" and "hundred" are the triggers (and the pre-screen's words).
_NW_UNITS = "one two three four five six seven eight nine".split()
_NW_TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_NW_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_NW_VALUE = {w: i + 1 for i, w in enumerate(_NW_UNITS)} | {w: i + 10 for i, w in enumerate(_NW_TEENS)} | {w: 10 * (i + 2) for i, w in enumerate(_NW_TENS)} | {"hundred": 100, "a": 1}
_NW_SEP = r"(?:[ \t]*-[ \t]*|[ \t]+)"
_NW_BELOW_100 = (
    rf"(?:(?:{'|'.join(_NW_TENS)})(?:{_NW_SEP}(?:{'|'.join(_NW_UNITS)}))?|(?:{'|'.join(_NW_TEENS)})|"
    rf"(?:{'|'.join(_NW_UNITS)}))(?![a-z])"
)
_AGE_WORDS_RE = re.compile(rf"(?i:(?<![\w-])(?:(?:(?:one|a){_NW_SEP})?hundred(?![a-z])(?:{_NW_SEP}(?:and{_NW_SEP})?{_NW_BELOW_100})?|{_NW_BELOW_100}))")
AGE_WORD_TRIGGERS: frozenset[str] = frozenset(("ninety", "hundred"))
_NW_BEFORE_HUNDRED_RE = re.compile(r"(?i:(?<![\w-])(?:one|a)[ \t]*-?[ \t]*)\Z")


def _words_value(words: str) -> int:
    """The number that ``words`` (a match of the number-word pattern) spells."""
    total = 0
    for w in re.findall(r"[a-z]+", words.lower()):
        if w == "hundred":
            total = max(total, 1) * 100
        elif w != "and":
            total += _NW_VALUE[w] if w != "a" else 1
    return total


# "aged 92 days" is an infant: a smaller unit after the number undoes "aged"
_AGE_OTHER_UNIT_RE = re.compile(r"[ \t]*-?[ \t]*(?i:days?|d|weeks?|wks?|w|months?|mos?|hours?|hrs?|h|minutes?|mins?)(?![\w])")


def _is_age_context(text: str, s: int, e: int) -> bool:
    if _AGE_AFTER_RE.match(text, e) is not None:
        return True
    return _AGE_BEFORE_RE.search(text, max(0, s - 24), s) is not None and _AGE_OTHER_UNIT_RE.match(text, e) is None


def _ages(doc: Doc) -> Iterator[Candidate]:
    text = doc.text
    for s, e in doc.digits:
        run = text[s:e]
        if not (2 <= e - s <= 3 and 90 <= int(run) <= 125) or (s > 0 and (text[s - 1].isalnum() or text[s - 1] in ".,/-")):
            continue
        if text.startswith((".", ","), e) and text[e + 1 : e + 2].isdigit():
            continue  # 92.5
        if run[0] == "0":  # "092Y"
            if _DICOM_AGE_AFTER_RE.match(text, e):
                yield Candidate(s, e, "AGE", STRONG)
        elif _is_age_context(text, s, e) or _AGE_SEX_AFTER_RE.match(text, e) is not None:
            yield Candidate(s, e, "AGE", STRONG)
    end = -1
    for p in doc.at(AGE_WORD_TRIGGERS):
        if p < end:
            continue
        b = _NW_BEFORE_HUNDRED_RE.search(text, max(0, p - 8), p) if text[p : p + 7].lower() == "hundred" else None
        m = _AGE_WORDS_RE.match(text, b.start() if b else p)
        if m is None:
            continue
        end = m.end()
        if 90 <= _words_value(m.group()) <= 125 and _is_age_context(text, m.start(), m.end()):
            yield Candidate(m.start(), m.end(), "AGE", STRONG)


@dataclass(frozen=True)
class AgeRecognizer:
    """AGE: an age over 89, the number only."""

    kinds = ("AGE",)

    def find(self, doc: Doc, allow: AllowList, found: Sequence[Candidate]) -> Iterator[Candidate]:
        return _ages(doc)
