"""Benchmark: finding wrong labels, spending an expert budget, and training on noisy labels.

A synthetic chest cohort (hidden CheXpert-14 truth) gets known label noise: each case, with probability 15%
(40% at site_B), has one label flipped; at site_B 80% of those flips are omissions (a finding that is
there, labelled absent), elsewhere half. The report text is untouched, as when an automatic labeler
misreads some reports, so the label audit's cross-fitted models can see the truth in the text.

Part A, detection (per noise replicate): precision, recall and F1 of the audit's "likely wrong" cells
(P(wrong) >= 0.5) and of cleanlab used directly with its defaults on the same out-of-sample probabilities:
``find_multilabel_issues_per_class`` per cell, ``find_label_issues(multi_label=True)`` per case; and the
audit's estimated share of cases with a wrong label per site against the true share.

Part B, the budget curve: after relabelling 2, 5, 10 and 20% of cases (hidden truth stands in for the
experts) chosen by the annotation plan (``radtrust annotate plan`` defaults), at random, or by cleanlab's
ranking (``get_label_quality_scores``, lowest first), a report classifier (all-MiniLM-L6-v2, linear head)
is retrained and scored against the hidden truth of an independent test cohort. Each fit is repeated with
several training seeds (same seeds in every arm: paired); "recovered" is the weighted-F1 gain over training
on the noisy labels, in points. Also the gap in sensitivity (micro TPR over findings, rest − site_B).

A selection-only table compares ways of choosing (scores, finding weights, quotas, random slice, cleanlab)
by the share of wrong labels they would correct, without retraining.

Part C, no experts: noise-robust training on the noisy labels (GCE loss with the default q = 0.1 and with
the paper's 0.7; leaving out flagged cells; soft labels from the audit).

    python benchmarks/label_noise.py [--n 6000] [--n-test 4000] [--replicates 4] [--seeds 4] [--json OUT]
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BUDGETS = (0.02, 0.05, 0.10, 0.20)
STRATEGIES = ("plan", "random", "cleanlab_rank")
#: Ways of choosing the cases, compared on the share of wrong labels they would correct.
SCORING_VARIANTS = {
    "plan (defaults: expected_errors, equal weights)": {},
    "plan, active_label_cleaning": {"score": "active_label_cleaning"},
    "plan, active_label_cleaning, prevalence weights": {"score": "active_label_cleaning", "finding_weights": "prevalence"},
    "plan, expected_errors, prevalence weights": {"finding_weights": "prevalence"},
    "plan without quotas": {"min_per_group": 0, "proportional_floor": 0.0},
    "plan without quotas or random slice": {"min_per_group": 0, "proportional_floor": 0.0, "random_share": 0.0},
    "cleanlab_rank": {},
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=6000, help="training cohort size (reports)")
    ap.add_argument("--n-test", type=int, default=4000)
    ap.add_argument("--rate", type=float, default=0.15, help="share of cases with a flipped label")
    ap.add_argument("--group-rate", type=float, default=0.40, help="the same at site_B")
    ap.add_argument("--replicates", type=int, default=4, help="independent noise draws")
    ap.add_argument("--seeds", type=int, default=4, help="training seeds per fit (paired across arms)")
    ap.add_argument("--epsilon", type=float, default=math.inf, help="ε of the retrained classifier (inf = not private)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    import torch
    from cleanlab.filter import find_label_issues
    from cleanlab.multilabel_classification.rank import get_label_quality_scores
    from rich.console import Console
    from rich.table import Table

    from radtrust.data.io import write_json, write_table
    from radtrust.data.schema import LabelTable
    from radtrust.evaluate.metrics import multilabel_metrics
    from radtrust.models.text import pooled_feature_cache
    from radtrust.noise.audit import LabelAuditConfig, audit_labels, binary_labels
    from radtrust.noise.plan import PlanConfig, plan_annotation
    from radtrust.noise.simulate import flip_labels
    from radtrust.stats import cluster_resample_indices, flag_precision_recall, mean_with_ci
    from radtrust.synth.chest import ChestSynthConfig, synth_chest
    from radtrust.train.config import TrainConfig
    from radtrust.train.estimator import ReportClassifier

    t0 = time.perf_counter()
    console = Console(width=170)
    train, truth = synth_chest(ChestSynthConfig(n=args.n, seed=args.seed))
    test, test_truth = synth_chest(ChestSynthConfig(n=args.n_test, seed=args.seed + 1000))
    findings = list(truth.findings)
    truth_m = np.where(truth.aligned_to(train.case_ids).values() == 1, 1.0, 0.0)
    y_test = np.where(test_truth.aligned_to(test.case_ids).values() == 1, 1, 0)
    site = train.frame["site"].to_numpy()
    test_b = test.frame["site"].eq("site_B").to_numpy()
    pathology = [j for j, f in enumerate(findings) if f not in ("No Finding", "Support Devices")]
    tmp = Path(tempfile.mkdtemp(prefix="label_noise_"))

    def fit(values: np.ndarray, seed: int, **extra) -> dict:
        cfg = TrainConfig(method="head", epsilon=args.epsilon, epochs=args.epochs, seed=seed, findings=findings, **extra)
        clf = ReportClassifier(cfg).fit(train, LabelTable.from_matrix(train.case_ids, findings, values, "benchmark"))
        probs = clf.predict_proba(test)
        pred = clf.predict(test, probs=probs)
        m = multilabel_metrics(y_test, probs, pred, findings, n_boot=0)
        pos = y_test[:, pathology] == 1
        hit = pred[:, pathology] == 1
        tpr_b = (hit & pos)[test_b].sum() / pos[test_b].sum()
        tpr_rest = (hit & pos)[~test_b].sum() / pos[~test_b].sum()
        eps = clf.result.privacy.epsilon
        return {"weighted_f1": m["weighted_f1"], "tpr_site_B": float(tpr_b), "tpr_rest": float(tpr_rest), "tpr_gap": float(tpr_rest - tpr_b), "epsilon": eps}

    seeds = list(range(args.seeds))
    detection, curve, robust, selection = [], [], [], []
    with pooled_feature_cache():
        clean = {s: fit(truth_m, s) for s in seeds}
        console.print(f"clean labels: weighted F1 {np.mean([c['weighted_f1'] for c in clean.values()]):.4f}, TPR gap {np.mean([c['tpr_gap'] for c in clean.values()]):+.4f}")
        for rep in range(args.replicates):
            noisy, flipped = flip_labels(truth, train, args.rate, ("site", "site_B"), args.group_rate, 0.5, 0.8, seed=rep)
            noisy_m = np.where(noisy.values() == 1, 1.0, 0.0)
            ta = time.perf_counter()
            audit = audit_labels(train, noisy, config=LabelAuditConfig(n_boot=200, seed=rep))
            audit_s = time.perf_counter() - ta
            given, _ = binary_labels(noisy)
            lab_lists = [list(np.flatnonzero(r)) for r in given]
            cl_case = find_label_issues(lab_lists, audit.oos_probability, multi_label=True, n_jobs=1)  # no forked pool (see noise/audit.py); same result
            case_wrong = flipped.any(1)
            d = {
                "replicate": rep,
                "audit_seconds": audit_s,
                "cells_ours": flag_precision_recall(audit.likely_wrong, flipped),
                "cells_cleanlab_defaults": flag_precision_recall(audit.cleanlab_issue, flipped),
                "cases_ours": flag_precision_recall(audit.likely_wrong.any(1), case_wrong),
                "cases_cleanlab_defaults": flag_precision_recall(cl_case, case_wrong),
                "share_cases_wrong_by_site": {
                    r["group"]: {"estimated": r["share_cases_with_wrong_label"], "ci95": r["share_cases_with_wrong_label_ci95"], "true": float(case_wrong[site == r["group"]].mean())}
                    for r in audit.summary["by_group"]["site"]
                },
                "share_cases_wrong_overall": {"estimated": audit.summary["overall"]["share_cases_with_wrong_label"], "true": float(case_wrong.mean())},
            }
            detection.append(d)
            console.print(
                f"replicate {rep}: audit {audit_s:.0f} s; cells F1 ours {d['cells_ours']['f1']:.3f} vs cleanlab {d['cells_cleanlab_defaults']['f1']:.3f}; "
                f"cases F1 ours {d['cases_ours']['f1']:.3f} vs cleanlab {d['cases_cleanlab_defaults']['f1']:.3f}"
            )

            base = {s: fit(noisy_m, s) for s in seeds}
            quality = get_label_quality_scores(lab_lists, audit.oos_probability)
            prevalence = given.mean(0)
            p_wrong = np.nan_to_num(audit.p_label_wrong)
            # Selection only (no retraining): the share of wrong labels each way of choosing would correct.
            for frac in BUDGETS:
                budget = int(round(frac * len(train)))
                for name, kw in SCORING_VARIANTS.items():
                    if name == "cleanlab_rank":
                        idx = np.argsort(quality, kind="stable")[:budget]
                    else:
                        cases = plan_annotation(train, p_wrong, PlanConfig(budget=budget, seed=rep, **kw), findings, prevalence).cases["case_id"]
                        idx = np.flatnonzero(np.isin(train.case_ids, cases))
                    selection.append({"replicate": rep, "budget": frac, "variant": name, "wrong_cells_fixed": float(flipped[idx].sum() / flipped.sum())})
            rng = np.random.default_rng(10_000 + rep)
            for frac in BUDGETS:
                budget = int(round(frac * len(train)))
                chosen = {
                    "plan": np.flatnonzero(np.isin(train.case_ids, plan_annotation(train, p_wrong, PlanConfig(budget=budget, seed=rep), findings, prevalence).cases["case_id"])),
                    "random": rng.choice(len(train), size=budget, replace=False),
                    "cleanlab_rank": np.argsort(quality, kind="stable")[:budget],
                }
                for strategy in STRATEGIES:
                    idx = chosen[strategy]
                    values = noisy_m.copy()
                    values[idx] = truth_m[idx]
                    for s in seeds:
                        r = fit(values, s)
                        curve.append(
                            {
                                "replicate": rep,
                                "seed": s,
                                "budget": frac,
                                "strategy": strategy,
                                **r,
                                "recovered_points": 100 * (r["weighted_f1"] - base[s]["weighted_f1"]),
                                "gap_points_vs_noisy": 100 * (r["tpr_gap"] - base[s]["tpr_gap"]),
                                "wrong_cells_fixed": float(flipped[idx].sum() / flipped.sum()),
                                "noisy_weighted_f1": base[s]["weighted_f1"],
                                "clean_weighted_f1": clean[s]["weighted_f1"],
                            }
                        )
                console.print(
                    f"  budget {100 * frac:.0f}%: "
                    + ", ".join(f"{st} {np.mean([c['recovered_points'] for c in curve if c['replicate'] == rep and c['budget'] == frac and c['strategy'] == st]):+.2f}" for st in STRATEGIES)
                )

            write_table(audit.cells(), tmp / "issues.csv")
            for name, extra in (
                ("gce", {"robust_loss": "gce"}),
                ("gce_q0.7", {"robust_loss": "gce", "gce_q": 0.7}),
                ("exclude_flagged", {"label_issues": str(tmp / "issues.csv"), "label_issue_policy": "exclude"}),
                ("soft_labels", {"label_issues": str(tmp / "issues.csv"), "label_issue_policy": "soft"}),
            ):
                for s in seeds:
                    r = fit(noisy_m, s, **extra)
                    robust.append({"replicate": rep, "seed": s, "method": name, **r, "recovered_points": 100 * (r["weighted_f1"] - base[s]["weighted_f1"])})
            for s in seeds:
                robust.append({"replicate": rep, "seed": s, "method": "none (noisy labels)", **base[s], "recovered_points": 0.0})

    # ---- tables ----------------------------------------------------------------------------------------
    def avg(rows: list[dict], key: str) -> float:
        return float(np.mean([r[key] for r in rows]))

    table = Table(title=f"Detection of flipped labels ({args.replicates} replicates, {args.n} cases; mean)")
    for col in ("", "precision", "recall", "F1", "flagged"):
        table.add_column(col, justify="right")
    for key, label in (
        ("cells_ours", "cells: radtrust audit (P(wrong) ≥ 0.5)"),
        ("cells_cleanlab_defaults", "cells: cleanlab defaults"),
        ("cases_ours", "cases: radtrust audit"),
        ("cases_cleanlab_defaults", "cases: cleanlab find_label_issues defaults"),
    ):
        rows = [d[key] for d in detection]
        table.add_row(label, f"{avg(rows, 'precision'):.3f}", f"{avg(rows, 'recall'):.3f}", f"{avg(rows, 'f1'):.3f}", f"{avg(rows, 'n_flagged'):.0f}")
    console.print(table)
    for d in detection[:1]:
        console.print(
            "replicate 0, share of cases with a wrong label, estimated [95% CI] vs true: "
            + "; ".join(f"{g} {v['estimated']:.3f} [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}] vs {v['true']:.3f}" for g, v in d["share_cases_wrong_by_site"].items())
        )

    table = Table(title="Selection only: share of the wrong labels each way of choosing would correct (mean over replicates)")
    table.add_column("way of choosing")
    for frac in BUDGETS:
        table.add_column(f"{100 * frac:.0f}%", justify="right")
    selection_summary = []
    for name in SCORING_VARIANTS:
        vals = [float(np.mean([r["wrong_cells_fixed"] for r in selection if r["variant"] == name and r["budget"] == frac])) for frac in BUDGETS]
        selection_summary.append({"variant": name, **{str(f): v for f, v in zip(BUDGETS, vals)}})
        table.add_row(name, *(f"{100 * v:.1f}%" for v in vals))
    console.print(table)

    summary_curve = []
    table = Table(title=f"Budget curve: weighted F1 recovered (points vs training on noisy labels; mean [95% CI] over {args.replicates}×{args.seeds} paired fits)")
    for col in ("budget", "strategy", "recovered (pts)", "share of clean-label gap", "wrong labels fixed", "TPR gap rest − site_B", "gap change (pts)"):
        table.add_column(col, justify="right")
    noisy_f1 = float(np.mean([r["noisy_weighted_f1"] for r in curve]))
    clean_f1 = float(np.mean([c["weighted_f1"] for c in clean.values()]))
    full_gap = 100 * (clean_f1 - noisy_f1)
    for frac in BUDGETS:
        for strategy in STRATEGIES:
            rows = [c for c in curve if c["budget"] == frac and c["strategy"] == strategy]
            rec = mean_with_ci([r["recovered_points"] for r in rows])
            gap = mean_with_ci([r["gap_points_vs_noisy"] for r in rows])
            entry = {
                "budget": frac,
                "strategy": strategy,
                "recovered_points": rec,
                "share_of_clean_gap": rec["mean"] / full_gap if full_gap else None,
                "wrong_cells_fixed": avg(rows, "wrong_cells_fixed"),
                "tpr_gap": avg(rows, "tpr_gap"),
                "tpr_gap_change_points": gap,
                "weighted_f1": avg(rows, "weighted_f1"),
            }
            summary_curve.append(entry)
            table.add_row(
                f"{100 * frac:.0f}%",
                strategy,
                f"{rec['mean']:+.2f} [{rec['ci95'][0]:+.2f}, {rec['ci95'][1]:+.2f}]",
                f"{100 * entry['share_of_clean_gap']:.0f}%",
                f"{100 * entry['wrong_cells_fixed']:.0f}%",
                f"{entry['tpr_gap']:+.4f}",
                f"{gap['mean']:+.2f} [{gap['ci95'][0]:+.2f}, {gap['ci95'][1]:+.2f}]",
            )
    console.print(table)

    ratios = {}
    for frac in BUDGETS:
        plan = np.array([c["recovered_points"] for c in curve if c["budget"] == frac and c["strategy"] == "plan"])
        rand = np.array([c["recovered_points"] for c in curve if c["budget"] == frac and c["strategy"] == "random"])
        idx = np.stack(list(cluster_resample_indices(np.arange(len(plan)), 2000, seed=1)))  # paired: the same resamples for plan and random
        boot = plan[idx].mean(1) / np.where(rand[idx].mean(1) > 0, rand[idx].mean(1), np.nan)
        ratios[str(frac)] = {
            "ratio": float(plan.mean() / rand.mean()) if rand.mean() > 0 else None,
            "ci95": [float(np.nanpercentile(boot, 2.5)), float(np.nanpercentile(boot, 97.5))],
            "plan_points": float(plan.mean()),
            "random_points": float(rand.mean()),
        }
    r10 = ratios[str(0.10)]
    console.print(f"clean labels: weighted F1 {clean_f1:.4f}; noisy labels: {noisy_f1:.4f} (gap {full_gap:.2f} points)")
    # Random relabelling can recover nothing (or lose) in a small run: then there is no ratio to print.
    ratio_txt = "n/a (random relabelling recovered nothing)" if r10["ratio"] is None else f"{r10['ratio']:.2f} [{r10['ci95'][0]:.2f}, {r10['ci95'][1]:.2f}]"
    console.print(f"at a 10% budget the plan recovers {r10['plan_points']:.2f} points, random relabelling {r10['random_points']:.2f}: ratio {ratio_txt} (goal ≥ 2)")

    table = Table(title="No experts: noise-robust training on the noisy labels (mean over paired fits)")
    for col in ("method", "weighted F1", "recovered (pts)", "TPR gap rest − site_B"):
        table.add_column(col, justify="right")
    robust_summary = []
    for name in ("none (noisy labels)", "gce", "gce_q0.7", "exclude_flagged", "soft_labels"):
        rows = [r for r in robust if r["method"] == name]
        rec = mean_with_ci([r["recovered_points"] for r in rows])
        robust_summary.append({"method": name, "weighted_f1": avg(rows, "weighted_f1"), "recovered_points": rec, "tpr_gap": avg(rows, "tpr_gap")})
        table.add_row(name, f"{avg(rows, 'weighted_f1'):.4f}", f"{rec['mean']:+.2f} [{rec['ci95'][0]:+.2f}, {rec['ci95'][1]:+.2f}]", f"{avg(rows, 'tpr_gap'):+.4f}")
    table.add_row("clean labels (reference)", f"{clean_f1:.4f}", f"{full_gap:+.2f}", f"{np.mean([c['tpr_gap'] for c in clean.values()]):+.4f}")
    console.print(table)
    eps_txt = "not private (ε = inf)" if math.isinf(args.epsilon) else f"ε = {args.epsilon:g}, δ = 1/(10 N), PRV accountant"
    console.print(f"classifier: all-MiniLM-L6-v2 linear head, {eps_txt}; wall {time.perf_counter() - t0:.0f} s")

    out = {
        "benchmark": "label_noise",
        "settings": vars(args) | {"json": str(args.json) if args.json else None},
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "torch_threads": torch.get_num_threads()},
        "wall_seconds": time.perf_counter() - t0,
        "clean_weighted_f1": clean_f1,
        "noisy_weighted_f1": noisy_f1,
        "detection": detection,
        "selection_only": selection_summary,
        "budget_curve": summary_curve,
        "plan_vs_random_ratio": ratios,
        "robust_training": robust_summary,
        "fits": {"curve": curve, "robust": robust, "clean": list(clean.values())},
    }
    if args.json:
        write_json(out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
