"""Number-shaped identifiers in the forms real reports and other countries write them (ages over 89 in
words, dates with month names of other languages, international phone numbers, national health numbers,
DICOM UIDs), and the clinical numbers and codes next to them that must survive."""

from __future__ import annotations

import pytest

from radtrust.deid import find_identifiers
from radtrust.deid.allowlist import AllowList
from radtrust.deid.bounds import sentence_ends
from radtrust.deid.recognizers import _nothing_to_find, sentence_pieces


def spans_of(text: str) -> list[tuple[str, str]]:
    return [(text[s.start:s.end], s.kind) for s in find_identifiers(text)]


def covered(text: str, value: str, kinds: tuple[str, ...]) -> bool:
    """Every letter and digit of ``value`` (first occurrence) is inside a span of one of ``kinds``."""
    start = text.index(value)
    inside = set()
    for sp in find_identifiers(text):
        if sp.kind in kinds:
            inside.update(range(sp.start, sp.end))
    return all(i in inside for i in range(start, start + len(value)) if text[i].isalnum())


# ---------------------------------------------------------------------------------------------------
# Ages over 89: the span is the number only (digits or words), never "-year-old"
# ---------------------------------------------------------------------------------------------------

AGES = [
    ("INDICATION: Ninety-three-year-old with cough.", "Ninety-three"),
    ("Patient is ninety three years old.", "ninety three"),
    ("Aged ninety-one, fall at home.", "ninety-one"),
    ("One hundred and ten years old with cough.", "One hundred and ten"),
    ("Aged One hundred five with cough.", "One hundred five"),
    ("History: a hundred and one year old woman.", "hundred and one"),
    ("NINETY-SEVEN YEAR OLD MALE.", "NINETY-SEVEN"),
    ("The patient, age ninety, fell.", "ninety"),
    ("a 101-year-old man with dyspnea", "101"),
    ("CLINICAL HISTORY: 98f with cough.", "98"),
    ("CLINICAL HISTORY: 92m with cough.", "92"),
    ("History: 92M, cough.", "92"),
    ("History: 96 F, cough.", "96"),
    ("History: 92/F with cough.", "92"),
    ("PatientAge 092Y", "092"),
    ("93 y/o with chest pain", "93"),
    ("Age: 104", "104"),
]


@pytest.mark.parametrize("text,value", AGES, ids=[v for _, v in AGES])
def test_age_over_89_is_the_number_only(text: str, value: str) -> None:
    assert (value, "AGE") in spans_of(text) or any(
        k == "AGE" and value in s and s.strip() in (value, "a " + value) for s, k in spans_of(text)
    )
    assert "year" not in " ".join(s for s, k in spans_of(text) if k == "AGE").lower()


@pytest.mark.parametrize("text", [
    "A seventy-two-year-old man with cough.",
    "Eighty-nine years old with cough.",
    "Aged sixty five.",
    "Ninety years ago the building was a sanatorium.",
    "About ninety percent of the lumen is narrowed.",
    "Ninety-five percent stenosis of the ICA.",
    "One hundred milliliters of contrast were given.",
    "PatientAge 066Y",
    "Temperature 98.6 F, heart rate 92 bpm.",
    "Catheter tip 92 m from the door.",
    "Oxygen saturation 94% on room air.",
    "Infant aged 92 days with stridor.",
    "Neonate aged ninety days.",
])
def test_not_an_age_over_89(text: str) -> None:
    assert not [s for s in spans_of(text) if s[1] == "AGE"]


def test_the_pre_screen_lets_ages_in_words_through() -> None:
    allow = AllowList()
    assert not _nothing_to_find("patient is ninety-three years old.", allow)
    assert not _nothing_to_find("aged one hundred and one.", allow)
    assert _nothing_to_find("no pleural effusion.", allow)


# ---------------------------------------------------------------------------------------------------
# Dates with month names of other languages
# ---------------------------------------------------------------------------------------------------

DATES = [
    ("Ordered on 20 de diciembre de 1995.", "20 de diciembre de 1995"),
    ("Seen on 4 de enero de 2004; stable.", "4 de enero de 2004"),
    ("DOB: 6 décembre 1997  MRN: 1234567", "6 décembre 1997"),
    ("DOB: 6 decembre 1997  MRN: 1234567", "6 decembre 1997"),
    ("Examen du 1er mars 2020.", "1er mars 2020"),
    ("Esame del 18 marzo 2023.", "18 marzo 2023"),
    ("Signed by D. Weber 9. Dezember 1997", "9. Dezember 1997"),
    ("Seen at the clinic on 3. Mai 2001; lives nearby.", "3. Mai 2001"),
    ("Seen at the clinic on 7. April 2010. Stable.", "7. April 2010"),
    ("Onderzoek 1 oktober 2010.", "1 oktober 2010"),
    ("Seen on 10 de agosto de 2020.", "10 de agosto de 2020"),
    ("Badanie 5 stycznia 2019.", "5 stycznia 2019"),
    ("Prior on 6 déc. 1997.", "6 déc. 1997"),
    ("Prior on 12 Okt. 2001.", "12 Okt. 2001"),
    ("Prior from Dezember 2022 is unchanged.", "Dezember 2022"),
    ("Prior from diciembre de 1995 is unchanged.", "diciembre de 1995"),
    ("Seen on 1º de enero de 2004.", "1º de enero de 2004"),
    ("Prior dated 12 juli 2002.", "12 juli 2002"),
    ("Seen at the hospital on May. 14, 2012. Calcified granuloma.", "May. 14, 2012"),
    ("Seen 3 Août 2019.", "3 Août 2019"),
    ("Prior from marzo 18, 2023 is unchanged.", "marzo 18, 2023"),
    ("Seen 20-dic-1995 and 03/okt/19.", "20-dic-1995"),
    ("Seen 20-dic-1995 and 03/okt/19.", "03/okt/19"),
    ("Examen le 1er mars.", "1er mars"),
    ("Control el 4 de mayo.", "4 de mayo"),
    ("Prior dated 12 juli.", "12 juli"),
]


@pytest.mark.parametrize("text,value", DATES, ids=[v for _, v in DATES])
def test_date_with_a_month_name_of_another_language(text: str, value: str) -> None:
    assert covered(text, value, ("DATE",)), spans_of(text)


@pytest.mark.parametrize("text", [
    "Grade 3 mars the margin.",  # a word that is also a month only counts between a day and a year
    "3 out of 5 nodes are positive.",
    "The 2 set of images was repeated.",
    "Follow-up in 2 mai be needed.",
    "Mayo Clinic protocol, 3 views.",
    "Reviewed 3 de set images.",
    "Seen 7 de ago.",
    "1. Mass in the right upper lobe. 2. May represent atelectasis.",
])
def test_month_like_words_without_a_date(text: str) -> None:
    assert not [s for s in spans_of(text) if s[1] == "DATE"]


def test_a_day_written_as_an_ordinal_ends_no_sentence() -> None:
    text = "Seen on 9. Dezember 1997. The lungs are clear."
    assert [text[s:e] for s, e in sentence_pieces(text)] == ["Seen on 9. Dezember 1997.", "The lungs are clear."]
    assert sentence_ends("Prior on 6 déc. 1997. Stable.") == [len("Prior on 6 déc. 1997.")]
    assert sentence_ends("Stable 3 years ago. 2 nodules.") == [len("Stable 3 years ago.")]
    assert sentence_ends("Lesion 7. There is more.") == [len("Lesion 7.")]


# ---------------------------------------------------------------------------------------------------
# Phone numbers of other countries
# ---------------------------------------------------------------------------------------------------

PHONES = [
    "(02) 9724 0050",  # Australia
    "(07) 6427 7041",
    "(08)-8690-7366",
    "02 4177 7631",
    "17 7818-7890",  # Brazil
    "96 8849-5397",
    "(11) 98765-4321",
    "+55 61 9141-7776",
    "(021) 6685877",  # the Netherlands
    "(0406)-812415",
    "0837 783533",
    "+31(0)914 177763",
    "03662 585178",  # Germany
    "(03449) 78690",
    "+49 (0) 9141 777631",
    "04 15 39 15 00",  # France
    "+33 (0)1 41 63 60 83",
    "+34 948 812 415",  # Spain
    "609 141 777",  # Poland
    "22 494 34 83",
    "(01632) 960981",  # the UK
    "(0131) 4960162",
    "(02) 9724 0050 ext 12",
    "4004 123 4567",  # Brazil
    "0800 123 4567",
    "9724 0050",  # Australia, local
]


@pytest.mark.parametrize("value", PHONES)
def test_international_phone_numbers(value: str) -> None:
    for text in (f"Fax results to {value}.", f"Contact: {value} | www.example.org", f"Questions: {value}"):
        assert covered(text, value, ("PHONE", "ID")), (value, spans_of(text))


@pytest.mark.parametrize("text", [
    "Measures 0.5 x 0.7 cm. Series 2 image 45.",
    "Heart rate 100 120 130 bpm.",
    "Nodules measure 12 345 678 mm in sum.",
    "Compared with 10 12 2019 exam.",
    "At 10 30 hours the line was placed.",
    "C5-6 and C6-7 disc protrusions; T11 compression.",
    "DLP 876 mGy-cm, CTDIvol 12.3 mGy.",
    "LVEF 55-60%.",
    "Images 1 2 3 4 5 were reviewed.",
    "Growth between 2019 2020 was slow.",
    "Nodules 123 45 6789 mm in sum.",
    "Doses 250 50 1000 mg daily.",
])
def test_numbers_that_are_not_phones(text: str) -> None:
    assert not [s for s in spans_of(text) if s[1] in ("PHONE", "ID")]


# ---------------------------------------------------------------------------------------------------
# National numbers and DICOM UIDs
# ---------------------------------------------------------------------------------------------------

IDS = [
    ("Old fracture. SS# 128 09 5747. Stable.", "128 09 5747"),
    ("Soft tissues unremarkable SSN 027 29 8012. No pneumothorax.", "027 29 8012"),
    ("Granuloma. Medicare No. 2520 42231 8. Tube in place.", "2520 42231 8"),
    ("Medicare number: 2520422318", "2520422318"),
    ("StudyInstanceUID 1.2.840.29387.7.631279.9907.1775482488.528. No focal consolidation.",
     "1.2.840.29387.7.631279.9907.1775482488.528"),
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


@pytest.mark.parametrize("text", [
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
])
def test_clinical_codes_survive(text: str) -> None:
    assert spans_of(text) == []


def test_a_postcode_with_its_space_is_still_an_address() -> None:
    assert covered("Home address: Calgary AB T2N 1M0", "T2N 1M0", ("ADDRESS",))
