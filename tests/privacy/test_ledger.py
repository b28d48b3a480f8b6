"""The privacy-budget ledger: budgets, charges, composition, refusals, concurrency, and the data fingerprint
that names a dataset."""

from __future__ import annotations

import math
import multiprocessing as mp
import sqlite3

import pandas as pd
import pytest

from radtrust.data.fingerprint import data_fingerprint, file_fingerprint
from radtrust.data.schema import Cohort
from radtrust.errors import InputError, PrivacyError
from radtrust.privacy.ledger import SCHEMA_VERSION, PrivacyLedger, default_ledger_path, planned_charge

FP = "a" * 64
OTHER = "b" * 64


@pytest.fixture
def ledger(tmp_path) -> PrivacyLedger:
    return PrivacyLedger(tmp_path / "ledger.sqlite")


def charge(ledger: PrivacyLedger, run_id: str, epsilon: float, delta: float | None = 1e-5, fingerprint: str = FP):
    return ledger.charge(fingerprint, run_id, epsilon, delta, "prv", "lora", "cfg" + run_id)


# ---- budgets and charges -------------------------------------------------------------------------
def test_set_budget_and_read_back(ledger):
    assert ledger.budget(FP) is None and ledger.charges(FP) == [] and ledger.spent(FP) == (0.0, 0.0)
    b = ledger.set_budget(FP, 10.0, 1e-4, label="cohort A")
    assert ledger.budget(FP) == b and (b.epsilon, b.delta, b.label) == (10.0, 1e-4, "cohort A")
    assert ledger.budget(OTHER) is None
    assert ledger.set_budget(FP, 12.0, 1e-4).label == "cohort A"  # a new budget keeps the label
    st = ledger.status(FP)
    assert st.remaining == (12.0, 1e-4) and st.to_dict()["budget"]["epsilon"] == 12.0


def test_charges_compose_by_sum_and_the_one_over_budget_is_refused(ledger):
    ledger.set_budget(FP, 10.0, 1e-4)
    charge(ledger, "r1", 4.0)
    charge(ledger, "r2", 6.0)  # exactly at the budget is allowed
    with pytest.raises(PrivacyError, match="over the privacy budget") as e:
        charge(ledger, "r3", 0.5)
    assert "\n" not in str(e.value) and str(ledger.path) in str(e.value)
    assert [c.run_id for c in ledger.charges(FP)] == ["r1", "r2"]
    assert ledger.spent(FP) == (10.0, 2e-5)
    charge(ledger, "other", 8.0, fingerprint=OTHER)  # another dataset has its own (unset) budget
    assert ledger.spent(FP) == (10.0, 2e-5)


def test_delta_over_budget_is_refused(ledger):
    ledger.set_budget(FP, 100.0, 2e-5)
    charge(ledger, "r1", 1.0, 1e-5)
    charge(ledger, "r2", 1.0, 1e-5)
    with pytest.raises(PrivacyError, match="over the privacy budget"):
        charge(ledger, "r3", 1.0, 1e-6)


def test_non_private_run_refused_with_a_budget_recorded_without(ledger, tmp_path):
    ledger.set_budget(FP, 10.0, 1e-4)
    with pytest.raises(PrivacyError, match=r"non-private run \(ε = inf\) refused"):
        charge(ledger, "inf", math.inf)
    assert ledger.charges(FP) == []

    c = charge(ledger, "inf", math.inf, fingerprint=OTHER)
    assert c.epsilon == math.inf and c.delta is None
    (back,) = ledger.charges(OTHER)
    assert back == c and back.epsilon == math.inf and back.delta is None
    assert ledger.spent(OTHER) == (math.inf, 0.0)
    assert ledger.status(OTHER).to_dict()["spent"]["epsilon"] == "inf"
    with sqlite3.connect(ledger.path) as con:  # plain SQL composes to inf as well
        assert con.execute("SELECT SUM(epsilon) FROM charges WHERE fingerprint = ?", (OTHER,)).fetchone()[0] == math.inf
    with pytest.raises(PrivacyError, match="already spent"):  # data used without privacy cannot get a budget
        ledger.set_budget(OTHER, 1000.0, 0.1)


def test_charge_is_idempotent_by_run_id(ledger):
    ledger.set_budget(FP, 10.0, 1e-4)
    first = charge(ledger, "resumed", 8.0)
    again = charge(ledger, "resumed", 8.0)
    assert again == first and len(ledger.charges(FP)) == 1 and ledger.spent(FP)[0] == 8.0
    with pytest.raises(PrivacyError, match="already charged"):
        charge(ledger, "resumed", 2.0)


def test_lowering_the_budget_below_spent_is_refused(ledger):
    ledger.set_budget(FP, 10.0, 1e-4)
    charge(ledger, "r1", 6.0)
    with pytest.raises(PrivacyError, match="already spent"):
        ledger.set_budget(FP, 5.0, 1e-4)
    with pytest.raises(PrivacyError, match="already spent"):
        ledger.set_budget(FP, 10.0, 1e-6)
    assert ledger.budget(FP).epsilon == 10.0
    ledger.set_budget(FP, 6.0, 1e-4)  # down to exactly what is spent is fine
    ledger.set_budget(FP, 20.0, 1e-4)  # raising is the data owner's call
    charge(ledger, "r2", 14.0)


def test_finish_records_spent_epsilon_and_keeps_the_charge(ledger):
    ledger.set_budget(FP, 10.0, 1e-4)
    charge(ledger, "r1", 8.0)
    done = ledger.finish("r1", 7.993)
    assert (done.status, done.epsilon, done.spent_epsilon) == ("finished", 8.0, 7.993) and done.finished_at
    assert ledger.spent(FP)[0] == 8.0  # no refunds
    assert ledger.finish("r1", None, status="failed").status == "failed"
    with pytest.raises(PrivacyError, match="no charge with run id"):
        ledger.finish("nope", 1.0)
    with pytest.raises(PrivacyError, match="not 'charged'"):
        ledger.finish("r1", 1.0, status="charged")


@pytest.mark.parametrize("eps,delta", [(0.0, 1e-5), (-1.0, 1e-5), (math.nan, 1e-5), (8.0, None), (8.0, 1.5)])
def test_invalid_charges_are_refused(ledger, eps, delta):
    with pytest.raises(PrivacyError):
        charge(ledger, "bad", eps, delta)


@pytest.mark.parametrize("eps,delta", [(math.inf, 1e-5), (0.0, 1e-5), (10.0, 1.0), (10.0, -1e-9)])
def test_invalid_budgets_are_refused(ledger, eps, delta):
    with pytest.raises(PrivacyError):
        ledger.set_budget(FP, eps, delta)


def test_planned_charge_resolves_delta_as_training_does():
    from radtrust.privacy.accountant import default_delta

    assert planned_charge(8.0, None, 500) == (8.0, default_delta(500)) == (8.0, 1 / 5000)
    assert planned_charge(8.0, 1e-6, 500) == (8.0, 1e-6)
    assert planned_charge(math.inf, None, 500) == (math.inf, None)
    with pytest.raises(PrivacyError, match="not below 1/N"):
        planned_charge(8.0, 0.01, 500)


# ---- the file itself -------------------------------------------------------------------------------
def test_default_path_env_and_cwd(monkeypatch, tmp_path):
    monkeypatch.setenv("RADTRUST_LEDGER", str(tmp_path / "x.sqlite"))
    assert default_ledger_path() == tmp_path / "x.sqlite" and PrivacyLedger().path == tmp_path / "x.sqlite"
    monkeypatch.delenv("RADTRUST_LEDGER")
    monkeypatch.chdir(tmp_path)
    assert default_ledger_path() == tmp_path / ".radtrust" / "privacy_ledger.sqlite"


def test_schema_reads_create_nothing_and_bad_files_are_one_line_errors(tmp_path):
    led = PrivacyLedger(tmp_path / "sub" / "l.sqlite")
    assert led.status(FP).budget is None and not led.path.exists()
    led.set_budget(FP, 1.0, 0.0)
    with sqlite3.connect(led.path) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {"schema_version", "datasets", "charges"}
        assert con.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]

    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(InputError, match="not a usable radtrust privacy ledger"):
        PrivacyLedger(junk).set_budget(FP, 1.0, 0.0)
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as con:
        con.execute("CREATE TABLE t (x)")
    with pytest.raises(InputError, match="not a radtrust privacy ledger"):
        PrivacyLedger(foreign).charges(FP)
    with pytest.raises(InputError, match="is a folder"):
        PrivacyLedger(tmp_path).charges(FP)


# ---- concurrency -----------------------------------------------------------------------------------
def _charge_at_once(path: str, run_id: str, barrier, results) -> None:
    import time

    read_budget = PrivacyLedger._budget

    def slow_read(con, fingerprint):
        # widen the gap between reading the ledger and writing the charge, so that without the
        # BEGIN IMMEDIATE lock every process would read "nothing spent" and all would charge
        out = read_budget(con, fingerprint)
        time.sleep(0.2)
        return out

    PrivacyLedger._budget = staticmethod(slow_read)  # this child process only
    led = PrivacyLedger(path)
    barrier.wait()
    try:
        led.charge(FP, run_id, 6.0, 1e-5, "prv", "lora", "cfg")
        results.put((run_id, "ok"))
    except PrivacyError as e:
        # over budget, having waited for the winner's charge; not "locked" (a lock upgrade that deadlocked)
        results.put((run_id, "refused" if "over the privacy budget" in str(e) else str(e)))


def test_runs_started_at_the_same_moment_cannot_overspend(ledger):
    ledger.set_budget(FP, 10.0, 1e-4)  # room for one charge of 6, not two
    ctx = mp.get_context("spawn")
    n = 5
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_charge_at_once, args=(str(ledger.path), f"run{i}", barrier, results)) for i in range(n)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(o for _, o in outcomes) == ["ok"] + ["refused"] * (n - 1)
    (winner,) = [r for r, o in outcomes if o == "ok"]
    assert [c.run_id for c in ledger.charges(FP)] == [winner] and ledger.spent(FP)[0] == 6.0


# ---- fingerprints ----------------------------------------------------------------------------------
def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "case_id": ["a1", "a2", "a3"],
            "patient_id": ["p1", "p1", "p2"],
            "findings": ["Small left effusion.", None, "Clear lungs."],
            "impression": ["Effusion.", None, "Normal."],
            "age": [50, 61, 70],
        }
    )


def test_fingerprint_follows_content_not_path_or_format(tmp_path):
    frame = _frame()
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_parquet(tmp_path / "d.parquet", index=False)
    (tmp_path / "copy").mkdir()
    frame.to_parquet(tmp_path / "copy" / "renamed.parquet", index=False)
    fp = file_fingerprint(tmp_path / "d.csv")
    assert fp == file_fingerprint(tmp_path / "d.parquet") == file_fingerprint(tmp_path / "copy" / "renamed.parquet")
    assert len(fp) == 64

    # empty reports count, so dropping them at training does not change the dataset's identity
    from radtrust.data.readers import read_cohort
    from radtrust.deid.door import CohortDeidentifier

    dropped = read_cohort(tmp_path / "d.csv", empty_reports="drop", deid=CohortDeidentifier())
    assert len(dropped) == 2 and file_fingerprint(tmp_path / "d.csv", read=dropped) == fp
    kept = read_cohort(tmp_path / "d.csv", empty_reports="keep", deid=CohortDeidentifier())
    assert file_fingerprint(tmp_path / "d.csv", read=kept) == fp == data_fingerprint(kept)

    changed = frame.copy()
    changed.loc[2, "impression"] = "Normal chest."
    changed.to_parquet(tmp_path / "changed.parquet", index=False)
    assert file_fingerprint(tmp_path / "changed.parquet") != fp
    renamed_id = frame.copy()
    renamed_id.loc[0, "case_id"] = "a9"
    renamed_id.to_parquet(tmp_path / "renamed_id.parquet", index=False)
    assert file_fingerprint(tmp_path / "renamed_id.parquet") != fp

    # a column map that yields the same table gives the same fingerprint
    frame.rename(columns={"case_id": "accession"}).to_csv(tmp_path / "mapped.csv", index=False)
    assert file_fingerprint(tmp_path / "mapped.csv", ["case_id=accession"]) == fp


def test_data_fingerprint_matches_the_estimators():
    from radtrust.train import estimator

    cohort = Cohort(_frame(), empty_reports="keep")
    if hasattr(estimator, "data_fingerprint"):
        assert estimator.data_fingerprint(cohort) == data_fingerprint(cohort)


# ---- training charges the ledger ---------------------------------------------------------------------
def test_fit_and_save_charges_before_and_finishes_after(toy_cohort, tiny_config, tmp_path):
    import json

    from radtrust.train.api import fit_and_save
    from radtrust.train.estimator import charge_training

    cohort, labels = toy_cohort
    led = PrivacyLedger(tmp_path / "l.sqlite")
    # RDP calibrates in a fraction of PRV's time; the ledger does not care which accountant ran
    cfg = tiny_config.model_copy(update={"epochs": 1, "epsilon": 4.0, "accountant": "rdp", "debug_checks": False})
    clf = fit_and_save(cohort, labels, cfg, tmp_path / "run", ledger=led)
    fp = data_fingerprint(cohort)
    (c,) = led.charges(fp)
    assert c.status == "finished" and c.epsilon == 4.0 and c.delta == pytest.approx(1 / (10 * len(cohort)))
    assert c.spent_epsilon == pytest.approx(clf.result.privacy.epsilon) and c.spent_epsilon <= 4.0
    assert c.accountant == "rdp" and c.method == "lora" and len(c.config_hash) == 64
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["ledger_run_id"] == c.run_id and meta["ledger_fingerprint"] == fp and meta["ledger_path"] == str(led.path.resolve())

    # a resumed run with the same id is not charged again
    assert charge_training(led, cohort, cfg, run_id=c.run_id).run_id == c.run_id and len(led.charges(fp)) == 1

    led.set_budget(fp, 6.0, 1e-3)
    with pytest.raises(PrivacyError, match="over the privacy budget"):
        fit_and_save(cohort, labels, cfg, tmp_path / "run2", ledger=led)
    assert not (tmp_path / "run2").exists() and len(led.charges(fp)) == 1


def test_a_run_that_fails_before_its_first_step_is_voided_and_leaves_nothing(toy_cohort, tiny_config, tmp_path, monkeypatch):
    from radtrust.train import api

    def boom(self, *a, **k):
        raise RuntimeError("the encoder exploded")

    monkeypatch.setattr(api.ReportClassifier, "_fit", boom)  # the training itself; fit settles the charge
    led = PrivacyLedger(tmp_path / "l.sqlite")
    led.set_budget(FP, 10.0, 1e-3)
    cohort, labels = toy_cohort
    with pytest.raises(RuntimeError):
        api.fit_and_save(cohort, labels, tiny_config.model_copy(update={"epsilon": 8.0}), tmp_path / "run", ledger=led, fingerprint=FP)
    (c,) = led.charges(FP)
    assert c.status == "void" and "before the first step" in c.note and "exploded" in c.note
    assert led.spent(FP) == (0.0, 0.0) and led.status(FP).remaining[0] == 10.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.sqlite"]  # no run folder, checkpoint or temp left


def test_a_run_that_fails_after_its_first_step_keeps_its_charge_as_failed(toy_cohort, tiny_config, tmp_path, monkeypatch):
    from radtrust.train import api

    real_fit = api.ReportClassifier._fit

    def step_then_boom(self, *a):
        a[-1]()  # on_first_step
        raise RuntimeError("training crashed")

    monkeypatch.setattr(api.ReportClassifier, "_fit", step_then_boom)
    led = PrivacyLedger(tmp_path / "l.sqlite")
    cohort, labels = toy_cohort
    cfg = tiny_config.model_copy(update={"epsilon": 8.0, "accountant": "rdp"})
    with pytest.raises(RuntimeError):
        api.fit_and_save(cohort, labels, cfg, tmp_path / "run", ledger=led, fingerprint=FP)
    (c,) = led.charges(FP)
    assert c.status == "failed" and c.spent_epsilon is None and not (tmp_path / "run").exists()
    assert led.spent(FP)[0] == 8.0
    # its identity is on disk: the same command with resume continues under the same charge
    assert (tmp_path / "run.checkpoint" / "run.json").exists()
    monkeypatch.setattr(api.ReportClassifier, "_fit", real_fit)
    api.fit_and_save(cohort, labels, cfg, tmp_path / "run", ledger=led, fingerprint=FP, resume=True)
    (c2,) = led.charges(FP)
    assert c2.run_id == c.run_id and c2.status == "finished" and not (tmp_path / "run.checkpoint").exists()


def test_void_only_a_charged_run_and_a_voided_id_charged_again_counts(ledger):
    ledger.set_budget(FP, 10.0, 1e-3)
    charge(ledger, "r1", 8.0)
    assert ledger.void("r1", "failed before the first step: x").status == "void"
    assert ledger.spent(FP) == (0.0, 0.0)
    with pytest.raises(PrivacyError, match="only a run that never took a step"):
        ledger.void("r1", "again")
    charge(ledger, "r2", 9.0)  # the voided 8 no longer blocks this one
    ledger.finish("r2", 8.9)
    with pytest.raises(PrivacyError, match="only a run that never took a step"):
        ledger.void("r2", "too late")
    with pytest.raises(PrivacyError, match="over the privacy budget"):
        charge(ledger, "r1", 8.0)  # charged again, the old id is a new start, checked against the budget
    with pytest.raises(PrivacyError, match="no charge with run id"):
        ledger.void("nope", "x")


def test_a_version_1_ledger_is_upgraded_in_place_with_every_charge(tmp_path):
    path = tmp_path / "v1.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        con.execute("CREATE TABLE datasets (fingerprint TEXT PRIMARY KEY, epsilon_budget REAL NOT NULL, delta_budget REAL NOT NULL, label TEXT, set_at TEXT NOT NULL)")
        con.execute(
            "CREATE TABLE charges (run_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, epsilon REAL NOT NULL, delta REAL, accountant TEXT, "
            "method TEXT, config_hash TEXT, started_at TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('charged', 'finished', 'failed')), "
            "finished_at TEXT, spent_epsilon REAL)"
        )
        con.execute("CREATE INDEX charges_by_fingerprint ON charges (fingerprint, started_at)")
        con.execute("INSERT INTO schema_version VALUES (1)")
        con.execute("INSERT INTO datasets VALUES (?, 10.0, 0.001, NULL, '2026-01-01T00:00:00Z')", (FP,))
        con.execute("INSERT INTO charges VALUES ('old', ?, 3.0, 1e-5, 'prv', 'lora', 'c', '2026-01-01T00:00:00Z', 'finished', NULL, 2.99)", (FP,))
    led = PrivacyLedger(path)
    assert led.spent(FP) == (3.0, 1e-5)
    charge(led, "new", 4.0)
    led.void("new", "failed before the first step: y")
    (old, new) = led.charges(FP)
    assert (old.run_id, old.status, old.spent_epsilon) == ("old", "finished", 2.99) and new.status == "void"
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
