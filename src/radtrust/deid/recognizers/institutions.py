"""INSTITUTION: hospitals, clinics and universities by keyword, prefix or cue, their abbreviations, and the
short affiliation written after a clinician's name."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from radtrust.deid.allowlist import AllowList, normalise
from radtrust.deid.recognizers.addresses import PLACE_PREFIXES
from radtrust.deid.recognizers.base import LO, MEDIUM, UP, Candidate, Doc, cue_regex, matches_at
from radtrust.deid.recognizers.dates import MONTH_NAME_RE
from radtrust.deid.recognizers.names import CREDENTIAL_RE, CREDENTIALS, NAME_ANY, NAME_TITLES, token_spans, token_text

_INST_KEYWORDS = (
    "Hospital",
    "Hospitals",
    "Medical Center",
    "Medical Centre",
    "Medical Group",
    "Medical Associates",
    "Health Center",
    "Health Centre",
    "Health System",
    "Health Services",
    "Health Network",
    "Health Partners",
    "Healthcare",
    "Health Care",
    "Health",
    "Clinic",
    "Clinics",
    "Infirmary",
    "Institute",
    "Imaging Center",
    "Imaging Centre",
    "Imaging Associates",
    "Imaging",
    "Radiology Associates",
    "Radiology Group",
    "Radiology Partners",
    "Radiology",
    "Diagnostics",
    "Cancer Center",
    "Cancer Centre",
    "Children's Hospital",
    "Memorial",
    "General",
    "Regional",
    "Sanatorium",
    "Hospice",
    "Nursing Home",
    "Rehabilitation Center",
    "Rehabilitation Centre",
    "Surgery Center",
    "Surgery Centre",
    "Surgical Center",
    "Surgical Centre",
    "Urgent Care",
    "Medical",
    "University",
    "Foundation",
    "NHS Trust",
    "NHS Foundation Trust",
    "Trust",
    "Permanente",
    "Family Practice",
    "Family Medicine",
    "Medical Practice",
    "Practice",
    "Open MRI",
    "Diagnostic Imaging",
    "Associates",
    "Partners",
    "Health Sciences Centre",
    "Health Sciences Center",
    "Sciences Centre",
    "Sciences Center",
    "Ziekenhuis",
    "Krankenhaus",
    "Klinikum",
    "Kliniken",
    "Klinik",
    "Spital",
)
# In capitals only the unmistakable keywords count ("RECALL FOR ADDITIONAL IMAGING" is no institution).
_INST_UPPER_KEYWORDS = (
    "Hospital",
    "Hospitals",
    "Medical Center",
    "Medical Centre",
    "Health System",
    "Infirmary",
    "Institute",
    "Clinic",
    "Imaging Center",
    "Imaging Centre",
    "Cancer Center",
    "Children's Hospital",
    "Regional",
    "Memorial",
    "NHS Trust",
    "NHS Foundation Trust",
    "Family Practice",
    "Open MRI",
    "Radiology Associates",
    "Healthcare",
    "Diagnostic Imaging",
    "Medical Group",
)
_INST_KEYWORD = (
    "(?:"
    + "|".join(
        sorted({k.replace(" ", r"[ \t]+").replace("'", "['’]") for k in _INST_KEYWORDS} | {k.upper().replace(" ", r"[ \t]+").replace("'", "['’]") for k in _INST_UPPER_KEYWORDS}, key=len, reverse=True)
    )
    + r")(?![\w])"
)
_INST_TRIGGERS = frozenset(k.split()[0].lower().replace("'s", "") for k in _INST_KEYWORDS)
_CAPW = r"[A-Z][A-Za-z'’&-]*"
_INST_NAME = rf"(?:(?:St\.?|ST\.?|Saint|SAINT|Ste\.?|Mt\.?|Mount)[ \t]+)?{_CAPW}(?:[ \t]+(?:(?:of|and|&|the|for|de|la|del|upon|on|OF|AND|THE)[ \t]+)?{_CAPW}){{0,4}}"
_INST_NAME_BEFORE_RE = re.compile(rf"(?<![\w])({_INST_NAME})[ \t]+\Z")
_INST_KEYWORD_RE = re.compile(rf"{_INST_KEYWORD}(?:[ \t]+(?:of|at|in|for)[ \t]+(?:the[ \t]+)?(?:(?:St|Ste|Mt|Ft)\.?[ \t]+)?{_CAPW}(?:[ \t]+(?:(?:upon|on)[ \t]+)?{_CAPW}){{0,2}})?")
# Abbreviated names: "Springfield Gen. Hosp.", "Portland Med. Ctr.", "Mercy Mem. Hospital", "Lakeside Hosp."; a
# head abbreviation needs its period or a qualifier before it ("Med Ctr"), so "Hosp" alone in a word list is none
_INST_QUALIFIER_ABBR = r"(?:Gen|Med|Mem|Univ|Reg|Comm|Hlth|Child(?:ren)?['’]?s?|Gen['’]l|GEN|MED|MEM|UNIV|REG)"
_INST_HEAD_ABBR = r"(?:Hosp|Hsp|Ctr|Cntr|Ctre|Inst|Clin|HOSP|CTR|INST)"
_INST_ABBR_KEYWORD_RE = re.compile(
    rf"(?:{_INST_QUALIFIER_ABBR}\.?[ \t]+)+(?:{_INST_HEAD_ABBR}\.?|Hospital|Center|Centre|Clinic|Institute)(?![\w])"
    rf"|{_INST_HEAD_ABBR}\."
)
_INST_ABBR_KEYWORD_TRIGGERS = frozenset("gen med mem univ reg comm hlth child children gen'l hosp hsp ctr cntr ctre inst clin".split())
_SAINT_TRIGGERS = frozenset(("st", "saint"))
_UNIVERSITY_TRIGGERS = frozenset(("university",))
_SAINT_RE = re.compile(rf"(?<![\w])(?:St\.?|ST\.?|Saint|SAINT)[ \t]+(?:[A-Z][a-z]+|[A-Z]{{2,}})['’][sS](?![\w])(?:[ \t]+{_INST_KEYWORD})?")
_UNIVERSITY_RE = re.compile(rf"(?<![\w])(?:University|UNIVERSITY)[ \t]+(?:of|OF)[ \t]+{_CAPW}(?:[ \t]+{_CAPW}){{0,2}}")
_INST_CUES, _INST_CUE_TRIGGERS = cue_regex(
    (
        r"outside[ \t]+(?:films?|images?|imaging|study|studies|exam|examination|ct|cta|mri?|us|ultrasound|report|records?|hospital)[ \t]+(?:from|at)",
        r"transferred[ \t]+(?:here[ \t]+)?from",
        r"transfer[ \t]+from",
        r"performed[ \t]+at",
        r"obtained[ \t]+at",
        r"done[ \t]+at",
        r"acquired[ \t]+at",
        r"prior[ \t]+(?:study|exam|examination|ct|cta|mri?|imaging|films?|ultrasound|us|radiograph|pet/ct|pet)[ \t]+(?:from|at|performed[ \t]+at|obtained[ \t]+at|done[ \t]+at)",
        r"referred[ \t]+from",
        r"admitted[ \t]+(?:to|at)",
        r"seen[ \t]+at",
        r"presented[ \t]+to",
        r"images[ \t]+from",
        r"films[ \t]+from",
        r"reports?[ \t]+from",
        r"records[ \t]+from",
        r"transferred[ \t]+to",
        r"comparison[ \t]+(?:is[ \t]+)?made[ \t]+(?:to|with)[ \t]+(?:an?[ \t]+)?(?:prior[ \t]+)?(?:study|exam)[ \t]+from",
        r"at[ \t]+an[ \t]+outside[ \t]+(?:facility|hospital|institution)[ \t]*,?",
        r"outside[ \t]+institution[ \t]*,?",
    )
)
_INST_CUE_RE = re.compile(rf"(?<![\w]){_INST_CUES}[ \t]*:?[ \t]+(?:the[ \t]+)?({_INST_NAME}[ \t]+(?:{_INST_ABBR_KEYWORD_RE.pattern})|{_INST_NAME})")
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
_INST_PLACE_WORD = rf"[{UP}][{UP}{LO}'’-]*[{UP}{LO}]"
_INST_PREFIX_RE = re.compile(rf"(?<![\w-]){_INST_PREFIX}((?:[ \t]+(?:{_INST_LOWER}[ \t]*)*{_INST_PLACE_WORD}){{1,4}})(?![\w-])")
# A field of its own after a clinician's name in a referrer line: "Referring physician: Marchal, Thijs, TGH.",
# "... Dr. Kara Simon, MBBS, Guy's and St Thomas'." The field must close the line or the sentence.
_REFERRER_TRIGGERS = frozenset("referring ordering requesting referred ordered requested".split())
_REFERRER_RE = re.compile(
    rf"(?<![\w])(?i:(?:referring|ordering|requesting)(?:[ \t]+(?:physician|provider|doctor|clinician|consultant|md|dr))?|"
    rf"(?:referred|ordered|requested)[ \t]+by)[ \t]*:?[ \t]*(?:(?:{NAME_TITLES})[ \t]*)?(?:{NAME_ANY})"
    rf"(?:[ \t]*,?[ \t]*(?:{CREDENTIALS})(?![\w]))*+[ \t]*,[ \t]*(?!(?:{CREDENTIALS})(?![\w]))"
    rf"((?:St\.?[ \t]+)?{_INST_PLACE_WORD}(?:[ \t]+(?:(?:of|and|&|the|for|de|la|St\.?)[ \t]+)*{_INST_PLACE_WORD}['’]?){{0,5}}['’]?|[{UP}]{{2,6}})"
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
    return 2 <= len(word) <= 6 and word.isupper() and word.isalpha() and word.lower() not in _NOT_INST_ABBR and not allow.is_allowed_word(word) and not CREDENTIAL_RE.fullmatch(word)


def _institutions(doc: Doc, allow: AllowList) -> Iterator[Candidate]:
    text = doc.text
    spans: list[tuple[int, int]] = []
    for p in doc.at(_INST_PREFIX_TRIGGERS):
        q = p
        while q > 0 and (text[q - 1].isalpha() or text[q - 1] == "-"):
            q -= 1
        m = _INST_PREFIX_RE.match(text, q)
        if m is None:
            continue
        toks = token_spans(text, m.start(1), m.end(1))
        while toks and (allow.is_clinical_word(token_text(text, toks[-1])) or re.fullmatch(_INST_LOWER, token_text(text, toks[-1]))):
            toks.pop()  # "Hospital General Radiology": a report word closes no name
        if toks and any(not allow.is_clinical_word(token_text(text, t)) and not re.fullmatch(_INST_LOWER, token_text(text, t)) for t in toks):
            yield Candidate(m.start(), toks[-1][1], "INSTITUTION", MEDIUM)
    for m in matches_at(_REFERRER_RE, text, doc.at(_REFERRER_TRIGGERS)):
        s, e = m.span(1)
        words = [token_text(text, t) for t in token_spans(text, s, e)]
        if len(words) == 1 and words[0].isupper():
            if _inst_abbreviation(words[0], allow):
                yield Candidate(s, e, "INSTITUTION", MEDIUM)
        elif (
            words
            and not any(allow.is_clinical_word(w) and normalise(w) not in _GENERIC_INST_WORDS for w in words)
            and any(not allow.is_allowed_word(w) and normalise(w) not in _GENERIC_INST_WORDS for w in words if len(w) > 2)
        ):
            yield Candidate(s, e, "INSTITUTION", MEDIUM)
    for m in matches_at(_INST_ABBR_RE, text, doc.at(_INST_ABBR_TRIGGERS)):
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
        if k is not None and n is not None:
            spans.append((n.start(), k.end()))
    spans.extend(m.span() for m in matches_at(_SAINT_RE, text, doc.at(_SAINT_TRIGGERS)))
    spans.extend(m.span() for m in matches_at(_UNIVERSITY_RE, text, doc.at(_UNIVERSITY_TRIGGERS)))
    for s, e in spans:
        toks = token_spans(text, s, e)
        # drop leading report words ("Comparison Mercy Hospital", "Outside Hospital")
        while toks and allow.is_clinical_word(token_text(text, toks[0])) and normalise(token_text(text, toks[0])) not in PLACE_PREFIXES:
            toks.pop(0)
        if not toks:
            continue
        names = [token_text(text, t) for t in toks if normalise(token_text(text, t)) not in _GENERIC_INST_WORDS]
        if not any(len(w) > 2 and not allow.is_clinical_word(w) and not MONTH_NAME_RE.fullmatch(w) and w.strip("Xx") for w in names):
            continue
        yield Candidate(toks[0][0], e, "INSTITUTION", MEDIUM)
    for m in matches_at(_INST_CUE_RE, text, doc.at(_INST_CUE_TRIGGERS)):
        s, e = m.span(1)
        toks = token_spans(text, s, e)
        while toks and (
            allow.is_clinical_word(token_text(text, toks[-1]))
            and normalise(token_text(text, toks[-1])) not in _GENERIC_INST_WORDS
            or normalise(token_text(text, toks[-1])) in _CONNECTORS
            or MONTH_NAME_RE.fullmatch(token_text(text, toks[-1]))
        ):
            toks.pop()
        while (
            toks
            and allow.is_clinical_word(token_text(text, toks[0]))
            and normalise(token_text(text, toks[0])) not in _GENERIC_INST_WORDS
            and normalise(token_text(text, toks[0])) not in PLACE_PREFIXES
        ):
            toks.pop(0)
        words = [token_text(text, t) for t in toks]
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
    rf"(?:[ \t]*,?[ \t]*(?:{CREDENTIALS}|(?i:consultant|radiologist|registrar|resident|fellow|attending))(?![\w]))*"
    rf"[ \t]*(?:(\()[ \t]*|[,/–-][ \t]*)([A-Z][A-Z&]{{1,5}})(?![\w&])(?(1)[ \t]*\)|(?=[ \t]*(?:[.,;:)\]|\n]|$|[ \t]{{2}}|[ \t]+[A-Z][a-z])))"
)


def _affiliations(text: str, names: Sequence[Candidate], allow: AllowList) -> Iterator[Candidate]:
    for c in names:
        if c.kind != "NAME":
            continue
        m = _AFFILIATION_RE.match(text, c.end)
        if m is not None and _inst_abbreviation(m.group(2), allow):
            yield Candidate(*m.span(2), "INSTITUTION", MEDIUM)


@dataclass(frozen=True)
class InstitutionRecognizer:
    """INSTITUTION: named hospitals, clinics, universities and their abbreviations."""

    kinds = ("INSTITUTION",)

    def find(self, doc: Doc, allow: AllowList, found: Sequence[Candidate]) -> Iterator[Candidate]:
        return _institutions(doc, allow)


@dataclass(frozen=True)
class AffiliationRecognizer:
    """INSTITUTION: the abbreviation of an affiliation after a name found before it ("Dr Noah P. Martin, SGH")."""

    kinds = ("INSTITUTION",)

    def find(self, doc: Doc, allow: AllowList, found: Sequence[Candidate]) -> Iterator[Candidate]:
        return _affiliations(doc.text, found, allow)
