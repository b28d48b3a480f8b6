"""Readers that turn report files (CSV, Parquet, JSONL, Open-i XML) into a :class:`Cohort`, and label
files into a :class:`LabelTable`.

Every reader raises :class:`~radtrust.errors.InputError` naming the file (and row or column) for anything
a user can get wrong; none of them prints report text.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from radtrust.data.schema import ID_COLUMN_ALIASES, LABEL_SOURCE_COLUMN, Cohort, CohortScrubber, LabelTable
from radtrust.errors import InputError

TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


def parse_column_map(items: Iterable[str] | Mapping[str, str] | None) -> dict[str, str]:
    """Parse ``["case_id=accession", "text=report"]`` (radtrust name = your column) into a dict."""
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return dict(items)
    out: dict[str, str] = {}
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise InputError(f"column map entry '{part}' must look like radtrust_name=your_column")
            k, v = (x.strip() for x in part.split("=", 1))
            if not k or not v:
                raise InputError(f"column map entry '{part}' must look like radtrust_name=your_column")
            out[k] = v
    return out


def check_exists(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")


def _read_utf8(path: Path) -> str:
    """The whole file as text; a one-line error naming the line of the first byte that is not UTF-8."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputError(f"{path}: line {line}: text is not valid UTF-8 (byte offset {e.start})") from None
    if not text.strip():
        raise InputError(f"{path}: the file is empty")
    return text


def read_table(path: str | Path, strings: bool = False) -> pd.DataFrame:
    """Read a CSV/TSV/Parquet/JSONL file as strings-or-numbers, with one-line errors.

    ``strings=True`` keeps every CSV/TSV cell as text (ids such as ``007`` survive; the caller parses)."""
    path = Path(path)
    check_exists(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a table file (.csv, .parquet, .jsonl)")
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"{path}: unknown file type '{path.suffix}' (expected .csv, .tsv, .parquet, .jsonl, or Open-i .tgz/folder)")
    try:
        if kind in ("csv", "tsv"):
            text = _read_utf8(path)
            dtype = str if strings else {"case_id": str, "patient_id": str, "study_id": str, "filename": str}
            return pd.read_csv(io.StringIO(text), sep="\t" if kind == "tsv" else ",", dtype=dtype, keep_default_na=True)
        if kind == "parquet":
            return pd.read_parquet(path)
        text = _read_utf8(path)
        return pd.read_json(io.StringIO(text), lines=True, dtype=False)
    except InputError:
        raise
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, ValueError, OSError) as e:
        # The library message can quote file content; keep only its first clause, which names position.
        msg = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise InputError(f"{path}: cannot parse as {kind}: {msg}") from None
    except Exception as e:  # pyarrow raises its own family for corrupt parquet files
        if type(e).__module__.startswith("pyarrow"):
            raise InputError(f"{path}: cannot parse as parquet ({type(e).__name__})") from None
        raise


def read_cohort(
    path: str | Path,
    column_map: Mapping[str, str] | Iterable[str] | None = None,
    empty_reports: str = "error",
    *,
    deid: CohortScrubber | None,
) -> Cohort:
    """Read reports from a table file or an Open-i archive (``.tgz`` or a folder of XML files), with
    their text de-identified before anything else sees it.

    ``column_map`` maps radtrust column names to the file's (``{"case_id": "accession"}``); a source
    column may feed several radtrust columns (e.g. ``patient_id=case_id`` when each report is its own
    patient). ``deid`` (required, so that no caller forgets it): the de-identifier the text goes through,
    e.g. ``radtrust.CohortDeidentifier(mode="mask")``, or None to read the raw text on purpose (fingerprints,
    a file being de-identified). Image cohorts are never touched.
    """
    if deid is not None and not isinstance(deid, CohortScrubber):
        # a programming mistake (a DeidConfig or "mask" passed instead of the object), caught before any reading
        raise TypeError(f"deid must be a de-identifier with a deidentify_cohort(cohort) method (e.g. radtrust.CohortDeidentifier) or None, not {type(deid).__name__}")
    path = Path(path)
    check_exists(path)
    if path.is_dir() or path.name.lower().endswith((".tgz", ".tar.gz", ".tar", ".xml")):
        return _deidentified(read_openi(path, empty_reports=empty_reports), deid)
    return _deidentified(cohort_from_table(read_table(path), path, column_map, empty_reports), deid)


def cohort_from_table(
    frame: pd.DataFrame,
    path: str | Path,
    column_map: Mapping[str, str] | Iterable[str] | None = None,
    empty_reports: str = "error",
) -> Cohort:
    """A cohort (not yet de-identified) from a table already read from ``path``: the column map applied
    (each mapped column is a copy, so the file's own columns stay), relative image paths resolved.
    ``frame`` gains the mapped columns."""
    path = Path(path)
    mapping = parse_column_map(column_map)
    for src in mapping.values():
        if src not in frame.columns:
            raise InputError(f"{path}: column map names '{src}', which is not a column of the file")
    renamed = {target: frame[src] for target, src in mapping.items()}
    for target, col in renamed.items():
        frame[target] = col
    if "image_path" in frame.columns:
        frame["image_path"] = resolve_image_paths(frame["image_path"], path.parent)
    return Cohort(frame, str(path), empty_reports)


def _deidentified(cohort: Cohort, deid: CohortScrubber | None) -> Cohort:
    if deid is None or cohort.modality == "image":
        return cohort
    return deid.deidentify_cohort(cohort)


def resolve_image_paths(paths: pd.Series, base: Path) -> pd.Series:
    """Relative image paths are taken from the manifest's folder, so a dataset folder can move as a whole."""

    def one(p: object) -> object:
        if p is None or (isinstance(p, float) and pd.isna(p)) or not str(p).strip():
            return p
        q = Path(str(p).strip())
        return str(q if q.is_absolute() else (base / q).resolve())

    return paths.map(one)


_SECTION_COLUMNS = {"FINDINGS": "findings", "IMPRESSION": "impression", "INDICATION": "indication", "COMPARISON": "comparison"}


def _parse_openi_xml(data: bytes, name: str) -> dict:
    from lxml import etree

    try:
        root = etree.fromstring(data)
    except etree.XMLSyntaxError as e:
        raise InputError(f"{name}: not well-formed XML (line {e.lineno})") from None
    uid = root.find("uId")
    if uid is None or not uid.get("id"):
        raise InputError(f"{name}: no <uId id=...> element; not an Open-i report")
    row: dict = {"case_id": uid.get("id")}
    for node in root.iter("AbstractText"):
        col = _SECTION_COLUMNS.get((node.get("Label") or "").upper())
        if col:
            row[col] = (node.text or "").strip() or None
    mesh = root.find("MeSH")
    row["mesh_major"] = ";".join((m.text or "").strip() for m in mesh.findall("major")) if mesh is not None else ""
    row["mesh_minor"] = ";".join((m.text or "").strip() for m in mesh.findall("minor")) if mesh is not None else ""
    images = [p.get("id") for p in root.findall("parentImage") if p.get("id")]
    row["n_images"] = len(images)
    return row


def _natural_key(name: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


def read_openi(path: str | Path, empty_reports: str = "error") -> Cohort:
    """Read Open-i (Indiana University chest X-ray) reports from a ``.tgz``, a folder or one XML file.

    ``case_id`` is the report's uId (``CXR123``). Open-i publishes no patient identifier, so each report
    is its own patient (``patient_id = case_id``); the single site is ``iu``. MeSH terms are kept in
    ``mesh_major``/``mesh_minor`` (";"-joined) — they are the *source of the public gold standard*, so no
    labeler may read them.
    """
    path = Path(path)
    check_exists(path)
    rows: list[dict] = []
    if path.is_dir():
        files = sorted(path.rglob("*.xml"), key=lambda p: _natural_key(str(p)))
        if not files:
            raise InputError(f"{path}: folder holds no .xml reports (expected ecgen-radiology/*.xml)")
        rows = [_parse_openi_xml(f.read_bytes(), str(f)) for f in files]
    elif path.suffix.lower() == ".xml":
        rows = [_parse_openi_xml(path.read_bytes(), str(path))]
    else:
        try:
            with tarfile.open(path, "r:*") as tar:
                members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.endswith(".xml")), key=lambda m: _natural_key(m.name))
                for m in members:
                    fh = tar.extractfile(m)
                    if fh is not None:
                        rows.append(_parse_openi_xml(fh.read(), f"{path}:{m.name}"))
        except (tarfile.TarError, EOFError, OSError) as e:
            raise InputError(f"{path}: not a readable tar archive ({type(e).__name__})") from None
        if not rows:
            raise InputError(f"{path}: archive holds no .xml reports")
    frame = pd.DataFrame(rows)
    for col in _SECTION_COLUMNS.values():
        if col not in frame:
            frame[col] = None
    frame["patient_id"] = frame["case_id"]
    frame["study_id"] = frame["case_id"]
    frame["site"] = "iu"
    cols = ["case_id", "patient_id", "study_id", "site", "findings", "impression", "indication", "comparison"]
    frame = frame[cols + [c for c in frame.columns if c not in cols]]
    return Cohort(frame, str(path), empty_reports)


def read_labels(path: str | Path, id_column: str | None = None, findings: Iterable[str] | None = None) -> LabelTable:
    """Read a label file (CSV/Parquet/JSONL). The id column is ``id_column`` if given, else the first of
    ``case_id``, ``filename``, ``id``, ... present (the Open-i gold standard calls it ``filename``)."""
    path = Path(path)
    frame = read_table(path)
    if id_column is not None:
        if id_column not in frame.columns:
            raise InputError(f"{path}: no id column '{id_column}' (columns: {', '.join(map(str, frame.columns[:12]))})")
        col = id_column
    else:
        lower = {str(c).lower(): c for c in frame.columns}
        found = next((lower[a] for a in ID_COLUMN_ALIASES if a in lower), None)
        if found is None:
            raise InputError(f"{path}: no case id column found (tried {', '.join(ID_COLUMN_ALIASES)}); pass `id_column`")
        col = found
    frame = frame.rename(columns={col: "case_id"})
    if findings is None:
        findings = [c for c in frame.columns if c not in ("case_id", LABEL_SOURCE_COLUMN)]
    return LabelTable(frame, list(findings), origin=str(path), source=f"file:{path.name}" if LABEL_SOURCE_COLUMN not in frame else "unknown")
