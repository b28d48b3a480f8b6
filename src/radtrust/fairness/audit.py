"""Subgroup audit: per group and finding, the rates a reviewer asks for, with patient-clustered intervals,
gaps between groups with their own intervals, and corrected tests.

Shaped like fairlearn's ``MetricFrame`` (``overall``, ``by_group``, ``difference()``), and the point
estimates per group come from ``MetricFrame`` itself; what fairlearn does not do, and this adds:

* 95% intervals from a bootstrap that resamples **patients** (all of a patient's reports together), the
  same resamples for every group, finding and metric, so gaps (max − min, equalized-odds difference)
  get intervals from the joint resamples;
* tests of each group against a reference group: unpaired DeLong (Obuchowski's clustered variance) for
  AUROC, the bootstrap for rates, with Holm or Benjamini–Hochberg correction over all comparisons made;
* the underdiagnosis rate (Seyyed-Kalantari et al., 2021): among cases with a finding, the share the model
  calls normal;
* a minimum cell size below which a group is reported as too small to judge instead of given numbers.

Decisions are the run's own (thresholds chosen on its validation split, never on the audited data).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from radtrust.data.groups import DEFAULT_AGE_CUTS, group_values
from radtrust.data.io import write_json
from radtrust.labeling.vocab import SUMMARY_COLUMNS
from radtrust.progress import progress_bar
from radtrust.stats import (
    adjust_p_values,
    bootstrap_difference_p_value,
    cluster_bootstrap_weights,
    expected_calibration_error,
    percentile_interval,
    unpaired_delong_test,
    weighted_auroc,
)

RATE_METRICS = ("tpr", "fpr", "ppv", "f1")
METRICS = (*RATE_METRICS, "auroc", "ece")
#: For the worst group: the lowest value is worst, except for these, where the highest is.
HIGHER_IS_WORSE = {"fpr", "ece", "underdiagnosis_rate"}
METRIC_NAMES = {
    "tpr": "sensitivity (TPR)",
    "fpr": "false positive rate",
    "ppv": "positive predictive value",
    "f1": "F1",
    "auroc": "AUROC",
    "ece": "calibration error (ECE)",
    "underdiagnosis_rate": "underdiagnosis rate",
}
NOT_A_DISEASE = ("Support Devices",)
TOO_SMALL = "too small to judge"
FEW_EVENTS = "too few events"


@dataclass
class AuditConfig:
    """What to audit and how strictly.

    ``min_cell_size``: a group with fewer cases is shown as too small to judge (no estimate, no interval).
    ``min_events``: within a judged group, a rate whose denominator (positives for TPR and AUROC,
    negatives for FPR, predicted positives for PPV) is smaller is shown as too few events.
    """

    attributes: list[str]
    age_cuts: tuple[float, ...] = DEFAULT_AGE_CUTS
    min_cell_size: int = 30
    min_events: int = 10
    n_boot: int = 1000
    seed: int = 0
    correction: Literal["holm", "fdr_bh"] = "holm"
    n_bins: int = 10
    alpha: float = 0.05
    reference: dict[str, str] = field(default_factory=dict)  # attribute -> reference group (default: largest)


@dataclass
class SubgroupAudit:
    """The audit result. Tables are pandas frames; :meth:`to_dict` gives the JSON written to disk."""

    overall: pd.DataFrame
    by_group: pd.DataFrame
    underdiagnosis: pd.DataFrame
    gaps: pd.DataFrame
    tests: pd.DataFrame
    meta: dict
    adjusted: list[dict] = field(default_factory=list)

    def difference(self, metric: str = "tpr", finding: str | None = None) -> pd.DataFrame:
        """max − min between groups per attribute (and finding), like ``MetricFrame.difference()``."""
        g = self.gaps[self.gaps["metric"] == metric]
        if finding is not None:
            g = g[g["finding"] == finding]
        return g.set_index(["attribute", "finding"])[["max_minus_min", "max_minus_min_low", "max_minus_min_high"]]

    def to_dict(self) -> dict:
        return _jsonable(
            {
                **self.meta,
                "overall": self.overall.to_dict(orient="records"),
                "by_group": self.by_group.to_dict(orient="records"),
                "underdiagnosis": self.underdiagnosis.to_dict(orient="records"),
                "gaps": self.gaps.to_dict(orient="records"),
                "tests": self.tests.to_dict(orient="records"),
                "adjusted_disparities": self.adjusted,
            }
        )

    def to_json(self, path: str | Path | None = None) -> str:
        """:meth:`to_dict` as JSON; with ``path``, also written there atomically (what ``radtrust audit fairness`` writes)."""
        d = self.to_dict()
        if path is not None:
            write_json(d, path)
        return json.dumps(d, indent=2)

    def __repr__(self) -> str:
        n_groups = len(self.by_group)
        judged = int(self.tests["significant"].sum()) if "significant" in self.tests.columns else None
        return f"SubgroupAudit({len(self.overall)} findings, {n_groups} group rows, attributes {self.meta.get('attributes')}" + (f", {judged} significant tests)" if judged is not None else ")")


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if obj is pd.NA:
        return None
    return obj


def _ci(samples: np.ndarray) -> tuple[float, float]:
    """95% percentile interval, or NaN when fewer than 10 resamples left the statistic defined."""
    finite = samples[np.isfinite(samples)]
    if len(finite) < 10:
        return float("nan"), float("nan")
    lo, hi = percentile_interval(finite)  # one interval: floats
    return float(lo), float(hi)


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def _per_label_counts(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, ...]:
    y, p = np.asarray(y, dtype=float), np.asarray(p).astype(int)
    valid = y != -1
    pos, neg, pp = (y == 1) & valid, valid & (y != 1), p == 1
    return (pos & pp).sum(0), (neg & pp).sum(0), (pos & ~pp).sum(0), (neg & ~pp).sum(0)


def _tpr(y, p):
    tp, fp, fn, tn = _per_label_counts(y, p)
    return _div(tp, tp + fn)


def _fpr(y, p):
    tp, fp, fn, tn = _per_label_counts(y, p)
    return _div(fp, fp + tn)


def _ppv(y, p):
    tp, fp, fn, tn = _per_label_counts(y, p)
    return _div(tp, tp + fp)


def _f1(y, p):
    tp, fp, fn, tn = _per_label_counts(y, p)
    return _div(2 * tp, 2 * tp + fp + fn)


def _metric_frame_points(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray) -> dict[str, pd.DataFrame]:
    """Point estimates per group and finding through fairlearn's MetricFrame.

    One MetricFrame per attribute over the whole label matrix: the metric functions return one value per
    finding (uncertain gold cells, -1, left out), which is what fairlearn's per-finding metrics would
    give one finding at a time, at a fraction of the cost. Returns metric -> (group × finding) frame.
    """
    from fairlearn.metrics import MetricFrame

    mf = MetricFrame(
        metrics={"tpr": _tpr, "fpr": _fpr, "ppv": _ppv, "f1": _f1},
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=pd.Series(groups, name="group"),
    )
    bg = mf.by_group
    return {m: pd.DataFrame(np.stack(bg[m].to_numpy()), index=[str(i) for i in bg.index]) for m in RATE_METRICS}


def _underdiagnosis_inputs(y_true: np.ndarray, y_pred: np.ndarray, findings: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(case has a finding, model called it normal) per case.

    With a "No Finding"/"normal" column the gold and predicted normal calls are read from it; otherwise a
    case has a finding when any disease column is positive and is called normal when no disease column
    is predicted. Support devices are not a disease.
    """
    summary = [j for j, f in enumerate(findings) if f in SUMMARY_COLUMNS]
    disease = [j for j, f in enumerate(findings) if f not in SUMMARY_COLUMNS and f not in NOT_A_DISEASE]
    if summary:
        s = summary[0]
        has = y_true[:, s] == 0
        if disease:
            has |= (y_true[:, disease] == 1).any(axis=1)
        called_normal = y_pred[:, s] == 1
    else:
        has = (y_true[:, disease] == 1).any(axis=1)
        called_normal = ~(y_pred[:, disease] == 1).any(axis=1)
    return has, called_normal & has


def audit_fairness(
    y_true: np.ndarray,
    y_prob: np.ndarray,
    y_pred: np.ndarray,
    findings: Sequence[str],
    frame: pd.DataFrame,
    patient_ids: np.ndarray,
    config: AuditConfig,
    progress: bool = False,
) -> SubgroupAudit:
    """Audit decisions ``y_pred`` and probabilities ``y_prob`` against ``y_true`` (1, 0/NaN, -1 uncertain)
    for the groups of ``config.attributes`` (columns of ``frame``, ``age_band`` or intersections ``a*b``).
    """
    findings = list(findings)
    y_true = np.asarray(y_true, dtype=float)
    y_prob = np.asarray(y_prob, dtype=float)
    y_pred = np.asarray(y_pred).astype(int)
    n, k = y_true.shape
    valid = y_true != -1
    pos = (y_true == 1) & valid
    neg = valid & ~pos
    pred1 = y_pred == 1
    counts = np.concatenate([pos & pred1, neg & pred1, pos & ~pred1, neg & ~pred1], axis=1).astype(np.float32)  # (n, 4k)
    has, under = _underdiagnosis_inputs(y_true, y_pred, findings)
    weights = cluster_bootstrap_weights(np.asarray(patient_ids), config.n_boot, config.seed)

    def rates(boot_counts: np.ndarray) -> dict[str, np.ndarray]:
        tp, fp, fn, tn = (boot_counts[..., i * k : (i + 1) * k] for i in range(4))
        return {"tpr": _div(tp, tp + fn), "fpr": _div(fp, fp + tn), "ppv": _div(tp, tp + fp), "f1": _div(2 * tp, 2 * tp + fp + fn)}

    def denominators(c: np.ndarray) -> dict[str, np.ndarray]:
        tp, fp, fn, tn = (c[i * k : (i + 1) * k] for i in range(4))
        return {"tpr": tp + fn, "fpr": fp + tn, "ppv": tp + fp, "f1": tp + fn, "auroc": np.minimum(tp + fn, fp + tn), "ece": tp + fp + fn + tn}

    overall_rows: list[dict] = []
    group_rows: list[dict] = []
    ud_rows, gap_rows, test_rows = [], [], []
    all_attrs = ["overall", *config.attributes]
    with progress_bar("fairness audit (patient-clustered bootstrap)", len(all_attrs), progress) as bar:
        for attr in all_attrs:
            groups = np.full(n, "all", dtype=object) if attr == "overall" else group_values(frame, attr, config.age_cuts, origin="audit data")
            names = pd.Series(groups).value_counts()
            order = list(names.index)
            onehot = np.stack([groups == g for g in order], axis=1)  # (n, G)
            # One matrix product gives every group's counts in every resample.
            per_group = (counts[:, None, :] * onehot[:, :, None]).reshape(n, -1)
            boot = (weights @ per_group).reshape(config.n_boot, len(order), 4 * k)
            boot_rates = rates(boot)
            ud_boot = weights @ np.stack([under & onehot[:, i] for i in range(len(order))] + [has & onehot[:, i] for i in range(len(order))], axis=1).astype(np.float32)
            ud_rate_boot = _div(ud_boot[:, : len(order)], ud_boot[:, len(order) :])
            points = _metric_frame_points(np.where(valid, pos.astype(float), -1.0), pred1.astype(int), groups.astype(str))
            auroc_boot = np.full((config.n_boot, len(order), k), np.nan)
            ece_boot = np.full((config.n_boot, len(order), k), np.nan)
            status: dict[tuple[int, int], dict[str, str]] = {}
            point_vals: dict[tuple[int, int], dict[str, float]] = {}
            for gi, g in enumerate(order):
                rows_g = groups == g
                n_g = int(rows_g.sum())
                c_g = counts[rows_g].sum(0)
                den = denominators(c_g)
                for j, f in enumerate(findings):
                    rows = rows_g & valid[:, j]
                    st = {}
                    vals: dict[str, float] = {}
                    for m in METRICS:
                        if n_g < config.min_cell_size:
                            st[m] = TOO_SMALL
                        elif den[m][j] < config.min_events:
                            st[m] = FEW_EVENTS
                        else:
                            st[m] = "ok"
                    for m in RATE_METRICS:
                        vals[m] = float(points[m].loc[str(g), j]) if st[m] == "ok" else float("nan")
                    y_g, s_g = pos[rows, j], y_prob[rows, j]
                    if st["auroc"] == "ok":
                        vals["auroc"] = float(roc_auc_score(y_g, s_g))
                        auroc_boot[:, gi, j] = weighted_auroc(s_g, y_g, weights[:, rows])
                    else:
                        vals["auroc"] = float("nan")
                    if st["ece"] == "ok":
                        vals["ece"] = float(expected_calibration_error(s_g, y_g, n_bins=config.n_bins))
                        ece_boot[:, gi, j] = expected_calibration_error(s_g, y_g, weights[:, rows], n_bins=config.n_bins)
                    else:
                        vals["ece"] = float("nan")
                    status[(gi, j)] = st
                    point_vals[(gi, j)] = vals
                    row = {
                        "attribute": attr,
                        "group": str(g),
                        "finding": f,
                        "n": int(rows.sum()),
                        "n_patients": int(len(np.unique(np.asarray(patient_ids)[rows]))),
                        "n_positive": int(pos[rows, j].sum()),
                        "prevalence": float(pos[rows, j].mean()) if rows.any() else float("nan"),
                        "status": TOO_SMALL if n_g < config.min_cell_size else "ok",
                    }
                    for m in METRICS:
                        b = boot_rates[m][:, gi, j] if m in RATE_METRICS else (auroc_boot if m == "auroc" else ece_boot)[:, gi, j]
                        lo, hi = _ci(b) if st[m] == "ok" else (float("nan"), float("nan"))
                        row[m], row[f"{m}_low"], row[f"{m}_high"] = vals[m], lo, hi
                        row[f"{m}_status"] = st[m]
                    (overall_rows if attr == "overall" else group_rows).append(row)
                n_has = int((has & rows_g).sum())
                ud_ok = n_g >= config.min_cell_size and n_has >= config.min_events
                ud_point = float((under & rows_g).sum() / n_has) if ud_ok else float("nan")
                lo, hi = _ci(ud_rate_boot[:, gi]) if ud_ok else (float("nan"), float("nan"))
                ud_rows.append(
                    {
                        "attribute": attr,
                        "group": str(g),
                        "n": n_g,
                        "n_with_finding": n_has,
                        "underdiagnosis_rate": ud_point,
                        "underdiagnosis_rate_low": lo,
                        "underdiagnosis_rate_high": hi,
                        "status": "ok" if ud_ok else (TOO_SMALL if n_g < config.min_cell_size else FEW_EVENTS),
                    }
                )
            if attr != "overall":
                all_boot = {**boot_rates, "auroc": auroc_boot, "ece": ece_boot}
                gap_rows += _gaps(attr, order, findings, status, point_vals, all_boot, ud_rows[-len(order) :], ud_rate_boot)
                test_rows += _tests(attr, order, findings, status, point_vals, all_boot, ud_rows[-len(order) :], ud_rate_boot, groups, pos, valid, y_prob, patient_ids, config)
            bar.advance()

    tests = pd.DataFrame(test_rows)
    if len(tests):
        tests["p_adjusted"] = adjust_p_values(tests["p_value"].to_numpy(dtype=float), config.correction)
        tests["significant"] = tests["p_adjusted"] < config.alpha
    meta = {
        "n_cases": int(n),
        "n_patients": int(len(np.unique(np.asarray(patient_ids)))),
        "findings": findings,
        "attributes": list(config.attributes),
        "age_cuts": list(config.age_cuts),
        "min_cell_size": config.min_cell_size,
        "min_events": config.min_events,
        "methods": {
            "intervals": f"95% percentile intervals from a patient-clustered bootstrap ({config.n_boot} resamples of patients, seed {config.seed}); the same resamples for every group, finding and metric",
            "point_estimates": f"fairlearn MetricFrame (TPR, FPR, PPV, F1); scikit-learn AUROC; ECE with {config.n_bins} equal-width bins",
            "gaps": "max − min over the judged groups of an attribute, and equalized-odds difference = max(TPR range, FPR range); "
            "intervals from the joint resamples (the max − min of noisy estimates is biased upwards in small groups)",
            "tests": "each judged group against the reference (largest) group: unpaired DeLong test with Obuchowski's clustered "
            "variance for AUROC; patient-clustered bootstrap for rates; "
            f"{'Holm' if config.correction == 'holm' else 'Benjamini–Hochberg'} correction over all {len(tests)} comparisons",
            "underdiagnosis_rate": "among cases with a finding, the share called normal ('No Finding' predicted, or no finding predicted)",
            "too_small": f"groups with < {config.min_cell_size} cases are not judged; rates with < {config.min_events} cases in the denominator neither",
        },
    }
    return SubgroupAudit(pd.DataFrame(overall_rows), pd.DataFrame(group_rows), pd.DataFrame(ud_rows), pd.DataFrame(gap_rows), tests, meta)


def _spread(boot: np.ndarray) -> np.ndarray:
    """max − min over groups (axis 1) per resample, ignoring groups a resample left without data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmax(boot, axis=1) - np.nanmin(boot, axis=1)


def _gap_row(attr: str, finding: str, metric: str, n_judged: int, worst: str | None, worst_value: float | None, value: float, boot: np.ndarray) -> dict:
    lo, hi = _ci(boot)
    return {
        "attribute": attr,
        "finding": finding,
        "metric": metric,
        "n_groups_judged": n_judged,
        "worst_group": worst,
        "worst_value": worst_value,
        "max_minus_min": float(value),
        "max_minus_min_low": lo,
        "max_minus_min_high": hi,
    }


def _gaps(attr, order, findings, status, point_vals, boot, ud_rows, ud_rate_boot) -> list[dict]:
    rows = []
    for j, f in enumerate(findings):
        for m in METRICS:
            ok = [gi for gi in range(len(order)) if status[(gi, j)][m] == "ok"]
            if len(ok) < 2:
                continue
            vals = np.array([point_vals[(gi, j)][m] for gi in ok])
            w = int(np.argmax(vals) if m in HIGHER_IS_WORSE else np.argmin(vals))
            rows.append(_gap_row(attr, f, m, len(ok), str(order[ok[w]]), float(vals[w]), vals.max() - vals.min(), _spread(boot[m][:, ok, j])))
        ok = [gi for gi in range(len(order)) if status[(gi, j)]["tpr"] == "ok" and status[(gi, j)]["fpr"] == "ok"]
        if len(ok) >= 2:
            t = np.array([point_vals[(gi, j)]["tpr"] for gi in ok])
            fp = np.array([point_vals[(gi, j)]["fpr"] for gi in ok])
            eod = np.maximum(_spread(boot["tpr"][:, ok, j]), _spread(boot["fpr"][:, ok, j]))
            rows.append(_gap_row(attr, f, "equalized_odds_difference", len(ok), None, None, max(t.max() - t.min(), fp.max() - fp.min()), eod))
    ok = [gi for gi, r in enumerate(ud_rows) if r["status"] == "ok"]
    if len(ok) >= 2:
        vals = np.array([ud_rows[gi]["underdiagnosis_rate"] for gi in ok])
        w = int(np.argmax(vals))
        rows.append(_gap_row(attr, "(any finding)", "underdiagnosis_rate", len(ok), str(order[ok[w]]), float(vals[w]), vals.max() - vals.min(), _spread(ud_rate_boot[:, ok])))
    return rows


def _tests(attr, order, findings, status, point_vals, boot, ud_rows, ud_rate_boot, groups, pos, valid, y_prob, patient_ids, config) -> list[dict]:
    ref_name = config.reference.get(attr)
    judged = [gi for gi in range(len(order)) if ud_rows[gi]["n"] >= config.min_cell_size]
    if ref_name is not None and ref_name in [str(g) for g in order]:
        ref = [str(g) for g in order].index(ref_name)
    elif judged:
        ref = judged[0]  # groups are ordered by size: the largest judged group
    else:
        return []
    rows = []
    patient_ids = np.asarray(patient_ids)
    for gi in judged:
        if gi == ref:
            continue
        for j, f in enumerate(findings):
            for m in ("tpr", "fpr", "auroc"):
                if status[(gi, j)][m] != "ok" or status[(ref, j)][m] != "ok":
                    continue
                diff = point_vals[(gi, j)][m] - point_vals[(ref, j)][m]
                if m == "auroc":
                    a = (groups == order[gi]) & valid[:, j]
                    r = (groups == order[ref]) & valid[:, j]
                    res = unpaired_delong_test(y_prob[a, j], pos[a, j], y_prob[r, j], pos[r, j], patient_ids[a], patient_ids[r])
                    p, test = res["p_value"], "unpaired DeLong (Obuchowski clustered variance)"
                else:
                    p, test = bootstrap_difference_p_value(boot[m][:, gi, j] - boot[m][:, ref, j]), "patient-clustered bootstrap"
                rows.append({"attribute": attr, "finding": f, "metric": m, "group": str(order[gi]), "reference": str(order[ref]), "difference": float(diff), "test": test, "p_value": float(p)})
        if ud_rows[gi]["status"] == "ok" and ud_rows[ref]["status"] == "ok":
            p = bootstrap_difference_p_value(ud_rate_boot[:, gi] - ud_rate_boot[:, ref])
            diff = ud_rows[gi]["underdiagnosis_rate"] - ud_rows[ref]["underdiagnosis_rate"]
            rows.append(
                {
                    "attribute": attr,
                    "finding": "(any finding)",
                    "metric": "underdiagnosis_rate",
                    "group": str(order[gi]),
                    "reference": str(order[ref]),
                    "difference": float(diff),
                    "test": "patient-clustered bootstrap",
                    "p_value": float(p),
                }
            )
    return rows
