"""``read_images``: one entry point for image manifests, DICOM folders and mini-MIAS folders, and the
content fingerprint of an image cohort."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from radtrust.data.fingerprint import data_fingerprint, file_fingerprint
from radtrust.data.image_readers import read_images
from radtrust.data.readers import read_cohort
from radtrust.errors import InputError
from radtrust.synth.mammo_images import MammoImageSynthConfig, write_synth_mammo_images


@pytest.fixture(scope="session")
def archive(tmp_path_factory):
    return write_synth_mammo_images(MammoImageSynthConfig(n_women=24, size=64, seed=0), tmp_path_factory.mktemp("read_images"))


def test_images_csv_resolves_relative_paths(archive):
    raw = pd.read_csv(archive.paths["images_csv"])
    assert not any(Path(p).is_absolute() for p in raw["image_path"])  # written relative to its folder
    cohort, labels = read_images(archive.paths["images_csv"])
    assert labels is None  # truth lives in images_truth.csv, never guessed from the manifest
    assert cohort.modality == "image" and len(cohort) == len(raw) == archive.meta["counts"]["images"]
    assert cohort.case_ids == raw["case_id"].tolist()
    expected = [str((archive.out_dir / p).resolve()) for p in raw["image_path"]]
    assert cohort.image_paths == expected == archive.manifest["image_path"].tolist()
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in cohort.image_paths)
    # the hierarchy and the strata the audits group by are kept
    for col in ("episode_id", "laterality", "view", "manufacturer", "density", "report_id", "site"):
        assert col in cohort.frame.columns, col
    assert cohort.frame["age"].dtype == float and set(cohort.frame["laterality"]) == {"L", "R"}


def test_moved_archive_still_reads_and_keeps_its_fingerprint(archive, tmp_path, monkeypatch):
    moved = tmp_path / "moved"
    shutil.copytree(archive.out_dir, moved)
    here, _ = read_images(archive.paths["images_csv"])
    there, _ = read_images(moved / "images.csv")
    assert all(p.startswith(str(moved.resolve())) for p in there.image_paths)
    # the dataset is its content: same ids and pixels, wherever the folder lives
    assert data_fingerprint(there) == data_fingerprint(here)
    # a path relative to the working folder would resolve elsewhere: read_cohort takes the manifest's folder
    monkeypatch.chdir(tmp_path)
    assert read_cohort(Path("moved") / "images.csv", deid=None).image_paths == there.image_paths


def test_dicom_folder_scan_finds_exactly_the_dicom_files(archive):
    folder = archive.paths["images_dir"]
    cohort, labels = read_images(folder)
    assert labels is None and cohort.modality == "image"
    on_disk = sorted(str(p.resolve()) for p in folder.glob("*.dcm"))
    assert len(on_disk) == archive.meta["dicom"]["images"] > 0 and len(list(folder.glob("*.png"))) > 0
    assert sorted(str(Path(p).resolve()) for p in cohort.image_paths) == on_disk
    # the headers give the hierarchy: joined back to images.csv by study UID and view
    scan = cohort.frame.assign(file=[Path(p).name for p in cohort.image_paths]).set_index("file")
    m = archive.manifest.assign(file=[Path(p).name for p in archive.manifest["image_path"]]).set_index("file").loc[scan.index]
    assert (scan["patient_id"] == m["patient_id"]).all() and (scan["study_id"] == m["study_uid"]).all()
    assert (scan["laterality"] == m["laterality"]).all() and (scan["view"] == m["view"]).all()
    assert (scan["manufacturer"] == m["manufacturer"]).all() and (scan["age"] == m["age"]).all()


LABELS = """\
mdb001 G CIRC B 535 425 197
mdb002 G NORM
mdb003 F CALC M 100 1000 20
mdb004 D NORM
"""


def _mias(root: Path, refs=("mdb001", "mdb002", "mdb003", "mdb004", "mdb005")) -> Path:
    (root / "images").mkdir(parents=True)
    for k, ref in enumerate(refs):
        Image.fromarray(np.full((64, 64), 40 * k, dtype=np.uint8)).save(root / "images" / f"{ref}.png")
    (root / "labels.txt").write_text(LABELS)
    return root


def test_mini_mias_folder_with_its_truth(tmp_path):
    cohort, labels = read_images(_mias(tmp_path / "mias"))
    assert cohort.modality == "image"
    assert cohort.case_ids == ["mdb001", "mdb002", "mdb003", "mdb004"]  # mdb005 has no truth line: skipped
    assert cohort.patient_ids.tolist() == ["mias_001", "mias_001", "mias_002", "mias_002"]
    assert cohort.frame["laterality"].tolist() == ["R", "L", "R", "L"]
    assert cohort.image_paths == [str(tmp_path / "mias" / "images" / f"mdb00{k}.png") for k in (1, 2, 3, 4)]
    assert labels is not None and labels.source == "mias-truth" and labels.case_ids == cohort.case_ids
    v = labels.frame.set_index("case_id")
    assert v["abnormal"].astype(float).tolist() == [1, 0, 1, 0]
    assert v.loc["mdb001", "malignant"] == 0 and v.loc["mdb003", "malignant"] == 1
    assert pd.isna(v.loc["mdb002", "malignant"]) and pd.isna(v.loc["mdb004", "malignant"])
    assert v.loc["mdb004", "density_dense_glandular"] == 1 and v.loc["mdb003", "density_fatty"] == 1


def test_mias_folder_with_a_missing_image(tmp_path):
    root = _mias(tmp_path / "mias", refs=("mdb001", "mdb002", "mdb003"))
    with pytest.raises(InputError, match="missing from .*first: mdb004"):
        read_images(root)


def test_not_an_image_source(archive, tmp_path):
    with pytest.raises(InputError, match="no 'image_path' column: not an image manifest"):
        read_images(archive.paths["reports"])
    with pytest.raises(InputError, match="missing required column 'patient_id'"):
        read_images(archive.paths["images_truth"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no DICOM images"):
        read_images(tmp_path / "empty")
    with pytest.raises(InputError, match="no such file"):
        read_images(tmp_path / "nope.csv")


def test_fingerprint_follows_the_pixels(archive, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(archive.out_dir, copy)
    cohort, _ = read_images(copy / "images.csv")
    before = data_fingerprint(cohort)
    assert file_fingerprint(copy / "images.csv") == before
    target = Path(cohort.image_paths[5])
    data = bytearray(target.read_bytes())
    original = bytes(data)
    data[-20] ^= 0x01  # one bit of one image
    target.write_bytes(bytes(data))
    changed = data_fingerprint(cohort)
    assert changed != before
    target.write_bytes(original)
    assert data_fingerprint(cohort) == before
    # ids matter too: the same pixels under another woman's id are another record
    f = cohort.frame.copy()
    f.loc[0, "patient_id"] = "W999999"
    assert data_fingerprint(type(cohort)(f, "x")) != before
