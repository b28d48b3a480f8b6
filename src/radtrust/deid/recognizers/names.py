"""NAME: people's names from titles, credentials, cue phrases, formats ("Last, First", DICOM ``^``) and header
fields, following the rule-based de-identifiers "Scrub" (Sweeney, 1996) and "deid" (Neamatullah et al., 2008),
with a small first-name / surname dictionary for names that appear without any cue."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from radtrust.deid.allowlist import EPONYM_HEADS, LETTER_WORDS, AllowList, normalise
from radtrust.deid.recognizers.base import ALPHA_RUN_RE, LO, MEDIUM, STRONG, UP, WEAK, Candidate, Doc, cue_regex, matches_at
from radtrust.deid.recognizers.dates import MONTH_NAME_RE
from radtrust.deid.recognizers.ids import DOB_CUE_RE, ID_CUE_RE, NAME_LABEL_TRIGGERS, RECORD_NUMBER_RE

_TITLE_PART = rf"[{UP}](?:['’][{UP}])?[{LO}]+(?:[{UP}][{LO}]+)?(?:['’][{UP}][{LO}]+)?"
_UPPER_PART = rf"[{UP}](?:['’][{UP}])?[{UP}]+(?:['’][{UP}]{{2,}})?"
# After the first capital: the rest of a title-case word (hyphenated parts may be lower-case: "Min-jun")
# or of an upper-case word. Written this way a word starts with a character class, which the regex
# engine can scan for quickly.
_TITLE_REST = rf"(?:['’][{UP}])?[{LO}]+(?:[{UP}][{LO}]+)?(?:['’][{UP}][{LO}]+)?(?:-(?:{_TITLE_PART}|[{LO}]{{2,}}))*"
_UPPER_REST = rf"(?:['’][{UP}])?[{UP}]+(?:['’][{UP}]{{2,}})?(?:-{_UPPER_PART})*"
# a title is never a name word ("Dr. Weber, DR. De Luca" is two names, not "Weber, DR")
_NOT_TITLE = "".join(rf"(?<!\b{t})" for t in ("Dr", "DR", "Mr", "MR", "Ms", "MS", "Mx", "Drs", "Mrs", "MRS", "Prof", "PROF"))
_WORD_TAIL = rf"(?![{UP}{LO}\d]){_NOT_TITLE}"
_WORD = rf"[{UP}](?:{_TITLE_REST}|{_UPPER_REST}){_WORD_TAIL}"
# the same, anchored: not inside another word
_WORD_START = rf"[{UP}](?<![\w'’-][{UP}])(?:{_TITLE_REST}|{_UPPER_REST}){_WORD_TAIL}"
_INITIAL = rf"[{UP}]\.(?: ?[{UP}]\.)*"
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
    rf"(?: (?:(?:{_INITIAL}|[{UP}](?= [{UP}])) ?)?{_PARTICLES}{_WORD}){{0,3}}"
    rf"(?: [{UP}]\.?(?![\w.]))?"
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
    rf"(?:{_PARTICLES}{_WORD} {_PARTICLES}{_WORD} ?, ?{_NOT_CRED}(?:{_INITIAL}-)?{_WORD}(?: (?:{_INITIAL}|[{UP}](?![\w.])))?"
    rf"(?! ?[{UP}{LO}])|{_PARTICLES}{_WORD}(?:,? (?:van|von|de|der|den|ten|ter)(?: (?:der|den|de|het))?)? ?, ?{_NOT_CRED}(?:{_INITIAL}-)?{_WORD}(?: (?:{_INITIAL}|[{UP}](?![\w.])|{_WORD})){{0,2}})"
)
_DICOM_NAME = rf"{_PARTICLES}{_WORD}(?:\^(?:{_PARTICLES}{_WORD}|[{UP}]\.?)){{1,3}}\^*"
NAME_ANY = rf"(?:{_DICOM_NAME}|{_LAST_FIRST}|{_NAME_SEQ})"
_NAME_ANY_RE = re.compile(NAME_ANY)

# a title is a word of its own: "Drewes" starts with no "Dr"
NAME_TITLES = r"(?:Dr|DR|Drs|Doctor|DOCTOR|Mr|Mrs|MRS|Ms|Mx|Miss|MISS|Prof|PROF|Professor|Sr|Rev)(?:\.|(?![\w]))|(?:MR|MS|dr|mr|mrs|ms)\."
TITLE_WORDS = frozenset("dr drs doctor mr mrs ms mx miss prof professor sr rev".split())
_TITLE_RE = re.compile(rf"(?<![\w.])(?:{NAME_TITLES})[ \t]*({NAME_ANY})")
_TITLE_LOWER_RE = re.compile(r"(?<![\w.])(?:dr|mr|mrs|ms|prof)\.?[ \t]+([a-z][a-z'’-]+(?:[ \t]+[a-z][a-z'’-]+)?)")

CREDENTIALS = (
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
    rf"(?:[ \t]*,[ \t]*(?:{CREDENTIALS})|[ \t]+(?:M\.?D\.?|R\.?N\.?|RT[ \t]*\(\w+\)(?:[ \t]*\(\w+\))*|PA-C|N\.?P\.?|"
    r"MBBS|FRCR|FRCPC|Ph\.?D\.?|PHD|DNP|CRNA|RDMS|RVT|CNMT|ARRT|FACR|APRN|FNP|FNP-C))(?![\w])"
)
CREDENTIAL_RE = re.compile(rf"(?:{CREDENTIALS})")
_CRED_AFTER_RE = re.compile(rf"[ \t]*,?[ \t]*(?:{CREDENTIALS})(?![\w])")
_NAME_BEFORE_RE = re.compile(rf"(?<![\w'’-])(?:{NAME_ANY})\Z")

_COLON_CUES, _COLON_TRIGGERS = cue_regex(
    (
        r"patient(?:['’]s)?[ \t]+name",
        "patient",
        r"pt[ \t]+name",
        "pt",
        "name",
        r"full[ \t]+name",
        r"attending(?:[ \t]+(?:physician|radiologist))?",
        "resident",
        "fellow",
        "technologist",
        "tech",
        "technician",
        "sonographer",
        "radiographer",
        "radiologist",
        "reader",
        r"reading[ \t]+radiologist",
        r"referring(?:[ \t]+(?:physician|provider|doctor|clinician|md|dr))?",
        r"ordering(?:[ \t]+(?:physician|provider|doctor|clinician|md|dr))?",
        r"requested[ \t]+by",
        r"requesting(?:[ \t]+(?:physician|provider|clinician))?",
        r"ordered[ \t]+by",
        r"referred[ \t]+by",
        "cc",
        r"copy[ \t]+to",
        r"copies[ \t]+to",
        "pcp",
        r"primary[ \t]+care(?:[ \t]+(?:physician|provider))?",
        "physician",
        "provider",
        "clinician",
        "surgeon",
        "nurse",
        r"dictated(?:[ \t]+by)?",
        r"signed(?:[ \t]+by)?",
        r"e-signed(?:[ \t]+by)?",
        r"esigned(?:[ \t]+by)?",
        r"electronically[ \t]+signed(?:[ \t]+by)?",
        "signature",
        r"read[ \t]+by",
        r"reviewed(?:[ \t]+by)?",
        r"verified(?:[ \t]+by)?",
        r"attested(?:[ \t]+by)?",
        r"approved(?:[ \t]+by)?",
        r"interpreted[ \t]+by",
        r"performed[ \t]+by",
        r"reported[ \t]+by",
        r"transcribed[ \t]+by",
        "transcriptionist",
        "scribe",
        "author",
        "by",
        "guardian",
        r"emergency[ \t]+contact",
        r"next[ \t]+of[ \t]+kin",
        "nok",
        "contact",
        "mother",
        "father",
        "spouse",
        "parent",
        "informant",
        r"last[ \t]+name",
        r"first[ \t]+name",
        "surname",
        r"given[ \t]+name",
        r"maiden[ \t]+name",
        "aka",
        "alias",
    )
)
_COLON_CUE_RE = re.compile(
    rf"(?<![\w-]){_COLON_CUES}[ \t]*[:#=][ \t]*(?:(?:{NAME_TITLES})[ \t]*)?"
    rf"({NAME_ANY}|[a-z][a-z'’-]+(?:,?[ \t]+[a-z][a-z'’-]+){{0,2}}|[{UP}]{{2,3}}(?![\w])|(?:[{UP}]\.){{2,3}})"
)

_FAMILY = (
    "son",
    "daughter",
    "wife",
    "husband",
    "mother",
    "father",
    "brother",
    "sister",
    "spouse",
    "partner",
    "niece",
    "nephew",
    "grandson",
    "granddaughter",
    "grandmother",
    "grandfather",
    "aunt",
    "uncle",
    "cousin",
    "friend",
    "caregiver",
    "guardian",
    "fiance",
    "fiancee",
    "fiancée",
    "boyfriend",
    "girlfriend",
    "parent",
    "parents",
    "child",
)
_ROLE_WORDS = (
    r"(?:the[ \t]+|a[ \t]+|an[ \t]+|her[ \t]+|his[ \t]+|their[ \t]+)?(?:(?:patient|pt)['’]?s?[ \t]+)?"
    r"(?:(?:referring|ordering|attending|covering|on-call|on[ \t]+call|ed|er|emergency|primary|treating|consulting|"
    r"requesting|overnight|night|day|floor|icu|charge|bedside|clinical)[ \t]+)*"
    r"(?:(?:physician|provider|doctor|clinician|surgeon|nurse|radiologist|resident|fellow|team|np|pa|rn|md|"
    rf"practitioner|technologist|tech|{'|'.join(_FAMILY)})['’]?s?[ \t]*,?[ \t]+)?"
)
_SIGNATURE_CUES, _SIGNATURE_TRIGGERS = cue_regex(
    (
        r"read[ \t]+by",
        r"dictated[ \t]+by",
        r"signed[ \t]+by",
        r"e-signed[ \t]+by",
        r"esigned[ \t]+by",
        r"electronically[ \t]+signed[ \t]+by",
        r"signed[ \t]+out[ \t]+by",
        r"reviewed[ \t]+by",
        r"verified[ \t]+by",
        r"interpreted[ \t]+by",
        r"attested[ \t]+by",
        r"approved[ \t]+by",
        r"transcribed[ \t]+by",
    )
)
_SIGNATURE_CUE_RE = re.compile(rf"(?<![\w]){_SIGNATURE_CUES}[ \t]*[,:]?[ \t]+(?:(?:{NAME_TITLES})[ \t]*)?({NAME_ANY})")
_VERBAL_CUES, _VERBAL_TRIGGERS = cue_regex(
    (
        r"discussed[ \t]+with",
        "d/w",
        r"d\\w",
        r"called[ \t]+to",
        r"communicated[ \t]+to",
        r"conveyed[ \t]+to",
        r"relayed[ \t]+to",
        r"reported[ \t]+to",
        r"given[ \t]+to",
        "notified",
        "paged",
        "informed",
        r"seen[ \t]+by",
        r"evaluated[ \t]+by",
        r"referred[ \t]+by",
        r"ordered[ \t]+by",
        r"requested[ \t]+by",
        r"spoke[ \t]+(?:with|to)",
        r"spoken[ \t]+(?:with|to)",
        r"talked[ \t]+(?:with|to)",
        "telephoned",
        "phoned",
        "contacted",
        r"attn\.?",
        "attention",
        "per",
        r"care[ \t]+of",
        "c/o",
        r"follow-up[ \t]+with",
        r"followup[ \t]+with",
        r"follow[ \t]+up[ \t]+with",
        r"followed[ \t]+by",
        "by",
        "attending",
        "resident",
        "fellow",
        "technologist",
        "sonographer",
        r"referring[ \t]+physician",
        r"ordering[ \t]+physician",
        *_FAMILY,
    )
)
_VERBAL_CUE_RE = re.compile(rf"(?<![\w]){_VERBAL_CUES}[ \t]*[,:]?[ \t]+(?i:{_ROLE_WORDS})(?:(?:{NAME_TITLES})[ \t]*)?({NAME_ANY})")
_VERBAL_CUE_LOWER_RE = re.compile(rf"(?<![\w]){_VERBAL_CUES}[ \t]*[,:]?[ \t]+(?i:{_ROLE_WORDS})([a-z][a-z'’-]+(?:[ \t]+[a-z][a-z'’-]+){{0,2}})")
# "Patient Wang, Min (MRN ...)": no comma after the cue ("young patient, low pretest probability")
_PATIENT_CUE_RE = re.compile(rf"(?<![\w])(?:patient|Patient|PATIENT|pt|Pt|PT)[ \t]+(?:(?:{NAME_TITLES})[ \t]*)?({NAME_ANY})")
# "cc" (lower or title case: "CC" in capitals is the craniocaudal view)
_PATIENT_TRIGGERS = frozenset(("patient", "pt"))
_CC_TRIGGERS = frozenset(("cc",))
_CC_RE = re.compile(rf"(?<![\w])(?:cc|Cc)[ \t]+(?:(?:{NAME_TITLES})[ \t]*)?({NAME_ANY})")
# "Dr. X was notified", "Smith was paged at 3 pm": the cue is found first, the name read backwards
_AFTER_NAME_TRIGGERS = frozenset("was were is has had notified paged informed contacted called made aware".split())
_AFTER_NAME_CUE_RE = re.compile(r"[ \t]*,?[ \t]+(?:was|were|is|has[ \t]+been|had[ \t]+been)?[ \t]*(?:notified|paged|informed|contacted|called|made[ \t]+aware|aware)(?![\w])")
# More names in a list after a cue: "cc: Dr. A; B. Jones, MD / Smith, John"
_LIST_NEXT_RE = re.compile(rf"[ \t]*(?:,?[ \t]*(?:{CREDENTIALS})(?![\w]))*+[ \t]*(?:[;/&|]|,|[ \t]and[ \t])[ \t]*(?:and[ \t]+)?(?:(?:{NAME_TITLES})[ \t]*)?({NAME_ANY})")
# formats without a cue; each starts with a character class so the engine can skip ahead
_MIDDLE_INITIAL_RE = re.compile(rf"({_WORD_START}) [{UP}]\. ?{_PARTICLES}({_WORD})")
_LAST_FIRST_RE = re.compile(rf"({_WORD_START}) ?, ?({_WORD})(?: (?:{_INITIAL}|[{UP}](?![\w.])))?")
_FIELD_START_WORD_RE = re.compile(rf"(?:^|(?<=[\n\t|:]))[ \t]*({_WORD}) \Z")
_DICT_SEQ_RE = re.compile(rf"{_WORD_START}(?: (?:(?:{_INITIAL}|[{UP}](?= [{UP}])) ?)?{_PARTICLES}{_WORD}){{1,3}}")
_DOTTED_CREDENTIAL_RE = re.compile(r"(?:M\.D|D\.O|R\.N|N\.P|P\.A|D\.C|D\.M\.D|D\.D\.S)\.(?![\w])")
_INITIAL_SURNAME_RE = re.compile(rf"[{UP}](?<![\w.][{UP}])\. ?(?:[{UP}]\. ?)?{_PARTICLES}({_WORD})")
# A header field: the text between wide gaps, tabs and bars
_FIELD_RE = re.compile(r"[^|\t ](?:[^|\t]*?[^|\t ])?(?=[ \t]{2,}|\t|[ \t]+[|/–-][ \t]+|[ \t]*[|]|[ \t]*$)")
_TOKEN_RE = re.compile(rf"[{UP}{LO}][{UP}{LO}'’-]*\.?|[{UP}]\.")
_TEXT_WORD_RE = re.compile(rf"[{UP}{LO}](?<![\w'’-][{UP}{LO}])[{UP}{LO}]*(?:['’][{UP}{LO}]+)*(?:-[{UP}{LO}]+)*(?![\w-])")


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


def token_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return [m.span() for m in _TOKEN_RE.finditer(text, start, end)]


def token_text(text: str, tok: tuple[int, int]) -> str:
    return text[tok[0] : tok[1]].rstrip(".")


def _is_initial(text: str, tok: tuple[int, int]) -> bool:
    return tok[1] - tok[0] == 2 and text[tok[1] - 1] == "." and text[tok[0]].isupper()


def _trim_name(text: str, start: int, end: int, allow: AllowList, strength: int = MEDIUM, titled: bool = False) -> tuple[int, int] | None:
    """Drop report words, titles and credentials from both ends of a name span ("Findings discussed with
    John Smith Today" -> "John Smith").

    A word in a name's structural slot stays even if it is also an English word: after a middle initial
    ("Kalpit J. Deep"), after the comma of "Last, First" ("Wang, Min"), or the only word after a title
    ("Dr. Colon"); after a title or credential, short capitalised words stay too ("Dr. Nguyen Van An").
    A candidate that ends up empty is no name."""
    toks = token_spans(text, start, end)
    if not toks:
        return None

    def droppable(i: int, from_end: bool) -> bool:
        tok = toks[i]
        w = token_text(text, tok)
        if w.lower() in TITLE_WORDS or (w.isupper() and CREDENTIAL_RE.fullmatch(text, tok[0], tok[1])):
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
            gap = text[toks[i - 1][1] : tok[0]]
            if "," in gap and allow.is_clinical_word(w) and (normalise(w) in LETTER_WORDS or (i >= 2 and "," not in text[toks[0][0] : toks[i - 1][1]])):
                return True  # "Smith, Consultant", "Mrs Olga Ivanova, DOB ...": a role or label, not "Wang, Min"
            if "," in gap and allow.is_clinical_word(w) and re.match(r"[ \t]*[:=]", text[tok[1] : tok[1] + 3]):
                return True  # "Dr. Smith, Name: ...": the next field's label
            if "," in gap and len(w) > 1 and w.isupper() and not token_text(text, toks[i - 1]).isupper() and not _is_first(w):
                return True  # "Dr. Jones, ICU team", "Dr. Lee, RLH": capitals after a title-case surname are no first name
            if _is_initial(text, toks[i - 1]) or "," in gap or "^" in gap:
                return False
        if from_end and MONTH_NAME_RE.fullmatch(text, tok[0], tok[1]) and re.match(r"[ \t.-]*\d", text[tok[1] : tok[1] + 4]):
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
        if not titled or token_text(text, first_word).lower() in TITLE_WORDS:
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
    toks = token_spans(text, start, end)
    if any(_is_initial(text, t) for t in toks):
        return False
    words = [token_text(text, t) for t in toks if len(token_text(text, t)) > 1]
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
    around = text[max(0, start - 60) : start] + text[end : end + 60]
    letters = [ch for ch in around if ch.isalpha()]
    return len(letters) > 10 and sum(ch.isupper() for ch in letters) > 0.8 * len(letters)


def _vowel(word: str) -> bool:
    return re.search(r"[AEIOUYaeiouyÀ-ÖØ-öø-ÿ\u0100-\u024f\u1e00-\u1eff]", word) is not None


#: Words that head an institution's name and never a person's
_INST_HEADS = frozenset("hospital hospitals infirmary clinic clinics institute centre center healthcare university memorial".split())


def _names(doc: Doc, allow: AllowList) -> list[Candidate]:
    text = doc.text
    out: list[Candidate] = []
    m: re.Match[str] | None  # loop matches and optional ones alike

    def add(start: int, end: int, strength: int, titled: bool = False, listed: bool = False) -> None:
        span = _trim_name(text, start, end, allow, strength, titled)
        if span is None:
            return
        s, e = span
        toks = token_spans(text, s, e)
        heads = [i for i, t in enumerate(toks) if normalise(token_text(text, t)) in _INST_HEADS]
        if heads:
            # an institution's words are no name: "Dr. Adolph, University Hospital of X" ends at "Adolph",
            # "Royal Port Elaine Infirmary, Cooperport, MD" leaves no more than "Elaine"
            k = heads[0]
            commas = [i for i in range(1, k + 1) if "," in text[toks[i - 1][1] : toks[i][0]]]
            k = commas[-1] if commas else k
            if k == 0:
                return
            e = toks[k - 1][1]
        if listed and len(token_spans(text, s, e)) < 2 and not name_in_dictionary(text[s:e]) and not _CRED_AFTER_RE.match(text, e):
            return  # one capitalised word after "; " is more often a new sentence than a name
        if strength < STRONG and _all_allowed(text, s, e, allow):
            return
        if strength < STRONG and _shouting(text, s, e):
            # in capitals every word looks like a name: one word needs the dictionary or an initial
            words = [token_text(text, t) for t in token_spans(text, s, e)]
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
    titles = doc.at(TITLE_WORDS)
    for m in matches_at(_TITLE_RE, text, titles):
        add(*m.span(1), STRONG, titled=True)
        add_list(m.end(1), MEDIUM)
    for m in matches_at(_TITLE_LOWER_RE, text, titles):
        s = m.start(1)
        keep = []
        for tok in re.finditer(r"[^\s]+", m.group(1)):
            if allow.is_clinical_word(tok.group()):
                break
            keep.append(tok)
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
            for tok in re.finditer(r"[^\s,]+", m.group(1)):
                if allow.is_allowed_word(tok.group()):
                    break
                keep.append(tok)
            if keep:
                out.append(Candidate(s, s + keep[-1].end(), "NAME", STRONG))
        elif not allow.is_clinical_word(text[s:e]):
            add(s, e, STRONG)
            add_list(e, MEDIUM)
    for m in matches_at(_SIGNATURE_CUE_RE, text, doc.at(_SIGNATURE_TRIGGERS)):
        add(*m.span(1), STRONG)
        add_list(m.end(1), MEDIUM)
    verbal = doc.at(_VERBAL_TRIGGERS)
    for m in matches_at(_VERBAL_CUE_RE, text, verbal):
        add(*m.span(1), MEDIUM)
        add_list(m.end(1), MEDIUM)
    for m in matches_at(_VERBAL_CUE_LOWER_RE, text, verbal):
        # lower-case text: accept only dictionary names ("discussed with john smith")
        s = m.start(1)
        keep = []
        for tok in re.finditer(r"[a-z][a-z'’-]+", m.group(1)):
            if name_in_dictionary(tok.group()) and not allow.is_clinical_word(tok.group()):
                keep.append(tok)
            else:
                break
        if keep and _is_first(keep[0].group()):
            out.append(Candidate(s + keep[0].start(), s + keep[-1].end(), "NAME", MEDIUM))
    for m in matches_at(_PATIENT_CUE_RE, text, doc.at(_PATIENT_TRIGGERS)):
        s, e = m.span(1)
        if allow.is_clinical_word(token_text(text, token_spans(text, s, e)[0])):
            continue  # "patient with Kaposi sarcoma": the cue must be followed by the name itself
        structured = "," in text[s:e] or "^" in text[s:e] or any(_is_initial(text, t) for t in token_spans(text, s, e))
        add(s, e, STRONG if structured else MEDIUM)
    for m in matches_at(_CC_RE, text, doc.at(_CC_TRIGGERS)):
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
        if n is None or text[n.start() - 1 : n.start()] in ("/", "-", "&", "+"):
            return
        toks = token_spans(text, *n.span())
        words = [token_text(text, t) for t in toks[-2:]]
        known = [allow.is_clinical_word(w) and normalise(w) not in LETTER_WORDS for w in words]
        if (
            len(words) == 2
            and all((w[1:].islower() or w.isupper()) and w[:1].isupper() and _vowel(w) for w in words)
            and words[0].isupper() == words[1].isupper()
            and sorted(known) == [False, True]
            and not any(allow.is_allowed_word(w) for w, k in zip(words, known) if not k)
        ):
            # "Job Room MRN ...", "Room, Job MRN ...": an unknown given name and a surname that is also a report
            # word, closing right on the record label, are one name (trimming would leave "Job" alone and drop both)
            out.append(Candidate(toks[-2][0], toks[-1][1], "NAME", MEDIUM))
        else:
            add(*n.span(), MEDIUM, listed=True)

    # a name right before a record label: "Okafor Chidi MRN 1234567", "Wang Min, DOB 01/02/1950"
    for p in doc.at(NAME_LABEL_TRIGGERS):
        q = p
        while q > 0 and text[q - 1] in " \t,;(":
            q -= 1
        if q > 1 and text[q - 1] in "-–—|" and text[q - 2] in " \t" and q < p:
            q -= 1  # "Édouard François - MRN 10000000": a dash or bar between fields
            while q > 0 and text[q - 1] in " \t":
                q -= 1
        if q == p or q == 0 or not (ID_CUE_RE.match(text, p) or DOB_CUE_RE.match(text, p)):
            continue
        name_before_label(q)

    # a name right before a bare record number: "Ahmed Smith #10000000" (five digits or more after "#": "view #2"
    # or "image #14" is no record number, and the name must not be report words)
    for ds, de in doc.digits:
        m = RECORD_NUMBER_RE.search(text, max(0, ds - 4), de) if de - ds >= 5 else None
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
            if b is not None and not allow.is_allowed_word(b.group(1)) and _vowel(b.group(1)) and b.group(1).isupper() == last.isupper():
                start = b.start(1)
            add(start, m.end(), MEDIUM)

    # dictionary evidence without context: "John Smith", "J. Smith"
    for m in _DICT_SEQ_RE.finditer(text):
        toks = token_spans(text, *m.span())
        # a record label after a name is no part of it: "John Smith MRN 123" ends at "Smith"
        while len(toks) > 2 and allow.is_clinical_word(token_text(text, toks[-1])) and token_text(text, toks[-1]).isupper():
            toks.pop()
        words = [token_text(text, t) for t in toks]
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
        if _DOTTED_CREDENTIAL_RE.match(text, m.start()) or (MONTH_NAME_RE.fullmatch(w) and re.match(r"[ \t.-]*\d", text[m.end(1) : m.end(1) + 4])):
            continue  # "SEIFERT, M.D. May 22, 2021": a credential and a date, no initials
        before = text[max(0, m.start() - 12) : m.start()].rstrip(" \t")
        nxt = _NEXT_WORD_RE.match(text, m.end(1))
        # "J. Smith" anywhere for a dictionary surname; any surname after a list or field boundary; an eponym
        # that is also a surname ("M. Baker") when no report word follows it ("M. Baker cyst" is the cyst)
        eponym_name = allow.is_allowed_word(w) and not (nxt and allow.is_allowed_word(nxt.group(1)))
        if (_is_last(w) and not allow.is_allowed_word(w)) or eponym_name or not before or before[-1] in ",;/|(&\n" or before.endswith(" and"):
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
                before = text[pos : m.start()].rstrip(" \t")
                span = _trim_name(text, m.start(), m.end(), allow) if not before or before[-1] in _SENTENCE_END else None
                if span is not None:
                    toks = token_spans(text, *span)
                    words = [token_text(text, t) for t in toks if not _is_initial(text, t)]
                    if (
                        len(toks) >= 2
                        and not any(allow.is_clinical_word(w) for w in words)
                        and not _all_allowed(text, *span, allow)
                        and not (_shouting(text, *span) and not any(name_in_dictionary(w) for w in words))
                    ):
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
                toks = token_spans(text, cs, m.end())
                words = [w for w in (token_text(text, t) for t in toks) if len(w) > 1]
                if not words or any(allow.is_clinical_word(w) for w in words):
                    continue
                if len(toks) == 1 and (not whole or allow.is_allowed_word(words[0]) or words[0].isupper() or len(words[0]) < 3):
                    continue
                out.append(Candidate(cs, m.end(), "NAME", MEDIUM))
    return out


def _propagate_names(doc: Doc, names: Sequence[Candidate], allow: AllowList) -> list[Candidate]:
    """Other mentions of a word already found in a name ("Dr. John Okafor ... Okafor agreed").

    A word that is also an eponym or an English word ("Smith", "White") is propagated only where it is
    not used that way: not before an eponym head ("Smith fracture") or a report word ("White matter")."""
    text = doc.text
    words: set[str] = set()
    for c in names:
        for t in token_spans(text, c.start, c.end):
            w = token_text(text, t)
            if len(w) > 2 and w[0].isupper() and not allow.is_clinical_word(w) and not CREDENTIAL_RE.fullmatch(w):
                words.add(w)
                words.add(w.upper())
                if w.isupper():
                    words.add(w.title())
    if not words:
        return []
    out = []
    positions = doc.at({run.group().lower() for w in words if (run := ALPHA_RUN_RE.match(w))})
    for m in matches_at(_TEXT_WORD_RE, text, positions):
        w = m.group()
        if w not in words:
            continue
        if allow.is_allowed_word(w):
            nxt = _NEXT_WORD_RE.match(text, m.end())
            if nxt and (nxt.group(1).lower() in EPONYM_HEADS or allow.is_clinical_word(nxt.group(1))):
                continue
        out.append(Candidate(m.start(), m.end(), "NAME", STRONG if allow.is_allowed_word(w) else MEDIUM))
    return out


@dataclass(frozen=True)
class NameRecognizer:
    """NAME: cue- and format-driven names, names alone in a header field, and the signature that closes a line."""

    kinds = ("NAME",)

    def find(self, doc: Doc, allow: AllowList, found: Sequence[Candidate]) -> list[Candidate]:
        text = doc.text
        return _names(doc, allow) + _field_names(text, found, allow) + _line_end_names(text, allow)
