"""ID: record numbers and the other numbers that identify a person (SSN, Medicare and national health
numbers, DICOM UIDs, accession numbers after a cue)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from radtrust.deid.allowlist import AllowList
from radtrust.deid.recognizers.base import MEDIUM, STRONG, WEAK, Candidate, Doc, cue_regex, matches_at

_ID_CUES, _ID_TRIGGERS = cue_regex(
    (
        "mrn",
        r"mr[ \t]*#",
        r"mr[ \t]*no\.?",
        r"mr[ \t]*number",
        r"medical[ \t]+record(?:[ \t]+(?:number|no\.?|#|num))?",
        r"med[ \t]+rec(?:[ \t]+(?:number|no\.?|#|num))?",
        r"record[ \t]+(?:number|no\.?|#)",
        r"hospital[ \t]+(?:number|no\.?|#)",
        r"acc(?:ession)?(?:[ \t]*(?:#|no\.?|number|num))?",
        "accn",
        "acc#",
        r"study[ \t]*(?:id|#|no\.?|number|uid)",
        r"exam[ \t]*(?:id|#|no\.?|number)",
        r"encounter(?:[ \t]*(?:id|#|no\.?|number|num))?",
        r"enc[ \t]*#",
        r"visit[ \t]*(?:id|#|no\.?|number)",
        r"account(?:[ \t]*(?:id|#|no\.?|number|num))?",
        r"acct(?:[ \t]*(?:#|no\.?|number))?",
        r"order[ \t]*(?:id|#|no\.?|number|num)",
        r"requisition(?:[ \t]*(?:#|no\.?|number))?",
        r"req[ \t]*#",
        "ssn",
        r"ss[ \t]*#",
        r"social[ \t]+security(?:[ \t]+(?:number|no\.?|#))?",
        r"serial(?:[ \t]*(?:#|no\.?|number|num))?",
        "s/n",
        r"device[ \t]*(?:id|serial(?:[ \t]*(?:#|no\.?|number))?)",
        r"lot[ \t]*(?:#|no\.?|number)",
        r"patient[ \t]*(?:id|#|no\.?|number)",
        r"pt[ \t]*(?:id|#)",
        "pid",
        r"id(?:[ \t]*#)?",
        "identifier",
        r"member[ \t]*(?:id|#|number)",
        r"policy[ \t]*(?:#|no\.?|number)",
        r"insurance[ \t]*(?:id|#|no\.?|number)",
        r"health[ \t]*plan[ \t]*(?:id|#|no\.?|number)",
        r"beneficiary[ \t]*(?:id|#|no\.?|number)",
        r"licen[cs]e[ \t]*(?:#|no\.?|number)",
        r"dl[ \t]*#",
        "npi",
        r"dea(?:[ \t]*#)?",
        r"nhs[ \t]*(?:number|no\.?|#)",
        r"case[ \t]*(?:id|#|no\.?|number)",
        r"specimen[ \t]*(?:id|#|no\.?|number)",
        r"certificate[ \t]*(?:#|no\.?|number)",
        r"registration[ \t]*(?:#|no\.?|number)",
        r"unit[ \t]*(?:#|no\.?|number)",
        r"ref(?:erence)?[ \t]*(?:#|no\.?|number)?",
        r"claim[ \t]*(?:#|no\.?|number)",
        r"tracking[ \t]*(?:#|no\.?|number)",
        r"study[ \t]+instance[ \t]+uid",
        r"series[ \t]+instance[ \t]+uid",
        r"sop[ \t]+instance[ \t]+uid",
        "studyinstanceuid",
        "seriesinstanceuid",
        "sopinstanceuid",
        "uid",
        r"nhs(?=[ \t]*:)",
        r"ihi[ \t]*(?:#|no\.?|number)?",
        r"ur[ \t]*(?:#|no\.?|number)",
        r"urn(?=[ \t]*[:#])",
        r"hosp(?:ital)?[ \t]*(?:#|no\.?|number)",
        r"chart[ \t]*(?:#|no\.?|number)",
        r"health[ \t]+card(?:[ \t]*(?:#|no\.?|number))?",
        "hcn",
        "ohip",
        r"passport(?:[ \t]*(?:#|no\.?|number))?",
        r"medicare[ \t]+beneficiary[ \t]+(?:identifier|id|number)",
    )
)
_ID_UPPER_CUES = ("FIN", "CSN", "HAR", "VIN", "SN", "CHI", "UPI", "EMPI", "UR", "URN", "SIN", "MBI")
# a code, and the digit groups that follow it ("SSN 128 09 5747", "NHS: 943 476 5919"); a group never ends
# in a decimal point ("ID 1234 12.5 cm")
_ID_VALUE = r"[A-Za-z0-9](?:[A-Za-z0-9]|[-/.:](?=[A-Za-z0-9]))*(?:[ \t]\d{2,}(?![\w]|[.,]\d))*"
ID_CUE_RE = re.compile(rf"(?<![\w])(?:{_ID_CUES}|{'|'.join(_ID_UPPER_CUES)})(?![a-z])\.?[ \t]*(?i:is|was|of)?[ \t]*[:#=]?[ \t]*#?[ \t]*({_ID_VALUE})")
_ID_ALL_TRIGGERS = _ID_TRIGGERS | {c.lower() for c in _ID_UPPER_CUES}
DOB_CUE_RE = re.compile(r"(?i:dob|d\.o\.b\.?|date[ \t]+of[ \t]+birth|born)[ \t]*[:#=]?[ \t]*\d")
NAME_LABEL_TRIGGERS = _ID_ALL_TRIGGERS | {"dob", "d", "date", "born"}
# a bare record number: "#10000000", "# 4455667" (five digits or more: "view #2" is none)
RECORD_NUMBER_RE = re.compile(r"(?<![\w#])#[ \t]*\d{5,}(?![\w])")
_SSN_RE = re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")
# Australia's Medicare number, ten digits and an issue number written "2520 42231 8": the last group is one
# digit, which the general value leaves out ("MRN 12345678 2 views")
_MEDICARE_TRIGGERS = frozenset(("medicare",))
_MEDICARE_RE = re.compile(r"(?i:medicare)(?:[ \t]*(?i:card|no\.?|number|#)){0,2}[ \t]*[:#]?[ \t]*(\d{4}[ \t-]?\d{5}[ \t-]?\d(?:[ \t/-]?\d)?)(?![\w]|[.,]\d)")
# A DICOM UID without its cue: dot-separated numbers from a registered root ("1.2.840.10008...",
# "1.3.6.1...", "2.25...") or long enough that nothing else has its shape (a version number has three parts).
# (Components should have no leading zeros; sloppy writers give them some, so any digits count.)
_UID_RE = re.compile(r"(?<![\w.])[012](?:\.\d+){3,}(?![\w]|\.\d)")
# Numbers in the grouping of a national number, without a cue: a US SSN with spaces ("366 31 0973") and an
# Australian Medicare number ("6236 88174 2"). Weak evidence: clinical number shapes veto them.
_GROUPED_ID_RE = re.compile(r"(?<![\w./,-])(?:\d{3}[ \t]\d{2}[ \t]\d{4}|[2-6]\d{3}[ \t]\d{5}[ \t]\d)(?![\w/-]|[.,]\d|[ \t]\d)")
_LONG_DIGITS_RE = re.compile(r"(?<![\w.,/])\d{2,}(?:[-.]\d{2,}){0,4}(?![\w/]|[.,]\d)")
_ALNUM_ID_RE = re.compile(r"(?<![\w.-])(?=[A-Za-z0-9-]*[A-Za-z])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*(?![\w-])")
# "#A18512445": a number sign directly before a code
_HASH_ID_RE = re.compile(r"#[ \t]?([A-Za-z]{0,4}\d[\dA-Za-z-]{3,})(?![\w-])")


def _ids(doc: Doc) -> Iterator[Candidate]:
    text = doc.text
    m: re.Match[str] | None  # loop matches and optional ones alike
    for m in matches_at(ID_CUE_RE, text, doc.at(_ID_ALL_TRIGGERS)):
        value = m.group(1)
        if sum(ch.isdigit() for ch in value) >= 2 and len(value) >= 3:
            yield Candidate(m.start(1), m.end(1), "ID", STRONG)
    for m in matches_at(_MEDICARE_RE, text, doc.at(_MEDICARE_TRIGGERS)):
        yield Candidate(m.start(1), m.end(1), "ID", STRONG)
    end_uid = -1
    for s, e in doc.digits:
        if e - s in (3, 4) and s >= end_uid:
            m = _GROUPED_ID_RE.match(text, s)
            if m is not None:
                end_uid = m.end()
                yield Candidate(m.start(), m.end(), "ID", WEAK)
                continue
        if s >= end_uid and text[s] in "012" and text.startswith(".", s + 1):
            m = _UID_RE.match(text, s)
            if m is not None:
                end_uid = m.end()
                uid = m.group()
                if uid.startswith(("1.2.", "1.3.6.1.", "2.25.", "2.16.")) or (uid.count(".") >= 4 and len(uid) >= 16):
                    yield Candidate(m.start(), m.end(), "ID", MEDIUM)
    if "#" in text:
        for m in _HASH_ID_RE.finditer(text):
            if sum(ch.isdigit() for ch in m.group(1)) >= 4:
                yield Candidate(m.start(1), m.end(1), "ID", MEDIUM)
    end_digits = end_token = -1
    for s, e in doc.digits:
        if e - s >= 3 and s >= end_digits:
            m = _SSN_RE.match(text, s)
            if m is not None:
                yield Candidate(m.start(), m.end(), "ID", STRONG)
        if s >= end_digits:
            m = _LONG_DIGITS_RE.match(text, s)
            if m is not None:
                end_digits = m.end()
                if sum(ch.isdigit() for ch in m.group()) >= 6:
                    yield Candidate(m.start(), m.end(), "ID", WEAK)
        # the alphanumeric token holding this digit run ("RAD2020-000123", "A12345678")
        ts = s
        while ts > 0 and (text[ts - 1].isalnum() or (text[ts - 1] == "-" and ts > 1 and text[ts - 2].isalnum())):
            ts -= 1
        if ts < end_token:
            continue
        m = _ALNUM_ID_RE.match(text, ts)
        if m is not None:
            end_token = m.end()
            if sum(ch.isdigit() for ch in m.group()) >= 5:
                yield Candidate(m.start(), m.end(), "ID", WEAK)


@dataclass(frozen=True)
class IdRecognizer:
    """ID: record, account, health-service and device numbers and UIDs."""

    kinds = ("ID",)

    def find(self, doc: Doc, allow: AllowList, found: Sequence[Candidate]) -> Iterator[Candidate]:
        return _ids(doc)
