"""Rule-based recognizers for the HIPAA Safe-Harbor identifiers found in radiology reports.

Each recognizer is a few compiled regular expressions plus a little context logic; together they return
*candidates* with a strength, and :func:`resolve` applies the allow-list and merges them into disjoint
spans. Context-driven name finding (titles, credentials, cue phrases, "Last, First", header fields)
follows the rule-based de-identifiers "Scrub" (Sweeney, 1996) and "deid" (Neamatullah et al., 2008), with
a small first-name / surname dictionary for names that appear without any cue.

Speed: a regex tried at every character of a report is what makes rule-based scrubbers slow. Here most
expressions are tried only where a trigger sits (a cue word, a month name, a digit run, a keyword), found
by one pass that indexes the words and digit runs of the text; the few that scan the whole text start
with a character class, which lets the regex engine skip ahead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from radtrust.deid.allowlist import EPONYM_HEADS, LETTER_WORDS, AllowList, inside_clinical_code, normalise, touches_protected
from radtrust.deid.bounds import ABBREVIATIONS, MONTH_ABBREVIATIONS, MONTH_NAMES, bound, sentence_ends, strip_accents

#: The identifier kinds, in the order used for reporting.
KINDS: tuple[str, ...] = ("NAME", "DATE", "AGE", "PHONE", "EMAIL", "URL", "ID", "ADDRESS", "INSTITUTION")

#: When overlapping candidates of different kinds tie on length, the earlier kind names the merged span.
_KIND_PRIORITY = {k: i for i, k in enumerate(("EMAIL", "URL", "DATE", "PHONE", "AGE", "ID", "ADDRESS", "INSTITUTION", "NAME"))}

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

_ALPHA_RUN_RE = re.compile(r"[A-Za-z]+")
_DIGIT_RUN_RE = re.compile(r"\d+")


@dataclass
class _Doc:
    """A text plus the positions of its (lower-cased) letter runs and its digit runs."""

    text: str
    words: dict[str, list[int]] = field(default_factory=dict)
    digits: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def of(cls, text: str) -> _Doc:
        doc = cls(text)
        words = doc.words
        for m in _ALPHA_RUN_RE.finditer(text):
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


def _matches_at(rx: re.Pattern[str], text: str, positions: Iterable[int]) -> Iterator[re.Match[str]]:
    """``rx.match`` at each position, in order, skipping positions inside an earlier match."""
    end = -1
    for p in positions:
        if p < end:
            continue
        m = rx.match(text, p)
        if m is not None and m.end() > m.start():
            end = m.end()
            yield m


def _cue_regex(frags: Sequence[str]) -> tuple[str, frozenset[str]]:
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


# ---------------------------------------------------------------------------------------------------
# Name building blocks
# ---------------------------------------------------------------------------------------------------

# Python's re has no \p{Lu}: Latin-1 and Latin Extended-A/B/Additional cover the names we expect (Müller,
# Łukasz, Nguyễn). The extended blocks mix cases; counting them as both is harmless here.
_UP = "A-ZÀ-ÖØ-Þ\u0100-\u024f\u1e00-\u1eff"
_LO = "a-zß-öø-ÿ\u0100-\u024f\u1e00-\u1eff"
_TITLE_PART = rf"[{_UP}](?:['’][{_UP}])?[{_LO}]+(?:[{_UP}][{_LO}]+)?(?:['’][{_UP}][{_LO}]+)?"
_UPPER_PART = rf"[{_UP}](?:['’][{_UP}])?[{_UP}]+(?:['’][{_UP}]{{2,}})?"
# After the first capital: the rest of a title-case word (hyphenated parts may be lower-case: "Min-jun")
# or of an upper-case word. Written this way a word starts with a character class, which the regex
# engine can scan for quickly.
_TITLE_REST = rf"(?:['’][{_UP}])?[{_LO}]+(?:[{_UP}][{_LO}]+)?(?:['’][{_UP}][{_LO}]+)?(?:-(?:{_TITLE_PART}|[{_LO}]{{2,}}))*"
_UPPER_REST = rf"(?:['’][{_UP}])?[{_UP}]+(?:['’][{_UP}]{{2,}})?(?:-{_UPPER_PART})*"
# a title is never a name word ("Dr. Weber, DR. De Luca" is two names, not "Weber, DR")
_NOT_TITLE = "".join(rf"(?<!\b{t})" for t in ("Dr", "DR", "Mr", "MR", "Ms", "MS", "Mx", "Drs", "Mrs", "MRS", "Prof", "PROF"))
_WORD_TAIL = rf"(?![{_UP}{_LO}\d]){_NOT_TITLE}"
_WORD = rf"[{_UP}](?:{_TITLE_REST}|{_UPPER_REST}){_WORD_TAIL}"
# the same, anchored: not inside another word
_WORD_START = rf"[{_UP}](?<![\w'’-][{_UP}])(?:{_TITLE_REST}|{_UPPER_REST}){_WORD_TAIL}"
_INITIAL = rf"[{_UP}]\.(?: ?[{_UP}]\.)*"
# Irish surnames put a capitalised particle before the name ("Ó Slámáin", "O Fearchair", "Mac an Aba", "Ní
# Bhriain", "Nic Giolla", "Uí Néill"); "Mac" and "Mc" alone are also joined ("Mac Carthaigh").
_PARTICLE = (
    r"(?:(?i:de|da|del|della|der|den|di|du|do|dos|das|des|die|het|van|von|vom|zu|la|le|bin|binti|ibn|al|el|ter|ten)|['’]t|y"
    r"|(?:Mac|MAC|Mc|MC|Nic|NIC)(?: an| AN| Giolla| GIOLLA)?|Ó|O|Ní|NÍ|Uí|UÍ|Ua|UA)"
)
_PARTICLES = rf"(?:{_PARTICLE} )*"
# what closes a field after a name: a line end, a wide gap, a bar or semicolon, a record label
_FIELD_CLOSE = r"[ \t]*(?:\r?\n|$|\||;|\.(?=\s|$))|[ \t]{2,}|[ \t]+(?:MRN|DOB|ID)(?![\w])"
_FIELD_CLOSE_RE = re.compile(_FIELD_CLOSE)
# A name: up to four words, with initials and particles in between ("John A. Smith", "Juan de la Cruz").
_NAME_SEQ = (
    rf"(?:{_INITIAL}[ -]?)?{_PARTICLES}{_WORD}"
    rf"(?: (?:(?:{_INITIAL}|[{_UP}](?= [{_UP}])) ?)?{_PARTICLES}{_WORD}){{0,3}}"
    rf"(?: [{_UP}]\.?(?![\w.]))?"
    # a Dutch name sorted by surname puts its particle last where it closes the field: "Dussen van", "Bourgondië, van"
    rf"(?:,? (?:van|von|de|der|den|ten|ter)(?: (?:der|den|de|het))?(?={_FIELD_CLOSE}))?"
)
# "Last, First M." (also "SMITH, JOHN A", "von Braun, Craig E.") and DICOM's "LAST^FIRST^MIDDLE"
# two surnames are common (Spanish "Bermudez Coronado, Francisca")
# a credential after the comma is none of it ("Nathalie LOMBARD, MBBS")
_NOT_CRED = r"(?!(?:MD|DO|RN|PA|NP|MBBS|MBChB|FRCR|FRCPC|FRANZCR|FRCP|FRCS|PhD|PHD|DNP|RGN|MSc|BSc)(?![\w]))"
# Two surnames only where the name closes its field: "Dr. Aysevim Safak, Lake Eric Regional Hospital" is a
# name and an institution, not "Safak, Lake"
_LAST_FIRST = (
    rf"(?:{_PARTICLES}{_WORD} {_PARTICLES}{_WORD} ?, ?{_NOT_CRED}(?:{_INITIAL}-)?{_WORD}(?: (?:{_INITIAL}|[{_UP}](?![\w.])))?"
    rf"(?! ?[{_UP}{_LO}])|{_PARTICLES}{_WORD}(?:,? (?:van|von|de|der|den|ten|ter)(?: (?:der|den|de|het))?)? ?, ?{_NOT_CRED}(?:{_INITIAL}-)?{_WORD}(?: (?:{_INITIAL}|[{_UP}](?![\w.])|{_WORD})){{0,2}})"
)
_DICOM_NAME = rf"{_PARTICLES}{_WORD}(?:\^(?:{_PARTICLES}{_WORD}|[{_UP}]\.?)){{1,3}}\^*"
_NAME_ANY = rf"(?:{_DICOM_NAME}|{_LAST_FIRST}|{_NAME_SEQ})"
_NAME_ANY_RE = re.compile(_NAME_ANY)

# a title is a word of its own: "Drewes" starts with no "Dr"
_TITLES = r"(?:Dr|DR|Drs|Doctor|DOCTOR|Mr|Mrs|MRS|Ms|Mx|Miss|MISS|Prof|PROF|Professor|Sr|Rev)(?:\.|(?![\w]))|(?:MR|MS|dr|mr|mrs|ms)\."
_TITLE_WORDS = frozenset("dr drs doctor mr mrs ms mx miss prof professor sr rev".split())
_TITLE_RE = re.compile(rf"(?<![\w.])(?:{_TITLES})[ \t]*({_NAME_ANY})")
_TITLE_LOWER_RE = re.compile(r"(?<![\w.])(?:dr|mr|mrs|ms|prof)\.?[ \t]+([a-z][a-z'’-]+(?:[ \t]+[a-z][a-z'’-]+)?)")

_CREDENTIALS = (
    r"M\.?D\.?|D\.?O\.?|R\.?N\.?|RT[ \t]*\(\w+\)(?:[ \t]*\(\w+\))*|RTT|RT|PA-C|PA|N\.?P\.?|MBBS|MBChB|MB|FRCR|FRCPC|FRANZCR|"
    r"Ph\.?D\.?|PHD|DNP|CRNA|RDMS|RVT|RDCS|RCS|CNMT|ARRT|RRA|FACR|MPH|LPN|CNP|APRN|FNP|FNP-C|ACNP|DMD|DDS|MSN|BSN|CNM|RPA|"
    # British and Irish nursing and college post-nominals
    r"RGN|RMN|RSCN|SRN|MRCP|MRCPI|FRCP|FRCPI|FRCS|FRCSI|MRCS|FFR|FFRRCSI|FRCPath|MSc|BSc"
)
_CRED_TRIGGERS = frozenset(
    "md m do d rn r rt rtt pa np n mbbs mbchb mb frcr frcpc franzcr phd ph dnp crna rdms rvt rdcs rcs cnmt arrt rra facr "
    "mph lpn cnp aprn fnp acnp dmd dds msn bsn cnm rpa rgn rmn rscn srn mrcp mrcpi frcp frcpi frcs frcsi mrcs ffr ffrrcsi "
    "frcpath msc bsc".split()
)
# PA and DO are also words of reports ("PA and lateral", "do not"): only after a comma. The credential is
# found first and the name read backwards from it.
_CRED_ANCHOR_RE = re.compile(
    rf"(?:[ \t]*,[ \t]*(?:{_CREDENTIALS})|[ \t]+(?:M\.?D\.?|R\.?N\.?|RT[ \t]*\(\w+\)(?:[ \t]*\(\w+\))*|PA-C|N\.?P\.?|"
    r"MBBS|FRCR|FRCPC|Ph\.?D\.?|PHD|DNP|CRNA|RDMS|RVT|CNMT|ARRT|FACR|APRN|FNP|FNP-C))(?![\w])"
)
_CREDENTIAL_RE = re.compile(rf"(?:{_CREDENTIALS})")
_CRED_AFTER_RE = re.compile(rf"[ \t]*,?[ \t]*(?:{_CREDENTIALS})(?![\w])")
_NAME_BEFORE_RE = re.compile(rf"(?<![\w'’-])(?:{_NAME_ANY})\Z")

_COLON_CUES, _COLON_TRIGGERS = _cue_regex((
    r"patient(?:['’]s)?[ \t]+name", "patient", r"pt[ \t]+name", "pt", "name", r"full[ \t]+name",
    r"attending(?:[ \t]+(?:physician|radiologist))?", "resident", "fellow", "technologist", "tech", "technician",
    "sonographer", "radiographer", "radiologist", "reader", r"reading[ \t]+radiologist",
    r"referring(?:[ \t]+(?:physician|provider|doctor|clinician|md|dr))?",
    r"ordering(?:[ \t]+(?:physician|provider|doctor|clinician|md|dr))?", r"requested[ \t]+by",
    r"requesting(?:[ \t]+(?:physician|provider|clinician))?", r"ordered[ \t]+by", r"referred[ \t]+by", "cc",
    r"copy[ \t]+to", r"copies[ \t]+to", "pcp", r"primary[ \t]+care(?:[ \t]+(?:physician|provider))?", "physician",
    "provider", "clinician", "surgeon", "nurse", r"dictated(?:[ \t]+by)?", r"signed(?:[ \t]+by)?",
    r"e-signed(?:[ \t]+by)?", r"esigned(?:[ \t]+by)?", r"electronically[ \t]+signed(?:[ \t]+by)?", "signature",
    r"read[ \t]+by", r"reviewed(?:[ \t]+by)?", r"verified(?:[ \t]+by)?", r"attested(?:[ \t]+by)?",
    r"approved(?:[ \t]+by)?", r"interpreted[ \t]+by", r"performed[ \t]+by", r"reported[ \t]+by",
    r"transcribed[ \t]+by", "transcriptionist", "scribe", "author", "by", "guardian", r"emergency[ \t]+contact",
    r"next[ \t]+of[ \t]+kin", "nok", "contact", "mother", "father", "spouse", "parent", "informant",
    r"last[ \t]+name", r"first[ \t]+name", "surname", r"given[ \t]+name", r"maiden[ \t]+name", "aka", "alias",
))
_COLON_CUE_RE = re.compile(
    rf"(?<![\w-]){_COLON_CUES}[ \t]*[:#=][ \t]*(?:(?:{_TITLES})[ \t]*)?"
    rf"({_NAME_ANY}|[a-z][a-z'’-]+(?:,?[ \t]+[a-z][a-z'’-]+){{0,2}}|[{_UP}]{{2,3}}(?![\w])|(?:[{_UP}]\.){{2,3}})"
)

_FAMILY = (
    "son", "daughter", "wife", "husband", "mother", "father", "brother", "sister", "spouse", "partner", "niece", "nephew",
    "grandson", "granddaughter", "grandmother", "grandfather", "aunt", "uncle", "cousin", "friend", "caregiver",
    "guardian", "fiance", "fiancee", "fiancée", "boyfriend", "girlfriend", "parent", "parents", "child",
)
_ROLE_WORDS = (
    r"(?:the[ \t]+|a[ \t]+|an[ \t]+|her[ \t]+|his[ \t]+|their[ \t]+)?(?:(?:patient|pt)['’]?s?[ \t]+)?"
    r"(?:(?:referring|ordering|attending|covering|on-call|on[ \t]+call|ed|er|emergency|primary|treating|consulting|"
    r"requesting|overnight|night|day|floor|icu|charge|bedside|clinical)[ \t]+)*"
    r"(?:(?:physician|provider|doctor|clinician|surgeon|nurse|radiologist|resident|fellow|team|np|pa|rn|md|"
    rf"practitioner|technologist|tech|{'|'.join(_FAMILY)})['’]?s?[ \t]*,?[ \t]+)?"
)
_SIGNATURE_CUES, _SIGNATURE_TRIGGERS = _cue_regex((
    r"read[ \t]+by", r"dictated[ \t]+by", r"signed[ \t]+by", r"e-signed[ \t]+by", r"esigned[ \t]+by",
    r"electronically[ \t]+signed[ \t]+by", r"signed[ \t]+out[ \t]+by", r"reviewed[ \t]+by", r"verified[ \t]+by",
    r"interpreted[ \t]+by", r"attested[ \t]+by", r"approved[ \t]+by", r"transcribed[ \t]+by",
))
_SIGNATURE_CUE_RE = re.compile(rf"(?<![\w]){_SIGNATURE_CUES}[ \t]*[,:]?[ \t]+(?:(?:{_TITLES})[ \t]*)?({_NAME_ANY})")
_VERBAL_CUES, _VERBAL_TRIGGERS = _cue_regex((
    r"discussed[ \t]+with", "d/w", r"d\\w", r"called[ \t]+to", r"communicated[ \t]+to", r"conveyed[ \t]+to",
    r"relayed[ \t]+to", r"reported[ \t]+to", r"given[ \t]+to", "notified", "paged", "informed", r"seen[ \t]+by",
    r"evaluated[ \t]+by", r"referred[ \t]+by", r"ordered[ \t]+by", r"requested[ \t]+by", r"spoke[ \t]+(?:with|to)",
    r"spoken[ \t]+(?:with|to)", r"talked[ \t]+(?:with|to)", "telephoned", "phoned", "contacted", r"attn\.?",
    "attention", "per", r"care[ \t]+of", "c/o", r"follow-up[ \t]+with", r"followup[ \t]+with",
    r"follow[ \t]+up[ \t]+with", r"followed[ \t]+by", "by", "attending", "resident", "fellow", "technologist",
    "sonographer", r"referring[ \t]+physician", r"ordering[ \t]+physician", *_FAMILY,
))
_VERBAL_CUE_RE = re.compile(rf"(?<![\w]){_VERBAL_CUES}[ \t]*[,:]?[ \t]+(?i:{_ROLE_WORDS})(?:(?:{_TITLES})[ \t]*)?({_NAME_ANY})")
_VERBAL_CUE_LOWER_RE = re.compile(
    rf"(?<![\w]){_VERBAL_CUES}[ \t]*[,:]?[ \t]+(?i:{_ROLE_WORDS})([a-z][a-z'’-]+(?:[ \t]+[a-z][a-z'’-]+){{0,2}})"
)
# "Patient Wang, Min (MRN ...)": no comma after the cue ("young patient, low pretest probability")
_PATIENT_CUE_RE = re.compile(rf"(?<![\w])(?:patient|Patient|PATIENT|pt|Pt|PT)[ \t]+(?:(?:{_TITLES})[ \t]*)?({_NAME_ANY})")
# "cc" (lower or title case: "CC" in capitals is the craniocaudal view)
_PATIENT_TRIGGERS = frozenset(("patient", "pt"))
_CC_TRIGGERS = frozenset(("cc",))
_CC_RE = re.compile(rf"(?<![\w])(?:cc|Cc)[ \t]+(?:(?:{_TITLES})[ \t]*)?({_NAME_ANY})")
# "Dr. X was notified", "Smith was paged at 3 pm": the cue is found first, the name read backwards
_AFTER_NAME_TRIGGERS = frozenset("was were is has had notified paged informed contacted called made aware".split())
_AFTER_NAME_CUE_RE = re.compile(
    r"[ \t]*,?[ \t]+(?:was|were|is|has[ \t]+been|had[ \t]+been)?[ \t]*(?:notified|paged|informed|contacted|called|made[ \t]+aware|aware)(?![\w])"
)
# More names in a list after a cue: "cc: Dr. A; B. Jones, MD / Smith, John"
_LIST_NEXT_RE = re.compile(
    rf"[ \t]*(?:,?[ \t]*(?:{_CREDENTIALS})(?![\w]))*+[ \t]*(?:[;/&|]|,|[ \t]and[ \t])[ \t]*(?:and[ \t]+)?(?:(?:{_TITLES})[ \t]*)?({_NAME_ANY})"
)
# formats without a cue; each starts with a character class so the engine can skip ahead
_MIDDLE_INITIAL_RE = re.compile(rf"({_WORD_START}) [{_UP}]\. ?{_PARTICLES}({_WORD})")
_LAST_FIRST_RE = re.compile(rf"({_WORD_START}) ?, ?({_WORD})(?: (?:{_INITIAL}|[{_UP}](?![\w.])))?")
_FIELD_START_WORD_RE = re.compile(rf"(?:^|(?<=[\n\t|:]))[ \t]*({_WORD}) \Z")
_DICT_SEQ_RE = re.compile(rf"{_WORD_START}(?: (?:(?:{_INITIAL}|[{_UP}](?= [{_UP}])) ?)?{_PARTICLES}{_WORD}){{1,3}}")
_DOTTED_CREDENTIAL_RE = re.compile(r"(?:M\.D|D\.O|R\.N|N\.P|P\.A|D\.C|D\.M\.D|D\.D\.S)\.(?![\w])")
_INITIAL_SURNAME_RE = re.compile(rf"[{_UP}](?<![\w.][{_UP}])\. ?(?:[{_UP}]\. ?)?{_PARTICLES}({_WORD})")
# A header field: the text between wide gaps, tabs and bars
_FIELD_RE = re.compile(r"[^|\t ](?:[^|\t]*?[^|\t ])?(?=[ \t]{2,}|\t|[ \t]+[|/–-][ \t]+|[ \t]*[|]|[ \t]*$)")
_TOKEN_RE = re.compile(rf"[{_UP}{_LO}][{_UP}{_LO}'’-]*\.?|[{_UP}]\.")
_TEXT_WORD_RE = re.compile(rf"[{_UP}{_LO}](?<![\w'’-][{_UP}{_LO}])[{_UP}{_LO}]*(?:['’][{_UP}{_LO}]+)*(?:-[{_UP}{_LO}]+)*(?![\w-])")


# ---------------------------------------------------------------------------------------------------
# Name dictionary
# ---------------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _name_sets() -> tuple[frozenset[str], frozenset[str]]:
    """First names and surnames of faker's en_US provider (about 700 + 1000), lower-cased.

    Only the English list is used on purpose: names from other locales must be found through context
    (titles, credentials, cue phrases, formats), which the benchmark measures separately.
    """
    try:
        from faker.providers.person.en_US import Provider
    except ImportError:  # faker is optional for finding; without it only context finds names
        return frozenset(), frozenset()
    first = frozenset(n.lower() for n in list(Provider.first_names))
    last = frozenset(n.lower() for n in Provider.last_names)
    return first, last


def name_in_dictionary(token: str) -> bool:
    """True if ``token`` is in the first-name or surname dictionary that the recognizers use without context."""
    first, last = _name_sets()
    t = normalise(token)
    return t in first or t in last


def _is_first(token: str) -> bool:
    return normalise(token) in _name_sets()[0]


def _is_last(token: str) -> bool:
    return normalise(token) in _name_sets()[1]


# ---------------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------------

def _tokens(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return [m.span() for m in _TOKEN_RE.finditer(text, start, end)]


def _word(text: str, tok: tuple[int, int]) -> str:
    return text[tok[0]:tok[1]].rstrip(".")


def _is_initial(text: str, tok: tuple[int, int]) -> bool:
    return tok[1] - tok[0] == 2 and text[tok[1] - 1] == "." and text[tok[0]].isupper()


def _trim_name(text: str, start: int, end: int, allow: AllowList, strength: int = MEDIUM, titled: bool = False) -> tuple[int, int] | None:
    """Drop report words, titles and credentials from both ends of a name span ("Findings discussed with
    John Smith Today" -> "John Smith").

    A word in a name's structural slot stays even if it is also an English word: after a middle initial
    ("Kalpit J. Deep"), after the comma of "Last, First" ("Wang, Min"), or the only word after a title
    ("Dr. Colon"); after a title or credential, short capitalised words stay too ("Dr. Nguyen Van An").
    A candidate that ends up empty is no name."""
    toks = _tokens(text, start, end)
    if not toks:
        return None

    def droppable(i: int, from_end: bool) -> bool:
        tok = toks[i]
        w = _word(text, tok)
        if w.lower() in _TITLE_WORDS or (w.isupper() and _CREDENTIAL_RE.fullmatch(text, tok[0], tok[1])):
            return True
        if len(w) > 1 and not w.strip("Xx"):
            return True  # an earlier scrubber's "XXXX" is no part of a name
        if re.fullmatch(_PARTICLE, w):
            # "de Jong": a leading particle belongs to the name; "Dung Le": so does a capitalised last word
            # ... and so does a last particle that closes its field ("Name: Ivonne Dussen van   Referring: ...")
            return from_end and not w[:1].isupper() and not (i > 0 and _FIELD_CLOSE_RE.match(text, tok[1]))
        if _is_initial(text, tok):
            return False
        if from_end and i > 0:
            gap = text[toks[i - 1][1]:tok[0]]
            if "," in gap and allow.is_clinical_word(w) and (
                    normalise(w) in LETTER_WORDS or (i >= 2 and "," not in text[toks[0][0]:toks[i - 1][1]])):
                return True  # "Smith, Consultant", "Mrs Olga Ivanova, DOB ...": a role or label, not "Wang, Min"
            if "," in gap and allow.is_clinical_word(w) and re.match(r"[ \t]*[:=]", text[tok[1]:tok[1] + 3]):
                return True  # "Dr. Smith, Name: ...": the next field's label
            if "," in gap and len(w) > 1 and w.isupper() and not _word(text, toks[i - 1]).isupper() and not _is_first(w):
                return True  # "Dr. Jones, ICU team", "Dr. Lee, RLH": capitals after a title-case surname are no first name
            if _is_initial(text, toks[i - 1]) or "," in gap or "^" in gap:
                return False
        if from_end and _MONTH_NAME_RE.fullmatch(text, tok[0], tok[1]) and re.match(r"[ \t.-]*\d", text[tok[1]:tok[1] + 4]):
            return True  # "SIGNED: DR BARON SEP-20-2024": the month belongs to the date
        if strength >= STRONG and len(w) <= 3 and w[:1].isupper() and not w.isupper():
            return False
        if from_end and len(w) == 1 and w.isupper() and strength >= MEDIUM and i > 0:
            return False  # a middle initial without its period ("SMITH, JOHN A")
        return allow.is_clinical_word(w)

    first_word = toks[0]
    while toks and droppable(0, False):
        toks.pop(0)
    while toks and droppable(len(toks) - 1, True):
        toks.pop()
    if not toks:
        if not titled or _word(text, first_word).lower() in _TITLE_WORDS:
            return None
        toks = [first_word]  # "Dr. Colon": the one word after a title is the name
    s, e = toks[0][0], toks[-1][1]
    # keep a trailing period only when it closes an initial ("John A.")
    if text[e - 1] == "." and not _is_initial(text, toks[-1]):
        e -= 1
    # possessive: "Smith's" -> "Smith"
    if text[s:e].endswith(("'s", "’s")):
        e -= 2
    return (s, e) if e > s else None


def _all_allowed(text: str, start: int, end: int, allow: AllowList) -> bool:
    """True when every word of the span is allow-listed, so weak evidence of a name does not count.

    An initial ("J. Smith") is evidence of a name, and so is a dictionary first name next to another word
    ("Mark Kerley", "Kerley, June"): eponyms take no first names."""
    toks = _tokens(text, start, end)
    if any(_is_initial(text, t) for t in toks):
        return False
    words = [_word(text, t) for t in toks if len(_word(text, t)) > 1]
    if not words or not all(allow.is_allowed_word(w) for w in words):
        return not words
    return not (len(words) > 1 and any(_is_first(w) and not allow.is_clinical_word(w) for w in words))


def _followed_by_eponym_head(text: str, end: int) -> bool:
    m = _NEXT_WORD_RE.match(text, end)
    return bool(m and m.group(1).lower() in EPONYM_HEADS)


_NEXT_WORD_RE = re.compile(r"(?:['’]s)?[ \t]+([A-Za-z]+)")


def _shouting(text: str, start: int, end: int) -> bool:
    """True when the span and the text around it are in capitals (a report typed in upper case)."""
    if not text[start:end].isupper():
        return False
    around = text[max(0, start - 60):start] + text[end:end + 60]
    letters = [ch for ch in around if ch.isalpha()]
    return len(letters) > 10 and sum(ch.isupper() for ch in letters) > 0.8 * len(letters)


def _vowel(word: str) -> bool:
    return re.search(r"[AEIOUYaeiouyÀ-ÖØ-öø-ÿ\u0100-\u024f\u1e00-\u1eff]", word) is not None


#: Words that head an institution's name and never a person's
_INST_HEADS = frozenset("hospital hospitals infirmary clinic clinics institute centre center healthcare university memorial".split())


def _names(doc: _Doc, allow: AllowList) -> list[Candidate]:
    text = doc.text
    out: list[Candidate] = []

    def add(start: int, end: int, strength: int, titled: bool = False, listed: bool = False) -> None:
        span = _trim_name(text, start, end, allow, strength, titled)
        if span is None:
            return
        s, e = span
        toks = _tokens(text, s, e)
        heads = [i for i, t in enumerate(toks) if normalise(_word(text, t)) in _INST_HEADS]
        if heads:
            # an institution's words are no name: "Dr. Adolph, University Hospital of X" ends at "Adolph",
            # "Royal Port Elaine Infirmary, Cooperport, MD" leaves no more than "Elaine"
            k = heads[0]
            commas = [i for i in range(1, k + 1) if "," in text[toks[i - 1][1]:toks[i][0]]]
            k = commas[-1] if commas else k
            if k == 0:
                return
            e = toks[k - 1][1]
        if listed and len(_tokens(text, s, e)) < 2 and not name_in_dictionary(text[s:e]) and not _CRED_AFTER_RE.match(text, e):
            return  # one capitalised word after "; " is more often a new sentence than a name
        if strength < STRONG and _all_allowed(text, s, e, allow):
            return
        if strength < STRONG and _shouting(text, s, e):
            # in capitals every word looks like a name: one word needs the dictionary or an initial
            words = [_word(text, t) for t in _tokens(text, s, e)]
            if len(words) < 2 and not any(name_in_dictionary(w) for w in words):
                return
        out.append(Candidate(s, e, "NAME", strength))

    def add_list(end: int, strength: int) -> None:
        # names that follow in a list: "cc: Dr. A; B. Jones, MD / Smith, John"
        while True:
            m = _LIST_NEXT_RE.match(text, end)
            if m is None:
                return
            add(*m.span(1), strength, listed=True)
            end = m.end(1)

    # context: titles, credentials, cue phrases
    titles = doc.at(_TITLE_WORDS)
    for m in _matches_at(_TITLE_RE, text, titles):
        add(*m.span(1), STRONG, titled=True)
        add_list(m.end(1), MEDIUM)
    for m in _matches_at(_TITLE_LOWER_RE, text, titles):
        s = m.start(1)
        keep = []
        for w in re.finditer(r"[^\s]+", m.group(1)):
            if allow.is_clinical_word(w.group()):
                break
            keep.append(w)
        if keep:
            out.append(Candidate(s, s + keep[-1].end(), "NAME", STRONG))
    seen_anchor = -1
    for p in doc.at(_CRED_TRIGGERS):
        q = p
        while q > 0 and text[q - 1] in " \t,":
            q -= 1
        if q <= seen_anchor:
            continue
        m = _CRED_ANCHOR_RE.match(text, q)
        if m is None or m.end() <= p:
            continue
        seen_anchor = m.end()
        n = _NAME_BEFORE_RE.search(text, max(0, q - 80), q)
        if n is not None:
            add(*n.span(), STRONG)
            add_list(n.end(), MEDIUM)
    # every cue, even one inside the previous cue's value: "Referring: Dr. Smith, Name: Ahmed Smith" reads
    # "Smith, Name" as a name first, and "Name:" still owes its own value
    for m in filter(None, (_COLON_CUE_RE.match(text, p) for p in doc.at(_COLON_TRIGGERS))):
        s, e = m.span(1)
        if _NAME_ANY_RE.fullmatch(text, s, e) is None:
            # a lower-case name after "Patient:"; stop at the first allow-listed word
            keep = []
            for w in re.finditer(r"[^\s,]+", m.group(1)):
                if allow.is_allowed_word(w.group()):
                    break
                keep.append(w)
            if keep:
                out.append(Candidate(s, s + keep[-1].end(), "NAME", STRONG))
        elif not allow.is_clinical_word(text[s:e]):
            add(s, e, STRONG)
            add_list(e, MEDIUM)
    for m in _matches_at(_SIGNATURE_CUE_RE, text, doc.at(_SIGNATURE_TRIGGERS)):
        add(*m.span(1), STRONG)
        add_list(m.end(1), MEDIUM)
    verbal = doc.at(_VERBAL_TRIGGERS)
    for m in _matches_at(_VERBAL_CUE_RE, text, verbal):
        add(*m.span(1), MEDIUM)
        add_list(m.end(1), MEDIUM)
    for m in _matches_at(_VERBAL_CUE_LOWER_RE, text, verbal):
        # lower-case text: accept only dictionary names ("discussed with john smith")
        s = m.start(1)
        keep = []
        for w in re.finditer(r"[a-z][a-z'’-]+", m.group(1)):
            if name_in_dictionary(w.group()) and not allow.is_clinical_word(w.group()):
                keep.append(w)
            else:
                break
        if keep and _is_first(keep[0].group()):
            out.append(Candidate(s + keep[0].start(), s + keep[-1].end(), "NAME", MEDIUM))
    for m in _matches_at(_PATIENT_CUE_RE, text, doc.at(_PATIENT_TRIGGERS)):
        s, e = m.span(1)
        if allow.is_clinical_word(_word(text, _tokens(text, s, e)[0])):
            continue  # "patient with Kaposi sarcoma": the cue must be followed by the name itself
        structured = "," in text[s:e] or "^" in text[s:e] or any(_is_initial(text, t) for t in _tokens(text, s, e))
        add(s, e, STRONG if structured else MEDIUM)
    for m in _matches_at(_CC_RE, text, doc.at(_CC_TRIGGERS)):
        add(*m.span(1), MEDIUM)
        add_list(m.end(1), MEDIUM)
    for p in doc.at(_AFTER_NAME_TRIGGERS):
        q = p
        while q > 0 and text[q - 1] in " \t,":
            q -= 1
        m = _AFTER_NAME_CUE_RE.match(text, q)
        if m is None or m.end() <= p:
            continue
        n = _NAME_BEFORE_RE.search(text, max(0, q - 80), q)
        if n is not None:
            add(*n.span(), MEDIUM)

    def name_before_label(q: int) -> None:
        """A name ending at ``q``, right before a record label or number."""
        n = _NAME_BEFORE_RE.search(text, max(0, q - 80), q)
        if n is None or text[n.start() - 1:n.start()] in ("/", "-", "&", "+"):
            return
        toks = _tokens(text, *n.span())
        words = [_word(text, t) for t in toks[-2:]]
        known = [allow.is_clinical_word(w) and normalise(w) not in LETTER_WORDS for w in words]
        if (len(words) == 2 and all((w[1:].islower() or w.isupper()) and w[:1].isupper() and _vowel(w) for w in words)
                and words[0].isupper() == words[1].isupper()
                and sorted(known) == [False, True] and not any(allow.is_allowed_word(w) for w, k in zip(words, known) if not k)):
            # "Job Room MRN ...", "Room, Job MRN ...": an unknown given name and a surname that is also a report
            # word, closing right on the record label, are one name (trimming would leave "Job" alone and drop both)
            out.append(Candidate(toks[-2][0], toks[-1][1], "NAME", MEDIUM))
        else:
            add(*n.span(), MEDIUM, listed=True)

    # a name right before a record label: "Okafor Chidi MRN 1234567", "Wang Min, DOB 01/02/1950"
    for p in doc.at(_NAME_LABEL_TRIGGERS):
        q = p
        while q > 0 and text[q - 1] in " \t,;(":
            q -= 1
        if q > 1 and text[q - 1] in "-–—|" and text[q - 2] in " \t" and q < p:
            q -= 1  # "Édouard François - MRN 10000000": a dash or bar between fields
            while q > 0 and text[q - 1] in " \t":
                q -= 1
        if q == p or q == 0 or not (_ID_CUE_RE.match(text, p) or _DOB_CUE_RE.match(text, p)):
            continue
        name_before_label(q)

    # a name right before a bare record number: "Ahmed Smith #10000000" (five digits or more after "#": "view #2"
    # or "image #14" is no record number, and the name must not be report words)
    for ds, de in doc.digits:
        m = _RECORD_NUMBER_RE.search(text, max(0, ds - 4), de) if de - ds >= 5 else None
        if m is None or m.end() != de:
            continue
        q = m.start()
        while q > 0 and text[q - 1] in " \t,;(":
            q -= 1
        if 0 < q < m.start():
            name_before_label(q)

    # formats: "First M. Last", "Last, First"
    for m in _MIDDLE_INITIAL_RE.finditer(text):
        first, last = m.group(1), m.group(2)
        if allow.is_clinical_word(first) or allow.is_clinical_word(last):
            continue
        if _shouting(text, m.start(1), m.end(2)) and not (name_in_dictionary(first) or name_in_dictionary(last)):
            continue  # "ACR A. HYPERMETABOLIC NODE"
        if not (allow.is_allowed_word(first) and allow.is_allowed_word(last)) or _is_first(first):
            add(m.start(1), m.end(2), MEDIUM)
    for m in _LAST_FIRST_RE.finditer(text):
        last, first = m.group(1), m.group(2)
        if allow.is_clinical_word(last) or allow.is_clinical_word(first) or not _vowel(last) or not _vowel(first):
            continue
        if _shouting(text, m.start(1), m.end(2)) and not (_is_first(first) or (_is_last(last) and name_in_dictionary(first))):
            continue  # "INCOMPLETE, NEEDS ADDITIONAL IMAGING", "HAYWARD, PROVIDED HISTORY"
        neither_allowed = not allow.is_allowed_word(last) and not allow.is_allowed_word(first)
        if neither_allowed or (_is_first(first) and not allow.is_allowed_word(first)) or (_is_last(last) and _is_first(first)):
            start = m.start(1)
            # a second surname before it where the name opens the text, a line or a field ("CEPEDA NAVARRETE, VICTOR")
            b = _FIELD_START_WORD_RE.search(text, max(0, start - 40), start)
            if b is not None and not allow.is_allowed_word(b.group(1)) and _vowel(b.group(1)) \
                    and b.group(1).isupper() == last.isupper():
                start = b.start(1)
            add(start, m.end(), MEDIUM)

    # dictionary evidence without context: "John Smith", "J. Smith"
    for m in _DICT_SEQ_RE.finditer(text):
        toks = _tokens(text, *m.span())
        # a record label after a name is no part of it: "John Smith MRN 123" ends at "Smith"
        while len(toks) > 2 and allow.is_clinical_word(_word(text, toks[-1])) and _word(text, toks[-1]).isupper():
            toks.pop()
        words = [_word(text, t) for t in toks]
        for i, w in enumerate(words[:-1]):
            if len(w) > 1 and _is_first(w) and not allow.is_clinical_word(w):
                last = words[-1]
                if allow.is_clinical_word(last) or _followed_by_eponym_head(text, toks[-1][1]):
                    break
                if (w.isupper() or allow.is_allowed_word(w)) and not (_is_last(last) or _is_first(last)):
                    break
                add(toks[i][0], toks[-1][1], MEDIUM if _is_last(last) else WEAK)
                break
    for m in _INITIAL_SURNAME_RE.finditer(text):
        w = m.group(1)
        if allow.is_clinical_word(w) or _followed_by_eponym_head(text, m.end(1)):
            continue
        if _DOTTED_CREDENTIAL_RE.match(text, m.start()) or (_MONTH_NAME_RE.fullmatch(w) and re.match(r"[ \t.-]*\d", text[m.end(1):m.end(1) + 4])):
            continue  # "SEIFERT, M.D. May 22, 2021": a credential and a date, no initials
        before = text[max(0, m.start() - 12):m.start()].rstrip(" \t")
        nxt = _NEXT_WORD_RE.match(text, m.end(1))
        # "J. Smith" anywhere for a dictionary surname; any surname after a list or field boundary; an eponym
        # that is also a surname ("M. Baker") when no report word follows it ("M. Baker cyst" is the cyst)
        eponym_name = allow.is_allowed_word(w) and not (nxt and allow.is_allowed_word(nxt.group(1)))
        if ((_is_last(w) and not allow.is_allowed_word(w)) or eponym_name or not before or before[-1] in ",;/|(&\n"
                or before.endswith(" and")):
            out.append(Candidate(m.start(), m.end(1), "NAME", MEDIUM))
    return out


_SENTENCE_END = frozenset(".!?")


def _line_end_names(text: str, allow: AllowList) -> list[Candidate]:
    """A name that closes a line after a sentence or stands alone on it: the signature after
    "I have reviewed the images and agree with the report. Fabian Lukasiuk"."""
    out: list[Candidate] = []
    pos = 0
    n = len(text)
    while pos <= n:
        le = text.find("\n", pos)
        le = n if le < 0 else le
        e = le
        while e > pos and text[e - 1] in " \t":
            e -= 1
        # cheap gate: the line must end in a letter of a capitalised word
        w = e
        while w > pos and (text[w - 1].isalpha() or text[w - 1] in "'’-"):
            w -= 1
        if e - pos >= 4 and w < e and text[w].isupper() and text[e - 1].isalpha():
            m = _NAME_BEFORE_RE.search(text, max(pos, e - 60), e)
            if m is not None:
                before = text[pos:m.start()].rstrip(" \t")
                span = _trim_name(text, m.start(), m.end(), allow) if not before or before[-1] in _SENTENCE_END else None
                if span is not None:
                    toks = _tokens(text, *span)
                    words = [_word(text, t) for t in toks if not _is_initial(text, t)]
                    if (len(toks) >= 2 and not any(allow.is_clinical_word(w) for w in words)
                            and not _all_allowed(text, *span, allow)
                            and not (_shouting(text, *span) and not any(name_in_dictionary(w) for w in words))):
                        out.append(Candidate(*span, "NAME", MEDIUM))
        pos = le + 1
    return out


def _field_names(text: str, others: Sequence[Candidate], allow: AllowList) -> list[Candidate]:
    """Names standing alone in a header field ("Maciej Jasina  Unit No: 123", "XIA, TAO | DOB ...",
    "CARMELA BEIER August 24, 1916", "E5490766 Yen Dang").

    Only on lines that also hold a date, record number or phone number, which is what makes a line a
    header. Within a field, the other identifiers are cut out and each remaining piece must be a name and
    nothing else."""
    anchors = sorted(c.start for c in others if c.kind in ("DATE", "ID", "PHONE"))
    if not anchors:
        return []
    cuts = sorted((c.start, c.end) for c in others)
    out: list[Candidate] = []
    done_lines: set[int] = set()
    for a in anchors:
        start = text.rfind("\n", 0, a) + 1
        if start in done_lines:
            continue
        done_lines.add(start)
        end = text.find("\n", a)
        end = len(text) if end < 0 else end
        for f in _FIELD_RE.finditer(text, start, end):
            fs, fe = f.span()
            pieces, p = [], fs
            for a2, b2 in cuts:
                if b2 <= fs or a2 >= fe:
                    continue
                pieces.append((p, max(p, a2)))
                p = max(p, b2)
            pieces.append((p, fe))
            whole = len(pieces) == 1
            for ps, pe in pieces:
                chunk = text[ps:pe]
                stripped = chunk.strip(" \t,;:-–()/|")
                if not stripped or chunk.rstrip().endswith((":", "#")):
                    continue  # "Tel: 555 ...", "Acc# 123": a label, not a name
                cs = ps + chunk.index(stripped)
                m = _NAME_ANY_RE.fullmatch(text, cs, cs + len(stripped))
                if m is None:
                    continue
                toks = _tokens(text, cs, m.end())
                words = [w for w in (_word(text, t) for t in toks) if len(w) > 1]
                if not words or any(allow.is_clinical_word(w) for w in words):
                    continue
                if len(toks) == 1 and (not whole or allow.is_allowed_word(words[0]) or words[0].isupper() or len(words[0]) < 3):
                    continue
                out.append(Candidate(cs, m.end(), "NAME", MEDIUM))
    return out


def _propagate_names(doc: _Doc, names: Sequence[Candidate], allow: AllowList) -> list[Candidate]:
    """Other mentions of a word already found in a name ("Dr. John Okafor ... Okafor agreed").

    A word that is also an eponym or an English word ("Smith", "White") is propagated only where it is
    not used that way: not before an eponym head ("Smith fracture") or a report word ("White matter")."""
    text = doc.text
    words: set[str] = set()
    for c in names:
        for t in _tokens(text, c.start, c.end):
            w = _word(text, t)
            if len(w) > 2 and w[0].isupper() and not allow.is_clinical_word(w) and not _CREDENTIAL_RE.fullmatch(w):
                words.add(w)
                words.add(w.upper())
                if w.isupper():
                    words.add(w.title())
    if not words:
        return []
    out = []
    positions = doc.at({_ALPHA_RUN_RE.match(w).group().lower() for w in words if _ALPHA_RUN_RE.match(w)})
    for m in _matches_at(_TEXT_WORD_RE, text, positions):
        w = m.group()
        if w not in words:
            continue
        if allow.is_allowed_word(w):
            nxt = _NEXT_WORD_RE.match(text, m.end())
            if nxt and (nxt.group(1).lower() in EPONYM_HEADS or allow.is_clinical_word(nxt.group(1))):
                continue
        out.append(Candidate(m.start(), m.end(), "NAME", STRONG if allow.is_allowed_word(w) else MEDIUM))
    return out


# ---------------------------------------------------------------------------------------------------
# Dates (any date more specific than a year)
# ---------------------------------------------------------------------------------------------------

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
_MONTH_NAME_RE = re.compile(_MON_CAP)
_DAY = r"(?:0?[1-9]|[12]\d|3[01])(?i:st|nd|rd|th)?"
_YEAR4 = r"(?:1[89]\d\d|20\d\d)"
_YEAR = rf"(?:{_YEAR4}|['’]\d\d)"
_NOT_MEASURE = r"(?![ \t]*(?:[.,]\d|mm|cm|m\b|ml|mg|%|x\b|×|o['’]?clock|:\d))"

_DATE_TEXT_RE = re.compile("|".join(f"(?:{p})" for p in (
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
)))
_DATE_NUM_RE = re.compile("|".join(f"(?:{p})" for p in (
    # 01/02/2020, 1/2/20, 01-02-2020, 01.02.2020 (validated below)
    r"(?<![\w./-])(?P<a>\d{1,2})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{4}|\d{2})(?![\w/]|[.-]\d)",
    # 2020-01-02, 2020/01/02, 2020.01.02 (validated below)
    r"(?<![\w./-])(?P<y>(?:1[89]|20)\d\d)(?P<sep2>[/.-])(?P<m>\d{1,2})(?P=sep2)(?P<d>\d{1,2})(?![\d/]|[.-]\d)",
    # 01/2020, 1-2020 (month and year)
    r"(?<![\w./-])(?:0?[1-9]|1[0-2])[/-](?:19|20)\d\d(?![\w/]|[.-]\d)",
    # 20200102: a compact date (a record number after a cue stays an ID: the cue is stronger evidence)
    r"(?<![\w./-])(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?![\w/]|[.-]\d)",
)))


def _valid_numeric_date(m: re.Match[str]) -> bool:
    if m.group("a") is not None:
        a, b = int(m.group("a")), int(m.group("b"))
        return 1 <= a <= 31 and 1 <= b <= 31 and (a <= 12 or b <= 12)
    if m.group("y") is not None:
        return 1 <= int(m.group("m")) <= 12 and 1 <= int(m.group("d")) <= 31
    return True


def _dates_in(doc: _Doc) -> Iterator[Candidate]:
    text = doc.text
    yield from _foreign_dates(doc)
    for m in _matches_at(_DATE_NUM_RE, text, (s for s, _ in doc.digits)):
        if _valid_numeric_date(m):
            yield Candidate(m.start(), m.end(), "DATE", MEDIUM)
    seen: set[tuple[int, int]] = set()
    for p in doc.at(_MONTH_TRIGGERS):
        for m in _DATE_TEXT_RE.finditer(text, max(0, p - 20), min(len(text), p + 40)):
            if not m.start() <= p < m.end():
                continue
            s = m.start()
            if text[s:s + 4].lower() == "the ":
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


_ANY_MONTH = (rf"(?:(?:{_month_alternation(MONTH_NAMES)})(?![^\W\d_])\.?"
              rf"|(?:{_month_alternation(MONTH_ABBREVIATIONS)})(?:\.|(?![^\W\d_])))")
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
    words = text[max(0, s - 24):s].split()
    if words and words[-1].lower() in _CONNECTORS_BEFORE_YEAR:
        words.pop()
    if words and _DAY_TOKEN_RE.fullmatch(words[-1]):  # "marzo 18, 2023"
        words.pop()
    return bool(words) and strip_accents(words[-1].rstrip(".,").lower()) in _MONTH_KEYS


def _foreign_dates(doc: _Doc) -> Iterator[Candidate]:
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
            if m.group("year") is not None or (
                mon not in _MONTH_TRIGGERS
                and ((len(mon) > 3 and mon not in _AMBIGUOUS_MONTHS) or (marked and mon not in _WORD_MONTHS))
            ):
                yield Candidate(m.start(), m.end(), "DATE", MEDIUM)
        elif (e - s == 4 and text[s:s + 2] in ("18", "19", "20") and not (e < len(text) and text[e].isalnum())
              and _month_word_before(text, s)):
            m = _MONTH_BEFORE_YEAR_RE.search(text, max(0, s - 24), s)
            if m is not None and m.group("mon").rstrip(".").lower() not in _AMBIGUOUS_MONTHS:
                yield Candidate(m.start(), e, "DATE", MEDIUM)


def date_spans(text: str) -> list[tuple[int, int]]:
    """Where the date recognizer finds dates in ``text`` (also used to vet Presidio's DATE_TIME hits)."""
    return [(c.start, c.end) for c in _dates_in(_Doc.of(text))]


def has_month_name(text: str) -> bool:
    """True if ``text`` names a month the way dates do ("March", "Jan."), not "may" or "mar"."""
    return _MONTH_NAME_RE.search(text) is not None


# ---------------------------------------------------------------------------------------------------
# Ages over 89 (only these are identifiers under Safe Harbor)
# ---------------------------------------------------------------------------------------------------

# What says a number is an age: after it ("93-year-old", "93 y/o", "93 years old", "93 yrs") or before it
# ("aged 93", "Age: 93", "age of 93"). "93 years ago" is a duration, not an age.
_AGE_AFTER_RE = re.compile("|".join((
    r"[ \t]*-?[ \t]*(?i:years?|yrs?|y)[ \t]*-?[ \t]*(?i:old|o\.?)(?![a-z])",
    r"[ \t]*-?[ \t]*(?i:y/o|y\.o\.?|yo|yrs?|years?|y)(?![a-z])(?![ \t]*(?i:ago|later|earlier|prior|before|after|since))",
    r"[ \t]*(?i:-?year-old|-?yr-old|-?years-old)",
)))
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
_NW_VALUE = {w: i + 1 for i, w in enumerate(_NW_UNITS)} | {w: i + 10 for i, w in enumerate(_NW_TEENS)} | {
    w: 10 * (i + 2) for i, w in enumerate(_NW_TENS)} | {"hundred": 100, "a": 1}
_NW_SEP = r"(?:[ \t]*-[ \t]*|[ \t]+)"
_NW_BELOW_100 = (rf"(?:(?:{'|'.join(_NW_TENS)})(?:{_NW_SEP}(?:{'|'.join(_NW_UNITS)}))?|(?:{'|'.join(_NW_TEENS)})|"
                 rf"(?:{'|'.join(_NW_UNITS)}))(?![a-z])")
_AGE_WORDS_RE = re.compile(
    rf"(?i:(?<![\w-])(?:(?:(?:one|a){_NW_SEP})?hundred(?![a-z])(?:{_NW_SEP}(?:and{_NW_SEP})?{_NW_BELOW_100})?|{_NW_BELOW_100}))"
)
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


def _ages(doc: _Doc) -> Iterator[Candidate]:
    text = doc.text
    for s, e in doc.digits:
        run = text[s:e]
        if not (2 <= e - s <= 3 and 90 <= int(run) <= 125) or (s > 0 and (text[s - 1].isalnum() or text[s - 1] in ".,/-")):
            continue
        if text.startswith((".", ","), e) and text[e + 1:e + 2].isdigit():
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
        b = _NW_BEFORE_HUNDRED_RE.search(text, max(0, p - 8), p) if text[p:p + 7].lower() == "hundred" else None
        m = _AGE_WORDS_RE.match(text, b.start() if b else p)
        if m is None:
            continue
        end = m.end()
        if 90 <= _words_value(m.group()) <= 125 and _is_age_context(text, m.start(), m.end()):
            yield Candidate(m.start(), m.end(), "AGE", STRONG)


# ---------------------------------------------------------------------------------------------------
# Phone, fax, pager
# ---------------------------------------------------------------------------------------------------

_EXT = r"(?:[ \t]*[,;]?[ \t]*(?i:ext\.?|extension|x)[ \t]*\d{1,6})?"
_PHONE_RE = re.compile("|".join(f"(?:{p})" for p in (
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
)))
# Shapes that are phone numbers unless a measurement or another clinical number shape claims them (WEAK
# evidence, vetoed by the allow-list's number shapes): national numbers after a trunk 0 in groups
# (France 04 15 39 15 00, Germany 03662 585178, the Netherlands 0837 783533, Australia 02 4177 7631),
# Poland's and Spain's 609 141 777 and 22 494 34 83, Brazil's 4004 123 4567, and Australia's local
# 9724 0050 (not a pair of years: 2019 2020).
_PHONE_WEAK_RE = re.compile("|".join(f"(?:{p})" for p in (
    r"(?<![\w./,-])0\d{1,4}(?:[ \t.-]\d{2,8}){1,4}(?![\w/-]|[.,]\d)",
    r"(?<![\w./,-])[1-9]\d{2}[ \t]\d{3}[ \t]\d{3}(?![\w/-]|[.,]\d|[ \t]\d)",
    r"(?<![\w./,-])[1-9]\d[ \t]\d{3}[ \t]\d{2}[ \t]\d{2}(?![\w/-]|[.,]\d|[ \t]\d)",
    r"(?<![\w./,-])[1-9]\d{3}[ \t]\d{3}[ \t]\d{4}(?![\w/-]|[.,]\d|[ \t]\d)",
    r"(?<![\w./,-])(?!(?:19|20)\d\d[ \t](?:19|20)\d\d)[2-9]\d{3}[ \t]\d{4}(?![\w/-]|[.,]\d|[ \t]\d)",
)))
_PHONE_CUES, _PHONE_TRIGGERS = _cue_regex((
    "phone", "ph", "tel", "telephone", "fax", "facsimile", "cell", "mobile", "pager", "pgr", "beeper", "bleep",
    "bleeper", "page", "paged", "ext", "extension", r"call[ \t]+back", "callback", "call", "vocera", "spectralink", "x",
))
_PHONE_CUE_RE = re.compile(
    rf"(?<![\w]){_PHONE_CUES}(?![a-z])\.?[ \t]*(?i:(?:no\.?|number|#)[ \t]*)?"
    r"(?i:at|to|on)?[ \t]*[:#]?[ \t]*(\+?\(?\d+(?:(?:\)[ \t]?|[ \t.\-/])\(?\d+){0,6})(?![\w/]|[.,]\d)(?![ \t]*(?i:hours|hrs|h|am|pm|a\.m|p\.m)\b)"
)
_SPLIT_PHONE_CUE = frozenset(("page", "paged", "call", "x"))


def _phones(doc: _Doc) -> Iterator[Candidate]:
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
    for m in _matches_at(_PHONE_CUE_RE, text, doc.at(_PHONE_TRIGGERS)):
        cue = _ALPHA_RUN_RE.match(text, m.start())
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
_URL_GATE_RE = re.compile(rf"://|www\.|\.(?:{_TLD})(?![\w-])", re.IGNORECASE)
_URL_RE = re.compile(
    r"(?i:(?:https?|ftp)://[^\s<>\"')\]]+)"
    r"|(?i:www\.[a-z0-9-]+(?:\.[a-z0-9-]+)+(?:/[^\s<>\"')\]]*)?)"
    rf"|(?i:(?=[a-z0-9-]*[a-z])[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9-]+)*\.(?:{_TLD})(?![\w-])(?:/[^\s<>\"')\]]*)?)"
)
_URL_STOP = set(" \t\n\r<>\"'()[]{},;")


def _emails_urls(doc: _Doc) -> Iterator[Candidate]:
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
    for g in _URL_GATE_RE.finditer(text):
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


# ---------------------------------------------------------------------------------------------------
# Record numbers and other identifiers
# ---------------------------------------------------------------------------------------------------

_ID_CUES, _ID_TRIGGERS = _cue_regex((
    "mrn", r"mr[ \t]*#", r"mr[ \t]*no\.?", r"mr[ \t]*number", r"medical[ \t]+record(?:[ \t]+(?:number|no\.?|#|num))?",
    r"med[ \t]+rec(?:[ \t]+(?:number|no\.?|#|num))?", r"record[ \t]+(?:number|no\.?|#)",
    r"hospital[ \t]+(?:number|no\.?|#)", r"acc(?:ession)?(?:[ \t]*(?:#|no\.?|number|num))?", "accn", "acc#",
    r"study[ \t]*(?:id|#|no\.?|number|uid)", r"exam[ \t]*(?:id|#|no\.?|number)",
    r"encounter(?:[ \t]*(?:id|#|no\.?|number|num))?", r"enc[ \t]*#", r"visit[ \t]*(?:id|#|no\.?|number)",
    r"account(?:[ \t]*(?:id|#|no\.?|number|num))?", r"acct(?:[ \t]*(?:#|no\.?|number))?",
    r"order[ \t]*(?:id|#|no\.?|number|num)", r"requisition(?:[ \t]*(?:#|no\.?|number))?", r"req[ \t]*#", "ssn",
    r"ss[ \t]*#", r"social[ \t]+security(?:[ \t]+(?:number|no\.?|#))?", r"serial(?:[ \t]*(?:#|no\.?|number|num))?", "s/n",
    r"device[ \t]*(?:id|serial(?:[ \t]*(?:#|no\.?|number))?)", r"lot[ \t]*(?:#|no\.?|number)",
    r"patient[ \t]*(?:id|#|no\.?|number)", r"pt[ \t]*(?:id|#)", "pid", r"id(?:[ \t]*#)?", "identifier",
    r"member[ \t]*(?:id|#|number)", r"policy[ \t]*(?:#|no\.?|number)", r"insurance[ \t]*(?:id|#|no\.?|number)",
    r"health[ \t]*plan[ \t]*(?:id|#|no\.?|number)", r"beneficiary[ \t]*(?:id|#|no\.?|number)",
    r"licen[cs]e[ \t]*(?:#|no\.?|number)", r"dl[ \t]*#", "npi", r"dea(?:[ \t]*#)?", r"nhs[ \t]*(?:number|no\.?|#)",
    r"case[ \t]*(?:id|#|no\.?|number)", r"specimen[ \t]*(?:id|#|no\.?|number)", r"certificate[ \t]*(?:#|no\.?|number)",
    r"registration[ \t]*(?:#|no\.?|number)", r"unit[ \t]*(?:#|no\.?|number)", r"ref(?:erence)?[ \t]*(?:#|no\.?|number)?",
    r"claim[ \t]*(?:#|no\.?|number)", r"tracking[ \t]*(?:#|no\.?|number)", r"study[ \t]+instance[ \t]+uid",
    r"series[ \t]+instance[ \t]+uid", r"sop[ \t]+instance[ \t]+uid", "studyinstanceuid", "seriesinstanceuid",
    "sopinstanceuid", "uid", r"nhs(?=[ \t]*:)", r"ihi[ \t]*(?:#|no\.?|number)?", r"ur[ \t]*(?:#|no\.?|number)",
    r"urn(?=[ \t]*[:#])", r"hosp(?:ital)?[ \t]*(?:#|no\.?|number)", r"chart[ \t]*(?:#|no\.?|number)",
    r"health[ \t]+card(?:[ \t]*(?:#|no\.?|number))?", "hcn", "ohip", r"passport(?:[ \t]*(?:#|no\.?|number))?",
    r"medicare[ \t]+beneficiary[ \t]+(?:identifier|id|number)",
))
_ID_UPPER_CUES = ("FIN", "CSN", "HAR", "VIN", "SN", "CHI", "UPI", "EMPI", "UR", "URN", "SIN", "MBI")
# a code, and the digit groups that follow it ("SSN 128 09 5747", "NHS: 943 476 5919"); a group never ends
# in a decimal point ("ID 1234 12.5 cm")
_ID_VALUE = r"[A-Za-z0-9](?:[A-Za-z0-9]|[-/.:](?=[A-Za-z0-9]))*(?:[ \t]\d{2,}(?![\w]|[.,]\d))*"
_ID_CUE_RE = re.compile(
    rf"(?<![\w])(?:{_ID_CUES}|{'|'.join(_ID_UPPER_CUES)})(?![a-z])\.?[ \t]*(?i:is|was|of)?[ \t]*[:#=]?[ \t]*#?[ \t]*({_ID_VALUE})"
)
_ID_ALL_TRIGGERS = _ID_TRIGGERS | {c.lower() for c in _ID_UPPER_CUES}
_DOB_CUE_RE = re.compile(r"(?i:dob|d\.o\.b\.?|date[ \t]+of[ \t]+birth|born)[ \t]*[:#=]?[ \t]*\d")
_NAME_LABEL_TRIGGERS = _ID_ALL_TRIGGERS | {"dob", "d", "date", "born"}
# a bare record number: "#10000000", "# 4455667" (five digits or more: "view #2" is none)
_RECORD_NUMBER_RE = re.compile(r"(?<![\w#])#[ \t]*\d{5,}(?![\w])")
_SSN_RE = re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")
# Australia's Medicare number, ten digits and an issue number written "2520 42231 8": the last group is one
# digit, which the general value leaves out ("MRN 12345678 2 views")
_MEDICARE_TRIGGERS = frozenset(("medicare",))
_MEDICARE_RE = re.compile(
    r"(?i:medicare)(?:[ \t]*(?i:card|no\.?|number|#)){0,2}[ \t]*[:#]?[ \t]*(\d{4}[ \t-]?\d{5}[ \t-]?\d(?:[ \t/-]?\d)?)(?![\w]|[.,]\d)"
)
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


def _ids(doc: _Doc) -> Iterator[Candidate]:
    text = doc.text
    for m in _matches_at(_ID_CUE_RE, text, doc.at(_ID_ALL_TRIGGERS)):
        value = m.group(1)
        if sum(ch.isdigit() for ch in value) >= 2 and len(value) >= 3:
            yield Candidate(m.start(1), m.end(1), "ID", STRONG)
    for m in _matches_at(_MEDICARE_RE, text, doc.at(_MEDICARE_TRIGGERS)):
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


# ---------------------------------------------------------------------------------------------------
# Addresses
# ---------------------------------------------------------------------------------------------------

_STATE_ABBR = (
    r"AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|"
    r"OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI|AS|MP|FM|MH|PW|AA|AE|AP"
)
_STATE_NAMES = (
    "Alabama Alaska Arizona Arkansas California Colorado Connecticut Delaware Florida Georgia Hawaii Idaho Illinois Indiana "
    "Iowa Kansas Kentucky Louisiana Maine Maryland Massachusetts Michigan Minnesota Mississippi Missouri Montana Nebraska "
    "Nevada Ohio Oklahoma Oregon Pennsylvania Tennessee Texas Utah Vermont Virginia Washington Wisconsin Wyoming"
).split() + ["New Hampshire", "New Jersey", "New Mexico", "New York", "North Carolina", "North Dakota", "Rhode Island",
             "South Carolina", "South Dakota", "West Virginia", "Puerto Rico", "District of Columbia"]
_STATE_FULL = "|".join(n.replace(" ", r"[ \t]+") for n in sorted(_STATE_NAMES, key=len, reverse=True))
#: Street types: the USPS list (Publication 28, appendix C1), with plurals and common abbreviations.
_STREET_TYPES = (
    "Alley Avenue Branch Bridge Brook Burg Bypass Camp Canyon Cape Causeway Center Circle Cliff Club Common Corner "
    "Course Court Cove Creek Crescent Crest Crossing Crossroad Curve Dale Dam Divide Drive Estate Expressway Extension "
    "Fall Ferry Field Flat Ford Forest Forge Fork Fort Freeway Garden Gateway Glen Green Grove Harbor Haven Heights "
    "Highway Hill Hollow Inlet Island Isle Junction Key Knoll Lake Land Landing Lane Light Loaf Lock Lodge Loop Mall "
    "Manor Meadow Mews Mill Mission Motorway Mount Mountain Neck Orchard Oval Overpass Park Parkway Pass Passage Path "
    "Pike Pine Place Plain Plaza Point Port Prairie Radial Ramp Ranch Rapid Rest Ridge River Road Route Row Rue Run "
    "Shoal Shore Skyway Spring Spur Square Station Stravenue Stream Street Summit Terrace Throughway Trace Track "
    "Trafficway Trail Tunnel Turnpike Underpass Union Valley Via Viaduct View Village Ville Vista Walk Wall Way Well "
    "Close Gate Wharf Quay Yard Embankment Parade Promenade Broadway Boulevard Esplanade"
).split()
#: Australia Post's street types (AS/NZS 4819) beyond the USPS list, less those that are also report words
#: ("2 Left Lower ...", "the Upper ...", "Line", "Edge", "End").
_AU_STREET_TYPES = (
    "Access Alleyway Amble Anchorage Approach Arcade Artery Bend Brace Brae Brow Byway Centreway Chase Circlet "
    "Circuit Circus Colonnade Concourse Copse Corso Courtyard Crossway Cruiseway Cul-de-sac Dell Deviation Driveway "
    "Fairway Firetrail Footway Foreshore Frontage Gap Glade Grange Gully Highroad Interchange Intersection Laneway Lees "
    "Link Lookout Meander Mew Nook Outlook Parklands Pathway Piazza Plateau Pocket Quad Quadrangle Quadrant Ramble "
    "Reserve Retreat Ride Ridgeway Rise Riverway Riviera Roadside Roadway Ronde Rosebowl Rotary Siding Strand Subway "
    "Tarn Thoroughfare Tollway Tor Towers Trailer Trunkway Vale Villas Wade Walkway Wynd"
).split()
_STREET_TYPES = _STREET_TYPES + _AU_STREET_TYPES + ["Service Way", "Fire Track", "State Highway"]
_STREET_ABBR = "St Ave Av Rd Blvd Dr Ln Ct Pl Ter Pkwy Hwy Cir Sq Trl Cres Expy Fwy Tpke Rte Ctr Xing Plz Hts Jct Mtn".split()
_STREET_WORDS = {w + s for w in _STREET_TYPES for s in ("", "s", "es") if s != "es" or w.endswith(("s", "x", "ch", "sh"))} | set(_STREET_ABBR)
_STREET_SUFFIX = r"(?:" + "|".join(sorted(_STREET_WORDS | {w.upper() for w in _STREET_WORDS}, key=len, reverse=True)) + r")\.?"
# a place word may be hyphenated and accented ("Neu-Ulm", "Traore-sur-Chevalier", "Saint-Étienne")
_PLACE_WORD = rf"[{_UP}][{_LO}]+(?:-(?:[{_LO}]+-)*[{_UP}][{_LO}]+)*"
_CITY = rf"{_PLACE_WORD}(?:[ \t.]+(?:(?:upon|on|under|next[ \t]+the)[ \t]+)?{_PLACE_WORD}){{0,2}}|[A-Z]{{2,}}(?:[ \t]+[A-Z]{{2,}}){{0,2}}"
_ZIP = r"\d{5}(?:-\d{4})?"
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?[ \t]*\d[A-Z]{2}"
_CA_POSTCODE = r"[A-Z]\d[A-Z][ \t]?\d[A-Z]\d"
_UNIT = r"(?:,?[ \t]*(?:Apt|Apartment|Suite|Ste|Unit|Bldg|Building|Floor|Fl|Room|Rm|Flat|Studio|APT|SUITE|UNIT|#)\.?[ \t]*#?[ \t]*[A-Za-z0-9-]+)"
_UNIT_WORDS = ("Flat", "Studio", "Apartment", "Apt", "Unit", "Suite", "FLAT", "STUDIO", "APT", "UNIT", "SUITE")
# "Flat 2, 10 High St", and without the comma before a street number: "Apt. 959 472 Edgar Crest", "Unit 06 79 ..."
_UNIT_BEFORE = rf"(?:(?:{'|'.join(_UNIT_WORDS)})\.?[ \t]*[A-Za-z0-9-]+(?:[ \t]*[,\n][ \t]*|[ \t]+(?=\d)))"
#: Australian states and territories (with their four-digit postcode) and Canadian provinces (with theirs)
_AU_STATE = r"NSW|VIC|QLD|SA|WA|TAS|NT|ACT|Vic|Qld|Tas"
_AU_POSTCODE = r"\d{4}(?![\w])"
_CA_PROVINCE = r"AB|BC|MB|NB|NL|NS|NT|NU|ON|PE|QC|SK|YT"
_STATE_ZIP = (
    rf"(?:(?:{_AU_STATE})[ \t]+{_AU_POSTCODE}|(?:{_CA_PROVINCE})[ \t]+{_CA_POSTCODE}(?![\w])"
    rf"|(?:(?:{_STATE_ABBR})(?![\w])|{_STATE_FULL})(?:[ \t]*,?[ \t]*{_ZIP})?)"
)
# After a street: the city with its state, postcode or both; or, without either, a city that closes the
# clause ("5088 Linda Passage, Port Zachary." / "...; " / line end): a street number, a street type and a
# comma before it are evidence enough.
_CITY_STATE_TAIL = (
    rf"(?:,?[ \t]*(?:{_CITY}),?[ \t]*{_STATE_ZIP}"
    rf"|,?[ \t]*(?:{_CITY}),?[ \t]*(?:{_UK_POSTCODE}|{_CA_POSTCODE})(?![\w])"
    rf"|,[ \t]*(?:{_CITY})(?=[ \t]*(?:[.;,)\n]|$)|[ \t]+[a-z]))?"
)
_STREET_NAME = (
    rf"(?:(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\.?[ \t]+)?(?:(?:\d{{1,3}}(?:st|nd|rd|th)|[A-Z][A-Za-z'’-]*|[A-Z][a-z]{{0,2}}\.)[ \t]+){{1,4}}"
    rf"{_STREET_SUFFIX}(?![\w])(?:[ \t]+(?:N|S|E|W|NE|NW|SE|SW)\.?(?![\w]))?"
)
# 1234 Oak Street, 55 W. 3rd Ave, Apt 4B, Springfield, IL 62704
_STREET_RE = re.compile(rf"(?<![\w.,/-])\d{{1,6}}[A-Za-z]?(?:[-/]\d{{1,4}})?[ \t]+{_STREET_NAME}{_UNIT}?{_CITY_STATE_TAIL}")
# UK: "Flat 6⏎Christian Roads, Trevormouth SP8P 4NY", "Flat 2, 10 High Street, Leeds LS1 4AB"
_UNIT_STREET_RE = re.compile(
    rf"(?<![\w.,/-]){_UNIT_BEFORE}(?:\d{{1,6}}[A-Za-z]?(?:[-/]\d{{1,4}})?[ \t]+)?{_STREET_NAME}{_UNIT}?{_CITY_STATE_TAIL}"
)
_UNIT_TRIGGERS = frozenset(w.lower() for w in _UNIT_WORDS[:6])
_PO_BOX_TRIGGERS = frozenset(("p", "po", "pob", "post"))
_PO_BOX_RE = re.compile(rf"(?<![\w])(?i:p\.?[ \t]*o\.?[ \t]*box|pob|post[ \t]+office[ \t]+box)[ \t]*#?[ \t]*\d+{_CITY_STATE_TAIL}")
# Springfield, IL 62704 / Springfield, Illinois / IL 62704 / London SW1A 1AA / K1A 0B1
_CITY_STATE_RE = re.compile("|".join(f"(?:{p})" for p in (
    rf"(?<![\w])(?:{_CITY}),[ \t]*(?:(?:{_STATE_ABBR})[ \t]+{_ZIP}|(?:{_STATE_FULL})(?:[ \t]+{_ZIP})?)(?![\w])",
    rf"(?<![\w])(?:{_STATE_ABBR}|{_STATE_FULL})[ \t]+{_ZIP}(?![\w])",
)))
_POSTCODE_RE = re.compile(rf"(?<![\w])(?:(?:{_CITY}),?[ \t]+)?(?:{_UK_POSTCODE}|{_CA_POSTCODE})(?![\w])")
_STATE_TRIGGERS = frozenset(n.split()[0].lower() for n in _STATE_NAMES)
# "Address: ..." / "Home: ..." up to the end of the field (line end, "|", or a wide gap)
_ADDRESS_CUES, _ADDRESS_TRIGGERS = _cue_regex((
    r"patient[ \t]+address", r"home[ \t]+address", r"mailing[ \t]+address", r"street[ \t]+address",
    r"current[ \t]+address", r"permanent[ \t]+address", "address", "home", "residence", r"lives[ \t]+at",
    r"resides[ \t]+at", r"residing[ \t]+at",
))
# The cue's value runs to the end of its field (a line end, "|" or a wide gap) but never past the end of
# its sentence or the longest address: on a one-line report the findings follow on the same line.
_ADDRESS_CUE_RE = re.compile(rf"(?<![\w]){_ADDRESS_CUES}[ \t]*[:#-][ \t]*(?=[^\s|])")
_FIELD_END_RE = re.compile(r"[ \t]{2,}|[ \t]*[|\n]|[ \t]*$")
_LOWER_WORD_RE = re.compile(r"(?<![\w'’-])[a-z]{2,}(?![\w'’-])")
# Continental Europe writes the house number after the street and the postcode before the city
# ("Ziegertallee 57/75, 05806 Meppen", "Via Roma 12, 00184 Roma", "Calle Mayor 5, 28013 Madrid",
# "Karlijnboulevard 97, 7230 IV Gapinge"); France puts the number first ("4, avenue Michele Sauvage, 37819
# Traore-sur-Chevalier"). Found from the postcode: a 4- or 5-digit run after a comma, a city after it, and a
# street with a house number right before the comma.
# postcodes: 5 digits (DE FR IT ES), 4 digits and 2 letters (NL), 4 digits (BE AT CH DK), with a 3-digit
# tail (PL "00-238", PT "1100-053", BR "01310-100")
_EU_POSTCODE_CITY_RE = re.compile(rf"(?:\d{{5}}(?:-\d{{3}})?|\d{{4}}-\d{{3}}|\d\d-\d{{3}}|\d{{4}}(?:[ \t]?[A-Z]{{2}})?)[ \t]+{_PLACE_WORD}(?:[ \t]+{_PLACE_WORD}){{0,2}}(?![\w-])")
_HOUSE_NO = r"\d{1,5}[a-zA-Z]?(?:[-/]\d{1,5}[a-zA-Z]?)?"
_EU_STREET_WORD = rf"[{_UP}][{_UP}{_LO}'’.-]*"
_EU_LOWER = r"(?:de|del|della|di|da|do|dos|das|du|des|la|le|les|l['’]|d['’]|der|den|van|am|an|im|zum|zur|y|e)"
_EU_STREET_BEFORE_RE = re.compile(
    rf"(?<![\w.,/-])(?:{_EU_STREET_WORD}(?:[ \t]+(?:{_EU_LOWER}[ \t]+)*{_EU_STREET_WORD}){{0,3}}[ \t]+{_HOUSE_NO}"
    rf"|{_HOUSE_NO}(?:[ \t]*(?:bis|ter))?,?[ \t]+(?:[{_LO}][{_LO}.-]+[ \t]+)?(?:{_EU_LOWER}[ \t]*)*{_EU_STREET_WORD}"
    rf"(?:[ \t]+(?:{_EU_LOWER}[ \t]+)*{_EU_STREET_WORD}){{0,3}})[ \t]*,[ \t]*\Z"
)
# "lives at 12 Oak St, Springfield", "resides in New Johnburgh": the place after a residence cue runs to the end
# of its clause; a lower-case word ends it unless it belongs to an address ("4, avenue ...", "Traore-sur-Mer")
_RESIDENCE_TRIGGERS = frozenset("lives resides residing living resident".split())
_RESIDENCE_RE = re.compile(rf"(?<![\w])(?i:lives|resides|residing|living|resident)[ \t]+(?:at|in|on|of)[ \t]+(?=[\d{_UP}])")
_ADDRESS_LOWER = frozenset(
    "rue avenue boulevard bd av chemin allée allee impasse quai route cours passage place square voie via viale piazza corso "
    "calle avenida plaza paseo carrer rua straße strasse weg gasse allee platz ring de del della di da do dos das du des "
    "la le les sur sous en et der den van von am an im zum zur bei y e apt apartment unit suite flat".split()
)
_CLAUSE_END_RE = re.compile(r"[;:()\n]|[ \t]+[-–][ \t]|[ \t]{2,}|\.(?=[ \t]+[A-Z])")
# a label before the value of "Address:" is no part of it ("Home address: postcode TF15 1EW")
_ADDRESS_LABEL_RE = re.compile(r"(?i:post[ \t]*code|postal[ \t]+code|zip(?:[ \t]*code)?)[ \t]*[:#]?[ \t]*")
# "ZIP code 01001", "Postcode: SW1A 1AA", "postal code K1A 0B1": a postcode standing alone after its own cue,
# with no street or city to find it from; the value must have a postcode's shape (a bare "zip 5" is no code)
_POSTCODE_CUES, _POSTCODE_TRIGGERS = _cue_regex((r"zip(?:[ \t]*code)?", r"post[ \t]*code", r"postal[ \t]+code"))
_POSTCODE_CUE_RE = re.compile(
    rf"(?<![\w]){_POSTCODE_CUES}[ \t]*(?:[:#=-][ \t]*|(?i:is|was)[ \t]+)?"
    rf"((?:{_ZIP}|{_UK_POSTCODE}|{_CA_POSTCODE}|\d{{4}}(?:[ \t]?[A-Z]{{2}})?|\d{{2,5}}-\d{{3}}))(?![\w-])"
)
_PLACE_PREFIXES = frozenset("new north south east west lake port mount fort saint st upper lower great old san santa los las el la".split())


def _street_abbreviation(text: str, dot: int) -> bool:
    """True when the period at ``dot`` closes an abbreviation of an address ("St.", "Apt.", "Radelstr."), not a
    postcode or a word ("... WF8P 0SR. FINDINGS")."""
    i = dot
    while i > 0 and text[i - 1].isalpha():
        i -= 1
    word = text[i:dot].lower()
    return bool(word) and (i == 0 or not text[i - 1].isalnum()) and (word in ABBREVIATIONS or word.endswith("str"))


def _addresses(doc: _Doc, allow: AllowList) -> Iterator[Candidate]:
    text = doc.text
    n = len(text)
    found: list[tuple[int, int]] = []
    for m in _matches_at(_STREET_RE, text, (s for s, e in doc.digits if e - s <= 6)):
        # "0715 hours ...", "4 o'clock ...": a protected number shape is no street number, unless a city
        # follows the street ("30/4 Martinez Brow, Stevensside")
        if "," in m.group() or not touches_protected(text, m.start(), m.start() + 1):
            found.append(m.span())
    found.extend(m.span() for m in _matches_at(_UNIT_STREET_RE, text, doc.at(_UNIT_TRIGGERS)))
    found.extend(m.span() for m in _matches_at(_PO_BOX_RE, text, doc.at(_PO_BOX_TRIGGERS)))
    windows = [(max(0, s - 60), min(n, e + 6)) for s, e in doc.digits if e - s == 5]
    windows += [(max(0, p - 40), min(n, p + 50)) for p in doc.at(_STATE_TRIGGERS)]
    for ws, we in windows:
        found.extend(m.span() for m in _CITY_STATE_RE.finditer(text, ws, we))
    for s, e in doc.digits:
        # a postcode digit sits next to capitals: "SW1A 1AA", "B4J 8LU", "K1A 0B1"
        if e - s <= 2 and ((s > 0 and text[s - 1].isupper()) or text[e:e + 2].isupper()):
            found.extend(m.span() for m in _POSTCODE_RE.finditer(text, max(0, s - 45), min(n, e + 6)))
    for s, e in doc.digits:
        if (e - s in (4, 5) or (e - s == 2 and re.match(r"-\d{3}(?!\d)", text[e:e + 5]))) \
                and text[max(0, s - 2):s].rstrip(" \t").endswith(","):
            m = _EU_POSTCODE_CITY_RE.match(text, s)
            b = _EU_STREET_BEFORE_RE.search(text, max(0, s - 80), s) if m is not None else None
            if b is not None:
                street = [w for w in (_word(text, t) for t in _tokens(text, b.start(), b.end())) if len(w) > 1]
                city = [_word(text, t) for t in _tokens(text, s, m.end())]
                # the street and the city each need a word that is no report word ("Grade 3, 1234 Units" is none)
                if (any(not allow.is_allowed_word(w) and w.lower() not in _ADDRESS_LOWER for w in street)
                        and any(not allow.is_allowed_word(w) for w in city)
                        and not any(_MONTH_NAME_RE.fullmatch(w) for w in street + city)):
                    found.append((b.start(), m.end()))
    for s, e in sorted(set(found)):
        # a city after the street's comma must be a place, not report words ("12 Main Street, Mild cardiomegaly")
        comma = text.rfind(",", s, e)
        if comma > s:
            tail = [_word(text, t) for t in _tokens(text, comma, e)]
            if tail and not any(ch.isdigit() for ch in text[comma:e]) and all(allow.is_clinical_word(w) for w in tail) \
                    and normalise(tail[0]) not in _PLACE_PREFIXES:
                e = comma
        # "Mild ... SW1A 1AA"-style leading words: start at the first non-report word
        toks = _tokens(text, s, e)
        while (toks and toks[0][0] == s and not text[s].isdigit()
               and (allow.is_clinical_word(_word(text, toks[0])) or _word(text, toks[0]).lower() in _TITLE_WORDS)
               and _word(text, toks[0]) not in _UNIT_WORDS
               and text[toks[0][1]:toks[0][1] + 1] in (" ", "\t", ",", "\n") and normalise(_word(text, toks[0])) not in _PLACE_PREFIXES):
            nxt = re.search(r"[^\s,]", text[toks[0][1]:e])
            if not nxt:
                break
            s = toks[0][1] + nxt.start()
            toks = _tokens(text, s, e)
        yield Candidate(s, e, "ADDRESS", MEDIUM)
    for m in _matches_at(_POSTCODE_CUE_RE, text, doc.at(_POSTCODE_TRIGGERS)):
        yield Candidate(m.start(1), m.end(1), "ADDRESS", STRONG)
    for m in _matches_at(_RESIDENCE_RE, text, doc.at(_RESIDENCE_TRIGGERS)):
        s = m.end()
        c = _CLAUSE_END_RE.search(text, s)
        while c is not None and c.group() == "." and _street_abbreviation(text, c.start()):
            c = _CLAUSE_END_RE.search(text, c.end())  # "12 St. Kilda Rd", "Apt. 4"
        e = bound(text, s, c.start() if c else n, "ADDRESS")
        for t in re.finditer(rf"(?<![\w'’-])[{_LO}][{_LO}'’]*(?![\w'’-])", text[s:e]):
            if t.group() in ("upon", "on") and re.match(rf"[ \t]+[{_UP}]", text[s + t.end():s + t.end() + 2]):
                continue  # "Stoke on Trent", "Kingston upon Thames"
            if t.group() not in _ADDRESS_LOWER:
                e = s + t.start()
                break
        value = text[s:e].rstrip(" \t.,;:")
        words = [_word(text, t) for t in _tokens(text, s, s + len(value))]
        if value and not (words and all(allow.is_allowed_word(w) or w.lower() in _ADDRESS_LOWER for w in words)) \
                and not re.fullmatch(_STATE_FULL, value):
            yield Candidate(s, s + len(value), "ADDRESS", MEDIUM)
    for m in _matches_at(_ADDRESS_CUE_RE, text, doc.at(_ADDRESS_TRIGGERS)):
        s = m.end()
        label = _ADDRESS_LABEL_RE.match(text, s)
        if label is not None and label.end() > s:
            s = label.end()
        e = bound(text, s, _FIELD_END_RE.search(text, s).start(), "ADDRESS")
        # the next field's label ends it: "Address: 1 Elm St. John Smith MRN 10000000 Bilateral ..."
        for t in _tokens(text, s, e):
            if t[0] > s and (_ID_CUE_RE.match(text, t[0]) or _DOB_CUE_RE.match(text, t[0])):
                e = t[0]
                break
        r = _RECORD_NUMBER_RE.search(text, s, e)
        e = r.start() if r is not None and r.start() > s else e
        # a lower-case report word ends the address where no punctuation does ("... LS1 4AB lungs clear")
        for t in _LOWER_WORD_RE.finditer(text, s, e):
            if allow.is_clinical_word(t.group()):
                e = t.start()
                break
        value = text[s:e].rstrip(" .,;")
        # an address has a number or a capitalised word; "Home: n/a" or "Address: unknown" has neither
        if value and (any(ch.isdigit() for ch in value) or value[0].isupper()) and not allow.is_clinical_word(value):
            yield Candidate(s, s + len(value), "ADDRESS", STRONG)


# ---------------------------------------------------------------------------------------------------
# Institutions
# ---------------------------------------------------------------------------------------------------

_INST_KEYWORDS = (
    "Hospital", "Hospitals", "Medical Center", "Medical Centre", "Medical Group", "Medical Associates", "Health Center",
    "Health Centre", "Health System", "Health Services", "Health Network", "Health Partners", "Healthcare",
    "Health Care", "Health", "Clinic", "Clinics", "Infirmary", "Institute", "Imaging Center", "Imaging Centre",
    "Imaging Associates", "Imaging", "Radiology Associates", "Radiology Group", "Radiology Partners", "Radiology",
    "Diagnostics", "Cancer Center", "Cancer Centre", "Children's Hospital", "Memorial", "General", "Regional",
    "Sanatorium", "Hospice", "Nursing Home", "Rehabilitation Center", "Rehabilitation Centre", "Surgery Center",
    "Surgery Centre", "Surgical Center", "Surgical Centre", "Urgent Care", "Medical", "University", "Foundation",
    "NHS Trust", "NHS Foundation Trust", "Trust", "Permanente", "Family Practice", "Family Medicine",
    "Medical Practice", "Practice", "Open MRI", "Diagnostic Imaging", "Associates", "Partners",
    "Health Sciences Centre", "Health Sciences Center", "Sciences Centre", "Sciences Center", "Ziekenhuis", "Krankenhaus",
    "Klinikum", "Kliniken", "Klinik", "Spital",
)
# In capitals only the unmistakable keywords count ("RECALL FOR ADDITIONAL IMAGING" is no institution).
_INST_UPPER_KEYWORDS = (
    "Hospital", "Hospitals", "Medical Center", "Medical Centre", "Health System", "Infirmary", "Institute", "Clinic",
    "Imaging Center", "Imaging Centre", "Cancer Center", "Children's Hospital", "Regional", "Memorial",
    "NHS Trust", "NHS Foundation Trust", "Family Practice", "Open MRI", "Radiology Associates", "Healthcare",
    "Diagnostic Imaging", "Medical Group",
)
_INST_KEYWORD = (
    "(?:" + "|".join(sorted({k.replace(" ", r"[ \t]+").replace("'", "['’]") for k in _INST_KEYWORDS}
                            | {k.upper().replace(" ", r"[ \t]+").replace("'", "['’]") for k in _INST_UPPER_KEYWORDS}, key=len, reverse=True))
    + r")(?![\w])"
)
_INST_TRIGGERS = frozenset(k.split()[0].lower().replace("'s", "") for k in _INST_KEYWORDS)
_CAPW = r"[A-Z][A-Za-z'’&-]*"
_INST_NAME = rf"(?:(?:St\.?|ST\.?|Saint|SAINT|Ste\.?|Mt\.?|Mount)[ \t]+)?{_CAPW}(?:[ \t]+(?:(?:of|and|&|the|for|de|la|del|upon|on|OF|AND|THE)[ \t]+)?{_CAPW}){{0,4}}"
_INST_NAME_BEFORE_RE = re.compile(rf"(?<![\w])({_INST_NAME})[ \t]+\Z")
_INST_KEYWORD_RE = re.compile(
    rf"{_INST_KEYWORD}(?:[ \t]+(?:of|at|in|for)[ \t]+(?:the[ \t]+)?(?:(?:St|Ste|Mt|Ft)\.?[ \t]+)?{_CAPW}(?:[ \t]+(?:(?:upon|on)[ \t]+)?{_CAPW}){{0,2}})?"
)
# Abbreviated names: "Springfield Gen. Hosp.", "Portland Med. Ctr.", "Mercy Mem. Hospital", "Lakeside Hosp."; a
# head abbreviation needs its period or a qualifier before it ("Med Ctr"), so "Hosp" alone in a word list is none
_INST_QUALIFIER_ABBR = r"(?:Gen|Med|Mem|Univ|Reg|Comm|Hlth|Child(?:ren)?['’]?s?|Gen['’]l|GEN|MED|MEM|UNIV|REG)"
_INST_HEAD_ABBR = r"(?:Hosp|Hsp|Ctr|Cntr|Ctre|Inst|Clin|HOSP|CTR|INST)"
_INST_ABBR_KEYWORD_RE = re.compile(
    rf"(?:{_INST_QUALIFIER_ABBR}\.?[ \t]+)+(?:{_INST_HEAD_ABBR}\.?|Hospital|Center|Centre|Clinic|Institute)(?![\w])"
    rf"|{_INST_HEAD_ABBR}\."
)
_INST_ABBR_KEYWORD_TRIGGERS = frozenset(
    "gen med mem univ reg comm hlth child children gen'l hosp hsp ctr cntr ctre inst clin".split()
)
_SAINT_TRIGGERS = frozenset(("st", "saint"))
_UNIVERSITY_TRIGGERS = frozenset(("university",))
_SAINT_RE = re.compile(rf"(?<![\w])(?:St\.?|ST\.?|Saint|SAINT)[ \t]+(?:[A-Z][a-z]+|[A-Z]{{2,}})['’][sS](?![\w])(?:[ \t]+{_INST_KEYWORD})?")
_UNIVERSITY_RE = re.compile(rf"(?<![\w])(?:University|UNIVERSITY)[ \t]+(?:of|OF)[ \t]+{_CAPW}(?:[ \t]+{_CAPW}){{0,2}}")
_INST_CUES, _INST_CUE_TRIGGERS = _cue_regex((
    r"outside[ \t]+(?:films?|images?|imaging|study|studies|exam|examination|ct|cta|mri?|us|ultrasound|report|records?|hospital)[ \t]+(?:from|at)",
    r"transferred[ \t]+(?:here[ \t]+)?from", r"transfer[ \t]+from", r"performed[ \t]+at", r"obtained[ \t]+at", r"done[ \t]+at",
    r"acquired[ \t]+at",
    r"prior[ \t]+(?:study|exam|examination|ct|cta|mri?|imaging|films?|ultrasound|us|radiograph|pet/ct|pet)[ \t]+(?:from|at|performed[ \t]+at|obtained[ \t]+at|done[ \t]+at)",
    r"referred[ \t]+from", r"admitted[ \t]+(?:to|at)", r"seen[ \t]+at", r"presented[ \t]+to", r"images[ \t]+from",
    r"films[ \t]+from", r"reports?[ \t]+from", r"records[ \t]+from", r"transferred[ \t]+to",
    r"comparison[ \t]+(?:is[ \t]+)?made[ \t]+(?:to|with)[ \t]+(?:an?[ \t]+)?(?:prior[ \t]+)?(?:study|exam)[ \t]+from",
    r"at[ \t]+an[ \t]+outside[ \t]+(?:facility|hospital|institution)[ \t]*,?", r"outside[ \t]+institution[ \t]*,?",
))
_INST_CUE_RE = re.compile(
    rf"(?<![\w]){_INST_CUES}[ \t]*:?[ \t]+(?:the[ \t]+)?({_INST_NAME}[ \t]+(?:{_INST_ABBR_KEYWORD_RE.pattern})|{_INST_NAME})"
)
_CONNECTORS = frozenset("of and the for at in &".split())
# Names that put the keyword first: "Hôpital Pitié-Salpêtrière", "Klinikum rechts der Isar", "Ospedale San
# Raffaele", "Centre Hospitalier de Versailles", "Hospital Universitario La Paz", "Szpital Bródnowski". The
# index holds ASCII letter runs, so "Hôpital" is found by its run "pital" and "Clínica" by "nica".
_INST_PREFIX = (
    r"(?:H[ôo]pital|HÔPITAL|HOPITAL|Klinikum|KLINIKUM|Universitätsklinikum|Krankenhaus|Ospedale|OSPEDALE|Policlinico|"
    r"Clinique|Cl[íi]nica|Centre[ \t]+Hospitalier(?:[ \t]+(?:Universitaire|R[ée]gional))*|Centro[ \t]+Hospitalar|"
    # an English "Hospital" starts a name only with a qualifier or a Romance particle ("Hospital Day 3" is none)
    r"Hospital(?:[ \t]+(?:Universitario|Universitari|Universitário|General|Cl[íi]nico|Infantil|Provincial))+|"
    r"Hospital(?=[ \t]+(?:San|Santa|Sant|Santo|de|del|do|da|dos|das)[ \t])|"
    r"Szpital|Spital|Sjukhus|Ziekenhuis|Hôtel-Dieu|Instituto|Istituto|Institut|Polyclinique|CHU|CHRU)"
)
_INST_PREFIX_TRIGGERS = frozenset(
    "pital hopital klinikum universit krankenhaus ospedale policlinico clinique cl nica clinica centre centro hospital "
    "szpital spital sjukhus ziekenhuis instituto istituto institut polyclinique chu chru".split()
)
_INST_LOWER = r"(?:de|del|della|dei|degli|di|da|do|dos|das|du|des|la|le|les|l['’]|d['’]|der|die|den|het|am|an|im|zum|zur|y|e|i|rechts|links|St\.?|San|Santa|Sant['’]|Saint|Sainte)"
_INST_PLACE_WORD = rf"[{_UP}][{_UP}{_LO}'’-]*[{_UP}{_LO}]"
_INST_PREFIX_RE = re.compile(
    rf"(?<![\w-]){_INST_PREFIX}((?:[ \t]+(?:{_INST_LOWER}[ \t]*)*{_INST_PLACE_WORD}){{1,4}})(?![\w-])"
)
# A field of its own after a clinician's name in a referrer line: "Referring physician: Marchal, Thijs, TGH.",
# "... Dr. Kara Simon, MBBS, Guy's and St Thomas'." The field must close the line or the sentence.
_REFERRER_TRIGGERS = frozenset("referring ordering requesting referred ordered requested".split())
_REFERRER_RE = re.compile(
    rf"(?<![\w])(?i:(?:referring|ordering|requesting)(?:[ \t]+(?:physician|provider|doctor|clinician|consultant|md|dr))?|"
    rf"(?:referred|ordered|requested)[ \t]+by)[ \t]*:?[ \t]*(?:(?:{_TITLES})[ \t]*)?(?:{_NAME_ANY})"
    rf"(?:[ \t]*,?[ \t]*(?:{_CREDENTIALS})(?![\w]))*+[ \t]*,[ \t]*(?!(?:{_CREDENTIALS})(?![\w]))"
    rf"((?:St\.?[ \t]+)?{_INST_PLACE_WORD}(?:[ \t]+(?:(?:of|and|&|the|for|de|la|St\.?)[ \t]+)*{_INST_PLACE_WORD}['’]?){{0,5}}['’]?|[{_UP}]{{2,6}})"
    rf"(?=[ \t]*(?:[.;\n]|$))"
)
# An abbreviation after a cue: "seen at KG", "transferred from SGH". After an institution cue any capitals
# abbreviation that is no report abbreviation (CT, ICU, ED, PA, or one of these); after a bare "at" or "from"
# only the commonest hospital form, three to six capitals ending in H ("at RLH", "from UCLH"): reports put
# procedures and findings in capitals there too ("changes from CABG", "bleeding from SAH").
_NOT_INST_ABBR = frozenset(
    "ecg ekg eeg emg gp ot snf ltac ltach ir osh am pm est edt cst cdt pst pdt utc gmt mrn dob id op hd tb xr dx rx "
    "hx fx sx tx lmp bmi hr bp rr hpi ros pmh npo nkda cad chf dvt pe sob uti ards aki ckd esrd mi cva tia htn dm oa "
    "ra acl pcl mcl lcl cp ruq luq rlq llq lv rv la ivc sma ima cbd gb lad rca lcx tips ercp eus pet spect dexa dxa "
    "cta mra mrcp axr kub ivp vcug fdg suv hu ob gyn or er ed icu nicu picu ccu micu sicu pacu ent ems ama dnr dni "
    "ap pa us ct mri cxr usa uk eu nhs va sah ich ivh sdh edh lvh rvh bph iph nph pth tsh acth ldh fnh dish pph cabg "
    "tavr tavi pci turp evar tevar vats ptca avr mvr icd aicd ppm crt mvp hcc rcc nsclc sclc copd ild uip nsip "
    "nash mash ash hh bih cih fsh lh gh adh anh".split()
)
_INST_ABBR_RE = re.compile(r"(?<![\w-])(?i:at|from)[ \t]+([A-Z]{2,5}H)(?![\w-]|\.\w)")
# ... and the same hospital form in brackets after a study or a name: "CT chest 2019 (KCH)", "Dr Ahmed (RLH)"
_INST_ABBR_BRACKET_RE = re.compile(r"(?<=\()([A-Z]{2,5}H)(?=\))")
_INST_ABBR_TRIGGERS = frozenset(("at", "from"))
_GENERIC_INST_WORDS = frozenset(
    "hospital hospitals medical center centre clinic clinics health system healthcare care imaging institute "
    "infirmary general regional university radiology associates group services the of and for family practice open "
    "mri diagnostic diagnostics partners foundation trust nhs community children's "
    "gen med mem univ reg comm hlth hosp hsp ctr cntr ctre inst clin".split()
)


def _inst_abbreviation(word: str, allow: AllowList) -> bool:
    """True for a capitals abbreviation that may name an institution (never a report abbreviation)."""
    return 2 <= len(word) <= 6 and word.isupper() and word.isalpha() and word.lower() not in _NOT_INST_ABBR \
        and not allow.is_allowed_word(word) and not _CREDENTIAL_RE.fullmatch(word)


def _institutions(doc: _Doc, allow: AllowList) -> Iterator[Candidate]:
    text = doc.text
    spans: list[tuple[int, int]] = []
    for p in doc.at(_INST_PREFIX_TRIGGERS):
        q = p
        while q > 0 and (text[q - 1].isalpha() or text[q - 1] == "-"):
            q -= 1
        m = _INST_PREFIX_RE.match(text, q)
        if m is None:
            continue
        toks = _tokens(text, m.start(1), m.end(1))
        while toks and (allow.is_clinical_word(_word(text, toks[-1])) or re.fullmatch(_INST_LOWER, _word(text, toks[-1]))):
            toks.pop()  # "Hospital General Radiology": a report word closes no name
        if toks and any(not allow.is_clinical_word(_word(text, t)) and not re.fullmatch(_INST_LOWER, _word(text, t)) for t in toks):
            yield Candidate(m.start(), toks[-1][1], "INSTITUTION", MEDIUM)
    for m in _matches_at(_REFERRER_RE, text, doc.at(_REFERRER_TRIGGERS)):
        s, e = m.span(1)
        words = [_word(text, t) for t in _tokens(text, s, e)]
        if len(words) == 1 and words[0].isupper():
            if _inst_abbreviation(words[0], allow):
                yield Candidate(s, e, "INSTITUTION", MEDIUM)
        elif words and not any(allow.is_clinical_word(w) and normalise(w) not in _GENERIC_INST_WORDS for w in words) \
                and any(not allow.is_allowed_word(w) and normalise(w) not in _GENERIC_INST_WORDS for w in words if len(w) > 2):
            yield Candidate(s, e, "INSTITUTION", MEDIUM)
    for m in _matches_at(_INST_ABBR_RE, text, doc.at(_INST_ABBR_TRIGGERS)):
        if _inst_abbreviation(m.group(1), allow):
            yield Candidate(*m.span(1), "INSTITUTION", MEDIUM)
    if "(" in text:
        for m in _INST_ABBR_BRACKET_RE.finditer(text):
            if _inst_abbreviation(m.group(1), allow):
                yield Candidate(*m.span(1), "INSTITUTION", MEDIUM)
    for p in doc.at(_INST_TRIGGERS):
        k = _INST_KEYWORD_RE.match(text, p)
        if k is None:
            continue
        n = _INST_NAME_BEFORE_RE.search(text, max(0, p - 90), p)
        if n is not None:
            spans.append((n.start(), k.end()))
    for p in doc.at(_INST_ABBR_KEYWORD_TRIGGERS):
        k = _INST_ABBR_KEYWORD_RE.match(text, p)
        n = _INST_NAME_BEFORE_RE.search(text, max(0, p - 90), p) if k is not None else None
        if n is not None:
            spans.append((n.start(), k.end()))
    spans.extend(m.span() for m in _matches_at(_SAINT_RE, text, doc.at(_SAINT_TRIGGERS)))
    spans.extend(m.span() for m in _matches_at(_UNIVERSITY_RE, text, doc.at(_UNIVERSITY_TRIGGERS)))
    for s, e in spans:
        toks = _tokens(text, s, e)
        # drop leading report words ("Comparison Mercy Hospital", "Outside Hospital")
        while toks and allow.is_clinical_word(_word(text, toks[0])) and normalise(_word(text, toks[0])) not in _PLACE_PREFIXES:
            toks.pop(0)
        if not toks:
            continue
        names = [_word(text, t) for t in toks if normalise(_word(text, t)) not in _GENERIC_INST_WORDS]
        if not any(len(w) > 2 and not allow.is_clinical_word(w) and not _MONTH_NAME_RE.fullmatch(w) and w.strip("Xx") for w in names):
            continue
        yield Candidate(toks[0][0], e, "INSTITUTION", MEDIUM)
    for m in _matches_at(_INST_CUE_RE, text, doc.at(_INST_CUE_TRIGGERS)):
        s, e = m.span(1)
        toks = _tokens(text, s, e)
        while toks and (allow.is_clinical_word(_word(text, toks[-1])) and normalise(_word(text, toks[-1])) not in _GENERIC_INST_WORDS
                        or normalise(_word(text, toks[-1])) in _CONNECTORS or _MONTH_NAME_RE.fullmatch(_word(text, toks[-1]))):
            toks.pop()
        while (toks and allow.is_clinical_word(_word(text, toks[0])) and normalise(_word(text, toks[0])) not in _GENERIC_INST_WORDS
               and normalise(_word(text, toks[0])) not in _PLACE_PREFIXES):
            toks.pop(0)
        words = [_word(text, t) for t in toks]
        if len(words) == 1 and _inst_abbreviation(words[0], allow):
            yield Candidate(*toks[0], "INSTITUTION", MEDIUM)  # "seen at KG on ..."
            continue
        if not any(len(w) > 2 and not allow.is_clinical_word(w) and normalise(w) not in _GENERIC_INST_WORDS and w.strip("Xx") for w in words):
            continue
        e = toks[-1][1] - (1 if text[toks[-1][1] - 1] == "." else 0)
        yield Candidate(toks[0][0], e, "INSTITUTION", MEDIUM)


# A clinician's affiliation written short after the name, its credentials or role: "Dr Noah P. Martin, SGH",
# "Prof. Agnes Chretien, FRANZCR (BWH)", "J. Llorens FRCR / UCLH", "Consultant Radiologist, SVUH". The
# abbreviation must close its field (a line end, a bracket, a wide gap, punctuation) or be bracketed.
_AFFILIATION_RE = re.compile(
    rf"(?:[ \t]*,?[ \t]*(?:{_CREDENTIALS}|(?i:consultant|radiologist|registrar|resident|fellow|attending))(?![\w]))*"
    rf"[ \t]*(?:(\()[ \t]*|[,/–-][ \t]*)([A-Z][A-Z&]{{1,5}})(?![\w&])(?(1)[ \t]*\)|(?=[ \t]*(?:[.,;:)\]|\n]|$|[ \t]{{2}}|[ \t]+[A-Z][a-z])))"
)


def _affiliations(text: str, names: Sequence[Candidate], allow: AllowList) -> Iterator[Candidate]:
    for c in names:
        if c.kind != "NAME":
            continue
        m = _AFFILIATION_RE.match(text, c.end)
        if m is not None and _inst_abbreviation(m.group(2), allow):
            yield Candidate(*m.span(2), "INSTITUTION", MEDIUM)


# ---------------------------------------------------------------------------------------------------
# Putting it together
# ---------------------------------------------------------------------------------------------------

def find_candidates(text: str, allow: AllowList | None = None, cache: dict[str, tuple[Candidate, ...]] | None = None,
                    cache_size: int = 0) -> list[Candidate]:
    """Every recognizer's proposals for ``text``, unfiltered and possibly overlapping.

    The recognizers look at one sentence at a time (:func:`sentence_pieces`): an identifier never crosses
    a sentence end, so this loses nothing, and it lets ``cache`` (a dict from sentence to its candidates,
    cleared when it holds ``cache_size``) skip the sentences seen before. Radiology reports repeat their
    sentences ("No pneumothorax."), so most sentences of an archive are looked up, not scanned. Only the
    propagation of a found name to its other mentions looks at the whole text. Results never depend on
    the cache. (Whole texts seen before are the caller's to remember: the engine keeps their final spans.)"""
    allow = allow or AllowList()
    cached = cache is not None and cache_size > 0
    if _nothing_to_find(text, allow):
        # no recognizer can fire anywhere in it, so on none of its sentences either (the screen only looks at
        # words and characters): about half the sections of an archive end here, unsplit
        return []
    out: list[Candidate] = []
    for s, e in sentence_pieces(text):
        piece = text[s:e]
        found = cache.get(piece) if cached else None
        if found is None:
            found = tuple(_piece_candidates(piece, allow))
            if cached:
                remember(cache, cache_size, piece, found)
        out.extend(found if s == 0 else (Candidate(s + c.start, s + c.end, c.kind, c.strength, c.source) for c in found))
    names = [c for c in out if c.kind == "NAME"]
    if names:
        out.extend(_with_initials(text, _propagate_names(_Doc.of(text), names, allow)))
    return out


def remember(cache: dict[str, Any], size: int, key: str, value: Any) -> None:
    """Put ``value`` in ``cache``, clearing it first when it holds ``size`` entries (the policy of every
    de-identification cache)."""
    if len(cache) >= size:
        cache.clear()  # cheaper than an LRU's bookkeeping on every hit; refills within a chunk
    cache[key] = value


_SCREEN_RE = re.compile(r"[\d@]")
_LETTERS_RE = re.compile(r"[^\W\d_]+")  # any script: "Şama" is one word, not "ama"
# lower-case words after which a lower-case name is read ("dr. smith", "discussed with john smith"), and the
# verbs that make the word before them a name ("Smith was notified")
_LOWER_CUES = (
    _TITLE_WORDS | _VERBAL_TRIGGERS | _PATIENT_TRIGGERS | _CC_TRIGGERS
    | frozenset("notified paged informed contacted called aware".split())
)


def _nothing_to_find(text: str, allow: AllowList) -> bool:
    """A cheap pre-screen: True when no recognizer can fire on ``text``, so none is run.

    Every date, phone, ID, street address and postcode holds a digit, an e-mail an "@", a web address
    passes the URL gate; an age holds a digit or a number word that only ages over 89 need ("ninety",
    "hundred"). A name, institution or address needs a capitalised word that is not report
    vocabulary (the recognizers drop report words from both ends of what they find), or a cue that reads a
    lower-case name after it ("dr.", "discussed with", "Patient:"). So a sentence of lower-case words
    and capitalised report words alone ("No pleural effusion or pneumothorax.") holds no identifier;
    anything else, a typo or an abbreviation in capitals included, goes through every recognizer. The
    test suite checks on every corpus it has that a screened sentence has no candidate."""
    if _SCREEN_RE.search(text) is not None or _URL_GATE_RE.search(text) is not None:
        return False
    safe = allow.screened_words
    unknown = set(_LETTERS_RE.findall(text)).difference(safe)
    if not unknown:
        return True
    marked = ":" in text or "#" in text or "=" in text
    is_clinical = allow.is_clinical_word
    for w in unknown:
        lw = w.lower()
        if lw in _LOWER_CUES or lw in AGE_WORD_TRIGGERS or (marked and lw in _COLON_TRIGGERS):
            return False  # (an age in words, "ninety-three years old", holds no digit)
        if lw != w and not is_clinical(w):
            return False
        if lw not in _COLON_TRIGGERS and len(safe) < _SCREENED_WORDS_MAX:
            safe.add(w)  # safe in any sentence: a colon trigger is safe only where no ":" follows, so never kept
    return True


#: at most this many words remembered as screened (a vocabulary, not an archive: names are never safe)
_SCREENED_WORDS_MAX = 200_000


def sentence_pieces(text: str) -> list[tuple[int, int]]:
    """``text`` cut at its sentence ends (:func:`~radtrust.deid.bounds.sentence_ends`), each piece without
    the white space before it: the same sentence is the same piece wherever it stands."""
    out: list[tuple[int, int]] = []
    start = 0
    n = len(text)
    for end in sentence_ends(text):
        out.append((start, end))
        start = end
        while start < n and text[start].isspace():
            start += 1
    if start < n:
        out.append((start, n))
    return out


def _piece_candidates(text: str, allow: AllowList) -> list[Candidate]:
    """What the recognizers propose inside one sentence (everything but the propagation of names)."""
    if _nothing_to_find(text, allow):
        return []
    doc = _Doc.of(text)
    out: list[Candidate] = []
    out.extend(_dates_in(doc))
    out.extend(_ages(doc))
    out.extend(_phones(doc))
    out.extend(_emails_urls(doc))
    out.extend(_ids(doc))
    out.extend(_addresses(doc, allow))
    out.extend(_institutions(doc, allow))
    out.extend(_names(doc, allow) + _field_names(text, out, allow) + _line_end_names(text, allow))
    out.extend(_affiliations(text, out, allow))
    return _with_initials(text, out)


_INITIAL_BEFORE_RE = re.compile(rf"(?<![\w.])[{_UP}]\. ?\Z")


def _with_initials(text: str, cands: list[Candidate]) -> list[Candidate]:
    """Extend a name over an initial right before it ("J. Smith" when only "Smith" was found)."""
    out = []
    for c in cands:
        if c.kind == "NAME" and c.start >= 2:
            m = _INITIAL_BEFORE_RE.search(text, max(0, c.start - 3), c.start)
            if m is not None:
                c = Candidate(m.start(), c.end, c.kind, c.strength, c.source)
        out.append(c)
    return out


_ALREADY_MASKED_RE = re.compile(r"(?:[Xx*_#]{2,}|\[[A-Z>0-9+-]+\])(?:[ ,./-]+(?:[Xx*_#]{2,}|\[[A-Z>0-9+-]+\]))*")


def resolve(text: str, candidates: Iterable[Candidate], allow: AllowList | None = None,
            kinds: Iterable[str] = KINDS) -> list[Span]:
    """Apply the allow-list to candidates and merge overlapping ones into sorted, disjoint spans.

    A merged span covers the union of its members and takes the kind of the longest member, so a name
    inside an institution ("St. Mary's Hospital") leaves one INSTITUTION span.
    """
    allow = allow or AllowList()
    wanted = set(kinds)
    cands = [c for c in candidates if c.kind in wanted and c.end > c.start]
    if not cands:
        return []
    user = allow.user_spans(text)
    firm = {(c.start, c.end) for c in cands if c.strength > WEAK}
    kept: list[Candidate] = []
    for c in cands:
        if any(s <= c.start and c.end <= e for s, e in user):
            continue
        if _ALREADY_MASKED_RE.fullmatch(text, c.start, c.end):
            continue  # "XXXX", "XXXX, XXXX", "[NAME]": scrubbed before, nothing left to hide
        if c.strength == WEAK and (c.start, c.end) not in firm and touches_protected(text, c.start, c.end):
            continue
        if c.strength < STRONG and inside_clinical_code(text, c.start, c.end):
            continue  # "Staging T2N1M0": a stage, not a postcode (a cue's value still counts)
        weak_evidence = c.strength < STRONG if c.kind == "NAME" else c.strength == WEAK and c.kind in ("INSTITUTION", "ADDRESS")
        if weak_evidence and _all_allowed(text, c.start, c.end, allow):
            continue
        kept.append(c)
    kept.sort(key=lambda c: (c.start, -c.end))
    spans: list[Span] = []
    group: list[Candidate] = []
    end = -1
    for c in [*kept, None]:
        if c is not None and group and c.start < end:
            group.append(c)
            end = max(end, c.end)
            continue
        if group:
            best = max(group, key=lambda g: (g.end - g.start, g.strength, -_KIND_PRIORITY[g.kind], g.source == "radtrust"))
            spans.append(Span(group[0].start, end, best.kind, best.source))
        if c is not None:
            group, end = [c], c.end
    return spans
