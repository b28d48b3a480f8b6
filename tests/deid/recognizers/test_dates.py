"""DATE: dates with month names of other languages, and month-like words that are no date."""

from __future__ import annotations

import pytest

from radtrust.deid.bounds import sentence_ends
from radtrust.deid.recognizers import sentence_pieces

from ..helpers import covered, spans_of

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


@pytest.mark.parametrize(
    "text",
    [
        "Grade 3 mars the margin.",  # a word that is also a month only counts between a day and a year
        "3 out of 5 nodes are positive.",
        "The 2 set of images was repeated.",
        "Follow-up in 2 mai be needed.",
        "Mayo Clinic protocol, 3 views.",
        "Reviewed 3 de set images.",
        "Seen 7 de ago.",
        "1. Mass in the right upper lobe. 2. May represent atelectasis.",
    ],
)
def test_month_like_words_without_a_date(text: str) -> None:
    assert not [s for s in spans_of(text) if s[1] == "DATE"]


def test_a_day_written_as_an_ordinal_ends_no_sentence() -> None:
    text = "Seen on 9. Dezember 1997. The lungs are clear."
    assert [text[s:e] for s, e in sentence_pieces(text)] == ["Seen on 9. Dezember 1997.", "The lungs are clear."]
    assert sentence_ends("Prior on 6 déc. 1997. Stable.") == [len("Prior on 6 déc. 1997.")]
    assert sentence_ends("Stable 3 years ago. 2 nodules.") == [len("Stable 3 years ago.")]
    assert sentence_ends("Lesion 7. There is more.") == [len("Lesion 7.")]
