"""ADDRESS: addresses in the forms of other countries (without a state, postcode before the city), and a place
alone after a residence cue."""

from __future__ import annotations

import pytest

from ..helpers import covered, found

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
]


@pytest.mark.parametrize(("text", "value", "kind"), FOUND)
def test_form_is_found(text: str, value: str, kind: str) -> None:
    assert found(text, value, kind)


def test_a_postcode_with_its_space_is_still_an_address() -> None:
    assert covered("Home address: Calgary AB T2N 1M0", "T2N 1M0", ("ADDRESS",))
