"""Replacement values for identifiers: realistic fakes of the same kind and shape, and per-patient date shifts.

Surrogates ("hiding in plain sight", Carrell et al., 2013) keep a de-identified report readable and make
any identifier the recognizers missed hard to tell from the fakes. Every choice is drawn from a random
generator seeded by HMAC-SHA256(key, patient, kind, original), so the same original of one patient always
maps to the same surrogate, different patients get different ones, and nobody without the key can map
back. Date shifting (one offset per patient, never zero) keeps the intervals between a patient's dates.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from dateutil.parser import parserinfo

#: What an age over 89 becomes: Safe Harbor allows the aggregate "90 or older". "92-year-old" reads
#: "90+-year-old"; "age 93" reads "age 90+".
AGE_SURROGATE = "90+"

_SAFE_DOMAINS = ("example.org", "example.com", "example.net")  # RFC 2606: never a real host
_PARSER_INFO = parserinfo()
_MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_FULL = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")
_WEEKDAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WEEKDAY_FULL = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


# ---------------------------------------------------------------------------------------------------
# Dates: parse the matched text into a date plus a template, shift, write back in the same format
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Piece:
    role: str  # literal, day, month, month_name, year4, year2, weekday
    text: str


@dataclass(frozen=True)
class ParsedDate:
    """A date found in text and the template of how it was written."""

    value: date
    pieces: tuple[_Piece, ...]
    has_day: bool


_DATE_TOKEN = re.compile(r"\d+|[A-Za-z]+|[^\dA-Za-z]+")
_ORDINAL = {"st", "nd", "rd", "th"}


def _style(text: str) -> str:
    return "upper" if text.isupper() else "lower" if text.islower() else "title"


def _cased(word: str, style: str) -> str:
    return word.upper() if style == "upper" else word.lower() if style == "lower" else word


def parse_date(text: str) -> ParsedDate | None:
    """Parse a date as the recognizers find it (01/02/2020, Jan 2nd, 2020, 02-Jan-20, January 2020, the 3rd
    of March), or None. Month and weekday names and two-digit years go through dateutil's ``parserinfo``.

    Numeric dates are read month-first (US) unless the first number cannot be a month; dotted dates are read
    day-first (European) unless the second cannot be a month. A date without a year is placed in 2000 (a leap
    year, so 29 February parses); only its day and month are written back.
    """
    if re.fullmatch(r"(?:19|20)\d{6}", text):  # compact 20200816
        text = f"{text[:4]}\x00{text[4:6]}\x00{text[6:]}"
    toks = _DATE_TOKEN.findall(text)
    pieces: list[list[str]] = [["literal", "" if t == "\x00" else t] for t in toks]
    month_idx = [i for i, t in enumerate(toks) if t.isalpha() and _PARSER_INFO.month(t) is not None and len(t) >= 3]
    day = month = year = None
    has_day = True
    for i, t in enumerate(toks):
        if t.isalpha() and _PARSER_INFO.weekday(t) is not None and len(t) >= 3 and i not in month_idx:
            pieces[i][0] = "weekday"
    digits = [i for i, t in enumerate(toks) if t.isdigit()]
    if len(month_idx) > 1:
        return None
    if month_idx:
        mi = month_idx[0]
        month = _PARSER_INFO.month(toks[mi])
        pieces[mi][0] = "month_name"
        for i in digits:
            t = toks[i]
            apostrophe = i > 0 and toks[i - 1].endswith(("'", "’"))
            if len(t) == 4:
                year = int(t)
                pieces[i][0] = "year4"
            elif apostrophe or (day is not None and len(t) == 2 and year is None):
                year = _PARSER_INFO.convertyear(int(t))
                pieces[i][0] = "year2"
            elif day is None and 1 <= int(t) <= 31:
                day = int(t)
                pieces[i][0] = "day"
            else:
                return None
        if day is None:
            has_day = False
            day = 15
    elif len(digits) == 3:
        a, b, c = (toks[i] for i in digits)
        sep = toks[digits[0] + 1] if digits[0] + 1 < len(toks) else ""
        if len(a) == 4:
            order = ("year", "month", "day")
        elif sep.strip() == "." and int(b) <= 12:
            order = ("day", "month", "year")
        elif int(a) > 12:
            order = ("day", "month", "year")
        else:
            order = ("month", "day", "year")
        values = dict(zip(order, (a, b, c)))
        day, month = int(values["day"]), int(values["month"])
        y = values["year"]
        year = int(y) if len(y) == 4 else _PARSER_INFO.convertyear(int(y))
        for i, role in zip(digits, order):
            pieces[i][0] = role if role != "year" else ("year4" if len(toks[i]) == 4 else "year2")
    elif len(digits) == 2 and not month_idx:
        m, y = (toks[i] for i in digits)
        if len(y) != 4:
            return None
        month, year, day, has_day = int(m), int(y), 15, False
        pieces[digits[0]][0] = "month"
        pieces[digits[1]][0] = "year4"
    else:
        return None
    if year is None:
        year = 2000
        if not has_day:
            return None
    try:
        value = date(year, month, day)
    except ValueError:
        return None
    return ParsedDate(value, tuple(_Piece(r, t) for r, t in pieces), has_day)


def format_like(parsed: ParsedDate, value: date) -> str:
    """Write ``value`` the way ``parsed`` was written: same order, separators, padding, month spelling,
    case, ordinal suffixes and year width."""
    out: list[str] = []
    for piece in parsed.pieces:
        role, t = piece.role, piece.text
        if role == "day":
            out.append(f"{value.day:02d}" if len(t) == 2 else str(value.day))
        elif role == "month":
            out.append(f"{value.month:02d}" if len(t) == 2 else str(value.month))
        elif role == "year4":
            out.append(f"{value.year:04d}")
        elif role == "year2":
            out.append(f"{value.year % 100:02d}")
        elif role == "month_name":
            full = len(t) > 4 or (t.lower() == "may")
            name = _MONTH_FULL[value.month - 1] if full else _MONTH_ABBR[value.month - 1]
            if not full and t.lower() == "sept" and value.month == 9:
                name = "Sept"
            out.append(_cased(name, _style(t)))
        elif role == "weekday":
            full = len(t) > 3
            name = (_WEEKDAY_FULL if full else _WEEKDAY_ABBR)[value.weekday()]
            out.append(_cased(name, _style(t)))
        elif t.lower() in _ORDINAL and out and out[-1].isdigit():
            out.append(_cased(_ordinal_suffix(int(out[-1])), _style(t)))
        else:
            out.append(t)
    return "".join(out)


def _ordinal_suffix(n: int) -> str:
    if 11 <= n % 100 <= 13:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def shift_date_text(text: str, days: int) -> str | None:
    """``text`` (a date) moved by ``days`` (never 0) and written in its own format; None if it cannot be
    parsed.

    A month-and-year date moves by the same shift in whole months (``round(days / 30.44)``, at least one),
    so two month-year dates of a patient keep their distance in months and a small shift still changes
    the month. A date without a year keeps no year; in the rare case that the shift lands on the same day
    of another year, it moves one day further, so the written date always changes."""
    parsed = parse_date(text)
    if parsed is None or days == 0:
        return None
    try:
        if not parsed.has_day:
            months = round(days / 30.4375) or (1 if days > 0 else -1)
            index = parsed.value.year * 12 + parsed.value.month - 1 + months
            return format_like(parsed, date(index // 12, index % 12 + 1, 1))
        out = format_like(parsed, parsed.value + timedelta(days=days))
        if out == text:
            out = format_like(parsed, parsed.value + timedelta(days=days + (1 if days > 0 else -1)))
        return out
    except (OverflowError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------------
# Keyed generator
# ---------------------------------------------------------------------------------------------------


# Faker's en_US data (names, city suffixes, words) is drawn from with our own keyed generator: calling a
# Faker instance per value (seed_instance, weighted choice) costs ten times more for the same result.
@lru_cache(maxsize=1)
def _word_list() -> tuple[str, ...]:
    from faker.providers.lorem.en_US import Provider

    return tuple(w for w in Provider.word_list if w.isalpha() and len(w) > 3)


@lru_cache(maxsize=1)
def _city_suffixes() -> tuple[str, ...]:
    from faker.providers.address.en_US import Provider

    return tuple(Provider.city_suffixes)


def _city(rng: random.Random) -> str:
    return rng.choice(_last_names()) + rng.choice(_city_suffixes())


_GENERIC_INSTITUTION = frozenset(
    "hospital hospitals medical center centre clinic clinics health system healthcare care imaging institute infirmary "
    "general regional memorial university radiology associates group services children's cancer of the and for at "
    "st. st saint foundation trust nhs diagnostics partners network".split()
)
_STREET_KEEP = re.compile(
    r"(?i)^(?:street|st|avenue|ave|av|road|rd|boulevard|blvd|drive|dr|lane|ln|way|court|ct|place|pl|terrace|ter|parkway|"
    r"pkwy|highway|hwy|circle|cir|square|sq|trail|trl|close|crescent|cres|row|alley|plaza|loop|pike|path|walk|mews|"
    r"gardens|grove|park|ridge|heights|crossing|route|rte|apt|apartment|suite|ste|unit|bldg|building|floor|fl|room|rm|"
    r"flat|po|p|o|box|post|office|n|s|e|w|ne|nw|se|sw|north|south|east|west)$"
)


class SurrogateGenerator:
    """Makes surrogates and date shifts from a secret key; holds no text between calls."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _seed(self, *parts: str) -> int:
        msg = "\x1f".join(parts).encode("utf-8")
        return int.from_bytes(hmac.new(self._key, msg, hashlib.sha256).digest()[:8], "big")

    def _rng(self, *parts: str) -> random.Random:
        return random.Random(self._seed(*parts))

    def date_shift_days(self, patient_id: str, max_days: int) -> int:
        """This patient's shift in days: in [-max_days, -1] ∪ [1, max_days], from HMAC(key, patient)."""
        n = self._seed("date-shift", patient_id) % (2 * max_days)
        return n - max_days if n < max_days else n - max_days + 1

    # -- per kind --------------------------------------------------------------------------------

    def surrogate(self, kind: str, original: str, patient_id: str) -> str:
        """A fake value of ``kind`` shaped like ``original``, fixed for (patient, original)."""
        maker = getattr(self, f"_{kind.lower()}", None)
        out = maker(original, patient_id) if maker is not None else self._scramble(original, patient_id, kind)
        if out == original:  # vanishingly rare; never hand an identifier back
            out = self._scramble(original, patient_id, kind + "#2")
        return out if out != original else f"[{kind}]"

    def _name(self, original: str, patient_id: str) -> str:
        # word by word, so "Smith, John", "John Smith" and "SMITH" of one patient share their surrogates
        return re.sub(r"[^\W\d_]+(?:['’][^\W\d_]+)?", lambda m: self._name_word(m.group(), patient_id), original)

    def _name_word(self, word: str, patient_id: str) -> str:
        if len(word) == 1:
            rng = self._rng(patient_id, "NAME-initial", word.upper())
            letter = rng.choice([c for c in "ABCDEFGHIJKLMNOPRSTW" if c != word.upper()])
            return letter if word.isupper() else letter.lower()
        if word.lower() in {"de", "da", "del", "della", "der", "den", "di", "du", "van", "von", "la", "le", "bin", "al", "el"}:
            return word
        first = word.lower() in _first_name_set()
        pool = _first_names() if first else _last_names()
        rng = self._rng(patient_id, "NAME", word.lower())
        new = rng.choice(pool)
        for _attempt in range(5):
            if new.lower() != word.lower():
                break
            new = rng.choice(pool)
        return new.upper() if word.isupper() and len(word) > 1 else new.lower() if word.islower() else new

    def _date(self, original: str, patient_id: str) -> str:
        days = self._rng(patient_id, "DATE", original.lower()).randint(1, 730)
        return shift_date_text(original, days - 366 if days <= 365 else days - 365) or "[DATE]"

    def _age(self, original: str, patient_id: str) -> str:
        return AGE_SURROGATE

    def _phone(self, original: str, patient_id: str) -> str:
        return self._scramble(original, patient_id, "PHONE", letters=False)

    def _id(self, original: str, patient_id: str) -> str:
        return self._scramble(original, patient_id, "ID")

    def _email(self, original: str, patient_id: str) -> str:
        rng = self._rng(patient_id, "EMAIL", original.lower())
        first, last = rng.choice(_first_names()).lower(), rng.choice(_last_names()).lower()
        return f"{first}.{last}@{rng.choice(_SAFE_DOMAINS)}"

    def _url(self, original: str, patient_id: str) -> str:
        rng = self._rng(patient_id, "URL", original.lower())
        slug = re.sub(r"[^a-z0-9-]", "", f"{rng.choice(_last_names())}-{rng.choice(_word_list())}".lower())
        scheme = re.match(r"(?i)^[a-z]+://", original)
        www = "www." if re.match(r"(?i)^(?:[a-z]+://)?www\.", original) else ""
        path = "/" + rng.choice(_word_list()) if re.search(r"\w/\S", original) else ""
        return f"{scheme.group() if scheme else ''}{www}{slug}.{rng.choice(_SAFE_DOMAINS)}{path}"

    def _address(self, original: str, patient_id: str) -> str:
        # numbers and postcode characters scrambled; street, city names replaced; suffixes and states kept
        rng = self._rng(patient_id, "ADDRESS", original.lower())

        def word(m: re.Match[str]) -> str:
            w = m.group()
            if _STREET_KEEP.match(w) or (w.isupper() and len(w) == 2 and w.isalpha()):
                return w  # US state abbreviations and street types are not identifiers
            if any(ch.isdigit() for ch in w):
                return self._scramble(w, patient_id, "ADDRESS")
            if w.isupper() and len(w) <= 3:
                return self._scramble(w, patient_id, "ADDRESS")
            new = rng.choice(_last_names()) if rng.random() < 0.6 else _city(rng)
            return new.upper() if w.isupper() else new

        return re.sub(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?", word, original)

    def _institution(self, original: str, patient_id: str) -> str:
        rng = self._rng(patient_id, "INSTITUTION", original.lower())
        words = original.split()
        replaced = False
        out = []
        for w in words:
            if w.lower().strip(",.") in _GENERIC_INSTITUTION:
                out.append(w)
            elif not replaced:
                new = rng.choice(_last_names())
                out.append(new.upper() if w.isupper() else new)
                replaced = True
            # further name words are dropped: "Kaiser Permanente" -> "Holt Medical Center"
        if not replaced:
            out.insert(0, rng.choice(_last_names()))
        if all(w.lower().strip(",.") not in _GENERIC_INSTITUTION - {"of", "the", "and", "for", "at", "st.", "st", "saint"} for w in out):
            out.append("Medical Center")
        return " ".join(out)

    def _scramble(self, original: str, patient_id: str, salt: str, letters: bool = True) -> str:
        """Same shape, new characters: digits stay digits (a leading one stays non-zero), letters stay
        letters of the same case; separators and punctuation are kept."""
        rng = self._rng(patient_id, salt, original)
        out = []
        first_digit = True
        for ch in original:
            if ch.isdigit():
                out.append(str(rng.randint(1, 9) if first_digit else rng.randint(0, 9)))
                first_digit = False
            elif letters and ch.isascii() and ch.isalpha():
                c = chr(rng.randint(65, 90))
                out.append(c if ch.isupper() else c.lower())
            else:
                out.append(ch)
        return "".join(out)


@lru_cache(maxsize=1)
def _first_names() -> list[str]:
    from faker.providers.person.en_US import Provider

    return list(Provider.first_names)


@lru_cache(maxsize=1)
def _first_name_set() -> frozenset[str]:
    return frozenset(n.lower() for n in _first_names())


@lru_cache(maxsize=1)
def _last_names() -> list[str]:
    from faker.providers.person.en_US import Provider

    return list(Provider.last_names)
