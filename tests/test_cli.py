"""The command line as a user meets it: real subprocesses, exit codes, one-line errors, no half-written files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

TINY = ["--encoder", "tiny", "--epochs", "1", "--max-length", "48", "--batch-size", "32"]


def radtrust(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "radtrust.cli", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    r = radtrust("synth", "chest", "--n", 260, "--seed", 3, "--out", "c.parquet", cwd=d)
    assert r.returncode == 0, r.stderr
    r = radtrust("label", "c.parquet", "--vocab", "chexpert14", "--out", "labels.csv", cwd=d)
    assert r.returncode == 0, r.stderr
    return d


def test_end_to_end_synth_label_train_predict_evaluate(workdir):
    d = workdir
    assert (d / "c.truth.csv").exists() and "No Finding" not in pd.read_parquet(d / "c.parquet").columns
    labels = pd.read_csv(d / "labels.csv")
    assert labels.columns[0] == "case_id" and "Pleural Effusion" in labels.columns
    r = radtrust("train", "--data", "c.parquet", "--labels", "labels.csv", "--epsilon", 8, "--out", "run", "-q", *TINY, cwd=d)
    assert r.returncode == 0, r.stderr
    assert "ε = 7.9" in r.stderr or "ε = 8.0" in r.stderr
    r = radtrust("predict", "--run", "run", "--data", "c.parquet", "--out", "preds.csv", "-q", cwd=d)
    assert r.returncode == 0, r.stderr
    preds = pd.read_csv(d / "preds.csv")
    assert len(preds) == 260 and {"prob_Edema", "pred_Edema"} <= set(preds.columns)
    assert preds["pred_Edema"].isin([0, 1]).all() and preds["prob_Edema"].between(0, 1).all()
    r = radtrust("evaluate", "--run", "run", "--data", "c.parquet", "--labels", "c.truth.csv", "--out", "metrics.json", "--n-bootstrap", 200, "-q", cwd=d)
    assert r.returncode == 0, r.stderr
    m = json.loads((d / "metrics.json").read_text())
    assert {"micro_f1", "macro_f1", "weighted_f1", "per_label", "privacy"} <= set(m)
    assert m["privacy"]["accountant"] == "prv" and m["privacy"]["epsilon"] <= 8.0
    assert set(m["per_label"]["Edema"]) >= {"precision", "recall", "f1", "auroc", "support"}
    assert "No Finding" not in m["averaged_over"] and m["threshold_policy"]["policy"] == "validation_f1"
    # the teacher (the rule labels the run learned from) scored the same way, for one table with the student
    r = radtrust("evaluate", "--predicted", "labels.csv", "--data", "c.parquet", "--labels", "c.truth.csv", "--out", "teacher.json", "--n-bootstrap", 200, "-q", cwd=d)
    assert r.returncode == 0, r.stderr
    t = json.loads((d / "teacher.json").read_text())
    assert t["averaged_over"] == m["averaged_over"] and t["n_cases"] == m["n_cases"] and t["weighted_f1"] > 0.8 and "privacy" not in t


def test_train_non_private_and_from_config(workdir):
    d = workdir
    (d / "cfg.yaml").write_text("epsilon: .inf\nuncertain_policy: positive\nencoder: tiny\nepochs: 1\nmax_length: 32\n")
    r = radtrust("train", "--data", "c.parquet", "--labels", "labels.csv", "--config", "cfg.yaml", "--out", "run_inf", "-q", cwd=d)
    assert r.returncode == 0, r.stderr
    p = json.loads((d / "run_inf" / "privacy.json").read_text())
    assert p["epsilon"] == "inf" and p["noise_multiplier"] == 0
    assert "uncertain_policy: positive" in (d / "run_inf" / "config.yaml").read_text()


@pytest.mark.parametrize(
    "args,needle",
    [
        (["label", "missing.csv", "--out", "o.csv"], "no such file"),
        (["label", "c.parquet", "--vocab", "radlex", "--out", "o.csv"], "unknown vocabulary"),
        (["label", "bad_cols.csv", "--out", "o.csv"], "missing required column 'patient_id'"),
        (["label", "empty_text.csv", "--out", "o.csv"], "row 2: empty report"),
        (["label", "latin1.csv", "--out", "o.csv"], "not valid UTF-8"),
        (["label", "no_rows.csv", "--out", "o.csv"], "empty"),
        (["train", "--data", "c.parquet", "--labels", "labels.csv", "--epsilon", "0", "--out", "o_run", *TINY], "epsilon must be > 0"),
        (["train", "--data", "c.parquet", "--labels", "labels.csv", "--epsilon", "-1", "--out", "o_run", *TINY], "epsilon must be > 0"),
        (["train", "--data", "c.parquet", "--labels", "missing.csv", "--out", "o_run", *TINY], "no such file"),
        (["evaluate", "--run", "nope", "--data", "c.parquet", "--labels", "labels.csv", "--out", "o.json"], "no such run folder"),
        (["evaluate", "--run", "nope", "--predicted", "labels.csv", "--data", "c.parquet", "--labels", "labels.csv", "--out", "o.json"], "one of the two"),
        (["evaluate", "--predicted", "labels.csv", "--data", "c.parquet", "--out", "o.json"], "gold-standard label file"),
        (["train", "--data", "c.parquet", "--labels", "labels.csv", "--warm-start", "no_such_dir", "--out", "o_run", *TINY], "no such pretrain folder"),
        (["synth", "chest", "--n", "0", "--out", "o.parquet"], "n must be at least 1"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(workdir, args, needle):
    d = workdir
    (d / "bad_cols.csv").write_text("case_id,text\na,effusion\n")
    (d / "empty_text.csv").write_text("case_id,patient_id,text\na,p,effusion\nb,p,\n")
    (d / "latin1.csv").write_bytes("case_id,patient_id,text\na,p,épanchement\n".encode("latin-1"))
    (d / "no_rows.csv").write_text("case_id,patient_id,text\n")
    before = set(p.name for p in d.iterdir())
    r = radtrust(*args, cwd=d)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [x for x in r.stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr
    after = set(p.name for p in d.iterdir())
    assert after == before, after - before


def test_errors_never_echo_report_text(workdir):
    d = workdir
    (d / "secret.csv").write_text("case_id,patient_id,text,age\nMRN-CANARY-991,p,Mr CANARYNAME has effusion,forty\n")
    r = radtrust("label", "secret.csv", "--out", "o.csv", cwd=d)
    assert r.returncode == 2 and "CANARY" not in r.stderr and "row 1" in r.stderr


@pytest.mark.slow
def test_demo_smoke_with_tiny_encoder(tmp_path):
    r = radtrust("demo", "--out", "demo", "--n", 240, "--encoder", "tiny", "--mammo-women", 40, "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    assert set(m) == {"private", "non_private"}
    assert (tmp_path / "demo" / "privacy_ledger.sqlite").exists() and not (tmp_path / ".radtrust").exists()
    assert m["private"]["privacy"]["epsilon"] <= 8.0 and m["non_private"]["privacy"]["epsilon"] == "inf"
    html = (tmp_path / "demo" / "report.html").read_text()
    assert "data:image/png;base64" in html and "PRV" in html
    assert "Fairness audit" in html and "Underdiagnosis rate" in html
    assert "Membership-inference audit" in html and "empirical ε ≥" in html
    assert m["private"]["privacy_audit"]["n_canaries"] == 100 and (tmp_path / "demo" / "runs" / "private" / "privacy_audit.json").exists()
    f = json.loads((tmp_path / "demo" / "fairness.json").read_text())
    assert {"by_group", "gaps", "tests", "adjusted_disparities"} <= set(f)
    # the mammography part: image models trained on report-derived labels, scored against the image truth
    mammo = json.loads((tmp_path / "demo" / "mammography.json").read_text())
    assert set(mammo["models"]) == {"private", "non_private"}
    private = mammo["models"]["private"]
    assert private["privacy"]["epsilon"] <= 8.0 and private["privacy"]["unit"].startswith("patient")
    assert 0.0 <= private["scores"]["findings"]["abnormal"]["auroc"] <= 1.0 and set(private["scores"]["findings"]["abnormal"]["by"]) == {"density", "site", "manufacturer"}
    assert "Mammography" in html and "per patient" in html


def test_label_routes_mammo_combine_and_teacher_refusal(workdir):
    d = workdir
    r = radtrust("synth", "mammo-reports", "--n", 60, "--out", "m.csv", cwd=d)
    assert r.returncode == 0, r.stderr
    r = radtrust("label", "m.csv", "--vocab", "mammo", "--out", "m_labels.csv", cwd=d)
    assert r.returncode == 0, r.stderr
    m = pd.read_csv(d / "m_labels.csv")
    assert {"birads", "density", "laterality", "left_mass", "right_calcification"} <= set(m.columns) and len(m) == 60
    r = radtrust("label", "labels.csv", "labels.csv", "--combine", "--out", "combined.csv", cwd=d)
    assert r.returncode == 0, r.stderr
    assert (d / "combined.agreement.csv").exists() and (d / "combined.confidence.csv").exists()
    r = radtrust("label", "c.parquet", "--teacher", "openai", "--base-url", "http://192.0.2.7:8000/v1", "--model", "m", "--out", "t.csv", cwd=d)
    assert r.returncode == 2 and "--allow-remote" in r.stderr and not (d / "t.csv").exists()
    r = radtrust("label", "c.parquet", "labels.csv", "--out", "x.csv", cwd=d)
    assert r.returncode == 2 and "--combine" in r.stderr


def test_deid_a_case_id_and_text_file_keeps_every_sentence(tmp_path):
    """The normal export shape, one report per line and no patient column: masks need no patient, the
    findings after a mid-line address survive, and the output has the input's columns."""
    src = tmp_path / "export.csv"
    text = "Patient address: 231 Elm Road, Springfield. No radiographic evidence of pleural effusion or pneumothorax. John Smith MRN 12345678. The lungs are clear."
    pd.DataFrame({"case_id": ["c1"], "text": [text]}).to_csv(src, index=False)
    r = radtrust("deid", "export.csv", "--out", "clean.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = pd.read_csv(tmp_path / "clean.csv")
    assert list(out.columns) == ["case_id", "text"]
    assert out["text"][0] == ("Patient address: [ADDRESS]. No radiographic evidence of pleural effusion or pneumothorax. [NAME] MRN [ID]. The lungs are clear.")
    r = radtrust("--deid", "surrogate", "deid", "export.csv", "--out", "fake.csv", cwd=tmp_path)
    assert r.returncode == 0 and "keyed per case_id" in r.stdout + r.stderr
    assert json.loads((tmp_path / "fake.deid.json").read_text())["keyed_on"] == "case_id"


@pytest.mark.parametrize(
    "args, needle",
    [
        (("train", "--epsilon", "abc"), "--epsilon"),
        (("nosuch",), "nosuch"),
        (("deid", "reports.csv"), "--out"),
        (("train", "--bogus", "1"), "--bogus"),
    ],
)
def test_usage_errors_are_one_line_exit_2(tmp_path, args, needle):
    """typer raises its own copies of click's usage errors; they are user mistakes like any other: one line
    on stderr naming the option, exit code 2, no traceback."""
    r = radtrust(*args, cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("radtrust: error:") and needle in lines[0]
    assert "Traceback" not in r.stderr
