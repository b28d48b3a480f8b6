"""Patient groups for audits and mitigation: single attributes, age bands and intersections.

A group attribute is a cohort column (``sex``, ``race``, ``site``, a mammography ``density``, ...) or
``age_band``, derived from ``age`` with configurable cut points. An intersection (``sex*age_band``) is a
group attribute whose values are the combinations ("F & 60-79"). Missing values become ``unknown``: a
patient whose sex was not recorded is still a patient, and hiding them would hide how the model does for
them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from radtrust.errors import InputError

DEFAULT_AGE_CUTS: tuple[float, ...] = (40.0, 60.0, 80.0)
UNKNOWN = "unknown"
INTERSECTION_SEP = "*"


def _fmt(x: float) -> str:
    return f"{x:g}"


def age_band_labels(cuts: Sequence[float]) -> list[str]:
    """Band names for ascending cut points: (40, 60, 80) → ``<40``, ``40-59``, ``60-79``, ``80+``.

    Cuts are lower-inclusive, so 60 falls in ``60-79``; an integer upper bound is shown as the last whole
    year of the band, which is how clinicians read age bands.
    """
    cuts = [float(c) for c in cuts]
    if not cuts:
        return ["all ages"]
    labels = [f"<{_fmt(cuts[0])}"]
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        upper = _fmt(hi - 1) if float(hi).is_integer() and float(lo).is_integer() else f"<{_fmt(hi)}"
        labels.append(f"{_fmt(lo)}-{upper}")
    labels.append(f"{_fmt(cuts[-1])}+")
    return labels


def age_bands(age: pd.Series | np.ndarray, cuts: Sequence[float] = DEFAULT_AGE_CUTS) -> np.ndarray:
    """Age band per case (object array); missing age → ``unknown``."""
    cuts = [float(c) for c in cuts]
    if any(b <= a for a, b in zip(cuts[:-1], cuts[1:])):
        raise InputError(f"age cut points must increase strictly, got {', '.join(map(_fmt, cuts))}")
    age = pd.to_numeric(pd.Series(np.asarray(age, dtype=object)), errors="coerce").to_numpy(dtype=float)
    labels = np.array(age_band_labels(cuts), dtype=object)
    idx = np.searchsorted(np.asarray(cuts), age, side="right")
    out = labels[np.clip(idx, 0, len(labels) - 1)]
    out[np.isnan(age)] = UNKNOWN
    return out


def parse_group_spec(spec: str | Sequence[str] | None) -> list[str]:
    """``"sex,age_band,sex*age_band"`` → ``["sex", "age_band", "sex*age_band"]`` (empty entries dropped)."""
    if spec is None:
        return []
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    return [x.strip().replace(" ", "") for x in items if x and x.strip()]


def parse_age_cuts(value: str | Sequence[float] | None) -> tuple[float, ...]:
    if value is None:
        return DEFAULT_AGE_CUTS
    if isinstance(value, str):
        try:
            return tuple(float(x) for x in value.split(",") if x.strip())
        except ValueError:
            raise InputError(f"`age_cuts` must be numbers separated by commas, got '{value}'") from None
    return tuple(float(x) for x in value)


def attribute_columns(attribute: str) -> list[str]:
    """The cohort columns an attribute is made of: ``sex*age_band`` → ``["sex", "age_band"]``."""
    return [c for c in attribute.split(INTERSECTION_SEP) if c]


def available(frame: pd.DataFrame, attribute: str) -> bool:
    """Whether the cohort has the columns an attribute needs (``age_band`` is made from ``age``)."""
    return all(c in frame.columns or (c == "age_band" and "age" in frame.columns) for c in attribute_columns(attribute))


def group_values(
    frame: pd.DataFrame,
    attribute: str,
    age_cuts: Sequence[float] = DEFAULT_AGE_CUTS,
    origin: str = "cohort",
) -> np.ndarray:
    """Each case's value of ``attribute`` (object array of strings; intersections joined with `` & ``)."""
    parts = []
    for col in attribute_columns(attribute):
        if col == "age_band" and "age_band" not in frame.columns:
            if "age" not in frame.columns:
                raise InputError(f"{origin}: group 'age_band' needs an 'age' column (columns: {', '.join(map(str, frame.columns[:15]))})")
            parts.append(age_bands(frame["age"], age_cuts))
            continue
        if col not in frame.columns:
            raise InputError(f"{origin}: no column '{col}' to group by (columns: {', '.join(map(str, frame.columns[:15]))})")
        raw = frame[col]
        if pd.api.types.is_float_dtype(raw) and raw.dropna().apply(float.is_integer).all():
            raw = raw.astype("Int64")  # a code column with gaps is stored as float: show 4, not 4.0
        vals = raw.astype("string").fillna(UNKNOWN).str.strip().replace("", UNKNOWN)
        parts.append(vals.to_numpy(dtype=object))
    if not parts:
        raise InputError(f"{origin}: empty group attribute '{attribute}'")
    out = parts[0].astype(object)
    for p in parts[1:]:
        out = np.array([f"{a} & {b}" for a, b in zip(out, p)], dtype=object)
    return out


def group_table(
    frame: pd.DataFrame,
    attributes: Sequence[str],
    age_cuts: Sequence[float] = DEFAULT_AGE_CUTS,
    origin: str = "cohort",
) -> pd.DataFrame:
    """One column per attribute (named as the attribute), one row per case."""
    return pd.DataFrame({a: group_values(frame, a, age_cuts, origin) for a in attributes}, index=frame.index)


def group_codes(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Integer code per case and the sorted group names (for training-time mitigation)."""
    names, codes = np.unique(np.asarray(values, dtype=str), return_inverse=True)
    return codes.astype(np.int64), [str(x) for x in names]
