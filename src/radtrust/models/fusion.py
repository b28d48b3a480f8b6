"""Late fusion of an image model and a report model, per breast.

Each model keeps its own training (and its own privacy record); fusion combines their breast scores with
a logistic regression on the two logits, fitted on validation breasts only (Baltrušaitis et al., TPAMI
2019, call this model-agnostic late fusion). It needs no paired training of the two networks, works when
one modality is missing for some exams (the missing logit is 0 with an indicator), and its weights say
how much each modality is trusted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from radtrust.errors import InputError

SIDES = {"L": "left", "R": "right"}


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def report_breast_scores(report_ids: Sequence[str], probs: np.ndarray, findings: Sequence[str]) -> pd.DataFrame:
    """Per report and side, the probability that the report describes any finding in that breast.

    ``findings`` are per-side columns such as ``left_mass`` / ``right_calcification`` (the mammography
    report labels); a breast's score is 1 - Π(1 - p) over its side's findings (any of them present,
    treating them as independent).
    """
    probs = np.asarray(probs, dtype=float)
    rows = []
    for lat, word in SIDES.items():
        cols = [j for j, f in enumerate(findings) if f.startswith(f"{word}_")]
        if not cols:
            raise InputError(f"no '{word}_*' findings among the report model's outputs: cannot score breasts")
        score = 1.0 - np.prod(1.0 - probs[:, cols], axis=1)
        rows.append(pd.DataFrame({"report_id": list(report_ids), "laterality": lat, "report_score": score}))
    return pd.concat(rows, ignore_index=True)


class LateFusion:
    """Breast probability from an image score and a report score: logistic regression on their logits."""

    def __init__(self, C: float = 1.0) -> None:
        self.C = C
        self.coef_: list[float] | None = None

    @staticmethod
    def _design(image: np.ndarray, report: np.ndarray) -> np.ndarray:
        image, report = np.asarray(image, dtype=float), np.asarray(report, dtype=float)
        has_report = ~np.isnan(report)
        return np.column_stack([_logit(np.nan_to_num(image, nan=0.5)), np.where(has_report, _logit(np.nan_to_num(report, nan=0.5)), 0.0), has_report.astype(float)])

    def fit(self, image: np.ndarray, report: np.ndarray, y: np.ndarray) -> LateFusion:
        y = np.asarray(y, dtype=float)
        keep = ~np.isnan(y)
        if len(np.unique(y[keep])) < 2:
            raise InputError("late fusion needs both positive and negative validation breasts")
        lr = LogisticRegression(C=self.C).fit(self._design(image, report)[keep], y[keep].astype(int))
        self.coef_ = [float(lr.intercept_[0]), *map(float, lr.coef_[0])]
        return self

    def predict_proba(self, image: np.ndarray, report: np.ndarray) -> np.ndarray:
        if self.coef_ is None:
            raise RuntimeError("LateFusion is not fitted")
        z = self.coef_[0] + self._design(image, report) @ np.asarray(self.coef_[1:])
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict:
        names = ["intercept", "image_logit", "report_logit", "report_present"]
        return {"model": "logistic regression on logits, fitted on validation breasts", "C": self.C, "coefficients": dict(zip(names, self.coef_ or []))}
