"""Label audit: for every case and finding, the probability that the given label is wrong.

Method (confident learning, Northcutt et al., JAIR 2021, with a class-conditional noise model per stratum):

1. Out-of-sample probabilities ``p`` that a finding is *labelled* present (K-fold cross-fitting by patient,
   :mod:`radtrust.noise.crossfit`), or the user's own.
2. ``p`` is recalibrated against the given labels (isotonic regression per finding): confident learning
   and the inversion below need probabilities, not just a ranking.
3. cleanlab's confident joint (``cleanlab.count.estimate_joint``) gives, per finding, the noise rates
   ``P(label 1 | truly present)`` and ``P(label 1 | truly absent)``.
4. Labels are not wrong evenly: a site that words findings differently, or a group whose findings are
   under-reported, has its own rates. Steps 2-3 are repeated within each stratum (default: site) and shrunk
   toward the pooled estimate by ``n / (n + shrinkage)``.
5. With ``P(labelled | x) = a·P(present | x) + b·(1 − P(present | x))`` the model's probability is inverted to
   ``P(present | x)``, and Bayes' rule gives ``P(label wrong | x, label)``.

cleanlab's own per-cell verdicts (``find_multilabel_issues_per_class``, its defaults) are reported beside ours.

The audit runs inside the data holder's walls and is not released, so it spends no privacy budget. Its
outputs carry the internal-only marker (:mod:`radtrust.noise.files`); released artifacts refuse them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from radtrust.data.groups import DEFAULT_AGE_CUTS, available, group_values, parse_group_spec
from radtrust.data.io import write_json, write_table
from radtrust.data.schema import Cohort, LabelTable, label_targets
from radtrust.errors import InputError
from radtrust.noise.crossfit import CrossFitConfig, out_of_sample_probabilities
from radtrust.noise.files import AUDIT_COLUMNS, INTERNAL_KEY, INTERNAL_MARKER, INTERNAL_NOTE
from radtrust.stats import cluster_bootstrap_sums, percentile_interval

__all__ = ["LabelAuditConfig", "LabelAudit", "audit_labels", "noise_posterior", "binary_labels", "chosen_findings"]


class LabelAuditConfig(BaseModel):
    """Settings of :func:`audit_labels`."""

    model_config = ConfigDict(extra="forbid")

    strata: str | None = Field("site", description="group whose noise rates are estimated separately (shrunk to the pooled rates); None = one noise model")
    groups: list[str] = Field(
        default_factory=lambda: ["site", "sex", "age_band", "race"],
        description="groups of the noise summary (columns, a*b intersections, age_band); a group whose column the cohort lacks is skipped and listed",
    )
    age_cuts: list[float] = Field(default_factory=lambda: list(DEFAULT_AGE_CUTS))
    flag_threshold: float = Field(0.5, gt=0, lt=1, description="a label is 'likely wrong' when P(wrong) reaches this (0.5 = more likely wrong than right)")
    shrinkage: float = Field(500.0, ge=0, description="pseudo-count of cases pulling a stratum's noise model toward the pooled one")
    min_group_size: int = Field(30, ge=1, description="smaller groups are listed without estimates")
    n_boot: int = Field(1000, ge=0, description="patient-clustered bootstrap resamples for the summary intervals")
    seed: int = 0


def chosen_findings(labels: LabelTable, findings: Sequence[str] | None) -> list[str]:
    """``findings`` checked against the label table's columns (None = all of them)."""
    if not findings:
        return list(labels.findings)
    unknown = [f for f in findings if f not in labels.findings]
    if unknown:
        raise InputError(f"{labels.origin}: no label column for finding(s) {', '.join(unknown)}")
    return list(findings)


def binary_labels(labels: LabelTable) -> tuple[np.ndarray, np.ndarray]:
    """(given 0/1, audited mask): the training targets with uncertain labels left out (U-Ignore), so the
    audit judges exactly the labels a model learns from."""
    targets, mask = label_targets(labels, "ignore")
    return targets.astype(int), mask > 0


def _isotonic(p: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    from sklearn.isotonic import IsotonicRegression

    if len(y) == 0 or y.min() == y.max():
        return None
    return IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(p, y).predict(p)


def _noise_rates(y: np.ndarray, p: np.ndarray) -> tuple[float, float] | None:
    """cleanlab's calibrated confident joint of one binary finding → (P(label 1 | present), P(label 1 | absent))."""
    from cleanlab.count import estimate_joint

    if len(y) == 0 or y.min() == y.max():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        joint = estimate_joint(y.astype(int), np.column_stack([1.0 - p, p]))  # joint[given, true]
    present, absent = joint[:, 1].sum(), joint[:, 0].sum()
    if present <= 0 or absent <= 0:
        return None
    return float(joint[1, 1] / present), float(joint[1, 0] / absent)


def _posterior(given: np.ndarray, p: np.ndarray, a: float, b: float) -> np.ndarray:
    # P(labelled | x) = a·π + b·(1 − π)  ⇒  π = P(present | x); then Bayes for the given label.
    pi = np.clip((p - b) / max(a - b, 1e-6), 0.0, 1.0)
    p1 = a * pi + b * (1.0 - pi)
    p0 = (1.0 - a) * pi + (1.0 - b) * (1.0 - pi)
    return np.where(given == 1, b * (1.0 - pi) / np.maximum(p1, 1e-12), (1.0 - a) * pi / np.maximum(p0, 1e-12))


def noise_posterior(given: np.ndarray, probs: np.ndarray, audited: np.ndarray, strata: np.ndarray | None = None, shrinkage: float = 500.0) -> tuple[np.ndarray, dict[str, Any]]:
    """P(given label is wrong) per cell, and the noise rates used (pooled and per stratum).

    Cells not audited get NaN. A finding whose audited labels are all one class has no estimable noise
    model: its cells get NaN too (reported as such).
    """
    n, k = given.shape
    out = np.full((n, k), np.nan)
    rates: dict[str, Any] = {"pooled": {}, "strata": {}}
    strata = np.full(n, "all", dtype=object) if strata is None else np.asarray(strata, dtype=object)
    levels = pd.unique(strata)
    for j in range(k):
        keep = audited[:, j]
        y, p = given[keep, j], probs[keep, j]
        pc = _isotonic(p, y)
        pooled = _noise_rates(y, pc) if pc is not None else None
        rates["pooled"][j] = pooled
        if pooled is None:
            continue
        assert pc is not None  # pooled rates exist only with the pooled calibration
        col = np.full(n, np.nan)
        for s in levels:
            in_s = keep & (strata == s)
            if not in_s.any():
                continue
            sub = strata[keep] == s
            w = in_s.sum() / (in_s.sum() + shrinkage) if len(levels) > 1 else 0.0
            pc_s = pc[sub]
            a, b = pooled
            own_cal = _isotonic(p[sub], y[sub]) if w > 0 else None
            if own_cal is not None:
                pc_s = w * own_cal + (1.0 - w) * pc[sub]
                own = _noise_rates(y[sub], pc_s)
                if own is not None:
                    a, b = w * own[0] + (1.0 - w) * pooled[0], w * own[1] + (1.0 - w) * pooled[1]
            rates["strata"].setdefault(str(s), {})[j] = (a, b)
            col[in_s] = _posterior(y[sub], pc_s, a, b)
        out[:, j] = col
    return out, rates


def cleanlab_issues(given: np.ndarray, probs: np.ndarray, audited: np.ndarray) -> np.ndarray:
    """cleanlab's multi-label confident learning with its defaults: (n, k) bool, per finding.

    Uncertain cells enter cleanlab as 'not labelled present' (its multi-label format has no third state)
    and are never flagged.
    """
    from cleanlab.multilabel_classification.filter import find_multilabel_issues_per_class

    ok = [j for j in range(given.shape[1]) if 0 < given[audited[:, j], j].sum() < audited[:, j].sum()]
    out = np.zeros(given.shape, dtype=bool)
    if not ok:
        return out
    lab = [list(np.flatnonzero(row)) for row in given[:, ok]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # n_jobs=1: cleanlab's default forks a worker pool from this process, and a child forked while another
        # thread (torch's, a progress bar's) holds a lock can wait on it forever; this hung `radtrust audit labels`
        # under test. cleanlab documents that n_jobs changes run time only, never the result.
        flags = np.asarray(find_multilabel_issues_per_class(labels=lab, pred_probs=probs[:, ok], n_jobs=1))
    out[:, ok] = flags.reshape(given.shape[0], len(ok))
    return out & audited


@dataclass
class LabelAudit:
    """Per-cell probabilities that labels are wrong, and the noise summary (both internal-only)."""

    case_ids: list[str]
    findings: list[str]
    given: np.ndarray
    audited: np.ndarray
    oos_probability: np.ndarray
    p_label_wrong: np.ndarray
    cleanlab_issue: np.ndarray
    flag_threshold: float
    summary: dict = field(default_factory=dict)

    @property
    def likely_wrong(self) -> np.ndarray:
        return np.nan_to_num(self.p_label_wrong, nan=0.0) >= self.flag_threshold

    def cells(self) -> pd.DataFrame:
        """One row per audited (case, finding): the per-cell file of ``radtrust audit labels``."""
        n, k = self.given.shape
        rows, cols = np.nonzero(self.audited & ~np.isnan(self.p_label_wrong))
        frame = pd.DataFrame(
            {
                "case_id": np.asarray(self.case_ids, dtype=object)[rows],
                "finding": np.asarray(self.findings, dtype=object)[cols],
                "given_label": self.given[rows, cols],
                "p_label_wrong": np.round(self.p_label_wrong[rows, cols], 6),
                "oos_probability": np.round(self.oos_probability[rows, cols], 6),
                "cleanlab_issue": self.cleanlab_issue[rows, cols],
                "likely_wrong": self.likely_wrong[rows, cols],
                INTERNAL_KEY: INTERNAL_MARKER,
            }
        )
        return frame[list(AUDIT_COLUMNS)]


def _ratio_ci(boot_num: np.ndarray, boot_den: np.ndarray) -> list[float | None]:
    with np.errstate(invalid="ignore", divide="ignore"):
        r = boot_num / boot_den
    lo, hi = percentile_interval(r)
    return [None if not np.isfinite(lo) else float(lo), None if not np.isfinite(hi) else float(hi)]


def _rate(num: float, den: float) -> float | None:
    return float(num / den) if den > 0 else None


def _summaries(audit: LabelAudit, cohort: Cohort, config: LabelAuditConfig) -> dict:
    """Noise per finding and per group, with patient-clustered bootstrap intervals."""
    pw = np.where(audit.audited & ~np.isnan(audit.p_label_wrong), audit.p_label_wrong, 0.0)
    used = (audit.audited & ~np.isnan(audit.p_label_wrong)).astype(float)
    g1 = (audit.given == 1) * used
    g0 = (audit.given == 0) * used
    # Per cell: wrong, audited, missed numerator/denominator, false-finding numerator/denominator.
    missed_num, present = g0 * pw, g0 * pw + g1 * (1 - pw)
    false_num, absent = g1 * pw, g1 * pw + g0 * (1 - pw)
    per_cell = np.stack([pw, used, missed_num, present, false_num, absent, audit.likely_wrong * used, audit.cleanlab_issue * used], -1)
    case_any = 1.0 - np.prod(1.0 - pw, axis=1)  # independence of a case's cells assumed
    patients = cohort.patient_ids
    nb, seed = config.n_boot, config.seed

    def block(sums: np.ndarray, boot: np.ndarray | None) -> dict:
        def ci(i: int, j: int) -> list | None:
            return _ratio_ci(boot[:, i], boot[:, j]) if boot is not None else None

        return {
            "estimated_wrong_labels": float(sums[0]),
            "wrong_label_rate": _rate(sums[0], sums[1]),
            "wrong_label_rate_ci95": ci(0, 1),
            "missed_finding_rate": _rate(sums[2], sums[3]),
            "missed_finding_rate_ci95": ci(2, 3),
            "false_finding_rate": _rate(sums[4], sums[5]),
            "false_finding_rate_ci95": ci(4, 5),
            "likely_wrong": int(round(sums[6])),
            "cleanlab_issues": int(round(sums[7])),
        }

    boot_cells = cluster_bootstrap_sums(per_cell, patients, nb, seed) if nb else None  # (B, k, 8)
    by_finding = []
    for j, f in enumerate(audit.findings):
        sums = per_cell[:, j].sum(0)
        row: dict[str, Any] = {"finding": f, "n_labels": int(sums[1]), "n_labelled_present": int(g1[:, j].sum())}
        if sums[1] == 0 or np.isnan(audit.p_label_wrong[:, j]).all():
            row["note"] = "no noise model: every audited label of this finding has the same value"
            by_finding.append(row)
            continue
        row.update(block(sums, boot_cells[:, j] if boot_cells is not None else None))
        by_finding.append(row)

    # Per case: the 8 cell sums, P(any label wrong), 1 (a case), any likely-wrong label.
    all_cells = np.column_stack([per_cell.sum(1), case_any, np.ones(len(pw)), (audit.likely_wrong * used).any(1)])
    boot_all = cluster_bootstrap_sums(all_cells, patients, nb, seed) if nb else None
    overall: dict[str, Any] = {"n_cases": len(pw), "n_patients": int(len(np.unique(patients)))}
    overall.update(block(all_cells.sum(0), boot_all))
    overall["share_cases_with_wrong_label"] = float(case_any.mean())
    overall["share_cases_with_wrong_label_ci95"] = _ratio_ci(boot_all[:, 8], boot_all[:, 9]) if boot_all is not None else None
    overall["cases_with_likely_wrong_label"] = int(all_cells[:, 10].sum())

    by_group: dict[str, list] = {}
    for attr in config.groups:
        if not available(cohort.frame, attr):
            continue  # listed under "groups_skipped"
        values = group_values(cohort.frame, attr, config.age_cuts, cohort.source)
        levels = sorted(pd.unique(values), key=str)
        onehot = np.stack([values == v for v in levels], 1).astype(float)  # (n, G)
        grouped = all_cells[:, None, :] * onehot[:, :, None]  # (n, G, 11)
        boot = cluster_bootstrap_sums(grouped, patients, nb, seed) if nb else None
        rows = []
        for gi, v in enumerate(levels):
            sums = grouped[:, gi].sum(0)
            n_g = int(sums[9])
            row = {"group": str(v), "n_cases": n_g, "n_patients": int(len(np.unique(patients[values == v])))}
            if n_g < config.min_group_size:
                row["note"] = f"fewer than {config.min_group_size} cases: too small to judge"
                rows.append(row)
                continue
            row.update(block(sums, boot[:, gi] if boot is not None else None))
            row["share_cases_with_wrong_label"] = _rate(sums[8], sums[9])
            row["share_cases_with_wrong_label_ci95"] = _ratio_ci(boot[:, gi, 8], boot[:, gi, 9]) if boot is not None else None
            rows.append(row)
        by_group[attr] = rows
    skipped = [a for a in config.groups if not available(cohort.frame, a)]
    return {"overall": overall, "by_finding": by_finding, "by_group": by_group, "groups_skipped": {a: "the cohort has no such column" for a in skipped}}


def audit_labels(
    cohort: Cohort,
    labels: LabelTable,
    probs: np.ndarray | None = None,
    config: LabelAuditConfig | None = None,
    crossfit: CrossFitConfig | None = None,
    findings: Sequence[str] | None = None,
    progress: bool = False,
) -> LabelAudit:
    """Audit ``labels`` of ``cohort``. ``probs`` (n_cases, n_findings), in the cohort's order, are the user's
    out-of-sample probabilities; without them they are cross-fitted here (``crossfit``)."""
    cfg = config or LabelAuditConfig()
    table = labels.aligned_to(cohort.case_ids).select(chosen_findings(labels, findings))
    given, audited = binary_labels(table)
    cf = None if probs is not None else crossfit or CrossFitConfig(seed=cfg.seed)
    if cf is not None:
        probs = out_of_sample_probabilities(cohort, given.astype(float), audited.astype(float), cf, progress)
    probs = np.asarray(probs, dtype=float)
    if probs.shape != given.shape:
        raise InputError(f"out-of-sample probabilities have shape {probs.shape}, expected {given.shape} (cases × findings)")
    if not np.isfinite(probs).all() or (probs < 0).any() or (probs > 1).any():
        raise InputError("out-of-sample probabilities must be finite and in [0, 1]")
    strata = None
    if cfg.strata:
        specs = parse_group_spec(cfg.strata)
        if len(specs) != 1:
            raise InputError(f"strata must be one group (a column or an a*b intersection), got '{cfg.strata}'")
        strata = group_values(cohort.frame, specs[0], cfg.age_cuts, cohort.source)
    p_wrong, rates = noise_posterior(given, probs, audited, strata, cfg.shrinkage)
    audit = LabelAudit(
        case_ids=cohort.case_ids,
        findings=list(table.findings),
        given=given,
        audited=audited,
        oos_probability=probs,
        p_label_wrong=p_wrong,
        cleanlab_issue=cleanlab_issues(given, probs, audited),
        flag_threshold=cfg.flag_threshold,
    )
    import cleanlab

    audit.summary = {
        INTERNAL_KEY: INTERNAL_MARKER,
        "note": INTERNAL_NOTE,
        "privacy": "no privacy budget spent: the audit is computed and kept inside the data holder's walls; nothing from it is released",
        "label_source": labels.source,
        "method": {
            "probabilities": "user-supplied out-of-sample probabilities" if cf is None else "cross-fitted by patient (radtrust.noise.crossfit)",
            "crossfit": None if cf is None else cf.model_dump(),
            "noise_model": "class-conditional per finding and stratum: isotonic recalibration, cleanlab estimate_joint, Bayes inversion",
            "strata": cfg.strata,
            "shrinkage": cfg.shrinkage,
            "flag_threshold": cfg.flag_threshold,
            "cleanlab_version": cleanlab.__version__,
            "not_mentioned": "counts as 'absent' (0), as in training",
            "uncertain": "uncertain (-1) labels are not audited",
            "intervals": f"95% percentile intervals, patient-clustered bootstrap ({cfg.n_boot} resamples)",
        },
        "noise_rates": _rates_json(rates, audit.findings),
        **_summaries(audit, cohort, cfg),
    }
    return audit


def _rates_json(rates: dict, findings: list[str]) -> dict:
    def pair(v: tuple[float, float] | None) -> dict | None:
        return None if v is None else {"p_label_present_if_present": v[0], "p_label_present_if_absent": v[1]}

    return {
        "pooled": {findings[j]: pair(v) for j, v in rates["pooled"].items()},
        "strata": {s: {findings[j]: pair(v) for j, v in d.items()} for s, d in rates["strata"].items()},
    }


def write_audit(audit: LabelAudit, out: str | Path, summary_path: str | Path | None = None) -> tuple[Path, Path]:
    """Write the per-cell file (CSV/Parquet by suffix) and the summary JSON (default ``<stem>.summary.json``),
    atomically, both marked internal-only."""

    out = Path(out)
    summary_path = Path(summary_path) if summary_path else out.with_name(f"{out.stem}.summary.json")
    frame = audit.cells()
    write_json(audit.summary, summary_path)
    write_table(frame, out)
    return out, summary_path
