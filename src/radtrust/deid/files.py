"""``radtrust deid INPUT --out OUTPUT``: a de-identified copy of a report file, and what was done to it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from radtrust.data.io import TABLE_SUFFIXES, check_output, write_json, write_table
from radtrust.data.readers import cohort_from_table, parse_column_map, read_cohort, read_table
from radtrust.data.schema import TEXT_SECTIONS
from radtrust.deid.engine import DeidConfig, deidentify_frame
from radtrust.errors import InputError


def summary_path(out: str | Path) -> Path:
    """Where the counts go: ``<out stem>.deid.json`` beside the output."""
    out = Path(out)
    return out.with_name(out.name.split(".")[0] + ".deid.json")


def deid_file(input_path: str | Path, out: str | Path, config: DeidConfig | None = None, columns: Sequence[str] | None = None, column_map=None) -> dict:
    """Write ``out`` (CSV, Parquet or JSONL by suffix; an Open-i archive becomes a table) with the report
    text de-identified, and ``<out stem>.deid.json`` with the engine, mode and counts per kind.

    The file is read and validated as every pipeline reads it (ids, columns), every row kept, and written
    back with the file's own columns in their order: a mapped text column (``findings=report``) is scrubbed
    under its own name. ``columns`` names the free-text columns to scrub (default: the report sections
    present: findings, impression, indication, comparison, text). Without a ``patient_id`` column each
    report is its own patient: surrogates and date shifts are keyed on ``case_id`` (``keyed_on`` in the
    summary says which); masks need no key. Both files are written atomically; the input is never
    overwritten."""
    src, out = Path(input_path), Path(out)
    check_output(out, [src], suffixes=TABLE_SUFFIXES)
    mapping = parse_column_map(column_map)
    keyed_on = mapping.get("patient_id", "patient_id")
    if src.is_dir() or src.name.lower().endswith((".tgz", ".tar.gz", ".tar", ".xml")):
        cohort = read_cohort(src, mapping, empty_reports="keep", deid=None)
        file_columns = list(cohort.frame.columns)
    else:
        raw = read_table(src)
        file_columns = list(raw.columns)
        if "patient_id" not in raw.columns and "patient_id" not in mapping:
            case_column = mapping.get("case_id", "case_id")
            if case_column in raw.columns:
                mapping["patient_id"] = case_column  # each report its own patient
                keyed_on = case_column
        cohort = cohort_from_table(raw, src, mapping, empty_reports="keep")
    if cohort.modality == "image":
        raise InputError(f"{src}: an image manifest has no report text to de-identify")
    cols = list(columns) if columns else [s for s in TEXT_SECTIONS if s in cohort.frame.columns]
    missing = [c for c in cols if c not in cohort.frame.columns]
    if missing:
        raise InputError(f"{src}: column '{missing[0]}' (`columns`) is not in the file")
    if not cols:
        raise InputError(f"{src}: no report text column (findings, impression, indication, comparison or text); name them with `columns`")
    frame, summary = deidentify_frame(cohort.frame, cols, config, patient_column="patient_id")
    for col in cols:
        if col in mapping and mapping[col] in file_columns:
            frame[mapping[col]] = frame[col]  # the scrubbed text goes back under the file's own name
    result = summary.to_dict() | {"columns": cols, "n_rows": len(frame), "keyed_on": keyed_on}
    write_table(frame[file_columns], out)
    write_json(result, summary_path(out))
    return result
