"""File-level entry points of the label-noise tools (one call per CLI command)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from radtrust.data.io import check_output
from radtrust.data.readers import read_cohort, read_labels, read_table
from radtrust.data.schema import Cohort, CohortScrubber
from radtrust.errors import InputError
from radtrust.noise.audit import LabelAudit, LabelAuditConfig, audit_labels, binary_labels, chosen_findings, write_audit
from radtrust.noise.crossfit import CrossFitConfig
from radtrust.noise.files import label_issue_cells, read_label_audit
from radtrust.noise.plan import AnnotationPlan, PlanConfig, plan_annotation, write_plan


def read_probabilities(path: str | Path, cohort: Cohort, findings: Sequence[str]) -> np.ndarray:
    """A user's out-of-sample probabilities: ``case_id`` plus one column per finding, values in [0, 1]."""

    path = Path(path)
    frame = read_table(path)
    if "case_id" not in frame.columns:
        raise InputError(f"{path}: missing column 'case_id'")
    missing = [f for f in findings if f not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing probability column(s): {', '.join(missing)}")
    frame = frame.assign(case_id=frame["case_id"].astype("string").str.strip()).set_index("case_id")
    absent = pd.Index(cohort.case_ids).difference(frame.index)
    if len(absent):
        raise InputError(f"{path}: {len(absent)} of {len(cohort)} cases have no probabilities")
    if frame.index.duplicated().any():
        raise InputError(f"{path}: row {int(np.flatnonzero(frame.index.duplicated())[0]) + 1}: duplicate case id")
    values = frame.loc[cohort.case_ids, list(findings)].apply(pd.to_numeric, errors="coerce")
    for f in findings:
        bad = values[f].isna() | (values[f] < 0) | (values[f] > 1)
        if bad.any():
            raise InputError(f"{path}: column '{f}': every value must be a probability in [0, 1] ({int(bad.sum())} are not)")
    return values.to_numpy(dtype=float)


def audit_label_files(
    data: str | Path,
    labels: str | Path,
    out: str | Path,
    config: LabelAuditConfig,
    crossfit: CrossFitConfig | None = None,
    summary: str | Path | None = None,
    pred_probs: str | Path | None = None,
    findings: Sequence[str] | None = None,
    id_column: str | None = None,
    column_map=None,
    empty_reports: str = "error",
    progress: bool = False,
    *,
    deid: CohortScrubber | None,
) -> tuple[LabelAudit, Path, Path]:
    """Read the cohort (its text through ``deid``) and labels, audit them, write the per-cell file and the
    summary (internal-only)."""

    out = check_output(out, [data, labels, pred_probs], suffixes=(".csv", ".parquet", ".pq"))
    if summary is not None:
        check_output(summary, [data, labels, pred_probs], suffixes=(".json",), what="`summary`")
    cohort = read_cohort(data, column_map, empty_reports, deid=deid)
    table = read_labels(labels, id_column=id_column)
    chosen = chosen_findings(table, findings)
    probs = read_probabilities(pred_probs, cohort, chosen) if pred_probs is not None else None
    audit = audit_labels(cohort, table, probs, config, crossfit, chosen, progress)
    out, summary_path = write_audit(audit, out, summary)
    return audit, out, summary_path


def plan_files(
    data: str | Path,
    labels: str | Path,
    issues: str | Path,
    out: str | Path,
    config: PlanConfig,
    findings: Sequence[str] | None = None,
    id_column: str | None = None,
    column_map=None,
    empty_reports: str = "error",
    *,
    deid: CohortScrubber | None,
) -> tuple[AnnotationPlan, Path, Path]:
    """Plan the experts' queue from a label audit file and write ``queue.csv`` + ``queue.plan.json``
    (the cohort's text through ``deid``: the queue shows the experts the reports)."""

    cohort = read_cohort(data, column_map, empty_reports, deid=deid)
    table = read_labels(labels, id_column=id_column)
    chosen = chosen_findings(table, findings)
    table = table.aligned_to(cohort.case_ids)
    audited_table = table.select(chosen)
    p_wrong = np.nan_to_num(label_issue_cells(read_label_audit(issues), cohort.case_ids, chosen, audited_table.values(), str(issues)), nan=0.0)
    given, audited = binary_labels(audited_table)
    prevalence = (given * audited).sum(0) / np.maximum(audited.sum(0), 1)
    plan = plan_annotation(cohort, p_wrong, config, chosen, prevalence)
    queue, plan_path = write_plan(plan, cohort, table, config, chosen, out)
    return plan, queue, plan_path
