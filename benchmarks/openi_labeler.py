"""Benchmark: the rule-based labeler against the Open-i ChestX-ray14 gold standard (Peng et al., 2018).

Scores micro and per-finding precision/recall/F1 over the 14 findings (``normal`` excluded, as in the
NegBio paper) from report text only (findings + impression); MeSH terms are never read by the labeler.

A prediction is positive only when the label is 1. Uncertain (-1) counts as negative here because the
gold standard comes from MeSH indexing, and the indexers mostly did not index hedged findings ("may
represent pneumonia", "cannot exclude effusion"); ``--uncertain-positive`` shows the other choice.

    python benchmarks/openi_labeler.py [--data DIR_OR_TGZ] [--gold CSV] [--json OUT]
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

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DIR = REPO.parent / "shared" / "data" / "openi"
FINDINGS14 = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
)  # fmt: skip


_KEEP = ("precision", "recall", "f1", "tp", "fp", "fn", "support")


def evaluate(pred: np.ndarray, gold: np.ndarray, findings, uncertain_positive: bool = False, clusters=None) -> dict:
    """Micro and per-finding scores with the project's metric function; ``pred`` holds 1/0/-1/NaN,
    ``gold`` 0/1, same row order. ``clusters`` (one per report) adds a 95% bootstrap interval."""
    from radtrust.evaluate.metrics import multilabel_metrics

    decided = ((pred == 1) | ((pred == -1) if uncertain_positive else False)).astype(int)
    m = multilabel_metrics(gold.astype(float), None, decided, list(findings), clusters=clusters, exclude_from_average=())
    per = {f: {k: m["per_label"][f][k] for k in _KEEP} for f in findings}
    tot = {k: sum(per[f][k] for f in findings) for k in ("tp", "fp", "fn")}
    micro = {"precision": m["micro_precision"], "recall": m["micro_recall"], "f1": m["micro_f1"], **tot, "support": tot["tp"] + tot["fn"]}
    out = {"micro": micro, "per_finding": per}
    if "ci95" in m:
        out["micro_f1_ci95"] = m["ci95"]["micro_f1"]
    return out


def _read_cohort(data: Path):
    from radtrust.data.readers import read_openi

    try:
        return read_openi(data, empty_reports="keep")
    except TypeError:  # older reader without the option
        return read_openi(data)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DIR / "reports_dev.tgz", help="Open-i .tgz, folder or XML")
    ap.add_argument("--gold", type=Path, default=DEFAULT_DIR / "gold_chestxray14_dev.csv", help="gold CSV (filename + 0/1 columns)")
    ap.add_argument("--json", type=Path, default=None, help="write the scores here")
    ap.add_argument("--uncertain-positive", action="store_true", help="count uncertain (-1) as positive")
    ap.add_argument("--split", choices=("all", "even", "odd"), default="all", help="score only even/odd report numbers")
    args = ap.parse_args(argv)

    if not args.data.exists() or not args.gold.exists():
        print(f"Open-i data not found ({args.data if not args.data.exists() else args.gold}); nothing to benchmark.")
        return 0

    from rich.console import Console
    from rich.table import Table

    from radtrust.labeling.rules import RuleLabeler

    cohort = _read_cohort(args.data)
    gold = pd.read_csv(args.gold, dtype={"filename": str}).set_index("filename")
    ids = [i for i in cohort.case_ids if i in gold.index]
    if args.split != "all":
        want = 0 if args.split == "even" else 1
        ids = [i for i in ids if int("".join(ch for ch in i if ch.isdigit()) or 0) % 2 == want]
    cohort = cohort.subset(np.isin(np.asarray(cohort.case_ids, dtype=object), ids))
    texts = cohort.texts()

    labeler = RuleLabeler("chestxray14")
    t0 = time.perf_counter()
    table = labeler.label(cohort)
    elapsed = time.perf_counter() - t0
    pred = table.values()
    cols = [list(labeler.findings).index(f) for f in FINDINGS14]
    g = gold.loc[cohort.case_ids, list(FINDINGS14)].to_numpy()
    # Open-i has no patient ids: each report is its own cluster for the bootstrap interval.
    res = evaluate(pred[:, cols], g, FINDINGS14, args.uncertain_positive, clusters=np.asarray(cohort.case_ids, dtype=object))
    no_hernia = [f for f in FINDINGS14 if f != "Hernia"]
    res13 = evaluate(pred[:, cols[:-1]], g[:, :-1], no_hernia, args.uncertain_positive)

    # A cold second pass (fresh labeler, no sentence cache) on the same texts gives the throughput.
    t0 = time.perf_counter()
    RuleLabeler("chestxray14").label_texts(texts)
    cold = time.perf_counter() - t0

    normal_j = list(labeler.findings).index("normal")
    gold_normal = gold.loc[cohort.case_ids, "normal"].to_numpy() == 1
    normal_acc = float(((pred[:, normal_j] == 1) == gold_normal).mean())

    console = Console()
    tab = Table(title=f"Open-i ({len(ids)} reports) vs ChestX-ray14 gold - {labeler.label_source}")
    for c in ("finding", "P", "R", "F1", "support", "TP", "FP", "FN"):
        tab.add_column(c, justify="left" if c == "finding" else "right")
    for f, s in [*res["per_finding"].items(), ("micro (14)", res["micro"]), ("micro (13, no Hernia)", res13["micro"])]:
        tab.add_row(f, f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['f1']:.3f}", str(s["support"]), str(s["tp"]), str(s["fp"]), str(s["fn"]))
    console.print(tab)
    console.print(
        f"uncertain (-1) counted as {'positive' if args.uncertain_positive else 'negative'} "
        "(MeSH indexers rarely index hedged findings). The gold has no Hernia positives: its MeSH mapping "
        "leaves out 'Hernia, Hiatal', which the labeler reports as ChestX-ray14 Hernia."
    )
    console.print(f"normal agreement {normal_acc:.3f}; {len(texts) / cold:,.0f} reports/s (cold), {len(texts) / elapsed:,.0f} incl. table building")
    console.print(f"micro F1 95% interval (report bootstrap): {res['micro_f1_ci95'][0]:.3f}-{res['micro_f1_ci95'][1]:.3f}")
    console.print("NegBio (published, all 3,851 reports): P 0.898 R 0.850 F1 0.873")

    out = {
        "micro": {k: res["micro"][k] for k in ("precision", "recall", "f1")},
        "micro_excl_hernia": {k: res13["micro"][k] for k in ("precision", "recall", "f1")},
        "micro_f1_ci95": res["micro_f1_ci95"],
        "per_finding": res["per_finding"],
        "n_reports": len(ids),
        "reports_per_s": len(texts) / cold,
        "uncertain_counts_as": "positive" if args.uncertain_positive else "negative",
        "normal_agreement": normal_acc,
        "label_source": labeler.label_source,
        "split": args.split,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
