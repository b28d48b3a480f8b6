"""INSTITUTION: abbreviations in context, keyword-first and foreign names, and where a name before one ends."""

from __future__ import annotations

import pytest

from ..helpers import found

FOUND = [
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
]


@pytest.mark.parametrize(("text", "value", "kind"), FOUND)
def test_form_is_found(text: str, value: str, kind: str) -> None:
    assert found(text, value, kind)


def test_institution_words_are_no_name() -> None:
    # the name ends before the institution, which keeps its own kind
    text = "Referring physician: Dr. Adolph, University Hospital of Jasonhaven. Ordered today."
    assert found(text, "Adolph", "NAME")
    assert found(text, "University Hospital of Jasonhaven", "INSTITUTION")
    text = "Images acquired at Royal Port Elaine Infirmary, Cooperport, MD 92868. No mass."
    assert found(text, "Royal Port Elaine Infirmary", "INSTITUTION")
