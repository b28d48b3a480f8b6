"""Mammography images through the command line as a user meets it: ``synth mammo`` → ``train-images``
(private and not, charged to the ledger) → ``predict --level`` → ``evaluate`` → ``audit fairness``, and
the one-line errors for bad image inputs."""

from __future__ import annotations

import json
import shutil
import sqlite3

import numpy as np
import pandas as pd
import pytest

from radtrust.data.fingerprint import data_fingerprint
from radtrust.data.image_readers import read_images
from test_cli import radtrust  # tests/ is on sys.path (pytest rootdir-relative import)
from test_cli_budget import one_line_error

N_WOMEN = 24
TINY = ["--backbone", "tiny", "--image-size", "32", "--epochs", "1", "-q"]
DATA = ["--data", "arch/images.csv", "--labels", "arch/images_truth.csv"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_images")
    r = radtrust("synth", "mammo", "--out", "arch", "--n-women", N_WOMEN, "--size", 64, "--seed", 0, cwd=d)
    assert r.returncode == 0, r.stderr
    assert f"of {N_WOMEN} women" in r.stderr
    return d


@pytest.fixture(scope="module")
def runs(workdir):
    """A private (ε = 8) and a non-private run, both charged to one ledger in the work folder."""
    d = workdir
    ledger = d / "ledger.sqlite"
    for eps, out in (("8", "run8"), ("inf", "run_inf")):
        r = radtrust("train-images", *DATA, "--epsilon", eps, "--out", out, "--ledger", ledger, *TINY, cwd=d)
        assert r.returncode == 0, r.stderr
    return d, ledger


def test_synth_mammo_writes_the_archive(workdir):
    arch = workdir / "arch"
    for name in ("images.csv", "images_truth.csv", "reports.csv", "reports_truth.csv", "marks.csv", "meta.json"):
        assert (arch / name).is_file(), name
    manifest = pd.read_csv(arch / "images.csv")
    meta = json.loads((arch / "meta.json").read_text())
    assert manifest["patient_id"].nunique() == N_WOMEN and len(manifest) == meta["counts"]["images"]
    assert all((arch / p).is_file() for p in manifest["image_path"])
    one_line_error(radtrust("synth", "mammo", "--out", "bad", "--n-women", 0, cwd=workdir), "n_women must be between 1 and 100000")
    assert not (workdir / "bad").exists()


def test_train_images_private_and_not_and_the_ledger(runs):
    d, ledger = runs
    p8 = json.loads((d / "run8" / "privacy.json").read_text())
    assert p8["accountant"] == "prv" and p8["epsilon"] <= 8.0 and p8["unit"].startswith("patient")
    assert p8["delta"] == pytest.approx(1 / (10 * N_WOMEN))
    pinf = json.loads((d / "run_inf" / "privacy.json").read_text())
    assert pinf["epsilon"] == "inf" and pinf["noise_multiplier"] == 0
    for run in ("run8", "run_inf"):
        assert (d / run / "image_model.safetensors").is_file() and not list((d / run).glob("*.pt"))
    assert not (d / "run8.checkpoint").exists() and not (d / "run_inf.checkpoint").exists()  # nothing half-written left
    assert not list(d.glob(".run8.*")) and not list(d.glob(".run_inf.*"))

    # the dataset is known by its pixels: budget show on the manifest finds both charges
    r = radtrust("budget", "show", "arch/images.csv", "--json", "--ledger", ledger, cwd=d)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    cohort, _ = read_images(d / "arch" / "images.csv")
    assert shown["fingerprint"] == data_fingerprint(cohort)
    charges = {c["run_id"]: c for c in shown["charges"]}
    assert len(charges) == 2 and all(c["status"] == "finished" for c in charges.values())
    run8 = json.loads((d / "run8" / "run.json").read_text())
    c8 = charges[run8["ledger_run_id"]]
    assert c8["epsilon"] == 8.0 and c8["accountant"] == "prv" and c8["spent_epsilon"] == pytest.approx(p8["epsilon"])
    assert c8["delta"] == pytest.approx(1 / (10 * N_WOMEN))
    c_inf = charges[json.loads((d / "run_inf" / "run.json").read_text())["ledger_run_id"]]
    assert c_inf["epsilon"] == "inf" and c_inf["delta"] is None
    assert shown["spent"]["epsilon"] == "inf"


def test_predict_per_view_and_per_breast(runs):
    d, _ = runs
    thresholds = json.loads((d / "run8" / "thresholds.json").read_text())["thresholds"]
    findings = ["abnormal", "malignant", "density_a", "density_b", "density_c", "density_d"]
    manifest = pd.read_csv(d / "arch" / "images.csv")

    r = radtrust("predict", "--run", "run8", "--data", "arch/images.csv", "--out", "views.csv", "--level", "view", "-q", cwd=d)
    assert r.returncode == 0, r.stderr
    views = pd.read_csv(d / "views.csv")
    assert list(views.columns) == ["case_id", *(f"prob_{f}" for f in findings), *(f"pred_{f}" for f in findings), "density_category"]
    assert views["case_id"].tolist() == manifest["case_id"].tolist()
    assert views[[f"prob_{f}" for f in findings]].stack().between(0, 1).all()
    for f in findings:
        # probabilities are written with 6 decimals; decisions were taken on the unrounded ones
        far = (views[f"prob_{f}"] - thresholds[f]).abs() > 1e-6
        assert far.mean() > 0.9 and (views.loc[far, f"pred_{f}"] == (views.loc[far, f"prob_{f}"] > thresholds[f]).astype(int)).all(), f
    dens = views[[f"prob_density_{x}" for x in "abcd"]].to_numpy()
    assert views["density_category"].tolist() == [("abcd")[k] for k in dens.argmax(axis=1)]

    r = radtrust("predict", "--run", "run8", "--data", "arch/images.csv", "--out", "breasts.csv", "--level", "breast", "-q", cwd=d)
    assert r.returncode == 0, r.stderr
    breasts = pd.read_csv(d / "breasts.csv")
    n_breasts = manifest.groupby(["study_id", "laterality"]).ngroups
    assert len(breasts) == n_breasts == 2 * manifest["study_id"].nunique() and (breasts["n_views"] == 2).all()
    assert {"patient_id", "study_id", "laterality", "prob_abnormal", "other_abnormal", "asymmetry_abnormal", "pred_abnormal", "density_category"} <= set(breasts.columns)
    assert not any(c.startswith(("other_density", "asymmetry_density")) for c in breasts.columns)
    assert set(breasts["density_category"]) <= set("abcd")
    # a breast's score is the mean of its two views (the run's breast_aggregation), decided at the stored threshold
    merged = views.merge(manifest[["case_id", "study_id", "laterality"]], on="case_id")
    mean = merged.groupby(["study_id", "laterality"])["prob_abnormal"].mean().reset_index()
    check = breasts.merge(mean, on=["study_id", "laterality"], suffixes=("", "_views"))
    np.testing.assert_allclose(check["prob_abnormal"], check["prob_abnormal_views"], atol=2e-6)
    far = (breasts["prob_abnormal"] - thresholds["abnormal"]).abs() > 1e-9
    assert (breasts.loc[far, "pred_abnormal"] == (breasts.loc[far, "prob_abnormal"] > thresholds["abnormal"]).astype(int)).all()


def test_evaluate_and_audit_fairness_on_an_image_run(runs):
    d, _ = runs
    truth = pd.read_csv(d / "arch" / "images_truth.csv")
    manifest = pd.read_csv(d / "arch" / "images.csv")
    n_malignant = int(truth["malignant"].notna().sum())
    assert 0 < n_malignant < len(truth)

    r = radtrust("evaluate", "--run", "run8", *DATA, "--out", "metrics.json", "--n-bootstrap", 50, "-q", cwd=d)
    assert r.returncode == 0, r.stderr
    assert "breast AUROC normal vs abnormal" in r.stderr
    m = json.loads((d / "metrics.json").read_text())
    assert m["n_cases"] == len(manifest) and m["privacy"]["epsilon"] <= 8.0 and m["privacy"]["unit"].startswith("patient")
    assert m["per_label"]["malignant"]["n"] == n_malignant  # normal breasts have no benign/malignant answer
    assert m["per_label"]["abnormal"]["n"] == len(manifest)
    b = m["breast_level"]
    assert b["n_breasts"] == manifest.groupby(["study_id", "laterality"]).ngroups and b["n_women"] == N_WOMEN
    assert set(b["findings"]["abnormal"]["by"]) == {"density", "site", "manufacturer"}

    groups = "density,age_band,site,manufacturer"
    r = radtrust(
        "audit", "fairness", "--run", "run8", *DATA, "--out", "fairness.json", "--groups", groups,
        "--n-bootstrap", 50, "--min-cell", 5, "--min-events", 2, "-q", cwd=d,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    f = json.loads((d / "fairness.json").read_text())
    assert f["attributes"] == groups.split(",") and f["n_cases"] == len(manifest) and f["n_patients"] == N_WOMEN
    by = pd.DataFrame(f["by_group"])
    assert set(by["attribute"]) == set(groups.split(","))
    assert set(by.loc[by["attribute"] == "density", "group"]) == set(manifest["density"])
    assert set(by.loc[by["attribute"] == "manufacturer", "group"]) == set(manifest["manufacturer"])
    assert set(by.loc[by["attribute"] == "site", "group"]) == set(manifest["site"])
    for attr in groups.split(","):
        rows = by[(by["attribute"] == attr) & (by["finding"] == "malignant")]
        assert rows["n"].sum() == n_malignant, attr  # every group's counts leave out the n/a breasts
        assert by[(by["attribute"] == attr) & (by["finding"] == "abnormal")]["n"].sum() == len(manifest), attr
    assert f["privacy"]["epsilon"] <= 8.0


@pytest.fixture(scope="module")
def missing_image(workdir):
    """A copy of the archive with one image file gone, and what training on it did."""
    d = workdir
    shutil.copytree(d / "arch", d / "arch_missing")
    manifest = pd.read_csv(d / "arch_missing" / "images.csv")
    gone = d / "arch_missing" / manifest["image_path"].iloc[6]
    gone.unlink()
    ledger = d / "missing_ledger.sqlite"
    before = {p.name for p in d.iterdir()}
    r = radtrust("train-images", "--data", "arch_missing/images.csv", "--labels", "arch_missing/images_truth.csv", "--out", "run_missing", "--ledger", ledger, *TINY, cwd=d)
    after = {p.name for p in d.iterdir()}
    return r, gone, before, after, ledger


def test_missing_image_file_is_a_one_line_error(missing_image):
    r, gone, before, after, _ = missing_image
    one_line_error(r, f"{gone.resolve()}: image file not found")
    assert "run_missing" not in after and not any(n.startswith(".run_missing") for n in after)


def test_missing_image_fails_before_any_charge_or_checkpoint(workdir, missing_image):
    r, _, before, after, ledger = missing_image
    d = workdir
    assert r.returncode == 2
    assert not (d / "run_missing.checkpoint").exists()  # a checkpoint here refuses the rerun once the file is back
    if ledger.exists():  # nothing was charged: a missing image fails before the ledger is touched
        with sqlite3.connect(ledger) as con:
            assert con.execute("SELECT COUNT(*) FROM charges").fetchone()[0] == 0


def test_dicom_folder_without_labels_asks_for_them(workdir):
    d = workdir
    before = {p.name for p in d.iterdir()}
    r = radtrust("train-images", "--data", "arch/images", "--out", "run_dicom", *TINY, cwd=d)
    one_line_error(r, "no labels: pass a label file")
    assert {p.name for p in d.iterdir()} == before


def test_labels_matching_no_case_is_a_one_line_error(workdir):
    d = workdir
    (d / "other_labels.csv").write_text("case_id,abnormal,malignant\nX1,1,0\nX2,0,\n")
    before = {p.name for p in d.iterdir()}
    r = radtrust("train-images", "--data", "arch/images.csv", "--labels", "other_labels.csv", "--out", "run_nomatch", *TINY, cwd=d)
    one_line_error(r, "none of the cohort's case ids has labels")
    assert {p.name for p in d.iterdir()} == before
