"""Benchmark: report students against their teacher, cold and warm-started, private and not.

On Open-i (``--cohort openi``): the teacher is the rule labeler (ChestX-ray14 vocabulary); students learn its
labels on the dev training part and are scored with the teacher on the other part against the public gold
standard (split by report: Open-i has no patient ids). On the synthetic cohort (``--cohort synthetic``): the
teacher's labels of noisy synthetic reports, scored against the generator's hidden truth.

Grid: methods × ε × start (cold: the bundled encoder alone, ``warm_start: none``; warm: the warm start that
ships with radtrust, fitted on synthetic reports only with a corpus seed that the synthetic evaluation cohort
does not use, i.e. the default ``warm_start: auto``; or ``--warm-start DIR``, or one built here with
``--pretrain-n N``). Every row is reported, including those that miss the goals:

- non-private student within 0.03 weighted F1 of its teacher;
- ε = 8 within 0.02 of the non-private student of the same method and start; ε = 1 within 0.06.

    python benchmarks/openi_students.py [--cohort openi|synthetic] [--methods head,lora,bitfit,full]
        [--epsilons 1,4,8,inf] [--starts cold,warm] [--method-options 'head:batch_size=1024,epochs=40; lora:pooling=attention']
        [--warm-start DIR | --pretrain-n 4000] [--json OUT]
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
DEFAULT_DIR = REPO.parent / "shared" / "data" / "openi"
#: The synthetic evaluation cohort's seed; the warm start's corpus uses another (``--corpus-seed``).
SYNTH_EVAL_SEED = 11


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", choices=("openi", "synthetic"), default="openi")
    ap.add_argument("--data", type=Path, default=DEFAULT_DIR / "reports_dev.tgz")
    ap.add_argument("--gold", type=Path, default=DEFAULT_DIR / "gold_chestxray14_dev.csv")
    ap.add_argument("--synthetic-n", type=int, default=2000, help="reports in the synthetic evaluation cohort")
    ap.add_argument("--methods", default="head,lora,bitfit,full")
    ap.add_argument("--epsilons", default="1,4,8,inf")
    ap.add_argument("--starts", default="cold,warm")
    ap.add_argument("--method-options", default=None, help="per-method training options, as radtrust sweep --method-options (default: the library's)")
    ap.add_argument("--warm-start", type=Path, default=None, help="a pretrain folder; default: the bundled one")
    ap.add_argument("--pretrain-n", type=int, default=None, help="build a warm start here from this many synthetic reports")
    ap.add_argument("--pretrain-method", default="lora")
    ap.add_argument("--pretrain-epochs", type=int, default=4)
    ap.add_argument("--corpus-seed", type=int, default=0)
    ap.add_argument("--test-fraction", type=float, default=0.3)
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.cohort == "openi" and (not args.data.exists() or not args.gold.exists()):
        print(f"Open-i data not found at {args.data} / {args.gold}; nothing to measure.")
        return 0

    from rich.console import Console
    from rich.table import Table

    from radtrust.data.readers import read_labels, read_openi
    from radtrust.data.splits import patient_split
    from radtrust.evaluate.evaluate import score_against_gold, score_labels_against_gold
    from radtrust.evaluate.sweep import parse_method_options
    from radtrust.labeling.rules import RuleLabeler
    from radtrust.synth.chest import ChestSynthConfig, synth_chest
    from radtrust.synth.pretrain import pretrain
    from radtrust.train.config import TrainConfig
    from radtrust.train.estimator import ReportClassifier

    if args.cohort == "openi":
        vocab = "chestxray14"
        cohort = read_openi(args.data, empty_reports="drop")
        gold = read_labels(args.gold)
    else:
        vocab = "chexpert14"
        if args.corpus_seed == SYNTH_EVAL_SEED:
            raise SystemExit("--corpus-seed must differ from the synthetic evaluation cohort's seed")
        cohort, gold = synth_chest(ChestSynthConfig(n=args.synthetic_n, seed=SYNTH_EVAL_SEED, label_noise=0.1))
    labels = RuleLabeler(vocab).label(cohort)
    train_idx, test_idx = patient_split(cohort, args.test_fraction, args.seed)
    train, test = cohort.subset(train_idx), cohort.subset(test_idx)
    teacher = score_labels_against_gold(labels, test, gold, n_boot=args.n_bootstrap, seed=args.seed)

    results: dict = {
        "cohort": args.cohort,
        "n_train": len(train),
        "n_test": len(test),
        "teacher": {"labels": labels.source, "weighted_f1": teacher["weighted_f1"], "ci95": teacher["ci95"]["weighted_f1"], "averaged_over": teacher["averaged_over"]},
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0]},
        "runs": [],
    }
    starts = [s.strip() for s in args.starts.split(",") if s.strip()]
    warm_dir = args.warm_start
    if args.cohort == "synthetic" and "warm" in starts and warm_dir is None and args.pretrain_n is None:
        from radtrust.train.warm_start import BUNDLED

        bundled_seed = json.loads((BUNDLED / "pretrain.json").read_text())["generator_config"]["seed"]
        if bundled_seed == SYNTH_EVAL_SEED:
            raise SystemExit("the bundled warm start's corpus seed is the synthetic evaluation cohort's; use --pretrain-n")
    if "warm" in starts and warm_dir is None and args.pretrain_n is not None:
        warm_dir = Path(tempfile.mkdtemp(prefix="radtrust_warm_")) / "warm"
        t0 = time.perf_counter()
        pcfg = TrainConfig(method=args.pretrain_method, epochs=args.pretrain_epochs, seed=args.seed)
        pretrain(warm_dir, pcfg, n=args.pretrain_n, seed=args.corpus_seed, vocab=vocab, progress=True)
        results["pretrain"] = {
            "n_reports": args.pretrain_n,
            "method": args.pretrain_method,
            "epochs": args.pretrain_epochs,
            "corpus_seed": args.corpus_seed,
            "wall_seconds": round(time.perf_counter() - t0, 1),
        }
    if warm_dir is not None and (warm_dir / "config.yaml").exists():
        # A pretrain folder is a run folder too: scored as it is, it is the student that never saw these
        # reports (trained and thresholded on synthetic reports only).
        alone = score_against_gold(ReportClassifier.load(warm_dir), test, gold, n_boot=args.n_bootstrap, seed=args.seed)
        results["warm_start_alone"] = {"weighted_f1": alone["weighted_f1"], "ci95": alone["ci95"]["weighted_f1"], "macro_auroc": alone["macro_auroc"]}
        print(json.dumps({"warm_start_alone": results["warm_start_alone"]}), flush=True)
    method_options = parse_method_options(args.method_options)
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        for start in starts:
            for tok in [e.strip() for e in args.epsilons.split(",") if e.strip()]:
                update: dict = {"epsilon": float(tok), "method": method, "seed": args.seed, **method_options.get(method, {})}
                update["warm_start"] = "none" if start == "cold" else str(warm_dir) if warm_dir else "auto"
                cfg = TrainConfig(**update)
                t0 = time.perf_counter()
                clf = ReportClassifier(cfg).fit(train, labels, progress=True)
                wall = time.perf_counter() - t0
                m = score_against_gold(clf, test, gold, n_boot=args.n_bootstrap, seed=args.seed)
                assert clf.result is not None
                row = {
                    "method": method,
                    "start": start,
                    "epsilon": tok,
                    "epsilon_spent": clf.result.privacy.epsilon,
                    "weighted_f1": m["weighted_f1"],
                    "ci95": m["ci95"]["weighted_f1"],
                    "macro_auroc": m["macro_auroc"],
                    "fit_wall_seconds": round(wall, 1),
                    "epochs": cfg.epochs,
                    "encoder_learning_rate": cfg.encoder_learning_rate,
                    "options": method_options.get(method, {}),
                    "warm_start": {k: v for k, v in clf.warm_start().describe().items() if k in ("encoder_delta_sha256", "n_reports", "rebuild")} if clf.warm_start() else None,
                }
                results["runs"].append(row)
                print(json.dumps(row), flush=True)

    table = Table(title=f"{args.cohort} students of the rule labeler: {len(train)} training reports, scored on {len(test)} (teacher weighted F1 {teacher['weighted_f1']:.3f})")
    for col in ("method", "start", "ε", "weighted F1 [95% CI]", "vs teacher", "vs ε=inf", "macro AUROC", "fit s"):
        table.add_column(col, justify="right")
    nonprivate = {(r["method"], r["start"]): r["weighted_f1"] for r in results["runs"] if math.isinf(float(r["epsilon"]))}
    for r in results["runs"]:
        base = nonprivate.get((r["method"], r["start"]))
        vs_inf = "" if base is None or math.isinf(float(r["epsilon"])) else f"{r['weighted_f1'] - base:+.3f}"
        table.add_row(
            r["method"],
            r["start"],
            r["epsilon"],
            f"{r['weighted_f1']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]",
            f"{r['weighted_f1'] - teacher['weighted_f1']:+.3f}",
            vs_inf,
            f"{r['macro_auroc']:.3f}" if r["macro_auroc"] is not None else "–",
            f"{r['fit_wall_seconds']:.0f}",
        )
    Console().print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
