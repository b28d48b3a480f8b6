"""The files of ``radtrust audit fairness``: ``fairness.json``, the forest plot and the HTML page, rendered in
memory and written all together or not at all."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from radtrust.data.io import check_output, json_bytes, write_files
from radtrust.data.readers import read_labels
from radtrust.data.schema import CohortScrubber
from radtrust.errors import InputError
from radtrust.fairness.api import DEFAULT_ADJUST_FOR, audit_run, forest_for
from radtrust.fairness.audit import METRICS, AuditConfig, SubgroupAudit
from radtrust.report.html import fairness_context, render_fairness_report
from radtrust.train.api import load_classifier, read_inputs, run_config
from radtrust.train.estimator import Classifier


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
    *,
    deid: CohortScrubber | None,
) -> SubgroupAudit:
    """Read (report text through ``deid``), audit, and write ``out`` (JSON) atomically, plus the forest plot
    PNG and HTML page if asked."""
    check_output(out, [data, labels], suffixes=(".json",))
    if plot is not None:
        check_output(plot, [data, labels], suffixes=(".png",), what="`plot`")
    if report is not None:
        check_output(report, [data, labels], suffixes=(".html", ".htm"), what="`report`")
    targets = [Path(t).resolve() for t in (out, plot, report) if t is not None]
    if len(set(targets)) < len(targets):
        raise InputError(f"{out}: `out`, `plot` and `report` must be three different files")
    run_cfg = run_config(run)
    if plot_metric not in (*METRICS, "underdiagnosis_rate"):
        raise InputError(f"`plot_metric` must be one of {', '.join((*METRICS, 'underdiagnosis_rate'))}, not '{plot_metric}'")
    cohort, carried = read_inputs(data, run_cfg, column_map, empty_reports, deid=deid)
    gold = read_labels(labels, id_column=id_column) if labels is not None else carried
    if gold is None:
        raise InputError(f"{data}: no gold labels: pass a label file")
    clf = load_classifier(run)
    audit = audit_run(clf, cohort, gold, config, adjust_for, adjust_method, progress)
    audit.meta["run"] = str(run)
    audit.meta["privacy"] = Classifier.privacy_of(run)
    d = audit.to_dict()
    png, caption = forest_for(d, plot_metric, plot_finding)
    # All of them or none: everything is rendered in memory first, then written and renamed together.
    files = {Path(out): json_bytes(d)}
    if plot is not None:
        files[Path(plot)] = png
    if report is not None:
        html = render_fairness_report(f"Fairness audit: {Path(run).name}", fairness_context(d, png, caption, Path(run).name), d["privacy"])
        files[Path(report)] = html.encode("utf-8")
    write_files(files)
    return audit
