"""Reader for the mini-MIAS mammography database (Suckling et al., 1994, Excerpta Medica ICS 1069).

Layout: ``images/mdbNNN.png`` (MLO screen films) and ``labels.txt`` with the database's truth lines
``ref tissue class [severity [x y radius]]``, one abnormality per line. Films come in pairs:
``mdb(2k-1)`` is the right and ``mdb(2k)`` the left breast of woman ``k``, so both breasts share a
``patient_id`` and any split by patient keeps them together.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from radtrust.data.images import IMAGE_COLUMNS
from radtrust.data.schema import LabelTable
from radtrust.errors import InputError

logger = logging.getLogger(__name__)

LABEL_SOURCE = "mias-truth"
#: Background tissue letters and their label columns, in the database's order.
DENSITY_COLUMNS: dict[str, str] = {"F": "density_fatty", "G": "density_fatty_glandular", "D": "density_dense_glandular"}
ABNORMALITY_CLASSES: tuple[str, ...] = ("CALC", "CIRC", "SPIC", "MISC", "ARCH", "ASYM")
MIAS_FINDINGS: tuple[str, ...] = ("abnormal", "malignant", *DENSITY_COLUMNS.values())
MARK_COLUMNS: tuple[str, ...] = ("case_id", "abnormality", "severity", "x", "y", "radius")

#: The frame the truth coordinates were drawn in: the 1024 x 1024 mini-MIAS films, origin bottom-left.
TRUTH_FRAME = 1024
_IMAGE_SUFFIXES = (".png", ".pgm", ".tif", ".tiff", ".jpg", ".jpeg")
_REF = re.compile(r"mdb([0-9]{3})")


@dataclass(frozen=True)
class _Truth:
    ref: str
    tissue: str
    klass: str
    severity: str | None
    x: float
    y: float
    radius: float
    line: int


def read_mias(folder: str | os.PathLike[str]) -> tuple[pd.DataFrame, LabelTable, pd.DataFrame]:
    """Read a mini-MIAS folder into an image manifest, image-level labels and abnormality marks.

    Returns ``(manifest, labels, marks)``:

    * ``manifest``: one row per image with :data:`~radtrust.data.images.IMAGE_COLUMNS` plus
      ``density`` (F/G/D). ``patient_id`` ("mias_001") pairs the two breasts of a woman; episode and
      study are the woman as well, because each woman has exactly one pair of films.
    * ``labels``: a :class:`LabelTable` (source ``mias-truth``) with ``abnormal``, ``malignant`` (empty
      for normal images, since "not malignant" would overstate what a normal film shows about
      pathology) and the one-hot density columns.
    * ``marks``: one row per located abnormality: ``case_id``, ``abnormality`` (CALC, CIRC, ...),
      ``severity`` (B/M) and ``x``, ``y``, ``radius`` in the pixel frame of the image file with the
      origin at the top left (the truth uses the 1024 frame, bottom left). Lines without a centre
      (widely distributed calcifications) keep NaN.

    Images in ``images/`` without a truth line are skipped (their count is logged); truth lines whose
    image is missing raise :class:`InputError`.
    """
    folder = Path(folder)
    labels_path = folder / "labels.txt"
    images_dir = folder / "images"
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    if not labels_path.is_file():
        raise InputError(f"{labels_path}: no such file (a mini-MIAS folder has labels.txt and images/)")
    if not images_dir.is_dir():
        raise InputError(f"{images_dir}: no such folder (a mini-MIAS folder has labels.txt and images/)")

    truths = _parse_truth(labels_path)
    on_disk = _find_images(images_dir)

    by_ref: dict[str, list[_Truth]] = {}
    for t in truths:
        by_ref.setdefault(t.ref, []).append(t)
    missing = sorted(set(by_ref) - set(on_disk))
    if missing:
        raise InputError(f"{labels_path}: {len(missing)} image(s) listed here are missing from {images_dir} (first: {missing[0]})")
    n_unlabelled = len(set(on_disk) - set(by_ref))
    refs = sorted(by_ref)
    logger.info("mini-MIAS: %d images with truth lines read, %d images without truth lines skipped", len(refs), n_unlabelled)

    rows, label_rows, mark_rows = [], [], []
    for ref in refs:
        lines = by_ref[ref]
        tissue = _one_tissue(lines, labels_path)
        number = int(ref[3:])
        patient = f"mias_{(number + 1) // 2:03d}"
        path = on_disk[ref]
        width, height = _image_size(path)
        rows.append(
            {
                "case_id": ref,
                "patient_id": patient,
                "episode_id": patient,
                "study_id": patient,
                "site": "mias",
                "manufacturer": "film",
                "laterality": "R" if number % 2 else "L",
                "view": "MLO",
                "age": np.nan,
                "image_path": str(path),
                "density": tissue,
            }
        )
        label_rows.append(_image_labels(lines, tissue))
        # Truth coordinates: 1024 frame, origin bottom-left; scale to the file's pixels and flip y.
        sx, sy = width / TRUTH_FRAME, height / TRUTH_FRAME
        for t in lines:
            if t.klass == "NORM":
                continue
            mark_rows.append(
                {
                    "case_id": ref,
                    "abnormality": t.klass,
                    "severity": t.severity,
                    "x": t.x * sx,
                    "y": height - t.y * sy,
                    "radius": t.radius * (sx + sy) / 2,
                }
            )

    manifest = pd.DataFrame(rows, columns=[*IMAGE_COLUMNS, "density"])
    manifest["age"] = manifest["age"].astype(float)
    labels = LabelTable.from_matrix(refs, list(MIAS_FINDINGS), np.asarray(label_rows, dtype=float).reshape(len(refs), len(MIAS_FINDINGS)), LABEL_SOURCE)
    labels.origin = str(labels_path)
    marks = pd.DataFrame(mark_rows, columns=list(MARK_COLUMNS))
    for col in ("x", "y", "radius"):
        marks[col] = marks[col].astype(float)
    return manifest, labels, marks


def _parse_truth(path: Path) -> list[_Truth]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file (not valid UTF-8)") from None
    truths = [_parse_line(line, i, path) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not truths:
        raise InputError(f"{path}: no truth lines")
    return truths


def _parse_line(line: str, lineno: int, path: Path | str) -> _Truth:
    """One truth line: ``ref tissue class`` for NORM, else ``... severity [x y radius]``.

    The database writes ``*NOTE 3*`` after the severity of calcifications with no single centre; any
    such ``*...*`` note is accepted in place of the coordinates.
    """
    where = f"{path}: line {lineno}"
    tok = line.split()
    if len(tok) < 3:
        raise InputError(f"{where}: expected 'ref tissue class [severity x y radius]', found {len(tok)} field(s)")
    ref, tissue, klass = tok[0], tok[1].upper(), tok[2].upper()
    if not _REF.fullmatch(ref):
        raise InputError(f"{where}: reference must look like mdb001")
    if int(ref[3:]) == 0:
        raise InputError(f"{where}: reference numbers start at mdb001")
    if tissue not in DENSITY_COLUMNS:
        raise InputError(f"{where}: background tissue must be F, G or D")
    if klass == "NORM":
        if len(tok) != 3:
            raise InputError(f"{where}: a NORM line has no severity or coordinates")
        return _Truth(ref, tissue, klass, None, math.nan, math.nan, math.nan, lineno)
    if klass not in ABNORMALITY_CLASSES:
        raise InputError(f"{where}: abnormality class must be one of {', '.join(ABNORMALITY_CLASSES)} or NORM")
    if len(tok) < 4 or tok[3].upper() not in ("B", "M"):
        raise InputError(f"{where}: severity must be B or M")
    severity = tok[3].upper()
    rest = tok[4:]
    if not rest or (rest[0].startswith("*") and " ".join(rest).endswith("*")):
        return _Truth(ref, tissue, klass, severity, math.nan, math.nan, math.nan, lineno)
    if len(rest) != 3:
        raise InputError(f"{where}: expected centre x, y and radius after the severity, found {len(rest)} field(s)")
    try:
        x, y, radius = (float(v) for v in rest)
    except ValueError:
        raise InputError(f"{where}: centre x, y and radius must be numbers") from None
    if not all(math.isfinite(v) for v in (x, y, radius)):
        raise InputError(f"{where}: centre x, y and radius must be finite numbers")
    if not (0 <= x <= TRUTH_FRAME and 0 <= y <= TRUTH_FRAME):
        raise InputError(f"{where}: centre ({x:g}, {y:g}) lies outside the {TRUTH_FRAME}-pixel frame")
    if radius <= 0:
        raise InputError(f"{where}: radius must be positive")
    return _Truth(ref, tissue, klass, severity, x, y, radius, lineno)


def _one_tissue(lines: list[_Truth], path: Path) -> str:
    """The image's background tissue, which every line of one image must agree on."""
    for t in lines[1:]:
        if t.tissue != lines[0].tissue:
            raise InputError(f"{path}: line {t.line}: background tissue differs from line {lines[0].line} for the same image")
    normal = [t for t in lines if t.klass == "NORM"]
    if normal and len(lines) > 1:
        raise InputError(f"{path}: line {normal[0].line}: an image marked NORM has other truth lines")
    return lines[0].tissue


def _image_labels(lines: list[_Truth], tissue: str) -> list[float]:
    abnormal = any(t.klass != "NORM" for t in lines)
    malignant = float(any(t.severity == "M" for t in lines)) if abnormal else math.nan
    density = [1.0 if tissue == letter else 0.0 for letter in DENSITY_COLUMNS]
    return [float(abnormal), malignant, *density]


def _find_images(images_dir: Path) -> dict[str, Path]:
    """``mdbNNN`` -> absolute path, preferring PNG when a film is stored in several formats."""
    found: dict[str, Path] = {}
    rank = {s: i for i, s in enumerate(_IMAGE_SUFFIXES)}
    for p in images_dir.iterdir():
        suffix = p.suffix.lower()
        if suffix not in rank or not _REF.fullmatch(p.stem) or not p.is_file():
            continue
        prev = found.get(p.stem)
        if prev is None or rank[suffix] < rank[prev.suffix.lower()]:
            found[p.stem] = p.resolve()
    return found


def _image_size(path: Path) -> tuple[int, int]:
    """Width and height from the header only, so that reading the manifest stays fast."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"{path}: corrupt or unreadable image ({reason})") from None
