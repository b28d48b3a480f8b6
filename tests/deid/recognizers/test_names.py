"""NAME: names in the forms of other countries and of letters, and the report words, eponyms, titles,
credentials and capitals abbreviations around them that must survive."""

from __future__ import annotations

import pytest

from radtrust.deid import find_identifiers

from ..helpers import found


def untouched(text: str, value: str) -> bool:
    """True if no span removes any character of ``value`` (its first occurrence)."""
    start = text.index(value)
    end = start + len(value)
    return all(sp.end <= start or sp.start >= end for sp in find_identifiers(text))


FOUND = [
    # names: Irish particles, two surnames, an eponym after an initial, capitals
    ("Patient: D. Ó Slámáin  DOB: 17/10/1919", "D. Ó Slámáin", "NAME"),
    ("Referring physician: Ó Muirighthe, Karin, Klinikum West Sarahtown.", "Ó Muirighthe, Karin", "NAME"),
    ("Referring physician: Sean K. Mac an Aba, FRCPC, Royal New Kelly Hospital.", "Sean K. Mac an Aba", "NAME"),
    ("Patient: Ms O Conbhai  DOB: 31-Jul-1919", "O Conbhai", "NAME"),
    ("Reported by: Dr. O HANNLAOIGH, PHILIP PhD 04/04/2024", "O HANNLAOIGH, PHILIP", "NAME"),
    ("Seen by Dr. Aoife Ní Bhriain today.", "Aoife Ní Bhriain", "NAME"),
    ("Report sent to M. Baker, consultant.", "M. Baker", "NAME"),
    ("Bermudez Coronado, Francisca\nDOB: 01/02/1950", "Bermudez Coronado, Francisca", "NAME"),
    ("CEPEDA NAVARRETE, VICTOR\nFINDINGS: Normal.", "CEPEDA NAVARRETE, VICTOR", "NAME"),
    ("FILIP THOREN\nMRN 1234567", "FILIP THOREN", "NAME"),
    ("Patient Dagmara Szylar was seen.", "Dagmara Szylar", "NAME"),
]


@pytest.mark.parametrize(("text", "value", "kind"), FOUND)
def test_form_is_found(text: str, value: str, kind: str) -> None:
    assert found(text, value, kind)


SURVIVES = [
    # report words, eponyms and abbreviations next to the new forms
    ("The patient lives at home with her daughter.", "home with her daughter"),
    ("Lives alone. Resides in a nursing home.", "nursing home"),
    ("Compared to 2 Left Lower Lobe views.", "Left Lower Lobe"),
    ("Transferred from ICU. Seen at ED.", "ICU"),
    ("Transferred from ICU. Seen at ED.", "ED"),
    ("PA and lateral views from CT at AP.", "PA and lateral views from CT at AP"),
    ("Compared with CXR from OSH.", "CXR"),
    ("Postsurgical changes from CABG are noted.", "CABG"),
    ("Hydrocephalus from SAH is stable.", "SAH"),
    ("Portable AP view at 10 AM. Patient from SNF.", "SNF"),
    ("Hospital course uneventful. Hospital Day 3.", "Hospital Day"),
    ("Lesion 2, 2010 Fleischner criteria. Grade 3, 1234 Units.", "Lesion 2, 2010 Fleischner criteria. Grade 3, 1234 Units."),
    ("Kerley B lines. Paget disease of bone. Hodgkin lymphoma.", "Kerley B lines. Paget disease of bone. Hodgkin lymphoma."),
    ("Type O blood. M. Baker cyst is stable.", "Baker cyst"),
    ("Mild Cardiomegaly, Stable.\nSevere Stenosis, Left", "Cardiomegaly, Stable"),
    ("Mild Cardiomegaly, Stable.\nSevere Stenosis, Left", "Severe Stenosis, Left"),
    # titles, credentials and roles are no part of a name
    ("Reported by: UDO SEIFERT, M.D. May 22, 2021", "M.D."),
    ("Reported by: Nathalie LOMBARD, MBBS Oct. 15, 2020", "MBBS"),
    ("Dear Dr Smith,\nRe: Miss Jane Doe\nThank you.", "Re:"),
    ("Dr John Smith\nConsultant Radiologist\nFRCR", "Consultant Radiologist"),
    ("Jane Doe RGN. Mary Roe RN. Alan Poe PhD.", "RGN"),
    ("Medical record number 12345678.", "Medical record number"),
    ("John Smith, Consultant Radiologist, FRCR", "Consultant Radiologist"),
    ("Dr Mary Jones\nConsultant\nRoyal Victoria Hospital", "Consultant"),
    ("Dear Dr Patel,\nRe: Mrs Olga Ivanova, DOB 01/02/1950\nMany thanks.", "DOB"),
    ("Dear Dr Patel,\nRe: Mrs Olga Ivanova, DOB 01/02/1950\nMany thanks.", "Dear"),
    ("Reported by: Mark Chen, PhD, MD", "PhD"),
    ("DOB 07/12/1959\nReferring Physician: G. Love, MD, PhD\nScreening mammogram.", "PhD"),
    ("CRITICAL RESULT COMMUNICATED AT 4:30 PM ON JUN 20, 2021 BY DR. SANDRA GRZEBYK.", "4:30 PM"),
]


@pytest.mark.parametrize(("text", "value"), SURVIVES)
def test_words_survive(text: str, value: str) -> None:
    assert untouched(text, value)
