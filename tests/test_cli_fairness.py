"""``radtrust audit fairness`` and the mitigation flags of ``radtrust train``, as a user runs them."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from test_cli import TINY, radtrust  # tests/ is on sys.path (pytest rootdir-relative import)
from test_cli_budget import one_line_error


@pytest.fixture(scope="module")
def fair_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("fair")
    args = ["synth", "chest", "--n", 400, "--seed", 5, "--bias-finding", "Edema", "--bias-group", "sex=F", "--bias-site", "site_B"]
    assert radtrust(*args, "--out", "c.csv", cwd=d).returncode == 0
    assert radtrust("synth", "chest", "--n", 300, "--seed", 6, "--out", "t.csv", cwd=d).returncode == 0
    assert radtrust("label", "c.csv", "--out", "labels.csv", cwd=d).returncode == 0
    truth = pd.read_csv(d / "c.truth.csv")
    truth.head(80).to_csv(d / "reviewed.csv", index=False)
    r = radtrust(
        "train", "--data", "c.csv", "--labels", "labels.csv", "--out", "run", *TINY, "--findings", "Edema,Cardiomegaly,Pleural Effusion",
        "--groups", "sex*site", "--mitigation", "reweight", "--postprocess", "equalized_odds", "--validation-labels", "reviewed.csv", cwd=d,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return d


def test_train_with_mitigation_writes_fairness_and_privacy_components(fair_dir):
    f = json.loads((fair_dir / "run" / "fairness.json").read_text())
    assert f["groups"] == "sex*site" and f["mitigation"] == "reweight" and f["postprocess"]["constraint"] == "equalized_odds"
    p = json.loads((fair_dir / "run" / "privacy.json").read_text())
    assert abs(p["epsilon"] - sum(c["epsilon"] for c in p["components"])) < 1e-9
    assert json.loads((fair_dir / "run" / "run.json").read_text())["n_validation"] == 80


def test_audit_fairness_writes_json_plot_and_report(fair_dir):
    d = fair_dir
    r = radtrust(
        "audit", "fairness", "--run", "run", "--data", "t.csv", "--labels", "t.truth.csv", "--groups", "sex,age_band,site,sex*age_band",
        "--n-bootstrap", 200, "--out", "fairness.json", "--plot", "forest.png", "--report", "fairness.html", "-q", cwd=d,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    a = json.loads((d / "fairness.json").read_text())
    assert a["attributes"] == ["sex", "age_band", "site", "sex*age_band"] and a["n_cases"] == 300
    rows = pd.DataFrame(a["by_group"])
    assert set(rows["attribute"]) == {"sex", "age_band", "site", "sex*age_band"}
    small = rows[rows["n"] < 30]
    assert (small["tpr_status"] == "too small to judge").all() and small["tpr"].isna().all()
    assert {"tpr", "fpr", "auroc", "underdiagnosis_rate"} & set(pd.DataFrame(a["tests"])["metric"])
    assert all(t["p_adjusted"] >= t["p_value"] - 1e-12 for t in a["tests"] if t["p_value"] is not None)
    assert {x["group_column"] for x in a["adjusted_disparities"]} == {"sex", "age_band", "site"}
    assert (d / "forest.png").read_bytes()[:4] == b"\x89PNG"
    html = (d / "fairness.html").read_text()
    assert "Underdiagnosis rate" in html and "patient-clustered" in html
    import re

    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)
    ids = pd.read_csv(d / "t.csv", usecols=["case_id", "patient_id"])
    assert not any(x in text for x in [*ids["case_id"], *ids["patient_id"]])  # aggregates only


@pytest.mark.parametrize(
    "extra, needle",
    [(["--groups", "sex,scanner"], "'scanner'"), (["--correction", "bonferroni"], "--correction"), (["--plot-finding", "Nope", "--plot", "p.png"], "Nope")],
)
def test_audit_bad_input_one_line_exit_2_nothing_written(fair_dir, extra, needle):
    d = fair_dir
    r = radtrust("audit", "fairness", "--run", "run", "--data", "t.csv", "--labels", "t.truth.csv", "--n-bootstrap", 50, "--out", "bad.json", *extra, "-q", cwd=d)
    one_line_error(r, needle)
    assert not (d / "bad.json").exists() and not (d / "p.png").exists()
