"""Adjusted disparities: confounding removed, true effects kept, clustering respected, bad input refused."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from radtrust.errors import InputError
from radtrust.fairness.adjusted import AdjustedDisparity, adjusted_disparity, per_finding_error_frame


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _simulate(
    seed: int,
    n_patients: int = 2000,
    cases_per_patient: int = 2,
    site_logit: tuple[float, ...] = (-2.5, -0.5),
    p_female: tuple[float, ...] = (0.3, 0.7),
    log_or_female: float = 0.0,
    patient_sd: float = 1.0,
) -> pd.DataFrame:
    """Patients at one site each, sex at patient level, errors sharing a patient effect."""
    rng = np.random.default_rng(seed)
    n_sites = len(site_logit)
    site = rng.integers(0, n_sites, n_patients)
    female = rng.random(n_patients) < np.asarray(p_female)[site]
    u = rng.normal(0.0, patient_sd, n_patients) if patient_sd > 0 else np.zeros(n_patients)
    age = rng.normal(60.0, 12.0, n_patients)
    pid = np.repeat(np.arange(n_patients), cases_per_patient)
    lp = np.asarray(site_logit)[site[pid]] + log_or_female * female[pid] + u[pid] + 0.01 * (age[pid] - 60.0)
    err = (rng.random(len(pid)) < _expit(lp)).astype(int)
    return pd.DataFrame(
        {
            "case_id": [f"c{i}" for i in range(len(pid))],
            "patient_id": [f"p{p}" for p in pid],
            "site": np.array([chr(ord("A") + s) for s in range(n_sites)])[site[pid]],
            "age": age[pid],
            "sex": np.where(female[pid], "F", "M"),
            "missed": err,
        }
    )


def _row(res: AdjustedDisparity, level: str) -> dict:
    return next(r for r in res.rows if r["level"] == level)


@pytest.fixture(scope="module")
def confounded() -> pd.DataFrame:
    # Site B misses far more, and women are over-represented there; sex itself has no effect.
    return _simulate(seed=11)


def test_confounding_by_site_is_removed(confounded):
    res = adjusted_disparity(confounded, "missed", "sex", reference="M", covariates=["age", "site"], outcome_label="missed finding")
    f = _row(res, "F")
    assert res.reference == "M"
    assert res.n_cases == 4000 and res.n_clusters == 2000
    assert res.method == "logistic GLM, cluster-robust SE by patient"
    # Crude: a clear, spurious excess.
    assert f["crude_odds_ratio"] > 1.3 and f["crude_ci_low"] > 1.0
    # Adjusted for site: near 1, CI includes 1.
    assert f["ci_low"] < 1.0 < f["ci_high"]
    assert 0.8 < f["odds_ratio"] < 1.25
    assert "no clear difference after adjustment" in f["sentence"]
    assert "After adjusting for age and site" in f["sentence"]
    assert f"unadjusted: {f['crude_odds_ratio']:.2f}" in f["sentence"]
    # The crude OR is the odds ratio of the raw rates.
    raw = (f["raw_rate"] / (1 - f["raw_rate"])) / (f["reference_rate"] / (1 - f["reference_rate"]))
    assert f["crude_odds_ratio"] == pytest.approx(raw, rel=1e-6)
    # Nothing identifying in the output.
    text = repr(res.to_dict())
    assert "p1" not in text and "c1" not in text
    assert list(res.frame().columns[:2]) == ["level", "n"]


def test_true_effect_is_recovered():
    df = _simulate(seed=7, log_or_female=0.7, patient_sd=0.0)
    res = adjusted_disparity(df, "missed", "sex", reference="M", covariates=["site"], outcome_label="missed finding")
    f = _row(res, "F")
    assert f["ci_low"] < math.exp(0.7) < f["ci_high"]
    assert f["ci_low"] > 1.0
    assert f["p_value"] < 0.001
    assert "no clear difference" not in f["sentence"]
    assert "times the odds of a missed finding of cases with sex = M (95% CI" in f["sentence"]
    # Confounding on top of the effect inflates the crude OR beyond the adjusted one.
    assert f["crude_odds_ratio"] > f["odds_ratio"]


def test_cluster_robust_se_exceeds_naive_when_errors_cluster_by_patient():
    def se_ratio(patient_sd: float) -> float:
        df = _simulate(seed=3, n_patients=600, cases_per_patient=5, log_or_female=0.3, patient_sd=patient_sd)
        res = adjusted_disparity(df, "missed", "sex", reference="M", covariates=["site"])
        f = _row(res, "F")
        robust_se = (math.log(f["ci_high"]) - math.log(f["ci_low"])) / (2 * 1.959963984540054)
        naive = smf.glm("missed ~ C(sex, Treatment('M')) + C(site)", df, family=sm.families.Binomial()).fit()
        naive_se = float(naive.bse["C(sex, Treatment('M'))[T.F]"])
        assert math.log(f["odds_ratio"]) == pytest.approx(float(naive.params["C(sex, Treatment('M'))[T.F]"]), abs=1e-6)
        return robust_se / naive_se

    assert se_ratio(2.5) > 1.3  # strongly clustered: the naive SE is far too small
    assert 0.85 < se_ratio(0.0) < 1.15  # independent errors: the two agree


def test_site_random_effect_recovers_effect_across_six_sites():
    site_logit = (-2.6, -2.0, -1.6, -1.2, -0.8, -0.3)
    p_female = (0.3, 0.35, 0.45, 0.55, 0.65, 0.7)
    df = _simulate(seed=3, site_logit=site_logit, p_female=p_female, log_or_female=0.7, patient_sd=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # expected statsmodels warnings are handled inside
        res = adjusted_disparity(
            df,
            "missed",
            "sex",
            reference="M",
            covariates=["age", "site"],
            method="site_random_effect",
            outcome_label="missed finding",
        )
    f = _row(res, "F")
    assert res.method == "logistic mixed model, site random intercept (variational Bayes)"
    assert res.n_clusters == 6
    assert res.covariates == ["age"]
    assert any("random effect" in w for w in res.warnings)
    assert f["p_value"] is None
    assert f["ci_low"] < math.exp(0.7) < f["ci_high"]
    assert f["ci_low"] > 1.0
    assert "95% credible interval" in f["sentence"] and "p =" not in f["sentence"]
    assert "site as a random effect" in f["sentence"]
    # The crude contrast still uses patient-clustered standard errors.
    crude = _row(adjusted_disparity(df, "missed", "sex", reference="M"), "F")
    assert f["crude_odds_ratio"] == pytest.approx(crude["odds_ratio"], rel=1e-9)
    assert f["crude_ci_low"] == pytest.approx(crude["ci_low"], rel=1e-9)


def test_missing_values_constant_and_sparse_levels_are_reported(confounded):
    df = confounded.copy()
    df.loc[:9, "age"] = np.nan
    df["scanner"] = "S1"
    df.loc[df.index[:12], "sex"] = "X"  # a level far below min_cell
    res = adjusted_disparity(df, "missed", "sex", reference="M", covariates=["age", "site", "scanner"])
    assert any("10 of 4000 rows dropped" in w and "'age' 10" in w for w in res.warnings)
    assert any("'scanner' is constant" in w for w in res.warnings)
    assert res.covariates == ["age", "site"]
    x = _row(res, "X")
    assert x["odds_ratio"] is None and x["crude_odds_ratio"] is None and x["n"] == 2
    assert any("'sex' = X" in w for w in res.warnings)
    assert _row(res, "F")["odds_ratio"] is not None


def test_uninformative_covariate_stratum_is_dropped_not_fatal(confounded):
    df = confounded.copy()
    extra = df.sample(200, random_state=0).assign(site="C", missed=0)
    extra["case_id"] = [f"e{i}" for i in range(len(extra))]
    both = pd.concat([df, extra], ignore_index=True)
    res = adjusted_disparity(both, "missed", "sex", reference="M", covariates=["site"])
    assert any("200 units in 1 level(s) of 'site'" in w for w in res.warnings)
    base = adjusted_disparity(df, "missed", "sex", reference="M", covariates=["site"])
    assert _row(res, "F")["odds_ratio"] == pytest.approx(_row(base, "F")["odds_ratio"], rel=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "column"),
    [
        ({"covariates": ["scanner"]}, "scanner"),
        ({"group": "race"}, "race"),
        ({"cluster": "mrn"}, "mrn"),
        ({"outcome": "missd"}, "missd"),
    ],
)
def test_missing_column_is_named(confounded, kwargs, column):
    args = {"frame": confounded, "outcome": "missed", "group": "sex", **kwargs}
    with pytest.raises(InputError, match=f"no column '{column}'"):
        adjusted_disparity(**args)


def test_outcome_must_be_binary(confounded):
    df = confounded.assign(missed=confounded["missed"] * 2)
    with pytest.raises(InputError, match="outcome column 'missed' must hold only 0 and 1"):
        adjusted_disparity(df, "missed", "sex", reference="M")


def test_group_determined_by_covariate_is_refused(confounded):
    df = confounded.assign(site=np.where(confounded["sex"] == "F", "B", "A"))
    with pytest.raises(InputError, match="'sex'"):
        adjusted_disparity(df, "missed", "sex", reference="M", covariates=["site"])


def test_unknown_reference_is_refused(confounded):
    with pytest.raises(InputError, match="reference level 'W'"):
        adjusted_disparity(confounded, "missed", "sex", reference="W")


def test_per_finding_error_frame_by_hand():
    cohort = pd.DataFrame(
        {
            "case_id": ["a", "b", "c"],
            "patient_id": ["p1", "p1", "p2"],
            "site": ["S", "S", "T"],
            "age": [50.0, 51.0, 70.0],
            "findings": ["secret text", "more text", "x"],
        }
    )
    y_true = np.array([[1, 0], [-1, 1], [np.nan, 1]], dtype=float)
    y_pred = np.array([[0, 1], [1, 1], [1, 0]], dtype=float)

    missed = per_finding_error_frame(y_true, y_pred, ["Edema", "Effusion"], cohort, kind="missed")
    assert missed[["case_id", "finding", "error"]].values.tolist() == [
        ["a", "Edema", 1],
        ["b", "Effusion", 0],
        ["c", "Effusion", 1],
    ]
    # Edema: 1 positive among 2 non-uncertain cells (a, c); Effusion: 2 of 3.
    assert missed["finding_prevalence"].tolist() == pytest.approx([0.5, 2 / 3, 2 / 3])
    assert "findings" not in missed.columns  # report text is not copied onto cells
    assert {"patient_id", "site", "age"} <= set(missed.columns)

    alarms = per_finding_error_frame(y_true, y_pred, ["Edema", "Effusion"], cohort, kind="false_alarm")
    assert alarms[["case_id", "finding", "error"]].values.tolist() == [["a", "Effusion", 1], ["c", "Edema", 1]]

    anyerr = per_finding_error_frame(y_true, y_pred, ["Edema", "Effusion"], cohort, kind="any")
    assert anyerr[["case_id", "finding", "error"]].values.tolist() == [
        ["a", "Edema", 1],
        ["a", "Effusion", 1],
        ["b", "Effusion", 0],
        ["c", "Edema", 1],
        ["c", "Effusion", 1],
    ]

    with pytest.raises(InputError, match="y_pred must hold 0/1"):
        per_finding_error_frame(y_true, y_pred * 0.5, ["Edema", "Effusion"], cohort)
    with pytest.raises(InputError, match="3 rows"):
        per_finding_error_frame(y_true[:2], y_pred[:2], ["Edema", "Effusion"], cohort)


def test_long_frame_feeds_the_regression():
    rng = np.random.default_rng(4)
    n = 1500
    cohort = pd.DataFrame(
        {
            "case_id": [f"c{i}" for i in range(n)],
            "patient_id": [f"p{i // 3}" for i in range(n)],
            "sex": np.where(rng.random(n) < 0.5, "F", "M"),
        }
    )
    y_true = (rng.random((n, 3)) < np.array([0.2, 0.4, 0.6])).astype(float)
    miss_p = np.array([0.1, 0.3, 0.5])  # findings differ in difficulty; sex does not matter
    y_pred = np.where(y_true == 1, rng.random((n, 3)) >= miss_p, rng.random((n, 3)) < 0.05).astype(float)
    long = per_finding_error_frame(y_true, y_pred, ["A", "B", "C"], cohort)
    res = adjusted_disparity(long, "error", "sex", covariates=["finding"], reference="M")
    f = _row(res, "F")
    assert res.n_cases == int(y_true.sum())
    assert res.n_clusters == cohort.loc[y_true.any(axis=1), "patient_id"].nunique()
    assert f["ci_low"] < 1.0 < f["ci_high"]
