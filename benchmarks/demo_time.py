"""Benchmark: wall time of `radtrust demo` end to end (a fresh process, as a user runs it), reports and mammograms.

python benchmarks/demo_time.py [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    radtrust = Path(sys.executable).with_name("radtrust")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        r = subprocess.run([str(radtrust), "demo", "--out", tmp, "--n", str(args.n), "-q"], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            print(r.stderr)
            return r.returncode
        metrics = json.loads((Path(tmp) / "metrics.json").read_text())
        mammo = json.loads((Path(tmp) / "mammography.json").read_text())
    out = {
        "demo_wall_seconds": round(wall, 1),
        "n_reports": args.n,
        "weighted_f1": {k: round(v["weighted_f1"], 4) for k, v in metrics.items()},
        "ci95_weighted_f1": {k: [round(x, 4) for x in v["ci95"]["weighted_f1"]] for k, v in metrics.items()},
        "epsilon": {k: v["privacy"]["epsilon"] for k, v in metrics.items()},
        "membership_audit": {k: v["privacy_audit"] for k, v in metrics.items()},
        "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
        "mammography": {
            name: {
                "breast_auroc_abnormal": m["scores"]["findings"]["abnormal"]["auroc"],
                "ci95": m["scores"]["findings"]["abnormal"]["ci95"],
                "exam_density_accuracy": m["scores"]["density"]["accuracy"],
                "epsilon": m["privacy"]["epsilon"],
                "privacy_unit": m["privacy"]["unit"],
            }
            for name, m in mammo["models"].items()
        },
    }
    print(f"radtrust demo: {wall:.0f} s wall; weighted F1 private {out['weighted_f1']['private']:.3f}, non-private {out['weighted_f1']['non_private']:.3f}")
    for name, a in out["membership_audit"].items():
        print(
            f"  {name}: canary membership AUC {a['canary_auc']:.3f} {[round(x, 3) for x in a['canary_auc_ci95']]}, "
            f"empirical ε ≥ {a['epsilon_lower_bound']:.2f} ({'within' if a['within_claim'] else 'ABOVE'} the claim)"
        )
    for name, m in out["mammography"].items():
        auc = "n/a" if m["breast_auroc_abnormal"] is None else f"{m['breast_auroc_abnormal']:.3f}"
        print(f"  mammography {name}: breast AUROC normal vs abnormal {auc}, exam density accuracy {m['exam_density_accuracy']:.3f} (ε = {m['epsilon']})")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
