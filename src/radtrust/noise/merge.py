"""Merge expert label corrections into a label table, with per-row provenance and a per-cell history.

Expert labels win over automatic ones; when a cell is reviewed more than once (two annotators, or a later
batch) the latest ``reviewed_at`` wins. The corrections are read by :mod:`radtrust.noise.corrections`, the
agreement and noise estimate computed by :mod:`radtrust.noise.review_stats`, and the files written by
:mod:`radtrust.noise.merge_io`.

A cell counts as *changed* when its meaning changed: an empty automatic label means "not mentioned", which
every consumer reads as absent, so an expert 0 on an empty cell confirms it (the cell is filled with 0 and
recorded with ``changed=False``). The history file is internal: it holds annotator ids and per-case labels
and carries the internal-only marker of :mod:`radtrust.noise.files`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from radtrust.data.schema import LABEL_SOURCE_COLUMN, LabelTable
from radtrust.errors import InputError
from radtrust.noise.corrections import empty_history, typed_corrections, typed_history
from radtrust.noise.review_stats import annotator_kappas

_log = logging.getLogger(__name__)


@dataclass
class MergeResult:
    labels: LabelTable
    history: pd.DataFrame
    summary: dict = field(default_factory=dict)


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
    hist = typed_history(history, "<history>") if len(history) else empty_history()
    table, counts = _apply_history(labels, hist)
    if counts["n_history_cells_skipped"]:
        _log.info("apply_history: %d cells of %d cases not in the label table were skipped", counts["n_history_cells_skipped"], counts["n_history_cases_skipped"])
    return table


def merge_corrections(
    labels: LabelTable,
    corrections: pd.DataFrame,
    history: pd.DataFrame | None = None,
    batch: str = "",
    merged_at: pd.Timestamp | None = None,
) -> MergeResult:
    """Merge expert corrections (from :func:`~radtrust.noise.corrections.read_corrections`) into ``labels``.

    Expert labels from ``history`` (earlier merges) are re-applied first, so they keep winning over a
    regenerated automatic table. Per cell the latest ``reviewed_at`` among this batch's reviews and the
    latest earlier one wins (ties go to the later row of this batch). Every reviewed case row gets the
    corrections' ``source`` as its ``label_source``. The history gains one row per reviewed cell,
    confirmations (``changed=False``) included.
    """
    where = str(corrections.attrs.get("path", "corrections"))
    n_rows_read = corrections.attrs.get("n_rows_read")
    n_skipped = int(corrections.attrs.get("n_rows_skipped_unreviewed", 0))
    corr = typed_corrections(corrections)
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
    hist = empty_history() if history is None or len(history) == 0 else typed_history(history, "<history>")
    merged_at = pd.Timestamp.now(tz="UTC") if merged_at is None else pd.Timestamp(merged_at)
    merged_at = merged_at.tz_localize("UTC") if merged_at.tzinfo is None else merged_at.tz_convert("UTC")
    table, restored = _apply_history(labels, hist)

    if len(corr) == 0:
        new_rows = empty_history()
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
        new_rows = typed_history(new_rows, "<history>")
    history_out = pd.concat([hist, new_rows], ignore_index=True) if len(hist) else new_rows
    changed = new_rows[new_rows["changed"]]
    kappas = annotator_kappas(corr) if len(corr) else []
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
