"""AGE: ages over 89 in digits and in words, the number only, and the numbers that are no age."""

from __future__ import annotations

import pytest

from radtrust.deid.allowlist import AllowList
from radtrust.deid.recognizers import _nothing_to_find

from ..helpers import spans_of

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
    assert (value, "AGE") in spans_of(text) or any(k == "AGE" and value in s and s.strip() in (value, "a " + value) for s, k in spans_of(text))
    assert "year" not in " ".join(s for s, k in spans_of(text) if k == "AGE").lower()


@pytest.mark.parametrize(
    "text",
    [
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
    ],
)
def test_not_an_age_over_89(text: str) -> None:
    assert not [s for s in spans_of(text) if s[1] == "AGE"]


def test_the_pre_screen_lets_ages_in_words_through() -> None:
    allow = AllowList()
    assert not _nothing_to_find("patient is ninety-three years old.", allow)
    assert not _nothing_to_find("aged one hundred and one.", allow)
    assert _nothing_to_find("no pleural effusion.", allow)
