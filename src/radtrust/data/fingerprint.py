"""Content fingerprints of cohorts: a dataset is identified by its case ids and report text, never by its
path or file format, so a privacy budget follows the records wherever they are copied."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from radtrust.data.readers import read_cohort
from radtrust.data.schema import Cohort
from radtrust.errors import InputError


def data_fingerprint(cohort: Cohort, sections: tuple[str, ...] = ("findings", "impression", "text")) -> str:
    """SHA-256 over case ids and report text (image cohorts: case ids, patient ids and each image file's
    bytes): identifies a dataset by content, not by path."""
    h = hashlib.sha256()
    if cohort.modality == "image":
        for cid, pid, path in zip(cohort.case_ids, cohort.patient_ids, cohort.image_paths):
            h.update(f"{cid}\x1f{pid}\x1f".encode("utf-8"))
            if not Path(path).is_file():
                raise InputError(f"{path}: image file not found (row of case {cid} in {cohort.source})")
            h.update(bytes.fromhex(file_sha256(path)))
            h.update(b"\x1e")
        return h.hexdigest()
    for cid, t in zip(cohort.case_ids, cohort.texts(sections)):
        h.update(cid.encode("utf-8"))
        h.update(b"\x1f")
        h.update(t.encode("utf-8"))
        h.update(b"\x1e")
    return h.hexdigest()


def file_fingerprint(path: str | Path, column_map: Mapping[str, str] | Iterable[str] | None = None, *, read: Cohort | None = None) -> str:
    """:func:`data_fingerprint` of the reports in a file (table or Open-i archive).

    Every row counts, empty reports included, so the same reports in CSV and Parquet share one
    fingerprint and ``--empty-reports drop`` at training does not change which dataset was touched.
    ``read``: the same file already read with the same column map; reused when it kept every row and its
    text was not de-identified, which saves reading a large file twice.
    """
    if read is not None and read.n_dropped_empty == 0 and read.deid is None:
        return data_fingerprint(read)
    # The raw text: a budget belongs to the records, whatever de-identification a command applied.
    return data_fingerprint(read_cohort(path, column_map, empty_reports="keep", deid=None))


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes: names an input (the label audit) in a run's record and resume identity
    without copying anything from it."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
