"""Benchmark: the label audit on real reports, against real labeler errors (Open-i, ChestX-ray14 gold).

The rule labeler labels the 3,080 Open-i dev reports; where its label disagrees with the gold standard
(Peng et al., 2018), the label counts as wrong. The audit (``radtrust audit labels`` defaults: patient-grouped
cross-fitting, TF-IDF + logistic regression, cleanlab's confident joint) never sees the gold. Reported:
precision / recall / F1 of its "likely wrong" cells and of cleanlab's defaults on the same probabilities, and
how many of the wrong labels an annotation plan of 2, 5, 10 and 20% of the reports would put in front of
an expert, against random choice; and the error rate as the audit estimates it, as the 10% plan's random
slice estimates it (gold standing in for the experts), and as it is.

These errors are harder than flipped labels: a rule labeler's mistakes are a function of the wording, so a
text model trained on its labels partly learns them too. Open-i has no patient ids (each report is its own
patient) and no site; Hernia is left out (the gold has no Hernia positives, see openi_labeler.py).

    python benchmarks/openi_label_audit.py [--data TGZ] [--gold CSV] [--json OUT]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DIR = REPO.parent / "shared" / "data" / "openi"
BUDGETS = (0.02, 0.05, 0.10, 0.20)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DIR / "reports_dev.tgz")
    ap.add_argument("--gold", type=Path, default=DEFAULT_DIR / "gold_chestxray14_dev.csv")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if not args.data.exists() or not args.gold.exists():
        print(f"Open-i data not found ({args.data if not args.data.exists() else args.gold}); nothing to benchmark.")
        return 0

    from rich.console import Console
    from rich.table import Table

    from radtrust.data.io import write_json
    from radtrust.data.readers import read_openi
    from radtrust.labeling.rules import RuleLabeler
    from radtrust.noise.audit import LabelAuditConfig, audit_labels, binary_labels
    from radtrust.noise.plan import PlanConfig, plan_annotation
    from radtrust.stats import flag_precision_recall, wilson_interval

    t0 = time.perf_counter()
    cohort = read_openi(args.data, empty_reports="drop")
    gold = pd.read_csv(args.gold, dtype={"filename": str}).set_index("filename")
    keep = np.isin(np.asarray(cohort.case_ids, dtype=object), gold.index)
    cohort = cohort.subset(keep)
    labels = RuleLabeler("chestxray14").label(cohort)
    findings = [f for f in labels.findings if f in gold.columns and f not in ("normal", "Hernia")]
    labels = labels.select(findings)
    given, audited = binary_labels(labels)
    g = gold.loc[cohort.case_ids, findings].to_numpy() == 1
    wrong = audited & (given.astype(bool) != g)

    ta = time.perf_counter()
    audit = audit_labels(cohort, labels, config=LabelAuditConfig(groups=[], strata=None, n_boot=200, seed=args.seed), findings=findings)
    audit_s = time.perf_counter() - ta
    ours, cl = flag_precision_recall(audit.likely_wrong & audited, wrong), flag_precision_recall(audit.cleanlab_issue & audited, wrong)
    p_wrong = np.nan_to_num(audit.p_label_wrong)
    est, actual = float(p_wrong.sum()), int(wrong.sum())

    console = Console(width=150)
    t = Table(title=f"Open-i: rule-labeler labels that disagree with the gold ({len(cohort)} reports, {len(findings)} findings, {actual} wrong labels)")
    for c in ("", "precision", "recall", "F1", "flagged"):
        t.add_column(c, justify="right")
    t.add_row("radtrust audit (P(wrong) ≥ 0.5)", f"{ours['precision']:.3f}", f"{ours['recall']:.3f}", f"{ours['f1']:.3f}", str(ours["n_flagged"]))
    t.add_row("cleanlab defaults", f"{cl['precision']:.3f}", f"{cl['recall']:.3f}", f"{cl['f1']:.3f}", str(cl["n_flagged"]))
    console.print(t)

    prevalence = given.mean(0)
    rng = np.random.default_rng(args.seed)
    curve = []
    t = Table(title="Share of the wrong labels put in front of an expert")
    for c in ("budget (reports)", "annotation plan", "random (expected)"):
        t.add_column(c, justify="right")
    slice_estimate = None
    for frac in BUDGETS:
        budget = int(round(frac * len(cohort)))
        plan = plan_annotation(cohort, p_wrong, PlanConfig(budget=budget, groups=[], seed=args.seed), findings, prevalence)
        cases = plan.cases["case_id"]
        idx = np.flatnonzero(np.isin(cohort.case_ids, cases))
        if frac == 0.10:
            # The experts' verdicts (here: the gold) on the plan's random slice estimate the error rate
            # without the audit's help, as `radtrust annotate merge --plan` does.
            rs = np.flatnonzero(np.isin(cohort.case_ids, plan.cases.loc[plan.cases["selection"] == "random_slice", "case_id"]))
            k = int(wrong[rs].any(1).sum())
            lo, hi = wilson_interval(k, len(rs))
            slice_estimate = {"n_cases": len(rs), "share_cases_with_wrong_label": k / len(rs), "ci95": [float(lo), float(hi)]}
        rand = np.mean([wrong[rng.choice(len(cohort), budget, replace=False)].sum() / actual for _ in range(200)])
        share = float(wrong[idx].sum() / actual)
        curve.append({"budget": frac, "n_reports": budget, "plan_share_of_wrong_labels": share, "random_share_expected": float(rand)})
        t.add_row(f"{100 * frac:.0f}% ({budget})", f"{100 * share:.1f}%", f"{100 * rand:.1f}%")
    console.print(t)
    console.print(f"estimated wrong labels (sum of P(wrong)) {est:.0f} vs {actual} disagreements with the gold; audit {audit_s:.0f} s; wall {time.perf_counter() - t0:.0f} s")
    true_share = float(wrong.any(1).mean())
    audit_share = audit.summary["overall"]["share_cases_with_wrong_label"]
    console.print(
        f"share of reports with a wrong label: audit estimate {audit_share:.3f}; random slice of the 10% plan (gold as the experts, "
        f"n = {slice_estimate['n_cases']}) {slice_estimate['share_cases_with_wrong_label']:.3f} [{slice_estimate['ci95'][0]:.3f}, {slice_estimate['ci95'][1]:.3f}] (Wilson); "
        f"true {true_share:.3f}"
    )

    out = {
        "benchmark": "openi_label_audit",
        "n_reports": len(cohort),
        "findings": findings,
        "n_wrong_labels": actual,
        "estimated_wrong_labels": est,
        "cells_ours": ours,
        "cells_cleanlab_defaults": cl,
        "plan_curve": curve,
        "share_reports_with_wrong_label": {"audit_estimate": audit_share, "random_slice_10pct_plan": slice_estimate, "true": true_share},
        "audit_seconds": audit_s,
        "label_source": labels.source,
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
    }
    if args.json:
        write_json(out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
