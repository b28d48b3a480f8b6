"""The synthetic mammography image archive: determinism, hierarchy, files (PNG and DICOM), truth
consistency, and the image statistics the archive promises (density drives intensity, lesions are
brighter and masked by density, makes differ)."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pydicom
import pytest

from radtrust.data.dicom import read_dicom_meta, scan_dicom_folder
from radtrust.data.images import IMAGE_COLUMNS, load_image
from radtrust.data.readers import read_cohort, read_table
from radtrust.data.schema import LabelTable
from radtrust.deid.door import CohortDeidentifier
from radtrust.errors import ConfigError, InputError, build_config
from radtrust.labeling.mammo import MAMMO_COLUMNS, normalise_mammo_table
from radtrust.synth.mammo_images import (
    DENSITY_VISIBILITY,
    IMAGE_TRUTH_FINDINGS,
    LESION_CONTRAST,
    MANIFEST_COLUMNS,
    MARK_COLUMNS,
    SCANNER_PROFILES,
    MammoImageSynthConfig,
    render_view,
    write_synth_mammo_images,
)

SIZE = 64
CFG = dict(n_women=20, seed=3, size=SIZE, abnormal_rate=0.5, malignant_share=0.4)
FILES = ("images.csv", "images_truth.csv", "reports.csv", "reports_truth.csv", "marks.csv", "meta.json")


@pytest.fixture(scope="module")
def arch(tmp_path_factory):
    return write_synth_mammo_images(MammoImageSynthConfig(**CFG), tmp_path_factory.mktemp("synth_a"))


@pytest.fixture(scope="module")
def images(arch):
    return {c: load_image(p, SIZE) for c, p in zip(arch.manifest["case_id"], arch.manifest["image_path"], strict=True)}


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _disk(mark):
    yy, xx = np.mgrid[:SIZE, :SIZE] + 0.5
    return (xx - mark.x) ** 2 + (yy - mark.y) ** 2 <= max(mark.radius, 1.0) ** 2


def test_deterministic_and_seed_dependent(arch, tmp_path):
    again = write_synth_mammo_images(MammoImageSynthConfig(**CFG), tmp_path / "b")
    first, second = _tree(arch.out_dir), _tree(again.out_dir)
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []
    assert set(FILES) <= set(first)
    pd.testing.assert_frame_equal(arch.manifest.drop(columns="image_path"), again.manifest.drop(columns="image_path"))

    other = write_synth_mammo_images(MammoImageSynthConfig(**{**CFG, "seed": 4}), tmp_path / "c")
    assert not arch.marks.equals(other.marks)
    assert not arch.manifest.drop(columns="image_path").equals(other.manifest.drop(columns="image_path"))
    third = _tree(other.out_dir)
    assert all(first[k] != third[k] for k in ("images/I000001.png", "images/I000002.png", "images.csv") if k in third)


def test_hierarchy(arch):
    m = arch.manifest
    assert list(m.columns) == list(MANIFEST_COLUMNS) and set(IMAGE_COLUMNS) <= set(m.columns)
    assert m["case_id"].is_unique
    per_study = m.groupby("study_id")
    assert (per_study.size() == 4).all()
    four = per_study.apply(lambda g: tuple(sorted(zip(g["laterality"], g["view"], strict=True))))
    assert all(v == (("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO")) for v in four)
    for col in ("patient_id", "episode_id", "site", "manufacturer", "age", "density", "report_id", "study_uid"):
        assert (per_study[col].nunique() == 1).all(), col
    assert (m.groupby("episode_id")["study_id"].nunique() == 1).all()
    studies = m.drop_duplicates("study_id")
    assert studies["patient_id"].nunique() == CFG["n_women"]
    assert (studies.groupby("patient_id")["site"].nunique() == 1).all()  # a woman stays at her site
    eps = studies.groupby("patient_id")["age"].apply(list)
    assert eps.map(len).between(1, 3).all() and (eps.map(len) > 1).any()
    assert eps.map(lambda a: all(y - x >= 2 for x, y in zip(a, a[1:], strict=False))).all()
    assert studies["age"].between(50, 80).all()
    assert set(m["site"]) == {"site_A", "site_B", "site_C"}


def test_every_image_loads(arch, images):
    m = arch.manifest
    rel = read_table(arch.paths["images_csv"])
    assert rel["image_path"].str.fullmatch(r"images/I\d+\.(png|dcm)").all()  # relative to images.csv
    for c, path in zip(m["case_id"], m["image_path"], strict=True):
        img = images[c]
        assert img.shape == (SIZE, SIZE) and img.dtype == np.float32
        assert 0.0 <= img.min() and img.max() <= 1.0 and img.max() > 0.3
        assert path.endswith((".png", ".dcm"))
    # What the files hold is the rendering, up to 8-bit / stored-bit quantisation.
    for c in list(m["case_id"])[::7]:
        assert np.abs(images[c] - render_view(arch.specs[c])).max() < 1.0 / 255 + 1e-4


def test_orientation_and_pectoral(arch):
    for c, spec in list(arch.specs.items())[:16]:
        t = render_view(spec, lesions=False, scanner=False)
        left, right = t[:, : SIZE // 8].mean(), t[:, -SIZE // 8 :].mean()
        # Chest wall on the right edge for right breasts, on the left for left breasts.
        assert (right > left) if spec.laterality == "R" else (left > right), c
        top_wall = t[: SIZE // 10, -3:] if spec.laterality == "R" else t[: SIZE // 10, :3]
        if spec.view == "MLO":
            assert top_wall.mean() > 0.6  # the pectoral muscle
        else:
            assert top_wall.mean() < 0.3


def test_dicom_headers_and_scan(arch):
    m = arch.manifest
    dcm = m[m["image_path"].str.endswith(".dcm")]
    assert 0 < len(dcm) < len(m)
    assert set(dcm["site"]) == {"site_C"} and set(dcm["manufacturer"]) == {"FUJIFILM", "GE"}
    for _, row in dcm.iterrows():
        meta = read_dicom_meta(row["image_path"])
        assert meta["patient_id"] == row["patient_id"]
        assert meta["study_id"] == row["study_uid"]
        assert (meta["laterality"], meta["view"], meta["manufacturer"]) == (row["laterality"], row["view"], row["manufacturer"])
        assert meta["age"] == row["age"]
        assert (meta["rows"], meta["columns"]) == (SIZE, SIZE)
        assert meta["photometric_interpretation"] == SCANNER_PROFILES[row["manufacturer"]].photometric
    ds = pydicom.dcmread(dcm["image_path"].iloc[0])
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1.2" and ds.Modality == "MG"
    assert re.fullmatch(r"\d{3}Y", ds.PatientAge) and "WindowCenter" in ds and "WindowWidth" in ds

    scan = scan_dicom_folder(arch.paths["images_dir"], site="site_C")
    assert len(scan) == len(dcm)
    merged = scan.merge(dcm, on="image_path", suffixes=("_scan", ""))
    assert len(merged) == len(dcm)
    for col in ("patient_id", "laterality", "view", "manufacturer", "age"):
        assert (merged[f"{col}_scan"] == merged[col]).all(), col
    assert (merged["study_id_scan"] == merged["study_uid"]).all()


def test_monochrome1_loads_bright_dense(arch, images):
    m = arch.manifest
    mono1 = m[m["image_path"].str.endswith(".dcm") & (m["manufacturer"] == "FUJIFILM")]
    assert len(mono1) > 0
    for _, row in mono1.head(8).iterrows():
        spec = arch.specs[row["case_id"]]
        truth = render_view(spec)
        loaded = images[row["case_id"]]
        assert np.corrcoef(loaded.ravel(), truth.ravel())[0, 1] > 0.99
        tissue = render_view(spec, lesions=False, scanner=False) > 0.05
        assert loaded[tissue].mean() > loaded[~tissue].mean() + 0.15
        # The stored values really are inverted: a reader that ignored MONOCHROME1 would see dark tissue.
        raw = pydicom.dcmread(row["image_path"]).pixel_array.astype(float)
        assert np.corrcoef(raw.ravel(), truth.ravel())[0, 1] < -0.99


def test_density_drives_intensity(arch, images):
    m = arch.manifest.copy()
    m["file_mean"] = [images[c].mean() for c in m["case_id"]]
    tissue = []
    for c in m["case_id"]:
        t = render_view(arch.specs[c], lesions=False, scanner=False)
        tissue.append(t[t > 0.02].mean())
    m["tissue_mean"] = tissue
    assert set(m["density"]) == {"A", "B", "C", "D"}
    by = m.groupby("density")[["file_mean", "tissue_mean"]].mean().sort_index()
    assert by["tissue_mean"].is_monotonic_increasing and by["file_mean"].is_monotonic_increasing
    assert by["tissue_mean"]["D"] > by["tissue_mean"]["A"] + 0.1


def test_lesions_brighter_and_masked_by_density(arch):
    marks = arch.marks
    assert list(marks.columns) == list(MARK_COLUMNS) and len(marks) >= 10
    rows = []
    for mk in marks.itertuples():
        spec = arch.specs[mk.case_id]
        delta = render_view(spec) - render_view(spec, lesions=False)
        rows.append((spec.density, mk.lesion_type, float(delta[_disk(mk)].mean())))
        base = LESION_CONTRAST[mk.lesion_type] * DENSITY_VISIBILITY[spec.density]
        assert 0.84 * base <= mk.conspicuity <= 1.16 * base
    d = pd.DataFrame(rows, columns=["density", "kind", "delta"])
    assert (d["delta"] > 0).all()
    fatty, dense = d[d["density"].isin(["A", "B"])], d[d["density"].isin(["C", "D"])]
    assert len(fatty) and len(dense)
    # Compare like with like: per kind, where both groups have lesions of that kind.
    kinds = set(fatty["kind"]) & set(dense["kind"])
    assert kinds
    for kind in kinds:
        assert fatty.loc[fatty["kind"] == kind, "delta"].mean() > dense.loc[dense["kind"] == kind, "delta"].mean(), kind


def test_truth_consistency(arch):
    m, t = arch.manifest, arch.truth
    assert isinstance(t, LabelTable) and t.source == "synthetic-truth" and t.findings == list(IMAGE_TRUTH_FINDINGS)
    assert t.case_ids == m["case_id"].tolist()
    v = t.frame.set_index("case_id")
    ab, mal = v["abnormal"].astype(float), v["malignant"].astype(float)
    assert (mal.isna() == (ab == 0)).all()
    assert ab.sum() > 0 and (mal == 1).sum() > 0 and (mal == 0).sum() > 0
    dens = v[["density_a", "density_b", "density_c", "density_d"]].astype(int)
    assert (dens.sum(axis=1) == 1).all()
    assert (dens.idxmax(axis=1).str[-1].str.upper().to_numpy() == m["density"].to_numpy()).all()

    rt = arch.report_truth.set_index("case_id")
    assert len(rt) == m["study_id"].nunique() and (rt["laterality"] == "B").all()
    side = {"L": "left", "R": "right"}
    marked = set(arch.marks["case_id"])
    for row in m.itertuples():
        r = rt.loc[row.report_id]
        kinds = [k for k in ("mass", "calcification", "architectural_distortion", "asymmetry") if int(r[f"{side[row.laterality]}_{k}"]) == 1]
        assert bool(ab[row.case_id]) == bool(kinds)
        assert r["density"] == row.density
        assert (row.case_id in marked) == bool(kinds)
        if kinds:
            got = set(arch.marks.loc[arch.marks["case_id"] == row.case_id, "lesion_type"])
            assert got == set(kinds)
        if mal.get(row.case_id) == 1:
            assert int(r["birads"]) in (4, 5, 6)
    # Each malignant study has exactly one malignant breast (both of its views).
    malignant = m[m["case_id"].map(mal) == 1]
    assert (malignant.groupby("study_id")["laterality"].nunique() == 1).all()
    assert (malignant.groupby("study_id").size() == 2).all()
    # A lesion is drawn in both views of its breast.
    views = arch.marks.merge(m[["case_id", "study_id", "laterality", "view"]], on="case_id").groupby("lesion_id")
    assert all(tuple(sorted(v)) == ("CC", "MLO") for v in views["view"].apply(list))
    assert (views["laterality"].nunique() == 1).all() and (views["conspicuity"].nunique() == 1).all()


def test_reports_cohort(arch):
    cohort = read_cohort(arch.paths["reports"], deid=CohortDeidentifier())
    m = arch.manifest.drop_duplicates("study_id")
    assert len(cohort) == len(m) and cohort.case_ids == m["report_id"].tolist()
    f = cohort.frame.set_index("case_id")
    assert (f.loc[m["report_id"], "study_id"].to_numpy() == m["study_id"].to_numpy()).all()
    assert (f.loc[m["report_id"], "patient_id"].to_numpy() == m["patient_id"].to_numpy()).all()
    assert (f.loc[m["report_id"], "age"].to_numpy() == m["age"].to_numpy()).all()
    assert (f["sex"] == "F").all()
    for text, age in zip(f["indication"].fillna("") + " " + f["text"].fillna(""), f["age"], strict=True):
        for stated in re.findall(r"(\d+)-year-old", text, flags=re.IGNORECASE):
            assert int(stated) == age
    rt = normalise_mammo_table(read_table(arch.paths["reports_truth"]), "reports_truth.csv")
    assert list(rt.columns) == [*MAMMO_COLUMNS, "label_source"] and rt["case_id"].tolist() == cohort.case_ids


def test_meta(arch):
    meta = json.loads(arch.paths["meta"].read_text())
    assert meta == json.loads(json.dumps(arch.meta))
    c = meta["counts"]
    assert c["women"] == CFG["n_women"] and c["images"] == len(arch.manifest) == 4 * c["studies"]
    assert sum(c["images_per_site"].values()) == c["images"] and sum(c["studies_per_density"].values()) == c["studies"]
    assert meta["config"]["seed"] == CFG["seed"]
    assert meta["lesion_contrast"]["mass"]["A"] > meta["lesion_contrast"]["mass"]["D"]
    assert meta["dicom"]["images"] == int(arch.manifest["image_path"].str.endswith(".dcm").sum())
    assert 0 < meta["prevalence"]["images_abnormal"] < 1


def test_makes_have_their_own_profiles(arch, images):
    backgrounds = {}
    for c, spec in arch.specs.items():
        empty = render_view(spec, lesions=False, scanner=False) == 0
        backgrounds.setdefault(spec.manufacturer, []).append(float(images[c][empty].mean()))
    for make, values in backgrounds.items():
        assert abs(np.mean(values) - SCANNER_PROFILES[make].background) < 0.02, make
    assert len({round(SCANNER_PROFILES[k].background, 3) for k in backgrounds}) > 1


def test_report_noise_changes_text_only(arch, tmp_path):
    # Noise draws its own random stream: the truths, hence the images, are those of the clean archive.
    noisy = write_synth_mammo_images(MammoImageSynthConfig(**CFG, report_label_noise=0.1), tmp_path / "n")
    pd.testing.assert_frame_equal(arch.report_truth, noisy.report_truth)
    pd.testing.assert_frame_equal(arch.truth.frame, noisy.truth.frame)
    pd.testing.assert_frame_equal(arch.marks, noisy.marks)
    assert (tmp_path / "n" / "images" / "I000005.png").read_bytes() == (arch.out_dir / "images" / "I000005.png").read_bytes()
    assert sum(a != b for a, b in zip(arch.reports.texts(), noisy.reports.texts(), strict=True)) > 0


def test_heavy_report_noise_still_generates(tmp_path):
    # The report generator can fail on some noisy cases; the pool redraws those chunks, deterministically.
    cfg = MammoImageSynthConfig(n_women=6, seed=1, size=32, report_label_noise=1.0, abnormal_rate=0.5)
    a = write_synth_mammo_images(cfg, tmp_path / "a")
    b = write_synth_mammo_images(cfg, tmp_path / "b")
    assert _tree(a.out_dir) == _tree(b.out_dir)
    assert len(a.reports) == a.manifest["study_id"].nunique()


def test_dicom_share_extremes_and_stale_files(tmp_path):
    stale = tmp_path / "images" / "I999999.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    keep = tmp_path / "images" / "notes.txt"
    keep.write_text("mine")
    none = write_synth_mammo_images(MammoImageSynthConfig(n_women=3, size=32, dicom_share=0.0), tmp_path)
    assert not none.manifest["image_path"].str.endswith(".dcm").any()
    assert not stale.exists() and keep.exists()
    every = write_synth_mammo_images(MammoImageSynthConfig(n_women=3, size=32, dicom_share=1.0, n_sites=1), tmp_path / "all")
    assert every.manifest["image_path"].str.endswith(".dcm").all()
    assert sorted(p.name for p in (tmp_path / "all" / "images").iterdir()) == sorted(every.manifest["case_id"] + ".dcm")


@pytest.mark.parametrize(
    "values",
    [
        {"size": 16},
        {"size": 2048},
        {"n_women": 0},
        {"seed": -1},
        {"n_sites": 27},
        {"max_episodes": 0},
        {"abnormal_rate": 1.5},
        {"malignant_share": -0.1},
        {"dicom_share": math.nan},
        {"report_label_noise": 2.0},
    ],
)
def test_bad_config(values):
    with pytest.raises(ConfigError):
        MammoImageSynthConfig(**values)


def test_bad_config_at_the_door(tmp_path):
    with pytest.raises(ConfigError, match="colour"):
        build_config(MammoImageSynthConfig, "synth", colour="red")
    with pytest.raises(ConfigError, match="size"):
        build_config(MammoImageSynthConfig, "synth", size="big")
    target = tmp_path / "a_file"
    target.write_text("x")
    with pytest.raises(InputError, match="is a file"):
        write_synth_mammo_images(MammoImageSynthConfig(n_women=1, size=32), target)
