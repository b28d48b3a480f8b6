"""De-identification at the door: what read_cohort hands the pipelines, and what it leaves alone."""

from __future__ import annotations

import pandas as pd

from radtrust.data.fingerprint import file_fingerprint
from radtrust.data.readers import read_cohort
from radtrust.data.schema import Cohort
from radtrust.deid import DeidConfig
from radtrust.deid.door import deidentify_cohort, describe, take_summary, using_deid
from radtrust.deid.files import deid_file

TEXT = "Patient John Carrow, MRN 48213377, seen 03/04/2021. Mass at 2 o'clock, BI-RADS 4A. Hodgkin lymphoma."


def _file(tmp_path):
    p = tmp_path / "r.csv"
    pd.DataFrame({"case_id": ["a", "b"], "patient_id": ["p1", "p2"], "findings": [TEXT, "Lungs clear."]}).to_csv(p, index=False)
    return p


def test_read_cohort_masks_by_default_and_records_counts(tmp_path):
    take_summary()
    c = read_cohort(_file(tmp_path))
    t = c.frame["findings"][0]
    assert "Carrow" not in t and "48213377" not in t and "03/04/2021" not in t
    assert "[NAME]" in t and "2 o'clock" in t and "BI-RADS 4A" in t and "Hodgkin" in t
    assert c.deid["mode"] == "mask" and c.deid["counts"]["NAME"] == 1 and c.deid["n_changed"] == 1
    assert c.subset([0]).deid == c.deid  # a subset is not scrubbed twice
    assert "1 NAME" in describe(take_summary()) and take_summary() is None


def test_off_reads_the_raw_text_and_fingerprints_ignore_the_mode(tmp_path):
    p = _file(tmp_path)
    with using_deid(None):
        raw = read_cohort(p)
    assert raw.deid is None and raw.frame["findings"][0] == TEXT
    masked = read_cohort(p)
    with using_deid(DeidConfig(mode="surrogate")):
        fake = read_cohort(p)
    # A privacy budget belongs to the records: the same fingerprint however the text was scrubbed.
    assert file_fingerprint(p, read=raw) == file_fingerprint(p, read=masked) == file_fingerprint(p, read=fake)


def test_surrogates_follow_the_key(tmp_path):
    p = _file(tmp_path)
    outs = []
    for key in ("k1", "k1", "k2"):
        with using_deid(DeidConfig(mode="surrogate", key=key)):
            outs.append(read_cohort(p).frame["findings"][0])
    assert outs[0] == outs[1] != outs[2] and "Carrow" not in outs[2]


def test_image_cohorts_pass_unchanged():
    c = Cohort(pd.DataFrame({"case_id": ["a"], "patient_id": ["p"], "image_path": ["/x.png"]}))
    assert deidentify_cohort(c, DeidConfig()) is c


def test_deid_file_writes_a_scrubbed_copy_and_counts_atomically(tmp_path):
    p = _file(tmp_path)
    out = tmp_path / "clean.parquet"
    summary = deid_file(p, out, DeidConfig())
    assert summary["counts"]["ID"] == 1 and (tmp_path / "clean.deid.json").exists()
    assert "48213377" not in pd.read_parquet(out)["findings"][0]
    assert "48213377" not in (tmp_path / "clean.deid.json").read_text()


def test_deid_file_without_patient_id_keys_on_the_case_and_keeps_the_file_columns(tmp_path):
    p = tmp_path / "cases.csv"
    pd.DataFrame({"case_id": ["a", "b"], "text": [TEXT, "Lungs clear."]}).to_csv(p, index=False)
    out = tmp_path / "out.csv"
    summary = deid_file(p, out, DeidConfig(mode="surrogate", key="k"))
    written = pd.read_csv(out)
    assert list(written.columns) == ["case_id", "text"] and summary["keyed_on"] == "case_id"
    assert "Carrow" not in written["text"][0] and written["text"][1] == "Lungs clear."
    assert "keyed per case_id" in describe(summary)
    masked = deid_file(p, tmp_path / "m.csv", DeidConfig())
    assert "keyed per" not in describe(masked) and pd.read_csv(tmp_path / "m.csv")["text"][0].startswith("Patient [NAME]")


def test_deid_file_scrubs_a_mapped_text_column_under_its_own_name(tmp_path):
    p = tmp_path / "export.csv"
    pd.DataFrame({"acc": ["a"], "pid": ["p1"], "report": [TEXT]}).to_csv(p, index=False)
    out = tmp_path / "out.csv"
    deid_file(p, out, DeidConfig(), column_map={"case_id": "acc", "patient_id": "pid", "findings": "report"})
    written = pd.read_csv(out)
    assert list(written.columns) == ["acc", "pid", "report"]
    assert "Carrow" not in written["report"][0] and "48213377" not in out.read_text()
