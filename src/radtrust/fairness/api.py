"""File-level entry point of ``radtrust audit fairness``: score a run on data with gold labels, audit it by
group, adjust the disparities for case mix, and write ``fairness.json`` (plus a forest plot and an HTML
page when asked)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from radtrust.data.schema import Cohort, LabelTable
from radtrust.errors import InputError
from radtrust.evaluate.evaluate import gold_values
from radtrust.fairness.audit import METRIC_NAMES, METRICS, AuditConfig, SubgroupAudit, audit_fairness
from radtrust.fairness.groups import attribute_columns, group_values
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
    """Audit a fitted :class:`~radtrust.train.estimator.ReportClassifier` on the cases of ``cohort`` that
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
    from radtrust.fairness.adjusted import adjusted_disparity, per_finding_error_frame

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
                long, "error", a, covs, cluster="patient_id", method=method, outcome_label="missed finding (false negative among truth-positive finding cells)", min_cell=config.min_cell_size
            )
        except InputError as e:
            out.append({"group_column": a, "error": str(e), "rows": []})
            continue
        out.append(res.to_dict())
    return out


def audit_files(
    run: str | Path,
    data: str | Path,
    labels: str | Path | None,
    out: str | Path,
    config: AuditConfig,
    id_column: str | None = None,
    column_map=None,
    empty_reports: str = "error",
    adjust_for: Sequence[str] | None = DEFAULT_ADJUST_FOR,
    adjust_method: str = "cluster_robust",
    plot: str | Path | None = None,
    plot_metric: str = "tpr",
    plot_finding: str | None = None,
    report: str | Path | None = None,
    progress: bool = False,
) -> SubgroupAudit:
    """Read, audit, and write ``out`` (JSON) atomically, plus the forest plot PNG and HTML page if asked."""
    from radtrust.data.io import check_output, json_bytes, write_files
    from radtrust.data.readers import read_labels

    check_output(out, [data, labels], suffixes=(".json",))
    if plot is not None:
        check_output(plot, [data, labels], suffixes=(".png",), what="--plot")
    if report is not None:
        check_output(report, [data, labels], suffixes=(".html", ".htm"), what="--report")
    targets = [Path(t).resolve() for t in (out, plot, report) if t is not None]
    if len(set(targets)) < len(targets):
        raise InputError(f"{out}: --out, --plot and --report must be three different files")
    from radtrust.train.api import load_classifier, read_inputs, run_config
    from radtrust.train.estimator import ReportClassifier

    run_cfg = run_config(run)
    if plot_metric not in (*METRICS, "underdiagnosis_rate"):
        raise InputError(f"--plot-metric must be one of {', '.join((*METRICS, 'underdiagnosis_rate'))}, not '{plot_metric}'")
    cohort, carried = read_inputs(data, run_cfg, column_map, empty_reports)
    gold = read_labels(labels, id_column=id_column) if labels is not None else carried
    if gold is None:
        raise InputError(f"{data}: no gold labels: pass a label file")
    clf = load_classifier(run)
    audit = audit_run(clf, cohort, gold, config, adjust_for, adjust_method, progress)
    audit.meta["run"] = str(run)
    audit.meta["privacy"] = ReportClassifier.privacy_of(run)
    d = audit.to_dict()
    png, caption = forest_for(d, plot_metric, plot_finding)
    # All of them or none: everything is rendered in memory first, then written and renamed together.
    files = {Path(out): json_bytes(d)}
    if plot is not None:
        files[Path(plot)] = png
    if report is not None:
        from radtrust.report.html import fairness_context, render_fairness_report

        html = render_fairness_report(f"Fairness audit: {Path(run).name}", fairness_context(d, png, caption, Path(run).name), d["privacy"])
        files[Path(report)] = html.encode("utf-8")
    write_files(files)
    return audit


def forest_for(audit: dict, metric: str = "tpr", finding: str | None = None) -> tuple[bytes, str]:
    """The forest plot of ``metric`` for ``finding`` (default: the finding with the widest judged TPR gap)."""
    from radtrust.report.plots import forest_plot

    if metric == "underdiagnosis_rate":
        rows = [dict(r, finding="(any finding)") for r in audit["underdiagnosis"] if r["attribute"] != "overall"]
        overall = next((r for r in audit["underdiagnosis"] if r["attribute"] == "overall"), None)
        finding = "(any finding)"
    else:
        if finding is None:
            gaps = [g for g in audit["gaps"] if g["metric"] == metric]
            finding = max(gaps, key=lambda g: g["max_minus_min"])["finding"] if gaps else audit["findings"][0]
        if finding not in audit["findings"]:
            raise InputError(f"--plot-finding '{finding}' is not one of the audited findings ({', '.join(audit['findings'][:6])}...)")
        rows = [r for r in audit["by_group"] if r["finding"] == finding]
        overall = next((r for r in audit["overall"] if r["finding"] == finding), None)
    label = METRIC_NAMES.get(metric, metric)
    caption = f"{label} for {finding} per group, 95% patient-clustered bootstrap intervals; dashed: all patients."
    return forest_plot(rows, metric, finding, label, overall), caption
