"""Multi-label classification metrics with patient-clustered bootstrap intervals.

Per finding: precision, recall, F1, AUROC (scikit-learn) and support. Averages: micro, macro and
support-weighted F1 (the last is what the DP-LoRA radiology literature reports). Intervals come from a
bootstrap that resamples *patients*, not rows, because reports of one patient are correlated
(:func:`radtrust.stats.cluster_bootstrap_sums`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import roc_auc_score

from radtrust.labeling.vocab import SUMMARY_COLUMNS
from radtrust.stats import N_BOOT, cluster_bootstrap_sums


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros_like(denom, dtype=float), where=denom > 0)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(den, dtype=float), where=den > 0)


def _averages(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> dict[str, np.ndarray]:
    """Micro/macro/weighted F1 from count arrays whose last axis is the finding."""
    f1 = _f1(tp, fp, fn)
    support = tp + fn
    micro = _f1(tp.sum(-1), fp.sum(-1), fn.sum(-1))
    macro = f1.mean(-1)
    total = support.sum(-1)
    weighted = np.divide((f1 * support).sum(-1), total, out=np.zeros_like(total, dtype=float), where=total > 0)
    return {"micro_f1": micro, "macro_f1": macro, "weighted_f1": weighted}


def multilabel_metrics(
    y_true: np.ndarray,
    y_prob: np.ndarray | None,
    y_pred: np.ndarray,
    findings: Sequence[str],
    clusters: np.ndarray | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    exclude_from_average: Sequence[str] = tuple(SUMMARY_COLUMNS),
) -> dict:
    """Score decisions (and probabilities, for AUROC) against a gold standard.

    ``y_true`` holds 1 positive, 0 or NaN negative, -1 uncertain; uncertain gold cells are left out of
    that finding's counts (a reference that is itself unsure cannot score a prediction). Summary columns
    (``normal``, ``No Finding``) get per-label rows but are left out of the averages, as in NegBio's and
    CheXpert's reporting. ``clusters`` (patient ids) turn on 95% bootstrap intervals for the averages.
    """
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred).astype(int)
    valid = ~(y_true == -1)
    pos = (y_true == 1) & valid
    neg = ~pos & valid
    tp_c = (pos & (y_pred == 1)).astype(np.int64)
    fp_c = (neg & (y_pred == 1)).astype(np.int64)
    fn_c = (pos & (y_pred == 0)).astype(np.int64)
    tp, fp, fn = tp_c.sum(0), fp_c.sum(0), fn_c.sum(0)
    per_label = {}
    for j, f in enumerate(findings):
        auroc = None
        if y_prob is not None:
            yt = pos[valid[:, j], j]
            if 0 < yt.sum() < len(yt):
                auroc = float(roc_auc_score(yt, np.asarray(y_prob)[valid[:, j], j]))
        per_label[f] = {
            "precision": float(_ratio(tp[j : j + 1], (tp + fp)[j : j + 1])[0]),
            "recall": float(_ratio(tp[j : j + 1], (tp + fn)[j : j + 1])[0]),
            "f1": float(_f1(tp[j : j + 1], fp[j : j + 1], fn[j : j + 1])[0]),
            "auroc": auroc,
            "support": int(tp[j] + fn[j]),
            "n": int(valid[:, j].sum()),
            "tp": int(tp[j]),
            "fp": int(fp[j]),
            "fn": int(fn[j]),
        }
    keep = np.array([f not in set(exclude_from_average) for f in findings])
    avg = _averages(tp[keep], fp[keep], fn[keep])
    mtp, mfp, mfn = tp[keep].sum(), fp[keep].sum(), fn[keep].sum()
    out: dict = {
        "micro_precision": float(_ratio(np.array([mtp]), np.array([mtp + mfp]))[0]),
        "micro_recall": float(_ratio(np.array([mtp]), np.array([mtp + mfn]))[0]),
        **{k: float(v) for k, v in avg.items()},
        "averaged_over": [f for f, k in zip(findings, keep) if k],
        "n_cases": int(len(y_true)),
        "per_label": per_label,
    }
    aucs = [a for f, k in zip(findings, keep) if k and (a := per_label[f]["auroc"]) is not None]
    out["macro_auroc"] = float(np.mean(aucs)) if aucs else None
    if clusters is not None and n_boot > 0:
        counts = np.stack([tp_c[:, keep], fp_c[:, keep], fn_c[:, keep]], axis=1)  # (n, 3, k)
        boot = cluster_bootstrap_sums(counts, np.asarray(clusters), n_boot, seed)
        bavg = _averages(boot[:, 0], boot[:, 1], boot[:, 2])
        out["ci95"] = {k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] for k, v in bavg.items()}
        out["ci_method"] = f"patient-clustered percentile bootstrap, {n_boot} resamples, seed {seed}"
    return out
