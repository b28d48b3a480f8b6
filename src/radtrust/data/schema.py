"""The two tables that flow through every radtrust stage: the Cohort and the Label table.

Readers convert *into* these; nothing downstream knows which file format the data came from.

* **Cohort**: one row per report, or per image. Required: ``case_id`` (unique), ``patient_id``.
  Optional with defaults: ``study_id`` (= case_id), ``site`` (= "unknown"). Report text lives in the
  sections ``findings``, ``impression``, ``indication``, ``comparison`` or a single ``text`` column. An
  image cohort has an ``image_path`` column instead (and ``episode_id``, ``laterality``, ``view``,
  ``manufacturer`` where known, see :mod:`radtrust.data.images`); every stage takes either kind.
  Demographics ``age``, ``sex``, ``race`` where known. Any other column is kept as an extra.
* **LabelTable**: ``case_id`` plus one column per finding: 1 positive, 0 negative, -1 uncertain,
  empty = not mentioned; and ``label_source`` naming where the labels came from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from radtrust.errors import ConfigError, InputError

TEXT_SECTIONS: tuple[str, ...] = ("findings", "impression", "indication", "comparison", "text")
#: Sections that can make a finding positive. Indication/history/comparison describe why the study was
#: ordered or what it is compared with, not what the image shows.
LABELLED_SECTIONS: tuple[str, ...] = ("findings", "impression", "text")
DEMOGRAPHICS: tuple[str, ...] = ("age", "sex", "race")
CORE_COLUMNS: tuple[str, ...] = ("case_id", "patient_id", "study_id", "site")
#: A cohort with this column is an image cohort: one row per image (a mammography view), no report text.
IMAGE_PATH_COLUMN = "image_path"
LABEL_SOURCE_COLUMN = "label_source"
LABEL_VALUES = (1, 0, -1)

#: Column names other tools use for the case id, tried in order when a label file has no ``case_id``.
ID_COLUMN_ALIASES: tuple[str, ...] = ("case_id", "filename", "id", "report_id", "study_id", "uid")


def _as_id(series: pd.Series) -> pd.Series:
    return series.astype("string").str.strip()


@dataclass
class Cohort:
    """A validated table of reports with their patient, study, site and demographics.

    Build one with :func:`radtrust.data.readers.read_cohort` or :meth:`Cohort.from_frame`; the frame is
    normalised (string ids, defaults filled) and validated on construction.
    """

    frame: pd.DataFrame
    source: str = "<memory>"
    #: What to do with a report that has no findings/impression/text: "error" (default: a one-line user
    #: error naming the row), "drop" (remove it and count it in ``n_dropped_empty``) or "keep".
    empty_reports: str = "error"
    n_dropped_empty: int = 0
    #: What de-identification did to the text (engine, mode, counts per kind; never text), or None if
    #: the text was not scrubbed (see :class:`CohortScrubber`).
    deid: dict | None = None

    def __post_init__(self) -> None:
        self.frame, dropped = _normalise_cohort(self.frame, self.source, self.empty_reports)
        self.n_dropped_empty += dropped

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, source: str = "<memory>", empty_reports: str = "error") -> Cohort:
        return cls(frame.copy(), source, empty_reports)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def case_ids(self) -> list[str]:
        return self.frame["case_id"].tolist()

    @property
    def patient_ids(self) -> np.ndarray:
        return self.frame["patient_id"].to_numpy(dtype=object)

    @property
    def modality(self) -> str:
        """ "image" for an image cohort (one row per image), "report" for report text."""
        return "image" if IMAGE_PATH_COLUMN in self.frame.columns else "report"

    @property
    def image_paths(self) -> list[str]:
        if self.modality != "image":
            raise InputError(f"{self.source}: not an image cohort (no '{IMAGE_PATH_COLUMN}' column)")
        return self.frame[IMAGE_PATH_COLUMN].tolist()

    @property
    def sections(self) -> list[str]:
        return [s for s in TEXT_SECTIONS if s in self.frame.columns]

    def texts(self, sections: Sequence[str] = ("findings", "impression", "text")) -> list[str]:
        """Concatenate the given sections per case, each prefixed by its upper-case header.

        Headers are kept so that downstream tools (labeler, tokenizer) still see which section a sentence
        came from.
        """
        present = [s for s in sections if s in self.frame.columns]
        parts = []
        for s in present:
            col = self.frame[s].fillna("").astype(str)
            header = "" if s == "text" else f"{s.upper()}: "
            parts.append(col.map(lambda t, h=header: f"{h}{t.strip()}" if t.strip() else ""))
        if not parts:
            return [""] * len(self.frame)
        out = parts[0]
        for p in parts[1:]:
            out = out.str.cat(p, sep=" ").str.strip()
        return out.tolist()

    def subset(self, mask_or_index: np.ndarray | Sequence[int]) -> Cohort:
        """Rows selected by a boolean mask or positional indices, as a new Cohort."""
        idx = np.asarray(mask_or_index)
        sub = self.frame.iloc[np.flatnonzero(idx)] if idx.dtype == bool else self.frame.iloc[idx]
        return Cohort(sub.reset_index(drop=True), self.source, "keep", deid=self.deid)

    def summary(self) -> dict:
        """Counts a reviewer asks for first (no text, no identifiers)."""
        f = self.frame
        out = {
            "n_cases": int(len(f)),
            "n_patients": int(f["patient_id"].nunique()),
            "n_sites": int(f["site"].nunique()),
            "sites": {str(k): int(v) for k, v in f["site"].value_counts().sort_index().items()},
            "sections": self.sections,
        }
        if "sex" in f:
            out["sex"] = {str(k): int(v) for k, v in f["sex"].fillna("unknown").value_counts().items()}
        if "age" in f and f["age"].notna().any():
            out["age_median"] = float(f["age"].median())
        return out


@runtime_checkable
class CohortScrubber(Protocol):
    """What the readers hand report text to before anything else sees it (their ``deid=`` argument):
    :class:`radtrust.deid.door.CohortDeidentifier`, or anything with the same method. It returns the cohort
    with its free text de-identified and ``deid`` saying what was done, and leaves image cohorts alone."""

    def deidentify_cohort(self, cohort: Cohort) -> Cohort: ...


_HEADER_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,39}")


def columns_present(columns: Sequence[object]) -> str:
    """The columns of a file as an error message may show them: their names where they all look like a
    header ("case_id, text"), else only how many there are. A file without a header row has its first
    row's cells as column names, report text and identifiers included, and no message quotes cell
    contents."""
    names = [str(c) for c in columns]
    if names and all(_HEADER_NAME_RE.fullmatch(n) for n in names):
        shown = ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")
        return f"columns present: {shown}"
    return f"{len(names)} columns, whose names do not look like a header row (is the header missing?)"


def _normalise_cohort(frame: pd.DataFrame, source: str, empty_reports: str) -> tuple[pd.DataFrame, int]:
    if empty_reports not in ("error", "drop", "keep"):
        raise InputError(f"empty_reports must be error, drop or keep, not '{empty_reports}'")
    if len(frame) == 0:
        raise InputError(f"{source}: the cohort is empty (no rows)")
    for col in ("case_id", "patient_id"):
        if col not in frame.columns:
            raise InputError(f"{source}: missing required column '{col}' ({columns_present(list(frame.columns))}); map one with `column_map`")
    frame = frame.reset_index(drop=True)
    for col in ("case_id", "patient_id"):
        ids = _as_id(frame[col])
        bad = ids.isna() | (ids == "")
        if bad.any():
            raise InputError(f"{source}: row {int(np.flatnonzero(bad.to_numpy())[0]) + 1}: empty '{col}'")
        frame[col] = ids
    dup = frame["case_id"].duplicated()
    if dup.any():
        raise InputError(f"{source}: row {int(np.flatnonzero(dup.to_numpy())[0]) + 1}: duplicate case_id ({int(dup.sum())} duplicates in all); case ids must be unique")
    frame["study_id"] = _as_id(frame["study_id"]).fillna(frame["case_id"]) if "study_id" in frame else frame["case_id"]
    frame["site"] = _as_id(frame["site"]).fillna("unknown") if "site" in frame else "unknown"
    text_cols = [s for s in TEXT_SECTIONS if s in frame.columns]
    if IMAGE_PATH_COLUMN in frame.columns:
        return _normalise_images(frame, source), 0
    if not any(s in frame.columns for s in LABELLED_SECTIONS):
        raise InputError(f"{source}: no report text column: need 'findings', 'impression' or 'text' ({columns_present(list(frame.columns))}); map one with `column_map`")
    for s in text_cols:
        col = frame[s]
        if not (pd.api.types.is_string_dtype(col) or col.dtype == object or col.isna().all()):
            raise InputError(f"{source}: column '{s}' must hold text, found {col.dtype}")
        frame[s] = col.astype("string")
    labelled = [s for s in LABELLED_SECTIONS if s in frame.columns]
    empty = np.ones(len(frame), dtype=bool)
    for s in labelled:
        empty &= frame[s].fillna("").str.strip().eq("").to_numpy()
    dropped = 0
    if empty.any() and empty_reports == "error":
        raise InputError(f"{source}: row {int(np.flatnonzero(empty)[0]) + 1}: empty report (no text in {'/'.join(labelled)}; {int(empty.sum())} such rows); pass `empty_reports` drop or keep")
    if empty.any() and empty_reports == "drop":
        dropped = int(empty.sum())
        frame = frame.loc[~empty].reset_index(drop=True)
        if len(frame) == 0:
            raise InputError(f"{source}: every report is empty")
    return _normalise_demographics(frame, source, ("sex", "race")), dropped


#: Ages above this are refused as impossible (the oldest documented human lived to 122).
MAX_AGE_YEARS = 125
#: Laterality spellings found in headers and manifests -> "L" / "R" (one table for DICOM and image tables).
LATERALITY = {"L": "L", "LEFT": "L", "R": "R", "RIGHT": "R"}


def _normalise_demographics(frame: pd.DataFrame, source: str, id_columns: Sequence[str]) -> pd.DataFrame:
    """``age`` as a float (a one-line error naming the first non-number) and ``id_columns`` as strings."""
    if "age" in frame.columns:
        age = pd.to_numeric(frame["age"], errors="coerce")
        bad = frame["age"].notna() & age.isna()
        if bad.any():
            raise InputError(f"{source}: row {int(np.flatnonzero(bad.to_numpy())[0]) + 1}: column 'age' is not a number")
        # An impossible age would fall silently into an age band of every audit: refused, not guessed at.
        impossible = age.notna() & ((age < 0) | (age > MAX_AGE_YEARS))
        if impossible.any():
            raise InputError(
                f"{source}: row {int(np.flatnonzero(impossible.to_numpy())[0]) + 1}: column 'age' is outside 0-{MAX_AGE_YEARS} years ({int(impossible.sum())} such rows); fix or empty those cells"
            )
        frame["age"] = age.astype(float)
    for col in id_columns:
        if col in frame.columns:
            frame[col] = _as_id(frame[col])
    return frame


def _normalise_images(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Image rows: a path per row; the hierarchy columns of :data:`radtrust.data.images.IMAGE_COLUMNS`
    (episode, laterality, view, manufacturer) are kept as strings where present."""
    paths = frame[IMAGE_PATH_COLUMN].astype("string").str.strip()
    bad = paths.isna() | (paths == "")
    if bad.any():
        raise InputError(f"{source}: row {int(np.flatnonzero(bad.to_numpy())[0]) + 1}: empty '{IMAGE_PATH_COLUMN}'")
    frame[IMAGE_PATH_COLUMN] = paths
    if "laterality" in frame.columns:
        frame["laterality"] = _laterality(frame["laterality"], source)
    return _normalise_demographics(frame, source, ("episode_id", "laterality", "view", "manufacturer", "sex", "race"))


def _laterality(col: pd.Series, source: str) -> pd.Series:
    """ "L" or "R" per view (left/right spelled out accepted; empty = unknown). Anything else (B, U, 3) is
    refused: breasts are grouped by laterality, so it would become a third breast of the woman."""
    text = col.astype("string").str.strip().str.upper()
    mapped = text.map(lambda v: LATERALITY.get(v) if isinstance(v, str) and v else None)
    bad = text.notna() & (text != "") & mapped.isna()
    if bad.any():
        raise InputError(f"{source}: row {int(np.flatnonzero(bad.to_numpy())[0]) + 1}: column 'laterality' must be L or R (or empty when unknown); {int(bad.sum())} such rows")
    return mapped.astype(object).where(mapped.notna(), None)


@dataclass
class LabelTable:
    """Per-case finding labels: 1 positive, 0 negative, -1 uncertain, missing = not mentioned.

    ``findings`` keeps the column order of the vocabulary; ``source`` says where the labels came from
    (a labeler name and version, a gold standard, an expert).
    """

    frame: pd.DataFrame
    findings: list[str] = field(default_factory=list)
    source: str = "unknown"
    origin: str = "<memory>"

    def __post_init__(self) -> None:
        if not self.findings:
            self.findings = [c for c in self.frame.columns if c not in ("case_id", LABEL_SOURCE_COLUMN)]
        self.frame = _normalise_labels(self.frame, self.findings, self.origin)
        column, self.source = _row_sources(self.frame, self.source)
        self.frame[LABEL_SOURCE_COLUMN] = column

    @classmethod
    def from_matrix(cls, case_ids: Sequence[str], findings: Sequence[str], values: np.ndarray, source: str) -> LabelTable:
        """Build from an (n_cases, n_findings) float array where NaN means not mentioned."""
        frame = pd.DataFrame(np.asarray(values, dtype=float), columns=list(findings))
        frame.insert(0, "case_id", list(case_ids))
        return cls(frame, list(findings), source)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def case_ids(self) -> list[str]:
        return self.frame["case_id"].tolist()

    def values(self) -> np.ndarray:
        """Float array (n_cases, n_findings): 1, 0, -1, NaN for not mentioned."""
        return self.frame[self.findings].astype("float64").to_numpy()

    def aligned_to(self, case_ids: Sequence[str]) -> LabelTable:
        """Rows in the order of ``case_ids``; every case must have a row."""
        idx = self.frame.set_index("case_id")
        missing = pd.Index(case_ids).difference(idx.index)
        if len(missing):
            raise InputError(f"{self.origin}: {len(missing)} of {len(case_ids)} cases have no labels (case ids in the cohort and the label file do not match)")
        sub = idx.loc[list(case_ids)].reset_index()
        return LabelTable(sub, list(self.findings), self.source, self.origin)

    def select(self, findings: Sequence[str]) -> LabelTable:
        # Carry label_source along so that per-row provenance (expert rows in a relabelled table) survives.
        cols = ["case_id", *findings, LABEL_SOURCE_COLUMN]
        return LabelTable(self.frame[cols].copy(), list(findings), self.source, self.origin)

    @property
    def sources(self) -> list[str]:
        """Distinct per-row label sources in order of first appearance (one for a single-source table)."""
        return _distinct(self.frame[LABEL_SOURCE_COLUMN])


def _distinct(col: pd.Series) -> list[str]:
    vals = col.astype("string").str.strip()
    return [str(v) for v in pd.unique(vals[vals.notna() & (vals != "")])]


def _row_sources(frame: pd.DataFrame, source: str) -> tuple[pd.Series | str, str]:
    """The ``label_source`` column (a scalar when every row shares it) and the table's ``source``.

    A single-source table behaves as it always has: the whole column becomes ``source`` (or, when no
    source is given, the column's value). A mixed table (e.g. automatic labels with expert-reviewed rows)
    keeps each row's source; only empty rows are filled, and ``source`` becomes the distinct sources
    joined with "+" in order of first appearance.
    """
    if LABEL_SOURCE_COLUMN not in frame:
        return source, source
    col = frame[LABEL_SOURCE_COLUMN].astype("string").str.strip()
    present = col.notna() & (col != "")
    vals = _distinct(col)
    if not vals:
        return source, source
    if len(vals) == 1 and (present.all() or source == "unknown" or vals[0] in source.split("+")):
        # One source: an explicit source renames a fully labelled copy (as it always has), unless the
        # column's value is one part of a "+"-joined source, which marks a subset of a mixed table whose
        # rows all came from that part. A partly filled column with another source given is mixed.
        single = vals[0] if source == "unknown" or vals[0] in source.split("+") else source
        return single, single
    fill = vals[0] if source == "unknown" else source
    out = col.where(present, fill).astype(object)
    parts = [p for v in _distinct(out) for p in v.split("+")]
    return out, "+".join(dict.fromkeys(parts))


def _normalise_labels(frame: pd.DataFrame, findings: list[str], origin: str) -> pd.DataFrame:
    if "case_id" not in frame.columns:
        raise InputError(f"{origin}: missing id column 'case_id'")
    if len(frame) == 0:
        raise InputError(f"{origin}: the label table is empty (no rows)")
    missing = [f for f in findings if f not in frame.columns]
    if missing:
        raise InputError(f"{origin}: missing finding column(s): {', '.join(missing)}")
    if not findings:
        raise InputError(f"{origin}: no finding columns besides the id column")
    out = frame[["case_id", *findings] + ([LABEL_SOURCE_COLUMN] if LABEL_SOURCE_COLUMN in frame else [])].copy()
    out = out.reset_index(drop=True)
    out["case_id"] = _as_id(out["case_id"])
    if out["case_id"].isna().any() or (out["case_id"] == "").any():
        raise InputError(f"{origin}: row {int(np.flatnonzero((out['case_id'].isna() | (out['case_id'] == '')).to_numpy())[0]) + 1}: empty case id")
    dup = out["case_id"].duplicated()
    if dup.any():
        raise InputError(f"{origin}: row {int(np.flatnonzero(dup.to_numpy())[0]) + 1}: duplicate case id")
    for f in findings:
        num = pd.to_numeric(out[f], errors="coerce")
        bad = (out[f].notna() & num.isna()) | (num.notna() & ~num.isin(LABEL_VALUES))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
            raise InputError(f"{origin}: row {row}, column '{f}': label must be 1, 0, -1 or empty")
        out[f] = num.astype("Int8")
    return out


def label_targets(labels: LabelTable, policy: str, missing: str = "negative") -> tuple[np.ndarray, np.ndarray]:
    """Targets and loss mask from a label table.

    Not mentioned (empty) counts as negative (``missing="negative"``), the convention of report-derived
    chest X-ray labels (Irvin et al., 2019); image truth tables use ``missing="ignore"``: an empty cell
    there means "does not apply" (benign vs malignant for a normal breast) and stays out of the loss.
    Uncertain (-1) follows ``policy``: "positive" (U-Ones), "negative" (U-Zeros), "ignore" (U-Ignore:
    masked out of the loss) or "soft" (a target of 0.5: the teacher's own confidence, neither yes nor no, as
    in distillation from soft labels; Hinton et al. 2015).
    """
    v = labels.values()
    targets = np.where(v == 1, 1.0, 0.0)
    mask = np.ones_like(targets)
    if missing == "ignore":
        mask[np.isnan(v)] = 0.0
    elif missing != "negative":
        raise ConfigError(f"unknown missing-label policy '{missing}'")
    unc = v == -1
    if policy == "positive":
        targets[unc] = 1.0
    elif policy == "ignore":
        mask[unc] = 0.0
    elif policy == "soft":
        targets[unc] = 0.5
    elif policy != "negative":
        raise ConfigError(f"unknown uncertain_policy '{policy}'")
    return targets.astype(np.float32), mask.astype(np.float32)
