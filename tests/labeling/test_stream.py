"""Tests for chunked, parallel labelling of large report files (synthetic reports only)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radtrust.data.io import write_table
from radtrust.data.readers import read_cohort
from radtrust.data.schema import Cohort
from radtrust.deid.door import CohortDeidentifier
from radtrust.errors import ConfigError, InputError
from radtrust.labeling.rules import RuleLabeler
from radtrust.labeling.stream import _report_texts, label_stream
from radtrust.synth.chest import ChestSynthConfig, synth_chest


def label_file(src, vocab, out):
    """The reference: read the whole file as one masked Cohort, label it, write it (independent of streaming)."""
    table = RuleLabeler(vocab).label(read_cohort(src, deid=CohortDeidentifier()))
    write_table(table.frame, out)


@pytest.fixture(scope="module")
def cohort() -> Cohort:
    return synth_chest(ChestSynthConfig(n=400, seed=5))[0]


def _frame(out) -> pd.DataFrame:
    out = str(out)
    if out.endswith(".parquet"):
        return pd.read_parquet(out)
    if out.endswith(".jsonl"):
        return pd.read_json(out, lines=True, dtype=False)
    return pd.read_csv(out, dtype={"case_id": str})


@pytest.mark.parametrize("in_suffix", [".csv", ".parquet", ".jsonl"])
@pytest.mark.parametrize("out_suffix", [".csv", ".parquet"])
def test_same_output_as_label_file(tmp_path, cohort, in_suffix, out_suffix):
    src = tmp_path / f"reports{in_suffix}"
    write_table(cohort.frame, src)
    ref, out = tmp_path / f"ref{out_suffix}", tmp_path / f"out{out_suffix}"
    label_file(src, "chexpert14", ref)
    deid = CohortDeidentifier()
    res = label_stream(src, out, "chexpert14", chunk_size=97, workers=0, deid=deid)
    assert res.n_reports == len(cohort) and res.n_chunks == 5
    assert res.deid["n_texts"] > len(cohort) and deid.take_summary() == res.deid
    if out_suffix == ".csv":
        assert out.read_bytes() == ref.read_bytes()
    else:
        pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(ref))


def test_worker_processes_keep_input_order(tmp_path, cohort):
    src = tmp_path / "reports.parquet"
    write_table(cohort.frame, src)
    ref, out = tmp_path / "ref.csv", tmp_path / "out.csv"
    label_file(src, "chestxray14", ref)
    deid = CohortDeidentifier()
    res = label_stream(src, out, "chestxray14", chunk_size=50, workers=2, deid=deid)
    assert res.workers == 2 and res.n_chunks == 8
    # the workers scrub with copies of the object; what they replaced is counted in it
    assert deid.summary() == res.deid and res.deid["n_texts"] > len(cohort)
    assert out.read_bytes() == ref.read_bytes()


def test_report_texts_match_cohort_texts(cohort):
    frame = cohort.frame.copy()
    frame.loc[0, "findings"] = None
    frame.loc[1, "impression"] = "   "
    frame.loc[2, "findings"] = "  padded  "
    c = Cohort(frame)
    sections = {s: c.frame[s].tolist() for s in ("findings", "impression") if s in c.frame}
    assert _report_texts(sections) == c.texts()


def test_no_output_left_on_failure(tmp_path, cohort):
    frame = cohort.frame.copy()
    frame.loc[350, "case_id"] = frame.loc[10, "case_id"]  # a duplicate in a later chunk
    src = tmp_path / "reports.csv"
    write_table(frame, src)
    out = tmp_path / "labels.csv"
    with pytest.raises(InputError, match=r"row 351: duplicate case_id \(first seen in row 11\)"):
        label_stream(src, out, chunk_size=100, workers=0, deid=None)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [src]  # no temporary file either


def test_duplicate_within_a_chunk_names_the_file_row(tmp_path, cohort):
    frame = cohort.frame.copy()
    frame.loc[260, "case_id"] = frame.loc[250, "case_id"]
    src = tmp_path / "reports.parquet"
    write_table(frame, src)
    with pytest.raises(InputError, match=r"row 261: duplicate case_id"):
        label_stream(src, tmp_path / "out.csv", chunk_size=100, workers=0, deid=None)


def test_empty_reports_follow_the_option(tmp_path, cohort):
    frame = cohort.frame.copy()
    frame.loc[[120, 121], ["findings", "impression"]] = None
    src = tmp_path / "reports.csv"
    write_table(frame, src)
    with pytest.raises(InputError, match=r"row 121: empty report"):
        label_stream(src, tmp_path / "a.csv", chunk_size=100, workers=0, deid=None)
    res = label_stream(src, tmp_path / "b.csv", chunk_size=100, workers=0, empty_reports="drop", deid=None)
    assert res.n_reports == len(frame) - 2 and res.n_dropped_empty == 2
    res = label_stream(src, tmp_path / "c.csv", chunk_size=100, workers=0, empty_reports="keep", deid=None)
    kept = _frame(tmp_path / "c.csv")
    assert res.n_reports == len(frame)
    assert kept.iloc[[120, 121]].drop(columns=["case_id", "label_source"]).isna().all().all()


def test_column_map_and_jsonl_output(tmp_path, cohort):
    frame = cohort.frame.rename(columns={"case_id": "accession", "findings": "body"})
    src = tmp_path / "reports.jsonl"
    write_table(frame, src)
    out = tmp_path / "labels.jsonl"
    label_stream(src, out, "chexpert14", chunk_size=150, workers=0, column_map=["case_id=accession", "findings=body"], deid=None)
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["case_id"] for r in got] == frame["accession"].tolist()


def test_user_errors(tmp_path, cohort):
    src = tmp_path / "reports.csv"
    write_table(cohort.frame.drop(columns=["findings", "impression"]), src)
    with pytest.raises(InputError, match="no report text column"):
        label_stream(src, tmp_path / "o.csv", workers=0, deid=None)
    with pytest.raises(InputError, match="no such file"):
        label_stream(tmp_path / "missing.csv", tmp_path / "o.csv", workers=0, deid=None)
    with pytest.raises(InputError, match="unknown vocabulary"):
        label_stream(src, tmp_path / "o.csv", "radlex", workers=0, deid=None)
    with pytest.raises(ConfigError):
        label_stream(src, tmp_path / "o.csv", chunk_size=0, deid=None)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not a parquet file at all")
    with pytest.raises(InputError, match="cannot parse as parquet"):
        label_stream(bad, tmp_path / "o.csv", workers=0, deid=None)
    assert not (tmp_path / "o.csv").exists()


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 60), chunk=st.integers(1, 70))
def test_any_chunking_gives_the_same_table(tmp_path_factory, n, chunk):
    d = tmp_path_factory.mktemp("chunks")
    cohort, _ = synth_chest(ChestSynthConfig(n=n, seed=n))
    src = d / "r.parquet"
    write_table(cohort.frame, src)
    label_stream(src, d / "a.csv", chunk_size=chunk, workers=0, deid=None)
    label_stream(src, d / "b.csv", chunk_size=max(1, n), workers=0, deid=None)
    assert (d / "a.csv").read_bytes() == (d / "b.csv").read_bytes()
    assert np.array_equal(pd.read_csv(d / "a.csv", dtype={"case_id": str})["case_id"], cohort.frame["case_id"])


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("case_id,patient_id,text\na,p,ok\nb,p,épanchement\n".encode("latin-1"), "line 3: text is not valid UTF-8"),
        (b"case_id,patient_id,text,age\na,p,effusion,forty\n", "row 1: column 'age' is not a number"),
        (b"", "the file is empty"),
        (b"case_id,patient_id,text\n", "no rows"),
    ],
)
def test_same_user_errors_as_label_file(tmp_path, content, match):
    src = tmp_path / "r.csv"
    src.write_bytes(content)
    with pytest.raises(InputError, match=match) as ours:
        label_stream(src, tmp_path / "o.csv", workers=0, deid=None)
    with pytest.raises(InputError) as theirs:
        read_cohort(src, deid=None)
    if "UTF-8" in match or "age" in match:
        assert str(ours.value) == str(theirs.value)
    assert not (tmp_path / "o.csv").exists()
