"""De-identification at the door: the object the readers are handed, what it scrubs and counts, and what it
leaves alone."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest

from radtrust.data.fingerprint import file_fingerprint
from radtrust.data.readers import read_cohort
from radtrust.data.schema import Cohort, CohortScrubber
from radtrust.deid import DeidConfig
from radtrust.deid.door import CohortDeidentifier, deid_setting, describe
from radtrust.deid.files import deid_file
from radtrust.errors import ConfigError

TEXT = "Patient John Carrow, MRN 48213377, seen 03/04/2021. Mass at 2 o'clock, BI-RADS 4A. Hodgkin lymphoma."


def _file(tmp_path, name="r.csv"):
    p = tmp_path / name
    pd.DataFrame({"case_id": ["a", "b"], "patient_id": ["p1", "p2"], "findings": [TEXT, "Lungs clear."]}).to_csv(p, index=False)
    return p


def test_read_cohort_masks_with_the_object_it_is_handed_and_counts(tmp_path):
    deid = CohortDeidentifier(DeidConfig())
    assert isinstance(deid, CohortScrubber) and deid.summary() is None
    c = read_cohort(_file(tmp_path), deid=deid)
    t = c.frame["findings"][0]
    assert "Carrow" not in t and "48213377" not in t and "03/04/2021" not in t
    assert "[NAME]" in t and "2 o'clock" in t and "BI-RADS 4A" in t and "Hodgkin" in t
    assert c.deid["mode"] == "mask" and c.deid["counts"]["NAME"] == 1 and c.deid["n_changed"] == 1
    assert c.subset([0]).deid == c.deid  # a subset is not scrubbed twice
    assert deid.deidentify_cohort(c) is c
    assert deid.summary() == c.deid  # summary() keeps counting; take_summary() starts afresh
    assert "1 NAME" in describe(deid.take_summary()) and deid.take_summary() is None


def test_the_summary_adds_up_every_read_of_one_object_and_nothing_else(tmp_path):
    deid, other = CohortDeidentifier(mode="mask"), CohortDeidentifier(mode="mask")
    read_cohort(_file(tmp_path, "a.csv"), deid=deid)
    read_cohort(_file(tmp_path, "b.csv"), deid=deid)
    read_cohort(_file(tmp_path, "c.csv"), deid=other)
    deid.add_summary(other.take_summary())  # what a label worker's copy scrubbed, counted in its parent
    s = deid.summary()
    assert s["n_texts"] == 6 and s["counts"]["NAME"] == 3 and other.summary() is None
    assert "Carrow" not in repr(deid) and "mask" in repr(deid)


def test_off_reads_the_raw_text_and_fingerprints_ignore_the_mode(tmp_path):
    p = _file(tmp_path)
    raw = read_cohort(p, deid=None)
    assert raw.deid is None and raw.frame["findings"][0] == TEXT
    masked = read_cohort(p, deid=CohortDeidentifier())
    fake = read_cohort(p, deid=CohortDeidentifier(DeidConfig(mode="surrogate")))
    # A privacy budget belongs to the records: the same fingerprint however the text was scrubbed.
    assert file_fingerprint(p, read=raw) == file_fingerprint(p, read=masked) == file_fingerprint(p, read=fake)


def test_the_deid_keyword_is_required_and_must_be_a_deidentifier(tmp_path):
    p = _file(tmp_path)
    with pytest.raises(TypeError):
        read_cohort(p)  # no caller reads report text without saying how
    with pytest.raises(TypeError, match="deidentify_cohort"):
        read_cohort(p, deid=DeidConfig())  # the settings, not the object


def test_surrogates_follow_the_key_and_one_object_keeps_its_random_key(tmp_path):
    p = _file(tmp_path)
    outs = [read_cohort(p, deid=CohortDeidentifier(DeidConfig(mode="surrogate", key=key))).frame["findings"][0] for key in ("k1", "k1", "k2")]
    assert outs[0] == outs[1] != outs[2] and "Carrow" not in outs[2]
    one = CohortDeidentifier(mode="surrogate")
    first, again = (read_cohort(p, deid=one).frame["findings"][0] for _ in range(2))
    assert first == again  # one object, one key: the same fake across the files of one command
    copy = pickle.loads(pickle.dumps(one))  # what a label worker process gets
    assert copy.summary() is None and copy.engine is not one.engine
    assert read_cohort(p, deid=copy).frame["findings"][0] == first


def test_image_cohorts_pass_unchanged_and_the_engine_is_built_on_first_text():
    deid = CohortDeidentifier(DeidConfig())
    c = Cohort(pd.DataFrame({"case_id": ["a"], "patient_id": ["p"], "image_path": ["/x.png"]}))
    assert deid.deidentify_cohort(c) is c and deid._engine is None and deid.summary() is None


def test_deid_setting_names_the_option_and_reads_no_environment(monkeypatch):
    monkeypatch.setenv("RADTRUST_DEID", "off")
    monkeypatch.setenv("RADTRUST_DEID_KEY", "from-the-environment")
    cfg = deid_setting("surrogate", shift_dates=True)
    assert cfg.mode == "surrogate" and cfg.shift_dates and cfg.key is None  # the CLI door reads the environment
    assert deid_setting("off") is None and deid_setting(" MASK ").mode == "mask"
    with pytest.raises(ConfigError, match="--deid must be mask, surrogate or off"):
        deid_setting("bogus")


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
