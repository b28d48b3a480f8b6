"""Merging a corrections file into a label file on disk: the history file beside the table, the plan read for
the noise estimate, and the merged table and its history written atomically, both or neither."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from radtrust.data.fingerprint import file_sha256
from radtrust.data.io import TABLE_SUFFIXES, atomic_path, check_output, write_table
from radtrust.data.readers import read_labels
from radtrust.errors import InputError
from radtrust.noise.corrections import read_corrections, read_history
from radtrust.noise.merge import merge_corrections
from radtrust.noise.review_stats import estimate_noise_from_random_slice, random_slice_ids


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
        random_slice_ids(plan)
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

    # the label table may be corrected in place (its history keeps what it held); the experts' returned
    # file, the plan and the history never are
    check_output(out_path, [corrections_path, plan_path, history_path], suffixes=TABLE_SUFFIXES)
    labels = read_labels(labels_path, id_column=id_column)
    corrections = read_corrections(corrections_path, labels.findings, current=labels)
    if history_path is not None:
        given = Path(history_path)
        if not given.is_file():
            raise InputError(f"{given}: no such history file")
        history_in: Path | None = given
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
