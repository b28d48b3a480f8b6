"""Scores of a mammography image model at the units readers decide on, with woman-clustered intervals.

View scores are aggregated to breasts (normal vs abnormal, benign vs malignant) and exams (density), see
:mod:`radtrust.models.aggregate`; every interval resamples women, since a woman's breasts, views and
screening rounds are correlated. Results are broken down by density (lesions hide in dense tissue), by
site and by scanner make, the strata a screening programme must check before trusting a model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score

from radtrust.data.schema import Cohort
from radtrust.models.aggregate import aggregate_scores, aggregate_truth, density_class, is_tissue_finding
from radtrust.stats import N_BOOT, auroc_or_nan, clustered_interval


def auroc_with_ci(y: np.ndarray, score: np.ndarray, clusters: np.ndarray, n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """AUROC, its woman-clustered 95% interval and the counts it rests on (NaN labels left out)."""
    y, score, clusters = np.asarray(y, dtype=float), np.asarray(score, dtype=float), np.asarray(clusters)
    keep = ~np.isnan(y) & ~np.isnan(score)
    y, score, clusters = y[keep], score[keep], clusters[keep]
    out = {"n": int(len(y)), "n_positive": int((y == 1).sum()), "n_women": int(len(np.unique(clusters)))}
    if len(np.unique(y)) < 2:
        return out | {"auroc": None, "ci95": None}
    return out | {"auroc": auroc_or_nan(y, score), "ci95": clustered_interval(auroc_or_nan, y, score, clusters, n_boot, seed)}


def _accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(y == pred))


def score_images(
    cohort: Cohort,
    probs: np.ndarray,
    truth: np.ndarray,
    findings: Sequence[str],
    breast_how: str = "mean",
    strata: Sequence[str] = ("density", "site", "manufacturer"),
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> dict:
    """Breast- and exam-level scores of view probabilities against view truth (1, 0, NaN = n/a).

    * per lesion finding (e.g. abnormal, malignant): breast-level AUROC with a woman-clustered 95% CI,
      overall and per stratum (``density``, ``site``, ``manufacturer``: columns of the cohort, taken per
      breast from its first view);
    * density (one-vs-rest ``density_*`` outputs): exam-level accuracy and balanced accuracy of the
      argmax category, with a woman-clustered CI for the accuracy.
    """
    findings = list(findings)
    breast = aggregate_scores(cohort, probs, findings, "breast", breast_how)
    btruth = aggregate_truth(cohort, truth, findings, "breast")
    women = breast["patient_id"].to_numpy()
    keys = ["patient_id", "study_id", "laterality"]
    first = cohort.frame.drop_duplicates(keys).set_index(keys)
    out: dict = {"level": "breast", "breast_aggregation": breast_how, "n_breasts": int(len(breast)), "n_women": int(len(np.unique(women))), "findings": {}}
    for f in findings:
        if is_tissue_finding(f):
            continue
        y, s = btruth[f].to_numpy(dtype=float), breast[f"prob_{f}"].to_numpy(dtype=float)
        res = auroc_with_ci(y, s, women, n_boot, seed)
        res["by"] = {}
        for col in strata:
            if col not in first.columns:
                continue
            values = first.loc[list(zip(*(breast[k] for k in keys)))][col].astype("string").fillna("unknown").to_numpy()
            res["by"][col] = {str(v): auroc_with_ci(y[values == v], s[values == v], women[values == v], n_boot, seed) for v in sorted(set(values))}
        out["findings"][f] = res
    density_cols = [f for f in findings if is_tissue_finding(f)]
    if density_cols:
        exam = aggregate_scores(cohort, probs, findings, "exam", breast_how)
        etruth = aggregate_truth(cohort, truth, findings, "exam")
        known = etruth[density_cols].notna().all(axis=1).to_numpy()
        pred, names = density_class(exam)
        true_cls = np.asarray(names, dtype=object)[np.nanargmax(np.nan_to_num(etruth[density_cols].to_numpy(dtype=float), nan=-1.0), axis=1)]
        y_true, y_pred, ew = true_cls[known], pred.to_numpy()[known], exam["patient_id"].to_numpy()[known]
        out["density"] = {
            "level": "exam",
            "classes": names,
            "n_exams": int(known.sum()),
            "accuracy": _accuracy(y_true, y_pred) if known.any() else None,
            "accuracy_ci95": clustered_interval(_accuracy, y_true, y_pred, ew, n_boot, seed) if known.any() else None,
            "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)) if known.any() else None,
            "confusion": pd.crosstab(pd.Series(y_true, name="true"), pd.Series(y_pred, name="predicted")).to_dict() if known.any() else {},
        }
    out["ci_method"] = f"woman-clustered percentile bootstrap, {n_boot} resamples, seed {seed}"
    return out
