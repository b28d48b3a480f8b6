"""Benchmark: mammogram classifiers on the real mini-MIAS films, woman-grouped cross-validation, with and without DP.

Data: ``../shared/data/mias`` (252 MLO screen films, 126 women, one film per breast; truth from the
database: abnormal, benign/malignant for the abnormal films, background tissue F/G/D).

Protocol: 5-fold cross-validation grouped by woman (``StratifiedGroupKFold``, stratified on abnormal,
shuffled with the seed): both breasts of a woman are always on the same side. Per fold, ``ImageClassifier``
is fitted on the other four fifths of the women (it holds out 15% of its training women itself to pick
decision thresholds) and scores the held-out fold; the out-of-fold probabilities are pooled over the
folds. On the pooled predictions, with 95% percentile intervals from a bootstrap that resamples women
(both films together; the same resamples for every row, so rows are paired):

- AUROC normal vs abnormal (image = breast level in MIAS), also per background density F/G/D;
- AUROC benign vs malignant among the abnormal films;
- density accuracy and balanced accuracy over F/G/D (argmax of the three one-vs-rest density outputs);
- per-fold AUROC mean ± sd.

Rows (``--configs``): ``lite0_head`` (frozen ImageNet-pretrained EfficientNet-Lite0 features at 224 px
plus a linear head) and ``cnn_full`` (a small GroupNorm CNN trained from scratch at 128 px), each not
private (ε = inf) and at ε = 8 (DP-SGD, the woman as privacy unit, δ = 1/(10 N), PRV accountant);
``lite0_top`` (the last block of Lite0 trainable, folded BatchNorm, 224 px) with ``--with-top``.

Hyperparameters: the defaults in CONFIGS were chosen with ``--tune`` (a small grid, fitted on fold 0's
training women minus 15% of them, scored on those 15%: never on a test fold); the tuning scores are in
TUNING_DONE and written to the JSON. Choosing hyperparameters on the private data is not covered by the
DP guarantee (as usual in DP benchmarks; Papernot & Steinke 2022).

CPU time per row: frozen-feature encoding of the training images (once per fold) and training-step
seconds per epoch, mean over folds, with the torch threads used. The default is one thread: on a
shared 2-core machine two threads oversubscribed the cores and ran 2-5x slower.

    python benchmarks/mias_images.py [--configs lite0_head_inf,lite0_head_eps8,cnn_full_inf,cnn_full_eps8]
        [--with-top] [--epochs N] [--n-bootstrap 1000] [--threads 1] [--tune] [--json OUT]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MIAS = REPO.parent / "shared" / "data" / "mias"
DENSITY = ("density_fatty", "density_fatty_glandular", "density_dense_glandular")
DENSITY_LETTERS = ("F", "G", "D")
FINDINGS = ("abnormal", "malignant", *DENSITY)

#: Model families: the ImageTrainConfig settings each row uses (ε is set per row).
FAMILIES: dict[str, dict] = {
    "lite0_head": {"backbone": "efficientnet_lite0", "method": "head", "image_size": 224, "epochs": 20, "learning_rate": 1e-1},
    "cnn_full": {"backbone": "small_cnn", "method": "full", "image_size": 128, "epochs": 15, "learning_rate": 1e-2, "encoder_learning_rate": 3e-3},
    "lite0_top": {"backbone": "efficientnet_lite0", "method": "top", "top_blocks": 1, "image_size": 224, "epochs": 10, "learning_rate": 1e-1, "encoder_learning_rate": 1e-3},
}
#: Rows: name -> (family, ε).
CONFIGS: dict[str, tuple[str, float]] = {
    "lite0_head_inf": ("lite0_head", math.inf),
    "lite0_head_eps8": ("lite0_head", 8.0),
    "cnn_full_inf": ("cnn_full", math.inf),
    "cnn_full_eps8": ("cnn_full", 8.0),
    "lite0_top_inf": ("lite0_top", math.inf),
    "lite0_top_eps8": ("lite0_top", 8.0),
}
DEFAULT_CONFIGS = "lite0_head_inf,lite0_head_eps8,cnn_full_inf,cnn_full_eps8"
#: The light tuning grid (``--tune``): per family, settings tried at ε = 8 on fold 0's inner split.
TUNE_GRID: dict[str, list[dict]] = {
    "lite0_head": [{"learning_rate": 1e-2}, {"learning_rate": 1e-1}],
    "cnn_full": [{"encoder_learning_rate": 1e-3}, {"encoder_learning_rate": 3e-3}],
}
#: What ``--tune`` reported when the defaults above were chosen (filled in from that run).
TUNING_DONE: dict = {
    "command": "python benchmarks/mias_images.py --tune-only",
    "split": "fold 0 training women; 15% of them (seeded) held out as inner validation",
    "criterion": "mean of AUROC abnormal and density accuracy on the inner validation",
    "n_inner_train_images": 172,
    "n_inner_validation_images": 30,
    "results": {
        "lite0_head": {
            "chosen": {"learning_rate": 0.1},
            "grid": [
                {"setting": {"learning_rate": 0.01}, "epsilon": 8.0, "epochs": 20, "auroc_abnormal": 0.512, "density_accuracy": 0.133, "score": 0.323},
                {"setting": {"learning_rate": 0.1}, "epsilon": 8.0, "epochs": 20, "auroc_abnormal": 0.488, "density_accuracy": 0.567, "score": 0.527},
            ],
        },
        "cnn_full": {
            "chosen": {"encoder_learning_rate": 0.003},
            "grid": [
                {"setting": {"encoder_learning_rate": 0.001}, "epsilon": 8.0, "epochs": 15, "auroc_abnormal": 0.254, "density_accuracy": 0.133, "score": 0.193},
                {"setting": {"encoder_learning_rate": 0.003}, "epsilon": 8.0, "epochs": 15, "auroc_abnormal": 0.378, "density_accuracy": 0.133, "score": 0.256},
            ],
        },
    },
}


def clean(obj):
    """JSON-safe: inf as "inf", NaN as null, numpy scalars as Python ones."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return clean(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return None if math.isnan(v) else ("inf" if math.isinf(v) else v)
    return obj


def machine() -> dict:
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gib": mem,
        "load_average_1_5_15": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


# ---- metrics --------------------------------------------------------------------------------------


def auroc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    ok = ~np.isnan(y)
    y, s = y[ok], s[ok]
    if len(np.unique(y)) < 2:
        return math.nan
    return float(roc_auc_score(y, s))


def density_metrics(true_cls: np.ndarray, pred_cls: np.ndarray) -> tuple[float, float]:
    """Accuracy and balanced accuracy (mean recall over the classes present) of F/G/D = 0/1/2."""
    acc = float(np.mean(true_cls == pred_cls)) if len(true_cls) else math.nan
    recalls = [np.mean(pred_cls[true_cls == k] == k) for k in range(3) if np.any(true_cls == k)]
    return acc, float(np.mean(recalls)) if recalls else math.nan


def all_metrics(probs: np.ndarray, y: np.ndarray, dens_true: np.ndarray, idx: np.ndarray | None = None) -> dict[str, float]:
    """The benchmark's metrics on the images ``idx`` (all when None). ``probs``/``y`` columns follow FINDINGS."""
    if idx is not None:
        probs, y, dens_true = probs[idx], y[idx], dens_true[idx]
    abn = y[:, 0]
    out = {"auroc_abnormal": auroc(abn, probs[:, 0])}
    is_abn = abn == 1
    out["auroc_malignant"] = auroc(y[is_abn, 1], probs[is_abn, 1])
    dens_pred = np.argmax(probs[:, 2:5], axis=1)
    out["density_accuracy"], out["density_balanced_accuracy"] = density_metrics(dens_true, dens_pred)
    for k, letter in enumerate(DENSITY_LETTERS):
        m = dens_true == k
        out[f"auroc_abnormal_density_{letter}"] = auroc(abn[m], probs[m, 0])
    return out


def with_ci(probs: np.ndarray, y: np.ndarray, dens_true: np.ndarray, resamples: list[np.ndarray]) -> dict:
    point = all_metrics(probs, y, dens_true)
    boot = [all_metrics(probs, y, dens_true, idx) for idx in resamples]
    out = {}
    for k, v in point.items():
        b = np.array([r[k] for r in boot], dtype=float)
        b = b[~np.isnan(b)]
        ci = [float(np.percentile(b, 2.5)), float(np.percentile(b, 97.5))] if len(b) else [math.nan, math.nan]
        out[k] = {"value": v, "ci95": ci, "n_valid_resamples": int(len(b))}
    return out


# ---- fitting -------------------------------------------------------------------------------------


def make_config(family: str, epsilon: float, args: argparse.Namespace, **override):
    from radtrust.train.config import ImageTrainConfig

    settings = dict(FAMILIES[family])
    if args.epochs is not None:
        settings["epochs"] = args.epochs
    settings.update(override)
    return ImageTrainConfig(epsilon=epsilon, image_cache=args.image_cache, seed=args.seed, num_threads=args.threads, findings=list(FINDINGS), **settings)


def fit_predict(cohort, labels, train_idx: np.ndarray, test_idx: np.ndarray, cfg) -> tuple[np.ndarray, dict]:
    from radtrust.train.images import ImageClassifier

    t = time.perf_counter()
    clf = ImageClassifier(cfg).fit(cohort.subset(train_idx), labels)
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    raw = clf.predict_proba(cohort.subset(test_idx))
    predict_s = time.perf_counter() - t
    probs = raw[:, [clf.findings.index(f) for f in FINDINGS]]
    r = clf.result
    p = r.privacy
    info = {
        "fit_seconds": fit_s,
        "predict_seconds": predict_s,
        "train_wall_seconds": r.wall_seconds,
        "encode_frozen_s": r.timings.get("encode_frozen_s", 0.0),
        "calibrate_noise_s": r.timings.get("calibrate_noise_s", 0.0),
        "steps_s": r.timings.get("steps_s", 0.0),
        "steps_s_per_epoch": r.timings.get("steps_s", 0.0) / cfg.epochs,
        "privacy": {
            "epsilon": p.epsilon,
            "delta": p.delta,
            "accountant": p.accountant,
            "noise_multiplier": p.noise_multiplier,
            "max_grad_norm": p.max_grad_norm,
            "unit": p.unit,
            "steps": p.steps,
            "sample_rate": p.sample_rate,
            "n_train_records": p.n_train_records,
            "expected_batch_size": p.expected_batch_size,
        },
        "history": r.history,
        "thresholds": {k: float(v) for k, v in dict(clf.thresholds).items()} if isinstance(clf.thresholds, dict) else None,
        "n_train_images": int(clf.meta.get("n_train", 0)),
        "n_validation_images": int(clf.meta.get("n_validation", 0)),
    }
    return probs, info


def run_tuning(cohort, labels, y, dens, folds, families: list[str], args, console) -> dict:
    """Fit each grid point at ε = 8 on fold 0's training women minus 15% of them; score on those 15%."""
    train_idx = folds[0][0]
    women = np.unique(cohort.patient_ids[train_idx])
    rng = np.random.default_rng(args.seed + 1)
    inner_val_women = set(rng.choice(women, size=int(round(0.15 * len(women))), replace=False).tolist())
    in_val = np.array([p in inner_val_women for p in cohort.patient_ids[train_idx]])
    inner_train, inner_val = train_idx[~in_val], train_idx[in_val]
    out = {
        "split": "fold 0 training women; 15% of them (seeded) held out as inner validation",
        "n_inner_train_images": int(len(inner_train)),
        "n_inner_validation_images": int(len(inner_val)),
        "criterion": "mean of AUROC abnormal and density accuracy on the inner validation",
        "results": {},
    }
    for fam in families:
        rows = []
        for point in TUNE_GRID.get(fam, []):
            cfg = make_config(fam, 8.0, args, **point)
            probs, info = fit_predict(cohort, labels, inner_train, inner_val, cfg)
            m = all_metrics(probs, y[inner_val], dens[inner_val])
            score = float(np.nanmean([m["auroc_abnormal"], m["density_accuracy"]]))
            rows.append(
                {
                    "setting": point,
                    "epochs": cfg.epochs,
                    "epsilon": 8.0,
                    "score": score,
                    **{k: m[k] for k in ("auroc_abnormal", "auroc_malignant", "density_accuracy")},
                    "fit_seconds": info["fit_seconds"],
                }
            )
            console.print(
                f"tune {fam} {point} (ε=8, {cfg.epochs} epochs): AUROC abnormal {m['auroc_abnormal']:.3f}, density acc {m['density_accuracy']:.3f}, score {score:.3f} ({info['fit_seconds']:.0f} s)"
            )
        if rows:
            best = max(rows, key=lambda r: r["score"])
            out["results"][fam] = {"grid": rows, "chosen": best["setting"]}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=MIAS, help="mini-MIAS folder (labels.txt + images/)")
    ap.add_argument("--configs", default=DEFAULT_CONFIGS, help=f"comma-separated rows out of {', '.join(CONFIGS)}")
    ap.add_argument("--with-top", action="store_true", help="also run lite0_top (ε = inf and 8): slow on CPU")
    ap.add_argument("--epochs", type=int, default=None, help="override every row's epochs")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--n-bootstrap", type=int, default=1000, help="woman-level bootstrap resamples for the intervals")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per fit")
    ap.add_argument("--image-cache", default="/tmp/radtrust_mias_cache", help="resized images are cached here (decoded once)")
    ap.add_argument("--tune", action="store_true", help="first run the light tuning on fold 0's inner split and use its choices")
    ap.add_argument("--tune-only", action="store_true", help="run the tuning and stop")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    if not (args.data / "labels.txt").is_file() or not (args.data / "images").is_dir():
        print(f"mini-MIAS data not found at {args.data} (needs labels.txt and images/); pass --data FOLDER", file=sys.stderr)
        return 2
    names = [c.strip() for c in args.configs.split(",") if c.strip()]
    if args.with_top:
        names += [n for n in ("lite0_top_inf", "lite0_top_eps8") if n not in names]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        ap.error(f"unknown config(s) {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")

    import torch
    from rich.console import Console
    from rich.table import Table
    from sklearn.model_selection import StratifiedGroupKFold

    from radtrust.data.image_readers import read_images
    from radtrust.data.io import write_json
    from radtrust.stats import cluster_resample_indices

    t0 = time.perf_counter()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    machine_start = machine()
    console = Console(width=170)
    cohort, labels = read_images(args.data)
    frame = cohort.frame
    y = labels.aligned_to(cohort.case_ids).select(list(FINDINGS)).values().astype(float)
    dens = frame["density"].map({k: i for i, k in enumerate(DENSITY_LETTERS)}).to_numpy()
    patients = np.asarray(cohort.patient_ids)
    cv = StratifiedGroupKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
    folds = list(cv.split(np.zeros(len(cohort)), y[:, 0].astype(int), groups=patients))
    for tr, te in folds:
        assert not set(patients[tr]) & set(patients[te]), "a woman on both sides of a fold"
    fold_of = np.empty(len(cohort), dtype=int)
    for k, (_, te) in enumerate(folds):
        fold_of[te] = k
    console.print(
        f"mini-MIAS: {len(cohort)} images, {len(np.unique(patients))} women; abnormal {int(np.nansum(y[:, 0]))}, malignant {int(np.nansum(y[:, 1]))}; "
        f"density F/G/D {', '.join(str(int((dens == k).sum())) for k in range(3))}; folds (test images) {[len(te) for _, te in folds]}"
    )

    tuning = {"ran_in_this_run": False, "grid": TUNE_GRID, "previous_run": TUNING_DONE}
    if args.tune or args.tune_only:
        fams = list(dict.fromkeys(CONFIGS[n][0] for n in names))
        tuning = {"ran_in_this_run": True, "grid": TUNE_GRID, **run_tuning(cohort, labels, y, dens, folds, fams, args, console)}
        for fam, r in tuning["results"].items():
            FAMILIES[fam].update(r["chosen"])
        if args.tune_only:
            if args.json:
                write_json(clean({"benchmark": "mias_images_tuning", "machine": machine_start, "tuning": tuning, "families": FAMILIES}), args.json)
            return 0

    resamples = list(cluster_resample_indices(patients, args.n_bootstrap, args.seed))  # women with replacement, both films together
    rows = []
    for name in names:
        fam, eps = CONFIGS[name]
        cfg = make_config(fam, eps, args)
        oof = np.full((len(cohort), len(FINDINGS)), np.nan)
        per_fold = []
        tc = time.perf_counter()
        for k, (tr, te) in enumerate(folds):
            probs, info = fit_predict(cohort, labels, tr, te, cfg)
            oof[te] = probs
            m = all_metrics(probs, y[te], dens[te])
            per_fold.append({"fold": k, "n_test_images": int(len(te)), **m, **info})
            console.print(
                f"{name} fold {k}: AUROC abnormal {m['auroc_abnormal']:.3f}, malignant {m['auroc_malignant']:.3f}, density acc {m['density_accuracy']:.3f}; "
                f"fit {info['fit_seconds']:.0f} s (encode {info['encode_frozen_s']:.1f} s, steps {info['steps_s']:.1f} s), ε {info['privacy']['epsilon']:.3g}"
            )
        pooled = with_ci(oof, y, dens, resamples)

        def fold_stat(key: str, per_fold: list = per_fold) -> dict:
            v = np.array([f[key] for f in per_fold], dtype=float)
            return {"mean": float(np.nanmean(v)), "sd": float(np.nanstd(v, ddof=1)), "values": v.tolist()}

        priv = per_fold[0]["privacy"]
        rows.append(
            {
                "config": name,
                "family": fam,
                "settings": cfg.model_dump(
                    include={
                        "backbone",
                        "method",
                        "top_blocks",
                        "image_size",
                        "epochs",
                        "batch_size",
                        "learning_rate",
                        "encoder_learning_rate",
                        "max_grad_norm",
                        "privacy_unit",
                        "optimizer",
                        "val_fraction",
                        "pooling",
                        "dropout",
                        "num_threads",
                    }
                ),
                "epsilon_target": eps,
                "privacy": {
                    "epsilon_spent": [f["privacy"]["epsilon"] for f in per_fold],
                    "delta": [f["privacy"]["delta"] for f in per_fold],
                    "accountant": priv["accountant"],
                    "noise_multiplier": [f["privacy"]["noise_multiplier"] for f in per_fold],
                    "unit": priv["unit"],
                    "steps": priv["steps"],
                    "sample_rate": priv["sample_rate"],
                    "max_grad_norm": priv["max_grad_norm"],
                },
                "pooled_out_of_fold": pooled,
                "per_fold_summary": {k: fold_stat(k) for k in ("auroc_abnormal", "auroc_malignant", "density_accuracy", "density_balanced_accuracy")},
                "cpu": {
                    "threads": args.threads,
                    "encode_frozen_s_mean": float(np.mean([f["encode_frozen_s"] for f in per_fold])),
                    "steps_s_per_epoch_mean": float(np.mean([f["steps_s_per_epoch"] for f in per_fold])),
                    "calibrate_noise_s_mean": float(np.mean([f["calibrate_noise_s"] for f in per_fold])),
                    "fit_seconds_mean": float(np.mean([f["fit_seconds"] for f in per_fold])),
                    "predict_seconds_mean": float(np.mean([f["predict_seconds"] for f in per_fold])),
                    "config_wall_seconds": time.perf_counter() - tc,
                },
                "folds": per_fold,
                "oof_probabilities": {"case_id": list(cohort.case_ids), "fold": fold_of.tolist(), "findings": list(FINDINGS), "probs": np.round(oof, 5).tolist()},
            }
        )

    def ci_txt(m: dict) -> str:
        return f"{m['value']:.3f} [{m['ci95'][0]:.3f}, {m['ci95'][1]:.3f}]"

    table = Table(title=f"mini-MIAS, {args.folds}-fold CV grouped by woman: pooled out-of-fold, 95% CI from {args.n_bootstrap} woman-level bootstrap resamples")
    for col in ("config", "ε", "AUROC abnormal [CI]", "AUROC malignant [CI]", "density acc [CI]", "balanced acc", "AUROC abn. per fold", "s/epoch", "encode s"):
        table.add_column(col, justify="right")
    for r in rows:
        p, c = r["pooled_out_of_fold"], r["cpu"]
        eps = r["privacy"]["epsilon_spent"]
        pf = r["per_fold_summary"]["auroc_abnormal"]
        table.add_row(
            r["config"],
            "inf" if math.isinf(r["epsilon_target"]) else f"{max(eps):.2f}",
            ci_txt(p["auroc_abnormal"]),
            ci_txt(p["auroc_malignant"]),
            ci_txt(p["density_accuracy"]),
            f"{p['density_balanced_accuracy']['value']:.3f}",
            f"{pf['mean']:.3f} ± {pf['sd']:.3f}",
            f"{c['steps_s_per_epoch_mean']:.3f}",
            f"{c['encode_frozen_s_mean']:.1f}",
        )
    console.print(table)
    table = Table(title="AUROC abnormal by background density (pooled out-of-fold; small groups)")
    for col in ("config", *(f"{d} (n={int((dens == k).sum())}, abn {int(np.nansum(y[dens == k, 0]))})" for k, d in enumerate(DENSITY_LETTERS))):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(r["config"], *(ci_txt(r["pooled_out_of_fold"][f"auroc_abnormal_density_{d}"]) for d in DENSITY_LETTERS))
    console.print(table)
    wall = time.perf_counter() - t0
    priv_rows = [r for r in rows if math.isfinite(r["epsilon_target"])]
    if priv_rows:
        r = priv_rows[0]["privacy"]
        console.print(
            f"privacy: unit {r['unit']}; δ = 1/(10 N) ({r['delta'][0]:.2g}), {r['accountant']} accountant, noise multiplier "
            + ", ".join(f"{x['config']}: {np.mean(x['privacy']['noise_multiplier']):.2f}" for x in priv_rows)
        )
    console.print(f"threads {args.threads}; wall {wall:.0f} s")

    out = {
        "benchmark": "mias_images",
        "command": "python " + " ".join([os.path.relpath(__file__, REPO), *(argv if argv is not None else sys.argv[1:])]),
        "date": started,
        "settings": vars(args) | {"json": str(args.json) if args.json else None, "data": str(args.data), "configs": names},
        "machine": machine_start | {"torch_version": torch.__version__, "torch_threads_used": args.threads, "load_average_at_end": list(os.getloadavg())},
        "wall_seconds": wall,
        "data": {
            "n_images": len(cohort),
            "n_women": int(len(np.unique(patients))),
            "n_abnormal": int(np.nansum(y[:, 0])),
            "n_malignant": int(np.nansum(y[:, 1])),
            "density_counts": {d: int((dens == k).sum()) for k, d in enumerate(DENSITY_LETTERS)},
            "folds": [{"n_test_images": int(len(te)), "n_test_women": int(len(np.unique(patients[te]))), "n_test_abnormal": int(np.nansum(y[te, 0]))} for _, te in folds],
        },
        "protocol": {
            "cv": f"StratifiedGroupKFold(n_splits={args.folds}, shuffle=True, random_state={args.seed}); groups = woman, stratified on abnormal",
            "thresholds": "each fit holds out 15% of its training women (val_fraction) for decision thresholds; metrics here are threshold-free or argmax",
            "bootstrap": f"{args.n_bootstrap} resamples of women with replacement (seed {args.seed}), percentile 95% interval; same resamples for every row",
            "density": "argmax of the three one-vs-rest density outputs; balanced accuracy = mean recall over F/G/D",
            "encode_frozen_s": "seconds to run the frozen layers over the training images once per fold (0 for the from-scratch CNN)",
            "steps_s_per_epoch": "training-step seconds / epochs, mean over folds",
        },
        "families": FAMILIES,
        "tuning": tuning,
        "rows": rows,
    }
    if args.json:
        write_json(clean(out), args.json)
        console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
