"""The de-identification facade: masks, surrogates, date shifting, Presidio adapter, config and tables."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

import radtrust.deid.engine as engine_mod
from radtrust.deid import KINDS, DeidConfig, Deidentifier, DeidSummary, Span, deidentify_frame
from radtrust.deid.surrogates import AGE_SURROGATE, SurrogateGenerator, format_like, parse_date, shift_date_text
from radtrust.errors import ConfigError, InputError

REPORT = (
    "Patient: SMITH, JOHN  MRN: 12345678  DOB: 01/02/1930\n"
    "INDICATION: 92-year-old with cough. Comparison: 2019.\n"
    "FINDINGS: Mass at 2 o'clock, 4 cm from the nipple, BI-RADS 4A. Kerley B lines.\n"
    "Outside films from Mercy General dated Jan 2, 2020 were reviewed.\n"
    "IMPRESSION: Findings discussed with Dr. Okonkwo at (555) 123-4567 on 03/04/2020 at 3:45 pm.\n"
    "Questions: jdoe@mercy-health.org, www.mercy-health.org. Home: 1234 Oak Street, Springfield, IL 62704"
)
IDENTIFIERS = {
    "SMITH, JOHN": "NAME",
    "12345678": "ID",
    "01/02/1930": "DATE",
    "92": "AGE",
    "Mercy General": "INSTITUTION",
    "Jan 2, 2020": "DATE",
    "Okonkwo": "NAME",
    "(555) 123-4567": "PHONE",
    "03/04/2020": "DATE",
    "jdoe@mercy-health.org": "EMAIL",
    "www.mercy-health.org": "URL",
    "1234 Oak Street, Springfield, IL 62704": "ADDRESS",
}
CLINICAL = ("Comparison: 2019.", "Mass at 2 o'clock, 4 cm from the nipple, BI-RADS 4A.", "Kerley B lines.", "at 3:45 pm")


@pytest.fixture(scope="module")
def masker() -> Deidentifier:
    return Deidentifier(DeidConfig(mode="mask", engine="radtrust", key="test-key"))


@pytest.fixture(scope="module")
def faker_() -> Deidentifier:
    return Deidentifier(DeidConfig(mode="surrogate", engine="radtrust", key="test-key"))


# ---------------------------------------------------------------------------------------------------
# find / mask
# ---------------------------------------------------------------------------------------------------


def test_find_returns_sorted_disjoint_spans_of_every_kind(masker: Deidentifier) -> None:
    spans = masker.find(REPORT)
    assert all(isinstance(s, Span) and s.source == "radtrust" for s in spans)
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:]))
    got = {REPORT[s.start : s.end]: s.kind for s in spans}
    assert got == IDENTIFIERS


def test_mask_mode(masker: Deidentifier) -> None:
    out = masker.deidentify(REPORT, patient_id="p1")
    for value, kind in IDENTIFIERS.items():
        assert value not in out.replace("[", " ")
        assert f"[{kind}]" in out
    assert "[AGE]-year-old" in out and "Dr. [NAME] at [PHONE]" in out
    for clinical in CLINICAL:
        assert clinical in out


def test_deidentify_with_spans_offsets_refer_to_input(masker: Deidentifier) -> None:
    out, spans = masker.deidentify_with_spans(REPORT)
    assert out == masker.deidentify(REPORT)
    assert {REPORT[s.start : s.end] for s in spans} == set(IDENTIFIERS)


def test_text_without_identifiers_is_returned_unchanged(masker: Deidentifier) -> None:
    text = "No acute cardiopulmonary process. Kerley B lines. C5-6 disc bulge."
    assert masker.deidentify(text) == text
    assert masker.deidentify("") == ""


def test_kinds_limit_what_is_replaced() -> None:
    deid = Deidentifier(DeidConfig(engine="radtrust", kinds=("DATE", "PHONE"), key="k"))
    out = deid.deidentify(REPORT)
    assert "Okonkwo" in out and "[DATE]" in out and "[PHONE]" in out and "[NAME]" not in out


def test_extra_allow_keeps_user_terms() -> None:
    deid = Deidentifier(DeidConfig(engine="radtrust", extra_allow=["Mercy General"], key="k"))
    assert "Mercy General" in deid.deidentify(REPORT)


# ---------------------------------------------------------------------------------------------------
# Surrogates
# ---------------------------------------------------------------------------------------------------


def _replacements(deid: Deidentifier, text: str, patient: str) -> dict[str, str]:
    """original -> replacement, by aligning the output with the spans."""
    out, spans = deid.deidentify_with_spans(text, patient)
    result, shift = {}, 0
    for sp in spans:
        start = sp.start + shift
        tail = text[sp.end :]
        nxt = [s for s in spans if s.start >= sp.end]
        stop = (nxt[0].start - sp.end) if nxt else len(tail)
        anchor = tail[:stop]
        end = out.index(anchor, start) if anchor else len(out)
        result[text[sp.start : sp.end]] = out[start:end]
        shift += (end - start) - (sp.end - sp.start)
    return result


def test_surrogates_are_realistic_and_never_the_original(faker_: Deidentifier) -> None:
    rep = _replacements(faker_, REPORT, "p1")
    assert set(rep) == set(IDENTIFIERS)
    for original, fake in rep.items():
        assert fake != original and fake and "[" not in fake
    assert re.fullmatch(r"[A-Z]+, [A-Z]+", rep["SMITH, JOHN"])  # "Last, First" stays "LAST, FIRST"
    assert re.fullmatch(r"\d{8}", rep["12345678"])
    assert re.fullmatch(r"\d\d/\d\d/\d{4}", rep["01/02/1930"]) and re.fullmatch(r"\d\d/\d\d/\d{4}", rep["03/04/2020"])
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4}", rep["Jan 2, 2020"])
    assert re.fullmatch(r"\(\d{3}\) \d{3}-\d{4}", rep["(555) 123-4567"])
    assert re.fullmatch(r"[\w.+-]+@example\.(org|com|net)", rep["jdoe@mercy-health.org"])
    assert rep["www.mercy-health.org"].startswith("www.") and ".example." in rep["www.mercy-health.org"]
    assert rep["92"] == AGE_SURROGATE
    assert re.search(r"\d+ \w+ Street, \w+, IL \d{5}$", rep["1234 Oak Street, Springfield, IL 62704"])
    assert rep["Mercy General"].endswith("General")


def test_surrogates_consistent_within_a_patient_and_differ_across(faker_: Deidentifier) -> None:
    a = "Discussed with Dr. Okonkwo. MRN 12345678."
    b = "Prior read by Dr. Okonkwo. Acc 77. MRN 12345678."
    ra, rb = _replacements(faker_, a, "p1"), _replacements(faker_, b, "p1")
    assert ra["Okonkwo"] == rb["Okonkwo"] and ra["12345678"] == rb["12345678"]
    others = {_replacements(faker_, a, f"p{i}")["Okonkwo"] for i in range(2, 8)}
    assert len(others | {ra["Okonkwo"]}) > 1
    # name parts are mapped one by one, so the formats of one person agree
    rep = _replacements(faker_, "Patient: Smith, John. Signed by John Smith, MD", "p1")
    last, first = rep["Smith, John"].split(", ")
    assert rep["John Smith"] == f"{first} {last}"


def test_random_key_per_instance_is_consistent_within_the_instance() -> None:
    d1 = Deidentifier(DeidConfig(mode="surrogate", engine="radtrust"))
    d2 = Deidentifier(DeidConfig(mode="surrogate", engine="radtrust"))
    text = "MRN: 12345678 and MRN: 87654321 and MRN: 11223344"
    assert d1.deidentify(text, "p") == d1.deidentify(text, "p")
    assert d1.deidentify(text, "p") != d2.deidentify(text, "p")


def test_same_key_gives_the_same_surrogates_across_instances() -> None:
    cfg = DeidConfig(mode="surrogate", engine="radtrust", key="shared")
    assert Deidentifier(cfg).deidentify(REPORT, "p1") == Deidentifier(cfg).deidentify(REPORT, "p1")


def test_ages_over_89() -> None:
    masker = Deidentifier(DeidConfig(engine="radtrust", key="k"))
    faker_ = Deidentifier(DeidConfig(engine="radtrust", mode="surrogate", key="k"))
    text = "92-year-old woman; brother aged 95; 72-year-old husband."
    assert masker.deidentify(text) == "[AGE]-year-old woman; brother aged [AGE]; 72-year-old husband."
    assert faker_.deidentify(text) == "90+-year-old woman; brother aged 90+; 72-year-old husband."


# ---------------------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("01/02/2020", date(2020, 1, 2)),
        ("1/2/20", date(2020, 1, 2)),
        ("2020-01-02", date(2020, 1, 2)),
        ("02.01.2020", date(2020, 1, 2)),
        ("Jan 2, 2020", date(2020, 1, 2)),
        ("2nd January 2020", date(2020, 1, 2)),
        ("02-Jan-2020", date(2020, 1, 2)),
        ("JANUARY 2ND, 2020", date(2020, 1, 2)),
        ("13/02/2020", date(2020, 2, 13)),
        ("Sept 2018", date(2018, 9, 15)),
        ("01/2020", date(2020, 1, 15)),
        ("20200102", date(2020, 1, 2)),
    ],
)
def test_parse_date(text: str, expected: date) -> None:
    parsed = parse_date(text)
    assert parsed is not None and parsed.value == expected


@pytest.mark.parametrize(
    "text,days,expected",
    [
        ("01/02/2020", 30, "02/01/2020"),
        ("1/2/20", -3, "12/30/19"),
        ("2020-01-02", 1, "2020-01-03"),
        ("02.01.2020", 31, "02.02.2020"),
        ("Jan 2, 2020", 365, "Jan 1, 2021"),
        ("2nd January 2020", 1, "3rd January 2020"),
        ("02-Jan-2020", 40, "11-Feb-2020"),
        ("JANUARY 2ND, 2020", 19, "JANUARY 21ST, 2020"),
        ("on the 3rd of March", 0, None),
        ("3rd of March", 30, "2nd of April"),
        ("January 2020", 10, "February 2020"),
        ("January 2020", -75, "November 2019"),
        ("Monday, Jan 6, 2020", 1, "Tuesday, Jan 7, 2020"),
        ("20201231", 1, "20210101"),
    ],
)
def test_shift_keeps_the_format(text: str, days: int, expected: str | None) -> None:
    assert shift_date_text(text, days) == expected


def test_unparseable_date_is_none() -> None:
    assert parse_date("sometime last spring") is None
    assert shift_date_text("32/13/2020", 5) is None


def test_format_like_pads_like_the_original() -> None:
    assert format_like(parse_date("1/2/2020"), date(2021, 11, 30)) == "11/30/2021"
    assert format_like(parse_date("01/02/2020"), date(2021, 3, 4)) == "03/04/2021"


def test_shift_days_per_patient_never_zero_and_bounded() -> None:
    gen = SurrogateGenerator(b"secret")
    shifts = [gen.date_shift_days(f"p{i}", 30) for i in range(400)]
    assert 0 not in shifts and all(-30 <= s <= 30 for s in shifts)
    assert min(shifts) < 0 < max(shifts)
    assert gen.date_shift_days("p1", 30) == gen.date_shift_days("p1", 30)
    assert SurrogateGenerator(b"other").date_shift_days("p1", 3650) != gen.date_shift_days("p1", 3650)


def test_date_shift_keeps_intervals_within_a_patient() -> None:
    deid = Deidentifier(DeidConfig(mode="mask", shift_dates=True, shift_max_days=200, engine="radtrust", key="k"))
    text_a = "Exam 01/15/2020. Prior 2019-12-01."
    text_b = "Follow-up on Mar 3, 2020 for Dr. Okonkwo."
    out_a, out_b = deid.deidentify(text_a, "p7"), deid.deidentify(text_b, "p7")
    assert "[NAME]" in out_b and "[DATE]" not in out_a + out_b  # dates shifted, not masked
    d1 = parse_date(re.search(r"\d\d/\d\d/\d{4}", out_a).group()).value
    d2 = parse_date(re.search(r"\d{4}-\d\d-\d\d", out_a).group()).value
    d3 = parse_date(re.search(r"[A-Z][a-z]{2} \d{1,2}, \d{4}", out_b).group()).value
    assert (d1 - d2).days == (date(2020, 1, 15) - date(2019, 12, 1)).days
    assert (d3 - d1).days == (date(2020, 3, 3) - date(2020, 1, 15)).days
    shift = deid.date_shift_days("p7")
    assert shift != 0 and abs(shift) <= 200 and (d1 - date(2020, 1, 15)).days == shift
    other = deid.deidentify(text_a, "p8")
    assert other != out_a


def test_date_shift_in_surrogate_mode() -> None:
    deid = Deidentifier(DeidConfig(mode="surrogate", shift_dates=True, engine="radtrust", key="k"))
    out = deid.deidentify("Seen 01/15/2020 by Dr. Okonkwo.", "p1")
    shifted = re.search(r"\d\d/\d\d/\d{4}", out).group()
    assert (parse_date(shifted).value - date(2020, 1, 15)).days == deid.date_shift_days("p1")
    assert "Okonkwo" not in out and "[NAME]" not in out


# ---------------------------------------------------------------------------------------------------
# Presidio adapter
# ---------------------------------------------------------------------------------------------------


@dataclass
class _Result:
    entity_type: str
    start: int
    end: int
    score: float


class FakeAnalyzer:
    """Stands in for presidio_analyzer.AnalyzerEngine: returns fixed results for given substrings."""

    def __init__(self, hits: list[tuple[str, str, float]]) -> None:
        self.hits = hits
        self.calls = 0

    def analyze(self, text: str, language: str, **kwargs) -> list[_Result]:
        assert language == "en"
        self.calls += 1
        out = []
        for value, entity, score in self.hits:
            i = text.find(value)
            if i >= 0:
                out.append(_Result(entity, i, i + len(value), score))
        return out


PRESIDIO_TEXT = "Zorblax Quux came from Springfield in Texas at 3:45 pm yesterday, seen 01/02/2020; Kerley B lines; Dr. Okonkwo called."


def test_presidio_adapter_maps_filters_and_merges() -> None:
    fake = FakeAnalyzer(
        [
            ("Zorblax Quux", "PERSON", 0.85),  # only Presidio knows this one
            ("Springfield", "LOCATION", 0.85),  # a city: ADDRESS
            ("Texas", "LOCATION", 0.85),  # a state alone: not an identifier
            ("3:45 pm yesterday", "DATE_TIME", 0.85),  # times and relative dates are kept
            ("seen 01/02/2020", "DATE_TIME", 0.85),  # only the date inside counts
            ("Kerley", "PERSON", 0.85),  # eponym: the allow-list wins
            ("Dr. Okonkwo", "PERSON", 0.85),  # overlaps the rule-based NAME: one merged span
            ("Quux", "NRP", 0.9),  # not a kind
            ("Texas at", "US_DRIVER_LICENSE", 0.1),  # below the score threshold
        ]
    )
    deid = Deidentifier(DeidConfig(engine="auto", key="k"), analyzer=fake)
    assert deid.engine_name.startswith("presidio") and "radtrust recognizers" in deid.engine_name
    spans = deid.find(PRESIDIO_TEXT)
    got = [(PRESIDIO_TEXT[s.start : s.end], s.kind, s.source) for s in spans]
    assert got == [
        ("Zorblax Quux", "NAME", "presidio"),
        ("Springfield", "ADDRESS", "presidio"),
        ("01/02/2020", "DATE", "radtrust"),
        ("Dr. Okonkwo", "NAME", "presidio"),
    ]
    assert fake.calls == 1


def test_presidio_not_used_with_engine_radtrust() -> None:
    fake = FakeAnalyzer([("Zorblax Quux", "PERSON", 0.9)])
    deid = Deidentifier(DeidConfig(engine="radtrust"), analyzer=fake)
    assert deid.engine_name == "radtrust recognizers"
    spans = deid.find(PRESIDIO_TEXT)
    assert all(s.source == "radtrust" for s in spans) and all(s.start > 0 for s in spans)
    assert fake.calls == 0


def test_engine_presidio_without_presidio_is_a_config_error(monkeypatch) -> None:
    monkeypatch.setattr(engine_mod, "presidio_model", lambda: None)
    with pytest.raises(ConfigError, match="presidio"):
        Deidentifier(DeidConfig(engine="presidio"))
    assert Deidentifier(DeidConfig(engine="auto")).engine_name == "radtrust recognizers"


# ---------------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------------


def test_config_defaults_and_validation() -> None:
    cfg = DeidConfig()
    assert cfg.mode == "mask" and cfg.shift_dates is False and cfg.shift_max_days == 365 and cfg.kinds == KINDS
    with pytest.raises(ValidationError):
        DeidConfig(mode="redact")
    with pytest.raises(ValidationError):
        DeidConfig(shift_max_days=0)
    with pytest.raises(ValidationError):
        DeidConfig(shift_max_days=3651)
    with pytest.raises(ValidationError):
        DeidConfig(kinds=("NAME", "SECRET"))
    with pytest.raises(ValidationError):
        DeidConfig(kinds=())
    with pytest.raises(ValidationError):
        DeidConfig(unknown_option=1)
    assert DeidConfig(kinds=("DATE", "NAME", "DATE")).kinds == ("DATE", "NAME")


def test_key_is_never_shown() -> None:
    cfg = DeidConfig(key="super-secret-key")
    assert "super-secret-key" not in repr(cfg) and "super-secret-key" not in str(cfg)
    assert "super-secret-key" not in cfg.model_dump_json()
    assert "super-secret-key" not in repr(Deidentifier(cfg).__dict__)


# ---------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "case_id": ["c1", "c2", "c3", "c4"],
            "patient_id": ["p1", "p1", "p2", None],
            "findings": ["Discussed with Dr. Okonkwo on 01/02/2020.", "Dr. Okonkwo agreed. MRN 12345678.", np.nan, "Normal chest."],
            "impression": ["No acute process.", "92-year-old.", "Seen at Mercy General.", 5],
        }
    )


def test_deidentify_frame_returns_a_copy_and_counts() -> None:
    frame = _frame()
    before = frame.copy()
    out, summary = deidentify_frame(frame, ["findings", "impression"], DeidConfig(engine="radtrust", key="k"))
    pd.testing.assert_frame_equal(frame, before)
    assert out is not frame and list(out.columns) == list(frame.columns)
    assert out.loc[0, "findings"] == "Discussed with Dr. [NAME] on [DATE]."
    assert out.loc[1, "impression"] == "[AGE]-year-old."
    assert pd.isna(out.loc[2, "findings"]) and out.loc[3, "impression"] == 5 and out.loc[3, "findings"] == "Normal chest."
    assert isinstance(summary, DeidSummary)
    assert summary.n_texts == 6 and summary.n_changed == 4
    assert summary.counts["NAME"] == 2 and summary.counts["DATE"] == 1 and summary.counts["ID"] == 1
    assert summary.counts["AGE"] == 1 and summary.counts["INSTITUTION"] == 1 and set(summary.counts) == set(KINDS)
    assert summary.engine == "radtrust recognizers" and summary.mode == "mask" and summary.shift_dates is False


def test_deidentify_frame_surrogates_follow_the_patient_column() -> None:
    deid = Deidentifier(DeidConfig(mode="surrogate", engine="radtrust", key="k"))
    frame = pd.DataFrame({"patient_id": ["p1", "p1", "p2"], "text": ["Dr. Okonkwo"] * 3})
    out, _ = deidentify_frame(frame, ["text"], deidentifier=deid)
    assert out.loc[0, "text"] == out.loc[1, "text"] == deid.deidentify("Dr. Okonkwo", "p1")
    assert out.loc[2, "text"] == deid.deidentify("Dr. Okonkwo", "p2")


def test_summary_holds_no_text() -> None:
    frame = _frame()
    _, summary = deidentify_frame(frame, ["findings", "impression"], DeidConfig(engine="radtrust", key="k"))
    blob = json.dumps(summary.to_dict())
    for secret in ("Okonkwo", "01/02/2020", "12345678", "Mercy", "92"):
        assert secret not in blob
    assert set(summary.to_dict()) == {"engine", "mode", "shift_dates", "keyed", "n_texts", "n_changed", "n_cut_back", "counts"}


def test_deidentify_frame_errors_name_columns_not_text() -> None:
    frame = _frame()
    with pytest.raises(InputError, match="'report'"):
        deidentify_frame(frame, ["report"])
    with pytest.raises(InputError, match="'subject'"):
        deidentify_frame(frame, ["findings"], patient_column="subject")
    out, _ = deidentify_frame(frame.drop(columns="patient_id"), ["findings"], DeidConfig(engine="radtrust"))
    assert out.loc[0, "findings"].startswith("Discussed with Dr. [NAME]")
