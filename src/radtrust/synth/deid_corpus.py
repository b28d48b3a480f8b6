"""Synthetic radiology reports with injected identifiers and their exact offsets: a seeded test bed for
the de-identification engine, scored like the i2b2/n2c2 de-identification tasks (Stubbs & Uzuner, 2015).

The clinical text comes from the package's own chest and mammography report generators; their
``XXXX``/``___`` masks are filled (dates, ages, words), clinical stress sentences that a naive scrubber
breaks are added (clock positions, eponyms, reporting-system categories, measurements, spine levels,
series/image numbers, fractions, ages up to 89, years, times of day), and identifiers of every kind are
injected in varied formats and positions (header lines, inside sentences, the communication sentence,
signatures, ``cc:`` lines, footers, the very start and end of the text). The truth is kept as character
spans; the clinical terms that must survive are kept too.

    reports = synthetic_phi_corpus(1000, seed=1)
    r = reports[0]; [(r.text[s.start:s.end], s.kind) for s in r.phi]

Names come from several Faker locales (romanised where Faker writes another script), from invented
surnames that no dictionary holds and from surnames that are also clinical or common words ("Dr. Paget",
"Mr. Baker"). The generator was written without reading the engine's recognisers: it is an honest test.
Same ``(n, seed)`` → identical corpus (for one Faker version).
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from radtrust.synth.chest import ChestSynthConfig, synth_chest
from radtrust.synth.mammo_reports import MammoReportSynthConfig, synth_mammo_reports

__all__ = ["PHI_KINDS", "PhiSpan", "PhiReport", "synthetic_phi_corpus"]

GENERATOR_VERSION = "radtrust-deid-synth/1"
#: The identifier kinds, in the order of :data:`radtrust.deid.KINDS`.
PHI_KINDS: tuple[str, ...] = ("NAME", "DATE", "AGE", "PHONE", "EMAIL", "URL", "ID", "ADDRESS", "INSTITUTION")


@dataclass
class PhiSpan:
    """One injected identifier: ``text[start:end]`` is ``value``.

    ``fmt`` is the generator's format label ("Last, First", "MM/DD/YYYY", "(AAA) EEE-LLLL", "MRN", ...),
    ``variant`` a second label (a name's locale or surname type, an ID's cue, ...), ``where`` the position
    (header, indication, comparison, findings, impression, communication, signature, cc, footer).
    ``in_dictionary`` (NAME only) is filled by a benchmark: are all the name's tokens in the engine's name
    dictionary. A NAME span holds the name only (no title, no credential); an AGE span holds the number only.
    """

    start: int
    end: int
    kind: str
    in_dictionary: bool | None = None
    value: str = ""
    fmt: str = ""
    variant: str = ""
    where: str = ""


@dataclass
class PhiReport:
    """A synthetic report: its text, the identifiers in it and the clinical terms that must survive.

    ``clinical`` holds ``(start, end)`` spans; ``clinical_labels`` (same order) says what each is: ``word``
    for a word of the clinical text, ``header`` for a section header, else the stress category (``clock``,
    ``eponym``, ``system``, ``measure``, ``spine``, ``rib``, ``series``, ``fraction``, ``percent``, ``age``,
    ``year``, ``time``, ``place``, ``common``)."""

    report_id: str
    patient_id: str
    text: str
    phi: list[PhiSpan]
    clinical: list[tuple[int, int]]
    clinical_labels: list[str] = field(default_factory=list)
    modality: str = ""


# ----------------------------------------------------------------------------------------------------
# Segments: text pieces with a tag; offsets are computed once, when a report is rendered
# ----------------------------------------------------------------------------------------------------

# A segment is (text, tag): tag None = plain (cue words, punctuation); ("clin", label) = one clinical term;
# ("words",) = clinical text whose words are each a clinical term; ("phi", kind, fmt, variant) = identifier.
Seg = tuple[str, Any]
_WORD = re.compile(r"[A-Za-z0-9]+(?:['’./-][A-Za-z0-9]+)*")


def _plain(s: str) -> Seg:
    return (s, None)


def _words(s: str) -> Seg:
    return (s, ("words",))


def _clin(s: str, label: str) -> Seg:
    return (s, ("clin", label))


def _phi(s: str, kind: str, fmt: str, variant: str = "") -> Seg:
    return (s, ("phi", kind, fmt, variant))


def _upper(segs: list[Seg]) -> list[Seg]:
    return [(t.upper(), tag) for t, tag in segs]


def _n_phi(segs: list[Seg]) -> int:
    return sum(1 for _, tag in segs if tag and tag[0] == "phi")


# ----------------------------------------------------------------------------------------------------
# Word lists (hand-written; Faker supplies most names, streets and cities)
# ----------------------------------------------------------------------------------------------------

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")

# Locale label -> weight. "zh_CN"/"ja_JP" use Faker's romanised names; "ar"/"ko" are hand lists; "invented"
# surnames are syllable strings that no name dictionary holds; "common-word" surnames are also words.
_NAME_SOURCES = {
    "en_US": 0.24, "en_GB": 0.06, "de_DE": 0.05, "es_ES": 0.05, "fr_FR": 0.05, "it_IT": 0.05, "en_IN": 0.06,
    "yo_NG": 0.04, "ig_NG": 0.03, "zh_CN": 0.05, "ja_JP": 0.02, "pl_PL": 0.04, "tr_TR": 0.04, "vi_VN": 0.04,
    "ar": 0.03, "ko": 0.03, "invented": 0.06, "common-word": 0.06,
}  # fmt: skip
_AR_FIRST = ("Mohammed", "Ahmed", "Fatima", "Aisha", "Omar", "Khalid", "Layla", "Youssef", "Mariam", "Hassan", "Nour", "Abdullah", "Rania", "Tariq", "Samira")
_AR_LAST = ("Al-Rashid", "Haddad", "Khoury", "El-Sayed", "Mansour", "Nasser", "Abdel-Rahman", "Saleh", "Hamdan", "Bakr", "Al-Farsi", "Qureshi", "Aziz", "Darwish")
_KO_FIRST = ("Min-jun", "Seo-yeon", "Ji-ho", "Ha-eun", "Do-yun", "Su-bin", "Jae-won", "Hye-jin", "Young-ho", "Eun-ji", "Sung-min", "Ji-woo")
_KO_LAST = ("Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon", "Jang", "Lim", "Han", "Shin", "Seo", "Kwon")
# Surnames (and a few given names) that are also clinical or everyday words: a scrubber must use context.
_COMMON_LAST = (
    "Paget", "Baker", "Gray", "White", "Black", "Brown", "Green", "Young", "Hill", "Wood", "Banks", "Frank", "Foley",
    "Graves", "Cobb", "Hickman", "Bell", "Love", "Best", "Long", "Small", "Strong", "Little", "Sharp", "Swift", "Lamb",
    "Fox", "Moody", "Hart", "Rice", "Price", "Hope", "Chance", "Major", "Cooper", "Salter", "Harris", "Wilms", "Kerley",
)  # fmt: skip
_COMMON_FIRST = ("Hope", "Faith", "Grace", "Rose", "Mark", "Will", "June", "April", "Dawn", "Joy", "Art", "Max", "Chase", "Hunter", "Page", "Wade", "Rusty", "Summer", "Crystal", "Sunny")
_APOSTROPHE_LAST = ("O'Brien", "O'Connor", "O'Neill", "O'Malley", "D'Angelo", "D'Souza", "O'Reilly", "Dell'Orto", "N'Diaye", "D'Amico", "O'Hara", "L'Heureux")
_PARTICLE_LAST = ("van der Berg", "van Dijk", "de la Cruz", "De Luca", "von Braun", "da Silva", "del Rosario", "ter Haar", "Le Roux", "Van Buren", "de Jong", "Di Marco")
_SYL_ON = ("b", "br", "d", "dr", "f", "g", "gr", "h", "k", "kl", "l", "m", "n", "p", "qu", "r", "s", "st", "t", "tr", "v", "z", "zh", "x", "y")
_SYL_V = ("a", "e", "i", "o", "u", "ai", "ou", "ea", "ei")
_SYL_CODA = ("", "", "n", "r", "l", "s", "k", "th", "x", "nd", "rt")

_SAINTS = ("Mary", "Joseph", "Luke", "Jude", "Vincent", "Francis", "Anne", "Elizabeth", "Catherine", "Michael", "Peter", "John", "Agnes", "Barnabas")
_FAITH_ADJ = (
    "Mercy",
    "Memorial",
    "Sacred Heart",
    "Good Samaritan",
    "Providence",
    "Baptist",
    "Methodist",
    "Presbyterian",
    "Lutheran",
    "Holy Cross",
    "Beth Israel",
    "Mount Sinai",
    "Our Lady of Lourdes",
)
_STATES = ("Ohio", "Iowa", "Texas", "Kansas", "Michigan", "Oregon", "Utah", "Vermont", "Nebraska", "Kentucky")
_FREE_MAIL = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com", "icloud.com", "nhs.net", "web.de", "libero.it")
_RELATIVES = ("daughter", "son", "wife", "husband", "mother", "father", "sister", "brother", "niece", "grandson", "granddaughter", "caregiver")
_SYMPTOMS = ("cough", "shortness of breath", "chest pain", "fever", "hypoxia", "fall", "weight loss", "hemoptysis", "a palpable lump", "nipple discharge")


# ----------------------------------------------------------------------------------------------------
# The generator's state: random source, Faker instances and the per-patient casts
# ----------------------------------------------------------------------------------------------------


@dataclass
class _Person:
    first: str
    middle: str  # one capital letter
    last: str
    variant: str  # locale / surname type
    sex: str  # "F" or "M"


@dataclass
class _Patient:
    person: _Person
    age: int
    dob: tuple[int, int, int]
    mrn: str
    relative: _Person
    address: list[tuple[str, str]]  # lines of (text, fmt)
    phone: str
    institution: tuple[str, str]  # (name, format)


def _fold(s: str) -> str:
    """Diacritics off ("Müller" → "Muller"), as many US systems store names."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", s) if not unicodedata.combining(ch)).replace("ı", "i").replace("ł", "l").replace("Ł", "L")


class _Gen:
    def __init__(self, seed: int) -> None:
        from faker import Faker  # imported here: nothing heavy at import time

        self.R = random.Random(f"{GENERATOR_VERSION}:{seed}")
        self.fk: dict[str, Any] = {}
        for i, loc in enumerate(("en_US", "en_GB", "de_DE", "es_ES", "fr_FR", "it_IT", "en_IN", "yo_NG", "ig_NG", "zh_CN", "ja_JP", "pl_PL", "tr_TR", "vi_VN")):
            f = Faker(loc)
            f.seed_instance(seed * 1009 + i)
            self.fk[loc] = f
        self.patients: dict[str, _Patient] = {}

    # -- small helpers ------------------------------------------------------------------------------
    def r(self) -> float:
        return self.R.random()

    def pick(self, seq):
        return seq[int(self.R.random() * len(seq))]

    def wpick(self, weights: dict[str, float]) -> str:
        keys = list(weights)
        return self.R.choices(keys, weights=[weights[k] for k in keys])[0]

    def digits(self, n: int) -> str:
        return "".join(str(self.R.randrange(10)) for _ in range(n))

    # -- people ---------------------------------------------------------------------------------------
    def _invented(self) -> str:
        s = "".join(self.pick(_SYL_ON) + self.pick(_SYL_V) for _ in range(self.R.randint(2, 3))) + self.pick(_SYL_CODA)
        return s.capitalize()

    def person(self, sex: str | None = None, source: str | None = None) -> _Person:
        sex = sex or self.pick("FM")
        src = source or self.wpick(_NAME_SOURCES)
        variant = src
        if src in ("zh_CN", "ja_JP"):
            f = self.fk[src]
            first = f.first_romanized_name_female() if src == "ja_JP" and sex == "F" else (f.first_romanized_name_male() if src == "ja_JP" else f.first_romanized_name())
            last = f.last_romanized_name()
        elif src == "vi_VN":
            f = self.fk[src]
            first = f.first_name_female() if sex == "F" else f.first_name_male()
            last = f.last_name()
        elif src == "ar":
            first, last = self.pick(_AR_FIRST), self.pick(_AR_LAST)
        elif src == "ko":
            first, last = self.pick(_KO_FIRST), self.pick(_KO_LAST)
        elif src == "invented":
            first = self.fk["en_US"].first_name_female() if sex == "F" else self.fk["en_US"].first_name_male()
            last = self._invented()
            if self.r() < 0.4:
                first = self._invented()
        elif src == "common-word":
            last = self.pick(_COMMON_LAST)
            first = self.pick(_COMMON_FIRST) if self.r() < 0.4 else (self.fk["en_US"].first_name_female() if sex == "F" else self.fk["en_US"].first_name_male())
        else:
            f = self.fk[src]
            first = f.first_name_female() if sex == "F" else f.first_name_male()
            last = f.last_name()
            u = self.r()
            if u < 0.07:
                last = f"{last}-{f.last_name()}"
                variant = src + "+hyphenated"
            elif u < 0.11 and src in ("en_US", "en_GB", "fr_FR", "it_IT"):
                last, variant = self.pick(_APOSTROPHE_LAST), "apostrophe"
            elif u < 0.14:
                last, variant = self.pick(_PARTICLE_LAST), "particle"
        # Faker names are single tokens mostly; a few locales give two-word given names ("Maria Vitória").
        if any(ord(ch) > 127 for ch in first + last) and self.r() < 0.3:
            first, last = _fold(first), _fold(last)
        return _Person(first.strip(), self.pick("ABCDEFGHJKLMNPRSTW"), last.strip(), variant, sex)

    def patient(self, pid: str, age: int, sex: str, exam_year: int) -> _Patient:
        p = self.patients.get(pid)
        if p is None:
            if self.r() < 0.3:  # ages over 89 are identifiers: make them common enough to measure
                age = self.R.randint(90, 104)
            y = exam_year - age
            dob = (y, self.R.randint(1, 12), self.R.randint(1, 28))
            person = self.person(sex if sex in ("F", "M") else None)
            rel = self.person()
            if self.r() < 0.5:  # relatives often share the surname
                rel.last, rel.variant = person.last, person.variant
            p = _Patient(person, age, dob, self.mrn(), rel, self.address(), self.phone()[0], self.institution())
            self.patients[pid] = p
        return p

    # -- values of each kind -----------------------------------------------------------------------
    def name(self, p: _Person, role: str) -> list[Seg]:
        """A name in one of the formats, with title/credential as plain text around the NAME span."""
        F, M, L = p.first, p.middle, p.last
        doctor = role in ("radiologist", "referrer", "resident")
        if doctor:
            styles = {"First Last": 3, "First M. Last": 3, "Dr. Last": 4, "Dr. First Last": 2, "Last, First": 2, "LAST, FIRST": 1, "F. Last": 1.5, "FIRST LAST": 0.7}
        elif role == "patient":
            styles = {"First Last": 3, "Last, First": 3, "LAST, FIRST": 3, "Last, First M.": 1.5, "First M. Last": 1.5, "Mr./Ms. Last": 2, "LAST^FIRST": 0.8, "FIRST LAST": 1, "F. Last": 0.5}
        else:  # relative, technologist, nurse, PA
            styles = {"First Last": 5, "Last, First": 1, "F. Last": 1, "Mr./Ms. Last": 1.5, "FIRST LAST": 0.5}
        st = self.wpick(styles)
        title = ""
        if st == "First Last":
            v = f"{F} {L}"
        elif st == "First M. Last":
            v = f"{F} {M}. {L}"
        elif st == "Dr. Last":
            title, v = self.pick(("Dr. ", "Dr ", "DR. ")), L
        elif st == "Dr. First Last":
            title, v = "Dr. ", f"{F} {L}"
        elif st == "Last, First":
            v = f"{L}, {F}"
        elif st == "Last, First M.":
            v = f"{L}, {F} {M}."
        elif st == "LAST, FIRST":
            v = f"{L}, {F}".upper()
        elif st == "FIRST LAST":
            v = f"{F} {L}".upper()
        elif st == "F. Last":
            v = f"{F[0]}. {L}"
        elif st == "LAST^FIRST":
            v = f"{L}^{F}".upper()
        else:  # "Mr./Ms. Last"
            title, v = (self.pick(("Ms. ", "Mrs. ", "Miss ")) if p.sex == "F" else "Mr. "), L
        segs: list[Seg] = [_plain(title)] if title else []
        segs.append(_phi(v, "NAME", st, p.variant))
        if doctor and not title and self.r() < 0.7:
            segs.append(_plain(self.pick((", MD", " MD", ", M.D.", ", DO", " M.D.", ", MBBS", ", FRCR", ", MD, PhD"))))
        elif role == "nurse" and not title:
            segs.append(_plain(self.pick((", RN", " RN", ", NP", ", PA-C"))))
        elif role == "technologist" and not title:
            segs.append(_plain(self.pick((", RT(R)", " RT", ", RT(R)(M)", ", ARRT"))))
        return segs

    def date_parts(self, lo: int = 2008, hi: int = 2024) -> tuple[int, int, int]:
        return (self.R.randint(lo, hi), self.R.randint(1, 12), self.R.randint(1, 28))

    def date(self, ymd: tuple[int, int, int] | None = None, header: bool = False) -> Seg:
        y, m, d = ymd or self.date_parts()
        styles = {
            "MM/DD/YYYY": 5, "M/D/YY": 2, "M/D/YYYY": 2, "YYYY-MM-DD": 2, "DD.MM.YYYY": 1.2, "Mon D, YYYY": 2.5,
            "Month D, YYYY": 1.5, "Month Dth, YYYY": 1.2, "D Month YYYY": 1.5, "DD-Mon-YYYY": 1.5, "MON-DD-YYYY": 0.8,
            "Month YYYY": 1, "Mon YYYY": 0.8, "Dth of Month": 0.8, "Month D": 0.8, "MM-DD-YYYY": 1, "DD/MM/YYYY": 0.8,
        }  # fmt: skip
        if header:
            styles["YYYYMMDD"] = 1.5
        st = self.wpick(styles)
        mon, Mon = MONTHS[m - 1], MONTHS[m - 1][:3]
        if self.r() < 0.1 and mon in ("September",):
            Mon = "Sept"
        th = f"{d}{'th' if 10 <= d % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(d % 10, 'th')}"
        v = {
            "MM/DD/YYYY": f"{m:02d}/{d:02d}/{y}", "M/D/YY": f"{m}/{d}/{y % 100:02d}", "M/D/YYYY": f"{m}/{d}/{y}",
            "YYYY-MM-DD": f"{y}-{m:02d}-{d:02d}", "DD.MM.YYYY": f"{d:02d}.{m:02d}.{y}", "Mon D, YYYY": f"{Mon} {d}, {y}",
            "Month D, YYYY": f"{mon} {d}, {y}", "Month Dth, YYYY": f"{mon} {th}, {y}", "D Month YYYY": f"{d} {mon} {y}",
            "DD-Mon-YYYY": f"{d:02d}-{Mon}-{y}", "MON-DD-YYYY": f"{Mon.upper()}-{d:02d}-{y}", "Month YYYY": f"{mon} {y}",
            "Mon YYYY": f"{Mon} {y}", "Dth of Month": f"{th} of {mon}", "Month D": f"{mon} {d}",
            "MM-DD-YYYY": f"{m:02d}-{d:02d}-{y}", "DD/MM/YYYY": f"{d:02d}/{m:02d}/{y}", "YYYYMMDD": f"{y}{m:02d}{d:02d}",
        }[st]  # fmt: skip
        return _phi(v, "DATE", st)

    def phone(self) -> tuple[str, str]:
        a = self.R.randint(201, 989)
        while a % 100 == 11:
            a += 1
        e, line = self.R.randint(200, 999), self.digits(4)
        st = self.wpick({
            "(AAA) EEE-LLLL": 4, "AAA-EEE-LLLL": 4, "AAA.EEE.LLLL": 1.5, "+1 AAA EEE LLLL": 1, "+1-AAA-EEE-LLLL": 0.8,
            "1-800-EEE-LLLL": 0.6, "AAA-EEE-LLLL ext. NNNN": 1, "(AAA) EEE-LLLL x NNN": 0.8, "AAA EEE LLLL": 0.6,
            "+44 20 EEEE LLLL": 0.8, "+44 161 EEE LLLL": 0.5, "0161 EEE LLLL": 0.5, "07700 EEELLL": 0.4,
        })  # fmt: skip
        v = {
            "(AAA) EEE-LLLL": f"({a}) {e}-{line}", "AAA-EEE-LLLL": f"{a}-{e}-{line}", "AAA.EEE.LLLL": f"{a}.{e}.{line}",
            "+1 AAA EEE LLLL": f"+1 {a} {e} {line}", "+1-AAA-EEE-LLLL": f"+1-{a}-{e}-{line}", "1-800-EEE-LLLL": f"1-800-{e}-{line}",
            "AAA-EEE-LLLL ext. NNNN": f"{a}-{e}-{line} {self.pick(('ext.', 'ext', 'Ext.', 'x'))} {self.digits(4)}",
            "(AAA) EEE-LLLL x NNN": f"({a}) {e}-{line} x{self.digits(3)}", "AAA EEE LLLL": f"{a} {e} {line}",
            "+44 20 EEEE LLLL": f"+44 20 {self.R.randint(7000, 8999)} {line}", "+44 161 EEE LLLL": f"+44 161 {e} {line}",
            "0161 EEE LLLL": f"0161 {e} {line}", "07700 EEELLL": f"07700 {e}{line[:3]}",
        }[st]  # fmt: skip
        return v, st

    def phone_seg(self) -> list[Seg]:
        """A phone number with a cue; pagers and fax numbers included."""
        u = self.r()
        if u < 0.1:
            return [_plain(self.pick(("pgr ", "pager ", "Pager #", "beeper "))), _phi(self.digits(5) if self.r() < 0.7 else f"{self.R.randint(2, 9)}-{self.digits(4)}", "PHONE", "pager")]
        if u < 0.15:
            return [_plain(self.pick(("ext. ", "extension ", "x"))), _phi(self.digits(4), "PHONE", "ext-only")]
        v, st = self.phone()
        if u < 0.3:
            return [_plain(self.pick(("Fax: ", "fax ", "FAX: ", "F: "))), _phi(v, "PHONE", st, "fax")]
        cue = self.pick(("Phone: ", "Tel ", "Tel. ", "Ph: ", "Cell: ", "phone ", "", "call ", "T: ", "telephone "))
        return [_plain(cue), _phi(v, "PHONE", st, cue.strip(" :.").lower() or "bare")]

    def mrn(self) -> str:
        return self.pick((self.digits(8), "00" + self.digits(6), self.digits(7), self.digits(10), "E" + self.digits(7), self.digits(3) + "-" + self.digits(4)))

    def id_seg(self, mrn: str | None = None) -> list[Seg]:
        st = self.wpick({"MRN": 4, "accession": 3, "SSN": 1.2, "encounter": 1.5, "order": 1, "alnum": 1, "NPI": 0.4, "member": 0.5})
        if st == "MRN":
            cue = self.pick(("MRN: ", "MRN ", "MR#: ", "MR# ", "MR #", "Med Rec No. ", "Medical Record Number: ", "Hospital No.: ", "Patient ID: ", "Pt ID: ", "(MRN ", "Unit No: "))
            v = mrn or self.mrn()
            segs = [_plain(cue), _phi(v, "ID", "MRN", cue.strip(" :#(.").lower())]
            if cue.startswith("("):
                segs.append(_plain(")"))
            return segs
        if st == "accession":
            cue = self.pick(("Acc#: ", "Acc# ", "Accession No. ", "Accession #: ", "ACC: ", "Accession: ", "Accn: "))
            y = self.R.randint(2010, 2024)
            v = self.pick(
                (f"RAD{y}-{self.digits(6)}", "A" + self.digits(8), f"CT-{y % 100:02d}-{self.digits(6)}", self.digits(9), f"{y}{self.digits(6)}", f"MG{self.digits(7)}", f"XR-{self.digits(7)}")
            )
            return [_plain(cue), _phi(v, "ID", "accession", cue.strip(" :#.").lower())]
        if st == "SSN":
            cue = self.pick(("SSN: ", "SSN ", "Social Security No. ", "SS# ", ""))
            return [_plain(cue), _phi(f"{self.digits(3)}-{self.digits(2)}-{self.digits(4)}", "ID", "SSN", cue.strip(" :#.").lower() or "bare")]
        if st == "encounter":
            cue = self.pick(("Encounter #: ", "Enc# ", "Visit No. ", "FIN: ", "CSN ", "Account #: "))
            v = self.pick((self.digits(10), "V" + self.digits(8), self.digits(9)))
            return [_plain(cue), _phi(v, "ID", "encounter", cue.strip(" :#.").lower())]
        if st == "order":
            cue = self.pick(("Order #: ", "Order No. ", "Req# ", "Requisition: "))
            v = self.pick(("ORD" + self.digits(6), self.digits(8), f"RQ-{self.digits(5)}"))
            return [_plain(cue), _phi(v, "ID", "order", cue.strip(" :#.").lower())]
        if st == "NPI":
            return [_plain("NPI "), _phi("1" + self.digits(9), "ID", "NPI", "npi")]
        if st == "member":
            cue = self.pick(("Member ID: ", "Insurance ID ", "Policy #: "))
            return [_plain(cue), _phi(self.pick(("XYZ", "BCX", "UHC", "MCD")) + self.digits(9), "ID", "member", cue.strip(" :#.").lower())]
        # An alphanumeric identifier with a generic cue or none.
        cue = self.pick(("ID: ", "Study ID ", "Ref: ", "#", ""))
        y = self.R.randint(2010, 2024)
        v = self.pick((f"RAD{y}-{self.digits(6)}", "A" + self.digits(8), f"{self.pick('ABCDEFGHKMPRST')}{self.pick('ABCDEFGHKMPRST')}{self.digits(6)}"))
        return [_plain(cue), _phi(v, "ID", "alnum", cue.strip(" :#.").lower() or "bare")]

    def address(self) -> list[tuple[str, str]]:
        st = self.wpick({"US street, city ST zip": 4, "US street / city line": 2, "US street": 1.5, "City, ST zip": 1.2, "UK street, town postcode": 1.5, "UK postcode": 0.6, "PO Box": 0.8})
        us, uk = self.fk["en_US"], self.fk["en_GB"]
        if st == "US street, city ST zip":
            return [(f"{us.street_address()}, {us.city()}, {us.state_abbr()} {us.zipcode()}", st)]
        if st == "US street / city line":
            return [(us.street_address(), st + ":street"), (f"{us.city()}, {us.state_abbr()} {us.zipcode()}", st + ":city")]
        if st == "US street":
            return [(us.street_address(), st)]
        if st == "City, ST zip":
            return [(f"{us.city()}, {us.state_abbr()} {us.zipcode()}", st)]
        if st == "UK street, town postcode":
            return [(f"{uk.street_address()}, {uk.city()} {uk.postcode()}", st)]
        if st == "UK postcode":
            return [(uk.postcode(), st)]
        return [(f"{self.pick(('PO Box', 'P.O. Box', 'POB'))} {self.R.randint(10, 9999)}, {us.city()}, {us.state_abbr()} {us.zipcode()}", st)]

    def address_segs(self, lines: list[tuple[str, str]] | None = None, sep: str = ", ") -> list[Seg]:
        lines = lines or self.address()
        out: list[Seg] = []
        for i, (v, st) in enumerate(lines):
            if i:
                out.append(_plain(sep))
            out.append(_phi(v, "ADDRESS", st))
        return out

    def institution(self) -> tuple[str, str]:
        us = self.fk["en_US"]
        city = us.city() if self.r() < 0.6 else us.last_name()
        st = self.wpick({
            "St. X's Hospital": 2, "X General Hospital": 2, "X Medical Center": 2, "X Imaging Center": 1.2,
            "University of X Medical Center": 1.2, "X Clinic": 1.2, "X Health System": 1, "X Regional Hospital": 1,
            "X Memorial Hospital": 1, "X Community Hospital": 0.8, "X Radiology Associates": 0.8,
            "X Children's Hospital": 0.6, "Royal X Infirmary": 0.5, "X NHS Foundation Trust": 0.5,
        })  # fmt: skip
        saint = self.pick(_SAINTS)
        v = {
            "St. X's Hospital": self.pick((f"St. {saint}'s Hospital", f"Saint {saint} Medical Center", f"St {saint}'s", f"St. {saint} Regional")),
            "X General Hospital": f"{self.pick(_FAITH_ADJ)} {self.pick(('General Hospital', 'Hospital', 'Medical Center'))}",
            "X Medical Center": f"{city} Medical Center", "X Imaging Center": f"{city} {self.pick(('Imaging Center', 'Diagnostic Imaging', 'Open MRI'))}",
            "University of X Medical Center": f"University of {self.pick(_STATES) if self.r() < 0.5 else city} {self.pick(('Medical Center', 'Hospitals', 'Health'))}",
            "X Clinic": f"{us.last_name()} {self.pick(('Clinic', 'Family Practice', 'Medical Group'))}", "X Health System": f"{city} {self.pick(('Health System', 'Health', 'Healthcare'))}",
            "X Regional Hospital": f"{city} Regional Hospital", "X Memorial Hospital": f"{us.last_name()} Memorial Hospital",
            "X Community Hospital": f"{city} Community Hospital", "X Radiology Associates": f"{city} Radiology Associates",
            "X Children's Hospital": f"{city} Children's Hospital", "Royal X Infirmary": f"Royal {self.fk['en_GB'].city()} Infirmary",
            "X NHS Foundation Trust": f"{self.fk['en_GB'].city()} NHS Foundation Trust",
        }[st]  # fmt: skip
        return v, st

    def inst_seg(self, v: tuple[str, str] | None = None) -> Seg:
        v2, st = v or self.institution()
        return _phi(v2, "INSTITUTION", st)

    def _slug(self, inst: str) -> str:
        words = re.sub(r"[^a-z ]", "", _fold(inst).lower().replace("'s", "s")).split()
        drop = {"hospital", "medical", "center", "of", "the", "health", "system", "clinic", "regional", "memorial", "general"}
        core = [w for w in words if w not in drop] or words[:1]
        return self.pick(("".join(core), "-".join(core), "".join(core) + self.pick(("health", "-radiology", "med", "imaging"))))

    def email_seg(self, p: _Person | None = None, inst: str | None = None) -> Seg:
        p = p or self.person()
        f, l = (re.sub(r"[^a-z]", "", _fold(x).lower()) or "x" for x in (p.first, p.last))  # noqa: E741 - first and last, side by side
        local_st = self.wpick({"first.last": 3, "flast": 2, "firstl": 1, "first_last+NN": 1, "lastf": 1})
        local = {"first.last": f"{f}.{l}", "flast": f"{f[0]}{l}", "firstl": f"{f}{l[0]}", "first_last+NN": f"{f}_{l}{self.R.randint(1, 99)}", "lastf": f"{l}{f[0]}"}[local_st]
        if self.r() < 0.5:
            dom, dst = self._slug(inst or self.institution()[0]) + self.pick((".org", ".com", ".edu", ".nhs.uk", ".net")), "institution"
        else:
            dom, dst = self.pick(_FREE_MAIL), "free"
        v = f"{local}@{dom}"
        if self.r() < 0.08:
            v, dst = v.upper(), dst + "-upper"
        return _phi(v, "EMAIL", local_st, dst)

    def url_seg(self, inst: str | None = None) -> Seg:
        d = self._slug(inst or self.institution()[0]) + self.pick((".org", ".com", ".edu", ".net", ".co.uk", ".health"))
        st = self.wpick({"https://www.d/path": 3, "http://d": 1, "www.d": 2.5, "bare domain": 2, "https://portal.d/results?id=N": 1.5, "https://d/patients/ID": 1})
        v = {
            "https://www.d/path": f"https://www.{d}/{self.pick(('radiology', 'imaging', 'patient-portal', 'contact'))}", "http://d": f"http://{d}",
            "www.d": f"www.{d}", "bare domain": d, "https://portal.d/results?id=N": f"https://portal.{d}/results?acc={self.digits(8)}",
            "https://d/patients/ID": f"https://{d}/patients/{self.digits(7)}/images",
        }[st]  # fmt: skip
        return _phi(v, "URL", st)

    def age_segs(self, age: int) -> list[Seg]:
        """An age phrase: an identifier (the number only) when over 89, else one clinical term."""
        st = self.wpick({"N-year-old": 5, "N yo": 1.5, "N y/o": 1.5, "age N": 1, "aged N": 1, "N years old": 1, "N-yr-old": 0.7, "NF/NM": 1, "N y.o.": 0.5})
        sx = self.pick("FM")
        pre, post = {
            "N-year-old": ("", "-year-old"), "N yo": ("", " yo"), "N y/o": ("", " y/o"), "age N": ("age ", ""), "aged N": ("aged ", ""),
            "N years old": ("", " years old"), "N-yr-old": ("", "-yr-old"), "NF/NM": ("", sx), "N y.o.": ("", " y.o."),
        }[st]  # fmt: skip
        if age > 89:
            return [_plain(pre), _phi(str(age), "AGE", st), _plain(post)]
        return [_clin(f"{pre}{age}{post}", "age")]


# ----------------------------------------------------------------------------------------------------
# Clinical stress sentences: [[label|term]] marks one clinical term; the other words are clinical words
# ----------------------------------------------------------------------------------------------------

_EPONYM_SENTENCES = (
    "History of [[eponym|Hodgkin lymphoma]], status post mantle radiation.",
    "Known [[eponym|non-Hodgkin lymphoma]] with mediastinal adenopathy.",
    "Coarsened trabeculae of the iliac bone compatible with [[eponym|Paget disease]].",
    "[[eponym|Kerley B lines]] are present at the lung bases.",
    "Peripheral wedge-shaped opacity may represent a [[eponym|Hampton hump]].",
    "No [[eponym|Westermark sign]].",
    "Follow-up per [[eponym|Fleischner criteria]] is recommended.",
    "Apical mass concerning for a [[eponym|Pancoast tumor]].",
    "Colonic interposition beneath the right hemidiaphragm ([[eponym|Chilaiditi sign]]).",
    "Small [[eponym|Morgagni hernia]] in the right cardiophrenic angle.",
    "Left posterior [[eponym|Bochdalek hernia]] containing fat.",
    "[[eponym|Schmorl node]] at the inferior endplate of [[spine|L2]].",
    "Incidental [[eponym|Baker cyst]] in the popliteal fossa.",
    "Distal radius fracture with dorsal angulation ([[eponym|Colles fracture]]).",
    "Volarly angulated [[eponym|Smith fracture]] of the distal radius.",
    "Intra-articular [[eponym|Barton fracture]] of the distal radius.",
    "[[eponym|Hill-Sachs]] deformity and a bony [[eponym|Bankart]] lesion.",
    "Small avulsion fragment at the lateral tibial plateau ([[eponym|Segond fracture]]).",
    "Fragmentation of the tibial tubercle consistent with [[eponym|Osgood-Schlatter]] disease.",
    "Large renal mass in a child, likely [[eponym|Wilms tumor]].",
    "Permeative lesion of the femoral diaphysis, consider [[eponym|Ewing sarcoma]].",
    "Nodular opacities in a patient with [[eponym|Kaposi sarcoma]].",
    "Fragmentation and sclerosis of the midfoot suggesting [[eponym|Charcot]] arthropathy.",
    "[[eponym|Swan-Ganz catheter]] tip in the right main pulmonary artery.",
    "A [[eponym|Foley catheter]] is in the bladder.",
    "[[eponym|Dobhoff]] tube tip in the stomach.",
    "Right [[eponym|Hickman catheter]] tip at the cavoatrial junction.",
    "Left chest [[eponym|Port-a-Cath]] with tip in the SVC.",
    "[[eponym|Greenfield filter]] in the infrarenal IVC.",
    "[[eponym|Harrington rods]] span the thoracolumbar spine.",
    "The lesion measures [[measure|{hu} HU]] ([[eponym|Hounsfield units]]).",
    "Dextroconvex scoliosis with a [[eponym|Cobb angle]] of [[measure|{deg} degrees]].",
    "Right renal cyst, [[system|Bosniak {bosniak}]].",
    "[[eponym|Salter-Harris]] type [[system|{roman}]] fracture of the distal radius.",
    "Lower esophageal [[eponym|Schatzki ring]].",
    "Small [[eponym|Zenker diverticulum]].",
    "[[eponym|Chiari malformation]] with tonsillar descent of [[measure|{mm} mm]].",
    "Tethering of [[eponym|Cooper ligaments]] in the upper outer quadrant.",
    "History of [[eponym|Crohn disease]] with terminal ileitis.",
    "Diffusely enlarged thyroid, history of [[eponym|Graves disease]].",
    "Postsurgical changes of a [[eponym|Whipple procedure]].",
    "Status post [[eponym|Nissen fundoplication]].",
    "Postoperative [[eponym|Roux-en-Y]] gastric bypass anatomy.",
    "Clips from prior [[eponym|Whipple]] resection.",
)
_STRESS_SENTENCES = (
    "A [[measure|{size2}]] oval mass is present in the {side} breast at [[clock|{hour} o'clock]], [[clock|{dist} cm from the nipple]].",
    "Focal asymmetry at the [[clock|{hour}:00 position]] of the {side} breast.",
    "Grouped amorphous calcifications at [[clock|{hour} o'clock]] span [[measure|{mm} mm]].",
    "At [[clock|{hour} o'clock]], [[clock|{dist} cm from the nipple]], there is a [[measure|{mm} mm]] hypoechoic mass.",
    "[[clock|{hour}:00]] axis of the {side} breast, posterior depth.",
    "Assessment: [[system|BI-RADS {birads}]].",
    "Overall [[system|BI-RADS category {birads0}]]: incomplete, additional imaging needed.",
    "Solid nodule of [[measure|{mm} mm]] in the {lobe}, [[system|Lung-RADS {lungrads}]].",
    "Observation in segment [[system|{seg}]], [[system|LI-RADS {lirads}]].",
    "Peripheral zone lesion, [[system|PI-RADS {pirads}]].",
    "Thyroid nodule, [[system|TI-RADS {tirads}]], measuring [[measure|{size3}]].",
    "Mass in the {lobe} measures [[measure|{size2}]] on [[series|series {s} image {im}]].",
    "Nodule measuring [[measure|{size3}]] ([[series|image {im} of series {s}]]).",
    "Hypermetabolic node with [[measure|SUV max {suv}]].",
    "Dose: [[measure|DLP {dlp} mGy*cm]], [[measure|CTDIvol {ctdi} mGy]].",
    "Adrenal nodule with attenuation of [[measure|{hu} HU]].",
    "Disc bulge at [[spine|{disc}]] with mild foraminal narrowing.",
    "Compression deformity of [[spine|{vert}]] with [[percent|{pct}%]] height loss.",
    "Degenerative changes at [[spine|{disc}]] and [[spine|{disc2}]].",
    "Nondisplaced fracture of the [[rib|{side} {ordinal} rib]].",
    "Healed fractures of the [[rib|{side} {ordinal} and {ordinal2} ribs]].",
    "Sternotomy wires; [[rib|ribs {r1}-{r2}]] are intact.",
    "Effusion occupies the lower [[fraction|{frac}]] of the hemithorax.",
    "Stenosis of approximately [[percent|{pct}%]].",
    "Ejection fraction estimated at [[percent|{pct}%]].",
    "Opacity is [[measure|{cm} cm]] above the carina; ETT tip [[measure|{cm} cm]] above the carina.",
    "Status post right lobectomy in [[year|{year}]].",
    "Stable since [[year|{year}]].",
    "Compared with the outside CT ([[year|{year}]]), no change.",
    "Examination performed at [[time|{time}]].",
    "Portable radiograph obtained at [[time|{time}]] after line placement.",
    "Patient was seen in the [[place|Emergency Department]] and admitted to the [[place|ICU]].",
    "Recommend correlation in the [[place|Breast Imaging Clinic]].",
    "[[common|Gray-scale]] and color Doppler images were obtained.",
    "Small amount of [[common|brown fat]] uptake in the neck.",
    "[[common|White matter]] changes are nonspecific.",
    "[[common|Young]] patient, low pretest probability.",
    "Heart size is [[common|Normal]]. [[common|Mild]] bibasilar atelectasis.",
    "[[measure|{mm} mm]] ground-glass nodule; follow-up CT in [[measure|{months} months]].",
    "Blood pressure [[measure|{bp}]] at the time of contrast injection.",
    "Approximately [[fraction|{frac}]] of the nodule is solid.",
    "Narrowing involves the distal [[fraction|{frac}]] of the vessel.",
    "Family history: mother diagnosed at [[age|age {age89}]].",
    "Her sister, a [[age|{age89}-year-old]], had breast cancer.",
    "Patient is [[age|{age89} y/o]]; bone age is appropriate.",
)


class _Stress:
    def __init__(self, g: _Gen) -> None:
        self.g = g

    def fill(self) -> dict[str, str]:
        g, R = self.g, self.g.R

        def dec(lo: float, hi: float) -> str:
            return f"{R.uniform(lo, hi):.1f}"

        ordn = ("1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th", "9th", "10th", "11th", "12th")
        o = R.randrange(11)
        r1 = R.randint(1, 8)
        a, b = R.randint(1, 3), R.randint(2, 5)
        lvl = g.pick((("C", 2, 7), ("T", 1, 12), ("L", 1, 5)))
        v = R.randint(lvl[1], lvl[2] - 1)
        disc = g.pick((f"{lvl[0]}{v}-{v + 1}", f"{lvl[0]}{v}-{lvl[0]}{v + 1}", f"{lvl[0]}{v}/{v + 1}", "L5-S1", "C7-T1", "T12-L1"))
        v2 = R.randint(lvl[1], lvl[2] - 1)
        hh = R.randint(1, 12)
        return {
            "size2": f"{dec(0.3, 6)} x {dec(0.2, 5)} cm", "size3": f"{dec(0.5, 9)} x {dec(0.4, 7)} x {dec(0.3, 6)} cm",
            "mm": str(R.randint(2, 45)), "cm": dec(0.5, 9), "dist": str(R.randint(1, 12)), "hour": str(hh),
            "side": g.pick(("left", "right")), "lobe": g.pick(("right upper lobe", "left lower lobe", "lingula", "right middle lobe", "left upper lobe")),
            "birads": g.pick(("4A", "4B", "4C", "3", "5", "2", "0", "6")), "birads0": g.pick(("0", "3", "4")), "lungrads": g.pick(("2", "3", "4A", "4B", "4X")),
            "lirads": g.pick(("3", "4", "5", "M", "TR-V")), "pirads": str(R.randint(2, 5)), "tirads": g.pick(("TR3", "3", "TR4", "5")), "seg": g.pick(("VII", "VIII", "IVa", "6")),
            "s": str(R.randint(2, 12)), "im": str(R.randint(10, 240)), "suv": dec(1.5, 18), "dlp": str(R.randint(80, 1400)), "ctdi": dec(2, 25),
            "hu": g.pick((f"-{R.randint(5, 90)}", f"+{R.randint(5, 90)}", str(R.randint(5, 90)))), "deg": str(R.randint(11, 60)),
            "bosniak": g.pick(("IIF", "II", "III", "IV", "2F")), "roman": g.pick(("II", "III", "IV", "I")),
            "disc": disc, "disc2": f"{lvl[0]}{v2}-{v2 + 1}", "vert": f"{lvl[0]}{v}", "pct": str(R.randint(5, 95)),
            "ordinal": ordn[o], "ordinal2": ordn[o + 1], "r1": str(r1), "r2": str(r1 + R.randint(1, 4)),
            "frac": f"{a if a < b else 1}/{b}", "year": str(R.randint(1995, 2023)), "months": g.pick(("3", "6", "12", "3-6", "6-12")),
            "time": g.pick((f"{hh}:{R.randint(0, 59):02d} {g.pick(('pm', 'am', 'PM', 'AM', 'p.m.', 'a.m.'))}", f"{R.randint(0, 23):02d}:{R.randint(0, 59):02d}", f"{R.randint(0, 23):02d}{R.randint(0, 59):02d} hours")),
            "bp": f"{R.randint(95, 180)}/{R.randint(55, 105)}", "age89": str(R.randint(18, 89)),
        }  # fmt: skip

    def sentence(self) -> list[Seg]:
        tmpl = self.g.pick(_EPONYM_SENTENCES) if self.g.r() < 0.45 else self.g.pick(_STRESS_SENTENCES)
        # A time ending in "a.m." closes its sentence itself.
        return _parse_marked(tmpl.format(**self.fill()).replace(".]].", ".]]"))


def _parse_marked(s: str) -> list[Seg]:
    out: list[Seg] = []
    pos = 0
    for m in re.finditer(r"\[\[(\w+)\|(.+?)\]\]", s):
        if m.start() > pos:
            out.append(_words(s[pos : m.start()]))
        out.append(_clin(m.group(2), m.group(1)))
        pos = m.end()
    if pos < len(s):
        out.append(_words(s[pos:]))
    return out


# ----------------------------------------------------------------------------------------------------
# Base clinical text: the package's generators, with their masks filled
# ----------------------------------------------------------------------------------------------------

_MASK = re.compile(r"XXXX, XXXX|XXXX|___")
_BASE_AGE = re.compile(r"\b(\d{1,3})(?=-year-old)")
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")


def _base_segments(text: str, g: _Gen, pat: _Patient, section: str, exam_year: int) -> list[Seg]:
    """Fill the masks of one base sentence: dates where a date was removed, the patient's age before
    '-year-old', a plausible word elsewhere; the rest are clinical words."""
    out: list[Seg] = []
    # The base ages are the patient's: the cast's age (possibly over 89) replaces them.
    pieces: list[tuple[str, str]] = []  # (text, what): what in {"text", "mask", "age"}
    pos = 0
    for m in re.finditer(r"XXXX, XXXX(?!-)|XXXX(?=-year-old)|\b\d{1,3}(?=-year-old)|XXXX|___", text):
        if m.start() > pos:
            pieces.append((text[pos : m.start()], "text"))
        pieces.append((m.group(0), "age" if text[m.end() : m.end() + 9] == "-year-old" else "mask"))
        pos = m.end()
    if pos < len(text):
        pieces.append((text[pos:], "text"))
    for i, (t, what) in enumerate(pieces):
        before = pieces[i - 1][0] if i else ""
        if what == "text":
            if section == "comparison" and _YEAR.search(t):
                out += _years_in(t, g)
            else:
                out.append(_words(t))
        elif what == "age":
            if pat.age > 89:
                out.append(_phi(str(pat.age), "AGE", "N-year-old"))
            else:
                out.append(_clin(str(pat.age), "age"))
        elif before.endswith("x-") or before.endswith("X-"):
            out.append(_words("ray"))
        elif section == "comparison" or before.rstrip().endswith(("from", "FROM", "dated")):
            out.append(g.date((g.R.randint(exam_year - 6, exam_year), g.R.randint(1, 12), g.R.randint(1, 28))))
        else:
            start = not before.strip() or before.rstrip().endswith((".", ":"))
            w = g.pick(("left base", "right base", "lingula", "right apex")) if before.endswith(("the ", "THE ")) else g.pick(("left", "right", "bilateral", "mild", "small"))
            out.append(_words(w.capitalize() if start else w))
    return out


def _years_in(t: str, g: _Gen) -> list[Seg]:
    """Mammography comparisons name prior years; half of them become full dates (identifiers)."""
    out: list[Seg] = []
    pos = 0
    for m in _YEAR.finditer(t):
        if m.start() > pos:
            out.append(_words(t[pos : m.start()]))
        if g.r() < 0.5:
            out.append(g.date((int(m.group(0)), g.R.randint(1, 12), g.R.randint(1, 28))))
        else:
            out.append(_clin(m.group(0), "year"))
        pos = m.end()
    if pos < len(t):
        out.append(_words(t[pos:]))
    return out


_SPLIT = re.compile(r"(?<=[.;])\s+(?=\S)")


def _sentences(text: str) -> list[str]:
    return [s for s in _SPLIT.split(text.strip()) if s]


# ----------------------------------------------------------------------------------------------------
# Identifier blocks for each position
# ----------------------------------------------------------------------------------------------------


class _Blocks:
    def __init__(self, g: _Gen, pat: _Patient, exam: tuple[int, int, int]) -> None:
        self.g, self.pat, self.exam = g, pat, exam
        self.rad = g.person()
        self.ref = g.person()
        self.res = g.person()
        self.tech = g.person()
        self.nurse = g.person()
        if g.r() < 0.15:  # radiologists with clinical-word surnames ("Dr. Paget", "Dr. Foley")
            self.rad = g.person(source="common-word")

    # header lines: (segments) each; the caller joins them with newlines or separators
    def header(self) -> list[Seg]:
        g, p = self.g, self.pat
        k = g.wpick({"name": 3, "dob": 2, "mrn": 3, "acc": 2, "examdate": 2, "referrer": 1.2, "facility": 1, "address": 1.2, "phone": 0.8, "email": 0.6, "combo": 1.5, "age": 1})
        caps = g.r() < 0.5
        if k == "name":
            return [_plain(g.pick(("Patient: ", "PATIENT NAME: ", "Name: ", "Pt: ", "PATIENT: ", "Patient Name:")))] + g.name(p.person, "patient")
        if k == "dob":
            segs = [_plain(g.pick(("DOB: ", "D.O.B. ", "Date of Birth: ", "DOB ", "Birth date: "))), g.date(p.dob, header=True)]
            if g.r() < 0.5:
                segs += [_plain(" (")] + g.age_segs(p.age) + [_plain(")")] if g.r() < 0.4 else [_plain(" (age "), *self._age_number("(age N)"), _plain(")")]
            return segs
        if k == "age":
            cue, fmt = g.pick((("Age: ", "Age: N"), ("AGE/SEX: ", "Age/Sex: N/S"), ("Age/Sex: ", "Age/Sex: N/S")))
            return [_plain(cue), *self._age_number(fmt), _plain(g.pick((" / F", "/M", " F")) if "Sex" in fmt else g.pick((" years", "", " yrs")))]
        if k == "mrn":
            return g.id_seg(p.mrn) if g.r() < 0.8 else g.id_seg()
        if k == "acc":
            return g.id_seg()
        if k == "examdate":
            return (
                [_plain(g.pick(("Exam Date: ", "EXAM DATE: ", "Date of Service: ", "Study Date: ", "Date: ", "DOS: ")))]
                + [g.date(self.exam, header=True)]
                + ([_plain(" "), _clin(g.pick(("08:42", "14:05", "3:10 PM", "11:57")), "time")] if g.r() < 0.3 else [])
            )
        if k == "referrer":
            segs = [_plain(g.pick(("Referring Physician: ", "REFERRING PHYSICIAN: ", "Ordering Provider: ", "Ordered by: ", "Referred by: ")))] + g.name(self.ref, "referrer")
            return _upper(segs) if caps and g.r() < 0.3 else segs
        if k == "facility":
            segs = [_plain(g.pick(("Facility: ", "Location: ", "Performed at: ", "SITE: "))), g.inst_seg(p.institution if g.r() < 0.5 else None)]
            return _upper(segs) if caps and g.r() < 0.3 else segs
        if k == "address":
            return [_plain(g.pick(("Address: ", "Patient address: ", "Home: ")))] + g.address_segs(p.address)
        if k == "phone":
            return [_plain(g.pick(("Home phone: ", "Contact: ", "Patient phone: ")))] + [_phi(*self._phone_tuple())]
        if k == "email":
            return [_plain("Email: "), g.email_seg(p.person)]
        # Several identifiers on one line, the first at the very start of the line.
        segs = g.name(p.person, "patient")
        segs += [_plain(g.pick(("   ", " | ", "  ", "\t")))] + g.id_seg(p.mrn)
        if g.r() < 0.6:
            segs += [_plain(g.pick(("   DOB ", " | DOB: ", "  DOB:")))] + [g.date(p.dob, header=True)]
        return segs

    def opener(self, modality: str) -> list[Seg]:
        g, p = self.g, self.pat
        k = g.wpick({"date": 1, "name": 1.5, "id": 1})
        if k == "date":
            exam = ("MAMMO SCREEN BIL", "MG DIAG RT", "Mammogram bilateral") if modality == "mammo" else ("CHEST 2 VIEWS", "XR CHEST PA/LAT", "Chest AP portable")
            return [g.date(self.exam, header=True), _plain(" "), _words(g.pick(exam))]
        if k == "name":
            return g.name(p.person, "patient") + [_plain(g.pick((" ", "  ", " - ", "\t")))] + [g.date(p.dob, header=True)]
        return [_phi(p.mrn, "ID", "MRN", "bare"), _plain(g.pick((" ", " / ", "  "))), *g.name(p.person, "patient")]

    def _age_number(self, fmt: str) -> list[Seg]:
        a = self.pat.age
        return [_phi(str(a), "AGE", fmt)] if a > 89 else [_clin(str(a), "age")]

    def _phone_tuple(self) -> tuple[str, str, str, str]:
        v, st = self.g.phone()
        return (v, "PHONE", st, "header")

    def age_sentence(self) -> list[Seg]:
        p = self.pat
        return self.g.age_segs(p.age) + [_words(f" {'female' if p.person.sex == 'F' else 'male'} with {self.g.pick(_SYMPTOMS)}.")]

    def indication(self) -> list[Seg]:
        g, p = self.g, self.pat
        sym = g.pick(_SYMPTOMS)
        k = g.wpick({"age": 3, "referred": 2, "transfer": 1.5, "per": 1, "patient": 1, "dob": 0.6})
        if k == "age":
            return g.age_segs(p.age) + [_words(f" {'female' if p.person.sex == 'F' else 'male'} with {sym}.")]
        if k == "referred":
            op, cl = g.pick(((" (", ")."), (" of ", "."), (", ", ";"), (" at ", ".")))
            return [_words(f"Evaluate for {sym}, ")] + [_plain("referred by ")] + g.name(self.ref, "referrer") + [_plain(op), g.inst_seg(), _plain(cl)]
        if k == "transfer":
            return [_plain(g.pick(("Transferred from ", "Transfer from ", "Outside hospital: ", "Sent from ")))] + [g.inst_seg(), _words(f" for {sym}.")]
        if k == "per":
            return [_plain("Per Dr. ")] + [_phi(self.ref.last, "NAME", "Dr. Last", self.ref.variant)] + [_plain(" ("), *g.phone_seg(), _plain(g.pick(("), ", ") - "))), _words(f"rule out {sym}.")]
        if k == "dob":
            return [_plain("Patient born "), g.date(p.dob), _words(f", presents with {sym}.")]
        return [_plain("Patient ")] + g.name(p.person, "patient") + [_plain(" ("), *g.id_seg(p.mrn), _plain(") "), _words(f"with {sym}.")]

    def comparison(self) -> list[Seg]:
        g = self.g
        d = (self.exam[0] - g.R.randint(0, 5), g.R.randint(1, 12), g.R.randint(1, 28))
        k = g.wpick({"outside": 3, "dated": 2, "acc": 1, "performed": 1.5})
        if k == "outside":
            return [_plain(g.pick(("Outside films from ", "Outside images from ", "Prior exam from ", "Outside CT from "))), g.inst_seg(), _plain(" dated "), g.date(d), _plain(".")]
        if k == "dated":
            return [_words(g.pick(("Chest radiograph", "Prior study", "CT chest", "Mammogram"))), _plain(" dated " if g.r() < 0.5 else " of "), g.date(d), _plain(".")]
        if k == "acc":
            return [_words("Prior CT"), _plain(" of "), g.date(d), _plain(" ("), *g.id_seg(), _plain(").")]
        return [g.date(d), _plain(", performed at "), g.inst_seg(), _plain(".")]

    def findings(self) -> list[Seg]:
        g, p = self.g, self.pat
        k = g.wpick({"performed": 2, "relative": 2, "tech": 2, "scanned": 1.2, "patient": 1})
        if k == "performed":
            segs = [_plain(g.pick(("Exam performed at ", "Images acquired at ", "Study performed at "))), g.inst_seg()]
            if g.r() < 0.5:
                segs += [_plain(", ")] + g.address_segs()
            return segs + [_plain(".")]
        if k == "relative":
            rel = g.pick(_RELATIVES)
            return [_plain(f"The patient's {rel}, ")] + g.name(p.relative, "relative") + [_plain(g.pick((", was present during the exam.", ", provided history.", ", interpreted.")))]
        if k == "tech":
            return [_plain(g.pick(("Images obtained by ", "Technologist: ", "Tech: ")))] + g.name(self.tech, "technologist") + [_plain(" on "), g.date(self.exam), _plain(".")]
        if k == "scanned":
            return [_plain("Scanned on "), g.date(self.exam), _plain(" at "), _clin(g.pick(("9:05 AM", "3:45 pm", "14:20", "0830 hours", "11:15 am")), "time"), _plain(".")]
        return [_plain(g.pick(("Mr. ", "Ms. ") if p.person.sex == "M" else ("Ms. ", "Mrs. "))), _phi(p.person.last, "NAME", "Mr./Ms. Last", p.person.variant), _words(" tolerated the procedure well.")]

    def impression(self) -> list[Seg]:
        g = self.g
        k = g.wpick({"followup": 1.5, "email": 1.5, "schedule": 1.5, "relative": 1, "portal": 1})
        if k == "followup":
            return [_words("Recommend follow-up with ")] + g.name(self.ref, "referrer") + [_plain(" at "), g.inst_seg(), _plain(".")]
        if k == "email":
            return [_plain(g.pick(("Results sent to ", "Report emailed to ", "Questions: "))), g.email_seg(self.ref), _plain(g.pick((".", "")))]
        if k == "schedule":
            return [_plain("Schedule at "), _phi(*self._phone_tuple()[:3], "schedule"), _plain(" or "), g.url_seg(), _plain(".")]
        if k == "portal":
            segs = [_words("Images and report are available"), _plain(g.pick((" at ", " on the portal ", " via "))), g.url_seg()]
            return segs + ([_plain(" (")] + g.id_seg() + [_plain(").")] if g.r() < 0.3 else [_plain(g.pick((".", "")))])
        return [_plain(f"Discussed with the patient's {g.pick(_RELATIVES)}, ")] + g.name(self.pat.relative, "relative") + [_plain(", at "), *g.phone_seg(), _plain(".")]

    def communication(self) -> list[Seg]:
        g = self.g
        t = _clin(g.pick(("3:45 pm", "10:12 AM", "14:37", "9:05 a.m.", "23:10", "0715 hours", "4:30 PM")), "time")
        k = g.wpick({"discussed": 3, "critical": 2, "called": 2, "nurse": 1})
        if k == "discussed":
            return [_plain("Findings discussed with ")] + g.name(self.ref, "referrer") + [_plain(" by telephone at "), t, _plain(" on "), g.date(self.exam), _plain(".")]
        if k == "critical":
            return (
                [_plain("Critical result communicated to ")]
                + g.name(self.nurse, "nurse")
                + [_plain(" at "), t, _plain(" on "), g.date(self.exam), _plain(" by ")]
                + g.name(self.res, "resident")
                + [_plain(", with read-back.")]
            )
        if k == "called":
            return (
                [_plain("These findings were called to ")]
                + g.name(self.ref, "referrer")
                + [_plain(" (")]
                + g.phone_seg()
                + [_plain(") on "), g.date(self.exam), _plain(" at "), t, _plain("" if t[0].endswith(".") else ".")]
            )
        return [_plain("Verbal report given to ")] + g.name(self.nurse, "nurse") + [_plain(g.pick((" on 4 West", " in the ICU", ""))), _plain(" at "), t, _plain("" if t[0].endswith(".") else ".")]

    def signature(self) -> list[Seg]:
        g = self.g
        k = g.wpick({"esigned": 3, "dictated": 2, "attending": 2, "agree": 1, "signed-caps": 1})
        if k == "esigned":
            segs = [_plain(g.pick(("Electronically signed by: ", "Electronically Signed By: ", "E-signed: ")))] + g.name(self.rad, "radiologist") + [_plain(" on "), g.date(self.exam)]
            return segs + ([_plain(" at "), _clin(g.pick(("3:45 pm", "08:12", "17:03", "6:40 PM")), "time")] if g.r() < 0.5 else [])
        if k == "dictated":
            segs = [_plain("Dictated by: ")] + g.name(self.res, "resident")
            if g.r() < 0.6:
                segs += [_plain(g.pick(("\nAttending: ", "; reviewed by ", "  Attending radiologist: ")))] + g.name(self.rad, "radiologist")
            return segs
        if k == "attending":
            return [_plain(g.pick(("Attending: ", "Radiologist: ", "Read by: ")))] + g.name(self.rad, "radiologist")
        if k == "agree":
            return [_words("I have personally reviewed the images and agree with the report. ")] + g.name(self.rad, "radiologist")
        return _upper([_plain("SIGNED: ")] + g.name(self.rad, "radiologist") + [_plain(" ")] + [g.date(self.exam)])

    def cc(self) -> list[Seg]:
        g = self.g
        segs: list[Seg] = [_plain(g.pick(("cc: ", "CC: ", "cc ", "Copies to: ")))]
        for i in range(g.R.randint(1, 3)):
            if i:
                segs.append(_plain(g.pick(("; ", ", ", " / "))))
            if g.r() < 0.2:
                segs.append(g.inst_seg())
            else:
                segs += g.name(g.person(), g.pick(("referrer", "nurse", "referrer")))
        return segs

    def footer(self) -> list[Seg]:
        g = self.g
        inst = self.pat.institution
        k = g.wpick({"letterhead": 2, "contact": 1.5, "url": 2, "email": 1.5, "phone-end": 1})
        if k == "letterhead":
            segs: list[Seg] = [g.inst_seg(inst), _plain(g.pick((" Department of Radiology", " Radiology", "")))]
            segs += [_plain(" | ")] + g.address_segs() + [_plain(" | ")] + g.phone_seg()
            return segs
        if k == "contact":
            return [_plain("Radiology reading room: ")] + g.phone_seg() + [_plain(g.pick(("; ", " | ", ", ")))] + g.phone_seg()
        if k == "url":
            return [_plain(g.pick(("View images at ", "Patient portal: ", "More information: ", ""))), g.url_seg(inst[0])]
        if k == "email":
            return [_plain(g.pick(("Questions? Email ", "Contact: "))), g.email_seg(self.rad, inst[0])]
        return [g.inst_seg(inst), _plain(" "), *g.phone_seg()]


# ----------------------------------------------------------------------------------------------------
# Reports
# ----------------------------------------------------------------------------------------------------

_HEADERS = {
    "exam": ("EXAM", "PROCEDURE", "Exam"),
    "indication": ("INDICATION", "CLINICAL HISTORY", "HISTORY", "REASON FOR EXAM", "Indication"),
    "comparison": ("COMPARISON", "PRIOR", "Comparison"),
    "findings": ("FINDINGS", "Findings", "REPORT"),
    "impression": ("IMPRESSION", "CONCLUSION", "Impression"),
}


def _base_rows(n: int, seed: int, R: random.Random) -> list[dict[str, Any]]:

    is_mammo = [R.random() < 0.3 for _ in range(n)]
    n_m = sum(is_mammo)
    chest = synth_chest(ChestSynthConfig(n=max(n - n_m, 1), seed=seed))[0].frame
    mammo = synth_mammo_reports(MammoReportSynthConfig(n=max(n_m, 1), seed=seed))[0].frame
    rows: list[dict[str, Any]] = []
    ic = im = 0
    for m in is_mammo:
        if m:
            row = mammo.iloc[im]
            im += 1
            sections = _mammo_sections(row)
            rows.append({"modality": "mammo", "pid": f"mammo-{row['patient_id']}", "age": int(row["age"]), "sex": "F", "sections": sections})
        else:
            row = chest.iloc[ic]
            ic += 1
            sections = [(k, _str(row[k])) for k in ("indication", "comparison", "findings", "impression")]
            rows.append({"modality": "chest", "pid": f"chest-{row['patient_id']}", "age": int(row["age"]), "sex": str(row["sex"]), "sections": [(k, v) for k, v in sections if v]})
    return rows


def _str(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and v != v) or str(v) in ("<NA>", "nan") else str(v).strip()


def _mammo_sections(row: Any) -> list[tuple[str, str]]:
    text = _str(row.get("text"))
    if text:  # the structured site's whole report: "HEADER: body" lines
        out = []
        for line in text.split("\n"):
            head, _, body = line.partition(": ")
            key = {"EXAM": "exam", "CLINICAL HISTORY": "indication", "COMPARISON": "comparison", "FINDINGS": "findings", "IMPRESSION": "impression"}.get(head)
            # Other headers (BREAST COMPOSITION, ASSESSMENT) keep their own name.
            out.append((key, body) if key else ((f"hdr:{head}", body) if body else ("findings", line)))
        return out
    return [(k, _str(row.get(k))) for k in ("exam", "indication", "comparison", "findings", "impression") if _str(row.get(k))]


def _render(lines: list[list[Seg]]) -> tuple[str, list[PhiSpan], list[tuple[int, int]], list[str]]:
    parts: list[str] = []
    phi: list[PhiSpan] = []
    clin: list[tuple[int, int]] = []
    labels: list[str] = []
    pos = 0
    for li, line in enumerate(lines):
        if li:
            parts.append("\n")
            pos += 1
        for t, tag in line:
            if tag is not None and tag[0] == "phi":
                phi.append(PhiSpan(pos, pos + len(t), tag[1], None, t, tag[2], tag[3], tag[4] if len(tag) > 4 else ""))
            elif tag is not None and tag[0] == "clin":
                clin.append((pos, pos + len(t)))
                labels.append(tag[1])
            elif tag is not None and tag[0] == "words":
                for m in _WORD.finditer(t):
                    if len(m.group(0)) >= 2 or m.group(0).isdigit():
                        clin.append((pos + m.start(), pos + m.end()))
                        labels.append("word")
            parts.append(t)
            pos += len(t)
    return "".join(parts), phi, clin, labels


def _at(segs: list[Seg], where: str) -> list[Seg]:
    """Stamp the position on every identifier segment of a block."""
    return [(t, (*tag[:4], where) if tag is not None and tag[0] == "phi" else tag) for t, tag in segs]


def _tidy(line: list[Seg]) -> list[Seg]:
    """Drop empty segments; the rendering keeps all others verbatim."""
    return [(t, tag) for t, tag in line if t]


def _one_report(i: int, seed: int, base: dict[str, Any], g: _Gen) -> PhiReport:
    R = g.R
    exam = g.date_parts(2012, 2024)
    pat = g.patient(base["pid"], base["age"], base["sex"], exam[0])
    B = _Blocks(g, pat, exam)
    target = R.randint(5, 12)

    # Sections: a list of sentence chunks (each a list of segments), base sentences first.
    sections: list[tuple[str, list[list[Seg]]]] = []
    for key, text in base["sections"]:
        chunks = [_at(_base_segments(s, g, pat, key, exam[0]), "findings" if key.startswith("hdr:") else key) for s in _sentences(text)]
        sections.append((key, chunks))
    have = {k for k, _ in sections}
    # Indication/comparison sections to hold injected sentences, when the base report has none.
    for key in ("indication", "comparison"):
        if key not in have and R.random() < 0.5:
            sections.insert(0 if key == "indication" else min(1, len(sections)), (key, []))
    count = sum(_n_phi(c) for _, chunks in sections for c in chunks)
    upper_sec = {k for k, chunks in sections if chunks and all((t.upper() == t) for c in chunks for t, _ in c)}

    def insert(key: str, segs: list[Seg]) -> None:
        for k, chunks in sections:
            if k == key:
                ok = [j for j in range(len(chunks) + 1) if j == 0 or not re.fullmatch(r"\d+\.", "".join(t for t, _ in chunks[j - 1]).strip())]
                j = ok[int(R.random() * len(ok))]
                chunks.insert(j, _upper(segs) if key in upper_sec and R.random() < 0.7 else segs)
                return
        # No such section: open it in its usual place.
        order = ("exam", "indication", "comparison", "findings", "impression")
        j = sum(1 for k, _ in sections if k in order and order.index(k) < order.index(key))
        sections.insert(j, (key, [segs]))

    # An age over 89 is usually stated: most such patients get an age phrase in the indication.
    if pat.age > 89 and R.random() < 0.7:
        segs = _at(B.age_sentence(), "indication")
        insert("indication", segs)
        count += _n_phi(segs)
    # Clinical stress sentences (1-4), into findings mostly.
    st = _Stress(g)
    for _ in range(R.randint(1, 4)):
        insert(g.wpick({"findings": 6, "impression": 2, "indication": 1}), st.sentence())

    header: list[list[Seg]] = []
    if R.random() < 0.15:  # a bare identifier opens the text
        segs = _at(B.opener(base["modality"]), "header")
        header.append(segs)
        count += _n_phi(segs)
    tail: dict[str, list[list[Seg]]] = {"communication": [], "signature": [], "cc": [], "footer": []}
    weights = {"header": 4, "indication": 1.5, "comparison": 1.5, "findings": 1.5, "impression": 1.2, "communication": 1.2, "signature": 2, "cc": 0.8, "footer": 1.5}
    tries = 0
    while count < target and tries < 60:
        tries += 1
        pos = g.wpick(weights)
        segs = _at(getattr(B, pos)(), pos)
        k = _n_phi(segs)
        if k == 0 or count + k > 12:
            continue
        if pos in ("indication", "comparison", "findings", "impression"):
            insert(pos, segs)
        elif pos == "header":
            header.append(segs)
        elif pos == "communication":
            insert("impression", segs)
        else:
            tail[pos].append(segs)
        count += k
        if pos == "communication":
            weights["communication"] = 0.1

    # Section rendering style.
    style = g.wpick({"caps": 4, "title": 2, "blank": 1.5, "none": 1.5})
    lines: list[list[Seg]] = []
    if header:
        if R.random() < 0.3:  # all on one line
            row: list[Seg] = []
            for j, line in enumerate(header):
                if j:
                    row.append(_plain(g.pick(("  ", " | ", "   "))))
                row += line
            lines.append(row)
        else:
            lines += header
        if R.random() < 0.6:
            lines.append([])
    for key, chunks in sections:
        if not chunks:
            continue
        body: list[Seg] = []
        for j, c in enumerate(chunks):
            if j:
                body.append(_plain(" "))
            body += c
        h = key[4:] if key.startswith("hdr:") else g.pick(_HEADERS.get(key, ("FINDINGS",)))
        head = [_clin(h, "header"), _plain(":")]
        if style == "caps":
            lines.append([(h.upper(), ("clin", "header")), _plain(": ")] + body)
        elif style == "title":
            lines.append(head + [_plain(" ")] + body)
        elif style == "blank":
            lines += [[(h.upper(), ("clin", "header")), _plain(":")], body, []]
        else:
            lines += [body, []]
    while lines and not lines[-1]:
        lines.pop()
    trailer = tail["signature"] + tail["cc"] + tail["footer"]
    if trailer:
        lines.append([])
        lines += trailer

    lines = [_tidy(ln) for ln in lines]
    text, phi, clin, labels = _render(lines)
    return PhiReport(f"syn{seed}-{i:05d}", base["pid"], text, phi, clin, labels, base["modality"])


def synthetic_phi_corpus(n: int, seed: int = 0) -> list[PhiReport]:
    """``n`` synthetic radiology reports (about 70% chest radiograph, 30% mammography) with 5-12 injected
    identifiers each and their exact character spans; deterministic in ``(n, seed)``."""
    if n < 1:
        return []
    g = _Gen(seed)
    rows = _base_rows(n, seed, g.R)
    reports = [_one_report(i, seed, row, g) for i, row in enumerate(rows)]
    # The base reports' own identifier-free wording is reused as is; a stray mask would be a generator bug.
    for rep in reports:
        if "XXXX" in rep.text or "___" in rep.text:
            raise AssertionError(f"unfilled mask in {rep.report_id}")
    return reports
