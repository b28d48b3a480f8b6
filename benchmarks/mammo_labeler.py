"""Benchmark: the mammography labeler against the hidden truth of synthetic mammography reports.

Scores BI-RADS (exact category, 4A/4B/4C = 4), density (A-D) and exam laterality (L/R/B) by accuracy,
and each per-breast finding column by accuracy, precision, recall and F1. A finding counts as predicted
present when the labeler says positive (1) or uncertain (-1): in mammography a hedged finding ("possible
asymmetry") is a finding that was seen and needs work-up. Negative (0) and not mentioned (empty) count as
absent. A missing categorical label counts as wrong.

    python benchmarks/mammo_labeler.py --n 5000 --seed 0 --json OUT
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _scores(pred: np.ndarray, gold: np.ndarray) -> dict:
    tp = int((pred & gold).sum())
    fp = int((pred & ~gold).sum())
    fn = int((~pred & gold).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"accuracy": float((pred == gold).mean()), "precision": p, "recall": r, "f1": f, "tp": tp, "fp": fp, "fn": fn, "support": tp + fn}


def evaluate(pred: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """Per-field scores of a mammo label table ``pred`` against ``truth`` (aligned on case_id)."""
    from radtrust.labeling.mammo import MAMMO_CATEGORICAL, MAMMO_FINDINGS

    p = pred.set_index("case_id").loc[truth["case_id"]].reset_index()
    out: dict = {"n": int(len(truth)), "categorical": {}, "findings": {}}
    for col in MAMMO_CATEGORICAL:
        a = p[col].astype("string").fillna("<missing>").to_numpy()
        b = truth[col].astype("string").to_numpy()
        out["categorical"][col] = {"accuracy": float((a == b).mean()), "missing": int(p[col].isna().sum())}
    allp, allg = [], []
    for col in MAMMO_FINDINGS:
        v = p[col].astype("float64").to_numpy()
        pr = (v == 1) | (v == -1)
        g = truth[col].astype("float64").to_numpy() == 1
        out["findings"][col] = _scores(pr, g)
        allp.append(pr)
        allg.append(g)
    out["findings_micro"] = _scores(np.concatenate(allp), np.concatenate(allg))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000, help="number of synthetic reports")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-sites", type=int, default=4)
    ap.add_argument("--typo-scale", type=float, default=1.0)
    ap.add_argument("--json", type=Path, default=None, help="write the scores here")
    args = ap.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    from radtrust.labeling.mammo import MammoLabeler
    from radtrust.synth.mammo_reports import MammoReportSynthConfig, synth_mammo_reports

    cfg = MammoReportSynthConfig(n=args.n, seed=args.seed, n_sites=args.n_sites, typo_scale=args.typo_scale)
    t0 = time.perf_counter()
    cohort, truth = synth_mammo_reports(cfg)
    t_synth = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = MammoLabeler().label(cohort)
    t_label = time.perf_counter() - t0
    res = evaluate(pred, truth)
    res["by_site"] = {}
    for s in sorted(cohort.frame["site"].unique()):
        ids = set(cohort.frame.loc[cohort.frame["site"] == s, "case_id"])
        sub = evaluate(pred[pred["case_id"].isin(ids)], truth[truth["case_id"].isin(ids)].reset_index(drop=True))
        res["by_site"][s] = {k: v["accuracy"] for k, v in sub["categorical"].items()} | {"findings_micro_f1": sub["findings_micro"]["f1"]}

    console = Console()
    tab = Table(title=f"Mammography labeler on {args.n} synthetic reports (seed {args.seed})")
    for col in ("field", "accuracy", "precision", "recall", "F1", "support"):
        tab.add_column(col, justify="left" if col == "field" else "right")
    for col, v in res["categorical"].items():
        tab.add_row(col, f"{v['accuracy']:.4f}", "", "", "", f"{res['n']}")
    for col, v in res["findings"].items():
        tab.add_row(col, f"{v['accuracy']:.4f}", f"{v['precision']:.4f}", f"{v['recall']:.4f}", f"{v['f1']:.4f}", str(v["support"]))
    m = res["findings_micro"]
    tab.add_row("findings (micro)", f"{m['accuracy']:.4f}", f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}", str(m["support"]), style="bold")
    console.print(tab)
    console.print(f"synthesis {t_synth:.2f} s, labeling {t_label:.2f} s ({args.n / t_label:.0f} reports/s)")

    if args.json:
        payload = {
            "benchmark": "mammo_labeler",
            "date": time.strftime("%Y-%m-%d"),
            "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
            "config": cfg.model_dump(mode="json"),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
            "seconds": {"synthesis": round(t_synth, 3), "labeling": round(t_label, 3)},
            **res,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
