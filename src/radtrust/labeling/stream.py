"""Label a report file of any size in chunks, in parallel worker processes, with memory flat in its size.

The input (CSV/TSV, Parquet, JSONL) is read a chunk at a time (Parquet by record batches, CSV and JSONL
with pandas' chunked readers), each chunk is validated as a :class:`~radtrust.data.schema.Cohort` and its
texts go to a pool of worker processes that each build one :class:`~radtrust.labeling.rules.RuleLabeler`.
Results are written in input order to a temporary file beside the target, renamed onto it only when the
whole file has been labelled, so a failure never leaves half a label table behind.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radtrust.data.io import atomic_path
from radtrust.data.readers import TABLE_SUFFIXES, parse_column_map, read_cohort
from radtrust.data.schema import LABEL_SOURCE_COLUMN, LABELLED_SECTIONS, Cohort, columns_present
from radtrust.deid import deidentify_values
from radtrust.deid.door import CohortDeidentifier, merge_summaries
from radtrust.errors import ConfigError, InputError
from radtrust.labeling.rules import RuleLabeler
from radtrust.labeling.vocab import get_vocabulary

__all__ = ["label_stream", "StreamResult", "DEFAULT_CHUNK_SIZE"]

DEFAULT_CHUNK_SIZE = 50_000
_MISSING = np.int8(127)  # "not mentioned" in the int8 matrices workers send back
_OUT_KINDS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass
class StreamResult:
    """What :func:`label_stream` did (counts only: no text, no identifiers)."""

    out_path: Path
    n_reports: int
    n_dropped_empty: int
    n_chunks: int
    workers: int
    seconds: float
    label_source: str
    findings: list[str] = field(default_factory=list)
    deid: dict | None = None  # what de-identification replaced before labeling (counts per kind), None if off

    @property
    def reports_per_s(self) -> float:
        return self.n_reports / self.seconds if self.seconds > 0 else float("inf")


# ---------------------------------------------------------------------------------------- workers

_WORKER_LABELER = None
_WORKER_DEID = None


def _init_worker(vocab: str, deid: CohortDeidentifier | None = None) -> None:
    global _WORKER_LABELER, _WORKER_DEID

    _WORKER_LABELER = RuleLabeler(vocab)
    # ``deid`` arrives as a copy with the parent's settings and key: the same surrogates and date shifts
    _WORKER_DEID = deid.engine if deid is not None else None


def _label_chunk(sections: dict[str, list], patients: list | None = None) -> tuple[np.ndarray, dict | None]:
    return _scrub_and_label(_WORKER_LABELER, _WORKER_DEID, sections, patients)


def _scrub_and_label(labeler, deid, sections: dict[str, list], patients: list | None) -> tuple[np.ndarray, dict | None]:
    """De-identify the sections the labeler reads (in the worker, so it scales with the workers like the
    labeling does), then label them. Returns the label codes and what was scrubbed (counts only)."""
    summary = None
    if deid is not None and patients is not None:
        pids = [None if p is None or p is pd.NA or (isinstance(p, float) and p != p) else str(p) for p in patients]
        done = deid.new_summary()
        sections = {c: deidentify_values(deid, v, pids, done) for c, v in sections.items()}
        summary = done.to_dict()
    return _to_codes(labeler.label_texts(_report_texts(sections))), summary


def _report_texts(sections: dict[str, list]) -> list[str]:
    """What :meth:`Cohort.texts` makes of the labelled sections, built in the worker to spread the work.

    Each non-empty section is prefixed by its upper-case header (none for ``text``) and the sections are
    joined by one space, exactly as ``Cohort.texts()`` does.
    """
    names = [s for s in ("findings", "impression", "text") if s in sections]
    heads = ["" if s == "text" else f"{s.upper()}: " for s in names]
    out = []
    for row in zip(*(sections[s] for s in names)):
        parts = []
        for h, v in zip(heads, row):
            v = "" if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v).strip()
            parts.append(f"{h}{v}" if v else "")
        out.append(" ".join(parts).strip())
    return out


def _to_codes(values: np.ndarray) -> np.ndarray:
    """1/0/-1/NaN floats as int8 with 127 for NaN: an eighth of the bytes to send between processes."""
    out = np.full(values.shape, _MISSING, dtype=np.int8)
    ok = ~np.isnan(values)
    out[ok] = values[ok].astype(np.int8)
    return out


def _mp_context() -> mp.context.BaseContext:
    # Never plain fork: pyarrow and pandas start threads in this process, and forking a threaded process
    # can deadlock the child. forkserver forks from a clean single-threaded server; spawn elsewhere.
    methods = mp.get_all_start_methods()
    return mp.get_context("forkserver" if "forkserver" in methods else "spawn")


def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


# ---------------------------------------------------------------------------------------- reading

#: Read besides ids and text because the Cohort validates them: a bad value fails here as in label_file.
_VALIDATED = ("study_id", "site", "age", "sex", "race")


def _needed_columns(mapping: Mapping[str, str]) -> dict[str, str]:
    """radtrust column -> file column for what labelling reads (ids, labelled text, validated columns)."""
    return {t: mapping.get(t, t) for t in ("case_id", "patient_id", *LABELLED_SECTIONS, *_VALIDATED)}


def _check_header(path: Path, columns: list[str], mapping: Mapping[str, str]) -> list[str]:
    """File columns to read; the same one-line errors as :func:`~radtrust.data.readers.read_cohort`."""
    for src in mapping.values():
        if src not in columns:
            raise InputError(f"{path}: column map names '{src}', which is not a column of the file")
    need = _needed_columns(mapping)
    shown = columns_present(columns)
    for col in ("case_id", "patient_id"):
        if need[col] not in columns:
            raise InputError(f"{path}: missing required column '{col}' ({shown}); map one with `column_map`")
    if not any(need[s] in columns for s in LABELLED_SECTIONS):
        raise InputError(f"{path}: no report text column: need 'findings', 'impression' or 'text' ({shown}); map one with `column_map`")
    return sorted({need[t] for t in need if need[t] in columns})


def _chunks(path: Path, kind: str, chunk_size: int, mapping: Mapping[str, str]) -> Iterator[pd.DataFrame]:
    """Frames of at most ``chunk_size`` rows holding the needed columns under their radtrust names."""
    if kind == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        cols = _check_header(path, list(pf.schema_arrow.names), mapping)
        batches: Iterator[pd.DataFrame] = (b.to_pandas() for b in pf.iter_batches(batch_size=chunk_size, columns=cols))
    elif kind in ("csv", "tsv"):
        sep = "\t" if kind == "tsv" else ","
        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = pd.read_csv(fh, sep=sep, nrows=0)
        cols = _check_header(path, [str(c) for c in header.columns], mapping)
        ids = {mapping.get("case_id", "case_id"), mapping.get("patient_id", "patient_id")}
        # No usecols: with it pandas silently drops the extra fields of a ragged row, where every other
        # reader (read_table) refuses the file; one rule for every command. Columns are selected per chunk.
        batches = (chunk[cols] for chunk in pd.read_csv(path, sep=sep, chunksize=chunk_size, dtype={c: str for c in ids}, encoding="utf-8-sig"))
    else:
        reader = pd.read_json(path, lines=True, chunksize=chunk_size, dtype=False)
        batches = _checked_json(path, reader, mapping)
    for frame in batches:
        yield _rename(frame, mapping)


def _checked_json(path: Path, reader, mapping: Mapping[str, str]) -> Iterator[pd.DataFrame]:
    cols: list[str] | None = None
    for frame in reader:
        if cols is None:
            cols = _check_header(path, [str(c) for c in frame.columns], mapping)
        yield frame[[c for c in cols if c in frame.columns]]


def _rename(frame: pd.DataFrame, mapping: Mapping[str, str]) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for target, src in _needed_columns(mapping).items():
        if src in frame.columns:
            out[target] = frame[src]
    return out


def _library_error(path: Path, kind: str, e: Exception) -> InputError | None:
    """A one-line error for what the parsing libraries raise on a bad file; None for anything else."""
    if isinstance(e, UnicodeDecodeError):
        line, offset = _utf8_error_position(path)
        return InputError(f"{path}: line {line}: text is not valid UTF-8 (byte offset {offset})")
    if isinstance(e, pd.errors.EmptyDataError):
        return InputError(f"{path}: the file is empty")
    if isinstance(e, (pd.errors.ParserError, ValueError, OSError)) or type(e).__module__.startswith("pyarrow"):
        # Library messages can quote file content; keep the first clause only.
        msg = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        return InputError(f"{path}: cannot parse as {kind}: {msg}")
    return None


def _utf8_error_position(path: Path, block: int = 1 << 20) -> tuple[int, int]:
    """Line and byte offset of the first invalid UTF-8 byte, found block by block (error path only)."""
    import codecs

    dec = codecs.getincrementaldecoder("utf-8")()
    done = lines = 0
    with open(path, "rb") as fh:
        while data := fh.read(block):
            try:
                dec.decode(data)
            except UnicodeDecodeError as e:
                # The decoder may hold back up to 3 bytes of an unfinished character from the last block.
                pending = len(dec.getstate()[0]) if e.start == 0 else 0
                pos = done - pending + e.start
                with open(path, "rb") as again:
                    head = again.read(max(0, pos))
                return head.count(b"\n") + 1, pos
            lines += data.count(b"\n")
            done += len(data)
    return lines + 1, done


_ROW = re.compile(r"^(?P<src>.*?): row (?P<row>\d+):")


def _validate(frame: pd.DataFrame, path: Path, first_row: int, empty_reports: str) -> Cohort:
    """The chunk as a Cohort; row numbers in errors count data rows of the whole file (1-based)."""
    try:
        return Cohort(frame.reset_index(drop=True), str(path), empty_reports)
    except InputError as e:
        m = _ROW.match(str(e))
        if m is None:
            raise
        row = int(m.group("row")) + first_row
        raise InputError(f"{m.group('src')}: row {row}:{str(e)[m.end() :]}") from None


class _DuplicateIds:
    """Case ids seen so far, as 64-bit hashes with their row numbers: 16 bytes a report.

    An exact set of strings would grow with the corpus by ~100 bytes a report; hashes keep the check
    cheap at archive scale. Two different ids share a 64-bit hash with probability about n^2 / 2^65
    (3e-8 for a million reports), which would be reported as a duplicate.
    """

    def __init__(self) -> None:
        self.hashes = np.empty(0, dtype=np.uint64)
        self.rows = np.empty(0, dtype=np.int64)

    def add(self, ids: pd.Series, first_row: int, path: Path) -> None:
        h = pd.util.hash_pandas_object(ids.astype(object), index=False).to_numpy(dtype=np.uint64)
        if len(self.hashes):
            pos = np.searchsorted(self.hashes, h)
            pos[pos >= len(self.hashes)] = len(self.hashes) - 1
            seen = self.hashes[pos] == h
            if seen.any():
                i = int(np.flatnonzero(seen)[0])
                raise InputError(f"{path}: row {first_row + i + 1}: duplicate case_id (first seen in row {int(self.rows[pos[i]]) + 1}); case ids must be unique")
        rows = np.arange(first_row, first_row + len(h), dtype=np.int64)
        new = np.argsort(h, kind="stable")
        h, rows = h[new], rows[new]
        # Two sorted runs: the stable sort (timsort) merges them in linear time.
        hashes = np.concatenate([self.hashes, h])
        order = np.argsort(hashes, kind="stable")
        self.hashes, self.rows = hashes[order], np.concatenate([self.rows, rows])[order]


# ---------------------------------------------------------------------------------------- writing


class _Writer:
    """Appends label chunks to a CSV, Parquet or JSONL file in the LabelTable layout."""

    def __init__(self, tmp: Path, kind: str, findings: list[str], source: str) -> None:
        self.tmp, self.kind, self.findings, self.source = tmp, kind, findings, source
        self._pq: Any = None  # a pyarrow ParquetWriter once the first chunk is written
        self._fh = None
        if kind in ("csv", "jsonl"):
            self._fh = open(tmp, "w", encoding="utf-8", newline="")
        self._first = True

    def frame(self, case_ids: list[str], codes: np.ndarray) -> pd.DataFrame:
        cols: dict[str, object] = {"case_id": pd.array(case_ids, dtype="string")}
        for j, f in enumerate(self.findings):
            col = codes[:, j]
            cols[f] = pd.arrays.IntegerArray(col.astype(np.int8), col == _MISSING)
        frame = pd.DataFrame(cols)
        frame[LABEL_SOURCE_COLUMN] = self.source
        return frame

    def write(self, case_ids: list[str], codes: np.ndarray) -> None:
        frame = self.frame(case_ids, codes)
        if self.kind == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._pq is None:
                self._pq = pq.ParquetWriter(self.tmp, table.schema)
            self._pq.write_table(table)
        elif self.kind == "csv":
            frame.to_csv(self._fh, index=False, header=self._first)
        else:
            frame.to_json(self._fh, orient="records", lines=True, force_ascii=False)
        self._first = False

    def close(self) -> None:
        if self._pq is not None:
            self._pq.close()
        if self._fh is not None:
            self._fh.close()


# ---------------------------------------------------------------------------------------- entry point


def label_stream(
    input_path: str | Path,
    out_path: str | Path,
    vocab: str = "chexpert14",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    workers: int | None = None,
    column_map: Mapping[str, str] | Iterable[str] | None = None,
    empty_reports: str = "error",
    progress: Callable[[int], None] | None = None,
    *,
    deid: CohortDeidentifier | None,
) -> StreamResult:
    """Label every report of ``input_path`` and write the label table to ``out_path``.

    Same output as :func:`radtrust.labeling.api.label_file` (``case_id``, one column per finding,
    ``label_source``; CSV, Parquet or JSONL by suffix), with memory bounded by ``chunk_size`` and the
    number of workers rather than by the corpus.

    Parameters
    ----------
    chunk_size:
        Reports read, validated and labelled at a time.
    workers:
        Worker processes; ``None`` = the CPUs this process may use; 0 or 1 labels in this process.
    column_map, empty_reports:
        As for :func:`~radtrust.data.readers.read_cohort` (``empty_reports``: ``error``, ``drop`` or
        ``keep``; a kept empty report gets every column empty).
    progress:
        Called with the number of reports written after each chunk.
    deid:
        The de-identifier every chunk goes through before the labeler reads it (in the workers, with copies
        of it that share its key; what they replaced is added to its summary), or None for the raw text.

    Duplicate case ids are an error naming the later row and the first one, within a chunk or across
    chunks (the same outcome as reading the whole file as a Cohort); rows count data rows from 1. Output
    rows keep input order. Open-i archives/folders are small and are read whole.
    """

    get_vocabulary(vocab)  # an unknown vocabulary fails before any file is read
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be at least 1, got {chunk_size}")
    if workers is not None and workers < 0:
        raise ConfigError(f"workers must be >= 0, got {workers}")
    input_path, out_path = Path(input_path), Path(out_path)
    out_kind = _OUT_KINDS.get(out_path.suffix.lower(), "csv")
    labeler = RuleLabeler(vocab)
    findings, source = list(labeler.findings), labeler.label_source
    mapping = parse_column_map(column_map)
    n_workers = _default_workers() if workers is None else workers
    t0 = time.perf_counter()

    if not input_path.exists():
        raise InputError(f"{input_path}: no such file or folder")
    kind = TABLE_SUFFIXES.get(input_path.suffix.lower())
    if input_path.is_dir() or kind is None:
        # Open-i archives (and anything read_cohort knows how to explain) are read whole.
        frames: Iterator[pd.DataFrame | Cohort] = iter([read_cohort(input_path, mapping, empty_reports, deid=deid)])
        kind = "openi"
    else:
        frames = _chunks(input_path, kind, chunk_size, mapping)

    pool: ProcessPoolExecutor | None = None
    pending: deque[tuple[list[str], Future | tuple[np.ndarray, dict | None]]] = deque()
    max_pending = max(2, n_workers + 1)  # bounds memory: chunks read ahead of the writer
    dups = _DuplicateIds()
    n_rows = n_written = n_dropped = n_chunks = 0
    deid_parts: list[dict] = []  # every chunk's summary, for the result
    scrubbed_here: list[dict] = []  # those scrubbed by this call (the rest by read_cohort, which counted them)

    def collect(writer: _Writer) -> None:
        nonlocal n_written
        ids, res = pending.popleft()
        codes, scrubbed = res.result() if isinstance(res, Future) else res
        if scrubbed is not None:
            deid_parts.append(scrubbed)
            scrubbed_here.append(scrubbed)
        writer.write(ids, codes)
        n_written += len(ids)
        if progress is not None:
            progress(n_written)

    try:
        with atomic_path(out_path) as tmp:
            writer = _Writer(tmp, out_kind, findings, source)
            try:
                upcoming = _next_frame(frames, input_path, kind)
                while upcoming is not None:
                    frame, upcoming = upcoming, _next_frame(frames, input_path, kind)
                    if isinstance(frame, Cohort):
                        cohort, raw_ids = frame, frame.frame["case_id"]  # read_cohort de-identified it
                    else:
                        cohort = _validate(frame, input_path, n_rows, empty_reports)
                        raw_ids = _as_str(frame["case_id"])  # before empty reports are dropped: file rows
                    # Within a chunk the Cohort has checked ids already; this catches repeats across chunks.
                    dups.add(raw_ids, n_rows, input_path)
                    n_dropped += cohort.n_dropped_empty
                    n_rows += len(raw_ids)
                    n_chunks += 1
                    ids = cohort.case_ids
                    sections = {s: cohort.frame[s].tolist() for s in LABELLED_SECTIONS if s in cohort.frame.columns}
                    # Table chunks are de-identified where they are labelled, before the labeler reads them.
                    patients = None if cohort.deid is not None or deid is None else cohort.frame["patient_id"].tolist()
                    if cohort.deid is not None:
                        deid_parts.append(cohort.deid)
                    if pool is None and n_workers > 1 and (upcoming is not None or n_chunks > 1):
                        # Started only once a second chunk exists: one chunk is faster labelled here.
                        pool = ProcessPoolExecutor(n_workers, _mp_context(), initializer=_init_worker, initargs=(vocab, deid))
                    if pool is not None:
                        pending.append((ids, pool.submit(_label_chunk, sections, patients)))
                    else:
                        pending.append((ids, _scrub_and_label(labeler, deid.engine if deid is not None else None, sections, patients)))
                    while len(pending) >= max_pending:
                        collect(writer)
                while pending:
                    collect(writer)
                if n_rows == 0:
                    raise InputError(f"{input_path}: the cohort is empty (no rows)")
            finally:
                writer.close()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    deid_summary = merge_summaries(deid_parts)
    if scrubbed_here and deid is not None:
        deid.add_summary(merge_summaries(scrubbed_here))
    return StreamResult(
        deid=deid_summary,
        out_path=out_path,
        n_reports=n_written,
        n_dropped_empty=n_dropped,
        n_chunks=n_chunks,
        workers=n_workers if pool is not None else 1,
        seconds=time.perf_counter() - t0,
        label_source=source,
        findings=findings,
    )


def _next_frame(frames: Iterator, path: Path, kind: str):
    """The next chunk, or None at the end; parsing-library errors become one-line user errors."""
    try:
        return next(frames)
    except StopIteration:
        return None
    except InputError:
        raise
    except Exception as e:
        err = _library_error(path, kind, e)
        if err is None:
            raise
        raise err from None


def _as_str(ids: pd.Series) -> pd.Series:
    return ids.astype("string").str.strip()
