"""PHONE: phone numbers in the forms of other countries, and the clinical numbers that are no phone."""

from __future__ import annotations

import pytest

from ..helpers import covered, spans_of

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


@pytest.mark.parametrize(
    "text",
    [
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
    ],
)
def test_numbers_that_are_not_phones(text: str) -> None:
    assert not [s for s in spans_of(text) if s[1] in ("PHONE", "ID")]
