"""Benchmark: what planting canaries costs a private model (the demo's recipe at ε = 8, with and without).

Canaries are trained on like any record, so they take part of the privacy budget's sampling and of the
model's capacity. This trains the demo's report classifier (all-MiniLM-L6-v2, DP-LoRA on the top layer,
ε = 8, 1,500 synthetic reports, rule labels) with 0 and with 100 canaries at several seeds, and scores each
against the hidden truth on the same held-out patients.

    python benchmarks/canary_cost.py [--seeds 0,1,2] [--canaries 100] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=str, default="0,1,2")
    ap.add_argument("--canaries", type=int, default=100)
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--epsilon", type=float, default=8.0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from radtrust.data.splits import patient_split
    from radtrust.demo import DEMO_TRAIN
    from radtrust.evaluate.evaluate import score_against_gold
    from radtrust.labeling.rules import RuleLabeler
    from radtrust.synth.chest import ChestSynthConfig, synth_chest
    from radtrust.train.api import fit_and_save
    from radtrust.train.config import TrainConfig

    console = Console()
    cohort, truth = synth_chest(ChestSynthConfig(n=args.n, seed=0))
    labels = RuleLabeler("chexpert14").label(cohort)
    train_idx, test_idx = patient_split(cohort, 0.2, 0)
    train, test = cohort.subset(train_idx), cohort.subset(test_idx)
    test_truth = truth.aligned_to(test.case_ids)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for k in (0, args.canaries):
                cfg = TrainConfig(encoder="all-MiniLM-L6-v2", epsilon=args.epsilon, seed=seed, canaries=k, **DEMO_TRAIN)
                clf = fit_and_save(train, labels, cfg, Path(tmp) / f"s{seed}_c{k}", overwrite=True, progress=True, ledger=None)
                m = score_against_gold(clf, test, test_truth, seed=seed, progress=False)
                p = clf.result.privacy
                rows.append(
                    {
                        "seed": seed, "canaries": k, "weighted_f1": round(m["weighted_f1"], 4),
                        "ci95": [round(x, 4) for x in m["ci95"]["weighted_f1"]], "epsilon": round(p.epsilon, 3),
                        "noise_multiplier": round(p.noise_multiplier, 4), "n_train_records": p.n_train_records,
                    }
                )  # fmt: skip
                console.print(f"seed {seed}, {k} canaries: weighted F1 {m['weighted_f1']:.3f}")
    tab = Table(title=f"Demo recipe at ε = {args.epsilon:g}: weighted F1 on held-out patients, with and without canaries")
    for c in ("seed", "canaries", "weighted F1 [95% CI]", "ε", "noise multiplier", "training records"):
        tab.add_column(c, justify="right")
    for r in rows:
        tab.add_row(
            str(r["seed"]), str(r["canaries"]), f"{r['weighted_f1']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]", f"{r['epsilon']:.3f}", f"{r['noise_multiplier']:.3f}", str(r["n_train_records"])
        )
    console.print(tab)
    diffs = [b["weighted_f1"] - a["weighted_f1"] for a, b in zip(rows[::2], rows[1::2])]
    console.print(f"with minus without canaries: {', '.join(f'{d:+.3f}' for d in diffs)} (mean {np.mean(diffs):+.3f})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": rows, "difference_with_minus_without": diffs}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
