"""Statistics shared by every layer above: the one cluster bootstrap, the intervals and the AUROC tests.

A patient contributes several reports (a woman several views), so cases are not independent: every
interval and test here either resamples or sums *per cluster*, or says plainly that it assumes independent
cases. The bootstrap resamples whole clusters with replacement (the cluster bootstrap of Davison & Hinkley
1997, sec. 3.8; Field & Welsh 2007). AUROC variances follow DeLong, DeLong & Clarke-Pearson (1988) through
the O(n log n) midrank algorithm of Sun & Xu (2014), and Obuchowski (1997) when cases are clustered.
Binomial intervals are Clopper & Pearson (1934, exact) and Wilson (1927, score). Bootstrap statistics take a
(n_boot, n_cases) case-weight matrix so that 1,000 resamples are a handful of matrix products.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np
from scipy.stats import beta, norm, rankdata
from sklearn.metrics import roc_auc_score
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

# Rows of a weight matrix are processed in blocks of about this many elements (32 MB in float64), so a
# (1000, 100_000) float32 matrix never gets a full float64 copy.
_CHUNK_ELEMENTS = 1 << 22

#: Default number of bootstrap resamples.
N_BOOT = 1000


def _row_chunks(n_rows: int, n_cols: int) -> Iterator[slice]:
    step = max(1, _CHUNK_ELEMENTS // max(n_cols, 1))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def _binary_labels(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"labels have shape {y.shape}, expected ({n},)")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0/1 (or boolean)")
    return y.astype(bool)


def _as_weight_matrix(weights: np.ndarray, n: int) -> tuple[np.ndarray, bool]:
    """Return weights as (n_rows, n) and whether the caller passed a single 1-D weight vector."""
    w = np.asarray(weights)
    one_d = w.ndim == 1
    w2 = w[None, :] if one_d else w
    if w2.ndim != 2 or w2.shape[1] != n:
        raise ValueError(f"weights have shape {w.shape}, expected ({n},) or (n_boot, {n})")
    return w2, one_d


# ---- the cluster bootstrap --------------------------------------------------------------------------------
# Neither scipy's nor scikit-learn's bootstrap resamples clusters, hence these. Two draws exist and both are
# kept because figures already published rest on each: the multinomial draw (one call, every resample as a
# row of draw counts; what the metric, fairness and noise intervals use) and the sequential draw (one
# ``integers`` call per resample, the clusters in draw order; what the image and privacy-audit intervals
# use, for statistics that need the resampled rows themselves). For one seed they give different resamples.


def _cluster_codes(clusters: np.ndarray) -> tuple[int, np.ndarray]:
    """Number of distinct clusters and each case's cluster index (sorted order of the ids)."""
    clusters = np.asarray(clusters)
    if clusters.ndim != 1 or len(clusters) == 0:
        raise ValueError("clusters must be a non-empty 1-D array with one id per case")
    uniq, inv = np.unique(clusters, return_inverse=True)
    return len(uniq), inv.ravel()


def cluster_draw_counts(clusters: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """How often each cluster is drawn in each of ``n_boot`` cluster-bootstrap resamples.

    Returns ``(counts, inverse)``: ``counts`` is (n_boot, n_clusters) int64, row b the multiplicities of the
    clusters (sorted ids) in resample b, drawn as one multinomial of n_clusters draws with equal
    probabilities, which is drawing n_clusters clusters with replacement; ``inverse`` maps each case to its
    cluster's column. A case's bootstrap weight is ``counts[:, inverse]``, so a patient's reports enter or
    leave a resample together. ``numpy.random.default_rng(seed)``; the same seed gives the same resamples.
    """
    n_clusters, inv = _cluster_codes(clusters)
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=n_boot), inv


def cluster_bootstrap_sums(per_case: np.ndarray, clusters: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Per-case quantities summed over each cluster-bootstrap resample of :func:`cluster_draw_counts`.

    ``per_case`` is (n_cases, ...) (counts, numerators, denominators); the result is (n_boot, ...). Summing
    per cluster first makes 1,000 resamples one matrix product; any ratio statistic sum(x)/sum(z) is then a
    ratio of two slices of the result.
    """
    counts, inv = cluster_draw_counts(clusters, n_boot, seed)
    flat = per_case.reshape(len(per_case), -1).astype(float)
    by_cluster = np.zeros((counts.shape[1], flat.shape[1]))
    np.add.at(by_cluster, inv, flat)
    return (counts.astype(float) @ by_cluster).reshape((n_boot, *per_case.shape[1:]))


def cluster_bootstrap_weights(clusters: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Case weights of the cluster bootstrap of :func:`cluster_draw_counts`: a (n_boot, n_cases) float32 matrix.

    Any ratio statistic sum(w*x)/sum(w*z) over all resamples is ``(W @ x) / (W @ z)``; AUROC and ECE take the
    matrix directly (:func:`weighted_auroc`, :func:`expected_calibration_error`). Memory: 4 * n_boot * n_cases
    bytes (1,000 resamples of 100,000 reports is 400 MB); lower ``n_boot`` or use
    :func:`cluster_bootstrap_sums` on per-case sums when that is too much.
    """
    counts, inv = cluster_draw_counts(clusters, n_boot, seed)
    return counts.astype(np.float32)[:, inv]


def cluster_resample_indices(clusters: np.ndarray, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Case positions of ``n_boot`` cluster-bootstrap resamples, for statistics that need the rows themselves.

    Each resample draws n_clusters cluster indices with ``rng.integers`` (one call per resample) and
    concatenates the drawn clusters' cases in draw order. This is the sequential draw: same distribution as
    :func:`cluster_draw_counts`, different random numbers for the same seed.
    """
    n_clusters, inv = _cluster_codes(clusters)
    # Each cluster's case positions in ascending order, found with one stable sort instead of a scan per cluster.
    members = np.split(np.argsort(inv, kind="stable"), np.cumsum(np.bincount(inv, minlength=n_clusters))[:-1])
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield np.concatenate([members[k] for k in rng.integers(0, n_clusters, n_clusters)])


def clustered_interval(stat, y: np.ndarray, score: np.ndarray, clusters: np.ndarray, n_boot: int = N_BOOT, seed: int = 0) -> list[float] | None:
    """95% percentile interval of ``stat(y, score)`` over the resamples of :func:`cluster_resample_indices`.

    Resamples where the statistic is undefined (NaN: e.g. one class only) are skipped; None when fewer
    than half of them were usable.

    For :func:`auroc_or_nan` the resamples become rows of case counts and one :func:`weighted_auroc` call
    scores them all (the same resamples and values to the last bit or two; scikit-learn's per-call input
    checks made 1,000 resamples take seconds per finding)."""
    if stat is auroc_or_nan:
        n = len(y)
        counts = np.stack([np.bincount(idx, minlength=n) for idx in cluster_resample_indices(clusters, n_boot, seed)])
        boot = weighted_auroc(np.asarray(score, dtype=float), np.asarray(y), counts)
        vals = list(boot[~np.isnan(boot)])
    else:
        vals = []
        for idx in cluster_resample_indices(clusters, n_boot, seed):
            v = stat(y[idx], score[idx])
            if not np.isnan(v):
                vals.append(v)
    if len(vals) < n_boot / 2:
        return None
    return [float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))]


def mean_with_ci(x: Sequence[float], seed: int = 0, n_boot: int = 2000) -> dict:
    """Mean with a 95% percentile bootstrap interval, each value its own cluster (e.g. paired differences
    over replicates); the resamples are those of :func:`cluster_resample_indices`."""
    a = np.asarray(x, dtype=float)
    boot = np.array([a[idx].mean() for idx in cluster_resample_indices(np.arange(len(a)), n_boot, seed)])
    return {"mean": float(a.mean()), "ci95": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))], "n": len(a)}


# ---- AUROC ----------------------------------------------------------------------------------------------


def auroc_or_nan(y: np.ndarray, score: np.ndarray) -> float:
    """AUROC (scikit-learn), NaN when ``y`` holds only one class (e.g. in a bootstrap resample)."""
    return float(roc_auc_score(y, score)) if 0 < (y == 1).sum() < len(y) else float("nan")


def weighted_auroc(scores: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUROC (ties count 1/2) under each row of a case-weight matrix.

    With bootstrap weights w, AUROC = sum_{i pos, j neg} w_i w_j [s_i > s_j or 1/2 if tied] / (W_pos W_neg),
    which equals scikit-learn's ``roc_auc_score(y, scores, sample_weight=w)``. The scores are sorted and
    tie-grouped once; per row only cumulative sums over the sorted cases are needed, so n_boot resamples
    cost O(n_boot * n) after one O(n log n) sort. ``weights`` is (n_boot, n) -> array of n_boot, or (n,) ->
    0-d array. Rows with no positive or no negative weight give NaN (AUROC is undefined there).
    """
    s = np.asarray(scores, dtype=float)
    if s.ndim != 1:
        raise ValueError("scores must be 1-D")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    n = len(s)
    pos = _binary_labels(y, n)
    w, one_d = _as_weight_matrix(weights, n)
    order = np.argsort(s, kind="stable")
    s_sorted, pos_sorted = s[order], pos[order]
    # Last sorted index of each run of tied scores.
    ends = np.flatnonzero(np.append(s_sorted[1:] != s_sorted[:-1], True))
    out = np.empty(w.shape[0])
    for rows in _row_chunks(w.shape[0], n):
        ws = w[rows][:, order].astype(float)
        wp = np.where(pos_sorted, ws, 0.0)
        wn = ws - wp
        cum_p = np.cumsum(wp, axis=1)[:, ends]
        cum_n = np.cumsum(wn, axis=1)[:, ends]
        grp_p = np.diff(cum_p, axis=1, prepend=0.0)
        grp_n = np.diff(cum_n, axis=1, prepend=0.0)
        below_n = cum_n - grp_n  # negative weight strictly below each tie group
        num = (grp_p * (below_n + 0.5 * grp_n)).sum(axis=1)
        den = cum_p[:, -1] * cum_n[:, -1]
        out[rows] = np.divide(num, den, out=np.full(len(num), np.nan), where=den > 0)
    return out.reshape(()) if one_d else out


def _placements(s: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong placement values by the midrank identities of Sun & Xu (2014).

    V10 of a positive = share of negatives it beats (ties 1/2) = (rank among all - rank among positives)/n;
    V01 of a negative = share of positives that beat it = 1 - (rank among all - rank among negatives)/m.
    Three ``rankdata`` calls replace the O(m*n) pairwise comparison.
    """
    x, z = s[pos], s[~pos]
    m, n = len(x), len(z)
    t_all = rankdata(s)
    v10 = (t_all[pos] - rankdata(x)) / n
    v01 = 1.0 - (t_all[~pos] - rankdata(z)) / m
    return v10, v01


def delong_auroc(scores: np.ndarray, y: np.ndarray, clusters: np.ndarray | None = None) -> tuple[float, float]:
    """AUROC and the variance of its estimate, without distributional assumptions.

    Without ``clusters``: DeLong et al. (1988), var = S10/m + S01/n with S10, S01 the sample variances
    (ddof=1) of the placement values of the m positives and n negatives. That treats cases as independent,
    which understates the variance when a patient contributes several correlated reports.

    With ``clusters`` (one patient id per case; a patient may hold positives, negatives or both):
    Obuchowski (1997). Placement values are summed within cluster and their between-cluster spread gives

        S10 = I10 / ((I10 - 1) M) * sum_i (V10_i - m_i A)^2        (I10 clusters with a positive)
        S01 = I01 / ((I01 - 1) N) * sum_i (V01_i - n_i A)^2        (I01 clusters with a negative)
        S11 = I / (I - 1) * sum_i (V10_i - m_i A)(V01_i - n_i A)   (I clusters in all)
        var = S10/M + S01/N + 2 S11/(M N).

    With one case per cluster I10 = M, I01 = N and every S11 term is zero, so this is *exactly* DeLong's
    variance (no small-sample factor differs). Variance is NaN when fewer than two positive (or negative)
    cases, or clusters, make it undefined.
    """
    s = np.asarray(scores, dtype=float)
    if s.ndim != 1 or not np.isfinite(s).all():
        raise ValueError("scores must be a finite 1-D array")
    pos = _binary_labels(y, len(s))
    m, n = int(pos.sum()), int((~pos).sum())
    if m == 0 or n == 0:
        raise ValueError("AUROC needs both positive and negative cases")
    v10, v01 = _placements(s, pos)
    auc = float(v10.mean())
    if clusters is None:
        if m < 2 or n < 2:
            return auc, float("nan")
        return auc, float(v10.var(ddof=1) / m + v01.var(ddof=1) / n)
    clusters = np.asarray(clusters)
    if clusters.shape != s.shape:
        raise ValueError(f"clusters have shape {clusters.shape}, expected {s.shape}")
    _, inv = np.unique(clusters, return_inverse=True)
    inv = inv.ravel()
    n_clusters = int(inv.max()) + 1
    m_i = np.bincount(inv[pos], minlength=n_clusters).astype(float)
    n_i = np.bincount(inv[~pos], minlength=n_clusters).astype(float)
    d10 = np.bincount(inv[pos], weights=v10, minlength=n_clusters) - m_i * auc
    d01 = np.bincount(inv[~pos], weights=v01, minlength=n_clusters) - n_i * auc
    i10, i01 = int((m_i > 0).sum()), int((n_i > 0).sum())
    if i10 < 2 or i01 < 2:
        return auc, float("nan")
    s10 = i10 / ((i10 - 1) * m) * float(d10 @ d10)
    s01 = i01 / ((i01 - 1) * n) * float(d01 @ d01)
    s11 = n_clusters / (n_clusters - 1) * float(d10 @ d01)
    return auc, float(s10 / m + s01 / n + 2 * s11 / (m * n))


def unpaired_delong_test(
    scores_a: np.ndarray,
    y_a: np.ndarray,
    scores_b: np.ndarray,
    y_b: np.ndarray,
    clusters_a: np.ndarray | None = None,
    clusters_b: np.ndarray | None = None,
) -> dict:
    """Two-sided z-test of AUROC(a) = AUROC(b) for two groups of *different* patients.

    Subgroups of a fairness audit (sex, age band, site) partition patients, so the two estimates are
    independent and var(a - b) = var(a) + var(b), with no covariance term (unlike the paired DeLong test
    of two models on the same cases). Each group's variance is DeLong's, or Obuchowski's when its clusters
    are given. If patients appear in both groups the independence assumption fails and this test is wrong.
    """
    auc_a, var_a = delong_auroc(scores_a, y_a, clusters_a)
    auc_b, var_b = delong_auroc(scores_b, y_b, clusters_b)
    diff = auc_a - auc_b
    se = float(np.sqrt(var_a + var_b)) if np.isfinite(var_a + var_b) else float("nan")
    if np.isfinite(se) and se > 0:
        z = diff / se
        p = float(2 * norm.sf(abs(z)))
    else:
        z = p = float("nan")
    kind = {
        (False, False): "DeLong variance in both groups (cases independent)",
        (True, True): "Obuchowski clustered variance in both groups",
        (True, False): "Obuchowski clustered variance in a, DeLong in b",
        (False, True): "DeLong in a, Obuchowski clustered variance in b",
    }[(clusters_a is not None, clusters_b is not None)]
    return {
        "auroc_a": auc_a,
        "auroc_b": auc_b,
        "difference": diff,
        "se": se,
        "z": z,
        "p_value": p,
        "method": f"unpaired two-sided z-test of AUROC difference, independent groups; {kind}",
    }


def bootstrap_difference_p_value(boot_diff: np.ndarray) -> float:
    """Two-sided bootstrap p-value for H0: difference = 0, by inverting the percentile interval.

    p = 2 * min(P*(d <= 0), P*(d >= 0)) is the smallest alpha at which the equal-tailed percentile interval
    excludes 0, so the test and the reported interval never disagree. Replicates equal to 0 count on both
    sides (a mass at 0 is no evidence either way), and each proportion is (count + 1) / (B + 1) so that a
    finite bootstrap never claims p = 0 (Davison & Hinkley 1997, ch. 4). NaN replicates (resamples where
    the statistic is undefined) are dropped; NaN if none remain.
    """
    d = np.asarray(boot_diff, dtype=float).ravel()
    d = d[~np.isnan(d)]
    b = len(d)
    if b == 0:
        return float("nan")
    low = (np.count_nonzero(d <= 0) + 1) / (b + 1)
    high = (np.count_nonzero(d >= 0) + 1) / (b + 1)
    return float(min(1.0, 2 * min(low, high)))


def adjust_p_values(p_values: Sequence[float], method: Literal["holm", "fdr_bh"] = "holm") -> np.ndarray:
    """Multiplicity-adjusted p-values across the comparisons of an audit (statsmodels ``multipletests``).

    Holm controls the family-wise error rate without assuming independence; Benjamini-Hochberg
    (``fdr_bh``) controls the false discovery rate, suited to screening many subgroups. NaN p-values
    (comparisons that could not be made) stay NaN and do not count towards the number of tests, otherwise
    an undefined comparison would make every other one harder to reject.
    """
    if method not in ("holm", "fdr_bh"):
        raise ValueError(f"unknown method {method!r}; use 'holm' or 'fdr_bh'")
    p = np.asarray(p_values, dtype=float).ravel()
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method=method)[1]
    return out


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, n_bins: int = 10) -> np.ndarray | float:
    """Expected calibration error with equal-width bins, optionally under bootstrap case weights.

    ECE = sum_b (W_b / W) |mean_w(y)_b - mean_w(p)_b| = sum_b |sum_{i in b} w_i (y_i - p_i)| / W: the
    second form needs only per-bin weighted sums, so all resamples of a (n_boot, n) weight matrix are one
    matrix product, and empty bins contribute 0 without a division. Bins split [0, 1] into ``n_bins``
    equal parts, right-open except the last, which holds p = 1. Returns a float for ``weights`` None or
    1-D, else an array of n_boot (NaN where a row has zero total weight).
    """
    p = np.asarray(probs, dtype=float)
    if p.ndim != 1:
        raise ValueError("probs must be 1-D")
    if not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
        raise ValueError("probs must lie in [0, 1]")
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    n = len(p)
    yv = _binary_labels(y, n).astype(float)
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    # (n, 2*n_bins): per-bin residual sum and per-bin weight, one matrix product for both.
    design = np.zeros((n, 2 * n_bins))
    design[np.arange(n), bins] = yv - p
    design[np.arange(n), n_bins + bins] = 1.0
    w, one_d = _as_weight_matrix(np.ones(n) if weights is None else weights, n)
    out = np.empty(w.shape[0])
    for rows in _row_chunks(w.shape[0], n):
        sums = w[rows].astype(float) @ design
        total = sums[:, n_bins:].sum(axis=1)
        gap = np.abs(sums[:, :n_bins]).sum(axis=1)
        out[rows] = np.divide(gap, total, out=np.full(len(gap), np.nan), where=total > 0)
    return float(out[0]) if one_d else out


def percentile_interval(samples: np.ndarray, level: float = 0.95, axis: int | None = 0) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Equal-tailed percentile interval of bootstrap replicates, ignoring NaN replicates.

    Resamples in which a statistic is undefined (a subgroup with no positives) are NaN; dropping them
    rather than propagating keeps the interval usable, and the caller should report how many were dropped.
    Returns floats when the result is a single interval, arrays otherwise; NaN where nothing is finite.
    """
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    x = np.asarray(samples, dtype=float)
    tail = 100 * (1 - level) / 2
    # nanpercentile warns on an all-NaN slice and returns NaN there, which is the documented answer.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanpercentile(x, [tail, 100 - tail], axis=axis)
    lo, hi = np.asarray(lo), np.asarray(hi)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


# ---- binomial proportions -------------------------------------------------------------------------------


def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact two-sided (1 - alpha) interval for a binomial proportion k / n (Clopper & Pearson 1934).

    Conservative: it covers at least 1 - alpha for every true proportion, which a privacy bound needs.
    (0, 1) when n is 0 (nothing observed)."""
    if n <= 0:
        return 0.0, 1.0
    lo = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


def wilson_interval(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson (1927) score interval for k / n (statsmodels ``proportion_confint``): close to nominal coverage
    and never outside [0, 1], unlike the Wald interval, when k is near 0 or n."""
    lo, hi = proportion_confint(k, n, alpha=alpha, method="wilson")
    return float(lo), float(hi)


def flag_precision_recall(flagged: np.ndarray, truth: np.ndarray) -> dict:
    """Precision, recall and F1 of boolean flags (e.g. label-issue flags) against boolean truth; a ratio
    with a zero denominator counts as 0."""
    tp = int((flagged & truth).sum())
    p = tp / max(int(flagged.sum()), 1)
    r = tp / max(int(truth.sum()), 1)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "n_flagged": int(flagged.sum()), "n_wrong": int(truth.sum())}


# ---- subgroups ------------------------------------------------------------------------------------------


def worst_group_auroc(
    probs: np.ndarray,
    targets: np.ndarray,
    mask: np.ndarray,
    groups: np.ndarray,
    min_cases: int = 30,
    min_positives: int = 5,
) -> tuple[float, str | None, dict[str, float]]:
    """The lowest per-group macro AUROC (over findings with ≥ ``min_positives`` positives and negatives
    in that group), among groups with ≥ ``min_cases`` cases. Returns (value, group, all groups).

    The worst-group criterion of group DRO model selection (Sagawa et al. 2020); too-small groups are
    skipped rather than judged on a noisy AUROC."""
    per_group: dict[str, float] = {}
    for g in np.unique(groups):
        rows = groups == g
        if rows.sum() < min_cases:
            continue
        aucs = []
        for j in range(targets.shape[1]):
            keep = rows & (mask[:, j] > 0)
            y = targets[keep, j]
            if y.sum() >= min_positives and (len(y) - y.sum()) >= min_positives:
                aucs.append(roc_auc_score(y, probs[keep, j]))
        if aucs:
            per_group[str(g)] = float(np.mean(aucs))
    if not per_group:
        return float("nan"), None, per_group
    worst = min(per_group, key=per_group.__getitem__)
    return per_group[worst], worst, per_group
