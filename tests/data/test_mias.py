import logging
import math
import os
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from radtrust.data.images import IMAGE_COLUMNS, load_image
from radtrust.data.mias import MIAS_FINDINGS, _parse_line, read_mias
from radtrust.errors import ConfigError, InputError

REAL_MIAS = Path(__file__).resolve().parents[3] / "shared" / "data" / "mias"

# mdb001/002: one woman, both normal-or-benign; mdb003 has two lines (one benign, one malignant without a
# centre, as the database writes widely spread calcifications); mdb004 is normal and dense.
LABELS = """\
mdb001 G CIRC B 535 425 197
mdb002 G NORM
mdb003 F CIRC B 100 1000 20
mdb003 F CALC M *NOTE 3*
mdb004 D NORM
"""


def write_png(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def make_mias(root: Path, labels: str = LABELS, refs=("mdb001", "mdb002", "mdb003", "mdb004"), size: int = 512) -> Path:
    for ref in refs:
        write_png(root / "images" / f"{ref}.png", np.zeros((size, size), dtype=np.uint8))
    (root / "labels.txt").write_text(labels)
    return root


def test_manifest_pairs_breasts_of_one_woman(tmp_path):
    manifest, labels, marks = read_mias(make_mias(tmp_path))
    assert list(manifest.columns) == [*IMAGE_COLUMNS, "density"]
    m = manifest.set_index("case_id")
    assert m.loc["mdb001", "patient_id"] == m.loc["mdb002", "patient_id"] == "mias_001"
    assert m.loc["mdb003", "patient_id"] == m.loc["mdb004", "patient_id"] == "mias_002"
    assert list(m["laterality"]) == ["R", "L", "R", "L"]
    assert (m["episode_id"] == m["patient_id"]).all() and (m["study_id"] == m["patient_id"]).all()
    assert set(m["site"]) == {"mias"} and set(m["manufacturer"]) == {"film"} and set(m["view"]) == {"MLO"}
    assert m["age"].isna().all() and m["age"].dtype == float
    assert all(Path(p).is_absolute() and Path(p).exists() for p in m["image_path"])
    assert list(m["density"]) == ["G", "G", "F", "D"]


def test_labels_density_one_hot_and_malignant_semantics(tmp_path):
    _, labels, _ = read_mias(make_mias(tmp_path))
    assert labels.source == "mias-truth" and labels.findings == list(MIAS_FINDINGS)
    f = labels.frame.set_index("case_id")
    assert list(f["abnormal"]) == [1, 0, 1, 0]
    # Benign-only abnormal -> 0; any malignant line -> 1; normal -> empty (nothing to say about pathology).
    assert f.loc["mdb001", "malignant"] == 0 and f.loc["mdb003", "malignant"] == 1
    assert pd.isna(f.loc["mdb002", "malignant"]) and pd.isna(f.loc["mdb004", "malignant"])
    dens = f[["density_fatty", "density_fatty_glandular", "density_dense_glandular"]].astype(int)
    assert (dens.sum(axis=1) == 1).all()
    assert dens.loc["mdb003"].tolist() == [1, 0, 0] and dens.loc["mdb001"].tolist() == [0, 1, 0]
    assert dens.loc["mdb004"].tolist() == [0, 0, 1]


def test_marks_are_in_the_image_frame_top_left(tmp_path):
    _, _, marks = read_mias(make_mias(tmp_path))
    assert list(marks.columns) == ["case_id", "abnormality", "severity", "x", "y", "radius"]
    assert marks["case_id"].tolist() == ["mdb001", "mdb003", "mdb003"]
    first = marks.iloc[0]
    assert (first["x"], first["y"], first["radius"]) == (267.5, 512 - 425 / 2, 98.5)
    # y = 1000 (near the top in the bottom-left frame) -> near the top of the image.
    assert marks.iloc[1][["x", "y", "radius"]].tolist() == [50.0, 12.0, 10.0]
    calc = marks.iloc[2]
    assert calc["abnormality"] == "CALC" and calc["severity"] == "M"
    assert math.isnan(calc["x"]) and math.isnan(calc["y"]) and math.isnan(calc["radius"])


def test_marks_follow_the_size_of_the_image_file(tmp_path):
    # Full-size 1024 films keep the truth's scale; only y flips.
    _, _, marks = read_mias(make_mias(tmp_path, "mdb001 G CIRC B 535 425 197\n", refs=("mdb001",), size=1024))
    assert marks.iloc[0][["x", "y", "radius"]].tolist() == [535.0, 1024 - 425.0, 197.0]


def test_abnormality_without_severity_or_centre(tmp_path):
    # The database has a CIRC line with a severity but no centre (mdb059).
    _, labels, marks = read_mias(make_mias(tmp_path, "mdb001 F CIRC B\n", refs=("mdb001",)))
    assert labels.frame["abnormal"].tolist() == [1] and math.isnan(marks["x"].iloc[0])


@pytest.mark.parametrize(
    "line, message",
    [
        ("mdb001 G", "found 2 field(s)"),
        ("mdb1 G NORM", "reference must look like mdb001"),
        ("mdb001 X NORM", "background tissue must be F, G or D"),
        ("mdb001 G LUMP B 1 2 3", "abnormality class"),
        ("mdb001 G CIRC Q 1 2 3", "severity must be B or M"),
        ("mdb001 G CIRC B 1 2", "expected centre x, y and radius"),
        ("mdb001 G CIRC B 1 two 3", "must be numbers"),
        ("mdb001 G CIRC B 1 2000 3", "outside the 1024-pixel frame"),
        ("mdb001 G CIRC B 1 2 0", "radius must be positive"),
        ("mdb001 G NORM B", "a NORM line has no severity"),
    ],
)
def test_malformed_truth_line_names_file_and_line(tmp_path, line, message):
    make_mias(tmp_path, f"mdb002 G NORM\n\n{line}\n", refs=("mdb001", "mdb002"))
    with pytest.raises(InputError) as e:
        read_mias(tmp_path)
    text = str(e.value)
    assert "labels.txt: line 3:" in text and message in text and "\n" not in text


def test_inconsistent_lines_for_one_image(tmp_path):
    make_mias(tmp_path, "mdb001 G CIRC B 1 2 3\nmdb001 F CALC B 1 2 3\n", refs=("mdb001",))
    with pytest.raises(InputError, match="line 2: background tissue differs"):
        read_mias(tmp_path)
    make_mias(tmp_path, "mdb001 G NORM\nmdb001 G CALC B 1 2 3\n", refs=("mdb001",))
    with pytest.raises(InputError, match="line 1: an image marked NORM has other truth lines"):
        read_mias(tmp_path)


def test_missing_images_raise_and_unlabelled_images_are_skipped(tmp_path, caplog):
    make_mias(tmp_path, LABELS, refs=("mdb001", "mdb002"))
    with pytest.raises(InputError, match=r"2 image\(s\) listed here are missing"):
        read_mias(tmp_path)
    make_mias(tmp_path, "mdb001 G NORM\n", refs=("mdb001", "mdb002", "mdb003"))
    with caplog.at_level(logging.INFO, logger="radtrust.data.mias"):
        manifest, labels, _ = read_mias(tmp_path)
    assert manifest["case_id"].tolist() == ["mdb001"] and labels.case_ids == ["mdb001"]
    assert "2 images without truth lines skipped" in caplog.text


def test_missing_folder_parts(tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        read_mias(tmp_path / "absent")
    with pytest.raises(InputError, match="labels.txt: no such file"):
        read_mias(tmp_path)
    (tmp_path / "labels.txt").write_text("mdb001 G NORM\n")
    with pytest.raises(InputError, match="images: no such folder"):
        read_mias(tmp_path)
    (tmp_path / "images").mkdir()
    (tmp_path / "labels.txt").write_text("\n\n")
    with pytest.raises(InputError, match="no truth lines"):
        read_mias(tmp_path)


@settings(max_examples=50, deadline=None)
@given(
    st.integers(1, 999),
    st.sampled_from("FGD"),
    st.sampled_from(["CALC", "CIRC", "SPIC", "MISC", "ARCH", "ASYM"]),
    st.sampled_from("BM"),
    st.integers(0, 1024),
    st.integers(0, 1024),
    st.integers(1, 400),
)
def test_parse_line_round_trips_valid_lines(n, tissue, klass, sev, x, y, r):
    t = _parse_line(f"mdb{n:03d} {tissue} {klass} {sev} {x} {y} {r}", 7, "labels.txt")
    assert (t.ref, t.tissue, t.klass, t.severity, t.x, t.y, t.radius) == (f"mdb{n:03d}", tissue, klass, sev, x, y, r)


@given(st.text(max_size=40))
def test_parse_line_never_fails_with_anything_but_input_error(line):
    try:
        _parse_line(line, 1, "labels.txt")
    except InputError as e:
        assert "\n" not in str(e)


# --- load_image -----------------------------------------------------------------------------------------


def test_load_image_size_range_and_dtype(tmp_path):
    arr = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (64, 1))
    out = load_image(write_png(tmp_path / "a.png", arr), size=32)
    assert out.shape == (32, 32) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    # Brighter pixels stay brighter: the left-to-right ramp survives resizing.
    assert out[:, 0].mean() < 0.1 and out[:, -1].mean() > 0.9


def test_load_image_16_bit_png_scales_by_stored_depth(tmp_path):
    full = np.full((16, 16), 65535, dtype=np.uint16)
    full[:8] = 0
    out = load_image(write_png(tmp_path / "full.png", full), size=16)
    assert out.max() == pytest.approx(1.0) and out.min() == 0.0
    # 12-bit detector values in a 16-bit container: 4095 is white, not 6 % grey.
    twelve = np.full((16, 16), 4095, dtype=np.uint16)
    twelve[0, 0] = 0
    path = write_png(tmp_path / "twelve.png", twelve)
    with Image.open(path) as im:
        assert im.mode.startswith("I")
    out = load_image(path, size=16)
    assert out[8, 8] == pytest.approx(1.0)


def test_load_image_converts_rgb(tmp_path):
    rgb = np.full((20, 20, 3), 255, dtype=np.uint8)
    out = load_image(write_png(tmp_path / "rgb.png", rgb), size=10)
    assert out.shape == (10, 10) and np.allclose(out, 1.0)


def test_load_image_pads_away_from_the_chest_wall(tmp_path):
    # Portrait image with the tissue against the right edge: padding goes on the left.
    arr = np.zeros((40, 20), dtype=np.uint8)
    arr[:, 10:] = 255
    out = load_image(write_png(tmp_path / "tall.png", arr), size=40)
    assert out[:, :25].max() < 0.05 and out[:, 32:].min() > 0.95


def test_load_image_cache_is_reused_and_keyed_on_mtime(tmp_path, monkeypatch):
    path = write_png(tmp_path / "img.png", np.full((32, 32), 128, dtype=np.uint8))
    cache = tmp_path / "cache"
    first = load_image(path, size=16, cache_dir=cache)
    entries = sorted(cache.glob("*.npy"))
    assert len(entries) == 1 and not list(cache.glob(".*.tmp"))
    np.testing.assert_array_equal(np.load(entries[0], allow_pickle=False), first)

    # A second call must not decode the file again.
    import PIL.Image

    def no_decode(*a, **k):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(PIL.Image, "open", no_decode)
    np.testing.assert_array_equal(load_image(path, size=16, cache_dir=cache), first)
    monkeypatch.undo()

    # Another output size or a touched file is another key.
    load_image(path, size=8, cache_dir=cache)
    st_ = path.stat()
    os.utime(path, ns=(st_.st_atime_ns, st_.st_mtime_ns + 5_000_000_000))
    load_image(path, size=16, cache_dir=cache)
    assert len(list(cache.glob("*.npy"))) == 3


def test_load_image_rebuilds_a_damaged_cache_entry(tmp_path):
    path = write_png(tmp_path / "img.png", np.full((8, 8), 255, dtype=np.uint8))
    cache = tmp_path / "cache"
    load_image(path, size=4, cache_dir=cache)
    (entry,) = cache.glob("*.npy")
    entry.write_bytes(b"garbage")
    assert np.allclose(load_image(path, size=4, cache_dir=cache), 1.0)


def test_load_image_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match="missing.png: image file not found"):
        load_image(tmp_path / "missing.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(InputError, match="bad.png: not a readable image") as e:
        load_image(bad)
    assert "\n" not in str(e.value)
    # A truncated PNG: a real header, then nothing.
    good = write_png(tmp_path / "good.png", np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(good.read_bytes()[:200])
    with pytest.raises(InputError, match="trunc.png: corrupt or unreadable image") as e:
        load_image(trunc)
    assert "\n" not in str(e.value)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty.png: image file is empty"):
        load_image(empty)
    with pytest.raises(ConfigError):
        load_image(good, size=0)


def test_load_image_sends_dicom_to_the_dicom_reader(tmp_path, monkeypatch):
    calls = []

    def fake_reader(path):
        calls.append(Path(path).name)
        return np.full((10, 20), 0.5, dtype=np.float32)

    monkeypatch.setitem(sys.modules, "radtrust.data.dicom", types.SimpleNamespace(read_dicom_pixels=fake_reader))
    by_suffix = tmp_path / "a.dcm"
    by_suffix.write_bytes(b"x")
    by_preamble = tmp_path / "b.img"
    by_preamble.write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 16)
    for p in (by_suffix, by_preamble):
        out = load_image(p, size=8)
        assert out.shape == (8, 8) and out.max() == pytest.approx(0.5, abs=0.02)
    assert calls == ["a.dcm", "b.img"]


@pytest.mark.skipif(not REAL_MIAS.exists(), reason="needs the real mini-MIAS under ../shared/data/mias")
def test_real_mini_mias(tmp_path):
    manifest, labels, marks = read_mias(REAL_MIAS)
    assert len(manifest) == 252 and len(labels) == 252
    assert 120 <= manifest["patient_id"].nunique() <= 130
    assert manifest.groupby("patient_id")["laterality"].nunique().max() <= 2
    dens = labels.frame[["density_fatty", "density_fatty_glandular", "density_dense_glandular"]].astype(int)
    assert int(dens.to_numpy().sum()) == 252 and (dens.sum(axis=1) == 1).all()
    assert labels.frame["malignant"].isna().sum() == (labels.frame["abnormal"] == 0).sum()
    located = marks.dropna(subset=["x"])
    assert located["x"].between(0, 512).all() and located["y"].between(0, 512).all()
    out = load_image(manifest["image_path"].iloc[0], size=64, cache_dir=tmp_path)
    assert out.shape == (64, 64) and 0.0 <= out.min() <= out.max() <= 1.0
