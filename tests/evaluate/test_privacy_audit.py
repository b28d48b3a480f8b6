"""Membership-inference audit: the attack statistics, the canaries a run plants, and the audit of a run."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from radtrust.data.io import write_table
from radtrust.errors import InputError
from radtrust.evaluate.privacy_audit import PrivacyAuditConfig, audit_privacy, balanced_inclusion, record_statistics
from radtrust.privacy.audit import heldout_epsilon, lira_scores, tpr_at_fpr
from radtrust.privacy.ledger import PrivacyLedger
from radtrust.train.canaries import make_canaries
from radtrust.train.config import TrainConfig
from radtrust.train.estimator import ReportClassifier


def test_tpr_at_fpr_counts_members_above_the_threshold_that_admits_the_allowed_false_positives():
    non = np.arange(100, dtype=float)  # 1% FPR allows exactly one non-member (99) at or above the threshold
    mem = np.array([99.5, 98.5, 120.0, 50.0])
    r = tpr_at_fpr(mem, non, 0.01)  # the threshold sits just above 98: 98.5, 99.5 and 120 are caught
    assert r["members_detected"] == 3 and r["tpr"] == 0.75 and r["resolvable"]
    lo, hi = r["ci95"]
    assert lo < 0.75 < hi
    assert not tpr_at_fpr(mem, non, 0.001)["resolvable"]  # 100 non-members cannot measure 0.1%
    assert tpr_at_fpr(mem, non, 0.001)["members_detected"] == 2  # above every non-member: 99.5 and 120


def test_heldout_epsilon_is_large_for_a_perfect_attack_and_zero_without_signal():
    rng = np.random.default_rng(0)
    perfect = heldout_epsilon(rng.normal(10, 1, 2000), rng.normal(0, 1, 2000), delta=1e-5)
    assert perfect["epsilon_lower_bound"] > 3 and perfect["n_members"] == 1000
    none = heldout_epsilon(rng.normal(0, 1, 2000), rng.normal(0, 1, 2000), delta=1e-5)
    assert none["epsilon_lower_bound"] < 0.3


def test_lira_separates_records_that_shift_when_trained_on():
    rng = np.random.default_rng(1)
    n, k = 400, 8
    inclusion = balanced_inclusion(n, k, seed=0)
    assert (inclusion.sum(0) == k // 2).all()
    difficulty = rng.normal(0, 3, n)  # per-record offset the attack must calibrate away
    shadow = difficulty + 1.0 * inclusion + rng.normal(0, 0.3, (k, n))
    member = rng.random(n) < 0.5
    target = difficulty + 1.0 * member + rng.normal(0, 0.3, n)
    s = lira_scores(target, shadow, inclusion)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(member, s) > 0.9
    assert roc_auc_score(member, target) < 0.7  # the raw statistic is swamped by difficulty


def test_record_statistics_margin_and_loss():
    probs = np.array([[0.9, 0.2], [0.1, 0.5]])
    t = np.array([[1.0, 0.0], [1.0, 1.0]])
    m = np.array([[1.0, 1.0], [1.0, 0.0]])
    margin, loss = record_statistics(probs, t, m)
    assert margin[0] == pytest.approx(math.log(9) + math.log(4))
    assert margin[1] == pytest.approx(-math.log(9))
    assert loss[1] == pytest.approx(-math.log(0.1))


def test_canaries_are_rebuilt_identically_and_differ_by_seed():
    a, b, c = make_canaries(50, ["A", "B"], 3), make_canaries(50, ["A", "B"], 3), make_canaries(50, ["A", "B"], 4)
    assert a.cohort.texts() == b.cohort.texts() and (a.targets == b.targets).all() and (a.included == b.included).all()
    assert a.cohort.texts() != c.cohort.texts()
    assert len(set(a.cohort.texts())) == 50 and 10 < a.included.sum() < 40


def test_canaries_refused_with_groups():
    with pytest.raises(ValueError, match="canaries"):
        TrainConfig(canaries=10, groups="sex")
    with pytest.raises(ValueError):
        PrivacyAuditConfig(shadows=3)


@pytest.fixture(scope="module")
def audited_runs(tmp_path_factory, test_threads):
    from radtrust.synth.chest import ChestSynthConfig, synth_chest

    cohort, truth = synth_chest(ChestSynthConfig(n=300, seed=5))
    out = {}
    for eps in (math.inf, 1.0):
        # Every layer trainable (the tiny encoder's frozen features are too poor to memorise with a head). The
        # non-private run needs its 60 epochs to memorise its canaries; the ε = 1 run only has to stay within
        # its claim, which 20 epochs show as well.
        epochs = 60 if math.isinf(eps) else 20
        cfg = TrainConfig(encoder="tiny", method="full", epochs=epochs, batch_size=64, learning_rate=1e-2, max_length=32, num_threads=test_threads, canaries=80, epsilon=eps)
        clf = ReportClassifier(cfg).fit(cohort, truth)
        run = tmp_path_factory.mktemp("run") / "run"
        clf.save(run)
        out[eps] = (run, clf, audit_privacy(run, cohort, truth, PrivacyAuditConfig(shadows=2, n_boot=200)))
    return cohort, truth, out


def test_a_run_trains_on_its_included_canaries_and_records_them(audited_runs):
    cohort, truth, runs = audited_runs
    run, clf, _ = runs[math.inf]
    can = clf.meta["canaries"]
    assert can["n"] == 80 and can["n_included"] == int(make_canaries(80, clf.findings, 0).included.sum())
    assert clf.result.privacy.n_train_records == clf.meta["n_train"] + can["n_included"]
    stored = json.loads((run / "run.json").read_text())["canaries"]
    assert stored == can and set(stored) == {"n", "n_included", "seed", "generator"}  # no canary text


def test_audit_reports_every_attack_and_the_claim(audited_runs):
    _, _, runs = audited_runs
    for eps, (_, clf, a) in runs.items():
        assert set(a["attacks"]) == {"loss/training_records", "lira/training_records", "loss/canaries", "lira/canaries"}
        pop = a["population"]
        assert pop["training_records"] == clf.meta["n_train"] and pop["held_out_records"] == clf.meta["n_validation"]
        assert pop["canaries_included"] + pop["canaries_excluded"] == 80
        for r in a["attacks"].values():
            assert 0 <= r["auc"] <= 1 and r["auc_ci95"][0] <= r["auc"] <= r["auc_ci95"][1]
            assert {"tpr", "ci95", "resolvable"} <= set(r["tpr_at_fpr_0.001"])
        assert a["empirical_epsilon"]["lower_bound"] >= 0
        assert a["claimed"]["epsilon"] == ("inf" if math.isinf(eps) else clf.result.privacy.epsilon)
    # The non-private model memorises its random-label canaries; at ε = 1 the bound stays within the claim.
    assert runs[math.inf][2]["attacks"]["loss/canaries"]["auc"] > 0.75
    assert runs[1.0][2]["empirical_epsilon"]["within_claim"]


def test_audit_refuses_other_data(audited_runs):
    cohort, truth, runs = audited_runs
    run = runs[1.0][0]
    with pytest.raises(InputError, match="not the data run"):
        audit_privacy(run, cohort.subset(np.arange(len(cohort)) < 250), truth, PrivacyAuditConfig(shadows=0))


def radtrust(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "radtrust.cli", *map(str, args)], capture_output=True, text=True, timeout=600)


def test_cli_audit_privacy_writes_json_records_a_non_private_analysis_and_respects_budgets(audited_runs, tmp_path):
    cohort, truth, runs = audited_runs
    run = runs[1.0][0]
    data, labels = tmp_path / "cohort.parquet", tmp_path / "labels.csv"
    write_table(cohort.frame, data)
    write_table(truth.frame, labels)
    ledger, budgeted = tmp_path / "ledger.sqlite", tmp_path / "budgeted.sqlite"
    out = tmp_path / "audit.json"
    args = ["--deid", "off", "audit", "privacy", "--run", str(run), "--data", str(data), "--labels", str(labels), "--out", str(out), "--shadows", "0", "-q", "--ledger"]
    # The run was trained on the text as it is; read with the default de-identification the text would differ.
    r = radtrust(*args[2:], ledger)
    assert r.returncode == 2 and "de-identified as 'off'" in r.stderr and "--deid" in r.stderr and not out.exists()
    r = radtrust(*args, ledger)
    assert r.returncode == 0, r.stderr
    a = json.loads(out.read_text())
    assert "loss/canaries" in a["attacks"] and "empirical ε ≥" in r.stderr
    from radtrust.data.fingerprint import file_fingerprint

    fp = file_fingerprint(data)
    charges = PrivacyLedger(ledger).charges(fp)
    assert len(charges) == 1 and math.isinf(charges[0].epsilon) and charges[0].method == "membership-inference audit"
    PrivacyLedger(budgeted).set_budget(fp, 10.0, 1e-3)
    out.unlink()
    r = radtrust(*args, budgeted)
    assert r.returncode == 2 and "not private" in r.stderr and "Traceback" not in r.stderr and not out.exists()
    r = radtrust(*args, ledger, "--shadows", "3")
    assert r.returncode == 2 and "shadows" in r.stderr and "Traceback" not in r.stderr
    other = tmp_path / "other.parquet"
    write_table(cohort.frame.head(200), other)
    r = radtrust(*[str(other) if a == str(data) else a for a in args], ledger)
    assert r.returncode == 2 and "not the data run" in r.stderr
    assert len(PrivacyLedger(ledger).charges(file_fingerprint(other))) == 0  # refused before any charge


def test_the_audit_reads_the_text_the_way_training_did():
    from radtrust.evaluate.privacy_audit import _check_same_text

    mask = {"mode": "mask", "shift_dates": False, "keyed": False}
    _check_same_text("r", mask, dict(mask))
    _check_same_text("r", None, None)
    with pytest.raises(InputError, match="'mask' but the data was read now as 'off'"):
        _check_same_text("r", mask, None)
    with pytest.raises(InputError, match="with date shifts"):
        _check_same_text("r", mask, {**mask, "shift_dates": True})
    keyed = {"mode": "surrogate", "shift_dates": False, "keyed": True}
    _check_same_text("r", keyed, dict(keyed))
    with pytest.raises(InputError, match="one-off random key"):
        _check_same_text("r", {**keyed, "keyed": False}, {**keyed, "keyed": False})
