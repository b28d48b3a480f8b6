"""Empirical privacy audits: how well can an attacker tell training members from non-members, and what
ε does that success prove at least?

A differentially private model bounds every membership test: for any threshold, TPR ≤ e^ε·FPR + δ (and
the same with the roles of members and non-members swapped). Measuring an attack's TPR and FPR therefore
gives a *lower* bound on the ε the model actually spends, to set beside the accountant's upper bound
(Jagielski, Ullman & Oprea, NeurIPS 2020; Nasr et al., IEEE S&P 2021). Counts are finite, so the bound
uses Clopper–Pearson intervals: it holds with the stated confidence, not just at the point estimate.

This module scores attacks from their outputs (one score per record, higher = "member"); the attacks
themselves (loss threshold, shadow models, canaries) produce those scores.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from radtrust.stats import clopper_pearson


def epsilon_from_rates(tp: int, n_members: int, fp: int, n_nonmembers: int, delta: float, alpha: float = 0.05) -> float:
    """The ε that one threshold's counts prove with confidence 1 - alpha (0 when they prove nothing).

    (ε, δ)-DP bounds the test and its complement in both directions: TPR ≤ e^ε·FPR + δ,
    TNR ≤ e^ε·FNR + δ, FPR ≤ e^ε·TPR + δ and FNR ≤ e^ε·TNR + δ (the last two catch an attack whose scores
    run the wrong way). Each is evaluated with the left side at its lower and the right side at its upper
    Clopper–Pearson limit; the largest resulting log ratio is the bound.
    """
    tpr_lo, tpr_hi = clopper_pearson(tp, n_members, alpha)
    fpr_lo, fpr_hi = clopper_pearson(fp, n_nonmembers, alpha)
    fnr_lo, fnr_hi = 1.0 - tpr_hi, 1.0 - tpr_lo
    tnr_lo, tnr_hi = 1.0 - fpr_hi, 1.0 - fpr_lo
    bounds = [0.0]
    for num, den in ((tpr_lo, fpr_hi), (tnr_lo, fnr_hi), (fpr_lo, tpr_hi), (fnr_lo, tnr_hi)):
        if num - delta > 0 and den > 0:
            bounds.append(math.log((num - delta) / den))
    return max(bounds)


def epsilon_lower_bound(member_scores: np.ndarray, nonmember_scores: np.ndarray, delta: float, alpha: float = 0.05) -> dict:
    """The best ε lower bound over every threshold of an attack's scores, with the threshold that gave it.

    Choosing the best threshold on the same scores makes the bound optimistic for the attacker; audits
    that need a strict bound pick the threshold on held-out attack data (Nasr et al., 2021)."""
    m = np.asarray(member_scores, dtype=float)
    o = np.asarray(nonmember_scores, dtype=float)
    if len(m) == 0 or len(o) == 0:
        raise ValueError("need scores for both members and non-members")
    thresholds = np.unique(np.concatenate([m, o]))
    m_sorted, o_sorted = np.sort(m), np.sort(o)
    best: dict[str, Any] = {"epsilon_lower_bound": 0.0, "threshold": None, "tpr": None, "fpr": None}
    for t in thresholds:
        tp = int(len(m) - np.searchsorted(m_sorted, t, side="left"))
        fp = int(len(o) - np.searchsorted(o_sorted, t, side="left"))
        eps = epsilon_from_rates(tp, len(m), fp, len(o), delta, alpha)
        if eps > best["epsilon_lower_bound"]:
            best = {"epsilon_lower_bound": eps, "threshold": float(t), "tpr": tp / len(m), "fpr": fp / len(o)}
    return best | {"delta": delta, "confidence": 1 - alpha, "n_members": int(len(m)), "n_nonmembers": int(len(o)), "method": "Clopper-Pearson bounds on FPR and FNR, best threshold"}


def attack_metrics(member_scores: np.ndarray, nonmember_scores: np.ndarray, fprs: tuple[float, ...] = (0.01, 0.001)) -> dict:
    """Attack AUC and TPR at low FPR (the regime that matters: confidently exposing a few members,
    Carlini et al., IEEE S&P 2022), from one score per record."""
    m = np.asarray(member_scores, dtype=float)
    o = np.asarray(nonmember_scores, dtype=float)
    y = np.concatenate([np.ones(len(m)), np.zeros(len(o))])
    s = np.concatenate([m, o])
    out = {"auc": float(roc_auc_score(y, s)), "n_members": int(len(m)), "n_nonmembers": int(len(o))}
    for target in fprs:
        # The highest TPR reachable without exceeding the target FPR (a step function, no interpolation).
        out[f"tpr_at_fpr_{target:g}"] = tpr_at_fpr(m, o, target)["tpr"]
    return out


def tpr_at_fpr(member_scores: np.ndarray, nonmember_scores: np.ndarray, target_fpr: float, alpha: float = 0.05) -> dict:
    """TPR of the threshold with the most members above it whose FPR stays ≤ ``target_fpr``, with the
    Clopper–Pearson interval of that TPR. ``resolvable`` is False when there are too few non-members to
    measure an FPR that low (fewer than 1/target_fpr): the threshold then sits above every non-member."""
    m = np.sort(np.asarray(member_scores, dtype=float))
    o = np.sort(np.asarray(nonmember_scores, dtype=float))
    allowed = int(math.floor(target_fpr * len(o) + 1e-9))  # non-members allowed at or above the threshold
    # Lowest threshold with at most ``allowed`` non-members at or above it: just above the (allowed+1)-th largest.
    t = np.nextafter(o[len(o) - allowed - 1], np.inf) if allowed < len(o) else -np.inf
    tp = int(len(m) - np.searchsorted(m, t, side="left"))
    lo, hi = clopper_pearson(tp, len(m), alpha)
    return {"tpr": tp / len(m), "ci95": [lo, hi], "members_detected": tp, "fpr_target": target_fpr, "resolvable": len(o) * target_fpr >= 1}


def heldout_epsilon(member_scores: np.ndarray, nonmember_scores: np.ndarray, delta: float, alpha: float = 0.05, seed: int = 0) -> dict:
    """The ε lower bound with the threshold chosen on one random half of the records and the bound
    computed on the other half (Nasr et al., 2021): choosing and measuring on the same records would
    overstate it. Returns the bound with the threshold and the held-out half's counts."""
    m = np.asarray(member_scores, dtype=float)
    o = np.asarray(nonmember_scores, dtype=float)
    rng = np.random.default_rng(seed)
    pm, po = rng.permutation(len(m)), rng.permutation(len(o))
    m_sel, m_eval = m[pm[: len(m) // 2]], m[pm[len(m) // 2 :]]
    o_sel, o_eval = o[po[: len(o) // 2]], o[po[len(o) // 2 :]]
    out = {"epsilon_lower_bound": 0.0, "delta": delta, "confidence": 1 - alpha, "n_members": int(len(m_eval)), "n_nonmembers": int(len(o_eval)),
           "method": "threshold chosen on half the records, Clopper-Pearson bound on the other half"}  # fmt: skip
    if min(len(m_sel), len(o_sel), len(m_eval), len(o_eval)) == 0:
        return out | {"threshold": None}
    chosen = epsilon_lower_bound(m_sel, o_sel, delta, alpha)
    t = chosen["threshold"]
    if t is None:
        return out | {"threshold": None}
    tp, fp = int((m_eval >= t).sum()), int((o_eval >= t).sum())
    eps = epsilon_from_rates(tp, len(m_eval), fp, len(o_eval), delta, alpha)
    return out | {"epsilon_lower_bound": eps, "threshold": float(t), "tpr": tp / len(m_eval), "fpr": fp / len(o_eval)}


def lira_scores(target_stat: np.ndarray, shadow_stats: np.ndarray, shadow_in: np.ndarray) -> np.ndarray:
    """Online LiRA (Carlini et al., IEEE S&P 2022) with a global variance: for each record, the log
    likelihood ratio of its statistic under the target model between the Gaussians fitted to the shadow
    models that trained on it ("in") and those that did not ("out").

    ``shadow_stats`` and ``shadow_in`` are (n_shadows, n_records). With few shadows the per-record
    variances are unreliable; the paper's fixed-variance variant pools them, as done here. A record with
    no "in" shadow falls back to the offline test (how far above its "out" mean it lies)."""
    s = np.asarray(shadow_stats, dtype=float)
    inn = np.asarray(shadow_in, dtype=bool)
    x = np.asarray(target_stat, dtype=float)
    n_in, n_out = inn.sum(0), (~inn).sum(0)
    mu_in = np.where(n_in > 0, np.where(inn, s, 0).sum(0) / np.maximum(n_in, 1), np.nan)
    mu_out = np.where(n_out > 0, np.where(~inn, s, 0).sum(0) / np.maximum(n_out, 1), np.nan)
    res_in = np.where(inn, s - mu_in, np.nan)
    res_out = np.where(~inn, s - mu_out, np.nan)
    sd_in = float(np.nanstd(res_in)) if np.isfinite(res_in).any() else 1.0
    sd_out = float(np.nanstd(res_out)) if np.isfinite(res_out).any() else 1.0
    sd_in, sd_out = max(sd_in, 1e-6), max(sd_out, 1e-6)
    ll_in = -0.5 * ((x - mu_in) / sd_in) ** 2 - math.log(sd_in)
    ll_out = -0.5 * ((x - mu_out) / sd_out) ** 2 - math.log(sd_out)
    score = ll_in - ll_out
    offline = (x - mu_out) / sd_out
    return np.where(np.isfinite(score), score, np.where(np.isfinite(offline), offline, 0.0))
