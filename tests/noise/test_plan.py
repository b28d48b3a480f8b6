"""Annotation plan: random slice, per-group quotas, benefit ranking, and an annotator-only queue."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radtrust.errors import ConfigError
from radtrust.noise.plan import PlanConfig, case_benefit, finding_weights, plan_annotation, queue_frame
from radtrust.synth.chest import ChestSynthConfig, synth_chest


@pytest.fixture(scope="module")
def cohort_and_wrong():
    cohort, truth = synth_chest(ChestSynthConfig(n=600, seed=4))
    rng = np.random.default_rng(0)
    k = len(truth.findings)
    p = rng.beta(0.3, 12, size=(len(cohort), k))
    # Doubt concentrated at site_B, as when one site's wording fools the labeler.
    site_b = cohort.frame["site"].eq("site_B").to_numpy()
    p[site_b] = np.clip(p[site_b] * 6, 0, 0.99)
    return cohort, truth, p


def test_benefit_scores():
    w = np.array([[0.9, 0.0], [0.5, 0.5], [0.2, 0.0], [0.0, 0.0]])
    alc = case_benefit(w, "active_label_cleaning")
    assert alc[0] > alc[3] > alc[2]  # a confident error beats nothing; an ambiguous label costs a little
    assert abs(alc[1]) < 1e-6  # a coin flip teaches nothing
    assert np.allclose(case_benefit(w, "expected_errors"), w.sum(1))
    assert np.allclose(finding_weights(np.array([0.1, 0.3]), "prevalence"), [0.5, 1.5])
    with pytest.raises(ConfigError):
        case_benefit(w, "loudest")


def test_plan_budget_random_slice_quotas_and_ranking(cohort_and_wrong):
    cohort, truth, p = cohort_and_wrong
    cfg = PlanConfig(budget=80, groups=["site", "sex"], min_per_group=8, seed=3, score="active_label_cleaning", finding_weights="prevalence")
    plan = plan_annotation(cohort, p, cfg, truth.findings, prevalence=np.full(p.shape[1], 0.1))
    c = plan.cases
    assert len(c) == 80 and c["case_id"].is_unique
    assert (c["selection"] == "random_slice").sum() == 8
    assert np.allclose(c.loc[c["selection"] == "random_slice", "inclusion_probability"], 8 / len(cohort))
    site = cohort.frame.set_index("case_id").loc[c["case_id"], "site"].to_numpy()
    for s in np.unique(cohort.frame["site"]):
        assert (site == s).sum() >= 8, s  # every site is checked
    assert (site == "site_B").sum() > 30  # but the doubt decides where most of the budget goes
    # The highest-benefit cases are all in, except as many as the quotas displaced.
    benefit = case_benefit(p, "active_label_cleaning", finding_weights(np.full(p.shape[1], 0.1), "prevalence"))
    n_sure = int((c["selection"] == "score").sum() - (c["selection"] == "group_quota").sum())
    top = set(np.asarray(cohort.case_ids)[np.argsort(-benefit)[:n_sure]])
    assert top <= set(c["case_id"])
    assert plan.summary["expected_wrong_labels_in_queue"] > 2 * plan.summary["expected_wrong_labels_if_random"]
    for attr, groups in plan.quotas.items():
        for g, q in groups.items():
            assert q["selected"] >= min(q["quota"], q["n_cases"]), (attr, g, q)


def test_quota_cases_are_only_those_a_quota_needed(cohort_and_wrong):
    cohort, truth, p = cohort_and_wrong
    plan = plan_annotation(cohort, p, PlanConfig(budget=60, groups=["site"], min_per_group=5, random_share=0.0, finding_weights="equal"), truth.findings)
    quota = plan.cases[plan.cases["selection"] == "group_quota"]
    site = cohort.frame.set_index("case_id")["site"]
    # Without quotas, site_B takes nearly everything; each quota case belongs to a site that would be short.
    counts = site.loc[plan.cases["case_id"]].value_counts()
    assert all(counts.get(s, 0) >= 5 for s in site.unique())
    assert len(quota) and not site.loc[quota["case_id"]].eq("site_B").any()


def test_plan_is_deterministic_and_checks_budget(cohort_and_wrong):
    cohort, truth, p = cohort_and_wrong
    cfg = PlanConfig(budget=50, finding_weights="equal")
    a = plan_annotation(cohort, p, cfg, truth.findings)
    b = plan_annotation(cohort, p, cfg, truth.findings)
    pd.testing.assert_frame_equal(a.cases, b.cases)
    with pytest.raises(ConfigError, match="larger than the cohort"):
        plan_annotation(cohort, p, PlanConfig(budget=10_000, finding_weights="equal"), truth.findings)
    with pytest.raises(ConfigError, match="prevalence"):
        plan_annotation(cohort, p, PlanConfig(budget=5, finding_weights="prevalence"), truth.findings)


def test_queue_holds_what_an_annotator_needs_and_nothing_more(cohort_and_wrong):
    cohort, truth, p = cohort_and_wrong
    plan = plan_annotation(cohort, p, PlanConfig(budget=20, finding_weights="equal"), truth.findings)
    q = queue_frame(plan, cohort, truth, truth.findings)
    assert list(q.columns) == ["case_id", "report", "findings_in_doubt", *truth.findings, "annotator_id", "reviewed_at"]
    assert q["report"].str.len().min() > 0
    for col in ("patient_id", "site", "sex", "race", "age", "selection", "benefit"):
        assert col not in q.columns
    doubt = q["findings_in_doubt"].str.split(";").explode().dropna()
    assert set(doubt[doubt != ""]) <= set(truth.findings)


def test_plan_without_demographics(toy_cohort):
    cohort, labels = toy_cohort
    p = np.full((len(cohort), len(labels.findings)), 0.01)
    p[:5, 0] = 0.9
    plan = plan_annotation(cohort, p, PlanConfig(budget=10, random_share=0.0), labels.findings)
    assert set(cohort.case_ids[:5]) <= set(plan.cases["case_id"])
    assert plan.summary["groups_without_quota"] == ["sex", "age_band", "race"]
