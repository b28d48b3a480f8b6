"""Audit a fitted run by group: score it on data with gold labels, audit each group with intervals and tests,
adjust the disparities for case mix, and draw the forest plot. :mod:`radtrust.report.fairness` writes the
files of ``radtrust audit fairness``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from radtrust.data.groups import attribute_columns, group_values
from radtrust.data.schema import Cohort, LabelTable
from radtrust.errors import InputError
from radtrust.evaluate.evaluate import gold_values
from radtrust.fairness.adjusted import adjusted_disparity, per_finding_error_frame
from radtrust.fairness.audit import METRIC_NAMES, AuditConfig, SubgroupAudit, audit_fairness
from radtrust.labeling.vocab import SUMMARY_COLUMNS

DEFAULT_ADJUST_FOR = ("age", "site", "finding_prevalence")


def audit_run(
    clf,
    cohort: Cohort,
    gold: LabelTable,
    config: AuditConfig,
    adjust_for: Sequence[str] | None = DEFAULT_ADJUST_FOR,
    adjust_method: str = "cluster_robust",
    progress: bool = False,
) -> SubgroupAudit:
    """Audit a fitted :class:`~radtrust.train.estimator.Classifier` (reports or images) on the cases of ``cohort`` that
    have a gold label, over the findings model and gold share."""
    shared = [f for f in clf.findings if f in gold.findings]
    if not shared:
        raise InputError(f"{gold.origin}: no finding in common with the model")
    gold_ids = set(gold.case_ids)
    keep = np.array([c in gold_ids for c in cohort.case_ids])
    if not keep.any():
        raise InputError(f"{gold.origin}: none of the cohort's case ids has a gold label")
    sub = cohort.subset(keep)
    for attr in config.attributes:  # fail on a missing group column before the expensive prediction
        group_values(sub.frame.head(1), attr, config.age_cuts, origin=cohort.source)
    probs = clf.predict_proba(sub, progress=progress)
    preds = clf.predict(sub, probs=probs)
    cols = [clf.findings.index(f) for f in shared]
    y_true = gold_values(clf, gold, sub.case_ids, shared)
    audit = audit_fairness(y_true, probs[:, cols], preds[:, cols], shared, sub.frame, sub.patient_ids, config, progress=progress)
    audit.meta["threshold_policy"] = {
        "chosen_on": "chosen on the run's validation split (never on the audited data)",
        "per_group_postprocessing": clf.postprocess.to_dict() if clf.postprocess is not None else None,
    }
    audit.meta["gold_source"] = gold.source
    audit.meta["n_cases_without_gold"] = int((~keep).sum())
    if adjust_for is not None:
        audit.adjusted = adjusted_disparities(y_true, preds[:, cols], shared, sub.frame, config, adjust_for, adjust_method)
    return audit


def adjusted_disparities(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    findings: Sequence[str],
    frame,
    config: AuditConfig,
    adjust_for: Sequence[str],
    method: str = "cluster_robust",
) -> list[dict]:
    """Per single-column attribute: odds of a missed finding by group, adjusted for ``adjust_for``
    (an attribute is never adjusted for itself; age is left out when auditing age bands)."""

    disease = [j for j, f in enumerate(findings) if f not in SUMMARY_COLUMNS]
    frame = frame.copy()
    singles = [a for a in config.attributes if len(attribute_columns(a)) == 1]
    for a in singles:
        if a not in frame.columns:
            frame[a] = group_values(frame, a, config.age_cuts)
    long = per_finding_error_frame(y_true[:, disease], y_pred[:, disease], [findings[j] for j in disease], frame, kind="missed")
    out = []
    for a in singles:
        covs = [c for c in adjust_for if c != a and not (a == "age_band" and c == "age")]
        missing = [c for c in covs if c not in long.columns]
        if missing:
            raise InputError(f"audit data: no column '{missing[0]}' to adjust for (columns: {', '.join(map(str, frame.columns[:15]))})")
        try:
            res = adjusted_disparity(
                long,
                "error",
                a,
                covs,
                cluster="patient_id",
                method=method,  # type: ignore[arg-type]  # a str checked by adjusted_disparity at run time
                outcome_label="missed finding (false negative among truth-positive finding cells)",
                min_cell=config.min_cell_size,
            )
        except InputError as e:
            out.append({"group_column": a, "error": str(e), "rows": []})
            continue
        out.append(res.to_dict())
    return out


def forest_for(audit: dict, metric: str = "tpr", finding: str | None = None) -> tuple[bytes, str]:
    """The forest plot of ``metric`` for ``finding`` (default: the finding with the widest judged TPR gap)."""
    from radtrust.plots import forest_plot  # loads matplotlib: imported on first use

    if metric == "underdiagnosis_rate":
        rows = [dict(r, finding="(any finding)") for r in audit["underdiagnosis"] if r["attribute"] != "overall"]
        overall = next((r for r in audit["underdiagnosis"] if r["attribute"] == "overall"), None)
        finding = "(any finding)"
    else:
        if finding is None:
            gaps = [g for g in audit["gaps"] if g["metric"] == metric]
            finding = max(gaps, key=lambda g: g["max_minus_min"])["finding"] if gaps else audit["findings"][0]
        if finding not in audit["findings"]:
            raise InputError(f"`plot_finding` '{finding}' is not one of the audited findings ({', '.join(audit['findings'][:6])}...)")
        rows = [r for r in audit["by_group"] if r["finding"] == finding]
        overall = next((r for r in audit["overall"] if r["finding"] == finding), None)
    label = METRIC_NAMES.get(metric, metric)
    caption = f"{label} for {finding} per group, 95% patient-clustered bootstrap intervals; dashed: all patients."
    return forest_plot(rows, metric, finding, label, overall), caption
