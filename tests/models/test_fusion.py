"""Late fusion of an image model and a report model per breast (radtrust.models.fusion)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from radtrust.errors import InputError
from radtrust.labeling.mammo import MAMMO_FINDINGS
from radtrust.models.fusion import LateFusion, report_breast_scores


def test_report_breast_scores_any_finding_per_side():
    findings = list(MAMMO_FINDINGS)  # left_mass ... left_asymmetry, right_mass ... right_asymmetry
    probs = np.array(
        [
            [0.5, 0.5, 0.0, 0.0, 0.1, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            [1.0, 0.2, 0.3, 0.4, 0.2, 0.2, 0.2, 0.2],
        ]
    )
    out = report_breast_scores(["R1", "R2", "R3"], probs, findings)
    assert list(out.columns) == ["report_id", "laterality", "report_score"]
    assert list(out["report_id"]) == ["R1", "R2", "R3"] * 2 and list(out["laterality"]) == ["L"] * 3 + ["R"] * 3
    left = out[out["laterality"] == "L"]["report_score"].to_numpy()
    right = out[out["laterality"] == "R"]["report_score"].to_numpy()
    assert left == pytest.approx([1 - 0.5 * 0.5, 0.0, 1.0])
    assert right == pytest.approx([0.1, 0.0, 1 - 0.8**4])
    # columns are found by their side prefix, in any order, and other outputs are ignored
    shuffled = [findings[j] for j in (7, 0, 3, 4, 1, 6, 2, 5)] + ["birads_4"]
    again = report_breast_scores(["R1", "R2", "R3"], np.column_stack([probs[:, (7, 0, 3, 4, 1, 6, 2, 5)], np.full(3, 0.9)]), shuffled)
    np.testing.assert_allclose(again["report_score"], out["report_score"])


def test_report_breast_scores_needs_both_sides():
    with pytest.raises(InputError, match="no 'right_\\*' findings"):
        report_breast_scores(["R1"], np.array([[0.3, 0.2]]), ["left_mass", "left_calcification"])


def _breasts(n: int, seed: int, missing_report: float = 0.0):
    """Breasts whose image score and report score are independent noisy readings of the truth."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(float)
    image = 1 / (1 + np.exp(-(2.0 * y - 1.0 + rng.normal(0, 1.2, n))))
    report = 1 / (1 + np.exp(-(2.0 * y - 1.0 + rng.normal(0, 1.2, n))))
    report[rng.random(n) < missing_report] = np.nan
    return image, report, y


def test_late_fusion_beats_either_modality():
    image, report, y = _breasts(600, seed=0)
    fusion = LateFusion().fit(image, report, y)
    intercept, w_image, w_report, w_present = fusion.coef_
    assert w_image > 0.3 and w_report > 0.3  # both modalities trusted
    assert fusion.to_dict()["coefficients"]["image_logit"] == w_image

    image_t, report_t, y_t = _breasts(600, seed=1)
    fused = fusion.predict_proba(image_t, report_t)
    assert fused.shape == (600,) and ((fused > 0) & (fused < 1)).all()
    auc_image, auc_report, auc_fused = (roc_auc_score(y_t, s) for s in (image_t, report_t, fused))
    assert auc_fused > max(auc_image, auc_report) + 0.03, (auc_image, auc_report, auc_fused)


def test_late_fusion_with_missing_reports():
    image, report, y = _breasts(800, seed=2, missing_report=0.3)
    fusion = LateFusion().fit(image, report, y)
    image_t, report_t, y_t = _breasts(800, seed=3, missing_report=0.3)
    fused = fusion.predict_proba(image_t, report_t)
    assert np.isfinite(fused).all()
    gone = np.isnan(report_t)
    # a breast without a report is scored from its image alone: a monotone function of the image score
    order = np.argsort(image_t[gone])
    assert (np.diff(fused[gone][order]) >= -1e-12).all()
    # with a report the fused score still beats the image alone on those breasts
    has = ~gone
    assert roc_auc_score(y_t[has], fused[has]) > roc_auc_score(y_t[has], image_t[has]) + 0.03
    # breasts without truth (NaN) are left out of the fit rather than failing it
    y_nan = y.copy()
    y_nan[:50] = np.nan
    assert LateFusion().fit(image, report, y_nan).coef_ is not None


def test_late_fusion_errors():
    image, report, _ = _breasts(40, seed=4)
    with pytest.raises(InputError, match="both positive and negative"):
        LateFusion().fit(image, report, np.ones(40))
    with pytest.raises(InputError, match="both positive and negative"):
        LateFusion().fit(image, report, np.r_[np.zeros(39), np.nan])
    with pytest.raises(RuntimeError, match="not fitted"):
        LateFusion().predict_proba(image, report)
