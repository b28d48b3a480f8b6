"""The shared statistics (radtrust.stats) checked against definitions, libraries and a published value, not themselves."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest, mannwhitneyu, norm
from sklearn.metrics import roc_auc_score
from statsmodels.stats.proportion import proportion_confint

from radtrust.stats import (
    adjust_p_values,
    auroc_or_nan,
    bootstrap_difference_p_value,
    clopper_pearson,
    cluster_bootstrap_sums,
    cluster_bootstrap_weights,
    cluster_draw_counts,
    cluster_resample_indices,
    clustered_interval,
    delong_auroc,
    expected_calibration_error,
    flag_precision_recall,
    mean_with_ci,
    percentile_interval,
    unpaired_delong_test,
    weighted_auroc,
    wilson_interval,
    worst_group_auroc,
)


def _tied_data(seed: int, n: int = 150) -> tuple[np.ndarray, np.ndarray]:
    """Scores rounded to one decimal: many ties within and across classes."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    return np.round(0.8 * y + rng.normal(0, 1, n), 1), y


def _brute_force_delong(s: np.ndarray, y: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """DeLong et al. (1988) straight from the definition: psi = 1 if x > z, 1/2 if tied, O(m*n)."""
    x, z = s[y == 1], s[y == 0]
    psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    var = v10.var(ddof=1) / len(x) + v01.var(ddof=1) / len(z)
    return float(psi.mean()), float(var), v10, v01


# ---------------------------------------------------------------------------- DeLong / Obuchowski


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_delong_equals_pairwise_definition_sklearn_and_mann_whitney(seed):
    s, y = _tied_data(seed)
    auc, var = delong_auroc(s, y)
    ref_auc, ref_var, _, _ = _brute_force_delong(s, y)
    assert auc == pytest.approx(ref_auc, abs=1e-12)
    assert var == pytest.approx(ref_var, rel=1e-10)
    assert auc == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    m, n = int(y.sum()), int((1 - y).sum())
    u = mannwhitneyu(s[y == 1], s[y == 0]).statistic  # U of the positives, ties counted 1/2
    assert auc == pytest.approx(u / (m * n), abs=1e-12)


def test_delong_hand_computed_tiny_case():
    # y = [1,1,0,0], s = [.9,.4,.6,.1]: V10 = [1, .5], V01 = [.5, 1]; AUROC .75;
    # var = var([1,.5])/2 + var([.5,1])/2 = .125/2 + .125/2 = .125 (ddof=1).
    auc, var = delong_auroc(np.array([0.9, 0.4, 0.6, 0.1]), np.array([1, 1, 0, 0]))
    assert (auc, var) == (pytest.approx(0.75), pytest.approx(0.125))


# pROC::aSAH (Turck et al. 2010, Intensive Care Med 36:107-115; shipped with pROC, Robin et al. 2011, BMC
# Bioinformatics 12:77), 113 patients in row order; y = outcome == "Poor" (41), s100b in ug/L. The first six
# rows match pROC's documented head(aSAH): Good/Good/Good/Good/Poor/Poor, 0.13/0.14/0.10/0.04/0.13/0.10.
# pROC prints for roc(aSAH$outcome, aSAH$s100b): "Area under the curve: 0.7314" and, with ci(),
# "95% CI: 0.6301-0.8326 (DeLong)".
_ASAH_POOR = [
    0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0,
    0, 0, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0,
    0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0,
    0,
]  # fmt: skip
_ASAH_S100B = [
    0.13, 0.14, 0.10, 0.04, 0.13, 0.10, 0.47, 0.16, 0.18, 0.10, 0.12, 0.10, 0.44, 0.71,
    0.04, 0.08, 0.49, 0.04, 0.07, 0.33, 0.09, 0.09, 0.07, 0.11, 0.07, 0.17, 0.07, 0.11,
    0.13, 0.19, 0.05, 0.16, 0.41, 0.14, 0.34, 0.35, 0.48, 0.09, 0.96, 0.25, 0.50, 0.46,
    0.16, 0.07, 0.43, 0.45, 0.11, 0.08, 0.09, 0.86, 0.52, 0.08, 0.06, 0.13, 2.07, 0.10,
    0.14, 0.15, 0.07, 0.06, 0.77, 0.05, 0.09, 0.30, 0.03, 0.09, 0.04, 0.23, 0.70, 0.09,
    0.27, 0.71, 0.08, 0.26, 0.08, 0.16, 0.09, 0.13, 0.10, 0.08, 0.11, 0.33, 0.11, 0.28,
    0.07, 0.10, 0.32, 0.22, 0.07, 0.05, 0.24, 0.38, 0.10, 0.15, 0.08, 0.14, 0.10, 0.07,
    0.04, 0.19, 0.56, 0.14, 0.58, 0.32, 0.82, 0.74, 0.15, 0.47, 0.17, 0.44, 0.15, 0.50,
    0.48,
]  # fmt: skip


def test_delong_reproduces_proc_on_asah():
    y, s = np.array(_ASAH_POOR), np.array(_ASAH_S100B)
    assert (len(y), int(y.sum()), len(s)) == (113, 41, 113)
    auc, var = delong_auroc(s, y)
    half = norm.ppf(0.975) * np.sqrt(var)
    assert auc == pytest.approx(0.7314, abs=5e-4)
    assert auc - half == pytest.approx(0.6301, abs=5e-4)
    assert auc + half == pytest.approx(0.8326, abs=5e-4)
    # Singleton clusters must give the same answer through the Obuchowski path.
    assert delong_auroc(s, y, np.arange(113)) == pytest.approx((auc, var), rel=1e-12)


@pytest.mark.parametrize("seed", [0, 3])
def test_singleton_clusters_reproduce_delong_exactly(seed):
    s, y = _tied_data(seed)
    ids = np.random.default_rng(seed).permutation(len(s)) + 1000  # arbitrary, unordered ids
    assert delong_auroc(s, y, ids) == pytest.approx(delong_auroc(s, y), rel=1e-12)


def test_duplicated_cases_leave_clustered_variance_unchanged_but_shrink_naive_delong():
    s, y = _tied_data(5, n=200)
    k = 3
    auc, var = delong_auroc(s, y)
    S, Y, ids = np.repeat(s, k), np.repeat(y, k), np.repeat(np.arange(len(s)), k)
    auc_c, var_c = delong_auroc(S, Y, ids)
    auc_u, var_u = delong_auroc(S, Y)
    assert auc_c == pytest.approx(auc, abs=1e-12) and auc_u == pytest.approx(auc, abs=1e-12)
    # Same information, same variance: exact for Obuchowski (cluster sums scale by k, counts by k).
    assert var_c == pytest.approx(var, rel=1e-10)
    # Naive DeLong treats the k copies as independent: with m positives, n negatives,
    # var_dup = S10/m * (m-1)/(k m-1) + S01/n * (n-1)/(k n-1), i.e. about var/k.
    _, _, v10, v01 = _brute_force_delong(s, y)
    m, n = len(v10), len(v01)
    expect = v10.var(ddof=1) / m * (m - 1) / (k * m - 1) + v01.var(ddof=1) / n * (n - 1) / (k * n - 1)
    assert var_u == pytest.approx(expect, rel=1e-10)
    assert 0.32 < var_u / var < 0.34


def _brute_force_obuchowski(s, y, clusters):
    """Obuchowski (1997, Biometrics 53:567) eqs. for S10, S01, S11 written as explicit loops over clusters."""
    x_idx, z_idx = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    M, N = len(x_idx), len(z_idx)
    psi = (s[x_idx][:, None] > s[z_idx][None, :]) + 0.5 * (s[x_idx][:, None] == s[z_idx][None, :])
    auc = psi.mean()
    v10 = dict(zip(x_idx, psi.sum(axis=1) / N, strict=True))
    v01 = dict(zip(z_idx, psi.sum(axis=0) / M, strict=True))
    ids = sorted(set(clusters.tolist()))
    s10 = s01 = s11 = 0.0
    i10 = i01 = 0
    for c in ids:
        members = np.flatnonzero(clusters == c)
        pos = [j for j in members if y[j] == 1]
        neg = [j for j in members if y[j] == 0]
        a = sum(v10[j] for j in pos) - len(pos) * auc
        b = sum(v01[j] for j in neg) - len(neg) * auc
        s10, s01, s11 = s10 + a * a, s01 + b * b, s11 + a * b
        i10, i01 = i10 + (len(pos) > 0), i01 + (len(neg) > 0)
    s10 *= i10 / ((i10 - 1) * M)
    s01 *= i01 / ((i01 - 1) * N)
    s11 *= len(ids) / (len(ids) - 1)
    return auc, s10 / M + s01 / N + 2 * s11 / (M * N)


def test_clustered_variance_matches_loop_implementation_with_mixed_clusters():
    rng = np.random.default_rng(11)
    ids = rng.integers(0, 25, 90)  # unequal clusters holding positives, negatives or both
    y = (rng.random(90) < 0.4).astype(int)
    s = np.round(y + rng.normal(0, 1, 25)[ids] + rng.normal(0, 0.7, 90), 1)
    auc, var = delong_auroc(s, y, ids)
    ref_auc, ref_var = _brute_force_obuchowski(s, y, ids)
    assert auc == pytest.approx(ref_auc, abs=1e-12)
    assert var == pytest.approx(ref_var, rel=1e-10)


def test_clustered_variance_matches_monte_carlo_while_naive_delong_understates_it():
    # 80 patients x 4 reports. Disease is mostly a patient property (10% of reports disagree) and a shared
    # patient effect shifts every score of a patient: a patient's reports are strongly correlated.
    rng = np.random.default_rng(2024)
    n_pat, k, reps = 80, 4, 400
    ids = np.repeat(np.arange(n_pat), k)
    aucs, v_obu, v_naive = np.empty(reps), np.empty(reps), np.empty(reps)
    for r in range(reps):
        sick = np.repeat(rng.random(n_pat) < 0.4, k)
        y = (sick ^ (rng.random(n_pat * k) < 0.1)).astype(int)
        s = y + np.repeat(rng.normal(0, 1, n_pat), k) + rng.normal(0, 0.5, n_pat * k)
        aucs[r], v_obu[r] = delong_auroc(s, y, ids)
        v_naive[r] = delong_auroc(s, y)[1]
    empirical = aucs.var(ddof=1)  # relative Monte Carlo error about sqrt(2/400) = 7%
    assert 0.8 < v_obu.mean() / empirical < 1.25
    assert v_naive.mean() / empirical < 0.6  # about 0.4 here: cases counted as independent


def test_delong_undefined_cases():
    with pytest.raises(ValueError, match="both positive and negative"):
        delong_auroc(np.array([0.1, 0.2]), np.array([1, 1]))
    with pytest.raises(ValueError, match="0/1"):
        delong_auroc(np.array([0.1, 0.2]), np.array([2, 0]))
    auc, var = delong_auroc(np.array([0.9, 0.1, 0.2]), np.array([1, 0, 0]))
    assert auc == 1.0 and np.isnan(var)


# ---------------------------------------------------------------------------- unpaired test


def test_unpaired_test_fields_and_variance_sum():
    s_a, y_a = _tied_data(1)
    s_b, y_b = _tied_data(2)
    res = unpaired_delong_test(s_a, y_a, s_b, y_b)
    (a, va), (b, vb) = delong_auroc(s_a, y_a), delong_auroc(s_b, y_b)
    assert set(res) == {"auroc_a", "auroc_b", "difference", "se", "z", "p_value", "method"}
    assert res["difference"] == pytest.approx(a - b)
    assert res["se"] == pytest.approx(np.sqrt(va + vb))
    assert res["p_value"] == pytest.approx(2 * norm.sf(abs((a - b) / np.sqrt(va + vb))))
    assert "DeLong" in res["method"]
    clustered = unpaired_delong_test(s_a, y_a, s_b, y_b, np.arange(len(s_a)), np.arange(len(s_b)))
    assert clustered["se"] == pytest.approx(res["se"], rel=1e-12) and "Obuchowski" in clustered["method"]


def test_unpaired_test_size_under_h0_and_power():
    rng = np.random.default_rng(7)
    reps, n = 400, 200
    ya = (rng.random((reps, n)) < 0.3).astype(int)
    yb = (rng.random((reps, n)) < 0.3).astype(int)
    sa = ya + rng.normal(0, 1, (reps, n))  # same AUROC (about 0.76) in both groups
    sb = yb + rng.normal(0, 1, (reps, n))
    p = np.array([unpaired_delong_test(sa[r], ya[r], sb[r], yb[r])["p_value"] for r in range(reps)])
    assert 0.02 <= np.mean(p < 0.05) <= 0.09  # nominal 0.05, binomial SD 0.011
    assert 0.4 < np.mean(p) < 0.6  # p is ~ uniform under H0
    strong = unpaired_delong_test(2.5 * ya[0] + rng.normal(0, 1, n), ya[0], 0.3 * yb[0] + rng.normal(0, 1, n), yb[0])
    assert strong["difference"] > 0.25 and strong["p_value"] < 1e-3


# ---------------------------------------------------------------------------- bootstrap weights


def test_bootstrap_weights_follow_clusters_and_sum_to_n_for_singletons():
    w = cluster_bootstrap_weights(np.arange(50), n_boot=200, seed=0)
    assert w.shape == (200, 50) and w.dtype == np.float32
    assert np.all(w.sum(axis=1) == 50)  # n clusters drawn, one case each
    ids = np.repeat(np.arange(40), np.arange(40) % 5 + 1)  # unequal cluster sizes, 120 cases
    w = cluster_bootstrap_weights(ids, n_boot=4000, seed=1)
    for c in (0, 7, 39):
        cols = w[:, ids == c]
        assert np.all(cols == cols[:, :1])  # a patient's reports move together
    assert w.sum(axis=1).mean() == pytest.approx(len(ids), rel=0.01)  # sum is random, mean is n_cases
    assert w.sum(axis=1).std() > 0


def test_bootstrap_weights_describe_the_same_resamples_as_cluster_bootstrap_sums():
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 60, 300)
    per_case = rng.integers(0, 2, (300, 3))
    w = cluster_bootstrap_weights(ids, n_boot=250, seed=42)
    np.testing.assert_allclose(w @ per_case, cluster_bootstrap_sums(per_case, ids, 250, 42), rtol=0, atol=1e-9)


def test_cluster_bootstrap_sums_shape_and_total():
    counts = np.ones((10, 3))
    boot = cluster_bootstrap_sums(counts, np.repeat(np.arange(5), 2), n_boot=7, seed=0)
    assert boot.shape == (7, 3)
    assert np.allclose(boot.sum(1), 30)  # 5 clusters of 2 cases, 3 counts each, resampled 5 times


def test_draw_counts_are_one_multinomial_per_resample_and_seeded():
    ids = np.array(["p3", "p1", "p3", "p2", "p1", "p1"])
    counts, inv = cluster_draw_counts(ids, n_boot=50, seed=7)
    assert counts.shape == (50, 3) and np.all(counts.sum(axis=1) == 3)  # 3 clusters drawn with replacement
    np.testing.assert_array_equal(inv, [2, 0, 2, 1, 0, 0])  # columns follow the sorted ids
    rng = np.random.default_rng(7)
    np.testing.assert_array_equal(counts, rng.multinomial(3, np.full(3, 1 / 3), size=50))
    np.testing.assert_array_equal(cluster_draw_counts(ids, 50, 7)[0], counts)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        cluster_draw_counts(np.array([]), 5, 0)


def test_resample_indices_keep_clusters_whole_in_draw_order():
    ids = np.repeat(np.array([10, 20, 30, 40]), [1, 2, 3, 1])  # 7 cases, 4 clusters
    got = list(cluster_resample_indices(ids, n_boot=30, seed=3))
    rng = np.random.default_rng(3)
    members = [np.flatnonzero(ids == c) for c in (10, 20, 30, 40)]
    for idx in got:
        picks = rng.integers(0, 4, 4)  # the sequential draw: one call per resample
        np.testing.assert_array_equal(idx, np.concatenate([members[k] for k in picks]))
    # Each value its own cluster: the same numbers as one (n_boot, n) integers call.
    rows = np.stack(list(cluster_resample_indices(np.arange(9), 40, 5)))
    np.testing.assert_array_equal(rows, np.random.default_rng(5).integers(0, 9, size=(40, 9)))


def test_clustered_interval_covers_the_estimate_and_skips_undefined_resamples():
    rng = np.random.default_rng(2)
    ids = np.repeat(np.arange(60), 3)
    y = (rng.random(180) < 0.4).astype(float)
    s = y + rng.normal(0, 1, 180)
    lo, hi = clustered_interval(auroc_or_nan, y, s, ids, n_boot=300, seed=0)
    assert lo < auroc_or_nan(y, s) < hi
    assert np.isnan(auroc_or_nan(np.zeros(5), np.arange(5.0)))
    # Positives in one cluster of 60: about 1/e of the resamples miss it and are skipped, the rest still give an interval.
    y2 = np.zeros(180)
    y2[:3] = 1
    assert clustered_interval(auroc_or_nan, y2, s, ids, n_boot=300, seed=0) is not None
    # Fewer than half the resamples usable: no interval.
    assert clustered_interval(lambda a, b: float("nan"), y, s, ids, n_boot=50, seed=0) is None


@pytest.mark.parametrize("seed", range(4))
def test_clustered_auroc_interval_scores_resamples_at_once_as_one_at_a_time_would(seed):
    """The AUROC path scores every resample in one weighted call; a per-resample scikit-learn AUROC over the
    same resampled rows gives the same interval, ties and skipped one-class resamples included."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 40, 150)
    y = (rng.random(150) < 0.15).astype(int)
    s = np.round(y * 0.3 + rng.random(150), 1)
    fast = clustered_interval(auroc_or_nan, y, s, ids, n_boot=400, seed=seed)
    vals = [roc_auc_score(y[i], s[i]) for i in cluster_resample_indices(ids, 400, seed) if 0 < y[i].sum() < len(i)]
    assert fast == pytest.approx([np.percentile(vals, 2.5), np.percentile(vals, 97.5)], abs=1e-12)


def test_mean_with_ci_is_a_percentile_bootstrap_of_the_mean():
    x = [0.3, -0.1, 0.8, 0.5, 0.2, 0.4]
    res = mean_with_ci(x, seed=0, n_boot=2000)
    a = np.asarray(x)
    boot = a[np.random.default_rng(0).integers(0, 6, size=(2000, 6))].mean(1)
    assert res == {"mean": pytest.approx(a.mean()), "ci95": [np.percentile(boot, 2.5), np.percentile(boot, 97.5)], "n": 6}
    assert mean_with_ci([1.5]) == {"mean": 1.5, "ci95": [1.5, 1.5], "n": 1}


def test_cluster_bootstrap_is_not_fooled_by_duplicated_rows():
    rng = np.random.default_rng(4)
    y = (rng.random(200) < 0.3).astype(float)
    Y, ids = np.repeat(y, 4), np.repeat(np.arange(200), 4)

    def sd(values, clusters):
        w = cluster_bootstrap_weights(clusters, n_boot=2000, seed=9)
        return float(((w @ values) / w.sum(axis=1)).std())

    base = sd(y, np.arange(200))
    # Same seed and same number of clusters: identical multiplicities, so the SD is exactly the same.
    assert sd(Y, ids) == pytest.approx(base, rel=1e-5)
    # A row bootstrap believes 800 independent cases and shrinks the SD by about sqrt(4) = 2.
    assert 0.4 < sd(Y, np.arange(800)) / base < 0.6


# ---------------------------------------------------------------------------- weighted AUROC


def test_weighted_auroc_matches_sklearn_sample_weight_with_ties():
    s, y = _tied_data(6, n=120)
    rng = np.random.default_rng(6)
    w = rng.integers(0, 4, (6, 120))
    got = weighted_auroc(s, y, w)
    want = [roc_auc_score(y, s, sample_weight=row) for row in w]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    # An integer weight is the same as repeating the case.
    assert got[0] == pytest.approx(roc_auc_score(np.repeat(y, w[0]), np.repeat(s, w[0])), abs=1e-12)
    one = weighted_auroc(s, y, np.ones(120))
    assert one.shape == () and float(one) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_weighted_auroc_over_cluster_bootstrap_and_undefined_rows():
    s, y = _tied_data(8, n=90)
    ids = np.arange(90) // 3
    w = cluster_bootstrap_weights(ids, n_boot=20, seed=5)
    got = weighted_auroc(s, y, w)
    for b in (0, 13):
        assert got[b] == pytest.approx(roc_auc_score(y, s, sample_weight=w[b]), abs=1e-7)
    w2 = np.ones((2, 90))
    w2[1, y == 1] = 0  # no positive weight: AUROC undefined
    res = weighted_auroc(s, y, w2)
    assert res[0] == pytest.approx(roc_auc_score(y, s)) and np.isnan(res[1])


# ---------------------------------------------------------------------------- bootstrap p-value


def test_bootstrap_p_value_on_known_distributions():
    rng = np.random.default_rng(12)
    assert bootstrap_difference_p_value(rng.normal(0, 1, 20_001)) > 0.9
    p = bootstrap_difference_p_value(rng.normal(3, 1, 200_000))
    assert p == pytest.approx(2 * norm.sf(3), rel=0.15)  # 0.0027; ~270 replicates below 0
    assert bootstrap_difference_p_value(-rng.normal(3, 1, 200_000)) == pytest.approx(2 * norm.sf(3), rel=0.15)


def test_bootstrap_p_value_ties_correction_and_nan():
    assert bootstrap_difference_p_value(np.array([0.0, 1.0, 2.0, 3.0])) == pytest.approx(2 * 2 / 5)
    assert bootstrap_difference_p_value(np.array([0.0, 0.0, 1.0, 1.0])) == 1.0  # zeros count both ways; capped
    # Mostly negative with a mass at 0: P(d >= 0) = (2 + 1) / 11, so p = 6/11 (2/11 if ties were ignored).
    assert bootstrap_difference_p_value(np.array([0.0, 0.0, *range(-8, 0)])) == pytest.approx(6 / 11)
    assert bootstrap_difference_p_value(np.arange(1.0, 100.0)) == pytest.approx(2 / 100)  # never 0
    assert bootstrap_difference_p_value(np.array([np.nan, 0.0, 1.0, 2.0, 3.0, np.nan])) == pytest.approx(0.8)
    assert np.isnan(bootstrap_difference_p_value(np.array([np.nan, np.nan])))


# ---------------------------------------------------------------------------- multiplicity


def test_holm_and_bh_known_values_with_nan_passthrough():
    # Holm by hand: sorted .01*3=.03, .03*2=.06, .04*1=.04 -> running max .06.
    np.testing.assert_allclose(adjust_p_values([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    # BH by hand (m=4): sorted .005*4/1=.02, .01*4/2=.02, .03*4/3=.04, .04*4/4=.04; step-up min keeps them.
    np.testing.assert_allclose(adjust_p_values([0.01, 0.04, 0.03, 0.005], "fdr_bh"), [0.02, 0.04, 0.04, 0.02])
    np.testing.assert_allclose(adjust_p_values([0.01, 0.02, 0.03, 0.04, 0.05], "fdr_bh"), [0.05] * 5)
    got = adjust_p_values([0.01, float("nan"), 0.04, 0.03])
    np.testing.assert_allclose(got, [0.03, np.nan, 0.06, 0.06])  # NaN not counted: m = 3, not 4
    assert np.isnan(adjust_p_values([float("nan")] * 2)).all()
    with pytest.raises(ValueError, match="unknown method"):
        adjust_p_values([0.1], "bonferroni")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- calibration


def _ece_loop(p, y, w, n_bins):
    """ECE from its definition, one bin at a time."""
    total, ece = w.sum(), 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        inside = (p >= lo) & ((p < hi) | ((b == n_bins - 1) & (p <= hi)))
        wb = w[inside].sum()
        if wb > 0:
            ece += wb / total * abs((w[inside] * y[inside]).sum() / wb - (w[inside] * p[inside]).sum() / wb)
    return ece


def test_ece_known_values():
    rng = np.random.default_rng(13)
    p = rng.random(200_000)
    assert expected_calibration_error(p, (rng.random(200_000) < p).astype(int)) < 0.01
    assert expected_calibration_error(np.full(50, 0.8), np.ones(50)) == pytest.approx(0.2)
    assert expected_calibration_error(np.ones(10), np.ones(10)) == 0.0  # p = 1 sits in the last bin
    # Two bins: [.2,.2 | y 0,1] gap .3 and [.9 | y 0] gap .9 -> (2/3)*.3 + (1/3)*.9 = .5
    assert expected_calibration_error(np.array([0.2, 0.2, 0.9]), np.array([0, 1, 0]), n_bins=2) == pytest.approx(0.5)


@pytest.mark.parametrize("n_bins", [5, 10, 15])
def test_ece_vectorised_equals_loop(n_bins):
    rng = np.random.default_rng(n_bins)
    p = np.concatenate([rng.beta(2, 3, 300), [0.0, 0.5, 1.0, 1.0]])
    y = (rng.random(len(p)) < np.clip(p + 0.1, 0, 1)).astype(int)
    w = rng.integers(0, 3, (7, len(p))).astype(float)
    got = expected_calibration_error(p, y, w, n_bins=n_bins)
    assert got.shape == (7,)
    np.testing.assert_allclose(got, [_ece_loop(p, y, row, n_bins) for row in w], rtol=1e-10)
    scalar = expected_calibration_error(p, y, n_bins=n_bins)
    assert isinstance(scalar, float) and scalar == pytest.approx(_ece_loop(p, y, np.ones(len(p)), n_bins))
    assert np.isnan(expected_calibration_error(p, y, np.zeros((1, len(p))), n_bins=n_bins)[0])


# ---------------------------------------------------------------------------- percentile interval


def test_percentile_interval_is_nan_aware():
    x = np.arange(101.0)
    assert percentile_interval(x) == (pytest.approx(2.5), pytest.approx(97.5))
    assert percentile_interval(np.append(x, [np.nan] * 30), level=0.9) == (pytest.approx(5.0), pytest.approx(95.0))
    lo, hi = percentile_interval(np.column_stack([x, 2 * x, np.full(101, np.nan)]))
    np.testing.assert_allclose(lo, [2.5, 5.0, np.nan])
    np.testing.assert_allclose(hi, [97.5, 195.0, np.nan])
    assert all(np.isnan(v) for v in percentile_interval(np.full(5, np.nan)))
    with pytest.raises(ValueError):
        percentile_interval(x, level=1.5)


# ---------------------------------------------------------------------------- binomial intervals


def test_clopper_pearson_matches_scipy():
    for k, n in ((0, 50), (3, 50), (25, 50), (50, 50), (7, 1000)):
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        lo, hi = clopper_pearson(k, n, 0.05)
        assert lo == pytest.approx(ci.low, abs=1e-9) and hi == pytest.approx(ci.high, abs=1e-9)


def test_wilson_matches_statsmodels_and_stays_in_unit_interval():
    for k, n in ((0, 10), (3, 10), (10, 10), (37, 200)):
        lo, hi = wilson_interval(k, n)
        want = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert (lo, hi) == pytest.approx(want, abs=1e-12) and 0 <= lo <= k / n <= hi <= 1
    # Wilson (1927) by hand for 3/10: centre (k + z²/2)/(n + z²), half-width z√(p̂q̂n + z²/4)/(n + z²).
    z = norm.ppf(0.975)
    centre, half = (3 + z**2 / 2) / (10 + z**2), z * math.sqrt(0.3 * 0.7 * 10 + z**2 / 4) / (10 + z**2)
    assert wilson_interval(3, 10) == pytest.approx((centre - half, centre + half), abs=1e-12)


def test_flag_precision_recall():
    flagged = np.array([1, 1, 0, 0, 1], bool)
    truth = np.array([1, 0, 1, 0, 1], bool)
    r = flag_precision_recall(flagged, truth)
    assert r == {"precision": pytest.approx(2 / 3), "recall": pytest.approx(2 / 3), "f1": pytest.approx(2 / 3), "n_flagged": 3, "n_wrong": 3}
    assert flag_precision_recall(np.zeros(3, bool), np.zeros(3, bool)) == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "n_flagged": 0, "n_wrong": 0}


# ---------------------------------------------------------------------------- worst group


def test_worst_group_auroc():
    rng = np.random.default_rng(4)
    groups = np.array(["A"] * 200 + ["B"] * 200 + ["C"] * 20)
    n = len(groups)
    targets = (rng.random((n, 2)) < 0.4).astype(float)
    signal = np.where(groups == "A", 2.0, np.where(groups == "B", 0.5, -3.0))[:, None]
    probs = 1 / (1 + np.exp(-(signal * (targets - 0.5) + rng.normal(0, 1, (n, 2)))))
    mask = np.ones((n, 2))
    mask[rng.random((n, 2)) < 0.1] = 0
    # finding 1 has only 2 positives in group B: B's macro AUROC is over finding 0 only
    b_pos = np.flatnonzero((groups == "B") & (targets[:, 1] == 1) & (mask[:, 1] > 0))
    targets[b_pos[2:], 1] = 0
    value, worst, per_group = worst_group_auroc(probs, targets, mask, groups, min_cases=30, min_positives=5)
    assert set(per_group) == {"A", "B"}  # C (20 cases, inverted scores) is ignored
    assert worst == "B" and value == per_group["B"]

    def auc(g, j):
        keep = (groups == g) & (mask[:, j] > 0)
        return roc_auc_score(targets[keep, j], probs[keep, j])

    assert per_group["A"] == pytest.approx((auc("A", 0) + auc("A", 1)) / 2)
    assert per_group["B"] == pytest.approx(auc("B", 0))
    # with a lower bar C is judged, and is the worst
    value2, worst2, _ = worst_group_auroc(probs, targets, mask, groups, min_cases=10, min_positives=2)
    assert worst2 == "C" and value2 < 0.5


def test_worst_group_auroc_nothing_judged():
    value, worst, per_group = worst_group_auroc(np.random.rand(10, 1), np.ones((10, 1)), np.ones((10, 1)), np.array(["A"] * 10))
    assert math.isnan(value) and worst is None and per_group == {}
