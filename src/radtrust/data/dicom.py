"""DICOM mammograms: pixels as display-ready grey arrays, header metadata, folder scans and OMI-DB-style
hierarchy manifests, all turned into the image-manifest shape of :mod:`radtrust.data.images`.

Pixel values follow the DICOM grayscale pipeline (PS3.4 Annex N: modality LUT, then VOI LUT or window)
using pydicom's own implementations; headers are read without the pixel data, so scanning a folder of
full-field mammograms (tens of MB each) costs little more than listing it. Error messages name files, rows
and columns only, never a patient identifier.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import re
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.pixels import apply_modality_lut, apply_voi_lut, apply_windowing, get_decoder

from radtrust.data.images import IMAGE_COLUMNS, looks_like_dicom
from radtrust.data.readers import read_table
from radtrust.data.schema import LATERALITY
from radtrust.errors import InputError

#: Columns of the marks frame returned by :func:`read_manifest`, one row per annotated lesion. ``x``/``y``
#: are the mark's centre (or top-left corner, as the manifest gives it) in pixels; a mark carries either
#: ``width``/``height`` or ``radius``; the others are NaN.
MARK_COLUMNS: tuple[str, ...] = ("case_id", "mark_id", "lesion_type", "conspicuity", "x", "y", "width", "height", "radius", "pathology")

#: Manifest columns that must be present; ``client_id`` is OMI-DB's name for the woman.
MANIFEST_REQUIRED: tuple[str, ...] = ("client_id", "episode_id", "study_id", "image_id", "image_path")

_MARK_TEXT = ("mark_id", "lesion_type", "conspicuity", "pathology")
_MARK_NUMBERS = ("x", "y", "width", "height", "radius")
# Image-level fields that every row of one image must agree on when a manifest repeats an image per mark.
_IMAGE_FIELDS = ("patient_id", "episode_id", "study_id", "image_path", "site", "manufacturer", "laterality", "view", "age")

# Spelled-out view names (ViewCodeSequence meanings, manifest spellings) to the ACR abbreviations.
_VIEW_ALIASES = {
    "CRANIOCAUDAL": "CC",
    "CRANIO-CAUDAL": "CC",
    "CRANIO CAUDAL": "CC",
    "MEDIOLATERAL OBLIQUE": "MLO",
    "MEDIO-LATERAL OBLIQUE": "MLO",
    "MEDIOLATERAL": "ML",
    "MEDIO-LATERAL": "ML",
    "LATEROMEDIAL": "LM",
    "LATERO-MEDIAL": "LM",
    "EXAGGERATED CRANIOCAUDAL": "XCCL",
    "CRANIO-CAUDAL EXAGGERATED LATERALLY": "XCCL",
}
# Views that manifests sometimes glue to the laterality ("LCC", "RMLO").
_GLUED_VIEWS = ("MLO", "CC", "ML", "LM", "XCCL", "XCCM")
_AGE_RE = re.compile(r"^\s*(\d{1,3})\s*([DWMY]?)\s*$", re.IGNORECASE)
_DAYS_PER_YEAR = 365.25


# --------------------------------------------------------------------------------------------- pixels


def read_dicom_pixels(path: str | os.PathLike[str]) -> np.ndarray:
    """One single-frame grey DICOM image as float32 ``(rows, cols)`` in [0, 1], brighter = denser.

    The stored values go through the modality LUT (or rescale slope/intercept), then the first VOI LUT or
    window centre/width when the file has one — that is the contrast the acquiring site chose for reading,
    so a model sees what a radiologist saw — and are scaled by that transform's output range. Without a
    VOI transform the image is min-max scaled. MONOCHROME1 images (where high values display dark) are
    inverted so that every image, whatever its vendor, has dense tissue bright.

    Raises :class:`~radtrust.errors.InputError` naming the file for an unreadable file, missing pixel
    data, a colour or multi-frame image, or a compressed transfer syntax with no decoder installed.
    """
    path = Path(path)
    with _quiet_pydicom():
        return _read_pixels(path)


def _read_pixels(path: Path) -> np.ndarray:
    ds = _dcmread(path, stop_before_pixels=False)
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise InputError(f"{path}: DICOM file has no pixel data")
    photometric = _text(ds.get("PhotometricInterpretation"))
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise InputError(f"{path}: expected a grey image (MONOCHROME1 or MONOCHROME2), found photometric interpretation {photometric or 'none'}")
    n_frames = _int(ds.get("NumberOfFrames")) or 1
    if n_frames > 1:
        # Mammography views are single frames; a multi-frame object is tomosynthesis or a cine loop,
        # which no radtrust model is built for, and silently taking frame 0 would hide that.
        raise InputError(f"{path}: DICOM file holds {n_frames} frames; expected a single-frame image (tomosynthesis is not supported)")
    arr = _decode(path, ds)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise InputError(f"{path}: expected a single grey image, found pixel data of shape {arr.shape}")
    try:
        arr = apply_modality_lut(arr, ds)
        out, lo, hi = _apply_voi(arr, ds)
    except (ValueError, NotImplementedError, AttributeError, IndexError) as e:
        # pydicom's messages here name tags and limits (e.g. window width < 1), never header values.
        raise InputError(f"{path}: cannot apply the DICOM grey-scale transform: {str(e).splitlines()[0][:160]}") from None
    out = np.asarray(out, dtype=np.float64)
    scale = hi - lo
    if not np.isfinite(scale) or scale == 0:
        # A constant image (or a degenerate window) carries no contrast; all zeros is the honest answer.
        out = np.zeros(out.shape, dtype=np.float64)
    else:
        out = (out - lo) / scale
    out = np.clip(np.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    if photometric == "MONOCHROME1":
        out = 1.0 - out
    return out.astype(np.float32)


def _decode(path: Path, ds: Dataset) -> np.ndarray:
    """The stored pixel values, with the missing-decoder case told apart from a damaged file."""
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    try:
        return np.asarray(ds.pixel_array)
    except Exception as e:  # pydicom's decoders raise many types; all of them are about this file
        if syntax is not None and syntax.is_compressed:
            if not _decoder_available(syntax):
                raise InputError(
                    f"{path}: pixel data is compressed ({syntax.name}) and no decoder for it is installed; install one (e.g. pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg) or decompress the file"
                ) from None
            raise InputError(f"{path}: pixel data is compressed ({syntax.name}) and could not be decoded; the file may be damaged ({type(e).__name__})") from None
        raise InputError(f"{path}: cannot decode the pixel data ({type(e).__name__})") from None


def _decoder_available(syntax: Any) -> bool:
    try:
        return bool(get_decoder(syntax).is_available)
    except (NotImplementedError, ValueError):  # a syntax pydicom has no decoder class for at all
        return False


def _apply_voi(arr: np.ndarray, ds: Dataset) -> tuple[np.ndarray, float, float]:
    """The VOI-transformed image and the transform's output range (lo, hi) to scale it by.

    Scaling by the transform's range rather than the image's keeps the window's meaning: values below the
    window are black and above it white, however little of the image falls inside it.
    """
    if _has_voi_lut(ds):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.mod(arr, 1) == 0):
            # A LUT indexes by integer; rescaled values are float64 even when whole.
            arr = arr.astype(np.int64)
        out = apply_voi_lut(arr, ds, index=0, prefer_lut=True)
        descriptor = ds.VOILUTSequence[0].LUTDescriptor
        n_entries, first = int(descriptor[0]) or 2**16, int(descriptor[1])
        # Every LUT entry, so the range is the LUT's own (vendors often declare 16 bits and use 12).
        lut = np.asarray(apply_voi_lut(np.arange(first, first + n_entries, dtype=np.int64), ds, index=0, prefer_lut=True), dtype=np.float64)
        return out, float(lut.min()), float(lut.max())
    if _has_value(ds, "WindowCenter") and _has_value(ds, "WindowWidth"):
        out = apply_windowing(arr, ds, index=0)
        # The window's limits as pydicom computes them (bit depth, rescale, LINEAR or SIGMOID).
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            lo, hi = apply_windowing(np.array([-np.inf, np.inf]), ds, index=0)
        return out, float(lo), float(hi)
    arr = np.asarray(arr, dtype=np.float64)
    if arr.size == 0 or not np.isfinite(arr).any():
        return arr, 0.0, 0.0
    return arr, float(np.nanmin(arr)), float(np.nanmax(arr))


def _has_voi_lut(ds: Dataset) -> bool:
    seq = ds.get("VOILUTSequence")
    if not seq:
        return False
    item = seq[0]
    return item.get("LUTDescriptor") is not None and item.get("LUTData") is not None


# ------------------------------------------------------------------------------------------- metadata


def read_dicom_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The header fields radtrust uses, read without the pixel data (so it is cheap on large files).

    Keys: ``patient_id``, ``study_id``, ``series_id``, ``image_id`` (SOPInstanceUID), ``laterality``
    ("L"/"R" from ImageLaterality, else the series' Laterality; None if unknown), ``view`` ("CC", "MLO",
    other ViewPosition values upper-case, else from ViewCodeSequence), ``manufacturer``, ``age`` (years,
    from PatientAge, else from PatientBirthDate and StudyDate; NaN if unknown), ``rows``, ``columns``,
    ``photometric_interpretation`` and ``study_date`` (``YYYYMMDD``). Missing text fields are None.
    """
    path = Path(path)
    with _quiet_pydicom():
        return _meta(_dcmread(path, stop_before_pixels=True))


def _meta(ds: Dataset) -> dict[str, Any]:
    laterality = normalise_laterality(_text(ds.get("ImageLaterality"))) or normalise_laterality(_text(ds.get("Laterality")))
    view = normalise_view(_text(ds.get("ViewPosition")))
    if view is None:
        codes = ds.get("ViewCodeSequence")
        if codes:
            view = normalise_view(_text(codes[0].get("CodeMeaning")))
    return {
        "patient_id": _text(ds.get("PatientID")),
        "study_id": _text(ds.get("StudyInstanceUID")),
        "series_id": _text(ds.get("SeriesInstanceUID")),
        "image_id": _text(ds.get("SOPInstanceUID")),
        "laterality": laterality,
        "view": view,
        "manufacturer": _text(ds.get("Manufacturer")),
        "age": _dicom_age(ds),
        "rows": _int(ds.get("Rows")),
        "columns": _int(ds.get("Columns")),
        "photometric_interpretation": _text(ds.get("PhotometricInterpretation")),
        "study_date": _text(ds.get("StudyDate")),
    }


def parse_age(value: Any) -> float:
    """Age in years from a DICOM age string (``"054Y"``, ``"006M"``, ``"010W"``, ``"120D"``) or a number;
    NaN for anything else. A bare number is taken as years, as manifests write it."""
    if value is None or isinstance(value, bool):
        return math.nan
    if isinstance(value, (int, float, np.integer, np.floating)):
        v = float(value)
        return v if math.isfinite(v) and v >= 0 else math.nan
    m = _AGE_RE.match(str(value))
    if m is None:
        try:
            v = float(str(value).strip())
        except ValueError:
            return math.nan
        return v if math.isfinite(v) and v >= 0 else math.nan
    n, unit = int(m.group(1)), (m.group(2) or "Y").upper()
    return {"Y": float(n), "M": n / 12.0, "W": n * 7 / _DAYS_PER_YEAR, "D": n / _DAYS_PER_YEAR}[unit]


def _dicom_age(ds: Dataset) -> float:
    age = parse_age(_text(ds.get("PatientAge")))
    if not math.isnan(age):
        return age
    birth, study = _date(ds.get("PatientBirthDate")), _date(ds.get("StudyDate"))
    if birth is None or study is None or study < birth:
        return math.nan
    return (study - birth).days / _DAYS_PER_YEAR


def normalise_laterality(value: Any) -> str | None:
    """Laterality as "L" or "R" from the spellings found in headers and manifests (L, left, R, Right); None otherwise
    (B, U, empty), since only a single breast's laterality is meaningful for one view image."""
    text = _text(value)
    return None if text is None else LATERALITY.get(text.upper())


def normalise_view(value: Any) -> str | None:
    """The ACR view abbreviation ("CC", "MLO", ...) from a ViewPosition value or a spelled-out name;
    unrecognised values are kept upper-case so that no information is dropped."""
    text = _text(value)
    if text is None:
        return None
    key = " ".join(text.upper().replace("_", " ").split())
    if not key:
        return None  # only separators ("_", " "): no view named
    return _VIEW_ALIASES.get(key, key)


def _split_glued_view(view: str | None) -> tuple[str | None, str | None]:
    """("L", "CC") from "LCC": some manifests name the view with its laterality in front."""
    if view and view[0] in "LR" and view[1:] in _GLUED_VIEWS:
        return view[0], view[1:]
    return None, view


# ---------------------------------------------------------------------------------------- folder scan


def scan_dicom_folder(folder: str | os.PathLike[str], site: str | None = None) -> pd.DataFrame:
    """An image manifest (:data:`~radtrust.data.images.IMAGE_COLUMNS`) for every DICOM image under
    ``folder``, found recursively by a ``.dcm``/``.dicom`` suffix or the ``DICM`` marker at byte 128.

    Headers only are read. ``case_id`` is the SOPInstanceUID (the file stem where absent), ``episode_id``
    the StudyInstanceUID (a folder carries no screening-episode grouping; use :func:`read_manifest` for
    that), ``site`` the argument or "unknown". Files that are not DICOM, and DICOM objects without an image
    (DICOMDIR, structured reports), are skipped; rows are sorted by patient, study and case so the result
    does not depend on file-system order.
    """
    root = Path(folder)
    if not root.exists():
        raise InputError(f"{root}: no such folder")
    if not root.is_dir():
        raise InputError(f"{root}: is a file, expected a folder of DICOM images")
    rows: list[dict[str, Any]] = []
    seen: dict[str, Path] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if not looks_like_dicom(path):
            continue
        with _quiet_pydicom():
            ds = _dcmread(path, stop_before_pixels=True)
            meta = _meta(ds)
        if meta["rows"] is None:
            if _is_image_class(ds):
                # pydicom stops quietly at the end of a cut-off file; an image header without Rows is one.
                raise InputError(f"{path}: damaged or truncated DICOM file (image header has no Rows/Columns)")
            continue  # DICOMDIR, structured report, presentation state: not an image
        case_id = meta["image_id"] or path.stem
        if case_id in seen:
            raise InputError(f"{path}: same SOP instance (or file stem) as {seen[case_id]}; remove the duplicate image")
        seen[case_id] = path
        rows.append(
            {
                "case_id": case_id,
                "patient_id": meta["patient_id"],
                "episode_id": meta["study_id"],
                "study_id": meta["study_id"],
                "site": site or "unknown",
                "manufacturer": meta["manufacturer"],
                "laterality": meta["laterality"],
                "view": meta["view"],
                "age": meta["age"],
                "image_path": str(path.resolve()),
            }
        )
    if not rows:
        raise InputError(f"{root}: folder holds no DICOM images (looked for .dcm/.dicom files and the DICM marker)")
    frame = pd.DataFrame(rows, columns=list(IMAGE_COLUMNS))
    frame["age"] = frame["age"].astype(float)
    keys = frame[["patient_id", "study_id", "case_id"]].fillna("").astype(str)
    order = keys.sort_values(["patient_id", "study_id", "case_id"], kind="mergesort").index
    return frame.loc[order].reset_index(drop=True)


def _is_image_class(ds: Dataset) -> bool:
    """Whether the SOP class is an image storage class (by its registered name); unknown classes are not."""
    uid = ds.get("SOPClassUID") or getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", None)
    return uid is not None and "Image Storage" in getattr(uid, "name", "")


def read_manifest(path: str | os.PathLike[str], site: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read an OMI-DB-style hierarchy manifest (CSV, TSV, Parquet, JSONL or a JSON list of records).

    Required columns: ``client_id`` (the woman; ``patient_id`` is accepted too), ``episode_id``,
    ``study_id``, ``image_id`` and ``image_path`` (relative paths are taken from the manifest's folder).
    Optional: ``site`` (else the ``site`` argument, else "unknown"), ``manufacturer``, ``laterality``,
    ``view`` ("LCC"-style values are split), ``age`` and the mark columns of :data:`MARK_COLUMNS`. With a
    ``mark_id`` column an image may take one row per mark; otherwise each image has one row.

    Returns ``(images, marks)``: one row per image with :data:`~radtrust.data.images.IMAGE_COLUMNS`
    (``image_path`` absolute) in manifest order, and one row per mark with :data:`MARK_COLUMNS`.
    """
    path = Path(path)
    raw = _read_manifest_table(path)
    cols = {str(c).strip(): c for c in raw.columns}
    if "client_id" not in cols and "patient_id" in cols:
        cols["client_id"] = cols["patient_id"]
    for name in MANIFEST_REQUIRED:
        if name not in cols:
            raise InputError(f"{path}: no column '{name}' (required: {', '.join(MANIFEST_REQUIRED)})")
    n = len(raw)
    if n == 0:
        raise InputError(f"{path}: the manifest has no rows")

    def col(name: str) -> pd.Series:
        return raw[cols[name]] if name in cols else pd.Series([None] * n, index=raw.index, dtype=object)

    frame = pd.DataFrame(index=range(n))
    for name, target in (("client_id", "patient_id"), ("episode_id", "episode_id"), ("study_id", "study_id"), ("image_id", "case_id"), ("image_path", "image_path")):
        values = _ids(col(name))
        empty = values.isna().to_numpy()
        if empty.any():
            raise InputError(f"{path}: row {_first(empty)}, column '{name}': empty ({int(empty.sum())} such rows)")
        frame[target] = values.to_numpy()
    site_col = _ids(col("site"))
    frame["site"] = site_col.fillna(site or "unknown").to_numpy()
    frame["manufacturer"] = _ids(col("manufacturer")).to_numpy()
    frame["laterality"], frame["view"] = _manifest_laterality_view(path, col("laterality"), col("view"))
    frame["age"] = _manifest_age(path, col("age"))
    base = path.resolve().parent
    frame["image_path"] = [str(p if p.is_absolute() else (base / p).resolve()) for p in map(Path, frame["image_path"])]

    marks = _manifest_marks(path, frame["case_id"], col)
    images = _unique_images(path, frame, has_mark_id="mark_id" in cols, mark_ids=marks["mark_id"])

    missing = ~np.array([Path(p).is_file() for p in images["image_path"]], dtype=bool)
    if missing.any():
        first_row = int(images.loc[missing, "_row"].iloc[0])
        raise InputError(f"{path}: {int(missing.sum())} image file(s) named in column 'image_path' do not exist (first at row {first_row})")
    images = images[list(IMAGE_COLUMNS)].reset_index(drop=True)
    keep = marks["_has_mark"].to_numpy()
    marks = marks.loc[keep, list(MARK_COLUMNS)].reset_index(drop=True)
    return images, marks


def _read_manifest_table(path: Path) -> pd.DataFrame:
    """A JSON list of records is read here; everything else (JSONL included) by :func:`read_table`."""
    if path.suffix.lower() == ".json" and path.is_file():
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as e:
            raise InputError(f"{path}: text is not valid UTF-8 (byte offset {e.start})") from None
        except OSError as e:
            raise InputError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from None
        if text.lstrip().startswith("["):
            try:
                records = json.loads(text)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
            if not all(isinstance(r, Mapping) for r in records):
                bad = next(i for i, r in enumerate(records) if not isinstance(r, Mapping)) + 1
                raise InputError(f"{path}: row {bad}: expected a JSON object (one record per image or mark)")
            return pd.DataFrame.from_records(records)
    return read_table(path)


def _manifest_laterality_view(path: Path, lat_col: pd.Series, view_col: pd.Series) -> tuple[list[str | None], list[str | None]]:
    lats: list[str | None] = []
    views: list[str | None] = []
    for i, (lat_raw, view_raw) in enumerate(zip(lat_col, view_col, strict=True), start=1):
        lat = normalise_laterality(lat_raw)
        glued_lat, view = _split_glued_view(normalise_view(view_raw))
        if glued_lat is not None:
            if lat is not None and lat != glued_lat:
                raise InputError(f"{path}: row {i}: column 'view' names laterality {glued_lat} but column 'laterality' says {lat}")
            lat = glued_lat
        lats.append(lat)
        views.append(view)
    return lats, views


def _manifest_age(path: Path, col: pd.Series) -> np.ndarray:
    ages = np.array([parse_age(v) for v in col], dtype=float)
    given = np.array([_text(v) is not None for v in col], dtype=bool)
    bad = given & np.isnan(ages)
    if bad.any():
        raise InputError(f"{path}: row {_first(bad)}, column 'age': not an age (give years, or a DICOM age such as 054Y)")
    return ages


def _manifest_marks(path: Path, case_ids: pd.Series, col: Any) -> pd.DataFrame:
    n = len(case_ids)
    marks = pd.DataFrame({"case_id": case_ids.to_numpy()})
    has_mark = np.zeros(n, dtype=bool)
    for name in _MARK_TEXT:
        values = _ids(col(name))
        marks[name] = values.to_numpy()
        has_mark |= values.notna().to_numpy()
    for name in _MARK_NUMBERS:
        raw = col(name)
        nums = pd.to_numeric(raw, errors="coerce").astype(float)
        given = np.array([_text(v) is not None for v in raw], dtype=bool)
        bad = given & (nums.isna().to_numpy() | ~np.isfinite(nums.to_numpy()))
        if name in ("width", "height", "radius"):
            bad |= given & (nums.to_numpy() < 0)
        if bad.any():
            raise InputError(f"{path}: row {_first(bad)}, column '{name}': not a {'non-negative ' if name in ('width', 'height', 'radius') else ''}number")
        marks[name] = nums.to_numpy()
        has_mark |= given
    # Marks with no id in the file still need one to be told apart downstream: <image>#<n> in file order.
    no_id = has_mark & marks["mark_id"].isna().to_numpy()
    if no_id.any():
        counter: dict[str, int] = {}
        ids = np.array(marks["mark_id"].tolist(), dtype=object)
        for i in np.flatnonzero(has_mark):
            c = marks.at[i, "case_id"]
            counter[c] = counter.get(c, 0) + 1
            if no_id[i]:
                ids[i] = f"{c}#{counter[c]}"
        marks["mark_id"] = ids
    marks["_has_mark"] = has_mark
    return marks


def _unique_images(path: Path, frame: pd.DataFrame, has_mark_id: bool, mark_ids: pd.Series) -> pd.DataFrame:
    """One row per image. A repeated image id is allowed only as one row per distinct mark, and its
    image-level fields must agree across those rows (else the manifest contradicts itself)."""
    first_row: dict[str, int] = {}
    seen_marks: set[tuple[str, str]] = set()
    for i, case_id in enumerate(frame["case_id"]):
        if case_id not in first_row:
            first_row[case_id] = i
        elif not has_mark_id:
            raise InputError(f"{path}: row {i + 1}: image_id repeats row {first_row[case_id] + 1} (give a mark_id column for one row per mark)")
        else:
            j = first_row[case_id]
            for name in _IMAGE_FIELDS:
                a, b = frame.at[i, name], frame.at[j, name]
                if not _same(a, b):
                    raise InputError(f"{path}: row {i + 1}: image_id repeats row {j + 1} with a different '{name}'")
        mark_id = _text(mark_ids.iloc[i])  # None or NaN, depending on how pandas stored the gap
        if has_mark_id and mark_id is not None:
            key = (case_id, mark_id)
            if key in seen_marks:
                raise InputError(f"{path}: row {i + 1}: image_id and mark_id repeat an earlier row")
            seen_marks.add(key)
        elif has_mark_id and i != first_row[case_id]:
            raise InputError(f"{path}: row {i + 1}: image_id repeats row {first_row[case_id] + 1} without a mark_id")
    rows = sorted(first_row.values())
    images = frame.iloc[rows].copy()
    images["_row"] = [r + 1 for r in rows]
    return images


# -------------------------------------------------------------------------------------------- helpers


@contextmanager
def _quiet_pydicom() -> Iterator[None]:
    """Silence pydicom's warnings while reading: they quote element values ("Invalid value for VR DA:
    '<birth date>'"), which may be patient data and must not reach a log or the terminal."""
    logger = logging.getLogger("pydicom")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        logger.setLevel(level)


def _dcmread(path: Path, stop_before_pixels: bool) -> Dataset:
    """Read a Part 10 file, turning every way it can fail into a one-line error naming only the file."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a DICOM file")
    try:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        raise InputError(f"{path}: not a DICOM file (no 'DICM' marker at byte 128)") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from None
    except Exception as e:  # a damaged file fails deep inside pydicom with many exception types
        # Only the type: pydicom's messages can quote element values, which may be patient data.
        raise InputError(f"{path}: damaged or truncated DICOM file ({type(e).__name__})") from None


def _text(value: Any) -> str | None:
    """A header or cell value as stripped text; None for missing, empty or NaN."""
    if value is None or isinstance(value, bytes):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (list, tuple, MultiValue)):
        # Multi-valued elements (e.g. several windows): the first value is the primary one.
        return _text(value[0]) if len(value) else None
    if value is pd.NA or value is pd.NaT:
        return None
    text = str(value).strip().strip("\x00").strip()
    return text or None


def _ids(col: pd.Series) -> pd.Series:
    """Identifiers as text: pandas reads ``123`` as an int (or ``123.0`` when a column has gaps), and a
    join on ``"123"`` must still match, so whole floats lose their ``.0``."""

    def one(v: Any) -> str | None:
        if isinstance(v, (float, np.floating)) and math.isfinite(v) and float(v).is_integer():
            return str(int(v))
        return _text(v)

    return pd.Series([one(v) for v in col], index=col.index, dtype=object)


def _int(value: Any) -> int | None:
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def _date(value: Any) -> _dt.date | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return _dt.datetime.strptime(text[:8], "%Y%m%d").date()
    except ValueError:
        return None


def _has_value(ds: Dataset, keyword: str) -> bool:
    return keyword in ds and _text(ds[keyword].value) is not None


def _same(a: Any, b: Any) -> bool:
    a_missing = a is None or (isinstance(a, float) and math.isnan(a))
    b_missing = b is None or (isinstance(b, float) and math.isnan(b))
    return (a_missing and b_missing) or (not a_missing and not b_missing and a == b)


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0]) + 1
