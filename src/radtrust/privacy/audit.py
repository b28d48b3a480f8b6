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

import numpy as np
from scipy.stats import beta
from sklearn.metrics import roc_auc_score, roc_curve


def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact two-sided (1 - alpha) interval for a binomial proportion k / n."""
    if n <= 0:
        return 0.0, 1.0
    lo = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


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
    best = {"epsilon_lower_bound": 0.0, "threshold": None, "tpr": None, "fpr": None}
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
    fpr, tpr, _ = roc_curve(y, s)
    out = {"auc": float(roc_auc_score(y, s)), "n_members": int(len(m)), "n_nonmembers": int(len(o))}
    for target in fprs:
        # The highest TPR reachable without exceeding the target FPR (a step function, no interpolation).
        out[f"tpr_at_fpr_{target:g}"] = float(tpr[fpr <= target].max()) if (fpr <= target).any() else 0.0
    return out
