"""Benchmark: the privacy–utility table on Open-i, through `radtrust sweep`.

Trains on the rule labeler's labels of 70% of the Open-i dev reports and scores the other 30% against the
public gold standard (ChestX-ray14 findings; split by report, as Open-i has no patient ids), for each
method and ε. Every run is charged to a throw-away privacy ledger in the output folder.

    python benchmarks/openi_privacy_utility.py [--epsilons 1,4,8,inf] [--methods lora,head] [--out DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OPENI = REPO.parent / "shared" / "data" / "openi"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=OPENI / "reports_dev.tgz")
    ap.add_argument("--gold", type=Path, default=OPENI / "gold_chestxray14_dev.csv")
    ap.add_argument("--epsilons", default="1,4,8,inf")
    ap.add_argument("--methods", default="lora,head")
    ap.add_argument("--config", type=Path, default=None, help="YAML training options shared by every run")
    ap.add_argument("--out", type=Path, default=None, help="sweep folder (default: a temporary one)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if not args.data.exists() or not args.gold.exists():
        print(f"Open-i data not found at {args.data} / {args.gold}; nothing to measure.")
        return 0

    from radtrust.data.readers import read_labels, read_openi
    from radtrust.evaluate.sweep import run_sweep
    from radtrust.labeling.rules import RuleLabeler
    from radtrust.privacy.ledger import PrivacyLedger
    from radtrust.train.config import TrainConfig

    out = args.out or Path(tempfile.mkdtemp(prefix="openi_sweep_"))
    cohort = read_openi(args.data, empty_reports="drop")
    labels = RuleLabeler("chestxray14").label(cohort)
    gold = read_labels(args.gold)
    cfg = TrainConfig.load(args.config)
    frame = run_sweep(cohort, labels, gold, args.epsilons, args.methods, cfg, out, test_fraction=0.3, ledger=PrivacyLedger(out / "ledger.sqlite"), progress=True)

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Open-i privacy–utility (weighted F1 vs gold; {int(frame['n_train'].iloc[0])} train / {int(frame['n_test'].iloc[0])} test reports)")
    for col in ("method", "ε target", "ε spent", "δ", "weighted F1 [95% CI]", "micro F1", "fit s"):
        table.add_column(col, justify="right")
    for r in frame.itertuples():
        private = math.isfinite(r.epsilon_target)
        table.add_row(
            r.method, f"{r.epsilon_target:g}", f"{r.epsilon_spent:.3f}" if private else "inf", f"{r.delta:.2g}" if private else "–",
            f"{r.weighted_f1:.3f} [{r.weighted_f1_ci_low:.3f}, {r.weighted_f1_ci_high:.3f}]", f"{r.micro_f1:.3f}", f"{r.fit_wall_seconds:.0f}",
        )  # fmt: skip
    Console().print(table)
    if args.json:
        doc = json.loads((out / "sweep.json").read_text())
        doc["machine"] = {"cores": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0]}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
