"""A held-out de-identification corpus: real chest X-ray sentences with planted identifiers at known offsets.

Why a second corpus: :mod:`radtrust.synth.deid_corpus` was written together with the recognizers it tests, so
its templates and the recognizers share blind spots. This generator was written without reading the
recognizers, their allow-list or that corpus, so its scores are an honest held-out estimate.

``heldout_corpus(n, seed)`` returns ``n`` :class:`Report` objects. Each one carries

* ``text``: the report, either on one line (the usual shape of a CSV/RIS export) or on several lines;
* ``phi``: one :class:`Phi` ``(start, end, kind, fmt)`` per planted identifier. The span is the value only:
  cue words around it ("Dr.", "MRN", "Tel:", "aged", "-year-old", ", MD", a US state) are not part of it;
* ``clinical`` / ``clinical_labels``: spans of clinical sentences, section headers and stress phrases that a
  de-identifier must leave byte-identical;
* ``neutral``: text beside an identifier that may go either way (the US state or Canadian province between a
  city and its postcode, which Safe Harbor lets stand): scored neither as an identifier nor as a word that
  must survive.

Clinical text
    Findings and impression sentences of the Open-i reports in ``../shared/data/openi/`` (Demner-Fushman
    et al., 2016), sentences holding the source's ``XXXX`` masks dropped. Without that folder, sentences of
    :func:`radtrust.synth.chest.synth_chest` are used instead (``XXXX``/``___`` sentences dropped). Mixed in
    are stress sentences written here: mammography (clock positions, BI-RADS 4A, ACR density), eponyms that
    are also surnames (Kerley B lines, Paget disease, Smith fracture, Fleischner Society), measurements,
    spine levels, clock times, years, ages under 90 and scanner/dose numbers.

Identifiers
    Faker (names, addresses, cities, e-mail domains, some phone numbers) in English locales (US, GB, AU, CA,
    IE, NZ, IN, NG, PH, KE) and Latin-script non-English ones (de, fr, es, it, nl, pl, pt, sv, cs, tr, ga);
    about half of the non-English names keep their accents, the others are romanised. Dates, ages 90-110,
    phone numbers, IDs (MRN, accession, NHS number with a valid check digit, SSN-like, Medicare, OHIP,
    DICOM UIDs) and institutions are built here in many formats.

Template groups (how identifiers are embedded)
    Report *families* (header blocks, signatures, communication sentences, comparison lines, letters,
    identifiers at the very start and end of the text, mammography reports) and *inline* sentences (an
    identifier in the middle of a line of clinical text) come in two disjoint groups:

    * ``dev``: for developing the recognizers; any seed may be used, seed 0 is the customary one.
    * ``heldout`` (default): what the benchmark scores; nobody tuning the recognizers should read its
      output or its templates. The Open-i sentences, the institution list and the eponym/stress fillers are
      also split in two by a stable hash or by position, so the held-out group's clinical text is unseen too.

Everything is deterministic for ``(n, seed, group)`` (and a given Faker version).

    reports = heldout_corpus(400, seed=1)            # held-out group
    reports = heldout_corpus(200, seed=0, group="dev")
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

if TYPE_CHECKING:
    from faker import Faker

GENERATOR_VERSION = "radtrust-deid-heldout/1"
REPO = Path(__file__).resolve().parent.parent
OPENI_DIR = REPO.parent / "shared" / "data" / "openi"
KINDS: tuple[str, ...] = ("NAME", "DATE", "AGE", "PHONE", "EMAIL", "URL", "ID", "ADDRESS", "INSTITUTION")
GROUPS: tuple[str, ...] = ("dev", "heldout")


# --------------------------------------------------------------------------------------------- data model
class Phi(NamedTuple):
    """One planted identifier: ``text[start:end]`` is the value, ``fmt`` says how it was written."""

    start: int
    end: int
    kind: str
    fmt: str


@dataclass
class Report:
    text: str
    patient_id: str
    phi: list[Phi]
    clinical: list[tuple[int, int]]
    clinical_labels: list[str] = field(default_factory=list)
    family: str = ""
    layout: str = ""
    neutral: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Ident:
    value: str
    kind: str
    fmt: str


@dataclass(frozen=True)
class Clin:
    text: str
    label: str


@dataclass(frozen=True)
class Neutral:
    text: str


Piece: TypeAlias = "str | Ident | Clin | Neutral"
Line: TypeAlias = "list[Piece]"


def _assemble(lines: Sequence[Line], sep: str) -> tuple[str, list[Phi], list[tuple[int, int]], list[str], list[tuple[int, int]]]:
    """Join pieces, recording exact offsets of identifiers, clinical phrases and neutral text."""
    out: list[str] = []
    pos = 0
    phi: list[Phi] = []
    clin: list[tuple[int, int]] = []
    labels: list[str] = []
    neutral: list[tuple[int, int]] = []
    for li, line in enumerate(lines):
        if li:
            out.append(sep)
            pos += len(sep)
        for p in line:
            if isinstance(p, Ident):
                assert p.value and p.value == p.value.strip(), p
                phi.append(Phi(pos, pos + len(p.value), p.kind, p.fmt))
                s = p.value
            elif isinstance(p, Clin):
                clin.append((pos, pos + len(p.text)))
                labels.append(p.label)
                s = p.text
            elif isinstance(p, Neutral):
                neutral.append((pos, pos + len(p.text)))
                s = p.text
            else:
                s = p
            out.append(s)
            pos += len(s)
    return "".join(out), phi, clin, labels, neutral


# --------------------------------------------------------------------------------------------- helpers
_ROMAN = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe",
                        "Œ": "OE", "đ": "d", "Đ": "D", "ı": "i", "İ": "I", "þ": "th", "ð": "d"})  # fmt: skip


def romanise(s: str) -> str:
    """Strip accents the way many RIS exports do ("Łukasz Zięcik" -> "Lukasz Ziecik")."""
    s = unicodedata.normalize("NFKD", s.translate(_ROMAN))
    return "".join(ch for ch in s if not unicodedata.combining(ch))


def _stable_half(s: str) -> str:
    """Which group a shared resource (an Open-i sentence) belongs to: a stable hash, not Python's hash()."""
    return GROUPS[hashlib.sha1(s.encode()).digest()[0] & 1]


def _split_by_position(items: Sequence[str], group: str) -> list[str]:
    return [x for i, x in enumerate(items) if GROUPS[i % 2] == group]


_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()  # fmt: skip
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int, r: random.Random) -> str:
    """18-110 in words ("ninety-three", "one hundred and one")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        t, o = divmod(n, 10)
        return _TENS[t] + (("-" if r.random() < 0.8 else " ") + _ONES[o] if o else "")
    rest = n - 100
    if rest == 0:
        return "one hundred"
    return "one hundred " + ("and " if r.random() < 0.6 else "") + number_words(rest, r)


_MONTHS = ("January February March April May June July August September October November December").split()
_MONTHS_LOCAL = {
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split(),
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre".split(),
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split(),
    "it": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre".split(),
    "nl": "januari februari maart april mei juni juli augustus september oktober november december".split(),
}


def _ordinal(d: int) -> str:
    suf = "th" if 11 <= d % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
    return f"{d}{suf}"


def format_date(d: date, fmt: str) -> str:
    m, mon = _MONTHS[d.month - 1], _MONTHS[d.month - 1][:3]
    return {
        "iso": f"{d:%Y-%m-%d}",
        "us": f"{d:%m/%d/%Y}",
        "us_short": f"{d.month}/{d.day}/{d:%y}",
        "us_nopad": f"{d.month}/{d.day}/{d.year}",
        "eu_dot": f"{d:%d.%m.%Y}",
        "eu_dot_short": f"{d.day}.{d.month}.{d:%y}",
        "eu_slash": f"{d:%d/%m/%Y}",
        "eu_dash": f"{d:%d-%m-%Y}",
        "ymd_slash": f"{d:%Y/%m/%d}",
        "compact": f"{d:%Y%m%d}",
        "d_month_y": f"{d.day} {m} {d.year}",
        "dth_month_y": f"{_ordinal(d.day)} {m} {d.year}",
        "dth_of_month_y": f"{_ordinal(d.day)} of {m}, {d.year}",
        "month_d_y": f"{m} {d.day}, {d.year}",
        "month_dth_y": f"{m} {_ordinal(d.day)}, {d.year}",
        "mon_d_y": f"{mon} {d.day}, {d.year}",
        "mon_dot_d_y": f"{mon}. {d.day}, {d.year}",
        "dd_mon_yyyy": f"{d.day:02d}-{mon}-{d.year}",
        "d_mon_yy": f"{d.day}-{mon}-{d:%y}",
        "ddmonyyyy": f"{d.day:02d}{mon.upper()}{d.year}",
        "d_mon_yyyy_upper": f"{d.day:02d} {mon.upper()} {d.year}",
        "month_y": f"{m} {d.year}",
        "de_long": f"{d.day}. {_MONTHS_LOCAL['de'][d.month - 1]} {d.year}",
        "fr_long": f"{d.day} {_MONTHS_LOCAL['fr'][d.month - 1]} {d.year}",
        "es_long": f"{d.day} de {_MONTHS_LOCAL['es'][d.month - 1]} de {d.year}",
        "it_long": f"{d.day} {_MONTHS_LOCAL['it'][d.month - 1]} {d.year}",
        "nl_long": f"{d.day} {_MONTHS_LOCAL['nl'][d.month - 1]} {d.year}",
    }[fmt]


DATE_FORMATS: dict[str, float] = {
    "iso": 3, "us": 4, "us_short": 1.5, "us_nopad": 1.5, "eu_dot": 2.5, "eu_dot_short": 0.5, "eu_slash": 2,
    "eu_dash": 1, "ymd_slash": 0.7, "compact": 0.7, "d_month_y": 2, "dth_month_y": 1, "dth_of_month_y": 0.5,
    "month_d_y": 1.5, "month_dth_y": 1.5, "mon_d_y": 1, "mon_dot_d_y": 0.5, "dd_mon_yyyy": 2, "d_mon_yy": 0.7,
    "ddmonyyyy": 0.5, "d_mon_yyyy_upper": 0.7, "month_y": 0.7, "de_long": 0.4, "fr_long": 0.4, "es_long": 0.4,
    "it_long": 0.3, "nl_long": 0.3,
}  # fmt: skip


def _nhs_number(r: random.Random) -> str:
    """Ten digits whose last one is the NHS modulus-11 check digit (so validating recognizers accept it)."""
    while True:
        d = [r.randrange(10) for _ in range(9)]
        if d[0] == 0:
            continue
        chk = 11 - sum(x * (10 - i) for i, x in enumerate(d)) % 11
        chk = 0 if chk == 11 else chk
        if chk != 10:
            return "".join(map(str, d + [chk]))


# --------------------------------------------------------------------------------------------- fixed lists
#: Real institutions; split between the groups by position (see module docstring).
FAMOUS_INSTITUTIONS: tuple[str, ...] = (
    "St. Bartholomew's Hospital", "Mayo Clinic", "Massachusetts General Hospital", "Johns Hopkins Hospital",
    "Cleveland Clinic", "Royal Brompton Hospital", "Guy's and St Thomas'", "Addenbrooke's Hospital",
    "John Radcliffe Hospital", "Royal Prince Alfred Hospital", "St Vincent's University Hospital",
    "Toronto General Hospital", "Mount Sinai Hospital", "Cedars-Sinai Medical Center", "Charité",
    "Hôpital Pitié-Salpêtrière", "Ospedale San Raffaele", "Hospital Universitario La Paz",
    "Karolinska University Hospital", "Erasmus MC", "Beaumont Hospital", "Auckland City Hospital",
    "Royal Melbourne Hospital", "Great Ormond Street Hospital", "Stanford Health Care",
    "Brigham and Women's Hospital", "Royal Infirmary of Edinburgh", "Mater Misericordiae University Hospital",
    "Sunnybrook Health Sciences Centre", "Hospital Israelita Albert Einstein", "St Mary's Hospital",
    "Klinikum rechts der Isar", "Groote Schuur Hospital", "Singapore General Hospital", "Duke University Hospital",
    "Royal North Shore Hospital", "Vancouver General Hospital", "Leeds General Infirmary", "Hôpital Necker",
    "Policlinico Gemelli",
)  # fmt: skip
INSTITUTION_ABBREVIATIONS: tuple[str, ...] = (
    "UCLH", "MGH", "UCSF", "BWH", "CHOP", "GSTT", "RPAH", "SVUH", "TGH", "QEHB", "NNUH", "LTHT", "CUH", "OUH",
    "RBH", "NYP", "UPMC", "CHOC", "HUP", "VGH", "RNSH", "RMH", "KCH", "SGH",
)  # fmt: skip
_INSTITUTION_PATTERNS: tuple[str, ...] = (
    "{city} General Hospital", "{city} General", "St. {given}'s Hospital", "St {given}'s", "{surname} Memorial Hospital",
    "{city} Regional Medical Center", "{city} Community Hospital", "{surname} Imaging Center",
    "{city} Radiology Associates", "University Hospital of {city}", "{city} Royal Infirmary", "Royal {city} Hospital",
    "{city} Children's Hospital", "Klinikum {city}", "Hôpital {surname}", "{city} Medical Centre",
    "{surname} Clinic", "{city} Diagnostic Imaging", "Mercy {city}", "{city} Health",
)  # fmt: skip

PERSON_LOCALES: dict[str, float] = {
    "en_US": 6, "en_GB": 4, "en_AU": 2, "en_CA": 2, "en_IE": 2, "en_NZ": 1, "en_IN": 2, "en_NG": 1, "en_PH": 1,
    "en_KE": 1, "de_DE": 2, "fr_FR": 2, "es_ES": 2, "es_MX": 1, "it_IT": 2, "nl_NL": 2, "pl_PL": 2, "pt_BR": 2,
    "sv_SE": 1, "cs_CZ": 1, "tr_TR": 1, "ga_IE": 1,
}  # fmt: skip
_FAKER_PHONE_LOCALES = ("de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "pt_BR", "en_AU", "en_GB")
_TITLES_DOCTOR = ("Dr. ", "Dr ", "Dr. ", "Prof. ", "Doctor ")
_TITLES_PATIENT = ("Mr. ", "Mrs. ", "Ms. ", "Mr ", "Mrs ", "Ms ", "Miss ")
CREDENTIALS = (", MD", " MD", ", M.D.", ", FRCR", ", DO", ", MBBS", ", MBChB FRCR", " PhD", ", FRANZCR", ", FRCPC")
_STAFF_CREDENTIALS = (", RN", " RN", ", RT(R)", ", PA-C", ", NP", ", RGN")


# --------------------------------------------------------------------------------------------- clinical text
_SENT_SPLIT = re.compile(r"(?<=[.?!])\s+(?=[A-Z0-9(])")


def _sentences(text: str) -> list[str]:
    out = []
    for s in _SENT_SPLIT.split(text.strip()):
        s = re.sub(r"\s+", " ", s).strip()
        if len(s) < 8 or "xxxx" in s.lower() or "___" in s:
            continue
        if len(re.findall(r"[A-Za-z]{2,}", s)) < 2:
            continue
        out.append(s)
    return out


@functools.lru_cache(maxsize=4)
def clinical_pool(openi_dir: str | None = None) -> tuple[str, dict[str, tuple[str, ...]]]:
    """(source name, {"findings": sentences, "impression": sentences}), sorted and de-duplicated."""
    src = Path(openi_dir) if openi_dir else OPENI_DIR
    archive = src / "reports_dev.tgz"
    if archive.is_file() or (src.is_dir() and any(src.rglob("*.xml"))):
        from radtrust.data.readers import read_openi

        frame = read_openi(archive if archive.is_file() else src, empty_reports="keep").frame
        name = f"Open-i ({len(frame)} reports)"
    else:
        from radtrust.synth.chest import ChestSynthConfig, synth_chest

        cohort, _ = synth_chest(ChestSynthConfig(n=3000, seed=20240917))
        frame = cohort.frame
        name = "radtrust synth_chest (Open-i not found)"
    pools: dict[str, tuple[str, ...]] = {}
    for col in ("findings", "impression"):
        sents: set[str] = set()
        for v in frame[col].tolist():
            if isinstance(v, str) and v.strip():
                sents.update(_sentences(v))
        pools[col] = tuple(sorted(sents))
    return name, pools


#: Stress sentences: ``{...}`` slots are filled at random; every list is split between the groups by position.
EPONYM_SENTENCES: tuple[str, ...] = (
    "Kerley B lines are present at the lung bases, consistent with interstitial edema.",
    "Expansile sclerotic change of the right hemipelvis may represent Paget disease.",
    "History of Hodgkin lymphoma, status post mantle radiation.",
    "Peripheral wedge-shaped opacity could represent a Hampton hump.",
    "No Westermark sign.",
    "Chilaiditi sign is noted beneath the right hemidiaphragm.",
    "Swan-Ganz catheter tip projects over the right interlobar pulmonary artery.",
    "Small Bochdalek hernia posteriorly on the left.",
    "Fat-containing Morgagni hernia at the right cardiophrenic angle.",
    "A Pancoast tumor at the left apex cannot be excluded.",
    "Dobhoff tube terminates in the gastric antrum.",
    "Palpable cord in the upper outer breast, compatible with Mondor disease.",
    "Thickened Cooper ligaments in the lower inner quadrant.",
    "Healed Colles fracture of the left distal radius.",
    "Hill-Sachs deformity of the posterolateral humeral head.",
    "Schmorl nodes at several lower thoracic levels.",
    "Wedging of three thoracic vertebrae, in keeping with Scheuermann disease.",
    "Dextrocardia in this patient with known Kartagener syndrome.",
    "Absent left pectoralis major muscle, consistent with Poland syndrome.",
    "Patient with Down syndrome, status post atrioventricular septal defect repair.",
    "Known Crohn disease with prior ileocecal resection.",
    "Positioning limited by tremor from Parkinson disease.",
    "Diffusely enlarged thyroid in a patient with Graves disease.",
    "Dilated aortic root in keeping with Marfan syndrome.",
    "Permeative lesion of the posterior rib; Ewing sarcoma is a consideration.",
    "Remote history of Wilms tumor, status post left nephrectomy.",
    "Healed Smith fracture of the right distal radius.",
    "Anterior arch fractures of C1 compatible with a Jefferson fracture.",
    "Small Baker cyst in the popliteal fossa.",
    "Per Fleischner Society guidelines, no routine follow-up is recommended.",
    "The nodule measures 32 Hounsfield units on the noncontrast images.",
    "Images were obtained during a Valsalva maneuver.",
    "Greenfield filter in the infrarenal inferior vena cava.",
    "Harrington rods span the thoracolumbar junction.",
    "Kirschner wires transfix the fracture fragments.",
    "Starr-Edwards valve prosthesis in the mitral position.",
    "Status post Blalock-Taussig shunt and Glenn procedure.",
    "Postoperative changes of Nissen fundoplication.",
    "Status post Whipple procedure with expected postsurgical changes.",
    "Roux-en-Y gastric bypass changes in the left upper quadrant.",
    "Status post Ivor Lewis esophagectomy with gastric pull-up.",
    "Calcified Ghon focus in the right lower lobe with a Ranke complex.",
    "Foley catheter balloon in the bladder base.",
    "Port-A-Cath tip at the cavoatrial junction.",
    "Zenker diverticulum on the prior swallow study.",
    "Findings of Boerhaave syndrome are not seen.",
    "Meckel diverticulum cannot be excluded.",
    "Sequelae of Pott disease at the thoracolumbar junction.",
    "Pleural plaques from asbestos exposure; Addison disease is noted in the history.",
    "Mallory-Weiss tear suspected clinically; no pneumomediastinum.",
)
MAMMO_SENTENCES: tuple[str, ...] = (
    "The breasts are heterogeneously dense, which may obscure small masses.",
    "There are scattered areas of fibroglandular density.",
    "No suspicious masses, calcifications, or architectural distortion.",
    "The skin and nipples are unremarkable.",
    "Axillary lymph nodes are normal in size and morphology.",
    "Benign-appearing vascular calcifications are present bilaterally.",
    "Stable postsurgical scar in the upper outer quadrant of the left breast.",
    "There is no mammographic evidence of malignancy.",
    "Tomosynthesis images were reviewed.",
    "A marker clip is present in the lower inner quadrant from prior biopsy.",
    "Recommend routine annual screening mammography.",
    "Targeted ultrasound is recommended for further evaluation.",
)
_STRESS_TEMPLATES: dict[str, tuple[str, ...]] = {
    "clock": (
        "Irregular {mm} mm mass at {clock} o'clock in the {side} breast, {d} cm from the nipple.",
        "Focal asymmetry at the {clock} o'clock position, posterior depth.",
        "Grouped amorphous calcifications at {clock}:00 in the {side} breast.",
        "Simple cyst at {clock} o'clock, {d} cm FN, measuring {mm} mm.",
        "Hypoechoic mass at the {clock}:30 position of the {side} breast.",
        "Biopsy clip at {clock} o'clock is in expected position.",
    ),
    "birads": (
        "BI-RADS {birads}: {birads_text}.",
        "Assessment: BI-RADS category {birads}.",
        "Overall assessment: BI-RADS {birads} - {birads_text}.",
        "ACR BI-RADS {birads}.",
        "ACR breast density category {density}.",
        "Breast composition: ACR {density}.",
    ),
    "measurement": (
        "The nodule measures {a} x {b} cm.",
        "{a} x {b} x {c} cm lesion in the {lobe}.",
        "Pleural effusion measures {mm} mm in depth.",
        "Ground-glass nodule of {mm} mm in the {lobe}, previously {mm2} mm.",
        "Cardiothoracic ratio is {ratio}.",
        "Aortic knob measures {a} cm.",
    ),
    "spine": (
        "Degenerative disc disease at C{c1}-{c2}.",
        "Compression deformity of T{t} with approximately {pct}% height loss.",
        "Mild anterolisthesis of L{l} on L{l2}.",
        "Disc osteophyte complex at L5-S1.",
        "Spinal stimulator leads terminate at T{t}-T{t2}.",
        "Anterior cervical fusion from C{c1} to C{c3}.",
    ),
    "time": (
        "Portable study obtained at {hh}:{mm2}.",
        "Comparison with the study from earlier today at {hh}:{mm2}.",
        "Repeat film at {hh}:{mm2} shows the tube has been advanced.",
        "Images acquired at {hh}{mm2} hours.",
    ),
    "year": (
        "History of breast cancer treated in {year}.",
        "Status post CABG in {year}.",
        "Stable since {year}.",
        "Sternotomy wires from cardiac surgery in {year}.",
        "Known granulomatous disease, unchanged since {year}.",
    ),
    "age_under_90": (
        "{age}-year-old male with cough.",
        "{age} y/o female with shortness of breath.",
        "Patient is a {age_words}-year-old smoker.",
        "{age_cap_words}-year-old woman, screening.",
        "Age {age}, fever.",
        "{age}yo M, chest pain.",
    ),
    "numbers": (
        "CTDIvol {dose} mGy, DLP {dlp} mGy-cm.",
        "{ml} mL of Omnipaque 350 administered intravenously.",
        "Series 3, image {img}.",
        "Creatinine {cr} mg/dL prior to contrast.",
        "Lung-RADS 4B, suspicious.",
        "Heart rate {hr} bpm during acquisition.",
        "Staging T2N1M0, stage IIB.",
        "Dual-chamber Medtronic pacemaker with leads in the right atrium and ventricle.",
        "Imaging performed on a Siemens SOMATOM scanner at 120 kVp.",
        "Oxygen saturation {sat}% on 2 L nasal cannula.",
    ),
}
_BIRADS_TEXT = ("negative", "benign", "probably benign", "suspicious", "highly suggestive of malignancy",
                "incomplete, need additional imaging evaluation")  # fmt: skip
_LOBES = ("right upper lobe", "right middle lobe", "right lower lobe", "left upper lobe", "lingula", "left lower lobe")


def _fill_stress(t: str, r: random.Random) -> str:
    age = r.randrange(18, 90)
    words = number_words(age, r)
    c1 = r.randrange(3, 7)
    t_ = r.randrange(4, 12)
    l_ = r.randrange(1, 5)
    slots = {
        "mm": r.randrange(4, 40), "mm2": f"{r.randrange(0, 60):02d}", "clock": r.randrange(1, 13),
        "side": r.choice(("right", "left")), "d": r.randrange(1, 12), "birads": r.choice(("0", "1", "2", "3", "4", "4A", "4B", "4C", "5", "6")),
        "birads_text": r.choice(_BIRADS_TEXT), "density": r.choice("ABCD"), "a": f"{r.uniform(0.3, 9.9):.1f}",
        "b": f"{r.uniform(0.3, 9.9):.1f}", "c": f"{r.uniform(0.3, 9.9):.1f}", "lobe": r.choice(_LOBES),
        "ratio": f"0.{r.randrange(38, 68)}", "c1": c1, "c2": c1 + 1, "c3": c1 + 2, "t": t_, "t2": t_ + 1,
        "pct": r.choice((10, 15, 20, 25, 30, 40)), "l": l_, "l2": l_ + 1, "hh": f"{r.randrange(0, 24):02d}",
        "year": r.randrange(1975, 2024), "age": age, "age_words": words, "age_cap_words": words[0].upper() + words[1:],
        "dose": f"{r.uniform(0.8, 15):.1f}", "dlp": r.randrange(40, 900), "ml": r.choice((50, 75, 80, 100, 120)),
        "img": r.randrange(10, 300), "cr": f"{r.uniform(0.5, 2.5):.1f}", "hr": r.randrange(48, 110), "sat": r.randrange(86, 100),
    }  # fmt: skip
    if "{mm2}" in t and "{mm}" in t:
        slots["mm2"] = str(int(slots["mm"]) + r.randrange(-3, 4) or 2)  # a previous size in mm, not minutes
    return t.format(**slots)


# --------------------------------------------------------------------------------------------- generator
class _Gen:
    """Random choices for one corpus: identifiers in many formats, clinical sentences of one group."""

    def __init__(self, seed: int, group: str, openi_dir: str | None) -> None:
        self.r = random.Random(f"{GENERATOR_VERSION}/{group}/{seed}")
        self.group = group
        self.fakers: dict[str, Faker] = {}
        for i, loc in enumerate(sorted(set(PERSON_LOCALES) | set(_FAKER_PHONE_LOCALES))):
            f = _faker(loc)
            f.seed_instance(self.r.randrange(2**31) + i)
            self.fakers[loc] = f
        self.source, pools = clinical_pool(openi_dir)
        self.findings = [s for s in pools["findings"] if _stable_half(s) == group]
        self.impression = [s for s in pools["impression"] if _stable_half(s) == group]
        self.eponyms = _split_by_position(EPONYM_SENTENCES, group)
        self.mammo = list(MAMMO_SENTENCES)
        self.stress_templates = {k: _split_by_position(v, group) for k, v in _STRESS_TEMPLATES.items()}
        self.famous = _split_by_position(FAMOUS_INSTITUTIONS, group)
        self.abbrev = _split_by_position(INSTITUTION_ABBREVIATIONS, group)

    # -- small utilities
    def pick(self, weighted: dict[str, float]) -> str:
        keys = list(weighted)
        return self.r.choices(keys, weights=[weighted[k] for k in keys])[0]

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    def locale(self) -> str:
        return self.pick(PERSON_LOCALES)

    def _accents(self, loc: str, s: str) -> str:
        if loc.startswith("en_") or self.chance(0.5):
            return s if loc.startswith("en_") else romanise(s)
        return s

    # -- names
    def _person(self, loc: str | None = None) -> tuple[str, str, str]:
        loc = loc or self.locale()
        f = self.fakers[loc]
        given, surname = f.first_name(), f.last_name()
        if loc.startswith(("es_", "pt_")) and self.chance(0.35):
            surname = f"{surname} {f.last_name()}"
        elif loc in ("en_GB", "en_US", "en_AU") and self.chance(0.06):
            surname = f"{surname}-{f.last_name()}"
        return self._accents(loc, given), self._accents(loc, surname), loc

    def name(self, role: str = "patient", fmt: str | None = None, title: bool | None = None) -> list[Piece]:
        """A name with its cue title and credential as separate literal pieces (they are not the identifier)."""
        given, surname, loc = self._person()
        if fmt is None:
            fmt = self.pick({"given_surname": 5, "surname_comma_given": 2.5, "upper_surname_comma_given": 1.5,
                             "initial_surname": 2, "given_initial_surname": 1, "upper_given_surname": 0.7,
                             "given_upper_surname": 0.5, "surname": 1.5 if role != "patient" else 0.7})  # fmt: skip
        mid = self.fakers[loc].first_name()[0].upper()
        value = {
            "given_surname": f"{given} {surname}",
            "surname_comma_given": f"{surname}, {given}",
            "upper_surname_comma_given": f"{surname.upper()}, {given.upper()}",
            "initial_surname": f"{given[0]}. {surname}",
            "initials_surname": f"{given[0]}.{mid}. {surname}",
            "given_initial_surname": f"{given} {mid}. {surname}",
            "upper_given_surname": f"{given.upper()} {surname.upper()}",
            "given_upper_surname": f"{given} {surname.upper()}",
            "surname": surname,
            "dicom": f"{surname.upper().replace(' ', '^')}^{given.upper()}",
            "given": given,
        }[fmt]
        need_title = fmt == "surname" or bool(title)
        cue = ""
        if role == "doctor" and (need_title or (title is None and self.chance(0.55))):
            cue = self.r.choice(_TITLES_DOCTOR)
        elif need_title or (role == "patient" and title is None and self.chance(0.15)):
            cue = self.r.choice(_TITLES_PATIENT)
        pieces: list[Piece] = [cue] if cue else []
        pieces.append(Ident(value, "NAME", f"{fmt}/{loc}"))
        if role == "doctor" and fmt != "surname" and cue != "Doctor " and self.chance(0.35):
            pieces.append(self.r.choice(CREDENTIALS))
        elif role == "staff" and self.chance(0.6):
            pieces.append(self.r.choice(_STAFF_CREDENTIALS))
        return pieces

    # -- dates and ages
    def raw_date(self, lo: int = 1995, hi: int = 2024) -> date:
        start = date(lo, 1, 1)
        return start + timedelta(days=self.r.randrange((date(hi, 12, 31) - start).days))

    def date(self, fmt: str | None = None, dob: bool = False) -> Ident:
        fmt = fmt or self.pick(DATE_FORMATS)
        d = self.raw_date(1914, 1934) if dob else self.raw_date()
        return Ident(format_date(d, fmt), "DATE", fmt)

    def age(self, fmt: str | None = None, cap: bool = False) -> list[Piece]:
        """An age of 90-110 with its cue words as literals: the identifier is the number only."""
        n = self.r.randrange(90, 111)
        fmt = fmt or self.pick({"digits_year_old": 3, "digits_y_o": 2, "digits_yo": 1, "digits_years_old": 1.5,
                                "aged_digits": 1.5, "age_colon": 1, "words_year_old": 2, "words_years_old": 1,
                                "aged_words": 1, "digits_sex": 1, "digits_yr": 0.7})  # fmt: skip
        w = number_words(n, self.r)
        if cap:
            w = w[0].upper() + w[1:]
        sex = self.r.choice(("F", "M"))
        return {
            "digits_year_old": [Ident(str(n), "AGE", fmt), "-year-old"],
            "digits_y_o": [Ident(str(n), "AGE", fmt), " y/o"],
            "digits_yo": [Ident(str(n), "AGE", fmt), self.r.choice(("yo", " yo", " y.o."))],
            "digits_years_old": [Ident(str(n), "AGE", fmt), " years old"],
            "aged_digits": ["Aged " if cap else "aged ", Ident(str(n), "AGE", fmt)],
            "age_colon": ["Age: ", Ident(str(n), "AGE", fmt)],
            "words_year_old": [Ident(w, "AGE", fmt), "-year-old"],
            "words_years_old": [Ident(w, "AGE", fmt), " years old"],
            "aged_words": ["Aged " if cap else "aged ", Ident(w, "AGE", fmt)],
            "digits_sex": [Ident(str(n), "AGE", fmt), self.r.choice((sex, " " + sex, sex.lower()))],
            "digits_yr": [Ident(str(n), "AGE", fmt), self.r.choice((" yr", "yr", " yrs"))],
            "dicom": [Ident(f"{n:03d}", "AGE", fmt), "Y"],
        }[fmt]

    # -- phones
    def phone(self, fmt: str | None = None) -> Ident:
        r = self.r
        fmt = fmt or self.pick({"us_paren": 3, "us_dash": 2, "us_dot": 1.5, "us_plus1": 1, "us_1dash": 0.7, "us_space": 0.7,
                                "uk_london": 1.5, "uk_geo": 1, "uk_intl": 1, "uk_mobile": 1, "uk_mobile_intl": 1, "uk_intl_0": 0.5,
                                "au_land": 0.7, "au_mobile": 0.7, "au_intl": 0.5, "faker": 2})  # fmt: skip
        a, e, li = r.randrange(201, 990), r.randrange(200, 1000), r.randrange(10000)
        uk8 = f"{r.randrange(3000, 8999)} {r.randrange(10000):04d}"
        mob = f"7{r.randrange(100, 999)} {r.randrange(1000000):06d}"
        au8 = f"{r.randrange(2000, 9999)} {r.randrange(10000):04d}"
        if fmt == "faker":
            loc = r.choice(_FAKER_PHONE_LOCALES)
            return Ident(self.fakers[loc].phone_number().strip(), "PHONE", f"faker/{loc}")
        value = {
            "us_paren": f"({a}) {e}-{li:04d}",
            "us_dash": f"{a}-{e}-{li:04d}",
            "us_dot": f"{a}.{e}.{li:04d}",
            "us_plus1": f"+1 {a} {e} {li:04d}",
            "us_1dash": f"1-{a}-{e}-{li:04d}",
            "us_space": f"{a} {e} {li:04d}",
            "uk_london": f"020 {uk8}",
            "uk_geo": f"0{r.choice(('161', '113', '117', '121', '131', '141', '1223', '1865'))} {r.randrange(100, 999)} {r.randrange(10000):04d}",
            "uk_intl": f"+44 20 {uk8}",
            "uk_mobile": f"0{mob}",
            "uk_mobile_intl": f"+44 {mob}",
            "uk_intl_0": f"+44 (0)20 {uk8}",
            "au_land": f"(0{r.choice('2378')}) {au8}",
            "au_mobile": f"04{r.randrange(10, 99)} {r.randrange(100, 999)} {r.randrange(1000):03d}",
            "au_intl": f"+61 {r.choice('2378')} {au8}",
        }[fmt]
        return Ident(value, "PHONE", fmt)

    # -- e-mail and URLs
    def _domain(self) -> str:
        f = self.fakers[self.r.choice(("en_US", "en_GB", "en_AU", "de_DE", "fr_FR", "nl_NL"))]
        return self.pick({f.free_email_domain(): 2, f.domain_name(): 3, "nhs.net": 1,
                          f"{romanise(f.last_name()).lower().replace(' ', '')}-health.org": 1})  # fmt: skip

    def email(self) -> Ident:
        given, surname, loc = self._person()
        g = re.sub(r"[^a-z0-9]", "", romanise(given).lower()) or "x"
        s = re.sub(r"[^a-z0-9]", "", romanise(surname).lower()) or "y"
        fmt = self.pick({"given.surname": 3, "gsurname": 2, "surname.g": 1, "role": 1, "faker": 1.5, "digits": 1})
        local = {"given.surname": f"{g}.{s}", "gsurname": f"{g[0]}{s}", "surname.g": f"{s}.{g[0]}",
                 "role": self.r.choice(("radiology.results", "imaging-desk", "breast.screening", "pacs.admin")),
                 "digits": f"{g}{s[:3]}{self.r.randrange(1, 99)}", "faker": ""}[fmt]  # fmt: skip
        if fmt == "faker":
            return Ident(self.fakers[self.r.choice(("en_US", "en_GB", "de_DE", "fr_FR"))].email(), "EMAIL", fmt)
        if self.chance(0.15):
            local = local.upper() if self.chance(0.3) else local.capitalize()
        return Ident(f"{local}@{self._domain()}", "EMAIL", fmt)

    def url(self) -> Ident:
        r = self.r
        dom = self.fakers[r.choice(("en_US", "en_GB", "de_DE", "nl_NL"))].domain_name()
        fmt = self.pick({"pacs_viewer": 2, "portal_path": 2, "www": 1.5, "faker": 1.5, "bare_path": 1, "ip": 0.7})
        value = {
            "pacs_viewer": f"https://pacs.{dom}/viewer?study={r.randrange(10**7, 10**9)}",
            "portal_path": f"{r.choice(('http', 'https'))}://portal.{dom}/patients/{r.randrange(10**5, 10**7)}/imaging",
            "www": f"www.{dom}",
            "faker": self.fakers["en_US"].url().rstrip("/"),
            "bare_path": f"{dom}/results/{r.randrange(1000, 99999)}",
            "ip": f"http://10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}/wado?uid={r.randrange(10**6, 10**8)}",
        }[fmt]
        return Ident(value, "URL", fmt)

    # -- identifiers with their cue words
    def id(self, fmt: str | None = None, cue: bool = True) -> list[Piece]:
        r = self.r
        fmt = fmt or self.pick({"mrn": 4, "accession": 3, "nhs": 1.5, "ssn": 1, "bare_id": 1.5, "hospital_no": 1,
                                "study_uid": 0.5, "medicare_au": 0.5, "ohip": 0.5, "member_id": 0.5})  # fmt: skip
        digits = lambda k: "".join(str(r.randrange(10)) for _ in range(k))  # noqa: E731
        if fmt == "mrn":
            value = r.choice((digits(8), digits(7), digits(10), "00" + digits(7), f"{digits(3)}-{digits(2)}-{digits(2)}"))
            cues = ("MRN ", "MRN: ", "MRN#", "MRN # ", "MR# ", "Medical record number ", "MRN:", "Med Rec No. ")
        elif fmt == "accession":
            value = r.choice((f"RAD-{r.randrange(2005, 2024)}-{digits(5)}", f"A{digits(8)}", f"CT{digits(8)}-{digits(4)}",
                              digits(9), f"XR{digits(7)}", f"{r.choice('ABCDEFGHJK')}{r.choice('ABCDEFGHJK')}{digits(6)}"))  # fmt: skip
            cues = ("Acc# ", "Accession: ", "Accession No. ", "ACC ", "Acc: ", "Accession #", "Acc No ")
        elif fmt == "nhs":
            v = _nhs_number(r)
            value = r.choice((f"{v[:3]} {v[3:6]} {v[6:]}", v, f"{v[:3]}-{v[3:6]}-{v[6:]}"))
            cues = ("NHS No ", "NHS number: ", "NHS: ", "NHS No. ", "NHS#")
        elif fmt == "ssn":
            a = r.choice([x for x in range(1, 900) if x != 666])
            value = r.choice((f"{a:03d}-{r.randrange(1, 100):02d}-{r.randrange(1, 10000):04d}", f"{a:03d} {r.randrange(1, 100):02d} {r.randrange(1, 10000):04d}"))
            cues = ("SSN ", "SSN: ", "Social Security No. ", "SS# ")
        elif fmt == "bare_id":
            value = r.choice((f"A{digits(7)}", f"P-{digits(7)}", digits(7), f"{r.choice('BCDEFGHKLMNPRST')}{digits(6)}{r.choice('ABCXYZ')}"))
            cues = ("ID: ", "Patient ID ", "ID ", "Pt ID: ", "ID#")
        elif fmt == "hospital_no":
            value = r.choice((f"H{digits(7)}", f"RX{digits(6)}", digits(6), f"K{digits(7)}"))
            cues = ("Hosp No: ", "Hospital no. ", "Unit No. ", "UR ", "URN: ", "Chart #", "Case no. ")
        elif fmt == "study_uid":
            value = f"1.2.840.{r.randrange(10000, 114000)}.{r.randrange(1, 9)}.{digits(6)}.{digits(4)}.{digits(10)}.{r.randrange(1, 999)}"
            cues = ("Study UID: ", "StudyInstanceUID ", "UID ")
        elif fmt == "medicare_au":
            value = f"{r.randrange(2, 7)}{digits(3)} {digits(5)} {r.randrange(1, 10)}"
            cues = ("Medicare No. ", "Medicare ", "Medicare number: ")
        elif fmt == "ohip":
            value = f"{digits(4)}-{digits(3)}-{digits(3)}-{r.choice('ABCDEFGHKLMNPRSTVWXYZ')}{r.choice('ABCDEFGHKLMNPRSTVWXYZ')}"
            cues = ("OHIP ", "Health card ", "HCN: ")
        else:  # member_id
            value = f"{r.choice(('XGH', 'BCB', 'UHC', 'AET', 'KP'))}{digits(9)}"
            cues = ("Member ID ", "Policy # ", "Insurance ID: ")
        return ([r.choice(cues)] if cue else []) + [Ident(value, "ID", fmt)]

    # -- addresses
    def address(self, fmt: str | None = None) -> list[Piece]:
        """A postal address; a US state or Canadian province stays outside the spans (Safe Harbor keeps it)."""
        r = self.r
        fmt = fmt or self.pick({"us_full": 3, "us_street_city": 2, "us_street": 1, "uk_full": 3, "uk_street_postcode": 1,
                                "uk_postcode": 0.7, "au_full": 1, "ca_full": 1, "de_full": 0.7, "fr_full": 0.7,
                                "nl_full": 0.5, "city": 0.7})  # fmt: skip

        def street(loc: str) -> str:
            return re.sub(r"\s*\n\s*", ", ", self.fakers[loc].street_address()).strip()

        us, gb = self.fakers["en_US"], self.fakers["en_GB"]
        if fmt == "us_full":
            return [Ident(f"{street('en_US')}, {us.city()}", "ADDRESS", fmt), ", ", Neutral(us.state_abbr()), " ", Ident(us.zipcode(), "ADDRESS", "us_zip")]
        if fmt == "us_street_city":
            return [Ident(f"{street('en_US')}, {us.city()}", "ADDRESS", fmt)]
        if fmt == "us_street":
            return [Ident(street("en_US"), "ADDRESS", fmt)]
        if fmt == "uk_full":
            return [Ident(f"{street('en_GB')}, {gb.city()} {gb.postcode()}", "ADDRESS", fmt)]
        if fmt == "uk_street_postcode":
            return [Ident(f"{street('en_GB')}, {gb.postcode()}", "ADDRESS", fmt)]
        if fmt == "uk_postcode":
            return ["postcode ", Ident(gb.postcode(), "ADDRESS", fmt)]
        if fmt == "au_full":
            au = self.fakers["en_AU"]
            return [Ident(f"{street('en_AU')}, {au.city()}", "ADDRESS", fmt), " ", Neutral(au.state_abbr()), " ", Ident(au.postcode(), "ADDRESS", "au_postcode")]
        if fmt == "ca_full":
            ca = self.fakers["en_CA"]
            pc = ca.postalcode().replace(" ", "")
            pc = f"{pc[:3]} {pc[3:]}" if r.random() < 0.7 else pc
            return [Ident(f"{street('en_CA')}, {ca.city()}", "ADDRESS", fmt), ", ", Neutral(ca.province_abbr()), " ", Ident(pc, "ADDRESS", "ca_postcode")]
        if fmt == "city":
            loc = r.choice(("en_US", "en_GB", "en_AU", "de_DE", "fr_FR"))
            return [Ident(self._accents(loc, self.fakers[loc].city()), "ADDRESS", f"city/{loc}")]
        loc = {"de_full": "de_DE", "fr_full": "fr_FR", "nl_full": "nl_NL"}[fmt]
        f = self.fakers[loc]
        return [Ident(self._accents(loc, f"{street(loc)}, {f.postcode()} {f.city()}"), "ADDRESS", fmt)]

    # -- institutions
    def institution(self, fmt: str | None = None) -> Ident:
        r = self.r
        fmt = fmt or self.pick({"famous": 3, "generated": 4, "abbreviation": 2, "generated_abbreviation": 1})
        if fmt == "famous":
            return Ident(r.choice(self.famous), "INSTITUTION", fmt)
        if fmt == "abbreviation":
            return Ident(r.choice(self.abbrev), "INSTITUTION", fmt)
        loc = r.choice(("en_US", "en_GB", "en_AU", "en_CA", "en_IE"))
        f = self.fakers[loc]
        name = r.choice(_INSTITUTION_PATTERNS).format(city=f.city(), given=f.first_name(), surname=f.last_name())
        if fmt == "generated_abbreviation":
            initials = "".join(w[0] for w in re.findall(r"[A-Z][\w']*", name) if w not in ("St",))
            if len(initials) >= 2:
                return Ident(initials.upper(), "INSTITUTION", fmt)
        return Ident(name, "INSTITUTION", "generated")

    # -- clinical text
    def finding(self) -> Clin:
        return Clin(self.r.choice(self.findings), "openi" if self.source.startswith("Open-i") else "synthetic")

    def impression_sentence(self) -> Clin:
        return Clin(self.r.choice(self.impression), "openi" if self.source.startswith("Open-i") else "synthetic")

    def stress(self, category: str | None = None) -> Clin:
        cat = category or self.pick({"eponym": 4, "clock": 1, "birads": 1, "measurement": 1.5, "spine": 1, "time": 1,
                                     "year": 1, "age_under_90": 1.5, "numbers": 1.5, "mammo": 0.7})  # fmt: skip
        if cat == "eponym":
            return Clin(self.r.choice(self.eponyms), "stress:eponym")
        if cat == "mammo":
            return Clin(self.r.choice(self.mammo), "stress:mammo")
        return Clin(_fill_stress(self.r.choice(self.stress_templates[cat]), self.r), f"stress:{cat}")

    def time_clin(self) -> Clin:
        return Clin(f"{self.r.randrange(0, 24):02d}:{self.r.randrange(0, 60):02d}", "stress:time")

    def findings_block(self, k: tuple[int, int] = (2, 5), inline: int = 0, stress: float = 0.45) -> list[Piece]:
        """Clinical sentences on one line, with ``inline`` identifier sentences placed between them."""
        sents: list[list[Piece]] = [[self.finding()] for _ in range(self.r.randint(*k))]
        while self.chance(stress) and len(sents) < 9:
            sents.insert(self.r.randrange(len(sents) + 1), [self.stress()])
        for _ in range(inline):
            sents.insert(self.r.randrange(1, len(sents) + 1), self.inline())
        out: list[Piece] = []
        for i, s in enumerate(sents):
            if i:
                out.append(" ")
            out.extend(s)
        return out

    def impression_block(self, k: tuple[int, int] = (1, 2)) -> list[Piece]:
        out: list[Piece] = []
        n = self.r.randint(*k)
        numbered = n > 1 and self.chance(0.3)
        for i in range(n):
            if i:
                out.append(" ")
            if numbered:
                out.append(f"{i + 1}. ")
            out.append(self.impression_sentence())
        return out

    def header(self, *options: str) -> Clin:
        return Clin(self.r.choice(options), "header")

    def inline(self) -> list[Piece]:
        return self.r.choice(INLINE[self.group])(self)


@functools.cache
def _faker(loc: str) -> Faker:
    """One Faker per locale per process (building them is the slow part); reseeded for every corpus."""
    from faker import Faker

    return Faker(loc)


# --------------------------------------------------------------------------------------------- inline sentences
# Each returns the pieces of one sentence holding identifiers, to sit between clinical sentences on a line.
def _i_dev_home(g: _Gen) -> list[Piece]:
    return ["Home address: ", *g.address(), "."]


def _i_dev_phone(g: _Gen) -> list[Piece]:
    return [g.r.choice(("Phone: ", "Tel: ", "Contact: ")), g.phone(), "."]


def _i_dev_email(g: _Gen) -> list[Piece]:
    return ["Email: ", g.email(), "."]


def _i_dev_url(g: _Gen) -> list[Piece]:
    return ["See ", g.url(), " for images."]


def _i_dev_age(g: _Gen) -> list[Piece]:
    return ["Patient is ", *g.age(), "."]


def _i_dev_seen(g: _Gen) -> list[Piece]:
    return ["Seen at ", g.institution(), " on ", g.date(), "."]


def _i_dev_id(g: _Gen) -> list[Piece]:
    return [*g.id(), "."]


def _i_dev_by(g: _Gen) -> list[Piece]:
    return ["Seen by ", *g.name("doctor"), " on ", g.date(), "."]


def _i_ho_address(g: _Gen) -> list[Piece]:
    return [g.r.choice(("Patient address: ", "Address on file: ", "Resides at ")), *g.address(), "."]


def _i_ho_kin(g: _Gen) -> list[Piece]:
    return ["Next of kin ", *g.name("patient", title=False), " can be reached on ", g.phone(), "."]


def _i_ho_email(g: _Gen) -> list[Piece]:
    return ["A copy of this report was e-mailed to ", g.email(), "."]


def _i_ho_url(g: _Gen) -> list[Piece]:
    return ["Key images uploaded to ", g.url(), "."]


def _i_ho_outside(g: _Gen) -> list[Piece]:
    return ["Outside images from ", g.institution(), " dated ", g.date(), " were reviewed."]


def _i_ho_age(g: _Gen) -> list[Piece]:
    return ["The patient is ", *g.age(g.r.choice(("digits_years_old", "words_years_old", "aged_digits", "aged_words"))), "."]


def _i_ho_reviewed(g: _Gen) -> list[Piece]:
    return ["Case reviewed with ", *g.name("doctor", title=True), " (", g.institution(), ") at ", g.time_clin(), "."]


def _i_ho_wristband(g: _Gen) -> list[Piece]:
    return ["Identity confirmed against wristband ", *g.id(g.r.choice(("mrn", "hospital_no", "bare_id")), cue=False), "."]


def _i_ho_prior_by(g: _Gen) -> list[Piece]:
    return ["The prior report by ", *g.name("doctor", title=True), " on ", g.date(), " described similar findings."]


def _i_ho_dob(g: _Gen) -> list[Piece]:
    return ["Patient (", *g.name("patient", fmt=g.r.choice(("given_surname", "surname_comma_given"))), ", DOB ", g.date(dob=True), ") positioned upright."]


INLINE: dict[str, tuple[Callable[[_Gen], list[Piece]], ...]] = {
    "dev": (_i_dev_home, _i_dev_phone, _i_dev_email, _i_dev_url, _i_dev_age, _i_dev_seen, _i_dev_id, _i_dev_by),
    "heldout": (_i_ho_address, _i_ho_kin, _i_ho_email, _i_ho_url, _i_ho_outside, _i_ho_age, _i_ho_reviewed,
                _i_ho_wristband, _i_ho_prior_by, _i_ho_dob),
}  # fmt: skip


# --------------------------------------------------------------------------------------------- report families
def _f_dev_simple_header(g: _Gen) -> list[Line]:
    return [
        ["Patient: ", *g.name("patient"), "  DOB: ", g.date(dob=True), "  MRN: ", *g.id("mrn", cue=False)],
        [g.header("FINDINGS:", "Findings:"), " ", *g.findings_block(inline=g.r.randint(0, 1))],
        [g.header("IMPRESSION:", "Impression:"), " ", *g.impression_block()],
    ]


def _f_dev_signature(g: _Gen) -> list[Line]:
    return [
        [g.header("FINDINGS:"), " ", *g.findings_block(inline=1)],
        [g.header("IMPRESSION:"), " ", *g.impression_block()],
        [g.r.choice(("Signed by ", "Radiologist: ", "Reported by: ")), *g.name("doctor"), " ", g.date()],
    ]


def _f_dev_indication(g: _Gen) -> list[Line]:
    return [
        [g.header("CLINICAL HISTORY:", "INDICATION:"), " ", *g.age(cap=True), " with cough."],
        [g.header("FINDINGS:"), " ", *g.findings_block(inline=g.r.randint(0, 2))],
        [g.header("IMPRESSION:"), " ", *g.impression_block()],
    ]


def _f_dev_callback(g: _Gen) -> list[Line]:
    return [
        [g.header("FINDINGS:"), " ", *g.findings_block()],
        [g.header("IMPRESSION:"), " ", *g.impression_block()],
        ["Please call ", g.phone(), " with questions. Fax results to ", g.phone(), "."],
    ]


def _f_dev_referrer(g: _Gen) -> list[Line]:
    return [
        ["Referring physician: ", *g.name("doctor"), ", ", g.institution(), ". Ordered on ", g.date(), "."],
        [g.header("FINDINGS:"), " ", *g.findings_block(inline=1)],
        [g.header("IMPRESSION:"), " ", *g.impression_block()],
    ]


def _f_dev_history(g: _Gen) -> list[Line]:
    return [
        ["History: seen at ", g.institution(), " on ", g.date(), "; lives at ", *g.address(), "."],
        [g.header("FINDINGS:"), " ", *g.findings_block()],
        [g.header("IMPRESSION:"), " ", *g.impression_block()],
    ]


def _f_dev_contact_footer(g: _Gen) -> list[Line]:
    return [
        [g.header("FINDINGS:"), " ", *g.findings_block()],
        [g.header("IMPRESSION:"), " ", *g.impression_block()],
        ["Contact: ", g.email(), " | ", g.url(), " | ", g.phone()],
    ]


def _f_ho_ris_header(g: _Gen) -> list[Line]:
    r = g.r
    lines: list[Line] = [
        [
            r.choice(("Patient Name: ", "PATIENT: ", "Name: ")),
            *g.name("patient", fmt=r.choice(("upper_surname_comma_given", "dicom", "surname_comma_given")), title=False),
            "   ",
            *g.id("mrn"),
            "   DOB: ",
            g.date(r.choice(("us", "compact", "eu_dot", "iso", "dd_mon_yyyy")), dob=True),
            "   Age: ",
            *g.age(r.choice(("dicom", "digits_yr", "digits_sex"))),
        ],  # fmt: skip
        [*g.id("accession"), "   Exam date: ", g.date(), " ", g.time_clin()],
        ["Referring: ", *g.name("doctor", title=True), " (", g.institution(), ")"],
        [g.header("EXAM: CHEST PA AND LATERAL", "EXAMINATION: XR CHEST 2 VIEWS", "PROCEDURE: CHEST 1 VIEW PORTABLE")],
        [g.header("FINDINGS:", "FINDINGS"), " ", *g.findings_block(inline=r.randint(0, 1))],
        [g.header("IMPRESSION:", "IMPRESSION"), " ", *g.impression_block()],
        [
            "Electronically signed by: ",
            *g.name("doctor", fmt=r.choice(("given_surname", "given_initial_surname")), title=False),
            r.choice((", MD", " MD", "")),
            " on ",
            g.date(),
            " at ",
            g.time_clin(),
        ],  # fmt: skip
    ]
    if g.chance(0.4):
        lines.append([r.choice(("Viewer: ", "Web viewer: ", "Images: ")), g.url()])
    return lines


def _f_ho_inline_demographics(g: _Gen) -> list[Line]:
    return [
        [g.header("INDICATION:", "HISTORY:", "Reason for exam:"), " ", *g.age(cap=True), " ", g.r.choice(("female", "male", "woman", "man")), " with dyspnea."],
        [g.header("FINDINGS:", "Findings:"), " ", *g.findings_block(k=(3, 5), inline=g.r.randint(1, 3))],
        [g.header("IMPRESSION:", "Impression:"), " ", *g.impression_block()],
    ]


def _f_ho_communication(g: _Gen) -> list[Line]:
    r = g.r
    comm = r.choice((
        lambda: ["Findings discussed with ", *g.name("doctor", title=True), " at ", g.time_clin(), " on ", g.date(), "."],
        lambda: ["These results were communicated by telephone to ", *g.name("staff", title=False), " at ", g.phone(), " on ", g.date(), " at ", g.time_clin(), "."],
        lambda: ["Read back and confirmed by ", *g.name("staff", title=False), " on ", g.date(), "."],
        lambda: [*g.name("doctor", title=True), " was notified via secure e-mail (", g.email(), ") on ", g.date(), "."],
        lambda: ["Critical result called to ", *g.name("doctor", title=True), " on ", g.date(), ", ", g.time_clin(), "."],
    ))  # fmt: skip
    return [
        [g.header("FINDINGS:"), " ", *g.findings_block(inline=r.randint(0, 1))],
        [g.header("IMPRESSION:"), " ", *g.impression_block(), " ", *comm()],
    ]


def _f_ho_comparison(g: _Gen) -> list[Line]:
    r = g.r
    comp = r.choice((
        lambda: ["Comparison: ", g.date(), " from ", g.institution(), "."],
        lambda: ["Comparison is made to the prior study dated ", g.date(), " performed at ", g.institution(), "."],
        lambda: ["Comparison: outside films from ", g.institution(), ", ", g.date(), "."],
        lambda: ["COMPARISON: ", g.date(), ", ", g.date(), "."],
        lambda: ["No prior studies available at ", g.institution(), " for comparison."],
    ))  # fmt: skip
    follow = r.choice(
        (
            lambda: [" Recommend follow-up at ", g.institution(), " in 3 months."],
            lambda: [" Follow-up CT advised; appointment booked for ", g.date(), "."],
            lambda: [],
        )
    )()
    return [
        comp(),
        [g.header("FINDINGS:"), " ", *g.findings_block(inline=r.randint(0, 1))],
        [g.header("IMPRESSION:"), " ", *g.impression_block(), *follow],
    ]


def _f_ho_addendum_footer(g: _Gen) -> list[Line]:
    lines: list[Line] = [
        [g.header("FINDINGS:"), " ", *g.findings_block()],
        [g.header("IMPRESSION:"), " ", *g.impression_block()],
        ["ADDENDUM (", g.date(), "): ", g.stress(), " Discussed with ", *g.name("doctor", title=True), "."],
        ["Dictated by: ", *g.name("doctor", title=False), "   Transcribed by: ", *g.name("staff", fmt="initial_surname", title=False)],
        ["cc: ", *g.name("doctor", title=True), "; ", *g.name("doctor", title=True), ", ", g.institution()],
    ]
    if g.chance(0.75):
        lines.append(["Images: ", g.url(), "   Questions: ", g.email(), " or ", g.phone()])
    else:
        lines.append(["Questions to the reading room on ", g.phone(), "."])
    return lines


def _f_ho_letter(g: _Gen) -> list[Line]:
    r = g.r
    return [
        ["Dear ", *g.name("doctor", fmt="surname"), ","],
        [
            "Re: ",
            *g.name("patient", fmt=r.choice(("given_upper_surname", "given_surname")), title=True),
            ", DOB ",
            g.date(r.choice(("eu_slash", "d_month_y", "dd_mon_yyyy")), dob=True),
            ", ",
            *g.id("nhs"),
            ", ",
            *g.address(r.choice(("uk_full", "uk_street_postcode"))),
        ],  # fmt: skip
        ["Thank you for referring this ", *g.age(r.choice(("words_year_old", "digits_year_old"))), " lady, whom I saw on ", g.date(), "."],
        [g.header("Findings:", "Report:"), " ", *g.findings_block(inline=r.randint(0, 1))],
        [g.header("Conclusion:", "Opinion:"), " ", *g.impression_block()],
        ["Yours sincerely,"],
        [*g.name("doctor", fmt=r.choice(("given_surname", "initial_surname")), title=True), r.choice((", FRCR", " FRCR", ""))],
        ["Consultant Radiologist, ", g.institution()],
        [
            r.choice(("Tel: ", "Tel ", "Direct line: ")),
            g.phone(r.choice(("uk_london", "uk_geo", "uk_intl", "uk_intl_0"))),
            *([r.choice(("  Fax: ", "  fax ")), g.phone()] if g.chance(0.3) else []),
        ],  # fmt: skip
        *([[r.choice(("Email: ", "E-mail: ", "")), g.email()]] if g.chance(0.6) else []),
    ]


def _f_ho_edges(g: _Gen) -> list[Line]:
    """Identifiers as the very first and very last characters of the text, with no cue before or after."""
    r = g.r
    first = r.choice((
        lambda: [*g.name("patient", fmt=r.choice(("upper_surname_comma_given", "surname_comma_given", "given_surname")), title=False), " ", g.date(), " CHEST 2 VIEWS."],
        lambda: [g.date(), " ", *g.name("patient", fmt="upper_surname_comma_given", title=False), "."],
        lambda: [*g.id(r.choice(("mrn", "accession")), cue=False), " ", *g.name("patient", title=False), "."],
        lambda: [g.institution(), " Department of Radiology."],
    ))  # fmt: skip
    last = r.choice((
        lambda: [" Reported by ", *g.name("doctor", fmt=r.choice(("initial_surname", "given_surname")), title=False)],
        lambda: [" ", *g.id("bare_id")],
        lambda: [" ", *g.id("accession")],
        lambda: [" (", g.date(), ")"],
        lambda: [" Signed ", g.date()],
        lambda: [" ", g.phone()],
    ))  # fmt: skip
    return [
        first(),
        [g.header("FINDINGS:", "Findings:"), " ", *g.findings_block(inline=r.randint(0, 1))],
        [g.header("IMPRESSION:", "Impression:"), " ", *g.impression_block(), *last()],
    ]


def _f_ho_mammo(g: _Gen) -> list[Line]:
    r = g.r
    mam = [g.stress("mammo"), " ", g.stress(r.choice(("clock", "clock", "measurement"))), " ", g.stress("mammo")]
    return [
        [g.header("BILATERAL SCREENING MAMMOGRAM WITH TOMOSYNTHESIS", "DIAGNOSTIC MAMMOGRAM, LEFT")],
        [
            "Patient: ",
            *g.name("patient", title=False),
            ", ",
            *g.age(r.choice(("aged_digits", "aged_words", "digits_years_old"))),
            ", ",
            *g.id("mrn"),
            ". Prior: ",
            g.date(),
            " at ",
            g.institution(),
            ".",
        ],  # fmt: skip
        [g.header("FINDINGS:"), " ", *mam, " ", g.stress("birads")],
        [g.header("IMPRESSION:"), " ", g.stress("birads"), " ", g.stress("mammo")],
        ["Result letter mailed to ", *g.address(), " on ", g.date(), ". Technologist: ", *g.name("staff", fmt=r.choice(("initial_surname", "given_surname")), title=False)],
    ]


FAMILIES: dict[str, dict[str, Callable[[_Gen], list[Line]]]] = {
    "dev": {
        "simple_header": _f_dev_simple_header, "signature": _f_dev_signature, "indication_age": _f_dev_indication,
        "callback": _f_dev_callback, "referrer": _f_dev_referrer, "history": _f_dev_history,
        "contact_footer": _f_dev_contact_footer,
    },
    "heldout": {
        "ris_header": _f_ho_ris_header, "inline_demographics": _f_ho_inline_demographics,
        "communication": _f_ho_communication, "comparison": _f_ho_comparison, "addendum_footer": _f_ho_addendum_footer,
        "letter": _f_ho_letter, "edges": _f_ho_edges, "mammo": _f_ho_mammo,
    },
}  # fmt: skip


# --------------------------------------------------------------------------------------------- public API
def heldout_corpus(n: int, seed: int, group: str = "heldout", openi_dir: str | Path | None = None) -> list[Report]:
    """``n`` reports with planted identifiers from the template families of ``group`` (see module doc)."""
    if group not in GROUPS:
        raise ValueError(f"group must be one of {', '.join(GROUPS)}, got {group!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    g = _Gen(seed, group, str(openi_dir) if openi_dir else None)
    fams = FAMILIES[group]
    names = sorted(fams)
    out: list[Report] = []
    for i in range(n):
        fam = names[i % len(names)] if i < len(names) else g.r.choice(names)
        lines = fams[fam](g)
        if g.chance(0.5):
            layout, sep = "single-line", g.r.choice((" ", " ", " ", "  "))
        else:
            layout, sep = "multi-line", g.r.choice(("\n", "\n", "\n\n", "\r\n"))
        text, phi, clin, labels, neutral = _assemble(lines, sep)
        rep = Report(text, f"{group[0].upper()}{seed}-{i:05d}", phi, clin, labels, fam, layout, neutral)
        _check(rep)
        out.append(rep)
    return out


def corpus_source(openi_dir: str | Path | None = None) -> str:
    """Where the clinical sentences come from (Open-i or the synthetic fallback)."""
    return clinical_pool(str(openi_dir) if openi_dir else None)[0]


def _check(rep: Report) -> None:
    """Planted spans are exact, inside the text and disjoint from each other and from clinical spans."""
    spans = sorted([(p.start, p.end) for p in rep.phi] + list(rep.clinical) + list(rep.neutral))
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert end <= start, f"overlapping spans in report {rep.patient_id}"
    for p in rep.phi:
        v = rep.text[p.start : p.end]
        assert v and v == v.strip() and 0 <= p.start < p.end <= len(rep.text), p


if __name__ == "__main__":  # a quick look at the dev group (never print the held-out one while tuning)
    import sys

    for rep in heldout_corpus(int(sys.argv[1]) if len(sys.argv) > 1 else 3, seed=0, group="dev"):
        print(f"--- {rep.family} ({rep.layout})\n{rep.text}\n")
