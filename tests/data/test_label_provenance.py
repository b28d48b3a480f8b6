import numpy as np
import pandas as pd

from radtrust.data.schema import LABEL_SOURCE_COLUMN, LabelTable


def table(sources, source="unknown"):
    frame = pd.DataFrame({"case_id": ["a", "b", "c"], "Edema": [1, 0, None], LABEL_SOURCE_COLUMN: sources})
    return LabelTable(frame, ["Edema"], source)


def test_mixed_sources_are_kept_per_row_and_joined_in_order():
    lt = table(["rules@0.2", "expert", "rules@0.2"])
    assert lt.frame[LABEL_SOURCE_COLUMN].tolist() == ["rules@0.2", "expert", "rules@0.2"]
    assert lt.source == "rules@0.2+expert" and lt.sources == ["rules@0.2", "expert"]


def test_missing_row_sources_are_filled_with_the_given_source():
    lt = table(["expert", None, ""], source="rules@0.2")
    assert lt.frame[LABEL_SOURCE_COLUMN].tolist() == ["expert", "rules@0.2", "rules@0.2"]
    assert lt.source == "expert+rules@0.2"


def test_single_source_tables_behave_as_before():
    assert table(["x", "x", None]).frame[LABEL_SOURCE_COLUMN].tolist() == ["x"] * 3
    renamed = table(["x", "x", "x"], source="copy")  # an explicit source renames a single-source table
    assert renamed.source == "copy" and (renamed.frame[LABEL_SOURCE_COLUMN] == "copy").all()
    plain = LabelTable.from_matrix(["a"], ["Edema"], np.array([[1.0]]), "rules")
    assert plain.source == "rules" and plain.frame[LABEL_SOURCE_COLUMN].tolist() == ["rules"]


def test_subsets_keep_row_provenance():
    lt = table(["rules", "expert", "rules"])
    assert lt.aligned_to(["b", "a"]).frame[LABEL_SOURCE_COLUMN].tolist() == ["expert", "rules"]
    only_expert = lt.aligned_to(["b"])
    assert only_expert.source == "expert" and only_expert.frame[LABEL_SOURCE_COLUMN].tolist() == ["expert"]
    assert lt.select(["Edema"]).frame[LABEL_SOURCE_COLUMN].tolist() == ["rules", "expert", "rules"]
