"""The mammography report labeler: BI-RADS, density, laterality and per-breast findings."""

from __future__ import annotations

import pandas as pd
import pytest

from radtrust.data.schema import Cohort, LabelTable
from radtrust.deid.door import CohortDeidentifier
from radtrust.errors import ConfigError, InputError
from radtrust.labeling.mammo import (
    MAMMO_COLUMNS,
    MAMMO_FINDINGS,
    MammoLabeler,
    mammo_findings_table,
    mammo_label_file,
    normalise_mammo_table,
)
from radtrust.synth.mammo_reports import MammoReportSynthConfig, synth_mammo_reports


@pytest.fixture(scope="module")
def lab() -> MammoLabeler:
    return MammoLabeler()


def lab1(lab: MammoLabeler, text: str, exam: str | None = None) -> dict:
    row = lab.label_report(text, exam)
    return {k: (None if v is pd.NA else v) for k, v in row.items()}


# ------------------------------------------------------------------ BI-RADS, density, laterality


@pytest.mark.parametrize(
    "text,expected",
    [
        ("IMPRESSION: Benign calcifications. BI-RADS 2: Benign.", 2),
        ("IMPRESSION: BIRADS category 4.", 4),
        ("ASSESSMENT: Negative (BI-RADS 1).", 1),
        ("IMPRESSION: Bi-Rads 0 - incomplete, needs additional imaging.", 0),
        ("IMPRESSION: Suspicious mass. BI-RADS 4A.", 4),
        ("IMPRESSION: BI-RADS® Assessment Category 4C: high suspicion for malignancy.", 4),
        ("IMPRESSION: ACR BI-RADS 5 – Highly suggestive of malignancy.", 5),
        ("IMPRESSION: Known cancer. BI-RADS: 6.", 6),
        ("IMPRESSION: Category 3 - Probably benign.", 3),
        ("ASSESSMENT: Benign.", 2),
        ("Overall assessment: Incomplete.", 0),
        ("IMPRESSION: Right breast: BI-RADS 2. Left breast: BI-RADS 4B.", 4),  # hierarchy: most concerning
        ("IMPRESSION: Right breast: BI-RADS 6. Left breast: BI-RADS 0.", 0),  # 0 ranks above 6
        ("FINDINGS: Breast density: category 3. IMPRESSION: Negative mammogram. ASSESSMENT: Negative.", 1),
        ("FINDINGS: Prior exam was BI-RADS 3. IMPRESSION: BI-RADS 2: Benign.", 2),
        ("FINDINGS: No suspicious masses.", None),
    ],
)
def test_birads_forms(lab, text, expected):
    assert lab1(lab, text)["birads"] == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("The breasts are almost entirely fatty.", "A"),
        ("There are scattered areas of fibroglandular density.", "B"),
        ("The breasts are heterogeneously dense, which may obscure small masses.", "C"),
        ("The breasts are extremely dense, which lowers the sensitivity of mammography.", "D"),
        ("Breast density: B.", "B"),
        ("ACR C.", "C"),
        ("Category 3 density.", "C"),
        ("BI-RADS density 4.", "D"),
        ("BREAST COMPOSITION: a. Fatty.", "A"),
        ("Breast density: category 2.", "B"),
        ("Heterogenously dense tissue (ACR c).", "C"),
        ("No suspicious findings.", None),
    ],
)
def test_density_forms(lab, text, expected):
    assert lab1(lab, "FINDINGS: " + text + " IMPRESSION: BI-RADS 1.")["density"] == expected


@pytest.mark.parametrize(
    "exam,text,expected",
    [
        ("MAMMO SCREENING BILATERAL W/TOMO", "No suspicious findings.", "B"),
        ("MAMMO DIAG LT", "No suspicious findings.", "L"),
        ("Diagnostic mammogram, right breast", "No suspicious findings.", "R"),
        ("Unilateral left screening mammogram (s/p right mastectomy)", "No suspicious findings.", "L"),
        (None, "RCC and RMLO views. No suspicious findings.", "R"),
        (None, "Standard CC and MLO views of both breasts were obtained. No suspicious masses.", "B"),
        (None, "Status post right mastectomy. Left screening mammogram. Negative.", "L"),
        (None, "EXAM: Left diagnostic mammogram. FINDINGS: Negative.", "L"),
        (None, "There is a 6 mm mass in the right breast at 10 o'clock.", "R"),
    ],
)
def test_laterality(lab, exam, text, expected):
    assert lab1(lab, text, exam)["laterality"] == expected


# ------------------------------------------------------------------ findings


def test_negation_list_covers_both_breasts(lab):
    r = lab1(lab, "No suspicious masses, calcifications, or areas of architectural distortion.", "MAMMO SCREEN BIL")
    for side in ("left", "right"):
        assert r[f"{side}_mass"] == 0 and r[f"{side}_calcification"] == 0 and r[f"{side}_architectural_distortion"] == 0
        assert r[f"{side}_asymmetry"] is None  # not mentioned


def test_unilateral_negation_stays_in_the_imaged_breast(lab):
    r = lab1(lab, "No suspicious masses or calcifications.", "MAMMO DIAG RT")
    assert r["right_mass"] == 0 and r["left_mass"] is None


def test_positive_with_clock_size_and_side(lab):
    r = lab1(lab, "There is an 8 mm irregular mass in the left breast at 2 o'clock, middle depth, 4 cm from the nipple. No suspicious calcifications.", "MAMMO DIAG BIL")
    assert r["left_mass"] == 1 and r["right_mass"] is None
    assert r["left_calcification"] == 0 and r["right_calcification"] == 0


def test_per_breast_headers(lab):
    text = "RIGHT BREAST: A 1.2 cm spiculated mass at 10:00. No calcifications. LEFT BREAST: Benign vascular calcifications. No masses."
    r = lab1(lab, text, "MAMMO DIAG BIL")
    assert (r["right_mass"], r["right_calcification"]) == (1, 0)
    assert (r["left_mass"], r["left_calcification"]) == (0, 1)


def test_two_sides_in_one_sentence(lab):
    r = lab1(lab, "There is a mass in the right breast and calcifications are seen in the left breast.")
    assert r["right_mass"] == 1 and r["left_mass"] is None
    assert r["left_calcification"] == 1 and r["right_calcification"] is None


def test_bilateral_and_quadrant_abbreviations(lab):
    r = lab1(lab, "Scattered benign calcifications bilaterally. Focal asymmetry in the LUOQ.", "MAMMO SCREEN BIL")
    assert r["left_calcification"] == 1 and r["right_calcification"] == 1
    assert r["left_asymmetry"] == 1 and r["right_asymmetry"] is None


def test_benign_stable_and_probably_benign_are_positive(lab):
    r = lab1(lab, "Stable benign-appearing calcifications in the right breast, unchanged since 2019. Probably benign oval mass in the right breast at 7 o'clock.", "MAMMO DIAG RT")
    assert r["right_calcification"] == 1 and r["right_mass"] == 1


def test_hedged_finding_is_uncertain(lab):
    r = lab1(lab, "Possible asymmetry in the left breast. Additional imaging is recommended.", "MAMMO SCREEN BIL")
    assert r["left_asymmetry"] == -1


def test_no_new_and_resolved_are_negative(lab):
    r = lab1(lab, "No new masses. The previously seen asymmetry in the right breast has resolved.", "MAMMO DIAG RT")
    assert r["right_mass"] == 0 and r["right_asymmetry"] == 0


def test_density_boilerplate_is_not_a_mass(lab):
    r = lab1(lab, "The breasts are heterogeneously dense, which may obscure small masses. No suspicious findings.", "MAMMO SCREEN BIL")
    assert r["left_mass"] is None and r["right_mass"] is None


def test_indeterminate_is_a_descriptor_not_a_hedge(lab):
    r = lab1(lab, "Cluster of indeterminate calcifications in the left breast at 3 o'clock.", "MAMMO DIAG LT")
    assert r["left_calcification"] == 1


def test_history_is_not_positive(lab):
    text = (
        "CLINICAL HISTORY: History of left breast cancer. Palpable lump in the right breast. Prior mass in the left breast. "
        "FINDINGS: The patient has a history of left breast calcifications. Prior benign biopsy of calcifications in the left breast, clip in place. "
        "A BB marker was placed over the palpable lump in the right breast. No mammographic abnormality at this site. "
        "IMPRESSION: Negative. BI-RADS 1."
    )
    r = lab1(lab, text, "MAMMO DIAG BIL")
    assert all(r[c] in (None, 0) for c in MAMMO_FINDINGS)
    assert r["birads"] == 1


def test_indication_column_is_not_read(lab):
    frame = pd.DataFrame(
        {
            "case_id": ["a"],
            "patient_id": ["p"],
            "exam": ["MAMMO DIAG LT"],
            "indication": ["Palpable mass in the left breast; suspicious calcifications."],
            "findings": ["No suspicious masses or calcifications."],
            "impression": ["BI-RADS 1: Negative."],
        }
    )
    out = lab.label(Cohort(frame))
    assert out.loc[0, "left_mass"] == 0 and out.loc[0, "left_calcification"] == 0


def test_impression_unsided_mention_follows_findings(lab):
    r = lab1(lab, "FINDINGS: Irregular mass in the left breast at 2 o'clock. IMPRESSION: Suspicious mass. BI-RADS 4.", "MAMMO DIAG BIL")
    assert r["left_mass"] == 1 and r["right_mass"] is None


# ------------------------------------------------------------------ table shape, files, options


def test_label_table_shape_and_dtypes(lab):
    cohort, _ = synth_mammo_reports(MammoReportSynthConfig(n=40, seed=0))
    out = lab.label(cohort)
    assert list(out.columns) == [*MAMMO_COLUMNS, "label_source"]
    assert str(out["birads"].dtype) == "Int8" and all(str(out[c].dtype) == "Int8" for c in MAMMO_FINDINGS)
    normalise_mammo_table(out)
    table = mammo_findings_table(out)
    assert isinstance(table, LabelTable) and table.findings == list(MAMMO_FINDINGS)
    assert table.source == lab.label_source


def test_normalise_rejects_bad_values():
    frame = pd.DataFrame({c: [1] for c in MAMMO_COLUMNS} | {"case_id": ["a"], "density": ["E"], "laterality": ["L"]})
    with pytest.raises(InputError):
        normalise_mammo_table(frame)
    with pytest.raises(InputError):
        normalise_mammo_table(frame.drop(columns=["birads"]))


def test_label_file(tmp_path):
    cohort, _ = synth_mammo_reports(MammoReportSynthConfig(n=30, seed=4))
    src = tmp_path / "in.csv"
    cohort.frame.to_csv(src, index=False)
    out = mammo_label_file(src, tmp_path / "labels.csv", deid=CohortDeidentifier())
    back = normalise_mammo_table(pd.read_csv(tmp_path / "labels.csv"))
    assert len(back) == len(out) == 30
    with pytest.raises(InputError):
        mammo_label_file(tmp_path / "missing.csv", tmp_path / "x.csv", deid=None)


def test_bad_options():
    with pytest.raises(ConfigError):
        MammoLabeler(likely_as="maybe")
    with pytest.raises(ConfigError):
        MammoLabeler(max_cue_distance=-1)


def test_accuracy_on_synthetic_reports(lab):
    cohort, truth = synth_mammo_reports(MammoReportSynthConfig(n=600, seed=21))
    pred = lab.label(cohort)
    for col in ("birads", "density", "laterality"):
        acc = (pred[col].astype("string").fillna("?") == truth[col].astype("string")).mean()
        assert acc >= 0.97, (col, acc)
    v = pred[list(MAMMO_FINDINGS)].astype("float64").to_numpy()
    p = (v == 1) | (v == -1)
    g = truth[list(MAMMO_FINDINGS)].astype(int).to_numpy() == 1
    tp, fp, fn = (p & g).sum(), (p & ~g).sum(), (~p & g).sum()
    f1 = 2 * tp / (2 * tp + fp + fn)
    assert f1 >= 0.95, f1
