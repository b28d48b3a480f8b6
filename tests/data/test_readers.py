import tarfile

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radtrust.data.readers import parse_column_map, read_cohort, read_labels, read_openi
from radtrust.data.schema import Cohort, CohortScrubber
from radtrust.errors import InputError

XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation><uId id="CXR{n}"/><MedlineCitation><Article><Abstract>
<AbstractText Label="COMPARISON">None.</AbstractText>
<AbstractText Label="INDICATION">Cough</AbstractText>
<AbstractText Label="FINDINGS">{findings}</AbstractText>
<AbstractText Label="IMPRESSION">{impression}</AbstractText>
</Abstract></Article></MedlineCitation>
<MeSH><major>Cardiomegaly/mild</major><minor>Lung</minor></MeSH>
<parentImage id="CXR{n}_1_IM-0001-1001"/></eCitation>"""


def write_openi_folder(root):
    d = root / "ecgen-radiology"
    d.mkdir(parents=True)
    (d / "2.xml").write_text(XML.format(n=2, findings="Mild cardiomegaly.", impression="No acute disease."))
    (d / "10.xml").write_text(XML.format(n=10, findings="", impression=""))
    return root


def test_openi_folder_and_tgz(tmp_path):
    root = write_openi_folder(tmp_path / "openi")
    c = read_openi(root, empty_reports="drop")
    assert c.case_ids == ["CXR2"] and c.n_dropped_empty == 1
    assert c.frame.loc[0, "mesh_major"] == "Cardiomegaly/mild"
    assert c.frame.loc[0, "patient_id"] == "CXR2" and c.frame.loc[0, "site"] == "iu"
    tgz = tmp_path / "r.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(root / "ecgen-radiology", arcname="ecgen-radiology")
    c2 = read_cohort(tgz, empty_reports="keep", deid=None)
    assert c2.case_ids == ["CXR2", "CXR10"]  # natural order of file names
    with pytest.raises(InputError, match="row 2: empty report"):
        read_cohort(tgz, deid=None)


def test_openi_bad_xml(tmp_path):
    (tmp_path / "1.xml").write_text("<eCitation><uId id='x'/>")
    with pytest.raises(InputError, match="not well-formed XML"):
        read_openi(tmp_path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_table_formats_with_column_map(tmp_path, suffix):
    f = pd.DataFrame({"acc": ["a1", "a2"], "mrn": ["m1", "m1"], "report": ["Effusion.", "Clear."], "age": [50, 60]})
    path = tmp_path / f"r{suffix}"
    if suffix == ".csv":
        f.to_csv(path, index=False)
    elif suffix == ".parquet":
        f.to_parquet(path)
    else:
        f.to_json(path, orient="records", lines=True)
    c = read_cohort(path, ["case_id=acc", "patient_id=mrn", "text=report"], deid=None)
    assert c.case_ids == ["a1", "a2"] and c.texts() == ["Effusion.", "Clear."]


class _Upper:
    """A stand-in de-identifier: the readers only need its deidentify_cohort method (the data layer knows no more)."""

    def __init__(self):
        self.seen = 0

    def deidentify_cohort(self, cohort: Cohort) -> Cohort:
        self.seen += 1
        out = Cohort(cohort.frame.assign(text=cohort.frame["text"].str.upper()), cohort.source, "keep")
        out.deid = {"mode": "upper"}
        return out


def test_the_text_goes_through_the_deidentifier_handed_in_and_none_means_raw(tmp_path):
    p = tmp_path / "r.csv"
    pd.DataFrame({"case_id": ["a"], "patient_id": ["p"], "text": ["Effusion."]}).to_csv(p, index=False)
    scrubber = _Upper()
    assert isinstance(scrubber, CohortScrubber)
    c = read_cohort(p, deid=scrubber)
    assert c.texts() == ["EFFUSION."] and c.deid == {"mode": "upper"} and scrubber.seen == 1
    assert read_cohort(p, deid=None).texts() == ["Effusion."]
    with pytest.raises(TypeError):
        read_cohort(p)  # the keyword is required: no reader of report text forgets it
    with pytest.raises(TypeError, match="deidentify_cohort"):
        read_cohort(p, deid="mask")


def test_missing_file_bad_suffix_non_utf8_and_empty(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_cohort(tmp_path / "nope.csv", deid=None)
    (tmp_path / "x.xlsx").write_text("x")
    with pytest.raises(InputError, match="unknown file type"):
        read_cohort(tmp_path / "x.xlsx", deid=None)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"case_id,patient_id,text\na,p,caf\xe9\n")
    with pytest.raises(InputError, match="line 2: text is not valid UTF-8"):
        read_cohort(bad, deid=None)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="empty"):
        read_cohort(empty, deid=None)
    with pytest.raises(InputError, match="column map names 'nope'"):
        p = tmp_path / "ok.csv"
        pd.DataFrame({"case_id": ["a"], "patient_id": ["p"], "text": ["t"]}).to_csv(p, index=False)
        read_cohort(p, ["text=nope"], deid=None)


def test_read_labels_detects_filename_id(tmp_path):
    p = tmp_path / "gold.csv"
    p.write_text("filename,Edema,normal\nCXR1,1,0\nCXR2,0,1\n")
    lt = read_labels(p)
    assert lt.case_ids == ["CXR1", "CXR2"] and lt.findings == ["Edema", "normal"]
    with pytest.raises(InputError, match="no id column 'uid'"):
        read_labels(p, id_column="uid")


@given(st.lists(st.text(min_size=1, max_size=8).filter(lambda s: "," not in s and "=" not in s and s.strip() == s), min_size=1, max_size=4))
@settings(max_examples=50, deadline=None)
def test_parse_column_map_roundtrip(names):
    items = [f"k{i}={n}" for i, n in enumerate(names)]
    assert parse_column_map(items) == {f"k{i}": n for i, n in enumerate(names)}


def test_parse_column_map_rejects_garbage():
    with pytest.raises(InputError):
        parse_column_map(["case_id"])


def test_a_headerless_file_is_refused_without_quoting_its_first_row(tmp_path):
    """Without a header row the first row's cells become column names: the error gives their number,
    never the text or identifiers in them."""
    p = tmp_path / "nohdr.csv"
    p.write_text('c1,p1,"Quillon Zarkovsky MRN 90817263. Lungs clear."\nc2,p2,"No effusion."\n')
    with pytest.raises(InputError) as e:
        read_cohort(p, deid=None)
    msg = str(e.value)
    assert "missing required column 'case_id'" in msg and "3 columns" in msg
    assert "Zarkovsky" not in msg and "90817263" not in msg and "c1" not in msg
