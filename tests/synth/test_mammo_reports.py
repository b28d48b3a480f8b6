"""The synthetic mammography report cohort: schema, determinism, truth consistency and files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from radtrust.data.schema import Cohort
from radtrust.errors import ConfigError, InputError
from radtrust.labeling.mammo import MAMMO_COLUMNS, MAMMO_FINDINGS, normalise_mammo_table
from radtrust.synth.mammo_reports import (
    TRUTH_SOURCE,
    MammoReportSynthConfig,
    synth_mammo_reports,
    write_synth_mammo_reports,
)

N = 800


@pytest.fixture(scope="module")
def base():
    return synth_mammo_reports(MammoReportSynthConfig(n=N, seed=3))


def _findings(truth: pd.DataFrame, side: str | None = None) -> np.ndarray:
    cols = [c for c in MAMMO_FINDINGS if side is None or c.startswith(side)]
    return truth[cols].astype(int).to_numpy().sum(axis=1)


def test_schema(base):
    cohort, truth = base
    assert isinstance(cohort, Cohort) and len(cohort) == N
    for col in ("case_id", "patient_id", "site", "exam", "indication", "comparison", "findings", "impression", "text", "age", "sex"):
        assert col in cohort.frame.columns
    assert list(truth.columns) == [*MAMMO_COLUMNS, "label_source"]
    assert (truth["label_source"] == TRUTH_SOURCE).all()
    assert truth["case_id"].tolist() == cohort.case_ids
    assert not set(MAMMO_FINDINGS) & set(cohort.frame.columns)  # the truth is never a cohort column
    normalise_mammo_table(truth)  # valid table shape
    assert set(truth["birads"].astype(int)) == set(range(7))
    assert set(truth["density"]) == set("ABCD")
    assert set(truth["laterality"]) == {"L", "R", "B"}
    assert set(np.unique(truth[list(MAMMO_FINDINGS)].astype(int).to_numpy())) == {0, 1}
    assert cohort.frame["site"].nunique() == 4


def test_deterministic_per_seed():
    a_c, a_t = synth_mammo_reports(MammoReportSynthConfig(n=150, seed=11))
    b_c, b_t = synth_mammo_reports(MammoReportSynthConfig(n=150, seed=11))
    c_c, _ = synth_mammo_reports(MammoReportSynthConfig(n=150, seed=12))
    pd.testing.assert_frame_equal(a_c.frame, b_c.frame)
    pd.testing.assert_frame_equal(a_t, b_t)
    assert not a_c.frame["findings"].equals(c_c.frame["findings"])


def test_birads_consistency(base):
    _, truth = base
    b = truth["birads"].astype(int).to_numpy()
    n_find = _findings(truth)
    assert (n_find[b == 1] == 0).all()  # negative: nothing found
    for cat in (0, 2, 3, 4, 5, 6):
        assert (n_find[b == cat] >= 1).all(), cat  # a finding explains every other assessment


def test_unimaged_breast_has_no_findings(base):
    _, truth = base
    lat = truth["laterality"].to_numpy()
    assert (_findings(truth, "right")[lat == "L"] == 0).all()
    assert (_findings(truth, "left")[lat == "R"] == 0).all()


def test_reports_are_varied_and_carry_traps(base):
    cohort, truth = base
    f = cohort.frame
    body = (f["findings"].fillna("") + " " + f["impression"].fillna("") + " " + f["text"].fillna("")).str.lower()
    # several BI-RADS and density forms
    assert body.str.contains(r"bi-?rads\s*\d", regex=True).mean() > 0.3
    assert body.str.contains(r"category \d", regex=True).any() and body.str.contains("assessment: negative.").any()
    assert body.str.contains("heterogeneously dense").any() and body.str.contains(r"density:? (?:category )?[1-4]", regex=True).any()
    assert body.str.contains(r"acr [a-d]\b", regex=True).any()
    assert body.str.contains("o'clock").any() and body.str.contains(r"\d mm", regex=True).any()
    assert body.str.contains("right breast:").any()
    # history that names a finding although the truth has none
    hist = (f["indication"].fillna("") + " " + f["text"].fillna("").str.extract(r"CLINICAL HISTORY:([^\n]*)", expand=False).fillna("")).str.lower()
    trap = hist.str.contains(r"mass|calcification|asymmetry|lump|cancer", regex=True) & (_findings(truth) == 0)
    assert trap.sum() > 10
    # some sites give the exam in a column, some in the text only
    assert f["exam"].notna().any() and f["exam"].isna().any()


def test_label_noise_changes_text_not_truth():
    c0, t0 = synth_mammo_reports(MammoReportSynthConfig(n=300, seed=5))
    c1, t1 = synth_mammo_reports(MammoReportSynthConfig(n=300, seed=5, label_noise=0.5))
    pd.testing.assert_frame_equal(t0, t1)
    assert not c0.frame["findings"].fillna("").equals(c1.frame["findings"].fillna(""))


def test_write_files(tmp_path):
    cfg = MammoReportSynthConfig(n=60, seed=2)
    cohort_path, truth_path = write_synth_mammo_reports(cfg, tmp_path / "mammo.csv")
    assert cohort_path.exists() and truth_path.name == "mammo.truth.csv"
    meta = json.loads((tmp_path / "mammo.meta.json").read_text())
    assert meta["config"]["seed"] == 2 and meta["n_cases"] == 60 and meta["truth_file"] == "mammo.truth.csv"
    truth = normalise_mammo_table(pd.read_csv(truth_path), str(truth_path))
    _, expected = synth_mammo_reports(cfg)
    assert truth["birads"].tolist() == expected["birads"].tolist()
    assert len(pd.read_csv(cohort_path)) == 60
    with pytest.raises(InputError):
        write_synth_mammo_reports(cfg, tmp_path / "mammo.txt")


@pytest.mark.parametrize("kw", [{"n": 0}, {"n_sites": 0}, {"n_sites": 27}, {"typo_scale": -1}, {"label_noise": 1.5}])
def test_bad_config(kw):
    with pytest.raises(ConfigError):
        MammoReportSynthConfig(**kw)


def test_many_sites():
    cohort, _ = synth_mammo_reports(MammoReportSynthConfig(n=200, seed=1, n_sites=7))
    assert cohort.frame["site"].nunique() == 7
