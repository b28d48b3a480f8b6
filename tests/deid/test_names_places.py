"""Names, addresses and institutions in the forms of other countries and of letters: each new form is found,
and the report words, eponyms and capitals abbreviations around it survive."""

from __future__ import annotations

import pytest

from radtrust.deid import find_identifiers

from .helpers import found


def untouched(text: str, value: str) -> bool:
    """True if no span removes any character of ``value`` (its first occurrence)."""
    start = text.index(value)
    end = start + len(value)
    return all(sp.end <= start or sp.start >= end for sp in find_identifiers(text))


FOUND = [
    # Australian, Canadian and US addresses without a state
    ("History: lives at 17 Gould Common, South Joseberg QLD 2151.", "17 Gould Common, South Joseberg QLD 2151", "ADDRESS"),
    ("Lives at Apt. 959 472 Edgar Crest, West Bobby TAS 6860. FINDINGS: Clear.", "Apt. 959 472 Edgar Crest, West Bobby TAS 6860", "ADDRESS"),
    ("Address: Unit 06 79 Danielle Estate, Port Luisland SA 0246", "Unit 06 79 Danielle Estate, Port Luisland SA 0246", "ADDRESS"),
    ("Lives at 30/4 Martinez Brow, Stevensside VIC 2979.", "30/4 Martinez Brow, Stevensside VIC 2979", "ADDRESS"),
    ("Home 92263 Lawson Via, Reyeschester, NL H6T 7J8 on file.", "92263 Lawson Via, Reyeschester, NL H6T 7J8", "ADDRESS"),
    ("She moved to 3477 Collins Street Apt. 822, Garciaberg.", "3477 Collins Street Apt. 822, Garciaberg", "ADDRESS"),
    ("Mailing to 5088 Linda Passage, Port Zachary; no reply.", "5088 Linda Passage, Port Zachary", "ADDRESS"),
    # continental Europe: postcode before the city
    ("Lives at 4, avenue Michele Sauvage, 37819 Traore-sur-Chevalier.", "4, avenue Michele Sauvage, 37819 Traore-sur-Chevalier", "ADDRESS"),
    ("Correspondence: 37, rue Lemonnier, 83271 Martin.", "37, rue Lemonnier, 83271 Martin", "ADDRESS"),
    ("Wohnhaft Ziegertallee 57/75, 05806 Meppen.", "Ziegertallee 57/75, 05806 Meppen", "ADDRESS"),
    ("Home address: Radelstr. 92/49, 53342 Zossen. No effusion.", "Radelstr. 92/49, 53342 Zossen", "ADDRESS"),
    ("Adres Karlijnboulevard 97, 7230IV Gapinge.", "Karlijnboulevard 97, 7230IV Gapinge", "ADDRESS"),
    ("Adres Borisweg 98, 6940 OW Dieren.", "Borisweg 98, 6940 OW Dieren", "ADDRESS"),
    ("Residenza Via Roma 12, 00184 Roma.", "Via Roma 12, 00184 Roma", "ADDRESS"),
    ("Domicilio Calle Mayor 5, 28013 Madrid.", "Calle Mayor 5, 28013 Madrid", "ADDRESS"),
    ("Adres ul. Długa 5, 00-238 Warszawa.", "Długa 5, 00-238 Warszawa", "ADDRESS"),
    ("Morada: Rua Augusta 100, 1100-053 Lisboa.", "Rua Augusta 100, 1100-053 Lisboa", "ADDRESS"),
    # a place alone after a residence cue
    ("History: lives at South Paul.  FINDINGS: Stable.", "South Paul", "ADDRESS"),
    ("The patient resides in New Johnburgh. Heart normal.", "New Johnburgh", "ADDRESS"),
    ("Lives in Neu-Ulm with family.", "Neu-Ulm", "ADDRESS"),
    ("Home address: postcode TF15 1EW. Degenerative change.", "TF15 1EW", "ADDRESS"),
    # institutions: abbreviations in context, keyword-first and foreign names
    ("Referring physician: Marchal, Thijs, TGH. Ordered on 01.03.2013.", "TGH", "INSTITUTION"),
    ("Referring physician: LARSSON, JESSICA, M.D., JRA. Ordered today.", "JRA", "INSTITUTION"),
    ("History: seen at KG on 27.10.2023.", "KG", "INSTITUTION"),
    ("Patient transferred from SGH yesterday.", "SGH", "INSTITUTION"),
    ("Prior films at RLH were reviewed.", "RLH", "INSTITUTION"),
    ("Referring physician: Dr. Tuithof, Floortje PhD, Charité.", "Charité", "INSTITUTION"),
    ("Referring physician: Grace Mwikali, Guy's and St Thomas'.", "Guy's and St Thomas'", "INSTITUTION"),
    ("Referring physician: H. Hernandez PhD, Sunnybrook Health Sciences Centre.", "Sunnybrook Health Sciences Centre", "INSTITUTION"),
    ("Prior CT at Klinikum West Sarahtown.", "Klinikum West Sarahtown", "INSTITUTION"),
    ("Prior CT at Klinikum rechts der Isar.", "Klinikum rechts der Isar", "INSTITUTION"),
    ("Transferred from Hôpital Pitié-Salpêtrière overnight.", "Hôpital Pitié-Salpêtrière", "INSTITUTION"),
    ("Compared with images from Ospedale San Raffaele.", "Ospedale San Raffaele", "INSTITUTION"),
    ("Prior MRI from Centre Hospitalier de Versailles.", "Centre Hospitalier de Versailles", "INSTITUTION"),
    ("Prior MRI from Hospital Universitario La Paz.", "Hospital Universitario La Paz", "INSTITUTION"),
    ("Prior MRI from Szpital Bródnowski.", "Szpital Bródnowski", "INSTITUTION"),
    ("Prior study at the Antonius Ziekenhuis.", "Antonius Ziekenhuis", "INSTITUTION"),
    ("Seen at Universitätsklinikum Hamburg-Eppendorf.", "Universitätsklinikum Hamburg-Eppendorf", "INSTITUTION"),
    ("Prior CT from CHU de Nantes.", "CHU de Nantes", "INSTITUTION"),
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


def test_institution_words_are_no_name() -> None:
    # the name ends before the institution, which keeps its own kind
    text = "Referring physician: Dr. Adolph, University Hospital of Jasonhaven. Ordered today."
    assert found(text, "Adolph", "NAME")
    assert found(text, "University Hospital of Jasonhaven", "INSTITUTION")
    text = "Images acquired at Royal Port Elaine Infirmary, Cooperport, MD 92868. No mass."
    assert found(text, "Royal Port Elaine Infirmary", "INSTITUTION")


@pytest.mark.parametrize(("text", "value"), SURVIVES)
def test_words_survive(text: str, value: str) -> None:
    assert untouched(text, value)
