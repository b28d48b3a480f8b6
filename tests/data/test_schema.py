import numpy as np
import pandas as pd
import pytest

from radtrust.data.schema import Cohort, LabelTable
from radtrust.errors import InputError


def frame(**cols):
    base = {"case_id": ["a", "b", "c"], "patient_id": ["p1", "p1", "p2"], "findings": ["x", "y", "z"]}
    base.update(cols)
    return pd.DataFrame({k: v for k, v in base.items() if v is not None})


def test_defaults_filled_and_ids_are_strings():
    c = Cohort(frame(case_id=[1, 2, 3]))
    assert c.case_ids == ["1", "2", "3"]
    assert (c.frame["site"] == "unknown").all()
    assert c.frame["study_id"].tolist() == ["1", "2", "3"]


@pytest.mark.parametrize(
    "cols,msg",
    [
        ({"case_id": None}, "missing required column 'case_id'"),
        ({"patient_id": None}, "missing required column 'patient_id'"),
        ({"case_id": ["a", "a", "b"]}, "row 2: duplicate case_id"),
        ({"findings": ["x", " ", "z"]}, "row 2: empty report"),
        ({"findings": None}, "no report text column"),
        ({"age": ["40", "old", "3"]}, "row 2: column 'age' is not a number"),
        ({"patient_id": ["p", None, "q"]}, "row 2: empty 'patient_id'"),
    ],
)
def test_validation_errors_name_row_or_column(cols, msg):
    with pytest.raises(InputError, match=msg):
        Cohort(frame(**cols))


def test_empty_cohort_rejected():
    with pytest.raises(InputError, match="empty"):
        Cohort(frame().iloc[:0])


def test_empty_reports_can_be_dropped_or_kept():
    f = frame(findings=["x", "", "z"])
    dropped = Cohort(f, empty_reports="drop")
    assert len(dropped) == 2 and dropped.n_dropped_empty == 1
    assert len(Cohort(f, empty_reports="keep")) == 3


def test_texts_join_sections_with_headers_and_skip_indication():
    c = Cohort(frame(impression=["i1", None, "i3"], indication=["cough", "cough", "cough"]))
    t = c.texts()
    assert t[0] == "FINDINGS: x IMPRESSION: i1"
    assert t[1] == "FINDINGS: y"
    assert all("cough" not in s for s in t)


def test_label_table_values_and_validation():
    lt = LabelTable(pd.DataFrame({"case_id": ["a", "b"], "Edema": [1, None], "Effusion": [-1, 0]}), source="x")
    v = lt.values()
    assert v[0].tolist() == [1, -1] and np.isnan(v[1, 0]) and v[1, 1] == 0
    with pytest.raises(InputError, match="row 2, column 'Edema'"):
        LabelTable(pd.DataFrame({"case_id": ["a", "b"], "Edema": [1, 2]}))
    with pytest.raises(InputError, match="duplicate case id"):
        LabelTable(pd.DataFrame({"case_id": ["a", "a"], "Edema": [1, 0]}))


def test_aligned_to_reorders_and_reports_missing():
    lt = LabelTable.from_matrix(["a", "b", "c"], ["Edema"], np.array([[1], [0], [np.nan]]), "x")
    assert lt.aligned_to(["c", "a"]).case_ids == ["c", "a"]
    with pytest.raises(InputError, match="1 of 2 cases have no labels"):
        lt.aligned_to(["a", "zzz"])
