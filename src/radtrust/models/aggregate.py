"""From view scores to breast, exam and woman scores: the units a screening reader decides on.

A mammography model scores each view, but a finding belongs to a breast (seen in its CC and MLO views),
recall is decided per exam (both breasts), and a woman may have several screening rounds. Lesions are
often visible in one view only, so a breast's score is the mean or the maximum of its views (the two
standard choices, e.g. Wu et al., IEEE TMI 2020, average view-wise predictions per breast). The other
breast of the same exam is the reader's natural reference (asymmetry), so breast rows also carry the
contralateral score and its difference, and :class:`ContralateralModel` can learn, on validation data
only, how much that context should move a breast's score.

Findings whose name starts with ``density`` describe the woman's tissue, not a lesion: they are averaged
over every view at every level instead of taking a maximum.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from radtrust.data.schema import Cohort
from radtrust.errors import InputError

LEVELS: dict[str, tuple[str, ...]] = {
    "breast": ("patient_id", "study_id", "laterality"),
    "exam": ("patient_id", "study_id"),
    "woman": ("patient_id",),
}


def is_tissue_finding(finding: str) -> bool:
    """Breast density is a property of the whole breast tissue: averaged, never maxed."""
    return finding.lower().startswith("density")


def _keys(cohort: Cohort, level: str) -> list[str]:
    if level not in LEVELS:
        raise InputError(f"unknown aggregation level '{level}' (use {', '.join(LEVELS)})")
    keys = list(LEVELS[level])
    missing = [k for k in keys if k not in cohort.frame.columns]
    if missing:
        raise InputError(f"{cohort.source}: {level}-level aggregation needs column(s) {', '.join(missing)}")
    return keys


def aggregate_scores(cohort: Cohort, probs: np.ndarray, findings: Sequence[str], level: str = "breast", how: str = "mean") -> pd.DataFrame:
    """One row per breast / exam / woman: ``n_views`` and ``prob_<finding>``.

    Breast level: ``how`` ("mean" or "max") over the breast's views. Exam and woman level: the maximum
    over breasts of the breast scores (a woman is abnormal if either breast is), except tissue findings
    (density), which are the mean over all views. Breast rows also hold ``other_<finding>``, the other
    breast's score in the same exam (NaN when it was not imaged), and ``asymmetry_<finding>`` = own - other.
    """
    if how not in ("mean", "max"):
        raise InputError(f"unknown view aggregation '{how}' (use mean or max)")
    probs = np.asarray(probs, dtype=float)
    if probs.shape != (len(cohort), len(findings)):
        raise InputError(f"scores of shape {probs.shape} do not match {len(cohort)} images x {len(findings)} findings")
    frame = cohort.frame[[k for k in ("patient_id", "study_id", "laterality") if k in cohort.frame.columns]].copy()
    cols = [f"prob_{f}" for f in findings]
    frame[cols] = probs
    breast_keys = _keys(cohort, "breast")
    breast = frame.groupby(breast_keys, sort=True, dropna=False)
    agg = {c: ("mean" if is_tissue_finding(f) else how) for c, f in zip(cols, findings)}
    out = breast.agg(agg)
    out.insert(0, "n_views", breast.size())
    out = out.reset_index()
    if level == "breast":
        other = out.copy()
        other["laterality"] = other["laterality"].map({"L": "R", "R": "L"})
        other = other.rename(columns={c: f"other_{f}" for c, f in zip(cols, findings)}).drop(columns="n_views")
        out = out.merge(other, on=breast_keys, how="left")
        for c, f in zip(cols, findings):
            out[f"asymmetry_{f}"] = out[c] - out[f"other_{f}"]
        return out
    keys = _keys(cohort, level)
    # Tissue findings: mean over all views of the exam/woman; lesion findings: max over breasts.
    view_level = frame.groupby(keys, sort=True)
    result = out.groupby(keys, sort=True).agg({c: "max" for c in cols})
    for c, f in zip(cols, findings):
        if is_tissue_finding(f):
            result[c] = view_level[c].mean()
    result.insert(0, "n_views", view_level.size())
    return result.reset_index()


def aggregate_truth(cohort: Cohort, values: np.ndarray, findings: Sequence[str], level: str = "breast") -> pd.DataFrame:
    """Per-view truth (1, 0, NaN = does not apply) at the same level and row order as
    :func:`aggregate_scores`: positive if any view (any breast) is; tissue findings take the mean."""
    values = np.asarray(values, dtype=float)
    frame = cohort.frame[[k for k in ("patient_id", "study_id", "laterality") if k in cohort.frame.columns]].copy()
    cols = list(findings)
    frame[cols] = np.where(values < 0, np.nan, values)
    keys = _keys(cohort, level)
    agg = {c: ("mean" if is_tissue_finding(c) else "max") for c in cols}
    return frame.groupby(keys, sort=True, dropna=False).agg(agg).reset_index()


def density_class(frame: pd.DataFrame, prefix: str = "prob_") -> tuple[pd.Series, list[str]]:
    """The density category with the highest score, from one-vs-rest ``<prefix>density_*`` columns.

    Density is learned as one binary output per category; the category read out is their argmax."""
    cols = [c for c in frame.columns if c.startswith(f"{prefix}density")]
    if not cols:
        raise InputError("no density columns to read a category from")
    values = frame[cols].to_numpy(dtype=float)
    names = [c[len(prefix) :] for c in cols]
    return pd.Series(np.asarray(names, dtype=object)[np.nanargmax(np.nan_to_num(values, nan=-np.inf), axis=1)], index=frame.index), names


class ContralateralModel:
    """A breast's score from its own views and the other breast's, fitted on validation breasts.

    Logistic regression on the logits of [own mean, own max, other breast's mean] (the other breast's
    logit is 0 where it is missing, with an indicator). Fitted per lesion finding on the validation
    women only, like thresholds; readers compare the two breasts, and this lets the data say how much a
    bright-but-symmetric pattern (dense tissue) should count less than an asymmetric one.
    """

    def __init__(self, C: float = 1.0) -> None:
        self.C = C
        self.coef_: dict[str, list[float]] = {}

    @staticmethod
    def _design(mean: np.ndarray, mx: np.ndarray, other: np.ndarray) -> np.ndarray:
        def logit(p: np.ndarray) -> np.ndarray:
            p = np.clip(p, 1e-4, 1 - 1e-4)
            return np.log(p / (1 - p))

        has_other = ~np.isnan(other)
        return np.column_stack([logit(mean), logit(mx), np.where(has_other, logit(np.nan_to_num(other, nan=0.5)), 0.0), has_other.astype(float)])

    def fit(self, cohort: Cohort, probs: np.ndarray, truth: np.ndarray, findings: Sequence[str]) -> ContralateralModel:
        mean = aggregate_scores(cohort, probs, findings, "breast", "mean")
        mx = aggregate_scores(cohort, probs, findings, "breast", "max")
        y = aggregate_truth(cohort, truth, findings, "breast")
        for f in findings:
            if is_tissue_finding(f):
                continue
            keep = ~np.isnan(y[f].to_numpy())
            yf = y[f].to_numpy()[keep]
            if len(np.unique(yf)) < 2:
                continue
            X = self._design(mean[f"prob_{f}"].to_numpy()[keep], mx[f"prob_{f}"].to_numpy()[keep], mean[f"other_{f}"].to_numpy()[keep])
            lr = LogisticRegression(C=self.C).fit(X, yf.astype(int))
            self.coef_[f] = [float(lr.intercept_[0]), *map(float, lr.coef_[0])]
        return self

    def predict(self, cohort: Cohort, probs: np.ndarray, findings: Sequence[str]) -> pd.DataFrame:
        """Breast rows as :func:`aggregate_scores` (mean), with ``prob_<finding>`` replaced for fitted findings."""
        mean = aggregate_scores(cohort, probs, findings, "breast", "mean")
        mx = aggregate_scores(cohort, probs, findings, "breast", "max")
        for f, coef in self.coef_.items():
            X = self._design(mean[f"prob_{f}"].to_numpy(), mx[f"prob_{f}"].to_numpy(), mean[f"other_{f}"].to_numpy())
            z = coef[0] + X @ np.asarray(coef[1:])
            mean[f"prob_{f}"] = 1.0 / (1.0 + np.exp(-z))
        return mean

    def to_dict(self) -> dict:
        return {"model": "logistic regression on logits [own mean, own max, other breast mean, other present]", "C": self.C, "coefficients": self.coef_}
