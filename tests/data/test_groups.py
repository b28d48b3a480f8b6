"""Patient groups: age bands, single attributes, intersections and spec parsing, checked on known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radtrust.data.groups import (
    UNKNOWN,
    age_band_labels,
    age_bands,
    attribute_columns,
    group_codes,
    group_table,
    group_values,
    parse_age_cuts,
    parse_group_spec,
)
from radtrust.errors import InputError


# ---------------------------------------------------------------------------- age bands
def test_age_band_labels_default_cuts():
    assert age_band_labels((40, 60, 80)) == ["<40", "40-59", "60-79", "80+"]


def test_age_band_labels_non_integer_cuts_and_empty():
    assert age_band_labels((18.5, 65)) == ["<18.5", "18.5-<65", "65+"]
    assert age_band_labels(()) == ["all ages"]
    assert age_band_labels((50,)) == ["<50", "50+"]


def test_age_bands_edges_are_lower_inclusive():
    ages = [0, 39.9, 40, 59, 59.99, 60, 79, 80, 105, np.nan]
    got = list(age_bands(np.array(ages, dtype=float), (40, 60, 80)))
    assert got == ["<40", "<40", "40-59", "40-59", "40-59", "60-79", "60-79", "80+", "80+", UNKNOWN]


def test_age_bands_accepts_strings_and_none_as_missing():
    s = pd.Series(["45", None, "not an age", 81], dtype=object)
    assert list(age_bands(s)) == ["40-59", UNKNOWN, UNKNOWN, "80+"]


@pytest.mark.parametrize("cuts", [(40, 40, 80), (60, 40), (40, 60, 59)])
def test_age_bands_non_increasing_cuts_raise(cuts):
    with pytest.raises(InputError, match="increase strictly"):
        age_bands(np.array([50.0]), cuts)


def test_age_bands_custom_cuts_against_independent_binning():
    rng = np.random.default_rng(3)
    ages = rng.uniform(0, 100, 500).round(1)
    cuts = (30, 50, 70)
    got = age_bands(ages, cuts)
    labels = np.array(["<30", "30-49", "50-69", "70+"])
    expected = labels[(ages >= 30).astype(int) + (ages >= 50) + (ages >= 70)]
    assert (got == expected).all()


# ---------------------------------------------------------------------------- group values
@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sex": ["F", "M", None, "F", " ", "M"],
            "age": [65, 30, 85, np.nan, 40, 59],
            "site": ["a", "b", "a", "b", "a", None],
        }
    )


def test_group_values_single_column_missing_and_blank_become_unknown(frame):
    assert list(group_values(frame, "sex")) == ["F", "M", UNKNOWN, "F", UNKNOWN, "M"]
    assert list(group_values(frame, "site")) == ["a", "b", "a", "b", "a", UNKNOWN]


def test_group_values_age_band_derived_from_age(frame):
    assert list(group_values(frame, "age_band")) == ["60-79", "<40", "80+", UNKNOWN, "40-59", "40-59"]
    assert list(group_values(frame, "age_band", age_cuts=(50,))) == ["50+", "<50", "50+", UNKNOWN, "<50", "50+"]


def test_group_values_uses_existing_age_band_column():
    f = pd.DataFrame({"age_band": ["young", "old"], "age": [90, 10]})
    assert list(group_values(f, "age_band")) == ["young", "old"]


def test_group_values_intersection(frame):
    got = list(group_values(frame, "sex*age_band"))
    assert got == ["F & 60-79", "M & <40", f"{UNKNOWN} & 80+", f"F & {UNKNOWN}", f"{UNKNOWN} & 40-59", "M & 40-59"]
    three = group_values(frame, "sex*site*age_band")
    assert three[0] == "F & a & 60-79"


def test_group_values_missing_column_names_it(frame):
    with pytest.raises(InputError, match="'race'") as e:
        group_values(frame, "race", origin="my data")
    assert "my data" in str(e.value)
    with pytest.raises(InputError, match="'insurer'"):
        group_values(frame, "sex*insurer")


def test_group_values_age_band_without_age_column():
    with pytest.raises(InputError, match="'age'"):
        group_values(pd.DataFrame({"sex": ["F"]}), "age_band")


def test_group_values_empty_attribute(frame):
    with pytest.raises(InputError):
        group_values(frame, "*")


def test_group_values_numeric_column_as_strings():
    assert list(group_values(pd.DataFrame({"density": [1, 2, 4]}), "density")) == ["1", "2", "4"]
    f = pd.DataFrame({"density": pd.array([1, None, 4], dtype="Int64")})
    assert list(group_values(f, "density")) == ["1", UNKNOWN, "4"]
    # NB: a plain int column with a gap is float64 in pandas and comes out as "1.0", "4.0" (not checked here).


def test_group_table_and_codes(frame):
    t = group_table(frame, ["sex", "sex*age_band"])
    assert list(t.columns) == ["sex", "sex*age_band"]
    assert t.index.equals(frame.index)
    codes, names = group_codes(t["sex"].to_numpy())
    assert names == sorted(["F", "M", UNKNOWN])
    assert [names[c] for c in codes] == list(t["sex"])


def test_attribute_columns():
    assert attribute_columns("sex*age_band") == ["sex", "age_band"]
    assert attribute_columns("site") == ["site"]


# ---------------------------------------------------------------------------- parsing
def test_parse_group_spec():
    assert parse_group_spec("sex,age_band,sex*age_band") == ["sex", "age_band", "sex*age_band"]
    assert parse_group_spec(" sex , ,sex * age_band,") == ["sex", "sex*age_band"]
    assert parse_group_spec(["race", "", " site "]) == ["race", "site"]
    assert parse_group_spec(None) == []


def test_parse_age_cuts():
    assert parse_age_cuts(None) == (40.0, 60.0, 80.0)
    assert parse_age_cuts("30, 50,70") == (30.0, 50.0, 70.0)
    assert parse_age_cuts([18, 65]) == (18.0, 65.0)
    with pytest.raises(InputError, match="forty"):
        parse_age_cuts("forty,60")
