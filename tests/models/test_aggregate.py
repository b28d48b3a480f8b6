"""From view scores to breast, exam and woman scores (radtrust.models.aggregate) on hand-made cohorts
whose every aggregate can be worked out on paper."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from radtrust.data.schema import Cohort
from radtrust.errors import InputError
from radtrust.models.aggregate import ContralateralModel, aggregate_scores, aggregate_truth, density_class

FINDINGS = ["abnormal", "density_b"]

# W1 has two exams (S1 with all four views; S2 with the left breast only); W2 one exam.
VIEWS = [
    # case, woman, exam, side, view, p(abnormal), p(density_b)
    ("c1", "W1", "S1", "L", "CC", 0.2, 0.4),
    ("c2", "W1", "S1", "L", "MLO", 0.6, 0.6),
    ("c3", "W1", "S1", "R", "CC", 0.1, 0.5),
    ("c4", "W1", "S1", "R", "MLO", 0.3, 0.7),
    ("c5", "W1", "S2", "L", "CC", 0.9, 0.1),
    ("c6", "W1", "S2", "L", "MLO", 0.7, 0.3),
    ("c7", "W2", "S3", "L", "CC", 0.05, 0.8),
    ("c8", "W2", "S3", "L", "MLO", 0.15, 0.9),
    ("c9", "W2", "S3", "R", "CC", 0.5, 1.0),
    ("c10", "W2", "S3", "R", "MLO", 0.1, 0.6),
]


def _cohort(rows=VIEWS, drop: tuple[str, ...] = ()) -> Cohort:
    frame = pd.DataFrame(
        {
            "case_id": [r[0] for r in rows],
            "patient_id": [r[1] for r in rows],
            "study_id": [r[2] for r in rows],
            "laterality": [r[3] for r in rows],
            "view": [r[4] for r in rows],
            "image_path": [f"/nowhere/{r[0]}.png" for r in rows],
        }
    )
    return Cohort(frame.drop(columns=list(drop)))


@pytest.fixture
def cohort() -> Cohort:
    return _cohort()


@pytest.fixture
def probs() -> np.ndarray:
    return np.array([[r[5], r[6]] for r in VIEWS])


def _row(frame: pd.DataFrame, **keys) -> pd.Series:
    sel = np.ones(len(frame), dtype=bool)
    for k, v in keys.items():
        sel &= (frame[k] == v).to_numpy()
    assert sel.sum() == 1, (keys, frame)
    return frame.loc[sel].iloc[0]


def test_breast_mean_and_max_with_the_other_breast(cohort, probs):
    mean = aggregate_scores(cohort, probs, FINDINGS, "breast", "mean")
    assert len(mean) == 5  # S1 L/R, S2 L, S3 L/R
    assert list(mean[["study_id", "laterality"]].itertuples(index=False, name=None)) == [("S1", "L"), ("S1", "R"), ("S2", "L"), ("S3", "L"), ("S3", "R")]
    s1l, s1r, s2l = _row(mean, study_id="S1", laterality="L"), _row(mean, study_id="S1", laterality="R"), _row(mean, study_id="S2", laterality="L")
    assert s1l["n_views"] == 2 and s1l["prob_abnormal"] == pytest.approx(0.4) and s1r["prob_abnormal"] == pytest.approx(0.2)
    # the other breast of the same exam, and own - other
    assert s1l["other_abnormal"] == pytest.approx(0.2) and s1r["other_abnormal"] == pytest.approx(0.4)
    assert s1l["asymmetry_abnormal"] == pytest.approx(0.2) and s1r["asymmetry_abnormal"] == pytest.approx(-0.2)
    # S2 imaged the left breast only: no contralateral score, never the other exam's right breast
    assert np.isnan(s2l["other_abnormal"]) and np.isnan(s2l["asymmetry_abnormal"])
    assert s1l["other_density_b"] == pytest.approx(0.6)

    mx = aggregate_scores(cohort, probs, FINDINGS, "breast", "max")
    assert _row(mx, study_id="S1", laterality="L")["prob_abnormal"] == pytest.approx(0.6)
    assert _row(mx, study_id="S3", laterality="R")["prob_abnormal"] == pytest.approx(0.5)
    assert _row(mx, study_id="S1", laterality="R")["other_abnormal"] == pytest.approx(0.6)
    # density is tissue: the mean of the views even when lesions take the maximum
    assert _row(mx, study_id="S1", laterality="L")["prob_density_b"] == pytest.approx(0.5)
    assert _row(mx, study_id="S3", laterality="R")["prob_density_b"] == pytest.approx(0.8)


def test_exam_and_woman_levels_max_over_breasts_mean_density(cohort, probs):
    exam = aggregate_scores(cohort, probs, FINDINGS, "exam", "mean")
    assert list(exam["study_id"]) == ["S1", "S2", "S3"] and list(exam["n_views"]) == [4, 2, 4]
    assert "laterality" not in exam.columns and not any(c.startswith(("other_", "asymmetry_")) for c in exam.columns)
    # lesions: the larger of the two breast means; density: the mean over all views of the exam
    assert exam["prob_abnormal"].tolist() == pytest.approx([0.4, 0.8, 0.3])
    assert exam["prob_density_b"].tolist() == pytest.approx([0.55, 0.2, 0.825])
    exam_max = aggregate_scores(cohort, probs, FINDINGS, "exam", "max")
    assert exam_max["prob_abnormal"].tolist() == pytest.approx([0.6, 0.9, 0.5])
    assert exam_max["prob_density_b"].tolist() == pytest.approx([0.55, 0.2, 0.825])

    woman = aggregate_scores(cohort, probs, FINDINGS, "woman", "mean")
    assert list(woman["patient_id"]) == ["W1", "W2"] and list(woman["n_views"]) == [6, 4]
    assert woman["prob_abnormal"].tolist() == pytest.approx([0.8, 0.3])
    assert woman["prob_density_b"].tolist() == pytest.approx([(0.4 + 0.6 + 0.5 + 0.7 + 0.1 + 0.3) / 6, 0.825])


def test_aggregate_truth_any_positive_view_and_nan_handling(cohort):
    # abnormal: 1 in one view of S1 L; S2 L all NaN (n/a); -1 (uncertain) counts as n/a too.
    abn = [1, 0, 0, 0, np.nan, np.nan, -1, 0, np.nan, np.nan]
    dens = [1, 1, 0, 0, 0, 0, 1, 1, 1, 1]
    values = np.column_stack([abn, dens]).astype(float)
    breast = aggregate_truth(cohort, values, FINDINGS, "breast")
    assert list(breast[["study_id", "laterality"]].itertuples(index=False, name=None)) == [("S1", "L"), ("S1", "R"), ("S2", "L"), ("S3", "L"), ("S3", "R")]
    assert breast["abnormal"].tolist()[:2] == [1.0, 0.0]
    assert np.isnan(breast["abnormal"].iloc[2])  # every view n/a -> the breast is n/a, not negative
    assert breast["abnormal"].iloc[3] == 0.0  # the -1 view is left out, the 0 view decides
    assert np.isnan(breast["abnormal"].iloc[4])
    assert breast["density_b"].tolist() == pytest.approx([1.0, 0.0, 0.0, 1.0, 1.0])

    exam = aggregate_truth(cohort, values, FINDINGS, "exam")
    assert list(exam["study_id"]) == ["S1", "S2", "S3"]
    assert exam["abnormal"].iloc[0] == 1.0 and np.isnan(exam["abnormal"].iloc[1]) and exam["abnormal"].iloc[2] == 0.0
    assert exam["density_b"].tolist() == pytest.approx([0.5, 0.0, 1.0])  # tissue: mean
    woman = aggregate_truth(cohort, values, FINDINGS, "woman")
    assert woman["abnormal"].tolist() == [1.0, 0.0] and woman["density_b"].tolist() == pytest.approx([2 / 6, 1.0])


def test_truth_rows_line_up_with_score_rows(cohort, probs):
    for level in ("breast", "exam", "woman"):
        s = aggregate_scores(cohort, probs, FINDINGS, level)
        t = aggregate_truth(cohort, np.ones_like(probs), FINDINGS, level)
        keys = [k for k in ("patient_id", "study_id", "laterality") if k in t.columns]
        assert s[keys].astype(str).values.tolist() == t[keys].astype(str).values.tolist(), level


def test_density_class_is_the_argmax():
    frame = pd.DataFrame(
        {
            "prob_abnormal": [0.99, 0.99, 0.0],
            "prob_density_a": [0.1, 0.7, 0.2],
            "prob_density_b": [0.6, 0.1, 0.2],
            "prob_density_c": [0.3, 0.69, np.nan],
            "prob_density_d": [0.2, 0.0, 0.25],
        }
    )
    cats, names = density_class(frame)
    assert names == ["density_a", "density_b", "density_c", "density_d"]
    assert cats.tolist() == ["density_b", "density_a", "density_d"]
    truth = frame.rename(columns=lambda c: c.removeprefix("prob_"))
    assert density_class(truth, prefix="")[0].tolist() == ["density_b", "density_a", "density_d"]
    with pytest.raises(InputError, match="no density columns"):
        density_class(frame[["prob_abnormal"]])


def _screening(n_exams: int, seed: int) -> tuple[Cohort, np.ndarray, np.ndarray]:
    """Exams whose views share a per-exam tissue brightness (both breasts alike) on top of which an
    abnormal breast scores higher: the own score mixes tissue and lesion, the other breast shows the
    tissue alone, so the contralateral context separates them."""
    rng = np.random.default_rng(seed)
    rows, logits, truth = [], [], []
    for e in range(n_exams):
        tissue = rng.normal(0.0, 1.5)
        for side in ("L", "R"):
            abnormal = float(rng.random() < 0.3)
            for view in ("CC", "MLO"):
                rows.append((f"e{e}{side}{view}", f"W{e}", f"S{e}", side, view, 0.0, 0.0))
                logits.append([tissue + 2.0 * abnormal + rng.normal(0.0, 0.3), tissue + rng.normal(0.0, 0.3)])
                truth.append([abnormal, float(tissue > 0)])
    probs = 1.0 / (1.0 + np.exp(-np.asarray(logits)))
    return _cohort(rows), probs, np.asarray(truth)


def test_contralateral_model_uses_the_other_breast():
    fit_cohort, fit_probs, fit_truth = _screening(200, seed=0)
    test_cohort, test_probs, test_truth = _screening(150, seed=1)
    model = ContralateralModel().fit(fit_cohort, fit_probs, fit_truth, FINDINGS)
    assert set(model.coef_) == {"abnormal"}  # density is tissue: never given a contralateral model
    intercept, own_mean, own_max, other, has_other = model.coef_["abnormal"]
    assert other < -0.5 < 0.5 < own_mean + own_max  # a bright other breast lowers this breast's score

    pred = model.predict(test_cohort, test_probs, FINDINGS)
    own = aggregate_scores(test_cohort, test_probs, FINDINGS, "breast", "mean")
    y = aggregate_truth(test_cohort, test_truth, FINDINGS, "breast")["abnormal"].to_numpy()
    auc_own = roc_auc_score(y, own["prob_abnormal"])
    auc_ctx = roc_auc_score(y, pred["prob_abnormal"])
    assert auc_ctx > 0.9 and auc_ctx > auc_own + 0.08, (auc_own, auc_ctx)  # measured 0.94 vs 0.81
    # unfitted findings keep the plain breast mean; fitted ones are probabilities
    np.testing.assert_allclose(pred["prob_density_b"], own["prob_density_b"])
    assert pred["prob_abnormal"].between(0, 1).all() and not np.allclose(pred["prob_abnormal"], own["prob_abnormal"])
    d = model.to_dict()
    assert d["coefficients"]["abnormal"] == model.coef_["abnormal"]


def test_contralateral_model_skips_a_finding_with_one_class():
    c, p, t = _screening(20, seed=2)
    t[:, 0] = 0.0
    assert ContralateralModel().fit(c, p, t, FINDINGS).coef_ == {}


def test_errors_missing_laterality_unknown_level_bad_shapes(cohort, probs):
    no_side = _cohort(drop=("laterality",))
    with pytest.raises(InputError, match="laterality"):
        aggregate_scores(no_side, probs, FINDINGS, "breast")
    with pytest.raises(InputError, match="laterality"):
        aggregate_truth(no_side, probs, FINDINGS, "breast")
    with pytest.raises(InputError, match="unknown aggregation level 'study'"):
        aggregate_scores(cohort, probs, FINDINGS, "study")
    with pytest.raises(InputError, match="unknown aggregation level 'view'"):
        aggregate_truth(cohort, probs, FINDINGS, "view")
    with pytest.raises(InputError, match="unknown view aggregation 'median'"):
        aggregate_scores(cohort, probs, FINDINGS, "breast", "median")
    with pytest.raises(InputError, match="do not match 10 images x 2 findings"):
        aggregate_scores(cohort, probs[:5], FINDINGS, "breast")
