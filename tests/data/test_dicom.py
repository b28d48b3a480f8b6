import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, generate_uid

from radtrust.data import dicom as dicom_mod
from radtrust.data.dicom import MARK_COLUMNS, normalise_laterality, normalise_view, parse_age, read_dicom_meta, read_dicom_pixels, read_manifest, scan_dicom_folder
from radtrust.data.images import IMAGE_COLUMNS
from radtrust.errors import InputError

ROWS, COLS = 64, 48
MG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.2"  # Digital Mammography X-Ray Image Storage - For Presentation


def stored_pixels() -> np.ndarray:
    """A dark 12-bit background (100) with a bright square (3000) at the top left."""
    arr = np.full((ROWS, COLS), 100, dtype=np.uint16)
    arr[4:20, 4:20] = 3000
    return arr


def write_dicom(path, pixels=None, photometric="MONOCHROME2", frames=1, **attrs):
    """A small Part 10 mammogram; ``attrs`` are set as DICOM keywords (None removes the element)."""
    pixels = stored_pixels() if pixels is None else pixels
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MG_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = MG_SOP_CLASS
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = "1.2.3.4"
    ds.SeriesInstanceUID = "1.2.3.4.5"
    ds.PatientID = "P001"
    ds.Modality = "MG"
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
        pixels = np.stack([pixels] * frames)
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # some tests write deliberately non-standard values
        for k, v in attrs.items():
            if v is None:
                if k in ds:
                    delattr(ds, k)
            else:
                setattr(ds, k, v)
    ds.save_as(path, enforce_file_format=True)
    return path


# ---------------------------------------------------------------------------------------------- pixels


def test_monochrome2_keeps_bright_region_bright_and_is_float01(tmp_path):
    img = read_dicom_pixels(write_dicom(tmp_path / "a.dcm"))
    assert img.dtype == np.float32 and img.shape == (ROWS, COLS)
    assert img.min() >= 0.0 and img.max() <= 1.0
    # No VOI in the file: min-max scaling, so the bright square is 1 and the background 0.
    assert img[10, 10] == pytest.approx(1.0) and img[40, 40] == pytest.approx(0.0)


def test_monochrome1_inverts_the_same_stored_values(tmp_path):
    m2 = read_dicom_pixels(write_dicom(tmp_path / "m2.dcm"))
    m1 = read_dicom_pixels(write_dicom(tmp_path / "m1.dcm", photometric="MONOCHROME1"))
    # Under MONOCHROME1 high stored values display dark, so the square becomes the darkest region.
    assert m1[10, 10] == pytest.approx(0.0) and m1[40, 40] == pytest.approx(1.0)
    np.testing.assert_allclose(m1, 1.0 - m2, atol=1e-6)


def test_window_sets_contrast_and_uses_the_window_range(tmp_path):
    pixels = stored_pixels()
    pixels[40:50, 30:40] = 1100  # a mid-grey patch inside the window
    # Window 600..1600: the background (100) is below it, the square (3000) above, the patch mid-way.
    img = read_dicom_pixels(write_dicom(tmp_path / "w.dcm", pixels=pixels, WindowCenter=1100, WindowWidth=1000))
    assert img.dtype == np.float32 and img.min() >= 0.0 and img.max() <= 1.0
    assert img[40, 5] == pytest.approx(0.0) and img[10, 10] == pytest.approx(1.0)
    assert img[45, 35] == pytest.approx(0.5, abs=0.01)
    # Without the window the same patch sits near the bottom of a min-max scale.
    plain = read_dicom_pixels(write_dicom(tmp_path / "p.dcm", pixels=pixels))
    assert plain[45, 35] == pytest.approx((1100 - 100) / 2900, abs=1e-4)


def test_first_of_several_windows_and_monochrome1_window(tmp_path):
    pixels = stored_pixels()
    pixels[40:50, 30:40] = 1100
    img = read_dicom_pixels(write_dicom(tmp_path / "w.dcm", pixels=pixels, WindowCenter=[1100, 2000], WindowWidth=[1000, 4000]))
    assert img[45, 35] == pytest.approx(0.5, abs=0.01)
    inv = read_dicom_pixels(write_dicom(tmp_path / "w1.dcm", pixels=pixels, photometric="MONOCHROME1", WindowCenter=1100, WindowWidth=1000))
    np.testing.assert_allclose(inv, 1.0 - img, atol=1e-6)


def test_rescale_is_applied_before_the_window(tmp_path):
    # Stored 100/3000 become 200/6000 after slope 2; a window around 2200 keeps the patch (1100 → 2200) mid-grey.
    pixels = stored_pixels()
    pixels[40:50, 30:40] = 1100
    img = read_dicom_pixels(write_dicom(tmp_path / "r.dcm", pixels=pixels, RescaleSlope=2, RescaleIntercept=0, WindowCenter=2200, WindowWidth=2000))
    assert img[45, 35] == pytest.approx(0.5, abs=0.01)
    assert img[40, 5] == pytest.approx(0.0) and img[10, 10] == pytest.approx(1.0)


def test_voi_lut_sequence_is_used(tmp_path):
    # A LUT that clips at 1000: the square (3000) maps to the top entry, the background (100) to 100/1000.
    item = Dataset()
    item.add_new("LUTDescriptor", "US", [2000, 0, 12])
    item.add_new("LUTData", "US", [min(i, 1000) for i in range(2000)])
    path = write_dicom(tmp_path / "lut.dcm")
    import pydicom

    ds = pydicom.dcmread(path)
    ds.VOILUTSequence = [item]
    ds.save_as(path)
    img = read_dicom_pixels(path)
    assert img[10, 10] == pytest.approx(1.0) and img[40, 40] == pytest.approx(0.1, abs=1e-6)


def test_constant_image_is_all_zeros(tmp_path):
    img = read_dicom_pixels(write_dicom(tmp_path / "c.dcm", pixels=np.full((ROWS, COLS), 7, dtype=np.uint16)))
    assert img.dtype == np.float32 and not img.any()


def test_single_frame_with_number_of_frames_1_is_read_and_multi_frame_is_refused(tmp_path):
    one = read_dicom_pixels(write_dicom(tmp_path / "one.dcm", NumberOfFrames=1))
    assert one.shape == (ROWS, COLS)
    with pytest.raises(InputError, match=r"multi\.dcm: DICOM file holds 3 frames"):
        read_dicom_pixels(write_dicom(tmp_path / "multi.dcm", frames=3))


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda p: p.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00ZZ\x10\x00" + b"1.2.840.10008.1.2"), "damaged or truncated DICOM file"),
        (lambda p: p.write_bytes(b"just some text, not dicom"), "not a DICOM file"),
        (lambda p: p.write_bytes(write_dicom(p).read_bytes()[:-3000]), "cannot decode the pixel data"),
        (lambda p: write_dicom(p, PixelData=None), "no pixel data"),
        (lambda p: write_dicom(p, photometric="RGB"), "expected a grey image"),
    ],
)
def test_bad_files_give_one_line_input_errors(tmp_path, make, pattern):
    path = tmp_path / "bad.dcm"
    make(path)
    with pytest.raises(InputError, match=pattern) as err:
        read_dicom_pixels(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and "P001" not in msg


def test_compressed_pixel_data_that_cannot_be_decoded_names_the_syntax(tmp_path, monkeypatch):
    path = write_dicom(tmp_path / "j2k.dcm")
    import pydicom
    from pydicom.encaps import encapsulate

    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\0" * 64])  # a bogus codestream: no decoder can help
    ds["PixelData"].VR = "OB"
    ds.save_as(path)
    with pytest.raises(InputError, match=r"j2k\.dcm: pixel data is compressed \(JPEG 2000.*(could not be decoded|no decoder)") as err:
        read_dicom_pixels(path)
    assert "\n" not in str(err.value)
    monkeypatch.setattr(dicom_mod, "_decoder_available", lambda syntax: False)
    with pytest.raises(InputError, match=r"j2k\.dcm: .*no decoder for it is installed; install one"):
        read_dicom_pixels(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_dicom_pixels(tmp_path / "nope.dcm")
    with pytest.raises(InputError, match="is a folder"):
        read_dicom_meta(tmp_path)


# -------------------------------------------------------------------------------------------- metadata


def test_meta_fields_and_normalisation(tmp_path):
    path = write_dicom(tmp_path / "m.dcm", ImageLaterality="L", ViewPosition="mlo", Manufacturer="  HOLOGIC, Inc. ", PatientAge="054Y", StudyDate="20200102")
    meta = read_dicom_meta(path)
    assert meta["patient_id"] == "P001" and meta["study_id"] == "1.2.3.4" and meta["series_id"] == "1.2.3.4.5"
    assert meta["image_id"] and meta["laterality"] == "L" and meta["view"] == "MLO"
    assert meta["manufacturer"] == "HOLOGIC, Inc." and meta["age"] == 54.0
    assert (meta["rows"], meta["columns"]) == (ROWS, COLS)
    assert meta["photometric_interpretation"] == "MONOCHROME2" and meta["study_date"] == "20200102"


def test_meta_laterality_falls_back_to_series_laterality_and_view_code(tmp_path):
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "R-10242", "SRT", "cranio-caudal"
    meta = read_dicom_meta(write_dicom(tmp_path / "f.dcm", Laterality="R", ViewCodeSequence=[code]))
    assert meta["laterality"] == "R" and meta["view"] == "CC"
    bare = read_dicom_meta(write_dicom(tmp_path / "b.dcm", ImageLaterality="B"))
    assert bare["laterality"] is None and bare["view"] is None and math.isnan(bare["age"]) and bare["manufacturer"] is None


def test_meta_does_not_load_pixels(tmp_path, monkeypatch):
    path = write_dicom(tmp_path / "m.dcm")
    calls = []
    real = dicom_mod.pydicom.dcmread

    def spy(*args, **kwargs):
        calls.append(kwargs.get("stop_before_pixels"))
        return real(*args, **kwargs)

    monkeypatch.setattr(dicom_mod.pydicom, "dcmread", spy)
    read_dicom_meta(path)
    assert calls == [True]


@pytest.mark.parametrize(
    "attrs, expected",
    [
        ({"PatientAge": "054Y"}, 54.0),
        ({"PatientAge": "006M"}, 0.5),
        ({"PatientAge": "052W"}, 52 * 7 / 365.25),
        ({"PatientAge": "365D"}, 365 / 365.25),
        ({"PatientBirthDate": "19700615", "StudyDate": "20200615"}, 50.0),
        ({"PatientBirthDate": "19700615"}, math.nan),
        ({"PatientAge": "old"}, math.nan),
    ],
)
def test_age_forms(tmp_path, attrs, expected):
    age = read_dicom_meta(write_dicom(tmp_path / "a.dcm", **attrs))["age"]
    if math.isnan(expected):
        assert math.isnan(age)
    else:
        assert age == pytest.approx(expected, abs=0.01)


def test_parse_age_accepts_numbers_and_rejects_junk():
    assert parse_age(61) == 61.0 and parse_age("61") == 61.0 and parse_age(" 054y ") == 54.0
    assert math.isnan(parse_age(None)) and math.isnan(parse_age(float("nan"))) and math.isnan(parse_age(-3)) and math.isnan(parse_age("n/a"))


@given(n=st.integers(0, 999), unit=st.sampled_from("DWMY"), pad=st.booleans())
def test_parse_age_property(n, unit, pad):
    text = f"{n:03d}{unit}" if pad else f" {n}{unit.lower()} "
    years = {"D": n / 365.25, "W": n * 7 / 365.25, "M": n / 12, "Y": float(n)}[unit]
    assert parse_age(text) == pytest.approx(years)


@given(st.text(max_size=30))
def test_normalisers_are_idempotent_and_never_raise(text):
    view = normalise_view(text)
    assert view is None or (view == view.upper() and normalise_view(view) == view)
    assert normalise_laterality(text) in (None, "L", "R")


def test_normalisers_known_spellings():
    assert [normalise_view(v) for v in ("mlo", " CC ", "cranio-caudal", "Medio-lateral oblique", "xccl", "")] == ["MLO", "CC", "CC", "MLO", "XCCL", None]
    assert [normalise_laterality(v) for v in ("l", "Right", "B", "U", None, float("nan"))] == ["L", "R", None, None, None, None]


def test_manifest_row_without_mark_id_cannot_repeat_an_image(tmp_path):
    text = "client_id,episode_id,study_id,image_id,image_path,mark_id\n1,1,1,A1,img/a1.dcm,m1\n1,1,1,A1,img/a1.dcm,\n"
    assert "row 2: image_id repeats row 1 without a mark_id" in _manifest_error(tmp_path, text)


# ----------------------------------------------------------------------------------------- folder scan


def test_scan_folder_reads_headers_only_and_skips_non_dicom(tmp_path, monkeypatch):
    root = tmp_path / "dicoms"
    (root / "b" / "deeper").mkdir(parents=True)
    write_dicom(root / "b" / "deeper" / "img2.dcm", PatientID="P002", StudyInstanceUID="9.9", SOPInstanceUID="1.5.2", ImageLaterality="R", ViewPosition="CC")
    # No suffix: found by the DICM marker.
    write_dicom(root / "img1", PatientID="P001", StudyInstanceUID="9.8", SOPInstanceUID="1.5.1", ImageLaterality="L", ViewPosition="MLO", PatientAge="061Y", Manufacturer="GE")
    (root / "notes.txt").write_text("not an image")
    (root / "b" / "thumb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 200)

    def no_pixels(*a, **k):
        raise AssertionError("scan must not decode pixels")

    monkeypatch.setattr(dicom_mod, "read_dicom_pixels", no_pixels)
    monkeypatch.setattr(dicom_mod, "_decode", no_pixels)
    frame = scan_dicom_folder(root, site="leeds")
    assert list(frame.columns) == list(IMAGE_COLUMNS)
    assert frame["case_id"].tolist() == ["1.5.1", "1.5.2"]
    assert frame["patient_id"].tolist() == ["P001", "P002"]
    assert frame["episode_id"].tolist() == frame["study_id"].tolist() == ["9.8", "9.9"]
    assert frame["laterality"].tolist() == ["L", "R"] and frame["view"].tolist() == ["MLO", "CC"]
    assert set(frame["site"]) == {"leeds"} and frame.loc[0, "manufacturer"] == "GE"
    assert frame.loc[0, "age"] == 61.0 and math.isnan(frame.loc[1, "age"])
    assert frame.loc[0, "image_path"] == str((root / "img1").resolve())


def test_scan_folder_defaults_and_errors(tmp_path):
    root = tmp_path / "d"
    root.mkdir()
    (root / "readme.txt").write_text("hello")
    with pytest.raises(InputError, match="holds no DICOM images"):
        scan_dicom_folder(root)
    write_dicom(root / "x.dcm", SOPInstanceUID=None)
    frame = scan_dicom_folder(root)
    assert frame.loc[0, "case_id"] == "x" and frame.loc[0, "site"] == "unknown"
    (root / "y.dcm").write_bytes(b"not dicom at all")
    with pytest.raises(InputError, match=r"y\.dcm: not a DICOM file"):
        scan_dicom_folder(root)
    with pytest.raises(InputError, match="no such folder"):
        scan_dicom_folder(tmp_path / "missing")


def test_scan_folder_refuses_a_cut_off_image_but_skips_non_image_objects(tmp_path):
    write_dicom(tmp_path / "ok.dcm")
    sr = FileMetaDataset()
    sr.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR: no pixels, not an image
    sr.MediaStorageSOPInstanceUID = generate_uid()
    sr.TransferSyntaxUID = ExplicitVRLittleEndian
    report = FileDataset(str(tmp_path / "sr.dcm"), {}, file_meta=sr, preamble=b"\0" * 128)
    report.SOPClassUID, report.SOPInstanceUID = sr.MediaStorageSOPClassUID, sr.MediaStorageSOPInstanceUID
    report.save_as(tmp_path / "sr.dcm", enforce_file_format=True)
    assert len(scan_dicom_folder(tmp_path)) == 1
    full = write_dicom(tmp_path / "cut.dcm").read_bytes()
    (tmp_path / "cut.dcm").write_bytes(full[:500])  # ends inside the header, before Rows
    with pytest.raises(InputError, match=r"cut\.dcm: damaged or truncated"):
        scan_dicom_folder(tmp_path)


def test_pydicom_warnings_quoting_values_are_silenced(tmp_path, recwarn):
    # An invalid UID: reading it makes pydicom warn with the value quoted (UIDs can embed local identifiers).
    path = write_dicom(tmp_path / "w.dcm", StudyInstanceUID="1.2.abc")
    recwarn.clear()
    assert read_dicom_meta(path)["study_id"] == "1.2.abc"
    assert scan_dicom_folder(tmp_path).loc[0, "study_id"] == "1.2.abc"
    assert not [w for w in recwarn if "1.2.abc" in str(w.message)]


def test_scan_folder_refuses_duplicate_images(tmp_path):
    write_dicom(tmp_path / "a.dcm", SOPInstanceUID="1.1")
    write_dicom(tmp_path / "b.dcm", SOPInstanceUID="1.1")
    with pytest.raises(InputError, match=r"b\.dcm: same SOP instance"):
        scan_dicom_folder(tmp_path)


# -------------------------------------------------------------------------------------------- manifest


def write_images(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        write_dicom(folder / n)


MANIFEST = """\
client_id,episode_id,study_id,image_id,image_path,laterality,view,age,manufacturer,mark_id,lesion_type,conspicuity,x,y,width,height,pathology
101,1,11,A1,img/a1.dcm,L,MLO,54,HOLOGIC,,,,,,,,
101,1,11,A2,img/a2.dcm,left,cc,54,HOLOGIC,m1,mass,Obvious,10,12,5,6,malignant
101,1,11,A2,img/a2.dcm,left,cc,54,HOLOGIC,m2,calcification,Subtle,20,22,3,3,benign
102,7,71,B1,img/b1.dcm,,RMLO,,GE,,,,,,,,
"""


def test_manifest_csv_images_and_marks(tmp_path):
    write_images(tmp_path / "img", ["a1.dcm", "a2.dcm", "b1.dcm"])
    (tmp_path / "manifest.csv").write_text(MANIFEST)
    images, marks = read_manifest(tmp_path / "manifest.csv", site="omi")
    assert list(images.columns) == list(IMAGE_COLUMNS)
    assert images["case_id"].tolist() == ["A1", "A2", "B1"]
    assert images["patient_id"].tolist() == ["101", "101", "102"]
    assert images["episode_id"].tolist() == ["1", "1", "7"] and images["study_id"].tolist() == ["11", "11", "71"]
    assert images["laterality"].tolist() == ["L", "L", "R"] and images["view"].tolist() == ["MLO", "CC", "MLO"]
    assert images.loc[0, "age"] == 54.0 and math.isnan(images.loc[2, "age"])
    assert set(images["site"]) == {"omi"}
    assert images.loc[1, "image_path"] == str((tmp_path / "img" / "a2.dcm").resolve())
    assert list(marks.columns) == list(MARK_COLUMNS)
    assert marks["case_id"].tolist() == ["A2", "A2"] and marks["mark_id"].tolist() == ["m1", "m2"]
    assert marks.loc[0, "lesion_type"] == "mass" and marks.loc[1, "pathology"] == "benign"
    assert marks.loc[0, "x"] == 10.0 and marks.loc[1, "height"] == 3.0 and math.isnan(marks.loc[0, "radius"])


def test_manifest_json_records_and_jsonl(tmp_path):
    write_images(tmp_path / "img", ["a1.dcm"])
    rec = {"client_id": 5, "episode_id": "e1", "study_id": "s1", "image_id": "i1", "image_path": "img/a1.dcm", "site": "st", "x": 3, "y": 4, "radius": 2.5, "lesion_type": "mass"}
    (tmp_path / "m.json").write_text(json.dumps([rec], indent=2))
    images, marks = read_manifest(tmp_path / "m.json")
    assert images.loc[0, "patient_id"] == "5" and images.loc[0, "site"] == "st"
    assert marks["mark_id"].tolist() == ["i1#1"] and marks.loc[0, "radius"] == 2.5
    (tmp_path / "m.jsonl").write_text(json.dumps(rec) + "\n")
    images2, _ = read_manifest(tmp_path / "m.jsonl")
    pd.testing.assert_frame_equal(images, images2)


def _manifest_error(tmp_path, text, name="manifest.csv"):
    write_images(tmp_path / "img", ["a1.dcm", "a2.dcm"])
    (tmp_path / name).write_text(text)
    with pytest.raises(InputError) as err:
        read_manifest(tmp_path / name)
    msg = str(err.value)
    assert "\n" not in msg and name in msg
    return msg


def test_manifest_missing_required_column(tmp_path):
    msg = _manifest_error(tmp_path, "client_id,episode_id,image_id,image_path\n1,1,A1,img/a1.dcm\n")
    assert "no column 'study_id'" in msg


def test_manifest_duplicate_image_id_names_the_row(tmp_path):
    text = "client_id,episode_id,study_id,image_id,image_path\n1,1,1,A1,img/a1.dcm\n1,1,1,A2,img/a2.dcm\n1,1,1,A1,img/a1.dcm\n"
    msg = _manifest_error(tmp_path, text)
    assert "row 3: image_id repeats row 1" in msg and "A1" not in msg


def test_manifest_mark_rows_must_agree_on_the_image(tmp_path):
    text = "client_id,episode_id,study_id,image_id,image_path,mark_id,view\n1,1,1,A1,img/a1.dcm,m1,CC\n1,1,1,A1,img/a1.dcm,m2,MLO\n"
    assert "row 2: image_id repeats row 1 with a different 'view'" in _manifest_error(tmp_path, text)
    text = "client_id,episode_id,study_id,image_id,image_path,mark_id\n1,1,1,A1,img/a1.dcm,m1\n1,1,1,A1,img/a1.dcm,m1\n"
    assert "row 2: image_id and mark_id repeat" in _manifest_error(tmp_path, text)


def test_manifest_missing_image_files_give_count_and_first_row(tmp_path):
    text = "client_id,episode_id,study_id,image_id,image_path\n1,1,1,A1,img/a1.dcm\n1,1,1,A2,img/gone.dcm\n2,2,2,B1,img/gone2.dcm\n"
    msg = _manifest_error(tmp_path, text)
    assert "2 image file(s)" in msg and "first at row 2" in msg and "gone" not in msg


def test_manifest_bad_values_name_row_and_column(tmp_path):
    base = "client_id,episode_id,study_id,image_id,image_path"
    assert "row 2, column 'image_id': empty" in _manifest_error(tmp_path, f"{base}\n1,1,1,A1,img/a1.dcm\n1,1,1,,img/a2.dcm\n")
    assert "row 1, column 'x': not a number" in _manifest_error(tmp_path, f"{base},x,y\n1,1,1,A1,img/a1.dcm,left,3\n")
    assert "row 1, column 'age': not an age" in _manifest_error(tmp_path, f"{base},age\n1,1,1,A1,img/a1.dcm,old\n")
    assert "row 1: column 'view' names laterality R" in _manifest_error(tmp_path, f"{base},laterality,view\n1,1,1,A1,img/a1.dcm,L,RCC\n")
    assert "not valid JSON" in _manifest_error(tmp_path, '[{"client_id": 1,]', name="m.json")
