"""PHONE, EMAIL and URL: telephone, fax and pager numbers, e-mail addresses and web addresses."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from radtrust.deid.allowlist import AllowList
from radtrust.deid.recognizers.base import ALPHA_RUN_RE, MEDIUM, STRONG, WEAK, Candidate, Doc, cue_regex, matches_at

_EXT = r"(?:[ \t]*[,;]?[ \t]*(?i:ext\.?|extension|x)[ \t]*\d{1,6})?"
_PHONE_RE = re.compile(
    "|".join(
        f"(?:{p})"
        for p in (
            # (555) 123-4567, 555-123-4567, 555.123.4567, +1 555 123 4567, 555 123 4567
            rf"(?<![\w+])(?<!\d[ .-])(?:\+?1[ \t.-]?)?(?:\(\d{{3}}\)[ \t.-]?|\d{{3}}[ \t.-])\d{{3}}[ \t.-]\d{{4}}(?![\d-]){_EXT}",
            # international: +44 20 7946 0958, +49 (0)30 1234567, +234 803 123 4567
            rf"(?<![\w+])\+\d{{1,3}}(?:[ \t.-]?\(?\d{{1,5}}\)?){{2,7}}(?!\d){_EXT}",
            # UK national numbers: 020 7946 0958, 07700 900123
            r"(?<![\w./-])0\d{2,4}[ \t]?\d{3,4}[ \t]?\d{3,4}(?![\w/-])",
            # seven-digit local: 555-1234
            rf"(?<![\w./-])\d{{3}}-\d{{4}}(?![\w/-]){_EXT}",
            # a trunk-prefixed area code in brackets (Australia, the Netherlands, Germany, the UK): (02) 9724 0050,
            # (021) 6685877, (0406)-812415, (03449) 78690, (01632) 960981
            rf"\(0\d{{1,4}}\)[ \t.-]?\d{{2,8}}(?:[ \t.-]\d{{2,8}}){{0,3}}(?![\w/-]|[.,]\d){_EXT}",
            # Brazil: 17 7818-7890, (11) 98765-4321
            rf"(?<![\w./-])(?:\(\d{{2}}\)|\d{{2}})[ \t]?\d{{4,5}}-\d{{4}}(?![\w/-]|[.,]\d){_EXT}",
        )
    )
)
# Shapes that are phone numbers unless a measurement or another clinical number shape claims them (WEAK
# evidence, vetoed by the allow-list's number shapes): national numbers after a trunk 0 in groups
# (France 04 15 39 15 00, Germany 03662 585178, the Netherlands 0837 783533, Australia 02 4177 7631),
# Poland's and Spain's 609 141 777 and 22 494 34 83, Brazil's 4004 123 4567, and Australia's local
# 9724 0050 (not a pair of years: 2019 2020).
_PHONE_WEAK_RE = re.compile(
    "|".join(
        f"(?:{p})"
        for p in (
            r"(?<![\w./,-])0\d{1,4}(?:[ \t.-]\d{2,8}){1,4}(?![\w/-]|[.,]\d)",
            r"(?<![\w./,-])[1-9]\d{2}[ \t]\d{3}[ \t]\d{3}(?![\w/-]|[.,]\d|[ \t]\d)",
            r"(?<![\w./,-])[1-9]\d[ \t]\d{3}[ \t]\d{2}[ \t]\d{2}(?![\w/-]|[.,]\d|[ \t]\d)",
            r"(?<![\w./,-])[1-9]\d{3}[ \t]\d{3}[ \t]\d{4}(?![\w/-]|[.,]\d|[ \t]\d)",
            r"(?<![\w./,-])(?!(?:19|20)\d\d[ \t](?:19|20)\d\d)[2-9]\d{3}[ \t]\d{4}(?![\w/-]|[.,]\d|[ \t]\d)",
        )
    )
)
_PHONE_CUES, _PHONE_TRIGGERS = cue_regex(
    (
        "phone",
        "ph",
        "tel",
        "telephone",
        "fax",
        "facsimile",
        "cell",
        "mobile",
        "pager",
        "pgr",
        "beeper",
        "bleep",
        "bleeper",
        "page",
        "paged",
        "ext",
        "extension",
        r"call[ \t]+back",
        "callback",
        "call",
        "vocera",
        "spectralink",
        "x",
    )
)
_PHONE_CUE_RE = re.compile(
    rf"(?<![\w]){_PHONE_CUES}(?![a-z])\.?[ \t]*(?i:(?:no\.?|number|#)[ \t]*)?"
    r"(?i:at|to|on)?[ \t]*[:#]?[ \t]*(\+?\(?\d+(?:(?:\)[ \t]?|[ \t.\-/])\(?\d+){0,6})(?![\w/]|[.,]\d)(?![ \t]*(?i:hours|hrs|h|am|pm|a\.m|p\.m)\b)"
)
_SPLIT_PHONE_CUE = frozenset(("page", "paged", "call", "x"))


def _phones(doc: Doc) -> Iterator[Candidate]:
    text = doc.text
    end = -1
    for s, _ in doc.digits:
        if s < end:
            continue
        m = _PHONE_RE.match(text, s - 1) if s > 0 and text[s - 1] in "(+" else None
        m = m or _PHONE_RE.match(text, s)
        if m is not None:
            end = m.end()
            if 7 <= sum(ch.isdigit() for ch in m.group()) <= 17:
                yield Candidate(m.start(), m.end(), "PHONE", MEDIUM)
            continue
        m = _PHONE_WEAK_RE.match(text, s)
        if m is not None:
            end = m.end()
            if 8 <= sum(ch.isdigit() for ch in m.group()) <= 12:
                yield Candidate(m.start(), m.end(), "PHONE", WEAK)
    for m in matches_at(_PHONE_CUE_RE, text, doc.at(_PHONE_TRIGGERS)):
        cue = ALPHA_RUN_RE.match(text, m.start())
        value = m.group(1)
        digits = sum(ch.isdigit() for ch in value)
        # "call", "page" and "x" are common words: ask for more digits after them
        need = 4 if cue and cue.group().lower() in _SPLIT_PHONE_CUE else 3
        if need <= digits <= 17 and not re.fullmatch(r"\d{1,2}[:.]\d{2}", value):
            yield Candidate(m.start(1), m.end(1), "PHONE", STRONG)


# ---------------------------------------------------------------------------------------------------
# E-mail and URLs
# ---------------------------------------------------------------------------------------------------

_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")
_TLD = "com|org|net|edu|gov|mil|int|io|info|biz|health|care|clinic|hospital|med|uk|ca|au|de|fr|nl|ch|ie|nz|za|ng|in|cn|jp|us|eu"
URL_GATE_RE = re.compile(rf"://|www\.|\.(?:{_TLD})(?![\w-])", re.IGNORECASE)
_URL_RE = re.compile(
    r"(?i:(?:https?|ftp)://[^\s<>\"')\]]+)"
    r"|(?i:www\.[a-z0-9-]+(?:\.[a-z0-9-]+)+(?:/[^\s<>\"')\]]*)?)"
    rf"|(?i:(?=[a-z0-9-]*[a-z])[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9-]+)*\.(?:{_TLD})(?![\w-])(?:/[^\s<>\"')\]]*)?)"
)
_URL_STOP = set(" \t\n\r<>\"'()[]{},;")


def _emails_urls(doc: Doc) -> Iterator[Candidate]:
    text = doc.text
    emails: list[tuple[int, int]] = []
    if "@" in text:
        for at in (i for i, ch in enumerate(text) if ch == "@"):
            s = at
            while s > 0 and (text[s - 1].isalnum() or text[s - 1] in "._+-"):
                s -= 1
            m = _EMAIL_RE.match(text, s)
            if m is not None and m.end() > at:
                emails.append(m.span())
                yield Candidate(m.start(), m.end(), "EMAIL", STRONG)
    end = -1
    for g in URL_GATE_RE.finditer(text):
        s = g.start()
        while s > 0 and text[s - 1] not in _URL_STOP:
            s -= 1
        if s < end or any(a <= s < b for a, b in emails):
            continue
        m = _URL_RE.match(text, s)
        if m is None or m.end() <= g.start():
            continue
        e = m.end()
        while e > s and text[e - 1] in ".,;:!?":
            e -= 1
        if (s > 0 and text[s - 1] in "@.-") or any(a < e and s < b for a, b in emails):
            continue
        end = e
        yield Candidate(s, e, "URL", STRONG)


@dataclass(frozen=True)
class PhoneRecognizer:
    """PHONE: telephone, fax and pager numbers, national and international."""

    kinds = ("PHONE",)

    def find(self, doc: Doc, allow: AllowList, found: Sequence[Candidate]) -> Iterator[Candidate]:
        return _phones(doc)


@dataclass(frozen=True)
class EmailUrlRecognizer:
    """EMAIL and URL: e-mail and web addresses."""

    kinds = ("EMAIL", "URL")

    def find(self, doc: Doc, allow: AllowList, found: Sequence[Candidate]) -> Iterator[Candidate]:
        return _emails_urls(doc)
