"""Benchmark: the membership-inference audit (`radtrust audit privacy`) of models trained at ε ∈ {1, 8, inf}.

Each run trains the report classifier (all-MiniLM-L6-v2, DP linear head; the LoRA method is the same
loop but too slow on two CPU cores for this many runs) with audit canaries planted: random-text reports
with random labels, each trained on with probability 1/2. The audit attacks the training records (against
the held-out validation patients) and the canaries with the loss-threshold attack and online LiRA with
shadow models, and turns the best attack into an empirical ε lower bound (95% confidence, Bonferroni over
attacks) to set beside the accountant's ε. What should hold: the non-private model leaks (canary AUC well
above 0.5); the private ones stay within their claim.

Data: the synthetic chest cohort (CheXpert-14 truth labels); with ``--openi``, also the Open-i dev reports
labelled by the rule labeler (one report per patient).

    python benchmarks/privacy_audit.py [--n 2000] [--canaries 500] [--shadows 4] [--epsilons 1,8,inf] [--openi] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OPENI = REPO.parent / "shared" / "data" / "openi"


def _ci(x) -> str:
    return "–" if x is None else f"[{x[0]:.3f}, {x[1]:.3f}]"


def run_dataset(name: str, cohort, labels, epsilons: list[float], args, out: Path) -> list[dict]:
    from radtrust.evaluate.privacy_audit import PrivacyAuditConfig, audit_privacy
    from radtrust.train.config import TrainConfig
    from radtrust.train.estimator import ReportClassifier

    rows = []
    for eps in epsilons:
        cfg = TrainConfig(method="head", epochs=args.epochs, batch_size=128, learning_rate=0.05, epsilon=eps, canaries=args.canaries, seed=0)
        t0 = time.perf_counter()
        clf = ReportClassifier(cfg).fit(cohort, labels, progress=True)
        run = out / f"{name}_eps{eps:g}"
        clf.save(run)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        audit = audit_privacy(run, cohort, labels, PrivacyAuditConfig(shadows=args.shadows, seed=0), progress=True)
        audit_s = time.perf_counter() - t0
        (run / "privacy_audit.json").write_text(json.dumps(audit, indent=2))
        rows.append({"dataset": name, "epsilon_target": "inf" if math.isinf(eps) else eps, "fit_seconds": round(fit_s, 1), "audit_seconds": round(audit_s, 1), "audit": audit})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="synthetic reports")
    ap.add_argument("--canaries", type=int, default=500)
    ap.add_argument("--shadows", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--epsilons", default="1,8,inf")
    ap.add_argument("--openi", action="store_true", help="also audit runs on the Open-i dev reports (rule-labeler labels)")
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "privacy_audit.json")
    args = ap.parse_args(argv)
    epsilons = [float(e) for e in args.epsilons.split(",")]

    from radtrust.synth.chest import ChestSynthConfig, synth_chest

    out = Path(tempfile.mkdtemp(prefix="privacy_audit_"))
    cohort, truth = synth_chest(ChestSynthConfig(n=args.n, seed=0))
    rows = run_dataset("synthetic", cohort, truth, epsilons, args, out)
    if args.openi:
        data = OPENI / "reports_dev.tgz"
        if data.exists():
            from radtrust.data.readers import read_openi
            from radtrust.labeling.rules import RuleLabeler

            oc = read_openi(data, empty_reports="drop")
            rows += run_dataset("openi", oc, RuleLabeler("chestxray14").label(oc), epsilons, args, out)
        else:
            print(f"Open-i reports not found at {data}; skipped.")

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Membership-inference audit ({args.canaries} canaries, {args.shadows} shadow models; 95% intervals)")
    for col in ("data", "ε claimed (δ)", "attack on", "AUC [95% CI]", "TPR@1%FPR [CI]", "TPR@0.1%FPR [CI]", "ε lower bound"):
        table.add_column(col, justify="right")
    for r in rows:
        a = r["audit"]
        c = a["claimed"]
        claim = "inf" if c["epsilon"] == "inf" else f"{c['epsilon']:.2f} ({c['delta']:.1e})"
        for name, at in a["attacks"].items():
            t1, t01 = at["tpr_at_fpr_0.01"], at["tpr_at_fpr_0.001"]
            table.add_row(
                r["dataset"], claim, name, f"{at['auc']:.3f} {_ci(at['auc_ci95'])}", f"{t1['tpr']:.3f} {_ci(t1['ci95'])}",
                f"{t01['tpr']:.3f} {_ci(t01['ci95'])}" + ("" if t01["resolvable"] else "*"), f"{at['epsilon']['epsilon_lower_bound']:.2f}",
            )  # fmt: skip
        e = a["empirical_epsilon"]
        table.add_row(r["dataset"], claim, "[bold]best[/bold]", "", "", "", f"[bold]{e['lower_bound']:.2f}[/bold] ({'within' if e['within_claim'] else 'ABOVE'} claim)", end_section=True)
    Console().print(table)
    print("* fewer non-members than 1/FPR: the threshold sits above every non-member.")
    doc = {
        "benchmark": "privacy_audit",
        "settings": {"n_synthetic": args.n, "canaries": args.canaries, "shadows": args.shadows, "epochs": args.epochs, "method": "head", "encoder": "all-MiniLM-L6-v2"},
        "runs": rows,
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0]},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=2))
    print(f"→ {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
