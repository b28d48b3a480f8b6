"""Scoring of membership-inference attacks and the empirical ε lower bound (Jagielski et al., 2020)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from radtrust.privacy.audit import attack_metrics, epsilon_from_rates, epsilon_lower_bound


def test_perfect_attack_proves_a_large_but_finite_epsilon():
    """Members all score 1, non-members 0: FPR = FNR = 0 observed, but with n = 1000 each the upper
    confidence limits are 1 - (alpha/2)^(1/n), so the proven ε is finite: log((1 - δ - u) / u)."""
    n = 1000
    res = epsilon_lower_bound(np.ones(n), np.zeros(n), delta=1e-5, alpha=0.05)
    u = 1 - 0.025 ** (1 / n)
    assert res["epsilon_lower_bound"] == pytest.approx(math.log((1 - 1e-5 - u) / u), rel=1e-6)
    assert res["tpr"] == 1.0 and res["fpr"] == 0.0


def test_no_signal_proves_nothing():
    rng = np.random.default_rng(0)
    res = epsilon_lower_bound(rng.normal(size=2000), rng.normal(size=2000), delta=1e-5)
    assert res["epsilon_lower_bound"] < 0.15  # a best-of-thresholds search on pure noise finds almost nothing


def test_bound_grows_with_separation_and_never_exceeds_a_true_dp_mechanism():
    """Scores from a randomised-response mechanism that is exactly ε-DP: the proven bound stays below ε."""
    rng = np.random.default_rng(1)
    eps = 2.0
    p = math.exp(eps) / (1 + math.exp(eps))  # P(report "member") for a member; 1 - p for a non-member
    n = 20000
    members = (rng.random(n) < p).astype(float)
    nonmembers = (rng.random(n) < 1 - p).astype(float)
    res = epsilon_lower_bound(members, nonmembers, delta=0.0)
    assert 1.5 < res["epsilon_lower_bound"] <= eps


def test_an_inverted_attack_proves_as_much_through_the_second_inequality():
    """An attack whose scores are upside down (members score low) is as informative: the bound uses
    1 - FPR <= e^ε·FNR + δ as well as 1 - FNR <= e^ε·FPR + δ."""
    rng = np.random.default_rng(2)
    members, nonmembers = rng.normal(2.0, 1.0, 3000), rng.normal(0.0, 1.0, 3000)
    straight = epsilon_lower_bound(members, nonmembers, delta=1e-5)["epsilon_lower_bound"]
    inverted = epsilon_lower_bound(-members, -nonmembers, delta=1e-5)["epsilon_lower_bound"]
    assert straight > 1.0 and inverted == pytest.approx(straight, rel=0.05)
    assert epsilon_from_rates(tp=500, n_members=1000, fp=500, n_nonmembers=1000, delta=0.0) == 0.0


def test_attack_metrics_tpr_at_low_fpr():
    members = np.array([0.99, 0.98, 0.5, 0.4])
    nonmembers = np.linspace(0.0, 0.6, 200)
    m = attack_metrics(members, nonmembers, fprs=(0.01, 0.001))
    assert m["tpr_at_fpr_0.01"] == 0.5  # the two top members sit above every non-member
    assert m["tpr_at_fpr_0.001"] == 0.5
    assert 0.5 < m["auc"] <= 1.0 and m["n_members"] == 4 and m["n_nonmembers"] == 200
    with pytest.raises(ValueError):
        epsilon_lower_bound(np.array([]), nonmembers, delta=1e-5)
