"""ID: national numbers and DICOM UIDs, and the clinical numbers and codes next to them that must survive."""

from __future__ import annotations

import pytest

from ..helpers import covered, spans_of

IDS = [
    ("Old fracture. SS# 128 09 5747. Stable.", "128 09 5747"),
    ("Soft tissues unremarkable SSN 027 29 8012. No pneumothorax.", "027 29 8012"),
    ("Granuloma. Medicare No. 2520 42231 8. Tube in place.", "2520 42231 8"),
    ("Medicare number: 2520422318", "2520422318"),
    ("StudyInstanceUID 1.2.840.29387.7.631279.9907.1775482488.528. No focal consolidation.", "1.2.840.29387.7.631279.9907.1775482488.528"),
    ("Study UID: 1.2.840.29387.7.631279.9907.1775482488.528", "1.2.840.29387.7.631279.9907.1775482488.528"),
    ("Images 1.2.840.113619.2.55.3.604688119.969.1268071029.320 reviewed.", "1.2.840.113619.2.55.3.604688119.969.1268071029.320"),
    ("Series 1.3.6.1.4.1.9328.50.1.123 reviewed.", "1.3.6.1.4.1.9328.50.1.123"),
    ("NHS: 943 476 5919", "943 476 5919"),
    ("NHS No. 9434765919", "9434765919"),
    ("UR 1234567", "1234567"),
    ("History: 366 31 0973 with cough.", "366 31 0973"),  # without a cue: the grouping says it
    ("Seen on 6236 88174 2. Lungs are clear.", "6236 88174 2"),
    ("Seen on 1.2.840.29554.2.935157.0680.1093498157.432. Lungs are clear.", "1.2.840.29554.2.935157.0680.1093498157.432"),
    ("URN: 123456", "123456"),
    ("SIN 123 456 789", "123 456 789"),
    ("MBI 1EG4-TE5-MK73", "1EG4-TE5-MK73"),
    ("Passport No. X1234567", "X1234567"),
]


@pytest.mark.parametrize("text,value", IDS, ids=[v for _, v in IDS])
def test_national_numbers_and_uids(text: str, value: str) -> None:
    assert covered(text, value, ("ID",)), spans_of(text)


def test_a_single_digit_after_a_record_number_is_not_part_of_it() -> None:
    assert spans_of("MRN 12345678 2 views of the chest.") == [("12345678", "ID")]
    assert spans_of("ID 1234 12.5 cm mass.") == [("1234", "ID")]


@pytest.mark.parametrize(
    "text",
    [
        "Staging T2N1M0, stage IIB.",
        "pT1cN0 invasive ductal carcinoma.",
        "Clinical stage cT3N2bM1a.",
        "After therapy ypT0N0.",
        "Stage T2 N1 M0.",
        "TisN0M0 DCIS.",
        "BI-RADS 4A. LI-RADS 5. PI-RADS 4 lesion. CAD-RADS 3.",
        "C5-6 disc. T11 compression. Gleason 3+4=7.",
        "ICD-10 C34.90, S72.001A, J18.9, Z87.891, M54.5.",
        "Version 1.2.3 of the software; dose 0.1.2.3 protocol.",
        "HER2+, Ki-67 20%, BRCA1, 18F-FDG, Ga-68 PSMA, NT-proBNP 12345 pg/mL.",
    ],
)
def test_clinical_codes_survive(text: str) -> None:
    assert spans_of(text) == []
