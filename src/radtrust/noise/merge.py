"""Merge expert label corrections into a label table, with per-row provenance and a per-cell history.

Expert labels win over automatic ones; when a cell is reviewed more than once (two annotators, or a later
batch) the latest ``reviewed_at`` wins. The random slice of an annotation plan is a simple random sample
of the cohort, so the share of its reviewed labels that the experts changed is an unbiased estimate of the
automatic labels' error rate (Wilson 1927 score interval for cases; a case-clustered percentile bootstrap,
Davison & Hinkley 1997, for cells, which are correlated within a case).

A cell counts as *changed* when its meaning changed: an empty automatic label means "not mentioned", which
every consumer reads as absent, so an expert 0 on an empty cell confirms it (the cell is filled with 0 and
recorded with ``changed=False``). The history file is internal: it holds annotator ids and per-case labels
and carries the internal-only marker of :mod:`radtrust.noise.files`.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from radtrust.data.fingerprint import file_sha256
from radtrust.data.io import TABLE_SUFFIXES, atomic_path, write_table
from radtrust.data.readers import read_labels, read_table
from radtrust.data.schema import LABEL_SOURCE_COLUMN, LABEL_VALUES, LabelTable, columns_present
from radtrust.errors import InputError
from radtrust.evaluate.metrics import cluster_bootstrap_counts
from radtrust.fairness.stats import percentile_interval
from radtrust.noise.files import INTERNAL_KEY, INTERNAL_MARKER

_log = logging.getLogger(__name__)

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
#: Annotators must share at least this many cells before their agreement is worth a kappa.
KAPPA_MIN_OVERLAP = 20


@dataclass
class MergeResult:
    labels: LabelTable
    history: pd.DataFrame
    summary: dict = field(default_factory=dict)


# --- reading -----------------------------------------------------------------------------------------------


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
            raise InputError(
                f"{where}: row {_first_row(unknown)}, column 'finding': not a finding of the label table "
                f"({int(unknown.sum())} such rows; findings: {', '.join(known[:14])})"
            )
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
    out = _typed_corrections(out.reset_index(drop=True))
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


def _typed_corrections(frame: pd.DataFrame) -> pd.DataFrame:
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
    """Read a history file written by :func:`merge_files` (one row per reviewed cell per merge)."""
    path = Path(path)
    frame = _read_strings(path)
    missing = [c for c in ("case_id", "finding", "new_label", "reviewed_at") if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: not a label-correction history (missing column(s): {', '.join(missing)})")
    return _typed_history(frame, str(path))


def _empty_history() -> pd.DataFrame:
    return _typed_history(pd.DataFrame({c: [] for c in HISTORY_COLUMNS}), "<history>")


def _typed_history(frame: pd.DataFrame, where: str) -> pd.DataFrame:
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
        out["changed"] = _meaning(out["old_label"]) != _meaning(out["new_label"])
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


def _meaning(labels: pd.Series) -> np.ndarray:
    """Labels as consumers read them: not mentioned (empty) is absent (0)."""
    return pd.Series(labels).astype("float64").fillna(0.0).to_numpy()


# --- merging -------------------------------------------------------------------------------------------------


def _latest(frame: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """The last row per cell after a stable sort by ``order`` (ties keep their original order)."""
    return frame.sort_values(order, kind="stable").groupby(["case_id", "finding"], sort=False).tail(1)


def _apply_history(labels: LabelTable, history: pd.DataFrame) -> tuple[LabelTable, dict]:
    counts = {"n_history_cells": 0, "n_history_cells_restored": 0, "n_history_cells_skipped": 0, "n_history_cases_skipped": 0}
    if history is None or len(history) == 0:
        return labels, counts
    hist = history.reset_index(drop=True).assign(_order=np.arange(len(history)))
    latest = _latest(hist, ["reviewed_at", "merged_at", "_order"])
    counts["n_history_cells"] = int(len(latest))
    present = latest["case_id"].isin(labels.frame["case_id"]) & latest["finding"].isin(labels.findings)
    counts["n_history_cells_skipped"] = int((~present).sum())
    counts["n_history_cases_skipped"] = int(latest.loc[~latest["case_id"].isin(labels.frame["case_id"]), "case_id"].nunique())
    latest = latest[present]
    frame, n_diff = _set_cells(labels, latest["case_id"], latest["finding"], latest["new_label"], latest["source"])
    counts["n_history_cells_restored"] = n_diff
    return LabelTable(frame, list(labels.findings), "unknown", labels.origin), counts


def _set_cells(labels: LabelTable, case: pd.Series, finding: pd.Series, value: pd.Series, source: pd.Series) -> tuple[pd.DataFrame, int]:
    """A copy of the table's frame with the given cells set, and each touched row's source set.

    Returns the frame and how many cells held a different value (empty counts as different from 0).
    """
    frame = labels.frame.copy()
    pos = pd.Series(np.arange(len(frame)), index=frame["case_id"])
    ri = pos.loc[case.tolist()].to_numpy()
    fi = np.array([labels.findings.index(f) for f in finding], dtype=int)
    vals = labels.values()
    new = value.astype("float64").to_numpy()
    old = vals[ri, fi] if len(ri) else np.array([])
    n_diff = int(np.sum(~((old == new) | (np.isnan(old) & np.isnan(new)))))
    vals[ri, fi] = new
    for j, f in enumerate(labels.findings):
        frame[f] = pd.Series(vals[:, j], index=frame.index).astype("Int8")
    if len(ri):
        srcs = pd.DataFrame({"ri": ri, "source": source.astype(str).to_numpy()})
        joined = srcs.groupby("ri", sort=False)["source"].agg(lambda s: "+".join(dict.fromkeys(s)))
        col = np.array(frame[LABEL_SOURCE_COLUMN].astype(object), dtype=object)
        col[joined.index.to_numpy()] = joined.to_numpy()
        frame[LABEL_SOURCE_COLUMN] = col
    return frame, n_diff


def apply_history(labels: LabelTable, history: pd.DataFrame) -> LabelTable:
    """Re-apply the latest expert label of every cell in ``history`` onto ``labels``.

    Use after relabelling with a newer labeler so that expert labels keep winning. Cells of cases (or
    findings) not in ``labels`` are skipped and counted in the log; rows that get an expert label take
    the history's ``source`` as their ``label_source``.
    """
    hist = _typed_history(history, "<history>") if len(history) else _empty_history()
    table, counts = _apply_history(labels, hist)
    if counts["n_history_cells_skipped"]:
        _log.info("apply_history: %d cells of %d cases not in the label table were skipped", counts["n_history_cells_skipped"], counts["n_history_cases_skipped"])
    return table


def _kappas(corr: pd.DataFrame) -> list[dict]:
    """Cohen's kappa for each pair of annotators sharing at least :data:`KAPPA_MIN_OVERLAP` cells.

    Annotators are numbered by first appearance in the corrections; their ids never enter the summary.
    """
    from sklearn.metrics import cohen_kappa_score

    order = list(dict.fromkeys(corr["annotator_id"]))
    # Each annotator's latest label per cell.
    last = corr.sort_values(["reviewed_at", "row"], kind="stable").groupby(["case_id", "finding", "annotator_id"], sort=False).tail(1)
    wide = last.pivot(index=["case_id", "finding"], columns="annotator_id", values="label")
    out = []
    for i, a in enumerate(order):
        for j in range(i + 1, len(order)):
            b = order[j]
            both = wide[[a, b]].dropna()
            if len(both) < KAPPA_MIN_OVERLAP:
                continue
            x, y = both[a].astype(int).to_numpy(), both[b].astype(int).to_numpy()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # one shared category: kappa is undefined (NaN), reported as None
                k = float(cohen_kappa_score(x, y, labels=list(LABEL_VALUES)))
            out.append({"annotators": [i + 1, j + 1], "n_cells": int(len(both)), "agreement": float(np.mean(x == y)), "kappa": k if np.isfinite(k) else None})
    return out


def merge_corrections(
    labels: LabelTable,
    corrections: pd.DataFrame,
    history: pd.DataFrame | None = None,
    batch: str = "",
    merged_at: pd.Timestamp | None = None,
) -> MergeResult:
    """Merge expert corrections (from :func:`read_corrections`) into ``labels``.

    Expert labels from ``history`` (earlier merges) are re-applied first, so they keep winning over a
    regenerated automatic table. Per cell the latest ``reviewed_at`` among this batch's reviews and the
    latest earlier one wins (ties go to the later row of this batch). Every reviewed case row gets the
    corrections' ``source`` as its ``label_source``. The history gains one row per reviewed cell,
    confirmations (``changed=False``) included.
    """
    where = str(corrections.attrs.get("path", "corrections"))
    n_rows_read = corrections.attrs.get("n_rows_read")
    n_skipped = int(corrections.attrs.get("n_rows_skipped_unreviewed", 0))
    corr = _typed_corrections(corrections)
    if n_rows_read is None:
        n_rows_read = int(corr["row"].nunique())
    bad = ~corr["finding"].isin(labels.findings)
    if bad.any():
        raise InputError(f"{where}: row {int(corr.loc[bad, 'row'].iloc[0])}, column 'finding': not a finding of the label table {labels.origin}")
    bad = ~corr["case_id"].isin(labels.frame["case_id"])
    if bad.any():
        bad_rows = corr.loc[bad, "row"]
        raise InputError(
            f"{where}: row {int(bad_rows.min())}: case not in the label table {labels.origin} "
            f"({int(bad_rows.nunique())} such rows, {int(corr.loc[bad, 'case_id'].nunique())} cases); were the corrections made for another label file?"
        )
    hist = _empty_history() if history is None or len(history) == 0 else _typed_history(history, "<history>")
    merged_at = pd.Timestamp.now(tz="UTC") if merged_at is None else pd.Timestamp(merged_at)
    merged_at = merged_at.tz_localize("UTC") if merged_at.tzinfo is None else merged_at.tz_convert("UTC")
    table, restored = _apply_history(labels, hist)

    if len(corr) == 0:
        new_rows = _empty_history()
        merged = table
    else:
        win = _latest(corr, ["reviewed_at", "row"]).set_index(["case_id", "finding"])
        by_cell = corr.groupby(["case_id", "finding"])["label"]
        n_reviews = by_cell.size().reindex(win.index)
        # Experts disagree on a cell when this batch's reviews, or they and the latest earlier one, differ.
        conflicting = np.array(by_cell.nunique().reindex(win.index) > 1, dtype=bool)
        if len(hist):
            h = hist.assign(_order=np.arange(len(hist)))
            prev = _latest(h, ["reviewed_at", "merged_at", "_order"]).set_index(["case_id", "finding"])
            prev = prev.reindex(win.index)
            earlier_wins = prev["reviewed_at"].notna() & (prev["reviewed_at"] > win["reviewed_at"])
            for col_win, col_prev in (("label", "new_label"), ("source", "source"), ("annotator_id", "annotator_id"), ("reviewed_at", "reviewed_at")):
                win[col_win] = win[col_win].where(~earlier_wins, prev[col_prev])
            before = prev["new_label"].astype("float64").to_numpy()
            conflicting |= ~np.isnan(before) & (before != by_cell.first().reindex(win.index).astype("float64").to_numpy())
        # Cells in the order of the label table, findings in vocabulary order.
        rank_case = pd.Series(np.arange(len(table)), index=table.frame["case_id"])
        rank_f = {f: i for i, f in enumerate(table.findings)}
        keys = win.index.to_frame(index=False)
        order = np.lexsort((keys["finding"].map(rank_f).to_numpy(), rank_case.loc[keys["case_id"].tolist()].to_numpy()))
        win, n_reviews, conflicting = win.iloc[order], n_reviews.iloc[order], conflicting[order]
        case, finding = win.index.get_level_values(0).to_series(index=win.index), win.index.get_level_values(1).to_series(index=win.index)
        pos = rank_case.loc[case.tolist()].to_numpy()
        fi = np.array([rank_f[f] for f in finding], dtype=int)
        old = table.values()[pos, fi]
        new = win["label"].astype("float64").to_numpy()
        frame, _ = _set_cells(table, case, finding, win["label"], win["source"])
        merged = LabelTable(frame, list(table.findings), "unknown", labels.origin)
        new_rows = pd.DataFrame(
            {
                "case_id": case.to_numpy(),
                "finding": finding.to_numpy(),
                "old_label": pd.array(old).astype("Int8"),
                "new_label": pd.array(new).astype("Int8"),
                "changed": np.nan_to_num(old, nan=0.0) != new,
                "source": win["source"].to_numpy(),
                "annotator_id": win["annotator_id"].to_numpy(),
                "reviewed_at": win["reviewed_at"].to_numpy(),
                "merged_at": merged_at,
                "batch": batch,
                "n_reviews": n_reviews.to_numpy(),
                "conflicting": conflicting,
            }
        )
        new_rows = _typed_history(new_rows, "<history>")
    history_out = pd.concat([hist, new_rows], ignore_index=True) if len(hist) else new_rows
    changed = new_rows[new_rows["changed"]]
    kappas = _kappas(corr) if len(corr) else []
    best = max(kappas, key=lambda p: p["n_cells"]) if kappas else None
    summary = {
        "batch": batch,
        "merged_at": merged_at.isoformat(),
        "n_rows_read": int(n_rows_read),
        "n_rows_skipped_unreviewed": n_skipped,
        "n_cases_reviewed": int(new_rows["case_id"].nunique()),
        "n_cells_reviewed": int(len(new_rows)),
        "n_cells_changed": int(len(changed)),
        "changed_by_finding": {f: int((changed["finding"] == f).sum()) for f in table.findings if (new_rows["finding"] == f).any()},
        "n_annotators": int(corr["annotator_id"].nunique()),
        "conflicting_cells": int(new_rows["conflicting"].sum()),
        "kappa": best["kappa"] if best else None,
        "kappa_pairs": kappas,
        "label_source": merged.source,
        **restored,
    }
    return MergeResult(merged, history_out, summary)


# --- noise estimate ------------------------------------------------------------------------------------------


def _wilson(k: int, n: int) -> list[float]:
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    return [float(lo), float(hi)]


def _random_slice_ids(plan: dict) -> list[str]:
    cases = plan.get("cases") if isinstance(plan, dict) else None
    if not isinstance(cases, list):
        raise InputError("annotation plan: no 'cases' list; write the plan with radtrust annotate plan")
    out = []
    for i, c in enumerate(cases):
        if not isinstance(c, dict) or "case_id" not in c or "selection" not in c:
            raise InputError(f"annotation plan: case entry {i + 1} needs 'case_id' and 'selection'")
        if c["selection"] == "random_slice":
            out.append(str(c["case_id"]).strip())
    return out


def estimate_noise_from_random_slice(history_rows: pd.DataFrame, plan: dict, seed: int = 0, n_boot: int = 2000) -> dict:
    """Share of automatic labels the experts changed, estimated on the plan's random slice.

    ``history_rows``: this merge's rows of the history; ``plan``: the ``.plan.json`` of the queue (only its
    ``cases[].case_id`` and ``cases[].selection`` are used). The random slice is a simple random sample of
    the cohort, so among its reviewed cases the share with at least one changed label (Wilson interval)
    and the share of changed cells (case-clustered percentile bootstrap, ``n_boot`` resamples, ``seed``)
    are unbiased for the cohort, provided unreviewed slice cases are missing at random.
    """
    ids = _random_slice_ids(plan)
    rows = history_rows[history_rows["case_id"].isin(ids)] if len(history_rows) else history_rows
    n_planned = len(set(ids))
    if len(rows) == 0:
        return {
            INTERNAL_KEY: INTERNAL_MARKER,
            "n_cases": 0,
            "n_random_slice_planned": n_planned,
            "note": "no random-slice case of the plan was reviewed in this merge, so no unbiased noise estimate",
        }
    rows = rows.assign(changed=rows["changed"].astype(bool))
    per_case = rows.groupby("case_id", sort=False)["changed"].agg(["sum", "size"])
    n = int(len(per_case))
    k = int((per_case["sum"] > 0).sum())
    c, m = per_case["sum"].to_numpy(dtype=float), per_case["size"].to_numpy(dtype=float)
    # Rows of per_case are cases, so resampling them is the case-clustered bootstrap.
    boot_sums = cluster_bootstrap_counts(np.column_stack([c, m]), np.arange(n), n_boot, seed)
    lo, hi = percentile_interval(boot_sums[:, 0] / boot_sums[:, 1])
    by_finding = {}
    for f, g in rows.groupby("finding", sort=False):
        # One cell per case and finding, so cells of one finding are independent: a Wilson interval fits.
        kf, nf = int(g["changed"].sum()), int(len(g))
        by_finding[str(f)] = {"share": kf / nf, "ci95": _wilson(kf, nf), "n_changed": kf, "n_cells": nf}
    out = {
        INTERNAL_KEY: INTERNAL_MARKER,
        "n_cases": n,
        "n_random_slice_planned": n_planned,
        "n_cells": int(m.sum()),
        "cases_with_changed_label": {"share": k / n, "ci95": _wilson(k, n), "n_changed": k, "method": "wilson"},
        "cells_changed": {
            "share": float(c.sum() / m.sum()),
            "ci95": [float(lo), float(hi)],
            "n_changed": int(c.sum()),
            "method": "case-clustered percentile bootstrap",
            "n_boot": int(n_boot),
            "seed": int(seed),
        },
        "by_finding": by_finding,
    }
    if n < n_planned:
        out["note"] = f"{n} of {n_planned} random-slice cases reviewed; the estimate assumes the others are missing at random"
    return out


# --- files ---------------------------------------------------------------------------------------------------


def history_path_for(table_path: str | Path) -> Path:
    """``<stem>.history.csv`` beside a label table."""
    p = Path(table_path)
    return p.with_name(f"{p.stem}.history.csv")


def _read_plan(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"{path}: no such plan file")
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: not a JSON plan ({type(e).__name__})") from None
    try:
        _random_slice_ids(plan)
    except InputError as e:
        raise InputError(f"{path}: {str(e).removeprefix('annotation plan: ')}") from None
    return plan


def merge_files(
    corrections_path: str | Path,
    labels_path: str | Path,
    out_path: str | Path,
    plan_path: str | Path | None = None,
    history_path: str | Path | None = None,
    id_column: str | None = None,
) -> dict:
    """Merge a corrections file into a label file; write the merged table and its history atomically.

    The history is read from ``history_path`` or, by default, ``<labels stem>.history.csv`` if it exists;
    the merged table goes to ``out_path`` (CSV or Parquet by suffix; ``out_path`` may be ``labels_path``)
    and the history to ``<out stem>.history.csv``. Nothing is written unless everything validated. With
    ``plan_path`` (the queue's ``.plan.json``) the summary holds the random-slice noise estimate.
    Returns the summary with ``out`` and ``history`` paths.
    """
    corrections_path, labels_path, out_path = Path(corrections_path), Path(labels_path), Path(out_path)
    from radtrust.data.io import check_output

    # the label table may be corrected in place (its history keeps what it held); the experts' returned
    # file, the plan and the history never are
    check_output(out_path, [corrections_path, plan_path, history_path], suffixes=TABLE_SUFFIXES)
    labels = read_labels(labels_path, id_column=id_column)
    corrections = read_corrections(corrections_path, labels.findings, current=labels)
    if history_path is not None:
        history_in: Path | None = Path(history_path)
        if not history_in.is_file():
            raise InputError(f"{history_in}: no such history file")
    else:
        history_in = history_path_for(labels_path) if history_path_for(labels_path).is_file() else None
    history = read_history(history_in) if history_in is not None else None
    plan = _read_plan(Path(plan_path)) if plan_path is not None else None
    batch = f"{corrections_path.name}@{file_sha256(corrections_path)[:12]}"
    if history is not None and (history["batch"] == batch).any():
        raise InputError(f"{corrections_path}: already merged (batch {batch} is in {history_in}); nothing to do")
    result = merge_corrections(labels, corrections, history, batch=batch)
    summary = dict(result.summary)
    if plan is not None:
        this = result.history[result.history["batch"] == batch]
        summary["noise_estimate"] = estimate_noise_from_random_slice(this, plan)
    history_out = history_path_for(out_path)
    hist = result.history.copy()
    for col in ("reviewed_at", "merged_at"):
        hist[col] = hist[col].map(lambda t: t.isoformat() if pd.notna(t) else "")
    # Both files are complete before either is renamed into place: the history's rename waits for the
    # (itself atomic) table write, so a failure leaves neither.
    with atomic_path(history_out) as tmp:
        hist.to_csv(tmp, index=False)
        write_table(result.labels.frame, out_path)
    summary["out"] = str(out_path)
    summary["history"] = str(history_out)
    return summary
