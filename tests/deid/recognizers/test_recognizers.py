"""The rule-based recognizers: every identifier kind in several formats, and the clinical text that must survive."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radtrust.deid import KINDS, find_identifiers, name_in_dictionary
from radtrust.deid.allowlist import AllowList, is_allowed_word, protected_spans
from radtrust.deid.recognizers import RECOGNIZERS, find_candidates, resolve
from radtrust.deid.recognizers.base import Doc

from ..helpers import found, spans_of

# ---------------------------------------------------------------------------------------------------
# Each kind, several formats
# ---------------------------------------------------------------------------------------------------

IDENTIFIERS = [
    # names: titles, credentials, cues, formats
    ("Findings discussed with Dr. Okonkwo at 3 pm.", "Okonkwo", "NAME"),
    ("Electronically signed by Priya Venkataraman, MD on file.", "Priya Venkataraman", "NAME"),
    ("Patient: SMITH, JOHN A  MRN: 12345678", "SMITH, JOHN A", "NAME"),
    ("Results called to Xiaoming Zhang, RN at the bedside.", "Xiaoming Zhang", "NAME"),
    ("Read by: Hans-Jürgen Müller", "Hans-Jürgen Müller", "NAME"),
    ("Discussed with the patient's daughter, Oluwaseun Adeyemi, by phone.", "Oluwaseun Adeyemi", "NAME"),
    ("Per Dr. O'Neil the line was pulled back.", "O'Neil", "NAME"),
    ("Tech: K. Okafor", "K. Okafor", "NAME"),
    ("Technologist: Jane Doe, RT(R)", "Jane Doe", "NAME"),
    ("cc: Dr. Garcia; Dr. Nguyễn Văn An", "Nguyễn Văn An", "NAME"),
    ("Referring physician: Li Wei", "Li Wei", "NAME"),
    ("The wife, Mrs. Smith-Jones, was present.", "Smith-Jones", "NAME"),
    ("Dr. Sinha was notified of the findings.", "Sinha", "NAME"),
    ("Verbal report given to Wojciech Kowalczyk who read back the findings.", "Wojciech Kowalczyk", "NAME"),
    ("Patient Name:von Braun, Craig E.\nREASON FOR EXAM: cough", "von Braun, Craig E.", "NAME"),
    ("PATIENT: REGNIER^RAYMOND\nHISTORY: fall", "REGNIER^RAYMOND", "NAME"),
    ("John Smith was seen in clinic.", "John Smith", "NAME"),
    ("Maciej Jasina  Unit No: 20808440", "Maciej Jasina", "NAME"),
    ("I have reviewed the images and agree with the report. Fabian Łukasiuk", "Fabian Łukasiuk", "NAME"),
    ("discussed with john smith at 3 pm.", "john smith", "NAME"),
    # dates
    ("Exam date: 01/02/2020.", "01/02/2020", "DATE"),
    ("Prior from 1/2/20 is unchanged.", "1/2/20", "DATE"),
    ("Comparison: 2020-01-02.", "2020-01-02", "DATE"),
    ("Comparison: 01.02.2020.", "01.02.2020", "DATE"),
    ("Comparison: Jan 2, 2020.", "Jan 2, 2020", "DATE"),
    ("Comparison: 2nd January 2020.", "2nd January 2020", "DATE"),
    ("Comparison: 02-Jan-2020.", "02-Jan-2020", "DATE"),
    ("Comparison: January 2020.", "January 2020", "DATE"),
    ("Comparison: Jan 2020.", "Jan 2020", "DATE"),
    ("It was placed on the 3rd of March.", "3rd of March", "DATE"),
    ("SIGNED: DR BARON SEP-20-2024", "SEP-20-2024", "DATE"),
    ("ON DECEMBER 19TH, 2015 AT 10:12 AM", "DECEMBER 19TH, 2015", "DATE"),
    # ages over 89
    ("92-year-old woman with cough.", "92", "AGE"),
    ("93 yo M with fall.", "93", "AGE"),
    ("94 y/o female.", "94", "AGE"),
    ("Indication: age 93, dyspnea.", "93", "AGE"),
    ("Aged 95, with a fall.", "95", "AGE"),
    ("History: 93F with hypoxia.", "93", "AGE"),
    ("AGE/SEX: 102 / F", "102", "AGE"),
    # phone, fax, pager
    ("Call (555) 123-4567 ext. 12 with questions.", "(555) 123-4567 ext. 12", "PHONE"),
    ("Fax 555.123.4567.", "555.123.4567", "PHONE"),
    ("Phone +1 555 123 4567.", "+1 555 123 4567", "PHONE"),
    ("Reading room 555-123-4567.", "555-123-4567", "PHONE"),
    ("Please page pager 12345 when done.", "12345", "PHONE"),
    ("Contact pgr 1234.", "1234", "PHONE"),
    ("UK office +44 20 7946 0958.", "+44 20 7946 0958", "PHONE"),
    ("Call 020 7946 0958 to book.", "020 7946 0958", "PHONE"),
    # e-mail and URLs
    ("Questions to jdoe@mercy-health.org please.", "jdoe@mercy-health.org", "EMAIL"),
    ("Images at https://portal.mercy-health.org/results?acc=12345678 today.", "https://portal.mercy-health.org/results?acc=12345678", "URL"),
    ("See www.mercy.org for hours.", "www.mercy.org", "URL"),
    ("Schedule at mercy-health.org or by phone.", "mercy-health.org", "URL"),
    # record numbers
    ("MRN: 12345678", "12345678", "ID"),
    ("MR# 0012345", "0012345", "ID"),
    ("Accession No. RAD2020-000123", "RAD2020-000123", "ID"),
    ("Acc# A12345678", "A12345678", "ID"),
    ("Study ID: 445566", "445566", "ID"),
    ("SSN 123-45-6789", "123-45-6789", "ID"),
    ("Encounter #: 9988776655", "9988776655", "ID"),
    ("Device serial no. XK442019", "XK442019", "ID"),
    ("Order 20391847 was placed.", "20391847", "ID"),
    # addresses
    ("Lives at 1234 Oak Street, Springfield, IL 62704.", "1234 Oak Street, Springfield, IL 62704", "ADDRESS"),
    ("Mail to 55 W. 3rd Ave, Apt 4B please.", "55 W. 3rd Ave, Apt 4B", "ADDRESS"),
    ("Mail to PO Box 12 please.", "PO Box 12", "ADDRESS"),
    ("Home in Springfield, IL 62704 area.", "Springfield, IL 62704", "ADDRESS"),
    ("Office: London SW1A 1AA.", "SW1A 1AA", "ADDRESS"),
    ("Home: 7316 Marshall Mountain, Lake Reginald, ME 64290", "7316 Marshall Mountain, Lake Reginald, ME 64290", "ADDRESS"),
    # institutions
    ("Outside films from Mercy General were reviewed.", "Mercy General", "INSTITUTION"),
    ("Transferred from St. Mary's Hospital overnight.", "St. Mary's Hospital", "INSTITUTION"),
    ("Prior study from Kaiser Permanente is available.", "Kaiser Permanente", "INSTITUTION"),
    ("Seen at Springfield Imaging Center last year.", "Springfield Imaging Center", "INSTITUTION"),
    ("Performed at University of Kansas Medical Center.", "University of Kansas Medical Center", "INSTITUTION"),
    ("Referred from Mayo Clinic.", "Mayo Clinic", "INSTITUTION"),
]


@pytest.mark.parametrize("text,value,kind", IDENTIFIERS, ids=[f"{k}:{v}" for _, v, k in IDENTIFIERS])
def test_identifier_is_found(text: str, value: str, kind: str) -> None:
    assert found(text, value, kind), spans_of(text)


def test_name_span_leaves_title_and_credential() -> None:
    text = "Discussed with Dr. John Smith, MD."
    assert spans_of(text) == [("John Smith", "NAME")]


def test_age_span_is_the_number_only() -> None:
    assert spans_of("92-year-old man") == [("92", "AGE")]


def test_title_makes_an_eponym_a_name() -> None:
    assert spans_of("Discussed with Dr. Paget.") == [("Paget", "NAME")]
    assert spans_of("Paget disease of the pelvis.") == []


def test_name_found_once_is_found_everywhere() -> None:
    text = "Dr. Chidubem Okafor reviewed the study. Okafor agreed with the plan."
    assert [v for v, k in spans_of(text) if k == "NAME"] == ["Chidubem Okafor", "Okafor"]


# ---------------------------------------------------------------------------------------------------
# What must survive
# ---------------------------------------------------------------------------------------------------

CLINICAL = [
    "Mass at 2 o'clock, 4 cm from the nipple, BI-RADS 4A.",
    "History of Hodgkin lymphoma, status post mantle radiation.",
    "Known non-Hodgkin lymphoma with mediastinal adenopathy.",
    "Kerley B lines are present at the lung bases.",
    "Comparison: 2019.",
    "Compared with the outside CT (2017), no change.",
    "72-year-old woman with cough.",
    "89 yo M with fall.",
    "Mild degenerative disc disease at C5-6 and L4-L5 with a Schmorl node at T12.",
    "Nodule on series 3 image 45 measures 3.2 x 1.1 cm.",
    "See image 45/120.",
    "Smith fracture of the distal radius.",
    "Colles fracture. Jones fracture. Weber B ankle fracture. Salter-Harris II fracture. Garden III.",
    "Foley catheter in place. Swan-Ganz catheter tip in the right pulmonary artery.",
    "Port-a-Cath with tip in the SVC. Dobhoff tube in the stomach. Hickman line removed.",
    "Fractures of the left 4th-6th ribs.",
    "Two thirds (2/3) of the lesion enhances; 45% stenosis.",
    "The finding was called at 3:45 pm and again at 1400 hours.",
    "Mass at the 10:30 axis, 12 o'clock position.",
    "DLP 345 mGy*cm. CTDIvol 12.3 mGy. SUV max 4.5.",
    "Lung-RADS 4B. LI-RADS 5. PI-RADS 3. TI-RADS 4. O-RADS 3. BI-RADS category 0: incomplete.",
    "Follow-up per Fleischner criteria. Bosniak IIF cyst. Gleason 4+3=7.",
    "Status post Roux-en-Y gastric bypass and Nissen fundoplication. Whipple procedure.",
    "Chiari I malformation. Dandy-Walker variant. Modic type 1 changes. Pellegrini-Stieda lesion.",
    "Impella device. Watchman device. MitraClip. Sapien valve. HeartMate LVAD.",
    "Morgagni hernia. Bochdalek hernia. Zenker diverticulum. Meckel diverticulum. Boerhaave syndrome.",
    "Graves disease. Hashimoto thyroiditis. Crohn disease. Ewing sarcoma. Wilms tumor. Kaposi sarcoma.",
    "Hill-Sachs lesion and Bankart tear. Osgood-Schlatter disease. Baker's cyst.",
    "Received 40 mg IV. Heart rate 72 bpm. Ejection fraction 55%.",
    "Heterogeneously dense breasts (ACR C). Scattered fibroglandular tissue.",
    "Frank hemorrhage in the right kidney. White matter is normal.",
    "May require follow-up in 3 months.",
    "FINDINGS: Mild cardiomegaly. IMPRESSION: No acute cardiopulmonary process.",
    "CC AND MLO VIEWS OF BOTH BREASTS WERE OBTAINED. NEW MASS SEEN ON THE CC VIEW ONLY.",
    "A 23 MM OVAL MASS WITH CIRCUMSCRIBED MARGINS IN THE RT BREAST.",
    "Tc-99m MDP bone scan shows uptake. F-18 FDG PET.",
]


@pytest.mark.parametrize("text", CLINICAL)
def test_clinical_text_survives(text: str) -> None:
    assert spans_of(text) == []


def test_protected_number_shapes() -> None:
    text = "Mass at 2 o'clock, 3.2 x 1.1 cm, C5-6, series 3 image 45, at 3:45 pm"
    shapes = [text[s:e] for s, e in protected_spans(text)]
    assert {"2 o'clock", "3.2 x 1.1 cm", "C5-6", "series 3 image 45", "3:45 pm"} <= set(shapes)


def test_allow_words() -> None:
    assert is_allowed_word("Hodgkin") and is_allowed_word("non-Hodgkin") and is_allowed_word("Osgood-Schlatter")
    assert not is_allowed_word("Okonkwo")


def test_user_terms_are_kept() -> None:
    text = "Outside films from Mercy General were reviewed with Dr. Smithson."
    allow = AllowList(["Mercy General", "Smithson"])
    spans = resolve(text, find_candidates(text, allow), allow)
    assert spans == []


def test_kinds_filter() -> None:
    text = "Dr. Okonkwo saw the 92-year-old on 01/02/2020."
    allow = AllowList()
    spans = resolve(text, find_candidates(text, allow), allow, kinds=("DATE",))
    assert [(text[s.start : s.end], s.kind) for s in spans] == [("01/02/2020", "DATE")]


def test_name_dictionary() -> None:
    assert name_in_dictionary("John") and name_in_dictionary("smith") and name_in_dictionary("GARCIA")
    assert not name_in_dictionary("Okonkwo") and not name_in_dictionary("Xiaoming")


_PIECES = st.sampled_from(
    ["Dr. ", "Smith", ", ", "John ", "Hospital", " Jan ", "2020", "12", "/", "-", ":", "(", ")", "@", "MRN ", "#", "\n", "  ", "abc", "XYZ", "'", ".", "O'Neil", "St. ", "x", "555", "92"]
)


@settings(max_examples=80, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_spans_are_sorted_disjoint_and_in_bounds(text: str) -> None:
    spans = find_identifiers(text)
    for a, b in zip(spans, spans[1:]):
        assert a.end <= b.start
    for sp in spans:
        assert 0 <= sp.start < sp.end <= len(text) and sp.kind in KINDS


def test_the_recognizers_cover_every_kind_and_propose_only_their_own() -> None:
    assert {k for r in RECOGNIZERS for k in r.kinds} == set(KINDS)
    text = (
        "Patient: SMITH, JOHN A  MRN: 12345678  DOB: 01/02/1950, age 93. Call (617) 555-0199 or j.smith@example.org, "
        "www.example.org. Lives at 17 Gould Common, South Joseberg QLD 2151. Seen at St. Mary's Hospital by Dr Noah P. Martin, SGH."
    )
    doc, allow, found_so_far = Doc.of(text), AllowList(), []
    for recognizer in RECOGNIZERS:
        new = list(recognizer.find(doc, allow, found_so_far))
        assert new and all(c.kind in recognizer.kinds for c in new), (recognizer, new)
        found_so_far.extend(new)
