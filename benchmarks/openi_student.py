"""Benchmark: a report classifier trained on the rule labeler's labels of one part of the Open-i dev
reports, scored on the other part against the public gold standard (ChestX-ray14, 14 findings,
``normal`` excluded from averages), privately (ε = 8) and non-privately (ε = inf).

Open-i has no patient ids, so each report is its own patient and the split is by report.

    python benchmarks/openi_student.py [--data TGZ] [--gold CSV] [--epsilons 8,inf] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DIR = REPO.parent / "shared" / "data" / "openi"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DIR / "reports_dev.tgz")
    ap.add_argument("--gold", type=Path, default=DEFAULT_DIR / "gold_chestxray14_dev.csv")
    ap.add_argument("--epsilons", default="8,inf")
    ap.add_argument("--test-fraction", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", type=Path, default=None, help="YAML training options (as for radtrust train)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if not args.data.exists() or not args.gold.exists():
        print(f"Open-i data not found at {args.data} / {args.gold}; nothing to measure.")
        return 0

    from rich.console import Console
    from rich.table import Table

    from radtrust.data.readers import read_labels, read_openi
    from radtrust.data.splits import patient_split
    from radtrust.evaluate.evaluate import score_against_gold
    from radtrust.labeling.rules import RuleLabeler
    from radtrust.train.config import TrainConfig
    from radtrust.train.estimator import ReportClassifier

    cohort = read_openi(args.data, empty_reports="drop")
    gold = read_labels(args.gold)
    labels = RuleLabeler("chestxray14").label(cohort)
    train_idx, test_idx = patient_split(cohort, args.test_fraction, args.seed)
    train, test = cohort.subset(train_idx), cohort.subset(test_idx)

    results: dict = {
        "n_reports": len(cohort),
        "n_dropped_empty": cohort.n_dropped_empty,
        "n_train": len(train),
        "n_test": len(test),
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0]},
        "runs": {},
    }
    for tok in args.epsilons.split(","):
        eps = float(tok)
        cfg = TrainConfig.load(args.config, epsilon=eps, seed=args.seed)
        t0 = time.perf_counter()
        clf = ReportClassifier(cfg).fit(train, labels, progress=True)
        wall = time.perf_counter() - t0
        m = score_against_gold(clf, test, gold, seed=args.seed)
        results["runs"][tok] = {
            "weighted_f1": m["weighted_f1"],
            "micro_f1": m["micro_f1"],
            "macro_f1": m["macro_f1"],
            "macro_auroc": m["macro_auroc"],
            "ci95": m["ci95"],
            "n_scored": m["n_cases"],
            "privacy": clf.result.privacy.to_dict(),
            "fit_wall_seconds": round(wall, 1),
            "config": json.loads(cfg.model_dump_json()) | {"epsilon": tok},
            "per_label_f1": {f: r["f1"] for f, r in m["per_label"].items()},
        }

    table = Table(title=f"Open-i student: trained on rule labels ({len(train)} reports), scored vs gold ({len(test)} reports)")
    for col in ("ε", "weighted F1 [95% CI]", "micro F1", "macro F1", "macro AUROC", "δ", "fit s"):
        table.add_column(col, justify="right")
    for tok, r in results["runs"].items():
        ci = r["ci95"]["weighted_f1"]
        p = r["privacy"]
        table.add_row(
            tok if math.isinf(float(tok)) else f"{p['epsilon']:.3f}",
            f"{r['weighted_f1']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]",
            f"{r['micro_f1']:.3f}",
            f"{r['macro_f1']:.3f}",
            f"{r['macro_auroc']:.3f}" if r["macro_auroc"] is not None else "–",
            f"{p['delta']:.2g}" if p["delta"] else "–",
            f"{r['fit_wall_seconds']:.0f}",
        )
    Console().print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
