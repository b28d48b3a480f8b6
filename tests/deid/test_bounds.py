"""The engine's safety net: no replacement crosses a sentence end or outgrows its kind, and everything
outside the replaced spans is the input byte for byte, whatever a recognizer proposes."""

from __future__ import annotations

import pytest

from radtrust.deid import DeidConfig, Deidentifier, Span
from radtrust.deid.bounds import (
    MAX_CHARS,
    DeidInvariantError,
    bound,
    check_replacement,
    cut_back,
    first_sentence_end,
    sentence_ends,
)
from radtrust.deid.recognizers.base import Candidate

ONE_LINE = "FINDINGS: Heart size is normal. Patient address: 231 Elm Road, Springfield. No radiographic evidence of pleural effusion or pneumothorax. The lungs are clear."


@pytest.fixture(scope="module")
def masker() -> Deidentifier:
    return Deidentifier(DeidConfig(engine="radtrust"))


def test_sentence_ends_skip_initials_titles_and_abbreviations() -> None:
    text = "Seen by Dr. John A. Smith, M.D. at St. Mary's on Jan. 4. The lungs are clear. Fine!  Next."
    ends = [text[e - 2 : e] for e in sentence_ends(text)]
    assert ends == ["4.", "r.", "e!"]
    assert first_sentence_end("Springfield. No effusion.", 0, 25) == 11
    assert first_sentence_end("12 Elm St. London NW1 6XE", 0, 25) is None
    assert first_sentence_end("Leeds LS1 4AB. Lungs clear", 0, 26) == 13


def test_bound_cuts_at_the_sentence_end_line_break_and_length() -> None:
    assert bound(ONE_LINE, 49, len(ONE_LINE), "ADDRESS") == ONE_LINE.index(". No")
    assert bound("Smith\nLungs clear", 0, 17, "NAME") == 5
    assert bound("Flat 6\nChristian Roads, Trevormouth SP8P 4NY", 0, 44, "ADDRESS") == 44  # a postal address may wrap
    long = "word " * 60
    e = bound(long, 0, len(long), "NAME")
    assert e <= MAX_CHARS["NAME"] and long[e - 1] != " "


def test_cut_back_counts_and_never_moves_a_start() -> None:
    spans = [Span(0, 5, "NAME"), Span(49, len(ONE_LINE), "ADDRESS")]
    out, n = cut_back(ONE_LINE, spans)
    assert n == 1 and [s.start for s in out] == [0, 49] and out[1].end == ONE_LINE.index(". No")
    assert cut_back(ONE_LINE, [Candidate(0, 5, "NAME", 1)]) == ([Candidate(0, 5, "NAME", 1)], 0)


def test_check_replacement_accepts_the_truth_and_names_offsets_only() -> None:
    text = "Dr. Smith saw it. Lungs clear."
    spans = [Span(4, 9, "NAME")]
    check_replacement(text, spans, ["[NAME]"], "Dr. [NAME] saw it. Lungs clear.")
    with pytest.raises(DeidInvariantError, match="after offset 9"):
        check_replacement(text, spans, ["[NAME]"], "Dr. [NAME] saw it. Lungs")
    with pytest.raises(DeidInvariantError, match="overlaps"):
        check_replacement(text, [Span(4, 9, "NAME"), Span(6, 12, "NAME")], ["a", "b"], "x")
    with pytest.raises(DeidInvariantError) as e:
        check_replacement(text, spans, ["[NAME]"], "Dr. [NAME] saw it. Lungs cloudy.")
    assert "Lungs" not in str(e.value)


def test_an_address_mid_line_never_takes_the_findings_with_it(masker: Deidentifier) -> None:
    out, spans, n_cut = masker.deidentify_counted(ONE_LINE)
    assert out == ONE_LINE.replace("231 Elm Road, Springfield", "[ADDRESS]") and n_cut == 0
    for tail in (" lungs clear", "; lungs clear"):
        out = masker.deidentify("Patient address: 10 High Street, Leeds LS1 4AB" + tail)
        assert out.endswith(tail) and "High Street" not in out


def test_a_name_before_a_record_label_is_found(masker: Deidentifier) -> None:
    assert masker.deidentify("John Smith MRN 12345678 chest film.") == "[NAME] MRN [ID] chest film."
    assert masker.deidentify("Okafor Chidi MRN 1234567. Lungs clear.") == "[NAME] MRN [ID]. Lungs clear."
    assert masker.deidentify("Wang Min, DOB: 01/02/1950") == "[NAME], DOB: [DATE]"
    assert masker.deidentify("XR CHEST PA/LAT   MRN 1234567") == "XR CHEST PA/LAT   MRN [ID]"


def test_an_overreaching_recognizer_is_cut_back_and_counted(monkeypatch, masker: Deidentifier) -> None:
    import radtrust.deid.engine as engine

    greedy = lambda text, *args: [Candidate(text.index("231"), len(text), "ADDRESS", 2)]  # noqa: E731
    monkeypatch.setattr(engine, "find_candidates", greedy)
    fresh = Deidentifier(masker.config, cache_size=0)  # the shared one remembers this text's spans from before
    out, _, n_cut = fresh.deidentify_counted(ONE_LINE)
    assert n_cut == 1
    assert out.endswith(". No radiographic evidence of pleural effusion or pneumothorax. The lungs are clear.")
