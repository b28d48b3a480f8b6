"""Property-based tests for issue 17: de-identification must never destroy a report.

Reports are built from real-looking chest X-ray and mammography sentences interleaved with planted
identifiers of every kind, in many formats, at the start, middle and end of single-line and multi-line
reports. Every piece of text is recorded with its exact offsets and one of three roles:

* ``id``   -- a planted identifier (HIPAA Safe Harbor): every letter and digit of it must be masked;
* ``keep`` -- clinical text (sentences, section headings): no identifier span may touch it;
* ``cue``  -- labels, titles and separators ("MRN: ", "Dr. ", ", MD", ", IL ", spaces): either is fine.

These tests were written without reading the recognizers: they say what a report must look like after
de-identification, not how the rules work. Names come from pools written here and, where the faker
package is installed, from Faker locales seeded by Hypothesis, so every example replays and shrinks.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from radtrust.deid import DeidConfig, Deidentifier

try:  # names from many locales; the pools below are enough without it
    from faker import Faker
except ImportError:  # pragma: no cover - faker is an optional extra
    Faker = None

#: one engine for every example: building it is the slow part, and it keeps no per-text state
DEID = Deidentifier(DeidConfig(engine="radtrust"))

#: no "explain" phase: it re-runs a failing example many times over and would double the time of a failure
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)
#: CI replays the same examples every run (a red build always means a change did it); set
#: RADTRUST_PROPERTY_EXAMPLES to explore fresh random examples, as many per test as it says
_EXPLORE = int(os.environ.get("RADTRUST_PROPERTY_EXAMPLES", "0"))
SETTINGS = settings(
    max_examples=_EXPLORE or 25, deadline=None, phases=PHASES, derandomize=not _EXPLORE, database=None if not _EXPLORE else settings.default.database, suppress_health_check=[HealthCheck.too_slow]
)
MIXED_SETTINGS = settings(SETTINGS, max_examples=_EXPLORE * 3 or 80)

# --------------------------------------------------------------------------------------------------
# Text with roles
# --------------------------------------------------------------------------------------------------

ID, CUE, KEEP = "id", "cue", "keep"


@dataclass(frozen=True)
class Part:
    """A piece of a generated report: its text, its role, and for identifiers the kind and format."""

    text: str
    role: str
    kind: str = ""
    fmt: str = ""


def ident(text: str, kind: str, fmt: str) -> Part:
    return Part(text, ID, kind, fmt)


def cue(text: str) -> Part:
    return Part(text, CUE)


def keep(text: str) -> Part:
    return Part(text, KEEP)


@dataclass(frozen=True)
class Placed:
    start: int
    end: int
    part: Part


class Report:
    """A generated report and where each of its parts lies (a plain class, so that Hypothesis prints
    failing examples with the short ``__repr__`` below rather than field by field)."""

    def __init__(self, text: str, placed: tuple[Placed, ...]) -> None:
        self.text = text
        self.placed = placed

    @property
    def identifiers(self) -> list[Placed]:
        return [p for p in self.placed if p.part.role == ID]

    @property
    def clinical(self) -> list[Placed]:
        return [p for p in self.placed if p.part.role == KEEP]

    def __repr__(self) -> str:  # what Hypothesis prints for a falsifying example
        ids = ", ".join(f"{p.part.kind}/{p.part.fmt}={p.part.text!r}" for p in self.identifiers)
        return f"Report(text={self.text!r}, identifiers=[{ids}])"


def assemble(parts: list[Part]) -> Report:
    placed, pos = [], 0
    for p in parts:
        if p.text:
            placed.append(Placed(pos, pos + len(p.text), p))
            pos += len(p.text)
    return Report("".join(p.part.text for p in placed), tuple(placed))


def sentence_end(parts: list[Part]) -> list[Part]:
    """Close a fragment with a full stop unless it already ends with one."""
    if parts and parts[-1].text.endswith("."):
        return parts
    return [*parts, cue(".")]


# --------------------------------------------------------------------------------------------------
# Clinical text: none of it is an identifier (years alone, ages under 90, times of day, eponyms)
# --------------------------------------------------------------------------------------------------

CLINICAL = (
    # chest radiographs
    "The lungs are clear.",
    "No pleural effusion or pneumothorax.",
    "No radiographic evidence of pleural effusion or pneumothorax.",
    "Mild cardiomegaly.",
    "Heart size is normal.",
    "Kerley B lines are present.",
    "The cardiomediastinal silhouette is within normal limits.",
    "Increased opacity at the right base may represent atelectasis or pneumonia.",
    "Endotracheal tube tip 4 cm above the carina.",
    "Nasogastric tube tip projects over the stomach.",
    "Right PICC line tip at the cavoatrial junction.",
    "Swan-Ganz catheter tip in the right pulmonary artery.",
    "Sternotomy wires are intact.",
    "Dual-chamber pacemaker with leads in the right atrium and right ventricle.",
    "Westermark sign is not seen.",
    "Hampton hump in the left lower lobe.",
    "Pancoast tumor of the right apex cannot be excluded.",
    "Small hiatus hernia.",
    "Right upper lobe nodule measuring 8 mm, Lung-RADS 4A.",
    "Fleischner Society guidelines suggest CT at 6-12 months.",
    "Hilar lymphadenopathy, consider sarcoidosis or Hodgkin lymphoma.",
    "Old healed fracture of the left 7th rib.",
    "Cardiothoracic ratio 0.55.",
    "Aorta is unfolded.",
    "Lung volumes are low.",
    "Follow-up chest radiograph in 6-8 weeks is recommended.",
    # spine and bones
    "Degenerative change at C5-6.",
    "Mild degenerative disc disease at L4-L5 and L5-S1.",
    "Schmorl nodes at T11 and T12.",
    "Paget disease of the right femur.",
    "Hill-Sachs deformity of the humeral head.",
    "Bankart lesion is suspected.",
    "Osgood-Schlatter disease changes at the tibial tuberosity.",
    "Colles fracture of the distal radius.",
    "Baker cyst in the popliteal fossa.",
    "Morton neuroma in the third web space.",
    "Monteggia fracture-dislocation of the left forearm.",
    "Lisfranc injury cannot be excluded.",
    "Charcot joint of the left midfoot.",
    "Appearances are in keeping with Ewing sarcoma.",
    "No acute osseous abnormality.",
    # neuro, abdomen, vascular
    "Chiari I malformation with tonsillar descent of 7 mm.",
    "T2 hyperintense lesion in segment VII of the liver measuring 1.5 cm.",
    "Attenuation of 10 Hounsfield units is consistent with a simple cyst.",
    "Crohn disease of the terminal ileum.",
    "May-Thurner anatomy of the left common iliac vein.",
    "IVC filter in situ.",
    "Left ventricular ejection fraction 55%.",
    "Dose-length product 350 mGy*cm.",
    # mammography
    "Spiculated mass at 2 o'clock, 4 cm from the nipple, measuring 1.2 x 0.9 cm.",
    "BI-RADS 4A: suspicious abnormality.",
    "BI-RADS 2: benign findings.",
    "The breasts are heterogeneously dense (ACR category C), which may obscure small masses.",
    "Grouped amorphous calcifications in the upper outer quadrant of the left breast.",
    "Circumscribed oval mass at 10 o'clock, posterior depth, likely a fibroadenoma.",
    "No suspicious masses, calcifications or architectural distortion.",
    "Benign-appearing lymph node in the right axilla.",
    "Skin thickening of the left breast measuring 4 mm.",
    "Recommend ultrasound-guided core biopsy.",
    "Screening mammogram in 1 year.",
    # years, intervals, ages under 90 and times of day are not identifiers
    "Stable since 2019.",
    "Unchanged from the 2018 study.",
    "Stable postsurgical changes in the right breast since 2020.",
    "Wilms tumor was resected in 1998.",
    "Hodgkin disease treated in 2005 with mantle radiation.",
    "Compared with the study from 2 weeks ago.",
    "Lesion grew from 12 x 8 mm to 15 x 10 mm.",
    "72-year-old with cough.",
    "A 45-year-old woman with palpitations.",
    "Patient aged 89 with dyspnoea.",
    "Findings were discussed with the referring team at 14:30.",
    "Films reviewed at 09:15 on the ward.",
)

SECTION_HEADINGS = ("INDICATION:", "FINDINGS:", "IMPRESSION:", "COMPARISON:", "REPORT:")
EXAM_LINES = (
    "EXAM: Chest X-ray PA and lateral.",
    "EXAM: Bilateral screening mammogram.",
    "EXAM: Portable chest radiograph.",
    "TECHNIQUE: CT chest with contrast.",
)

# --------------------------------------------------------------------------------------------------
# Pools of identifier material, written here
# --------------------------------------------------------------------------------------------------

GIVEN = ("John", "Mary", "Ahmed", "Siobhan", "Wei", "Olga", "Jean-Luc", "Priya", "Kwame", "Ana")
SURNAMES = ("Smith", "Okonkwo", "O'Brien", "Nguyen", "Schmidt", "García", "MacDonald", "Kowalski", "Patel", "Brown")
FAKER_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL")

US_CITIES = ("Springfield", "Rochester", "Madison", "Salem", "Boston", "Portland", "Dayton", "Columbus", "New Haven", "Ann Arbor", "Salt Lake City", "St. Louis")
UK_CITIES = ("Leeds", "Manchester", "Bristol", "Sheffield", "York", "Norwich", "Cardiff", "Glasgow", "Milton Keynes", "Stoke-on-Trent", "St Albans", "Newcastle upon Tyne")
STREETS = ("Elm", "Oak", "Maple", "High", "Church", "Station", "Park", "Victoria", "Main", "Cedar", "Mill", "Pine")
STREET_TYPES = ("Road", "Street", "Avenue", "Lane", "Drive", "Close", "Way", "Boulevard", "Crescent", "Rd", "St.", "Ave.")
STATES = ("IL", "MA", "NY", "CA", "TX", "OH", "PA", "WA")
UK_AREAS = ("LS", "M", "B", "SW", "E", "EH", "G", "CF", "BS", "NE", "S", "OX", "CB")
SAINTS = ("Mary", "James", "Luke", "Thomas", "Vincent", "Joseph", "Jude", "George")
FAMOUS_INSTITUTIONS = (
    "Mayo Clinic",
    "Cleveland Clinic",
    "Massachusetts General Hospital",
    "Johns Hopkins Hospital",
    "Mount Sinai Hospital",
    "Addenbrooke's Hospital",
    "Great Ormond Street Hospital",
    "Leeds General Infirmary",
    "Royal Infirmary of Edinburgh",
    "Hôpital Pitié-Salpêtrière",
)
DOMAINS = (
    "mercy-health.org",
    "nhs.net",
    "stmarys.nhs.uk",
    "uni-klinikum.de",
    "chu-lyon.fr",
    "example-hospital.com",
    "gmail.com",
    "hotmail.co.uk",
    "sgh.org",
)
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")


@lru_cache(maxsize=None)
def _faker(locale: str):
    return Faker(locale)


def _faker_person(locale: str, seed: int) -> tuple[str, str]:
    f = _faker(locale)
    f.seed_instance(seed)
    given, surname = f.first_name(), f.last_name()
    return given, surname.removeprefix("auch ")  # a de_DE data quirk ("auch Schlauchin"), not a surname


def _faker_city(locale: str, seed: int) -> str:
    f = _faker(locale)
    f.seed_instance(seed)
    return f.city()


def people() -> st.SearchStrategy[tuple[str, str]]:
    """(given, surname): from the pools here first (they shrink best), else from a seeded Faker locale."""
    own = st.tuples(st.sampled_from(GIVEN), st.sampled_from(SURNAMES))
    if Faker is None:
        return own
    return st.one_of(own, st.builds(_faker_person, st.sampled_from(FAKER_LOCALES), st.integers(0, 2**32 - 1)))


def cities(pool: tuple[str, ...]) -> st.SearchStrategy[str]:
    own = st.sampled_from(pool)
    if Faker is None:
        return own
    return st.one_of(own, st.builds(_faker_city, st.sampled_from(("en_US", "en_GB")), st.integers(0, 2**32 - 1)))


@lru_cache(maxsize=None)
def digits(n: int) -> st.SearchStrategy[str]:
    return st.integers(10 ** (n - 1), 10**n - 1).map(str)


def _ascii(s: str) -> str:
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return "".join(ch for ch in s.lower() if ch.isalnum())


# --------------------------------------------------------------------------------------------------
# Identifier fragments: each is a list of parts forming one sentence or one header field
# --------------------------------------------------------------------------------------------------

NAME_FORMATS = {
    "given_surname": lambda g, s: f"{g} {s}",
    "surname_comma_given": lambda g, s: f"{s}, {g}",
    "SURNAME_comma_given": lambda g, s: f"{s.upper()}, {g}",
    "SURNAME_comma_GIVEN": lambda g, s: f"{s.upper()}, {g.upper()}",
    "given_SURNAME": lambda g, s: f"{g} {s.upper()}",
    "initial_surname": lambda g, s: f"{g[0]}. {s}",
    "surname": lambda g, s: s,
}
NAME_LABELS = ("Patient: ", "Name: ", "Patient name: ", "Pt: ")
PHYSICIAN_LABELS = ("Referring physician: ", "Referred by: ", "Dictated by: ", "Reported by: ", "Electronically signed by: ", "Attending: ")
TITLES = ("Dr. ", "Dr ", "Mr. ", "Mrs. ", "Ms. ", "Ms ", "Prof. ", "Professor ")
TITLE_LEADS = ("", "Discussed with ", "Seen by ", "Results conveyed to ", "Findings discussed with ", "Reviewed with ", "Copy to ")
CREDENTIALS = (", MD", ", MBBS, FRCR", " MD", ", DO", ", FRCR")


@st.composite
def names(draw) -> list[Part]:
    """Person names: labelled (header style), with titles, with credentials, "Surname, Given", upper case."""
    given, surname = draw(people())
    context = draw(st.sampled_from(("label", "physician", "titled", "credentialed")))
    if context == "label":
        fmt = draw(st.sampled_from(("given_surname", "surname_comma_given", "SURNAME_comma_given", "SURNAME_comma_GIVEN", "given_SURNAME")))
        lead, tail = draw(st.sampled_from(NAME_LABELS)), ""
    elif context == "physician":
        fmt = draw(st.sampled_from(("given_surname", "initial_surname", "surname_comma_given")))
        lead = draw(st.sampled_from(PHYSICIAN_LABELS)) + draw(st.sampled_from(("", "Dr. ", "Dr ")))
        tail = draw(st.sampled_from(("", *CREDENTIALS))) if fmt != "surname_comma_given" else ""
    elif context == "titled":
        fmt = draw(st.sampled_from(("surname", "given_surname", "initial_surname")))
        lead = draw(st.sampled_from(TITLE_LEADS)) + draw(st.sampled_from(TITLES))
        tail = ""
    else:
        fmt = draw(st.sampled_from(("given_surname", "initial_surname")))
        lead, tail = draw(st.sampled_from(("", "Reported by ", "Signed: "))), draw(st.sampled_from(CREDENTIALS))
    value = NAME_FORMATS[fmt](given, surname)
    return sentence_end([cue(lead), ident(value, "NAME", f"{context}:{fmt}"), cue(tail)])


def _date_formats(y: int, m: int, d: int) -> dict[str, str]:
    month, mon = MONTHS[m - 1], MONTHS[m - 1][:3]
    suffix = "th" if 11 <= d <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
    return {
        "iso": f"{y}-{m:02d}-{d:02d}",
        "ymd_slash": f"{y}/{m:02d}/{d:02d}",
        "us_slash": f"{m:02d}/{d:02d}/{y}",
        "us_slash_short": f"{m}/{d}/{y}",
        "us_two_digit_year": f"{m:02d}/{d:02d}/{y % 100:02d}",
        "eu_dot": f"{d:02d}.{m:02d}.{y}",
        "eu_slash": f"{d:02d}/{m:02d}/{y}",
        "eu_dash": f"{d:02d}-{m:02d}-{y}",
        "day_month_year": f"{d} {month} {y}",
        "month_day_year": f"{month} {d}, {y}",
        "month_ordinal_year": f"{month} {d}{suffix}, {y}",
        "ordinal_month_year": f"{d}{suffix} {month} {y}",
        "ordinal_of_month_year": f"{d}{suffix} of {month} {y}",
        "mon_day_year": f"{mon} {d}, {y}",
        "day_mon_year_dashed": f"{d:02d}-{mon}-{y}",
        "DAY_MON_YEAR_upper": f"{d:02d}-{mon.upper()}-{y}",
        "day_mon_year": f"{d} {mon} {y}",
        "month_year": f"{month} {y}",  # a month is a date element under Safe Harbor
    }


DATE_FORMATS = tuple(_date_formats(2021, 3, 4))
DATE_LEADS = (
    "DOB: ",
    "Date of birth: ",
    "D.O.B. ",
    "Exam date: ",
    "Date of exam: ",
    "Comparison: ",
    "Compared with the prior study dated ",
    "Compared with the study of ",
    "Admitted on ",
    "Study date: ",
    "Date: ",
    "Prior mammogram on ",
    "",
)


@st.composite
def date_values(draw) -> tuple[str, str]:
    y, m = draw(st.integers(1925, 2024)), draw(st.integers(1, 12))
    d = draw(st.integers(1, 30 if m in (4, 6, 9, 11) else 28 if m == 2 else 31))
    fmt = draw(st.sampled_from(DATE_FORMATS))
    return fmt, _date_formats(y, m, d)[fmt]


@st.composite
def dates(draw) -> list[Part]:
    """Dates in ISO, US, European, two-digit-year and spelled formats, month-and-year too."""
    fmt, value = draw(date_values())
    return sentence_end([cue(draw(st.sampled_from(DATE_LEADS))), ident(value, "DATE", fmt)])


_UNITS = ("", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def age_in_words(n: int, with_and: bool = True) -> str:
    if n < 100:
        return "ninety" + (f"-{_UNITS[n - 90]}" if n > 90 else "")
    rest = n - 100
    if rest == 0:
        return "one hundred"
    return f"one hundred {'and ' if with_and else ''}{_UNITS[rest]}"


#: (template, leads, whether clinical text follows); "{}" is the age
AGE_FORMATS = {
    "dash_year_old": ("{}-year-old", ("", "A ", "INDICATION: "), True),
    "year_old": ("{} year old", ("", "A "), True),
    "dash_year_old_space": ("{}-year old", ("", "A "), True),
    "yr_old": ("{}-yr-old", ("", "A "), True),
    "yo": ("{} yo", ("", "A "), True),
    "yo_compact": ("{}yo", ("",), True),
    "y_slash_o": ("{} y/o", ("", "A "), True),
    "years_old": ("{} years old", ("Patient is ", "The patient is "), False),
    "aged": ("aged {}", ("Patient ", "Female patient ", "Male, "), False),
    "age_colon": ("Age: {}", ("",), False),
    "words_dash_year_old": ("{}-year-old", ("", "A "), True),
    "words_year_old": ("{} year old", ("", "A "), True),
    "words_years_old": ("{} years old", ("Patient is ",), False),
    "words_aged": ("aged {}", ("Patient ",), False),
}
AGE_CONTEXT = ("with cough.", "woman with shortness of breath.", "man with chest pain after a fall.", "female for screening mammography.", "with a history of COPD.")


@st.composite
def ages(draw) -> list[Part]:
    """Ages over 89 (Safe Harbor), as digits or words, in the usual report phrasings."""
    n = draw(st.integers(90, 110))
    fmt = draw(st.sampled_from(tuple(AGE_FORMATS)))
    template, leads, followed = AGE_FORMATS[fmt]
    lead = draw(st.sampled_from(leads))
    value = age_in_words(n, draw(st.booleans())) if fmt.startswith("words") else str(n)
    before, after = template.split("{}")
    if not (lead + before):
        value = value[0].upper() + value[1:]
    parts = [cue(lead + before), ident(value, "AGE", fmt), cue(after)]
    if followed:
        return [*parts, cue(" "), keep(draw(st.sampled_from(AGE_CONTEXT)))]
    return sentence_end(parts)


PHONE_LEADS = ("Tel: ", "Tel. ", "Phone: ", "phone ", "Fax: ", "fax ", "Mobile: ", "Contact number: ", "Call ", "Results phoned to ", "Please call the reporting radiologist on ", "")


US_PHONES = {
    "us_paren": "({a}) {e}-{line}",
    "us_paren_nospace": "({a}){e}-{line}",
    "us_dash": "{a}-{e}-{line}",
    "us_dot": "{a}.{e}.{line}",
    "us_space": "{a} {e} {line}",
    "us_plus1": "+1 {a} {e} {line}",
    "us_plus1_dash": "+1-{a}-{e}-{line}",
    "us_1_dash": "1-{a}-{e}-{line}",
}
UK_PHONES = {  # 11 digits: 020 xxxx xxxx, 01xx xxx xxxx, 01xxx xxxxxx, 07xxx xxxxxx
    "uk_london": "020 {london} {four}",
    "uk_london_intl": "+44 20 {london} {four}",
    "uk_london_intl_0": "+44 (0)20 {london} {four}",
    "uk_geographic": "0{area} {three} {four}",
    "uk_geographic_5": "0{area}{d} {six}",
    "uk_mobile": "0{mobile} {six}",
    "uk_mobile_intl": "+44 {mobile} {six}",
}


@st.composite
def phone_values(draw) -> tuple[str, str]:
    """(format, number): North American and UK numbers in their usual written forms."""
    fmt = draw(st.sampled_from(tuple(US_PHONES) + tuple(UK_PHONES)))
    if fmt in US_PHONES:
        a, e, line = draw(st.integers(201, 989)), draw(st.integers(200, 999)), draw(st.integers(0, 9999))
        return fmt, US_PHONES[fmt].format(a=a, e=e, line=f"{line:04d}")
    return fmt, UK_PHONES[fmt].format(
        london=draw(st.sampled_from("378")) + draw(digits(3)),
        four=f"{draw(st.integers(0, 9999)):04d}",
        area=f"1{draw(st.integers(13, 99))}",
        three=draw(digits(3)),
        d=draw(st.integers(0, 9)),
        six=draw(digits(6)),
        mobile=f"7{draw(st.integers(100, 999))}",
    )


@st.composite
def phones(draw) -> list[Part]:
    """US and UK phone and fax numbers, with and without a "Tel:"/"phone"/"fax" cue."""
    fmt, value = draw(phone_values())
    lead = draw(st.sampled_from(PHONE_LEADS))
    return sentence_end([cue(lead), ident(value, "PHONE", fmt + ("" if lead else ":bare"))])


@st.composite
def emails(draw) -> list[Part]:
    """E-mail addresses built from names, with and without a cue."""
    given, surname = draw(people())
    g, s, dom = _ascii(given) or "j", _ascii(surname) or "doe", draw(st.sampled_from(DOMAINS))
    forms = {"given.surname": f"{g}.{s}@{dom}", "initial_surname": f"{g[0]}{s}@{dom}", "surname_digits": f"{s}{draw(st.integers(1, 99))}@{dom}", "given_surname": f"{g}_{s}@{dom}"}
    fmt = draw(st.sampled_from(tuple(forms)))
    lead = draw(st.sampled_from(("Email: ", "E-mail: ", "email ", "Contact ", "Results sent to ", "")))
    return sentence_end([cue(lead), ident(forms[fmt], "EMAIL", fmt)])


@st.composite
def urls(draw) -> list[Part]:
    """Web addresses with and without a scheme, with paths and query strings."""
    dom, n = draw(st.sampled_from(DOMAINS)), draw(digits(6))
    forms = {
        "www": f"www.{dom}",
        "https": f"https://{dom}",
        "https_www_path": f"https://www.{dom}/radiology",
        "http_query": f"http://pacs.{dom}/viewer?study={n}",
        "https_deep_path": f"https://portal.{dom}/patients/{n}/images",
        "www_path": f"www.{dom}/referrals",
    }
    fmt = draw(st.sampled_from(tuple(forms)))
    lead = draw(st.sampled_from(("Images available at ", "See ", "Portal: ", "Viewer: ", "Website: ", "")))
    return sentence_end([cue(lead), ident(forms[fmt], "URL", fmt)])


def _nhs_number(nine: int) -> str:
    """A ten-digit NHS number with a valid modulus-11 check digit."""
    while True:
        body = f"{nine:09d}"
        check = 11 - sum(int(c) * w for c, w in zip(body, range(10, 1, -1))) % 11
        check = 0 if check == 11 else check
        if check != 10:
            return body + str(check)
        nine = (nine + 1) % 10**9


RECORD_LABELS = {
    "mrn_digits": ("MRN ", "MRN: ", "MRN# ", "MRN #", "Medical record number: ", "Medical Record No. "),
    "hospital_number": ("Hospital number: ", "Hosp no. ", "Unit number: "),
    "accession_dashed": ("Accession: ", "Accession number ", "Acc: ", "Acc# "),
    "accession_digits": ("Accession: ", "Accession number ", "Accession #"),
    "nhs_spaced": ("NHS number: ", "NHS No. ", "NHS no "),
    "nhs_plain": ("NHS number: ", "NHS No. "),
    "ssn": ("SSN: ", "SSN ", "Social security number "),
    "patient_id": ("Patient ID: ", "Patient ID ", "PID: "),
}


@st.composite
def record_value(draw, fmt: str) -> str:
    if fmt == "mrn_digits":
        return draw(digits(draw(st.integers(6, 10))))
    if fmt == "hospital_number":
        return draw(st.sampled_from("AKRSTX")) + draw(digits(7))
    if fmt == "accession_dashed":
        y = draw(st.integers(2000, 2024))
        if draw(st.booleans()):
            return f"CT-{y % 100:02d}-{draw(digits(6))}"
        return f"RAD-{y}-{draw(digits(5))}"
    if fmt == "accession_digits":
        return draw(digits(draw(st.integers(9, 12))))
    if fmt in ("nhs_spaced", "nhs_plain"):
        nhs = _nhs_number(draw(st.integers(10**8, 10**9 - 1)))
        return f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}" if fmt == "nhs_spaced" else nhs
    if fmt == "ssn":
        return f"{draw(st.integers(1, 665)):03d}-{draw(st.integers(1, 99)):02d}-{draw(st.integers(1, 9999)):04d}"
    return draw(st.sampled_from(("P", ""))) + draw(digits(8))  # patient_id


@st.composite
def record_values(draw) -> tuple[str, str, str]:
    """(format, label, value) for medical record, accession, NHS, social security and patient numbers."""
    fmt = draw(st.sampled_from(tuple(RECORD_LABELS)))
    return fmt, draw(st.sampled_from(RECORD_LABELS[fmt])), draw(record_value(fmt))


@st.composite
def record_numbers(draw) -> list[Part]:
    """MRN, accession, NHS, SSN and patient-ID numbers behind their usual labels."""
    fmt, label, value = draw(record_values())
    return sentence_end([cue(label), ident(value, "ID", fmt)])


@st.composite
def name_then_record(draw) -> list[Part]:
    """A name directly followed by a record number, as in "John Smith MRN 12345678 chest film."."""
    given, surname = draw(people())
    fmt = draw(st.sampled_from(("given_surname", "surname_comma_given", "SURNAME_comma_GIVEN")))
    label = draw(st.sampled_from((" MRN ", " MRN: ", ", MRN ", " - MRN ", " #")))
    parts = [ident(NAME_FORMATS[fmt](given, surname), "NAME", f"before_mrn:{fmt}"), cue(label), ident(draw(digits(8)), "ID", "mrn_after_name")]
    rest = draw(st.sampled_from(("", "chest film.", "CXR PA and lateral.", "Bilateral screening mammogram.", "Portable chest radiograph.")))
    return [*parts, cue(" "), keep(rest)] if rest else sentence_end(parts)


def _uk_postcode(draw) -> str:
    area = draw(st.sampled_from(UK_AREAS))
    district = str(draw(st.integers(1, 20)))
    if district == "1" and area in ("SW", "E"):  # central London: SW1A, SW1P, E1W (no "E12A")
        district += draw(st.sampled_from(("", "A", "P") if area == "SW" else ("", "W")))
    return f"{area}{district} {draw(st.integers(0, 9))}{draw(st.sampled_from('ABDEFGHJLNPQRSTUWXYZ'))}{draw(st.sampled_from('ABDEFGHJLNPQRSTUWXYZ'))}"


ADDRESS_LEADS = ("Address: ", "Patient address: ", "Home address: ", "Patient lives at ", "Lives at ", "Resides at ", "Home: ", "")


@st.composite
def addresses(draw) -> list[Part]:
    """US and UK street addresses, with and without city, state, ZIP code or postcode."""
    n = draw(st.integers(1, 9999))
    street = f"{n} {draw(st.sampled_from(STREETS))} {draw(st.sampled_from(STREET_TYPES))}"
    fmt = draw(
        st.sampled_from(("us_full", "us_zip4", "us_apt", "us_direction", "us_no_zip", "us_city", "street_only", "uk_full", "uk_comma", "uk_flat", "uk_no_postcode", "uk_postcode_only", "us_zip_only"))
    )
    if fmt.startswith("us"):
        city, state, zip5 = draw(cities(US_CITIES)), draw(st.sampled_from(STATES)), f"{draw(st.integers(1001, 99950)):05d}"
        zipcode = f"{zip5}-{draw(digits(4))}" if fmt == "us_zip4" else zip5
        if fmt == "us_apt":
            street = f"{street}, Apt {draw(st.integers(1, 40))}{draw(st.sampled_from(('', 'B')))}"
        if fmt == "us_direction":
            street = f"{n} {draw(st.sampled_from(('N.', 'S.', 'East', 'West')))} {street.split(' ', 1)[1]}"
        if fmt == "us_zip_only":
            return sentence_end([cue(draw(st.sampled_from(("ZIP code ", "Zip: ")))), ident(zip5, "ADDRESS", fmt)])
        parts = [ident(f"{street}, {city}", "ADDRESS", fmt)]
        if fmt == "us_city":
            pass
        elif fmt == "us_no_zip":
            parts.append(cue(f", {state}"))
        else:
            parts += [cue(f", {state} "), ident(zipcode, "ADDRESS", fmt)]
    elif fmt == "street_only":
        parts = [ident(street, "ADDRESS", fmt)]
    else:
        city, postcode = draw(cities(UK_CITIES)), _uk_postcode(draw)
        if fmt == "uk_postcode_only":
            return sentence_end([cue(draw(st.sampled_from(("Postcode: ", "Post code ")))), ident(postcode, "ADDRESS", fmt)])
        if fmt == "uk_flat":
            street = f"Flat {draw(st.integers(1, 40))}, {street}"
        value = {"uk_full": f"{street}, {city} {postcode}", "uk_comma": f"{street}, {city}, {postcode}", "uk_flat": f"{street}, {city} {postcode}", "uk_no_postcode": f"{street}, {city}"}[fmt]
        parts = [ident(value, "ADDRESS", fmt)]
    lead = draw(st.sampled_from(ADDRESS_LEADS))
    if not lead:
        parts[0] = Part(parts[0].text, ID, "ADDRESS", fmt + ":bare")
    return sentence_end([cue(lead), *parts])


@st.composite
def institutions(draw) -> list[Part]:
    """Hospital names: saints, city + "General Hospital", famous clinics, abbreviated forms."""
    saint, city = draw(st.sampled_from(SAINTS)), draw(cities(US_CITIES + UK_CITIES))
    forms = {
        "saint_dot": f"St. {saint}'s Hospital",
        "saint_nodot": f"St {saint}'s Hospital",
        "saint_full": f"Saint {saint}'s Hospital",
        "city_general": f"{city} General Hospital",
        "city_memorial": f"{city} Memorial Hospital",
        "city_medical_center": f"{city} Medical Center",
        "city_university": f"{city} University Hospital",
        "university_of": f"University Hospital of {city}",
        "city_royal_infirmary": f"{city} Royal Infirmary",
        "famous": draw(st.sampled_from(FAMOUS_INSTITUTIONS)),
        "abbrev_saint": f"St. {saint}'s Hosp.",
        "abbrev_general": f"{city} Gen. Hosp.",
        "abbrev_medical_center": f"{city} Med. Ctr.",
    }
    fmt = draw(st.sampled_from(tuple(forms)))
    lead = draw(st.sampled_from(("Outside films from ", "Prior study performed at ", "Transferred from ", "Comparison is made with imaging from ", "Previously treated at ", "Referred by ")))
    return sentence_end([cue(lead), ident(forms[fmt], "INSTITUTION", fmt)])


@st.composite
def header_fields(draw) -> list[list[Part]]:
    """Fields of a header line such as "Name: X   MRN: Y   DOB: Z"."""
    given, surname = draw(people())
    fields = draw(st.lists(st.sampled_from(("name", "mrn", "dob", "accession", "age", "exam_date", "nhs", "referrer")), min_size=2, max_size=4, unique=True))
    out = []
    for f in fields:
        if f == "name":
            fmt = draw(st.sampled_from(("given_surname", "SURNAME_comma_GIVEN", "surname_comma_given")))
            out.append([cue(draw(st.sampled_from(("Name: ", "Patient: ", "Patient Name: ")))), ident(NAME_FORMATS[fmt](given, surname), "NAME", f"header:{fmt}")])
        elif f == "referrer":
            out.append([cue("Referring: Dr. "), ident(surname, "NAME", "header:referrer_surname")])
        elif f in ("dob", "exam_date"):
            fmt, value = draw(date_values())
            out.append([cue("DOB: " if f == "dob" else "Exam date: "), ident(value, "DATE", f"header:{fmt}")])
        elif f == "age":
            out.append([cue("Age: "), ident(str(draw(st.integers(90, 110))), "AGE", "header:age")])
        else:
            want, fmt = {"mrn": ("MRN: ", "mrn_digits"), "accession": ("Accession: ", "accession_dashed"), "nhs": ("NHS No: ", "nhs_spaced")}[f]
            value = draw(record_value(fmt))
            out.append([cue(want), ident(value, "ID", f"header:{fmt}")])
    return out


def _join(chunks: list[list[Part]], sep: str) -> list[Part]:
    out: list[Part] = []
    for i, c in enumerate(chunks):
        if i:
            out.append(cue(sep))
        out.extend(c)
    return out


@st.composite
def header_sentence(draw) -> list[Part]:
    """A header written inline: "Name: X, MRN: Y, DOB: Z."."""
    return sentence_end(_join(draw(header_fields()), draw(st.sampled_from((", ", "; ", "  ")))))


FAMILIES: dict[str, st.SearchStrategy[list[Part]]] = {
    "NAME": names(),
    "DATE": dates(),
    "AGE": ages(),
    "PHONE": phones(),
    "EMAIL": emails(),
    "URL": urls(),
    "ID": record_numbers(),
    "ADDRESS": addresses(),
    "INSTITUTION": institutions(),
    "NAME+ID": name_then_record(),
    "HEADER": header_sentence(),
}


# --------------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------------


@st.composite
def reports(draw, families: tuple[str, ...] = tuple(FAMILIES), min_ids: int = 1, max_ids: int = 3) -> Report:
    """Clinical sentences and identifier fragments in any order, on one line or as a multi-line report
    with header lines and section headings."""
    sentences = draw(st.lists(st.sampled_from(CLINICAL), min_size=1, max_size=5, unique=True))
    frags = draw(st.lists(st.one_of([FAMILIES[f] for f in families]), min_size=min_ids, max_size=max_ids)) if families else []
    items = [[keep(s)] for s in sentences] + frags
    order = draw(st.permutations(range(len(items))))
    items = [items[i] for i in order]
    if not draw(st.booleans()):  # one line, sentences joined by spaces
        return assemble(_join(items, " "))
    lines: list[list[Part]] = []
    if "HEADER" in families or "NAME" in families:
        for _ in range(draw(st.integers(0, 2))):
            lines.append(_join(draw(header_fields()), draw(st.sampled_from(("   ", "  ", "\t", " | ")))))
    if draw(st.booleans()):
        lines.append([keep(draw(st.sampled_from(EXAM_LINES)))])
    n_sections = draw(st.integers(1, min(3, len(items))))
    cuts = sorted(draw(st.lists(st.integers(1, len(items) - 1), max_size=n_sections - 1, unique=True))) if len(items) > 1 else []
    headings = draw(st.permutations(SECTION_HEADINGS))
    within = draw(st.sampled_from((" ", "\n", "  ")))
    for heading, lo, hi in zip(headings, [0, *cuts], [*cuts, len(items)]):
        lines.append([keep(heading), cue(" " if within != "\n" else "\n"), *_join(items[lo:hi], within)])
    return assemble(_join(lines, draw(st.sampled_from(("\n", "\r\n", "\n\n")))))


# --------------------------------------------------------------------------------------------------
# What must hold
# --------------------------------------------------------------------------------------------------


def _show(text: str, spans) -> str:
    return "\n  text:  " + repr(text) + "\n  spans: " + ", ".join(f"{s.kind}[{s.start}:{s.end}]={text[s.start : s.end]!r}" for s in spans)


def missed_identifiers(report: Report, spans) -> list[str]:
    """Planted identifiers with a letter or digit that no span covers."""
    covered = bytearray(len(report.text))
    for s in spans:
        covered[max(s.start, 0) : max(s.end, 0)] = b"\x01" * (max(s.end, 0) - max(s.start, 0))
    problems = []
    for p in report.identifiers:
        left = "".join(ch if (ch.isalnum() and not covered[i]) else "_" for i, ch in zip(range(p.start, p.end), p.part.text))
        if any(ch != "_" for ch in left):
            problems.append(f"{p.part.kind}/{p.part.fmt} {p.part.text!r} left unmasked: {left!r}")
    return problems


def damaged_clinical(report: Report, spans) -> list[str]:
    """Clinical parts that some identifier span overlaps."""
    return [f"clinical {p.part.text!r} hit by {s.kind} span {report.text[s.start : s.end]!r}" for p in report.clinical for s in spans if s.start < p.end and p.start < s.end]


def in_order(pieces: list[str], text: str) -> str | None:
    """The first piece that does not occur in ``text`` after the previous one, or None."""
    pos = 0
    for piece in pieces:
        at = text.find(piece, pos)
        if at < 0:
            return piece
        pos = at + len(piece)
    return None


# --------------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", tuple(FAMILIES))
@SETTINGS
@given(data=st.data())
def test_every_planted_identifier_is_masked(family: str, data: st.DataObject) -> None:
    """Property 1, one identifier family at a time so each failure names its kind: every letter and
    digit of every planted identifier lies inside a span, and its value no longer appears in the output."""
    report = data.draw(reports((family,)), label="report")
    spans = DEID.find(report.text)
    problems = missed_identifiers(report, spans)
    assert not problems, "\n".join(problems) + _show(report.text, spans)
    out = DEID.deidentify(report.text)
    for p in report.identifiers:
        v = p.part.text
        elsewhere = report.text[: p.start] + "\x00" + report.text[p.end :]
        if len(v) >= 3 and v not in elsewhere:
            assert v not in out, f"{p.part.kind}/{p.part.fmt} {v!r} survives in {out!r}"


@pytest.mark.parametrize("family", ("none", *FAMILIES))
@SETTINGS
@given(data=st.data())
def test_clinical_sentences_are_untouched(family: str, data: st.DataObject) -> None:
    """Property 2, per identifier family (and with none at all): no span touches clinical text, and every
    clinical sentence and heading appears byte-identical, in order, in the output. A de-identifier that
    eats findings destroys the report it is meant to make shareable."""
    report = data.draw(reports(() if family == "none" else (family,), min_ids=0 if family == "none" else 1), label="report")
    spans = DEID.find(report.text)
    problems = damaged_clinical(report, spans)
    assert not problems, "\n".join(problems) + _show(report.text, spans)
    out = DEID.deidentify(report.text)
    lost = in_order([p.part.text for p in report.clinical], out)
    assert lost is None, f"clinical {lost!r} not intact in output {out!r}"
    if family == "none":
        assert out == report.text, "a report without identifiers must come back unchanged" + _show(report.text, spans)


@MIXED_SETTINGS
@given(report=reports())
def test_mixed_reports_lose_identifiers_and_keep_findings(report: Report) -> None:
    """Properties 1 and 2 together on reports that mix every identifier family: identifiers next to one
    another (a name then a record number, an address then a phone) must neither shield nor swallow
    each other or the clinical sentences around them."""
    spans = DEID.find(report.text)
    problems = missed_identifiers(report, spans) + damaged_clinical(report, spans)
    assert not problems, "\n".join(problems) + _show(report.text, spans)


@MIXED_SETTINGS
@given(report=reports())
def test_engine_invariant_only_spans_change(report: Report) -> None:
    """Property 3: spans are sorted, disjoint, non-empty and within the text, and the output is exactly
    the input with each span replaced by its mask -- nothing outside a span is ever altered or lost."""
    text = report.text
    spans = DEID.find(text)
    prev = 0
    pieces = []
    for s in spans:
        assert 0 <= prev <= s.start < s.end <= len(text), f"span {s} out of order or bounds" + _show(text, spans)
        pieces += [text[prev : s.start], f"[{s.kind}]"]
        prev = s.end
    pieces.append(text[prev:])
    assert DEID.deidentify(text) == "".join(pieces)


# --------------------------------------------------------------------------------------------------
# Regressions from issue 17
# --------------------------------------------------------------------------------------------------


def test_address_does_not_swallow_the_rest_of_the_report() -> None:
    """Issue 17: an address cue used to mask everything after it, deleting the findings."""
    text = "FINDINGS: Heart size is normal. Patient address: 231 Elm Road, Springfield. No radiographic evidence of pleural effusion or pneumothorax. The lungs are clear."
    out = DEID.deidentify(text)
    assert out.startswith("FINDINGS: Heart size is normal. Patient address: [ADDRESS]")
    assert out.endswith(". No radiographic evidence of pleural effusion or pneumothorax. The lungs are clear.")
    for word in ("231", "Elm", "Springfield"):
        assert word not in out


def test_name_before_record_number_is_masked() -> None:
    """Issue 17: a bare name right before "MRN" survived while only the number was masked."""
    out = DEID.deidentify("John Smith MRN 12345678 chest film.")
    assert "John" not in out and "Smith" not in out and "12345678" not in out
    assert out.endswith(" chest film.")
