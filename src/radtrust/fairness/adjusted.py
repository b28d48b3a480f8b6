"""Covariate-adjusted error disparities: is a gap between groups more than case mix?

A raw gap in error rate between patient groups (women vs men, one race vs another) can come from case mix
rather than from the model treating the groups differently: one group may be older, scanned more often at
a harder site, or have more subtle findings. This module fits a logistic regression of a per-unit error
indicator (a missed finding, a false alarm) on group membership plus covariates the user names, and reports
the adjusted odds ratio next to the crude one, so an auditor can see how much of the gap the covariates
explain.

Two ways to respect that errors are not independent:

* ``cluster_robust`` (default): a logistic GLM whose standard errors are cluster-robust by patient, because
  the several cases (and the many case×finding cells) of one patient share anatomy, history and image
  quality; a naive standard error would treat them as independent and be too small.
* ``site_random_effect``: a logistic mixed model with a random intercept per site (statsmodels'
  ``BinomialBayesMixedGLM``), for when sites are many and error rates differ between them: it borrows
  strength across sites instead of spending one parameter per site.

Everything returned is aggregate (rates, odds ratios, counts); messages name columns, never rows, patients
or levels of a covariate. The sentence that describes each row is written by :mod:`radtrust.fairness.adjusted_prose`.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from radtrust.data.schema import TEXT_SECTIONS
from radtrust.errors import InputError
from radtrust.fairness.adjusted_prose import odds_ratio_sentence, raw_rate_sentence, short_outcome

METHOD_LABELS: dict[str, str] = {
    "cluster_robust": "logistic GLM, cluster-robust SE by patient",
    "site_random_effect": "logistic mixed model, site random intercept (variational Bayes)",
}
#: A level needs at least this many units with, and this many without, the error to get an odds ratio.
MIN_EVENTS = 5
#: Below this many clusters a cluster-robust standard error is itself too noisy to trust.
MIN_CLUSTERS = 30
#: Below this many sites a site variance (random effect) is barely estimable.
MIN_SITES = 5
#: A group log-odds ratio beyond this (an odds ratio above ~3 million) means the fit ran off to infinity.
_SEPARATION_LOGIT = 15.0
_Z95 = 1.959963984540054

_ROW_KEYS: tuple[str, ...] = (
    "level",
    "n",
    "n_errors",
    "raw_rate",
    "reference_rate",
    "crude_odds_ratio",
    "crude_ci_low",
    "crude_ci_high",
    "odds_ratio",
    "ci_low",
    "ci_high",
    "p_value",
    "sentence",
)


@dataclass
class AdjustedDisparity:
    """Adjusted vs crude odds ratios of an error, per group level against a reference level.

    ``rows`` holds one dict per non-reference level with ``level``, ``n``, ``n_errors``, ``raw_rate``,
    ``reference_rate``, ``crude_odds_ratio`` (with ``crude_ci_low``/``crude_ci_high``), ``odds_ratio``,
    ``ci_low``, ``ci_high``, ``p_value`` (None for the Bayesian method) and a plain-language ``sentence``.
    A level too small for a stable estimate keeps its counts and raw rate but has None for every estimate.
    ``n_cases`` and ``n_clusters`` count the units and clusters (patients, or sites for the random-effect
    method) that entered the adjusted model.
    """

    outcome: str
    group_column: str
    reference: str
    covariates: list[str]
    method: str
    n_cases: int
    n_clusters: int
    rows: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (floats, ints, strings, None)."""
        return asdict(self)

    def frame(self) -> pd.DataFrame:
        """One row per non-reference level, the columns of :attr:`rows` in a fixed order."""
        return pd.DataFrame(self.rows, columns=list(_ROW_KEYS))


# --------------------------------------------------------------------------------------------------------
# The long table
# --------------------------------------------------------------------------------------------------------


def per_finding_error_frame(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    findings: Sequence[str],
    cohort_frame: pd.DataFrame,
    kind: Literal["missed", "false_alarm", "any"] = "missed",
) -> pd.DataFrame:
    """The long table the adjusted regression runs on: one row per eligible (case, finding) cell.

    Why long format: a per-case error rate would mix findings of very different difficulty, and one model
    per finding would be underpowered for rare findings. Stacking the cells lets a single model estimate one
    group effect across all findings, with ``finding`` (or ``finding_prevalence``) as a covariate to absorb
    that some findings are harder, and with standard errors clustered by patient because the cells of one
    patient are not independent.

    ``y_true`` is (cases × findings) with 1 positive, 0 negative, -1 uncertain and NaN not mentioned (read
    as negative, as the label table defines it); ``y_pred`` holds 0/1 predictions of the same shape
    (threshold scores first). Eligible cells depend on ``kind``:

    * ``missed``: truth-positive cells; ``error`` = 1 when the model said 0 (a false negative);
    * ``false_alarm``: truth-negative cells (0 or NaN); ``error`` = 1 when the model said 1;
    * ``any``: every cell that is not uncertain; ``error`` = 1 when prediction and truth differ.

    Uncertain (-1) cells are never eligible. ``finding_prevalence`` is the share of positive cells for that
    finding over all supplied cases whose label is not uncertain. Every column of ``cohort_frame`` (rows
    aligned with ``y_true``) is repeated onto its cells, except the report-text sections: the table is for
    regression, and copying report text once per finding would only multiply memory and exposure.
    Rows come case by case, findings in the given order.
    """
    if kind not in ("missed", "false_alarm", "any"):
        raise InputError(f"per-finding errors: kind must be missed, false_alarm or any, not '{kind}'")
    if not isinstance(cohort_frame, pd.DataFrame) and isinstance(getattr(cohort_frame, "frame", None), pd.DataFrame):
        cohort_frame = cohort_frame.frame  # a Cohort
    findings = [str(f) for f in findings]
    if len(set(findings)) != len(findings):
        raise InputError("per-finding errors: finding names must be unique")
    try:
        yt = np.asarray(y_true, dtype=float)
        yp = np.asarray(y_pred, dtype=float)
    except (TypeError, ValueError):
        raise InputError("per-finding errors: y_true and y_pred must be numeric arrays") from None
    if yt.ndim == 1 and len(findings) == 1:
        yt = yt[:, None]
    if yp.ndim == 1 and len(findings) == 1:
        yp = yp[:, None]
    if yt.ndim != 2 or yt.shape[1] != len(findings):
        raise InputError(f"per-finding errors: y_true has shape {yt.shape}, expected (cases, {len(findings)} findings)")
    if yp.shape != yt.shape:
        raise InputError(f"per-finding errors: y_pred has shape {yp.shape}, y_true has {yt.shape}")
    if len(cohort_frame) != yt.shape[0]:
        raise InputError(f"per-finding errors: the cohort has {len(cohort_frame)} rows but y_true has {yt.shape[0]} cases")
    known = ~np.isnan(yt)
    if not np.isin(yt[known], (1.0, 0.0, -1.0)).all():
        raise InputError("per-finding errors: y_true must hold 1, 0, -1 (uncertain) or NaN (not mentioned)")
    if np.isnan(yp).any() or not np.isin(yp, (0.0, 1.0)).all():
        raise InputError("per-finding errors: y_pred must hold 0/1 predictions (apply a threshold to scores first)")
    for col in ("finding", "finding_prevalence", "error"):
        if col in cohort_frame.columns:
            raise InputError(f"per-finding errors: the cohort already has a column '{col}'; rename it first")

    pos = yt == 1.0
    unc = yt == -1.0
    neg = ~pos & ~unc  # 0 or NaN
    n_known = (~unc).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        prevalence = np.where(n_known > 0, pos.sum(axis=0) / np.maximum(n_known, 1), np.nan)
    said = yp == 1.0
    if kind == "missed":
        eligible, error = pos, ~said
    elif kind == "false_alarm":
        eligible, error = neg, said
    else:
        eligible, error = pos | neg, said != pos
    rows, cols = np.nonzero(eligible)  # row-major: case by case, findings in order

    keep = [c for c in cohort_frame.columns if c not in TEXT_SECTIONS]
    out = cohort_frame[keep].iloc[rows].reset_index(drop=True)
    out["finding"] = np.asarray(findings, dtype=object)[cols]
    out["finding_prevalence"] = prevalence[cols].astype(float)
    out["error"] = error[rows, cols].astype(np.int64)
    return out


# --------------------------------------------------------------------------------------------------------
# The regression
# --------------------------------------------------------------------------------------------------------


def adjusted_disparity(
    frame: pd.DataFrame,
    outcome: str,
    group: str,
    covariates: Sequence[str] = (),
    cluster: str = "patient_id",
    method: Literal["cluster_robust", "site_random_effect"] = "cluster_robust",
    site_column: str = "site",
    reference: str | None = None,
    outcome_label: str = "error",
    min_cell: int = 30,
) -> AdjustedDisparity:
    """Odds ratio of an error for each group level against a reference, crude and adjusted for covariates.

    ``frame`` has one row per scored unit (a case, or a case×finding cell from
    :func:`per_finding_error_frame`); ``outcome`` is a 0/1 column (1 = the error of interest). Covariates
    with a numeric dtype enter linearly in their own units (age per year), centred at their mean so the
    intercept is a typical unit; centring does not change any odds ratio. Other covariates (site, density,
    scanner, finding) enter as one dummy per level.

    ``cluster_robust`` fits a logistic GLM with cluster-robust (sandwich) standard errors by ``cluster``;
    the 95% CI and the Wald p-value come from that standard error. The crude odds ratio (group only, same
    rows, same kind of standard error) is reported beside it: the distance between the two is what the
    covariates explain.

    ``site_random_effect`` fits a logistic mixed model with a random intercept for ``site_column``. The
    point estimate is the variational-Bayes posterior mean (``fit_vb``). Mean-field variational Bayes can
    understate the posterior spread of fixed effects that are correlated with the random effects, so the
    95% credible interval, exp(mean ± 1.96 sd), uses the larger of the variational and the Laplace
    (``fit_map``) posterior standard deviations; a warning is added when the two fits disagree on the point
    estimate. Both fits use a fixed seed, so results are reproducible. There is no p-value. The crude odds
    ratio here uses standard errors clustered by ``cluster`` when that column is present and complete,
    model-based ones otherwise.

    Rows with a missing value in any column used are dropped (counted in ``warnings``): fill a group value
    such as ``unknown`` first if those patients should count. A level of ``group`` with fewer than
    ``min_cell`` units, or fewer than 5 with or without the error, keeps its raw rate but gets no odds
    ratio, and is left out of the model. The reference defaults to the largest level and must itself be
    large enough. A level of a categorical covariate in which every unit has the same outcome is dropped
    with a warning: its dummy would run off to infinity, and the limit of that fit is exactly the fit
    without those units. Constant covariates are dropped with a warning. If the group is still perfectly
    separated, or determined by the covariates, :class:`InputError` names the group column.
    """
    if method not in METHOD_LABELS:
        raise InputError(f"adjusted disparity: method must be cluster_robust or site_random_effect, not '{method}'")
    if not isinstance(frame, pd.DataFrame):
        raise InputError("adjusted disparity: expected a table (pandas DataFrame)")
    if min_cell < 1:
        raise InputError(f"adjusted disparity: min_cell must be at least 1, got {min_cell}")
    covariates = list(dict.fromkeys(str(c) for c in covariates))
    notes: list[str] = []
    random_site = method == "site_random_effect"
    if random_site and site_column in covariates:
        covariates.remove(site_column)
        notes.append(f"'{site_column}' is the random effect of this model, so it was not also entered as a fixed covariate")
    for name, col in (("outcome", outcome), ("group", group)):
        if col in covariates:
            raise InputError(f"adjusted disparity: the {name} column '{col}' cannot also be a covariate")
    if outcome == group:
        raise InputError(f"adjusted disparity: outcome and group are the same column '{group}'")
    needed = [outcome, group, *covariates, site_column if random_site else cluster]
    for col in needed:
        if col not in frame.columns:
            raise InputError(f"adjusted disparity: no column '{col}' (columns: {', '.join(map(str, frame.columns[:15]))})")

    # The random-effect model does not need the patient column, but its crude contrast uses it if it can.
    optional = [cluster] if random_site and cluster in frame.columns and cluster not in needed else []
    data = _complete_rows(frame, list(dict.fromkeys(needed)), notes, optional)
    y = _outcome_01(data[outcome], outcome)
    g = _levels(data[group])
    numeric = {c: _is_numeric(data[c]) for c in covariates}

    sizes = pd.Series(g).value_counts()
    if reference is None:
        reference = str(sorted(sizes.index, key=lambda lv: (-int(sizes[lv]), lv))[0])
    reference = str(reference)
    if reference not in sizes.index:
        raise InputError(f"adjusted disparity: reference level '{reference}' does not occur in column '{group}' after dropping missing values")
    if len(sizes) < 2:
        raise InputError(f"adjusted disparity: column '{group}' has a single level; nothing to compare")

    # Sparse group levels and uninformative covariate strata, until neither changes the rows.
    in_model = np.ones(len(data), dtype=bool)
    sparse: set[str] = set()
    strata_dropped: dict[str, tuple[int, int]] = {}
    for _ in range(20):
        changed = False
        for lv in sorted(set(g[in_model]) - {reference}):
            m = in_model & (g == lv)
            if not _enough(y[m], min_cell):
                sparse.add(lv)
                in_model &= g != lv
                changed = True
        ref_mask = in_model & (g == reference)
        if not _enough(y[ref_mask], min_cell):
            raise InputError(
                f"adjusted disparity: reference level '{reference}' of '{group}' has {int(ref_mask.sum())} units "
                f"and {int(y[ref_mask].sum())} with {outcome_label}: too few to compare against (need {min_cell} units "
                f"and {MIN_EVENTS} with and without); choose another reference"
            )
        for c in covariates:
            if numeric[c]:
                continue
            vals = data[c].astype(str).to_numpy(dtype=object)
            rates = pd.Series(y[in_model]).groupby(vals[in_model]).mean()
            flat = set(rates.index[(rates == 0) | (rates == 1)])
            if flat and len(flat) < len(rates):
                drop = in_model & np.isin(vals, list(flat))
                k_rows, k_levels = strata_dropped.get(c, (0, 0))
                strata_dropped[c] = (k_rows + int(drop.sum()), k_levels + len(flat))
                in_model &= ~drop
                changed = True
        if not changed:
            break
    for c, (k_rows, k_levels) in strata_dropped.items():
        notes.append(
            f"{k_rows} units in {k_levels} level(s) of '{c}' where every unit had the same outcome were left out of the model: such a stratum carries no information once '{c}' is adjusted for"
        )
    for lv in sorted(sparse):
        m = g == lv
        notes.append(
            f"'{group}' = {lv}: {int(m.sum())} units, {int(y[m].sum())} with {short_outcome(outcome_label)}: an odds ratio "
            f"needs {min_cell} units and {MIN_EVENTS} with and {MIN_EVENTS} without; reported as raw rate only"
        )

    used_covs: list[str] = []
    for c in covariates:
        if data[c][in_model].nunique() < 2:
            notes.append(f"covariate '{c}' is constant in the rows analysed and was dropped")
        else:
            used_covs.append(c)

    modelled = [lv for lv in sorted(set(g[in_model])) if lv != reference]
    rows: list[dict] = []
    n_cases = int(in_model.sum())
    unit_of_cluster = data[site_column if random_site else cluster]
    n_clusters = int(unit_of_cluster[in_model].nunique())
    if modelled:
        mdata = data.loc[in_model]
        levels = [reference, *modelled]
        design = pd.DataFrame({"y": y[in_model], "grp": pd.Categorical(g[in_model], categories=levels).codes})
        terms = ["C(grp, Treatment(reference=0))"]
        for i, c in enumerate(used_covs):
            name = f"x{i}"
            if numeric[c]:
                v = mdata[c].to_numpy(dtype=float)
                design[name] = v - v.mean()
                terms.append(name)
            else:
                design[name] = mdata[c].astype(str).to_numpy(dtype=object)
                terms.append(f"C({name})")
        crude_formula = "y ~ " + terms[0]
        formula = "y ~ " + " + ".join(terms)
        if random_site:
            design["site"] = mdata[site_column].astype(str).to_numpy(dtype=object)
            crude_groups = None
            if cluster in mdata.columns and mdata[cluster].notna().all():
                crude_groups = pd.factorize(mdata[cluster].astype(str))[0]
            adj: Mapping[str, tuple[float, float, float, float | None]] = _fit_random_site(design, formula, levels, group, used_covs, notes)
            if n_clusters < MIN_SITES:
                notes.append(f"only {n_clusters} sites: the site variance, and so the interval, is poorly determined")
        else:
            crude_groups = pd.factorize(mdata[cluster].astype(str))[0]
            if n_clusters < 2:
                raise InputError(f"adjusted disparity: column '{cluster}' has a single cluster; cluster-robust SE needs many")
            adj = _fit_glm(design, formula, levels, crude_groups, group, used_covs, notes, "adjusted model")
            if n_clusters < MIN_CLUSTERS:
                notes.append(f"only {n_clusters} clusters of '{cluster}': cluster-robust standard errors are unreliable with few clusters")
        crude = _fit_glm(design, crude_formula, levels, crude_groups, group, [], notes, "crude model")
        ref_rate = float(y[in_model & (g == reference)].mean())
        for lv in modelled:
            m = in_model & (g == lv)
            est, lo, hi, p = adj[lv]
            c_est, c_lo, c_hi, _ = crude[lv]
            row = _row(lv, int(m.sum()), int(y[m].sum()), float(y[m].mean()), ref_rate)
            row.update(
                crude_odds_ratio=c_est,
                crude_ci_low=c_lo,
                crude_ci_high=c_hi,
                odds_ratio=est,
                ci_low=lo,
                ci_high=hi,
                p_value=p,
            )
            row["sentence"] = odds_ratio_sentence(row, group, reference, used_covs, random_site, site_column, outcome_label)
            rows.append(row)
    ref_all = g == reference
    ref_rate_all = float(y[ref_all].mean())
    for lv in sorted(sparse):
        m = g == lv
        row = _row(lv, int(m.sum()), int(y[m].sum()), float(y[m].mean()), ref_rate_all)
        row["sentence"] = raw_rate_sentence(row, group, reference, ref_rate_all, outcome_label)
        rows.append(row)
    rows.sort(key=lambda r: r["level"])
    return AdjustedDisparity(
        outcome=outcome_label,
        group_column=group,
        reference=reference,
        covariates=used_covs,
        method=METHOD_LABELS[method],
        n_cases=n_cases,
        n_clusters=n_clusters,
        rows=rows,
        warnings=notes,
    )


# --------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------


def _complete_rows(frame: pd.DataFrame, columns: list[str], notes: list[str], optional: Sequence[str] = ()) -> pd.DataFrame:
    """The used columns (plus ``optional`` ones, whose gaps drop nothing), rows complete in the used ones."""
    data = frame[[*columns, *optional]].reset_index(drop=True)
    missing = data[columns].isna()
    bad = missing.any(axis=1).to_numpy()
    if bad.any():
        per_col = ", ".join(f"'{c}' {int(missing[c].sum())}" for c in columns if missing[c].any())
        notes.append(f"{int(bad.sum())} of {len(data)} rows dropped for a missing value ({per_col})")
        data = data.loc[~bad].reset_index(drop=True)
    if len(data) == 0:
        raise InputError(f"adjusted disparity: no rows left with all of {', '.join(repr(c) for c in columns)} present")
    return data


def _levels(col: pd.Series) -> np.ndarray:
    """Group values as strings; whole-number floats (a 0/1 column that held NaN) read as integers."""
    if _is_numeric(col):
        v = col.to_numpy(dtype=float)
        if np.all(v == np.round(v)):
            return np.array([str(int(x)) for x in v], dtype=object)
    return col.astype(str).to_numpy(dtype=object)


def _outcome_01(col: pd.Series, name: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype=float)
    vals = pd.to_numeric(col, errors="coerce")
    if vals.isna().any() or not vals.isin([0, 1]).all():
        raise InputError(f"adjusted disparity: outcome column '{name}' must hold only 0 and 1 (1 = the error)")
    return vals.to_numpy(dtype=float)


def _is_numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def _enough(y: np.ndarray, min_cell: int) -> bool:
    events = int(y.sum())
    return len(y) >= min_cell and events >= MIN_EVENTS and len(y) - events >= MIN_EVENTS


def _row(level: str, n: int, n_errors: int, raw_rate: float, reference_rate: float) -> dict:
    row: dict[str, Any] = dict.fromkeys(_ROW_KEYS)
    row.update(level=level, n=n, n_errors=n_errors, raw_rate=raw_rate, reference_rate=reference_rate)
    return row


def _group_terms(names: Sequence[str], levels: list[str]) -> dict[str, int]:
    """Position of each non-reference level's coefficient among the fixed-effect names."""
    out = {}
    for k, lv in enumerate(levels[1:], start=1):
        hits = [i for i, nm in enumerate(names) if nm.startswith("C(grp") and nm.endswith(f"[T.{k}]")]
        if len(hits) != 1:  # pragma: no cover - a formula-engine naming change
            raise RuntimeError(f"cannot find the coefficient of group level {k} among {list(names)}")
        out[lv] = hits[0]
    return out


def _check_rank(exog: np.ndarray, group_idx: Sequence[int], group: str, covs: list[str]) -> None:
    """A singular design would be fitted silently by a pseudo-inverse: refuse it with a reason."""
    if np.linalg.matrix_rank(exog) == exog.shape[1]:
        return
    rest = np.delete(exog, list(group_idx), axis=1)
    if np.linalg.matrix_rank(rest) < rest.shape[1]:
        raise InputError(f"adjusted disparity for '{group}': the covariates {', '.join(covs)} are collinear (one determines another); drop one of them")
    raise InputError(f"adjusted disparity for '{group}': the group is determined by the covariates {', '.join(covs)} (e.g. each level only at its own sites), so no adjusted comparison is possible")


def _quiet_fit(fit: Callable[[], Any], what: str, group: str, mixed: bool = False) -> tuple[Any, list[str]]:
    """Run a statsmodels fit; return its result and its convergence complaints (as report notes).

    Non-convergence is about this data, so the caller turns it into a note the user sees; perfect
    separation and singular matrices become :class:`InputError` naming the group column. The mixed-model
    optimisers probe extreme values during line searches, so overflow RuntimeWarnings from statsmodels and
    scipy are expected there and dropped; any other warning is passed on unchanged.
    """
    from statsmodels.tools.sm_exceptions import (
        ConvergenceWarning,
        HessianInversionWarning,
        PerfectSeparationError,
        PerfectSeparationWarning,
    )

    separation = f"adjusted disparity for '{group}': perfect separation in the {what} (a level or covariate combination has only errors or no errors); merge rare levels or drop a covariate"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fit()
        except PerfectSeparationError:
            raise InputError(separation) from None
        except np.linalg.LinAlgError:
            raise InputError(f"adjusted disparity for '{group}': the {what} is singular (group or covariates are redundant)") from None
    complaints: list[str] = []
    for w in caught:
        if issubclass(w.category, PerfectSeparationWarning):
            raise InputError(separation)
        if issubclass(w.category, (ConvergenceWarning, HessianInversionWarning)):
            detail = str(w.message).splitlines()[0][:80]
            msg = f"the {what} did not converge cleanly ({detail}); treat its estimates with caution"
            if msg not in complaints:
                complaints.append(msg)
            continue
        if mixed and issubclass(w.category, RuntimeWarning) and re.search(r"statsmodels|scipy", str(w.filename)):
            continue
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result, complaints


def _fit_glm(
    design: pd.DataFrame,
    formula: str,
    levels: list[str],
    groups: np.ndarray | None,
    group: str,
    covs: list[str],
    notes: list[str],
    what: str,
) -> dict[str, tuple[float, float, float, float]]:
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    model = smf.glm(formula, design, family=sm.families.Binomial())
    idx = _group_terms(model.exog_names, levels)
    _check_rank(model.exog, list(idx.values()), group, covs)
    if groups is None:
        res, complaints = _quiet_fit(lambda: model.fit(), what, group)
    else:
        res, complaints = _quiet_fit(lambda: model.fit(cov_type="cluster", cov_kwds={"groups": groups}), what, group)
    notes.extend(complaints)
    if not getattr(res, "converged", True) and not complaints:
        notes.append(f"the {what} did not converge; treat its estimates with caution")
    params = np.asarray(res.params, dtype=float)
    bse = np.asarray(res.bse, dtype=float)
    pvals = np.asarray(res.pvalues, dtype=float)
    out = {}
    for lv, i in idx.items():
        b, se = params[i], bse[i]
        if not (np.isfinite(b) and np.isfinite(se)) or abs(b) > _SEPARATION_LOGIT:
            raise InputError(f"adjusted disparity for '{group}': the {what} ran off to infinity for a level of the group (near-perfect separation); merge rare levels or drop a covariate")
        out[lv] = (math.exp(b), math.exp(b - _Z95 * se), math.exp(b + _Z95 * se), float(pvals[i]))
    return out


def _fit_random_site(
    design: pd.DataFrame,
    formula: str,
    levels: list[str],
    group: str,
    covs: list[str],
    notes: list[str],
) -> dict[str, tuple[float, float, float, None]]:
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

    model = BinomialBayesMixedGLM.from_formula(formula, {"site": "0 + C(site)"}, design)
    idx = _group_terms(model.fep_names, levels)
    _check_rank(np.asarray(model.exog, dtype=float), list(idx.values()), group, covs)
    # Fixed seeds: both optimisers draw random starting values, and an audit must be reproducible. The
    # variational fit is run on standardised fixed effects (back-transformed by statsmodels), which it
    # needs to converge reliably; the Laplace fit is not, because statsmodels does not back-transform its
    # covariance when it standardises.
    vb, vb_issues = _quiet_fit(lambda: model.fit_vb(scale_fe=True, rng=0), "mixed model (variational Bayes)", group, mixed=True)
    notes.extend(vb_issues)
    laplace, laplace_issues = _quiet_fit(lambda: model.fit_map(rng=0, minim_opts={"gtol": 1e-4}), "mixed model (Laplace)", group, mixed=True)
    if laplace_issues:
        notes.append("the Laplace check of the mixed model did not converge, so the credible intervals are the variational ones alone, which can be slightly too narrow")
    out = {}
    disagree = False
    for lv, i in idx.items():
        b = float(vb.fe_mean[i])
        sd = float(vb.fe_sd[i])
        if not laplace_issues:
            sd = max(sd, float(laplace.fe_sd[i]))
            disagree |= abs(b - float(laplace.fe_mean[i])) > 0.5 * sd
        if not (np.isfinite(b) and np.isfinite(sd)) or abs(b) > _SEPARATION_LOGIT:
            raise InputError(f"adjusted disparity for '{group}': the mixed model ran off to infinity for a level of the group (near-perfect separation); merge rare levels or drop a covariate")
        out[lv] = (math.exp(b), math.exp(b - _Z95 * sd), math.exp(b + _Z95 * sd), None)
    if disagree:
        notes.append(
            "the variational and Laplace fits of the mixed model disagree on a group effect by more than half a "
            "standard deviation; the posterior is poorly approximated, treat the interval with caution"
        )
    return out
