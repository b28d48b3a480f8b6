"""Reading what the experts return: the review queue (one row per case, one column per finding) into a long
table of corrections, and the per-cell history of earlier merges. Every value is checked; an error names the
file, row and column, never a cell's text (the queue holds report text, which is never read past the parser)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from radtrust.data.readers import read_table
from radtrust.data.schema import LABEL_VALUES, LabelTable, columns_present
from radtrust.errors import InputError
from radtrust.noise.files import INTERNAL_KEY, INTERNAL_MARKER

DEFAULT_SOURCE = "expert"
#: Columns of :func:`read_corrections`' long table, in order (``row``: 1-based data row of the file).
CORRECTION_COLUMNS: tuple[str, ...] = ("case_id", "finding", "label", "annotator_id", "reviewed_at", "source", "row")
#: Columns of the history file, in order: one row per reviewed cell per merge.
HISTORY_COLUMNS: tuple[str, ...] = (
    "case_id",
    "finding",
    "old_label",  # the label before this merge (after re-applying earlier expert labels)
    "new_label",  # the label after this merge: the latest review of the cell
    "changed",  # the label's meaning changed (empty and 0 both mean absent)
    "source",
    "annotator_id",  # of the winning (latest) review
    "reviewed_at",
    "merged_at",
    "batch",
    "n_reviews",  # reviews of this cell in this batch
    "conflicting",  # the reviews considered for this cell (this batch's and the latest earlier one) disagree
    INTERNAL_KEY,
)
#: Queue columns that are not findings; report text and the doubt list are never read past the parser.
_QUEUE_META = ("case_id", "report", "findings_in_doubt", "annotator_id", "reviewed_at", "source")
_IGNORED = ("report", "findings_in_doubt")


def _read_strings(path: Path) -> pd.DataFrame:
    """The file as a table; CSV/TSV cells as strings, so that ids such as ``007`` survive."""
    frame = read_table(path, strings=True)  # one-line errors for a missing, empty or malformed file
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.reset_index(drop=True)


def _text(col: pd.Series) -> pd.Series:
    """Stripped strings with empty cells as NA."""
    s = col.astype("string").str.strip()
    return s.where(s != "")


def _first_row(mask: pd.Series | np.ndarray) -> int:
    return int(np.flatnonzero(np.asarray(mask, dtype=bool))[0]) + 1


def _parse_labels(col: pd.Series, where: str, column: str) -> pd.Series:
    num = pd.to_numeric(_text(col), errors="coerce")
    bad = (col.notna() & _text(col).notna() & num.isna()) | (num.notna() & ~num.isin(LABEL_VALUES))
    if bad.any():
        raise InputError(f"{where}: row {_first_row(bad)}, column '{column}': label must be 1, 0, -1 or empty")
    return num.astype("Int8")


def _parse_times(col: pd.Series, where: str, column: str, required: pd.Series | None = None) -> pd.Series:
    text = _text(col)
    ts = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    need = pd.Series(True, index=col.index) if required is None else required
    empty = need & text.isna()
    if empty.any():
        raise InputError(f"{where}: row {_first_row(empty)}, column '{column}': empty ({int(empty.sum())} such rows); give an ISO 8601 date or date-time")
    bad = need & text.notna() & ts.isna()
    if bad.any():
        raise InputError(f"{where}: row {_first_row(bad)}, column '{column}': not an ISO 8601 date or date-time")
    return ts


def _require_text(col: pd.Series, where: str, column: str, required: pd.Series) -> pd.Series:
    text = _text(col)
    empty = required & text.isna()
    if empty.any():
        raise InputError(f"{where}: row {_first_row(empty)}, column '{column}': empty ({int(empty.sum())} such rows)")
    return text


def read_corrections(path: str | Path, findings: list[str] | tuple[str, ...], current: LabelTable | None = None) -> pd.DataFrame:
    """Read expert corrections (a returned annotation queue, or long format) as one row per reviewed cell.

    Wide (the queue of ``radtrust annotate plan``): ``case_id, report, findings_in_doubt, <findings>,
    annotator_id, reviewed_at[, source]``; an empty finding cell of a reviewed row is 0, because the
    expert reviewed the whole case. Long: ``case_id, finding, label, annotator_id, reviewed_at[, source]``.

    A wide row with no annotator, no review time and no labels is not reviewed yet and is skipped. The
    queue comes prefilled with the current labels, so with ``current`` (the table it was made from) an
    unsigned row that still holds exactly those labels is skipped too; one whose labels were edited is
    an error, so that no correction is lost for want of a signature.

    Returns :data:`CORRECTION_COLUMNS` (``label`` Int8, ``reviewed_at`` UTC timestamps); ``attrs`` hold
    ``path``, ``n_rows_read`` and ``n_rows_skipped_unreviewed``.
    """
    path = Path(path)
    where = str(path)
    frame = _read_strings(path)
    n_rows = len(frame)
    frame = frame.drop(columns=[c for c in _IGNORED if c in frame.columns])  # report text goes no further
    for col in ("case_id", "annotator_id", "reviewed_at"):
        if col not in frame.columns:
            raise InputError(f"{where}: missing column '{col}' ({columns_present(list(frame.columns))})")
    known = list(findings)
    source = _text(frame["source"]).fillna(DEFAULT_SOURCE) if "source" in frame.columns else pd.Series(DEFAULT_SOURCE, index=frame.index)
    rows = pd.Series(np.arange(1, n_rows + 1), index=frame.index)

    if "finding" in frame.columns and "label" in frame.columns:
        every = pd.Series(True, index=frame.index)
        case = _require_text(frame["case_id"], where, "case_id", every)
        finding = _require_text(frame["finding"], where, "finding", every)
        unknown = ~finding.isin(known)
        if unknown.any():
            raise InputError(f"{where}: row {_first_row(unknown)}, column 'finding': not a finding of the label table ({int(unknown.sum())} such rows; findings: {', '.join(known[:14])})")
        label = _parse_labels(frame["label"], where, "label")
        if label.isna().any():
            raise InputError(f"{where}: row {_first_row(label.isna())}, column 'label': empty; give 1, 0 or -1")
        annot = _require_text(frame["annotator_id"], where, "annotator_id", every)
        when = _parse_times(frame["reviewed_at"], where, "reviewed_at")
        out = pd.DataFrame({"case_id": case, "finding": finding, "label": label, "annotator_id": annot, "reviewed_at": when, "source": source, "row": rows})
        n_skipped = 0
    else:
        cols = [c for c in frame.columns if c not in _QUEUE_META]
        unknown_cols = [c for c in cols if c not in known]
        if unknown_cols:
            raise InputError(
                f"{where}: column '{unknown_cols[0]}' is not a finding of the label table ({len(unknown_cols)} unknown "
                f"column(s); findings: {', '.join(known[:14])}); long format needs 'finding' and 'label' columns"
            )
        if not cols:
            raise InputError(f"{where}: no finding columns (and no 'finding'/'label' columns for long format)")
        labels = pd.DataFrame({c: _parse_labels(frame[c], where, c) for c in cols}, index=frame.index)
        annot_raw, when_raw = _text(frame["annotator_id"]), _text(frame["reviewed_at"])
        unsigned = annot_raw.isna() & when_raw.isna()
        skip = unsigned & labels.isna().all(axis=1)
        prefilled = unsigned & ~skip
        if prefilled.any() and current is not None:
            skip |= prefilled & _matches_current(frame["case_id"], labels, current)
        reviewed = ~skip
        case = _require_text(frame["case_id"], where, "case_id", reviewed)
        edited = prefilled & reviewed
        if edited.any() and current is not None:
            raise InputError(
                f"{where}: row {_first_row(edited)}: labels differ from the current labels but 'annotator_id' and "
                f"'reviewed_at' are empty ({int(edited.sum())} such rows); sign the row, or delete it if it was not reviewed"
            )
        annot = _require_text(frame["annotator_id"], where, "annotator_id", reviewed)
        when = _parse_times(frame["reviewed_at"], where, "reviewed_at", reviewed)
        n_skipped = int(skip.sum())
        keep = reviewed.to_numpy()
        base = pd.DataFrame({"case_id": case, "annotator_id": annot, "reviewed_at": when, "source": source, "row": rows})[keep]
        parts = []
        for c in cols:
            part = base.copy()
            part.insert(1, "finding", c)
            part.insert(2, "label", labels.loc[keep, c].fillna(0).astype("Int8"))
            parts.append(part)
        out = pd.concat(parts, ignore_index=True).sort_values("row", kind="stable") if parts else pd.DataFrame(columns=list(CORRECTION_COLUMNS))
    out = typed_corrections(out.reset_index(drop=True))
    out.attrs.update({"path": where, "n_rows_read": n_rows, "n_rows_skipped_unreviewed": n_skipped})
    return out


def _matches_current(case_col: pd.Series, labels: pd.DataFrame, current: LabelTable) -> pd.Series:
    """Rows whose prefilled labels equal the current table's for that case (empty = empty)."""
    idx = current.frame.set_index("case_id")
    case = _text(case_col)
    known = case.isin(idx.index)
    same = pd.Series(False, index=labels.index)
    if not known.any():
        return same
    cur = idx.loc[case[known].tolist(), list(labels.columns)].astype("float64").to_numpy()
    got = labels[known].astype("float64").to_numpy()
    eq = (cur == got) | (np.isnan(cur) & np.isnan(got))
    same[known] = eq.all(axis=1)
    return same


def typed_corrections(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    if "source" not in out.columns:
        out["source"] = DEFAULT_SOURCE
    if "row" not in out.columns:
        out["row"] = np.arange(1, len(out) + 1)
    missing = [c for c in CORRECTION_COLUMNS if c not in out.columns]
    if missing:
        raise InputError(f"corrections: missing column(s): {', '.join(missing)}")
    out = out[list(CORRECTION_COLUMNS)]
    out["case_id"] = out["case_id"].astype("string").str.strip()
    out["finding"] = out["finding"].astype("string")
    out["label"] = pd.to_numeric(out["label"]).astype("Int8")
    out["annotator_id"] = out["annotator_id"].astype("string").str.strip()
    out["reviewed_at"] = pd.to_datetime(out["reviewed_at"], utc=True, format="ISO8601") if len(out) else pd.Series(pd.DatetimeIndex([], tz="UTC"))
    out["source"] = out["source"].astype("string").fillna(DEFAULT_SOURCE)
    out["row"] = out["row"].astype(int)
    return out


def read_history(path: str | Path) -> pd.DataFrame:
    """Read a history file written by :func:`~radtrust.noise.merge_io.merge_files` (one row per reviewed cell per merge)."""
    path = Path(path)
    frame = _read_strings(path)
    missing = [c for c in ("case_id", "finding", "new_label", "reviewed_at") if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: not a label-correction history (missing column(s): {', '.join(missing)})")
    return typed_history(frame, str(path))


def empty_history() -> pd.DataFrame:
    return typed_history(pd.DataFrame({c: [] for c in HISTORY_COLUMNS}), "<history>")


def typed_history(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    out = frame.reset_index(drop=True).copy()
    every = pd.Series(True, index=out.index)
    out["case_id"] = _require_text(out["case_id"], where, "case_id", every)
    out["finding"] = _require_text(out["finding"], where, "finding", every)
    out["new_label"] = _parse_labels(out["new_label"], where, "new_label")
    if out["new_label"].isna().any():
        raise InputError(f"{where}: row {_first_row(out['new_label'].isna())}, column 'new_label': empty")
    out["old_label"] = _parse_labels(out["old_label"], where, "old_label") if "old_label" in out else pd.Series(pd.NA, index=out.index, dtype="Int8")
    out["reviewed_at"] = _parse_times(out["reviewed_at"], where, "reviewed_at") if len(out) else pd.Series(pd.DatetimeIndex([], tz="UTC"))
    if "merged_at" in out and len(out):
        out["merged_at"] = _parse_times(out["merged_at"], where, "merged_at", _text(out["merged_at"]).notna())
    else:
        out["merged_at"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[us, UTC]")
    if "changed" in out:
        flags = out["changed"].astype("string").str.strip().str.lower().map({"true": True, "1": True, "false": False, "0": False})
        out["changed"] = flags.fillna(False).astype(bool)
    else:
        out["changed"] = label_meaning(out["old_label"]) != label_meaning(out["new_label"])
    out["n_reviews"] = pd.to_numeric(out["n_reviews"], errors="coerce").fillna(1).astype(int) if "n_reviews" in out else 1
    if "conflicting" in out:
        out["conflicting"] = out["conflicting"].astype("string").str.strip().str.lower().isin(["true", "1"])
    else:
        out["conflicting"] = False
    out["source"] = _text(out["source"]).fillna(DEFAULT_SOURCE) if "source" in out else DEFAULT_SOURCE
    for col in ("annotator_id", "batch"):
        out[col] = _text(out[col]) if col in out else pd.Series(pd.NA, index=out.index, dtype="string")
    out[INTERNAL_KEY] = INTERNAL_MARKER
    return out[list(HISTORY_COLUMNS)]


def label_meaning(labels: pd.Series) -> np.ndarray:
    """Labels as consumers read them: not mentioned (empty) is absent (0)."""
    return pd.Series(labels).astype("float64").fillna(0.0).to_numpy()
