"""Label audit: cross-fitting by patient, the noise posterior, cleanlab flags and the noise summary."""

from __future__ import annotations

import numpy as np
import pytest

from radtrust.errors import InputError
from radtrust.noise.audit import LabelAuditConfig, audit_labels, binary_labels, noise_posterior
from radtrust.noise.crossfit import CrossFitConfig, out_of_sample_probabilities, patient_folds
from radtrust.noise.files import INTERNAL_KEY, INTERNAL_MARKER, read_label_audit
from radtrust.noise.simulate import flip_labels
from radtrust.synth.chest import ChestSynthConfig, synth_chest


@pytest.fixture(scope="module")
def noisy_cohort():
    cohort, truth = synth_chest(ChestSynthConfig(n=900, seed=11))
    noisy, flipped = flip_labels(truth, cohort, rate=0.15, group=("site", "site_B"), group_rate=0.45, seed=1)
    return cohort, truth, noisy, flipped


@pytest.fixture(scope="module")
def audit(noisy_cohort):
    cohort, _, noisy, _ = noisy_cohort
    return audit_labels(cohort, noisy, config=LabelAuditConfig(n_boot=200))


def test_flip_labels_rates_group_and_no_finding_consistency(noisy_cohort):
    cohort, truth, noisy, flipped = noisy_cohort
    site_b = cohort.frame["site"].eq("site_B").to_numpy()
    case_noisy = flipped.any(1)
    assert 0.08 < case_noisy[~site_b].mean() < 0.22
    assert case_noisy[site_b].mean() > case_noisy[~site_b].mean() + 0.15
    v = np.where(noisy.values() == 1, 1, 0)
    nf = noisy.findings.index("No Finding")
    pathology = [j for j, f in enumerate(noisy.findings) if f not in ("No Finding", "Support Devices")]
    assert (v[:, nf] == (v[:, pathology].sum(1) == 0)).all()
    t = np.where(truth.aligned_to(cohort.case_ids).values() == 1, 1, 0)
    assert ((v != t) == flipped).all()


def test_patient_folds_never_split_a_patient(noisy_cohort):
    cohort = noisy_cohort[0]
    pats = cohort.patient_ids
    for train, held in patient_folds(pats, 5, 0):
        assert not set(pats[train]) & set(pats[held])
    with pytest.raises(InputError, match="at least 5 patients"):
        patient_folds(np.array(["a", "a", "b"]), 5, 0)


def test_out_of_sample_probabilities_are_out_of_sample(toy_cohort):
    # Labels that no text can predict: cross-fitted probabilities must not reproduce them (in-sample ones would).
    cohort, labels = toy_cohort
    rng = np.random.default_rng(0)
    y = (rng.random((len(cohort), 1)) < 0.5).astype(float)
    p = out_of_sample_probabilities(cohort, y, np.ones_like(y), CrossFitConfig(n_folds=4))
    from sklearn.metrics import roc_auc_score

    assert abs(roc_auc_score(y[:, 0], p[:, 0]) - 0.5) < 0.12


def test_encoder_features_with_tiny_model(toy_cohort):
    cohort, labels = toy_cohort
    given, audited = binary_labels(labels)
    p = out_of_sample_probabilities(cohort, given.astype(float), audited.astype(float), CrossFitConfig(model="tfidf+encoder", encoder="tiny", max_length=32, n_folds=3))
    assert p.shape == given.shape and np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()


def test_audit_finds_flipped_labels_better_than_chance(noisy_cohort, audit):
    _, _, _, flipped = noisy_cohort
    flagged = audit.likely_wrong
    precision = (flagged & flipped).sum() / flagged.sum()
    recall = (flagged & flipped).sum() / flipped.sum()
    assert precision > 0.6 and recall > 0.5, (precision, recall)
    # The probability is informative: flipped cells score far higher than the rest.
    pw = np.nan_to_num(audit.p_label_wrong)
    assert pw[flipped].mean() > 10 * pw[~flipped].mean()
    # cleanlab's own verdicts are reported beside ours.
    assert audit.cleanlab_issue.sum() > 0 and (audit.cleanlab_issue & flipped).sum() / audit.cleanlab_issue.sum() > 0.5


def test_summary_estimates_noise_per_site_with_intervals(noisy_cohort, audit):
    cohort, _, _, flipped = noisy_cohort
    s = audit.summary
    assert s[INTERNAL_KEY] == INTERNAL_MARKER and "no privacy budget" in s["privacy"]
    sites = {r["group"]: r for r in s["by_group"]["site"]}
    site = cohort.frame["site"].to_numpy()
    for name, row in sites.items():
        true_share = flipped[site == name].any(1).mean()
        lo, hi = row["share_cases_with_wrong_label_ci95"]
        assert lo <= row["share_cases_with_wrong_label"] <= hi
        assert abs(row["share_cases_with_wrong_label"] - true_share) < 0.1, (name, row["share_cases_with_wrong_label"], true_share)
    assert sites["site_B"]["share_cases_with_wrong_label"] > max(r["share_cases_with_wrong_label"] for g, r in sites.items() if g != "site_B")
    assert {"sex", "age_band", "race"} <= set(s["by_group"])
    by_f = {r["finding"]: r for r in s["by_finding"]}
    assert set(by_f) == set(audit.findings)
    eff = by_f["Pleural Effusion"]
    assert 0 <= eff["missed_finding_rate"] <= 1 and eff["wrong_label_rate_ci95"][0] <= eff["wrong_label_rate"] <= eff["wrong_label_rate_ci95"][1]


def test_small_groups_are_not_judged(noisy_cohort):
    cohort, _, noisy, _ = noisy_cohort
    a = audit_labels(cohort, noisy, config=LabelAuditConfig(n_boot=0, groups=["race"], min_group_size=10_000))
    assert all("too small" in r["note"] and "wrong_label_rate" not in r for r in a.summary["by_group"]["race"])


def test_posterior_inverts_a_known_noise_model():
    # Class-conditional noise with P(label 1 | present) = 0.8, P(label 1 | absent) = 0.05 and perfectly
    # separating scores: a label 0 on a clearly present case is wrong with probability 1.
    rng = np.random.default_rng(0)
    n = 4000
    truth = (rng.random(n) < 0.3).astype(int)
    flip_to_0 = (truth == 1) & (rng.random(n) < 0.2)
    flip_to_1 = (truth == 0) & (rng.random(n) < 0.05)
    given = np.where(flip_to_0, 0, np.where(flip_to_1, 1, truth))
    score = np.clip(truth * 0.9 + rng.normal(0, 0.02, n) + 0.05, 0, 1)
    pw, rates = noise_posterior(given[:, None], score[:, None], np.ones((n, 1), bool))
    a, b = rates["pooled"][0]
    assert abs(a - 0.8) < 0.03 and abs(b - 0.05) < 0.02
    wrong = flip_to_0 | flip_to_1
    assert np.median(pw[wrong, 0]) > 0.9 and pw[~wrong, 0].mean() < 0.02
    assert abs(pw[:, 0].sum() - wrong.sum()) < 0.15 * wrong.sum()  # calibrated: expected count ≈ actual


def test_constant_finding_has_no_noise_model(toy_cohort):
    cohort, labels = toy_cohort
    frame = labels.frame.copy()
    frame["Edema"] = 0
    from radtrust.data.schema import LabelTable

    a = audit_labels(cohort, LabelTable(frame, labels.findings, "x"), config=LabelAuditConfig(strata=None, groups=[], n_boot=0))
    j = a.findings.index("Edema")
    assert np.isnan(a.p_label_wrong[:, j]).all()
    row = next(r for r in a.summary["by_finding"] if r["finding"] == "Edema")
    assert "no noise model" in row["note"]
    assert "Edema" not in set(a.cells()["finding"])


def test_user_probabilities_are_checked(noisy_cohort):
    cohort, _, noisy, _ = noisy_cohort
    with pytest.raises(InputError, match="shape"):
        audit_labels(cohort, noisy, probs=np.zeros((3, 3)))
    bad = np.full((len(cohort), len(noisy.findings)), 1.5)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        audit_labels(cohort, noisy, probs=bad)


def test_cells_round_trip_and_uncertain_cells_are_not_audited(noisy_cohort, tmp_path):
    cohort, _, noisy, _ = noisy_cohort
    frame = noisy.frame.copy()
    frame.loc[:9, "Edema"] = -1
    from radtrust.data.schema import LabelTable
    from radtrust.noise.audit import write_audit

    a = audit_labels(cohort, LabelTable(frame, noisy.findings, "x"), config=LabelAuditConfig(n_boot=0))
    out, summary = write_audit(a, tmp_path / "issues.csv")
    cells = read_label_audit(out)
    first10 = set(cohort.case_ids[:10])
    assert not ((cells["finding"] == "Edema") & cells["case_id"].isin(first10)).any()
    assert (cells[INTERNAL_KEY] == INTERNAL_MARKER).all() and summary.exists()
    assert set(cells.columns) >= {"case_id", "finding", "given_label", "p_label_wrong", "oos_probability", "cleanlab_issue", "likely_wrong"}


def test_groups_the_cohort_lacks_are_skipped_not_fatal(toy_cohort):
    cohort, labels = toy_cohort  # no site, sex, age or race columns beyond the defaults
    a = audit_labels(cohort, labels, config=LabelAuditConfig(n_boot=0, groups=["site", "sex", "age_band"]))
    assert set(a.summary["groups_skipped"]) == {"sex", "age_band"} and "site" in a.summary["by_group"]


def test_cleanlab_runs_in_process_never_in_a_forked_pool(monkeypatch):
    """cleanlab's default forks a worker pool; forked from a process with running threads (torch, progress
    bars) a child can wait forever on an inherited lock, which hung `radtrust audit labels`. The audit must
    ask for one process whatever the data, and get the same verdicts as cleanlab's pool would."""
    import cleanlab.multilabel_classification.filter as cl_filter

    from radtrust.noise.audit import cleanlab_issues

    seen = []
    real = cl_filter.find_multilabel_issues_per_class

    def spy(*args, **kwargs):
        seen.append(kwargs.get("n_jobs"))
        return real(*args, **kwargs)

    monkeypatch.setattr(cl_filter, "find_multilabel_issues_per_class", spy)
    rng = np.random.default_rng(3)
    for n, k in ((40, 2), (300, 5)):
        given = (rng.random((n, k)) < 0.3).astype(float)
        probs = np.clip(given * 0.7 + rng.random((n, k)) * 0.3, 0.01, 0.99)
        flags = cleanlab_issues(given, probs, np.ones((n, k), dtype=bool))
        assert flags.shape == (n, k)
    assert seen and all(j == 1 for j in seen)
