"""Benchmark: mammography image models on the synthetic screening archive, against its hidden truth.

An archive (``radtrust synth mammo``: default 300 women, 128 px, seed 0, 15% report label noise) is split by
woman into training (70%) and test (30%) women; a fifth of the training women are held out as validation
women (thresholds, the contralateral model, late fusion; never trained on). Every number is scored against
the archive's TRUE labels on the test women, with 95% woman-clustered percentile bootstrap intervals
(resampling test women with replacement; the same resamples for every row, so differences are paired).

Rows (per image model and ε in {inf, 8}; privacy per woman, the images' default):

* **true labels**: the image model trained on the true image labels (abnormal, malignant, density A-D).
* **report labels** (the population-health route): the rule labeler (``MammoLabeler``) reads the noisy
  reports, ``image_labels_from_reports`` turns its table into per-view labels, the same model is trained
  on them and its validation women are scored with them too (no truth is used before the test).

Per row: AUROC normal vs abnormal per view, per breast (mean and max over its views, and the
``ContralateralModel`` fitted on the validation women) and per exam (max over breasts); AUROC benign vs
malignant among abnormal breasts; exam-level density accuracy (argmax of the four one-vs-rest outputs);
breast AUROC (mean over views) per density, site and scanner make; ε spent, δ, accountant, privacy unit;
CPU seconds per epoch (optimiser steps) and the frozen-feature encoding time.

Late fusion: a report classifier (all-MiniLM-L6-v2, linear head; the 8 per-side finding labels from the
rule labeler, not the truth) trained on the training women's reports at the same ε, ``report_breast_scores``
for the validation and test reports, ``LateFusion`` fitted on the validation breasts; breast AUROC of the
image model alone, the report model alone and the fusion.

Models: ``efficientnet_lite0`` with method ``head`` (frozen ImageNet features + DP linear head; the frozen
features are computed once for the whole archive and shared by every fit, which changes nothing but time:
the frozen part is deterministic) and, with ``--models lite0_head,small_cnn_full``, a GroupNorm CNN trained
from scratch (method ``full``, slow on CPU). A probe on the default archive (non-private, 8 epochs, 70% of the
women, no validation hold-out) found it no better than the frozen features: 69 s per epoch on 2 loaded cores
and view AUROC 0.49 for abnormal (lite0 head: 0.59), so it is not run by default. Average-and-max pooling
(``pooling: avg_max``) did not help the lite0 head either (breast AUROC 0.58 vs 0.61 in the same probe).

    python benchmarks/mammo_synthetic_images.py [--n-women 300] [--size 128] [--noise 0.15] [--epsilons inf,8]
        [--models lite0_head] [--fusion-epsilons inf,8] [--n-bootstrap 1000] [--json OUT]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MODELS = {
    "lite0_head": {"backbone": "efficientnet_lite0", "method": "head"},
    "small_cnn_full": {"backbone": "small_cnn", "method": "full"},
}
IMAGE_FINDINGS = ("abnormal", "malignant", "density_a", "density_b", "density_c", "density_d")
DENSITY_COLS = ("density_a", "density_b", "density_c", "density_d")


# ---------------------------------------------------------------------------------------------------------
# woman-clustered bootstrap
# ---------------------------------------------------------------------------------------------------------


class WomanBootstrap:
    """Resamples of the test women (multiplicities of :func:`radtrust.stats.cluster_draw_counts`), shared by every
    metric and row; AUROC under them is :func:`radtrust.stats.weighted_auroc`."""

    def __init__(self, women: np.ndarray, n_boot: int, seed: int) -> None:
        from radtrust.stats import cluster_draw_counts

        self.women = np.unique(np.asarray(women, dtype=str))
        self.pos = {w: i for i, w in enumerate(self.women)}
        self.weights = cluster_draw_counts(self.women, n_boot, seed)[0].astype(float)
        self.n_boot = n_boot

    def _w(self, women: np.ndarray) -> np.ndarray:
        return self.weights[:, [self.pos[str(w)] for w in women]]

    @staticmethod
    def _ci(boot: np.ndarray) -> list[float] | None:
        boot = boot[~np.isnan(boot)]
        return [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))] if len(boot) else None

    def auroc(self, y, s, women, s2=None) -> dict:
        """AUROC of ``s`` with its interval; with ``s2``, also the paired difference AUROC(s) - AUROC(s2)."""
        from radtrust.stats import weighted_auroc

        y, s, women = np.asarray(y, dtype=float), np.asarray(s, dtype=float), np.asarray(women, dtype=str)
        keep = ~np.isnan(y) & ~np.isnan(s)
        if s2 is not None:
            s2 = np.asarray(s2, dtype=float)
            keep &= ~np.isnan(s2)
        y, s, women = y[keep], s[keep], women[keep]
        n_pos = int((y == 1).sum())
        out = {"auroc": None, "ci95": None, "n": int(len(y)), "n_pos": n_pos, "n_women": int(len(np.unique(women)))}
        if n_pos == 0 or n_pos == len(y):
            return out
        out["auroc"] = float(weighted_auroc(s, y, np.ones((1, len(y))))[0])
        w = self._w(women)
        boot = weighted_auroc(s, y, w) if self.n_boot else np.array([])
        out["ci95"] = self._ci(boot)
        if s2 is not None:
            s2 = s2[keep]
            other = float(weighted_auroc(s2, y, np.ones((1, len(y))))[0])
            out["other_auroc"] = other
            out["difference"] = out["auroc"] - other
            out["difference_ci95"] = self._ci(boot - weighted_auroc(s2, y, w)) if self.n_boot else None
        return out

    def accuracy(self, correct, women) -> dict:
        correct, women = np.asarray(correct, dtype=float), np.asarray(women, dtype=str)
        w = self._w(women)
        with np.errstate(invalid="ignore", divide="ignore"):
            boot = (w @ correct) / w.sum(1)
        return {"accuracy": float(correct.mean()), "ci95": self._ci(boot), "n": int(len(correct))}


# ---------------------------------------------------------------------------------------------------------
# the image classifier with a shared frozen-feature table
# ---------------------------------------------------------------------------------------------------------


def make_cached_classifier():
    import torch

    from radtrust.train.images import ImageClassifier, ImageTrainData

    class CachedFeatureImageClassifier(ImageClassifier):
        """ImageClassifier (method ``head``) whose frozen backbone output per image is looked up in a table
        computed once for the archive, as :func:`radtrust.models.text.pooled_feature_cache` does for
        reports. The frozen part (pretrained weights, eval-mode BatchNorm) is deterministic, so the fit,
        its DP accounting and its scores are those of a plain ImageClassifier; only encoding time is saved."""

        def __init__(self, config, table: dict[str, np.ndarray]) -> None:
            super().__init__(config)
            self.table = table

        def _encode(self, cohort, progress: bool = False) -> np.ndarray:
            return np.stack([self.table[c] for c in cohort.case_ids]).astype(np.float32)

        def _train_data(self, inputs, targets, mask):
            return ImageTrainData(inputs, targets, mask, features=torch.from_numpy(inputs))

        def _predict_inputs(self, inputs, progress: bool = False, batch_size: int = 0) -> np.ndarray:
            self.net.eval()
            with torch.inference_mode():
                return torch.sigmoid(self.net.trainable(torch.from_numpy(inputs))).numpy()

    return CachedFeatureImageClassifier


def encode_archive(cohort, cfg, cache_dir: Path) -> tuple[dict[str, np.ndarray], dict]:
    """The frozen part's pooled output for every image of the archive, and how long it took."""
    import torch

    from radtrust.models.image import build_image_net
    from radtrust.train.images import load_images

    t = time.perf_counter()
    c0 = time.process_time()
    images = load_images(cohort, cfg.image_size, cache_dir)
    read_s = time.perf_counter() - t
    net = build_image_net(cfg.backbone, len(IMAGE_FINDINGS), method=cfg.method, dropout=cfg.dropout, pooling=cfg.pooling, seed=cfg.seed)
    t1 = time.perf_counter()
    parts = []
    with torch.inference_mode():
        for s in range(0, len(images), 32):
            parts.append(net.features(torch.from_numpy(images[s : s + 32]).unsqueeze(1)).clone())
    enc_s = time.perf_counter() - t1
    feats = torch.cat(parts).numpy()
    timing = {
        "images": len(images),
        "read_resize_seconds": read_s,
        "encode_seconds": enc_s,
        "encode_images_per_second": len(images) / enc_s,
        "cpu_seconds": time.process_time() - c0,
        "feature_dim": int(feats.shape[1]),
    }
    return dict(zip(cohort.case_ids, feats)), timing


# ---------------------------------------------------------------------------------------------------------
# evaluation against the truth
# ---------------------------------------------------------------------------------------------------------


def breast_keys(frame) -> list[tuple]:
    return list(zip(frame["patient_id"], frame["study_id"], frame["laterality"]))


def evaluate_image_model(test, p_test, val, p_val, val_label_values, y_test, findings, boot: WomanBootstrap, study_info) -> dict:
    """Every image metric of one trained model on the test women (truth ``y_test``, view-level)."""
    from radtrust.models.aggregate import ContralateralModel, aggregate_scores, aggregate_truth, density_class

    j = {f: i for i, f in enumerate(findings)}
    out: dict = {}
    women_v = test.patient_ids
    out["view_abnormal"] = boot.auroc(y_test[:, j["abnormal"]], p_test[:, j["abnormal"]], women_v)
    truth_b = aggregate_truth(test, y_test, findings, "breast")
    bmean = aggregate_scores(test, p_test, findings, "breast", "mean")
    bmax = aggregate_scores(test, p_test, findings, "breast", "max")
    assert breast_keys(truth_b) == breast_keys(bmean) == breast_keys(bmax)
    contra = ContralateralModel().fit(val, p_val, val_label_values, findings)
    bctx = contra.predict(test, p_test, findings)
    assert breast_keys(bctx) == breast_keys(truth_b)
    wb = truth_b["patient_id"].to_numpy()
    yb = truth_b["abnormal"].to_numpy()
    out["breast_abnormal_mean"] = boot.auroc(yb, bmean["prob_abnormal"], wb)
    out["breast_abnormal_max"] = boot.auroc(yb, bmax["prob_abnormal"], wb)
    out["breast_abnormal_contralateral"] = boot.auroc(yb, bctx["prob_abnormal"], wb, s2=bmean["prob_abnormal"])
    out["contralateral_model"] = contra.to_dict()
    for how in ("mean", "max"):
        ex = aggregate_scores(test, p_test, findings, "exam", how)
        ext = aggregate_truth(test, y_test, findings, "exam")
        out[f"exam_abnormal_{how}"] = boot.auroc(ext["abnormal"], ex["prob_abnormal"], ext["patient_id"])
    # Benign vs malignant among abnormal breasts (truth is empty for normal breasts).
    out["breast_malignant_mean"] = boot.auroc(truth_b["malignant"], bmean["prob_malignant"], wb)
    out["breast_malignant_max"] = boot.auroc(truth_b["malignant"], bmax["prob_malignant"], wb)
    # Density: exam level, argmax of the one-vs-rest outputs (mean over the exam's views).
    ex = aggregate_scores(test, p_test, findings, "exam", "mean")
    ext = aggregate_truth(test, y_test, findings, "exam")
    pred, names = density_class(ex)
    true = np.asarray(names)[np.argmax(ext[list(DENSITY_COLS)].to_numpy(), axis=1)]
    correct = (pred.to_numpy() == true).astype(float)
    out["exam_density_accuracy"] = boot.accuracy(correct, ext["patient_id"])
    letters = [n[-1].upper() for n in names]
    conf = {t.upper()[-1]: {p.upper()[-1]: int(((true == t) & (pred.to_numpy() == p)).sum()) for p in names} for t in names}
    out["exam_density_confusion"] = {"rows_true_columns_predicted": letters, "counts": conf}
    out["exam_density_within_one"] = float(np.mean(np.abs(np.array([letters.index(x[-1].upper()) for x in pred]) - np.array([letters.index(x[-1].upper()) for x in true])) <= 1))
    # Subgroups: breast AUROC (mean over views) per density, site and scanner make.
    info = study_info.loc[truth_b["study_id"].to_numpy()]
    for col, key in (("density", "by_density"), ("site", "by_site"), ("manufacturer", "by_manufacturer")):
        vals = info[col].to_numpy()
        out[key] = {str(g): boot.auroc(yb[vals == g], bmean["prob_abnormal"].to_numpy()[vals == g], wb[vals == g]) for g in sorted(np.unique(vals))}
    out["_breast_scores"] = {"keys": truth_b[["patient_id", "study_id", "laterality"]], "mean": bmean["prob_abnormal"].to_numpy(), "truth": yb}
    return out


def cell_disagreement(truth, labels, case_ids) -> dict:
    """Per finding: how the report-derived labels differ from the truth, cell by cell (views)."""
    t = truth.aligned_to(case_ids).select(list(IMAGE_FINDINGS)).values()
    r = labels.aligned_to(case_ids).select(list(IMAGE_FINDINGS)).values()
    out = {}
    for k, f in enumerate(IMAGE_FINDINGS):
        tk, rk = t[:, k], r[:, k]
        both = ~np.isnan(tk) & ~np.isnan(rk)
        d = {
            "cells": int(len(tk)),
            "both_defined": int(both.sum()),
            "disagree": int((both & (tk != rk)).sum()),
            "disagree_share": float((both & (tk != rk)).sum() / both.sum()) if both.any() else None,
            "only_truth_defined": int((~np.isnan(tk) & np.isnan(rk)).sum()),
            "only_labels_defined": int((np.isnan(tk) & ~np.isnan(rk)).sum()),
        }
        if f in ("abnormal", "malignant"):
            pos, neg = both & (tk == 1), both & (tk == 0)
            d["missed_positives"] = int((pos & (rk == 0)).sum())
            d["false_positives"] = int((neg & (rk == 1)).sum())
            d["label_sensitivity"] = float((pos & (rk == 1)).sum() / pos.sum()) if pos.any() else None
            d["label_specificity"] = float((neg & (rk == 0)).sum() / neg.sum()) if neg.any() else None
        out[f] = d
    return out


# ---------------------------------------------------------------------------------------------------------


def machine_facts() -> dict:
    import torch

    mem = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "memory_gib": mem,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average_at_end": load,
    }


def fmt_auc(m: dict | None, diff: bool = False) -> str:
    if not m or m.get("auroc") is None:
        return "n/a"
    ci = m.get("ci95")
    s = f"{m['auroc']:.3f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
    if diff and m.get("difference") is not None:
        dci = m.get("difference_ci95")
        s += f" (Δ {m['difference']:+.3f}" + (f" [{dci[0]:+.2f}, {dci[1]:+.2f}]" if dci else "") + ")"
    return s


def fmt_eps(e: float) -> str:
    return "inf" if math.isinf(e) else f"{e:g}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-women", type=int, default=300)
    ap.add_argument("--size", type=int, default=128, help="archive image side (px); the model reads images at this size too")
    ap.add_argument("--noise", type=float, default=0.15, help="report_label_noise of the archive")
    ap.add_argument("--seed", type=int, default=0, help="archive, split, training and bootstrap seed")
    ap.add_argument("--test-fraction", type=float, default=0.3, help="share of women in the test split")
    ap.add_argument("--val-fraction", type=float, default=0.2, help="share of the training women held out for validation")
    ap.add_argument("--models", default="lite0_head", help=f"comma-separated, from {', '.join(MODELS)}")
    ap.add_argument("--epsilons", default="inf,8", help="ε of the image models (privacy per woman)")
    ap.add_argument("--fusion-epsilons", default="inf,8", help="ε of the report classifiers for late fusion ('' = no fusion)")
    ap.add_argument("--epochs", type=int, default=20, help="epochs of the lite0 head (ImageTrainConfig default)")
    ap.add_argument("--cnn-epochs", type=int, default=10, help="epochs of small_cnn_full")
    ap.add_argument("--report-epochs", type=int, default=10, help="epochs of the report classifier head")
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in models if m not in MODELS]
    if bad:
        ap.error(f"unknown model(s) {', '.join(bad)}; choose from {', '.join(MODELS)}")
    epsilons = [float(e) for e in args.epsilons.split(",") if e.strip()]
    fusion_eps = [float(e) for e in args.fusion_epsilons.split(",") if e.strip()]

    import pandas as pd
    import torch
    from rich.console import Console
    from rich.table import Table
    from sklearn.model_selection import GroupShuffleSplit

    from radtrust.data.image_readers import read_images
    from radtrust.data.readers import read_cohort
    from radtrust.deid.door import CohortDeidentifier
    from radtrust.labeling.image_labels import image_labels_from_reports
    from radtrust.labeling.mammo import MAMMO_FINDINGS, MammoLabeler, mammo_findings_table
    from radtrust.models.aggregate import aggregate_scores, aggregate_truth
    from radtrust.models.fusion import LateFusion, report_breast_scores
    from radtrust.models.text import pooled_feature_cache
    from radtrust.synth.mammo_images import MammoImageSynthConfig, write_synth_mammo_images
    from radtrust.train.config import ImageTrainConfig, TrainConfig
    from radtrust.train.estimator import ReportClassifier
    from radtrust.train.images import ImageClassifier

    t0 = time.perf_counter()
    console = Console(width=190)
    tmpdir = tempfile.TemporaryDirectory(prefix="mammo_bench_")
    tmp = Path(tmpdir.name)

    # ---- archive --------------------------------------------------------------------------------------
    t = time.perf_counter()
    synth = write_synth_mammo_images(MammoImageSynthConfig(n_women=args.n_women, size=args.size, seed=args.seed, report_label_noise=args.noise), tmp / "archive")
    synth_s = time.perf_counter() - t
    images, _ = read_images(synth.paths["images_csv"])
    reports = read_cohort(synth.paths["reports"], deid=CohortDeidentifier(mode="mask"))  # as radtrust's commands read them
    truth = synth.truth.aligned_to(images.case_ids)
    y_all = truth.select(list(IMAGE_FINDINGS)).values()
    study_info = images.frame.groupby("study_id")[["density", "site", "manufacturer", "report_id"]].first()
    console.print(
        f"archive: {synth.meta['counts']['women']} women, {synth.meta['counts']['studies']} studies, {len(images)} images ({args.size} px), "
        f"report label noise {args.noise:g}; generated in {synth_s:.0f} s"
    )

    # ---- split by woman ---------------------------------------------------------------------------------
    women = images.patient_ids
    tr_idx, te_idx = next(GroupShuffleSplit(n_splits=1, test_size=args.test_fraction, random_state=args.seed).split(np.zeros(len(women)), groups=women))
    train_women = np.unique(women[tr_idx])
    fit_pos, val_pos = next(GroupShuffleSplit(n_splits=1, test_size=args.val_fraction, random_state=args.seed + 1).split(train_women, groups=train_women))
    val_women = set(train_women[val_pos])
    test_women = set(np.unique(women[te_idx]))
    is_test = np.array([w in test_women for w in women])
    is_val = np.array([w in val_women for w in women])
    train = images.subset(np.flatnonzero(~is_test))  # training + validation women (fit() holds the validation women out)
    val = images.subset(np.flatnonzero(is_val))
    test = images.subset(np.flatnonzero(is_test))
    y_test = y_all[is_test]
    split = {
        "women": {"fit": int(len(train_women) - len(val_women)), "validation": len(val_women), "test": len(test_women)},
        "images": {"fit": int((~is_test & ~is_val).sum()), "validation": int(is_val.sum()), "test": int(is_test.sum())},
    }
    console.print(f"split by woman: {split['women']} women, {split['images']} images")
    boot = WomanBootstrap(np.array(sorted(test_women)), args.n_bootstrap, args.seed)

    # ---- report-derived labels (population-health route) ------------------------------------------------
    t = time.perf_counter()
    labeler_table = MammoLabeler().label(reports)
    report_img_labels = image_labels_from_reports(images, labeler_table)
    labeler_s = time.perf_counter() - t
    disagreement = {
        "all_women": cell_disagreement(truth, report_img_labels, images.case_ids),
        "training_women": cell_disagreement(truth, report_img_labels, train.case_ids),
    }
    rep_vals = report_img_labels.aligned_to(images.case_ids).select(list(IMAGE_FINDINGS)).values()
    label_sets = {"true": truth, "report": report_img_labels}
    label_values = {"true": y_all, "report": rep_vals}

    # ---- image models -----------------------------------------------------------------------------------
    Cached = make_cached_classifier()
    rows: list[dict] = []
    encode_timing: dict[str, dict] = {}
    fitted: dict[tuple, dict] = {}
    for model in models:
        spec = MODELS[model]
        epochs = args.cnn_epochs if model == "small_cnn_full" else args.epochs
        base = ImageTrainConfig(**spec, image_size=args.size, epochs=epochs, seed=args.seed, findings=list(IMAGE_FINDINGS), image_cache=str(tmp / "image_cache"))
        table = None
        if spec["method"] == "head":
            table, encode_timing[model] = encode_archive(images, base, tmp / "image_cache")
            console.print(
                f"{model}: frozen features for {len(images)} images in {encode_timing[model]['encode_seconds']:.0f} s "
                f"({encode_timing[model]['encode_images_per_second']:.1f} images/s; reading and resizing {encode_timing[model]['read_resize_seconds']:.0f} s)"
            )
        for labels_name in ("true", "report"):
            labels = label_sets[labels_name]
            val_labels = labels.aligned_to(val.case_ids)
            for eps in epsilons:
                cfg = base.model_copy(update={"epsilon": eps})
                cfg = ImageTrainConfig.model_validate(cfg.model_dump())
                clf = Cached(cfg, table) if table is not None else ImageClassifier(cfg)
                t = time.perf_counter()
                c0 = time.process_time()
                clf.fit(train, labels, validation_labels=val_labels)
                fit_s, fit_cpu = time.perf_counter() - t, time.process_time() - c0
                t = time.perf_counter()
                p_test = clf.predict_proba(test)
                p_val = clf.predict_proba(val)
                pred_s = time.perf_counter() - t
                assert clf.findings == list(IMAGE_FINDINGS)
                ev = evaluate_image_model(test, p_test, val, p_val, label_values[labels_name][is_val], y_test, clf.findings, boot, study_info)
                priv = clf.result.privacy
                tim = clf.result.timings
                row = {
                    "model": model,
                    **spec,
                    "labels": labels_name,
                    "epsilon": eps,
                    "epsilon_spent": priv.epsilon,
                    "delta": priv.delta,
                    "accountant": priv.accountant,
                    "privacy_unit": priv.unit,
                    "noise_multiplier": priv.noise_multiplier,
                    "steps": priv.steps,
                    "sample_rate": priv.sample_rate,
                    "epochs": epochs,
                    "fit_seconds": fit_s,
                    "fit_cpu_seconds": fit_cpu,
                    "predict_seconds": pred_s,
                    "steps_seconds": tim.get("steps_s"),
                    "seconds_per_epoch": tim.get("steps_s", float("nan")) / epochs,
                    "encode_frozen_seconds_in_fit": tim.get("encode_frozen_s"),
                    "calibrate_noise_seconds": tim.get("calibrate_noise_s"),
                    "thresholds": clf.thresholds,
                    "n_train_images": clf.meta.get("n_train"),
                    "n_validation_images": clf.meta.get("n_validation"),
                    **{k: v for k, v in ev.items() if not k.startswith("_")},
                }
                rows.append(row)
                fitted[(model, labels_name, eps)] = {"p_test": p_test, "p_val": p_val, "breast": ev["_breast_scores"]}
                console.print(
                    f"{model} {labels_name} labels ε={fmt_eps(eps)}: breast AUROC {fmt_auc(ev['breast_abnormal_mean'])}, "
                    f"density acc {ev['exam_density_accuracy']['accuracy']:.3f}; fit {fit_s:.0f} s, ε spent {priv.epsilon:.3g}",
                    highlight=False,
                )

    # Cost of the report-derived labels: paired difference of breast AUROC (mean over views) vs true labels.
    label_cost = []
    for model in models:
        for eps in epsilons:
            a, b = fitted[(model, "report", eps)]["breast"], fitted[(model, "true", eps)]["breast"]
            m = boot.auroc(a["truth"], a["mean"], a["keys"]["patient_id"].to_numpy(), s2=b["mean"])
            label_cost.append(
                {"model": model, "epsilon": eps, "auroc_report_labels": m["auroc"], "auroc_true_labels": m["other_auroc"], "difference": m["difference"], "difference_ci95": m["difference_ci95"]}
            )

    # ---- late fusion ------------------------------------------------------------------------------------
    fusion_rows: list[dict] = []
    report_rows: list[dict] = []
    if fusion_eps:
        rep_train = reports.subset(np.flatnonzero(~reports.frame["patient_id"].isin(test_women).to_numpy()))
        rep_val = reports.subset(np.flatnonzero(reports.frame["patient_id"].isin(val_women).to_numpy()))
        rep_test = reports.subset(np.flatnonzero(reports.frame["patient_id"].isin(test_women).to_numpy()))
        rep_labels = mammo_findings_table(labeler_table)
        # Breast truth and the labeler's own breast labels (0/1) for the test and validation breasts.
        test_keys = fitted[(models[0], "true", epsilons[0])]["breast"]["keys"]

        def breast_table(cohort, values) -> pd.DataFrame:
            return aggregate_truth(cohort, values, list(IMAGE_FINDINGS), "breast")

        rule_test = breast_table(test, rep_vals[is_test])
        truth_val = breast_table(val, y_all[is_val])
        rule_val = breast_table(val, rep_vals[is_val])
        y_test_b = breast_table(test, y_test)["abnormal"].to_numpy()
        wb = test_keys["patient_id"].to_numpy()
        rule_auc = boot.auroc(y_test_b, rule_test["abnormal"], wb)

        def join_reports(keys: pd.DataFrame, scores: pd.DataFrame) -> np.ndarray:
            k = keys.assign(report_id=study_info.loc[keys["study_id"].to_numpy(), "report_id"].to_numpy())
            return k.merge(scores, on=["report_id", "laterality"], how="left")["report_score"].to_numpy()

        with pooled_feature_cache():
            for eps in fusion_eps:
                cfg = TrainConfig(method="head", epsilon=eps, findings=list(MAMMO_FINDINGS), epochs=args.report_epochs, seed=args.seed, privacy_unit="patient")
                t = time.perf_counter()
                rclf = ReportClassifier(cfg).fit(rep_train, rep_labels, validation_labels=rep_labels.aligned_to(rep_val.case_ids))
                rfit_s = time.perf_counter() - t
                rs_test = report_breast_scores(rep_test.case_ids, rclf.predict_proba(rep_test), rclf.findings)
                rs_val = report_breast_scores(rep_val.case_ids, rclf.predict_proba(rep_val), rclf.findings)
                rpriv = rclf.result.privacy
                report_rows.append(
                    {
                        "epsilon": eps,
                        "epsilon_spent": rpriv.epsilon,
                        "delta": rpriv.delta,
                        "accountant": rpriv.accountant,
                        "privacy_unit": rpriv.unit,
                        "fit_seconds": rfit_s,
                        "timings": rclf.result.timings,
                        "n_train_reports": rclf.meta.get("n_train"),
                        "n_validation_reports": rclf.meta.get("n_validation"),
                    }
                )
                console.print(f"report classifier ε={fmt_eps(eps)}: fit {rfit_s:.0f} s, ε spent {rpriv.epsilon:.3g}", highlight=False)
                for model in models:
                    for labels_name in ("true", "report"):
                        if (model, labels_name, eps) not in fitted:
                            continue
                        f = fitted[(model, labels_name, eps)]
                        img_val = aggregate_scores(val, f["p_val"], list(IMAGE_FINDINGS), "breast", "mean")
                        img_test = f["breast"]["mean"]
                        rep_v = join_reports(img_val[["patient_id", "study_id", "laterality"]], rs_val)
                        rep_t = join_reports(test_keys, rs_test)
                        # Validation breast labels: the truth for the true-label image model; the labeler's for the
                        # population-health route, which never sees the truth before the test.
                        y_val = (truth_val if labels_name == "true" else rule_val)["abnormal"].to_numpy()
                        fusion = LateFusion().fit(img_val["prob_abnormal"].to_numpy(), rep_v, y_val)
                        fused = fusion.predict_proba(img_test, rep_t)
                        fusion_rows.append(
                            {
                                "model": model,
                                "image_labels": labels_name,
                                "epsilon": eps,
                                "validation_labels": "truth" if labels_name == "true" else "rule labeler",
                                "image_alone": boot.auroc(y_test_b, img_test, wb),
                                "report_alone": boot.auroc(y_test_b, rep_t, wb),
                                "fusion": boot.auroc(y_test_b, fused, wb, s2=img_test),
                                "fusion_vs_report": boot.auroc(y_test_b, fused, wb, s2=rep_t),
                                "rule_labels_0_1": rule_auc,
                                "fusion_model": fusion.to_dict(),
                                "report_missing_breasts": int(np.isnan(rep_t).sum()),
                            }
                        )

    wall = time.perf_counter() - t0

    # ---- tables -----------------------------------------------------------------------------------------
    tab = Table(title=f"Normal vs abnormal, test women ({split['women']['test']}), AUROC [95% woman-clustered CI]; {args.n_women} women, {args.size} px, noise {args.noise:g}")
    for col in ("model", "labels", "ε", "view", "breast mean", "breast max", "breast contralateral (Δ vs mean)", "exam (max of breast means)", "exam (max of breast maxes)"):
        tab.add_column(col, justify="right")
    for r in rows:
        tab.add_row(
            r["model"],
            r["labels"],
            fmt_eps(r["epsilon"]),
            fmt_auc(r["view_abnormal"]),
            fmt_auc(r["breast_abnormal_mean"]),
            fmt_auc(r["breast_abnormal_max"]),
            fmt_auc(r["breast_abnormal_contralateral"], diff=True),
            fmt_auc(r["exam_abnormal_mean"]),
            fmt_auc(r["exam_abnormal_max"]),
        )
    console.print(tab)

    tab = Table(title="Benign vs malignant (abnormal breasts), density (exams), privacy and time")
    for col in ("model", "labels", "ε", "malignant AUROC (breast mean)", "n mal/abn", "density acc (exam)", "within one", "ε spent", "δ", "accountant", "unit", "σ", "s/epoch", "fit s"):
        tab.add_column(col, justify="right")
    for r in rows:
        m = r["breast_malignant_mean"]
        d = r["exam_density_accuracy"]
        tab.add_row(
            r["model"],
            r["labels"],
            fmt_eps(r["epsilon"]),
            fmt_auc(m),
            f"{m['n_pos']}/{m['n']}",
            f"{d['accuracy']:.3f} [{d['ci95'][0]:.2f}, {d['ci95'][1]:.2f}]",
            f"{r['exam_density_within_one']:.3f}",
            "inf" if math.isinf(r["epsilon_spent"]) else f"{r['epsilon_spent']:.3f}",
            "-" if r["delta"] is None else f"{r['delta']:.2g}",
            str(r["accountant"] or "-"),
            "woman" if str(r["privacy_unit"]).startswith("patient") else str(r["privacy_unit"]),
            f"{r['noise_multiplier']:.2f}",
            f"{r['seconds_per_epoch']:.2f}",
            f"{r['fit_seconds']:.0f}",
        )
    console.print(tab)

    tab = Table(title="Breast AUROC (mean over views) per subgroup [95% CI] (positives/breasts)")
    tab.add_column("model / labels / ε")
    groups = [("by_density", g) for g in sorted(rows[0]["by_density"])] + [("by_site", g) for g in sorted(rows[0]["by_site"])] + [("by_manufacturer", g) for g in sorted(rows[0]["by_manufacturer"])]
    for key, g in groups:
        tab.add_column(("density " if key == "by_density" else "") + g, justify="right")
    for r in rows:
        tab.add_row(f"{r['model']} / {r['labels']} / {fmt_eps(r['epsilon'])}", *(f"{fmt_auc(r[key][g])} ({r[key][g]['n_pos']}/{r[key][g]['n']})" for key, g in groups))
    console.print(tab)

    tab = Table(title="Report-derived labels (rule labeler on the noisy reports → image_labels_from_reports) vs truth, per view cell, all women")
    for col in ("finding", "both defined", "disagree", "share", "missed positives", "false positives", "label sensitivity", "label specificity", "defined only in truth / only in labels"):
        tab.add_column(col, justify="right")
    for f, d in disagreement["all_women"].items():
        tab.add_row(
            f,
            str(d["both_defined"]),
            str(d["disagree"]),
            f"{d['disagree_share']:.3f}" if d["disagree_share"] is not None else "n/a",
            str(d.get("missed_positives", "")),
            str(d.get("false_positives", "")),
            f"{d['label_sensitivity']:.3f}" if d.get("label_sensitivity") is not None else "",
            f"{d['label_specificity']:.3f}" if d.get("label_specificity") is not None else "",
            f"{d['only_truth_defined']} / {d['only_labels_defined']}",
        )
    console.print(tab)
    for c in label_cost:
        ci = c["difference_ci95"]
        console.print(
            f"cost of report-derived labels, {c['model']} ε={fmt_eps(c['epsilon'])}: breast AUROC {c['auroc_report_labels']:.3f} vs {c['auroc_true_labels']:.3f} "
            f"on true labels, Δ {c['difference']:+.3f}" + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""),
            highlight=False,
        )

    if fusion_rows:
        tab = Table(title="Late fusion, breast normal vs abnormal (true labels), AUROC [95% CI]; report model: MiniLM head on the rule labeler's labels")
        for col in ("image model", "image labels", "ε", "image alone", "report alone", "fusion (Δ vs image)", "fusion Δ vs report", "rule labels 0/1", "fusion weights (image, report)"):
            tab.add_column(col, justify="right")
        for r in fusion_rows:
            fv = r["fusion_vs_report"]
            co = r["fusion_model"]["coefficients"]
            tab.add_row(
                r["model"],
                r["image_labels"],
                fmt_eps(r["epsilon"]),
                fmt_auc(r["image_alone"]),
                fmt_auc(r["report_alone"]),
                fmt_auc(r["fusion"], diff=True),
                f"{fv['difference']:+.3f} [{fv['difference_ci95'][0]:+.2f}, {fv['difference_ci95'][1]:+.2f}]" if fv.get("difference_ci95") else "n/a",
                fmt_auc(r["rule_labels_0_1"]),
                f"{co['image_logit']:.2f}, {co['report_logit']:.2f}",
            )
        console.print(tab)
    console.print(
        f"privacy: per woman (all her images / reports), δ = 1/(10·N women); contralateral and fusion models, like thresholds, are fitted on the validation "
        f"women outside the DP guarantee. Wall {wall:.0f} s on {os.cpu_count()} cores (torch threads {torch.get_num_threads()}).",
        highlight=False,
    )

    out = {
        "benchmark": "mammo_synthetic_images",
        "command": " ".join([Path(sys.executable).name, *sys.argv]) if argv is None else " ".join(["python", "benchmarks/mammo_synthetic_images.py", *argv]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": vars(args) | {"json": str(args.json) if args.json else None},
        "machine": machine_facts(),
        "wall_seconds": wall,
        "archive": {"generate_seconds": synth_s, "counts": synth.meta["counts"], "prevalence": synth.meta["prevalence"], "sites": synth.meta["sites"]},
        "split": split,
        "bootstrap": f"woman-clustered percentile bootstrap over the test women, {args.n_bootstrap} resamples, seed {args.seed}, shared by every metric (paired differences)",
        "encode_timing": encode_timing,
        "labeler_seconds": labeler_s,
        "report_label_disagreement": disagreement,
        "rows": rows,
        "report_label_cost": label_cost,
        "report_classifiers": report_rows,
        "fusion": fusion_rows,
    }
    if args.json:
        from radtrust.data.io import write_json

        write_json(out, args.json)
    tmpdir.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
