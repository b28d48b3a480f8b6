"""The estimator accounts for itself: ``ReportClassifier.fit(..., ledger=...)`` charges before its first step
and settles the charge, and ``save`` writes the run folder all at once, without the file-level helpers."""

from __future__ import annotations

import json

import pytest

from radtrust.data.fingerprint import data_fingerprint
from radtrust.errors import InputError, PrivacyError
from radtrust.privacy.ledger import PrivacyLedger
from radtrust.train.estimator import ReportClassifier


@pytest.fixture
def private_config(tiny_config):
    # RDP calibrates in a fraction of PRV's time; the ledger does not care which accountant ran
    return tiny_config.model_copy(update={"epochs": 1, "epsilon": 4.0, "accountant": "rdp", "debug_checks": False})


def test_fit_with_a_ledger_charges_it_and_save_records_the_charge(toy_cohort, private_config, tmp_path):
    cohort, labels = toy_cohort
    led = PrivacyLedger(tmp_path / "l.sqlite")
    clf = ReportClassifier(private_config).fit(cohort, labels, ledger=led)
    (c,) = led.charges(data_fingerprint(cohort))
    assert c.status == "finished" and c.epsilon == 4.0 and c.spent_epsilon == pytest.approx(clf.result.privacy.epsilon)
    run = clf.save(tmp_path / "run")
    meta = json.loads((run / "run.json").read_text())
    assert meta["ledger_run_id"] == c.run_id and meta["ledger_path"] == str(led.path.resolve())
    with pytest.raises(InputError, match="already exists"):  # a finished run is never replaced by accident
        clf.save(run)
    assert clf.save(run, overwrite=True) == run and sorted(p.name for p in tmp_path.iterdir()) == ["l.sqlite", "run"]


def test_fit_over_budget_is_refused_before_training(toy_cohort, private_config, tmp_path, monkeypatch):
    cohort, labels = toy_cohort
    led = PrivacyLedger(tmp_path / "l.sqlite")
    led.set_budget(data_fingerprint(cohort), 3.0, 1e-3)

    def never(*a):
        raise AssertionError("trained although the budget was spent")

    monkeypatch.setattr(ReportClassifier, "_fit", never)
    with pytest.raises(PrivacyError, match="over the privacy budget"):
        ReportClassifier(private_config).fit(cohort, labels, ledger=led)
    assert led.charges(data_fingerprint(cohort)) == []


def test_fit_failing_before_its_first_step_voids_its_own_charge(toy_cohort, private_config, tmp_path, monkeypatch):
    cohort, labels = toy_cohort
    led = PrivacyLedger(tmp_path / "l.sqlite")

    def boom(*a):
        raise RuntimeError("the encoder exploded")

    monkeypatch.setattr(ReportClassifier, "_fit", boom)
    with pytest.raises(RuntimeError):
        ReportClassifier(private_config).fit(cohort, labels, ledger=led)
    (c,) = led.charges(data_fingerprint(cohort))
    assert c.status == "void" and "exploded" in c.note and led.spent(data_fingerprint(cohort)) == (0.0, 0.0)


def test_fit_without_a_ledger_charges_nothing(toy_cohort, private_config, tmp_path):
    cohort, labels = toy_cohort
    clf = ReportClassifier(private_config).fit(cohort, labels)
    assert "ledger_run_id" not in clf.meta and clf.result.privacy.epsilon <= 4.0
