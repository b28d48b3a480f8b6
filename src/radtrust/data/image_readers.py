"""Image cohorts: a mini-MIAS folder, a folder of DICOM files, an OMI-DB-style manifest or an image table, read
into the one Cohort format (one row per view image) with the truth the source carries. Apart from
:mod:`radtrust.data.readers` because it loads pydicom, which report-only users never need."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from radtrust.data import dicom, mias
from radtrust.data.readers import check_exists, read_cohort, read_table
from radtrust.data.schema import Cohort, LabelTable
from radtrust.errors import InputError


def read_images(path: str | Path, site: str | None = None, column_map: Mapping[str, str] | Iterable[str] | None = None) -> tuple[Cohort, LabelTable | None]:
    """An image cohort (one row per view image) and the truth labels the source carries, if any.

    ``path`` may be a mini-MIAS folder (``labels.txt`` + ``images/``: labels from its truth), a folder of
    DICOM files (headers read for the hierarchy; no labels), an OMI-DB-style manifest with ``client_id``
    / ``episode_id`` / ``image_id`` columns (no labels), or any table with ``case_id``, ``patient_id`` and
    ``image_path`` (e.g. ``images.csv`` written by ``radtrust synth mammo``; labels come separately).
    """

    path = Path(path)
    check_exists(path)
    if path.is_dir():
        if (path / "labels.txt").is_file() and (path / "images").is_dir():
            manifest, labels, _ = mias.read_mias(path)
            return Cohort(manifest, str(path)), labels
        manifest = dicom.scan_dicom_folder(path, site)
        if manifest.empty:
            raise InputError(f"{path}: no DICOM images found (and not a mini-MIAS folder with labels.txt and images/)")
        return Cohort(manifest, str(path)), None
    columns = set(read_table(path).columns)
    if "client_id" in columns or "image_id" in columns:
        manifest, _ = dicom.read_manifest(path, site)
        return Cohort(manifest, str(path)), None
    cohort = read_cohort(path, column_map, deid=None)  # an image manifest: no report text to scrub
    if cohort.modality != "image":
        raise InputError(f"{path}: no 'image_path' column: not an image manifest")
    return cohort, None
