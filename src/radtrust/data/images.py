"""Image manifests and a cached, normalised image loader for mammography.

A mammography dataset is a hierarchy: a **woman** (``patient_id``) attends a **screening episode**
(``episode_id``: one screening round with its recall and work-up), which holds one or more **studies**
(``study_id``: one visit's acquisition), each made of **view images** (``case_id``: one image, e.g. the
left MLO). Labels and predictions are per image, but the images of one woman are strongly correlated
(both breasts, both views, every screening round), so train/validation/test splits must be made by
``patient_id`` (the woman), never by image, or the test set leaks her other images.

Readers (e.g. :func:`radtrust.data.mias.read_mias`) return a manifest frame with :data:`IMAGE_COLUMNS`
(plus reader-specific extras) and a :class:`~radtrust.data.schema.LabelTable`; :func:`load_image` turns
one ``image_path`` into a fixed-size float array.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from radtrust.data.io import atomic_path
from radtrust.errors import ConfigError, InputError

#: Columns of an image manifest, one row per view image. ``age`` is a float (NaN where unknown);
#: ``laterality`` is "L"/"R"; ``view`` is "CC", "MLO", ...; ``image_path`` is absolute.
IMAGE_COLUMNS: tuple[str, ...] = (
    "case_id",
    "patient_id",
    "episode_id",
    "study_id",
    "site",
    "manufacturer",
    "laterality",
    "view",
    "age",
    "image_path",
)

_DICOM_SUFFIXES = (".dcm", ".dicom")
#: Bump when the decoding or resizing changes, so that old cache entries are not reused.
_CACHE_VERSION = "1"


def load_image(path: str | os.PathLike[str], size: int = 256, cache_dir: str | Path | None = None) -> np.ndarray:
    """Read one image as a float32 ``(size, size)`` array in [0, 1], brighter = denser tissue.

    PNG, JPEG and TIFF (8- or 16-bit grey, colour converted to grey) are read with Pillow; DICOM files
    (``.dcm`` or a ``DICM`` preamble) with :func:`radtrust.data.dicom.read_dicom_pixels`. The image is
    padded to a square with zeros on the side away from the chest wall (so the breast keeps its shape
    and position) and resized once. With ``cache_dir`` the result is stored as
    ``<sha256(path, mtime, file size, size)>.npy`` and reused: decoding a full-field mammogram costs far
    more than loading the small array, and an edited file gets a new key, so a stale entry is never read.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ConfigError(f"image size must be a positive integer, not {size!r}")
    size = int(size)
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: image file not found") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read image ({e.strerror or type(e).__name__})") from None
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    if st.st_size == 0:
        raise InputError(f"{path}: image file is empty")

    cache_file = None
    if cache_dir is not None:
        key = "\0".join((_CACHE_VERSION, str(path.resolve()), str(st.st_mtime_ns), str(st.st_size), str(size)))
        cache_file = Path(cache_dir) / f"{hashlib.sha256(key.encode('utf-8')).hexdigest()}.npy"
        cached = _read_cache(cache_file, size)
        if cached is not None:
            return cached

    pixels = _read_dicom(path) if looks_like_dicom(path) else _read_pillow(path)
    out = _square_resize(pixels, size)

    if cache_file is not None:
        try:
            with atomic_path(cache_file) as tmp, open(tmp, "wb") as fh:
                # Write through a handle: np.save on a path would append ".npy" to the temporary name.
                np.save(fh, out, allow_pickle=False)
        except OSError as e:
            raise InputError(f"{cache_file.parent}: cannot write image cache ({e.strerror or type(e).__name__})") from None
    return out


def _read_cache(cache_file: Path, size: int) -> np.ndarray | None:
    """The cached array, or None when absent or unusable (a damaged entry is rebuilt, not an error)."""
    if not cache_file.is_file():
        return None
    try:
        arr = np.load(cache_file, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if arr.shape != (size, size) or arr.dtype != np.float32:
        return None
    return arr


def looks_like_dicom(path: Path) -> bool:
    """A ``.dcm``/``.dicom`` file, or a Part 10 file (a 128-byte preamble, then "DICM") whatever it is called.

    An unreadable file is not DICOM here; the reader that opens it next names the problem."""
    if path.suffix.lower() in _DICOM_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _read_dicom(path: Path) -> np.ndarray:
    # Imported here so that PNG-only users never need the DICOM dependencies.
    from radtrust.data.dicom import read_dicom_pixels  # loads pydicom: imported on first use

    arr = np.asarray(read_dicom_pixels(path), dtype=np.float32)
    if arr.ndim != 2:
        raise InputError(f"{path}: expected a single grey image, found pixel data of shape {arr.shape}")
    return np.clip(np.nan_to_num(arr, nan=0.0), 0.0, 1.0)


def _read_pillow(path: Path) -> np.ndarray:
    """Decode with Pillow into float32 [0, 1]; a one-line InputError for anything Pillow cannot read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
                arr = np.asarray(im).astype(np.float64)
                return _scale_integer(arr, path)
            if im.mode == "F":
                return _scale_float(np.asarray(im, dtype=np.float64))
            # Colour or palette exports of grey films: the luminance is the grey value.
            grey = im if im.mode == "L" else im.convert("L")
            return np.asarray(grey, dtype=np.float32) / np.float32(255.0)
    except UnidentifiedImageError:
        raise InputError(f"{path}: not a readable image (unknown or corrupt format)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        # Truncated or damaged files surface as any of these, with multi-line messages at times.
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"{path}: corrupt or unreadable image ({reason})") from None


def _scale_integer(arr: np.ndarray, path: Path) -> np.ndarray:
    """Scale integer pixels by the full range of their bit depth.

    Detectors store 10-, 12- or 14-bit values in 16-bit containers; dividing by 65535 would leave a
    12-bit image almost black, and per-image min-max scaling would erase real differences in density
    between images. The smallest bit depth (at least 8) that holds the largest value is the stored one.
    """
    if arr.size and arr.min() < 0:
        raise InputError(f"{path}: negative pixel values in a grey image")
    top = float(arr.max()) if arr.size else 0.0
    bits = max(8, int(np.ceil(np.log2(top + 1.0))))
    return (arr / (2.0**bits - 1.0)).astype(np.float32)


def _scale_float(arr: np.ndarray) -> np.ndarray:
    arr = np.nan_to_num(arr, nan=0.0)
    lo, hi = float(arr.min()), float(arr.max())
    if lo >= 0.0 and hi <= 1.0:
        return arr.astype(np.float32)
    if hi == lo:
        return np.zeros_like(arr, dtype=np.float32)
    return ((arr - lo) / (hi - lo)).astype(np.float32)


def _square_resize(arr: np.ndarray, size: int) -> np.ndarray:
    """Pad to a square with zeros away from the chest wall, then resize once (Lanczos)."""
    from PIL import Image

    h, w = arr.shape
    if h != w:
        side = max(h, w)
        padded = np.zeros((side, side), dtype=np.float32)
        if h > w:
            # Portrait: the chest wall is the vertical edge with more tissue; keep the breast against it.
            edge = max(1, w // 10)
            chest_left = arr[:, :edge].mean() >= arr[:, -edge:].mean()
            x0 = 0 if chest_left else side - w
            padded[:, x0 : x0 + w] = arr
        else:
            # Landscape is unusual for a mammogram; centre it rather than guess an orientation.
            y0 = (side - h) // 2
            padded[y0 : y0 + h, :] = arr
        arr = padded
    if arr.shape != (size, size):
        img = Image.fromarray(np.ascontiguousarray(arr, dtype=np.float32))  # float32 2-D -> mode "F"
        arr = np.asarray(img.resize((size, size), Image.Resampling.LANCZOS), dtype=np.float32)
    # Lanczos rings slightly past the input range at sharp edges (skin line, labels).
    return np.ascontiguousarray(np.clip(arr, 0.0, 1.0), dtype=np.float32)
