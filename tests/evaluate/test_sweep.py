"""``radtrust sweep``: one tiny-encoder run per (method, ε), scored on held-out patients, written as a table
(CSV, JSON) and a privacy–utility plot; every run charged to the privacy ledger."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

from radtrust.data.fingerprint import data_fingerprint
from radtrust.data.io import write_table
from radtrust.errors import ConfigError, PrivacyError
from radtrust.evaluate.sweep import COLUMNS, parse_epsilons, parse_method_options, parse_methods, run_sweep
from radtrust.labeling.rules import RuleLabeler
from radtrust.privacy.ledger import PrivacyLedger
from radtrust.synth.chest import ChestSynthConfig, synth_chest

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def chest_labelled():
    """160 synthetic reports (about 110 patients), rule labels to train on, hidden truth to score against."""
    cohort, truth = synth_chest(ChestSynthConfig(n=160, seed=1))
    return cohort, RuleLabeler("chexpert14").label(cohort), truth


@pytest.fixture
def sweep_config(tiny_config):
    return tiny_config.model_copy(update={"epochs": 1, "debug_checks": False})


def test_parse_epsilons_and_methods():
    assert parse_epsilons("0.5, 1,2,4,8,inf") == [0.5, 1.0, 2.0, 4.0, 8.0, math.inf]
    assert parse_epsilons("inf,8,2,8,∞") == [2.0, 8.0, math.inf]  # sorted, distinct, inf last
    assert parse_epsilons([4, "inf"]) == [4.0, math.inf]
    assert parse_methods("head, lora,head") == ["head", "lora"]


@pytest.mark.parametrize("bad", ["abc", "0", "-1", "nan", "", " , ", "1,x"])
def test_bad_epsilons_are_config_errors(bad):
    with pytest.raises(ConfigError, match="epsilons"):
        parse_epsilons(bad)


@pytest.mark.parametrize("bad", ["xgboost", "", "lora,svm"])
def test_bad_methods_are_config_errors(bad):
    with pytest.raises(ConfigError, match="methods"):
        parse_methods(bad)


def test_sweep_writes_table_json_plot_and_charges_every_run(chest_labelled, sweep_config, tmp_path):
    cohort, labels, truth = chest_labelled
    ledger = PrivacyLedger(tmp_path / "ledger.sqlite")
    out = tmp_path / "sweep"
    table = run_sweep(cohort, labels, truth, "4,inf", "lora,head", sweep_config, out, n_boot=20, ledger=ledger)

    assert list(table.columns) == list(COLUMNS) and len(table) == 4
    # ε ascending, every method at one ε before the next
    assert list(zip(table["method"], table["epsilon_target"])) == [("lora", 4.0), ("head", 4.0), ("lora", math.inf), ("head", math.inf)]
    private, public = table[table["epsilon_target"] == 4.0], table[table["epsilon_target"] == math.inf]
    assert (private["epsilon_spent"] <= 4.0).all() and (private["epsilon_spent"] >= 4.0 - 0.011).all()
    assert (private["noise_multiplier"] > 0).all() and (private["accountant"] == "prv").all() and (private["delta"] < 1 / len(cohort)).all()
    assert (public["epsilon_spent"] == math.inf).all() and (public["noise_multiplier"] == 0).all() and public["delta"].isna().all()
    assert (table["weighted_f1_ci_low"] <= table["weighted_f1"]).all() and (table["weighted_f1"] <= table["weighted_f1_ci_high"]).all()
    assert table["n_train"].nunique() == 1 and table["n_test"].nunique() == 1
    assert table["n_train"].iloc[0] + table["n_test"].iloc[0] == len(cohort)  # every report on one side, scored by truth

    csv = pd.read_csv(out / "sweep.csv")
    pd.testing.assert_frame_equal(csv, table, check_dtype=False)
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["status"] == "complete" and doc["methods"] == ["lora", "head"] and doc["epsilons"] == [4.0, "inf"]
    assert doc["data_fingerprint"] == data_fingerprint(cohort) and "epsilon" not in doc["base_config"]
    assert doc["split"]["n_train"] + doc["split"]["n_test"] == len(cohort) and doc["gold_source"] == truth.source
    assert [(r["method"], r["epsilon_spent"] == "inf") for r in doc["rows"]] == [("lora", False), ("head", False), ("lora", True), ("head", True)]
    for r, (_, row) in zip(doc["rows"], table.iterrows()):
        assert r["weighted_f1"] == pytest.approx(row["weighted_f1"]) and r["run_dir"] == row["run_dir"]
    assert (out / "sweep.png").read_bytes()[:8] == PNG_MAGIC
    for run_dir in table["run_dir"]:
        assert (Path(run_dir) / "privacy.json").exists()
    assert not list(out.glob(".*.tmp"))

    charges = ledger.charges(data_fingerprint(cohort))  # the whole cohort is the dataset charged
    assert len(charges) == 4 and {c.status for c in charges} == {"finished"}
    assert sorted((c.method, c.epsilon) for c in charges) == [("head", 4.0), ("head", math.inf), ("lora", 4.0), ("lora", math.inf)]


def test_each_method_can_have_its_own_settings(chest_labelled, sweep_config, tmp_path):
    assert parse_method_options("head:epochs=3,learning_rate=0.1; bitfit:encoder_learning_rate=5e-3") == {
        "head": {"epochs": "3", "learning_rate": "0.1"},
        "bitfit": {"encoder_learning_rate": "5e-3"},
    }
    for bad, needle in [("svm:epochs=2", "unknown method"), ("head epochs=2", "method:option"), ("head:epochs", "option=value"), ("head:epsilon=2", "sets 'epsilon'")]:
        with pytest.raises(ConfigError, match=needle):
            parse_method_options(bad)
    cohort, labels, truth = chest_labelled
    out = tmp_path / "sweep"
    with pytest.raises(ConfigError, match="not among the methods"):
        run_sweep(cohort, labels, truth, "inf", "head", sweep_config, out, n_boot=20, ledger=False, method_options="bitfit:epochs=2")
    with pytest.raises(ConfigError, match="epochs"):
        run_sweep(cohort, labels, truth, "inf", "head", sweep_config, out, n_boot=20, ledger=False, method_options="head:epochs=many")
    table = run_sweep(cohort, labels, truth, "inf", "head,bitfit", sweep_config, out, n_boot=20, ledger=False, method_options="head:epochs=3")
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["method_options"] == {"head": {"epochs": 3}} and doc["base_config"]["epochs"] == 1
    runs = {m: json.loads((Path(d) / "history.json").read_text()) for m, d in zip(table["method"], table["run_dir"])}
    assert len(runs["head"]) == 3 and len(runs["bitfit"]) == 1


def test_ledger_refusal_stops_the_sweep_after_writing_finished_rows(chest_labelled, sweep_config, tmp_path):
    cohort, labels, truth = chest_labelled
    ledger = PrivacyLedger(tmp_path / "ledger.sqlite")
    ledger.set_budget(data_fingerprint(cohort), 3.0, 1e-3)
    out = tmp_path / "sweep"
    with pytest.raises(PrivacyError, match=r"sweep stopped at head at ε = inf: .*1 finished run"):
        run_sweep(cohort, labels, truth, [2, math.inf], ["head"], sweep_config, out, n_boot=10, ledger=ledger)
    csv = pd.read_csv(out / "sweep.csv")
    assert len(csv) == 1 and csv["epsilon_target"].iloc[0] == 2.0
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["status"] == "stopped" and doc["stopped_at"] == {"method": "head", "epsilon": "inf"}
    assert (out / "sweep.png").read_bytes()[:8] == PNG_MAGIC
    assert not (out / "runs" / "head_epsinf").exists()


def _cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    from radtrust.cli import main

    monkeypatch.setattr(sys, "argv", ["radtrust", *map(str, args)])
    with pytest.raises(SystemExit) as e:
        main()
    cap = capsys.readouterr()
    return e.value.code, cap.out, cap.err


def test_cli_sweep_and_bad_epsilons(chest_labelled, tmp_path, monkeypatch, capsys):
    cohort, labels, truth = chest_labelled
    monkeypatch.chdir(tmp_path)
    write_table(cohort.frame, tmp_path / "c.parquet")
    write_table(labels.frame, tmp_path / "labels.csv")
    write_table(truth.frame, tmp_path / "truth.csv")
    common = ["sweep", "--data", "c.parquet", "--labels", "labels.csv", "--encoder", "tiny", "--epochs", 1, "--max-length", 32, "--batch-size", 32, "-q"]

    for bad in ("abc", "0", "-1"):
        code, _, err = _cli(monkeypatch, capsys, *common, "--out", "bad", "--epsilons", bad)
        lines = [x for x in err.strip().splitlines() if x.strip()]
        assert code == 2 and len(lines) == 1 and "epsilons" in lines[0] and "Traceback" not in err
    code, _, err = _cli(monkeypatch, capsys, *common, "--out", "bad", "--methods", "svm")
    assert code == 2 and "unknown method 'svm'" in err
    assert not (tmp_path / "bad").exists()

    code, out, err = _cli(monkeypatch, capsys, *common, "--gold", "truth.csv", "--out", "sw", "--epsilons", "inf", "--methods", "head", "--n-bootstrap", 10)
    assert code == 0, err
    assert "head" in out and "weighted F1" in out and "sweep.csv" in err
    rows = pd.read_csv(tmp_path / "sw" / "sweep.csv")
    assert rows[["method", "epsilon_target"]].values.tolist() == [["head", math.inf]]
    assert json.loads((tmp_path / "sw" / "sweep.json").read_text())["gold_source"] == truth.source
