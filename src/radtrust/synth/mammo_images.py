"""A synthetic screening-mammography image archive with a hidden truth: seeded, fast, and structured like
the real thing, so that tests, the demo and the benchmarks never need patient data.

    result = write_synth_mammo_images(MammoImageSynthConfig(n_women=200, seed=0), Path("demo/mammo_images"))

**Hierarchy.** Women (``patient_id``, aged 50-75 at the first round) attend 1-``max_episodes`` screening
rounds (``episode_id``, about 3 years apart, so ages rise); each round is one study (``study_id``) of four
views, L-CC, L-MLO, R-CC, R-MLO (``case_id``, one image each). A woman stays at one site; each site runs
one or two scanner makes, each with its own intensity profile (gamma, contrast, background, noise, blur;
:data:`SCANNER_PROFILES`), so results differ by site and by make as they do in real archives.

**Reports and truth.** Every study has a report written by :mod:`radtrust.synth.mammo_reports`: a pool of
its cases is drawn (own seed, ``label_noise`` = ``report_label_noise``) and each study takes a bilateral
case from the same generator site (so a site keeps its reporting style) with the density the woman has at
that age and the class the study was drawn as (normal; abnormal without malignancy; malignant). The report
truth is kept unchanged; the image truth derives from it:

* a breast is **abnormal** when the report truth has any finding (mass, calcification, architectural
  distortion, asymmetry) in it;
* **malignant** is 1 for the breast that holds the suspicious finding of a BI-RADS 4, 5 or 6 case, 0 for
  every other abnormal breast (BI-RADS 0 work-ups, 2 and 3 are taken as benign outcomes: most screening
  recalls are), and empty for normal breasts, as in MIAS: benign-versus-malignant says nothing about a
  breast without a lesion. Pool cases whose suspicious side cannot be told from the truth (a suspicious
  and a benign calcification cluster in opposite breasts) are not used;
* **density** (A-D) is the study's truth density, the same for its four views. The manifest carries it
  as a column so that fairness audits can group by it, the way they would group by a radiologist's
  density assessment.

``abnormal_rate`` sets the share of studies with any finding and ``malignant_share`` the share of those
that are malignant (an enrichment: real screening finds cancer in well under 1% of studies, too few to
train or test on).

**Images** (float [0, 1], bright = dense, as :func:`radtrust.data.images.load_image` returns them): a
half-ellipse breast against the chest wall, with the skin line thinning out; MLO views are tilted and
carry the pectoral muscle in the upper chest-wall corner. Orientation follows the back-to-back hanging
convention of DICOM mammograms: **right breasts have the chest wall on the right image edge (nipple
pointing left), left breasts on the left edge**. Fibroglandular tissue is smooth noise (plus a pull
toward the centre of the breast, away from the subcutaneous fat) thresholded so that its share of the
breast grows from A to D (:data:`GLAND_FRACTION`). Lesions: round/oval masses (spiculated when
malignant), clusters of tiny calcifications (tighter and pleomorphic when malignant), architectural
distortion (radiating lines) and asymmetry (a faint diffuse density). Each lesion sits at the same depth
from the chest wall in the CC and the MLO view of its breast. Its contrast is
``LESION_CONTRAST[kind] * DENSITY_VISIBILITY[density]`` (times a ±15% jitter), so dense breasts mask
lesions: a model finds them harder in D than in A.

**Files** (every one written atomically): ``images/<case_id>.png`` (8-bit grey) or ``.dcm`` (real
DICOM: MG "For Presentation" SOP class, explicit VR little endian, 10-14 bits stored, window set, with
ImageLaterality, ViewPosition, Manufacturer, PatientID, StudyInstanceUID and PatientAge; FUJIFILM stores
MONOCHROME1, the other makes MONOCHROME2), ``images.csv``, ``images_truth.csv``, ``reports.csv``,
``reports_truth.csv``, ``marks.csv`` and ``meta.json`` (see :func:`write_synth_mammo_images`). Same config
→ byte-identical files. images.csv has a ``study_uid`` column (the StudyInstanceUID every image of the
study would carry; what :func:`radtrust.data.dicom.scan_dicom_folder` reports as ``study_id``) to join a
DICOM scan of the archive back to it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import defaultdict, deque
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import ndimage

from radtrust.data.images import IMAGE_COLUMNS
from radtrust.data.io import atomic_path, write_json, write_table
from radtrust.data.schema import LABEL_SOURCE_COLUMN, Cohort, LabelTable
from radtrust.errors import ConfigError, InputError
from radtrust.labeling.mammo import DENSITIES, MAMMO_FINDINGS, MAMMO_KINDS, normalise_mammo_table
from radtrust.synth.chest import site_names
from radtrust.synth.mammo_reports import MammoReportSynthConfig, synth_mammo_frame

__all__ = [
    "DENSITY_VISIBILITY",
    "GLAND_FRACTION",
    "IMAGE_TRUTH_FINDINGS",
    "LESION_CONTRAST",
    "MARK_COLUMNS",
    "MANIFEST_COLUMNS",
    "SCANNER_PROFILES",
    "TRUTH_SOURCE",
    "Lesion",
    "MammoImageSynthConfig",
    "ScannerProfile",
    "SynthMammoImages",
    "ViewSpec",
    "render_view",
    "write_synth_mammo_images",
]

GENERATOR_VERSION = "radtrust-mammo-image-synth/1"
TRUTH_SOURCE = "synthetic-truth"

#: Image-level truth columns (a LabelTable): abnormal 0/1, malignant 0/1 or empty, one-hot density.
IMAGE_TRUTH_FINDINGS: tuple[str, ...] = ("abnormal", "malignant", "density_a", "density_b", "density_c", "density_d")
#: images.csv: the image-manifest columns plus the study's report id, its truth density and its
#: StudyInstanceUID (what a DICOM scan of the archive reports as ``study_id``).
MANIFEST_COLUMNS: tuple[str, ...] = (*IMAGE_COLUMNS, "report_id", "density", "study_uid")
#: marks.csv, one row per lesion per image; x, y (column, row of the centre) and radius in pixels,
#: conspicuity = the lesion's peak added intensity before the scanner profile.
MARK_COLUMNS: tuple[str, ...] = ("case_id", "lesion_id", "lesion_type", "x", "y", "radius", "malignant", "conspicuity")

#: Peak added intensity (on the [0, 1] tissue scale, before the scanner profile) of each lesion kind in
#: an almost entirely fatty breast. Calcifications are tiny but very bright; distortion and asymmetry
#: are subtle by nature.
LESION_CONTRAST: dict[str, float] = {"mass": 0.28, "calcification": 0.45, "architectural_distortion": 0.16, "asymmetry": 0.12}
#: Masking: the share of that contrast left in each density. Overlapping fibroglandular tissue hides
#: lesions, the reason mammography's sensitivity falls from about 85-90% in fatty to 60% or less in
#: extremely dense breasts (Carney et al., 2003, Ann Intern Med 138:168).
DENSITY_VISIBILITY: dict[str, float] = {"A": 1.0, "B": 0.8, "C": 0.55, "D": 0.35}
#: Share of the breast that is fibroglandular, per density (BI-RADS 4th-edition quartiles as a guide).
GLAND_FRACTION: dict[str, float] = {"A": 0.1, "B": 0.3, "C": 0.56, "D": 0.8}

_FAT, _GLAND, _MUSCLE = 0.18, 0.6, 0.66  # tissue intensities before the scanner profile
_KINDS = MAMMO_KINDS  # mass, calcification, architectural_distortion, asymmetry
_VIEWS: tuple[tuple[str, str], ...] = (("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO"))
_SIDE_WORD = {"L": "left", "R": "right"}
# Seed-sequence tags: every random step has its own stream, so adding one never shifts another.
_T_WOMEN, _T_STUDY, _T_FIELD, _T_EPISODE, _T_NOISE, _T_LESION, _T_POOL, _T_DATE = range(1, 9)

MG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.2"  # Digital Mammography X-Ray Image Storage - For Presentation


@dataclass(frozen=True)
class ScannerProfile:
    """How one scanner make turns tissue (t in [0, 1]) into display values:
    ``background + (1 - background) * contrast * t**gamma``, blurred by ``blur`` (a fraction of the image
    size), plus noise of standard deviation ``noise * (0.5 + t)`` (quantum noise grows with signal)."""

    gamma: float
    contrast: float
    background: float
    noise: float
    blur: float
    bits_stored: int
    photometric: str


#: The makes and their profiles. FUJIFILM stores MONOCHROME1 (high values display dark), as its CR and
#: some DR systems do, so readers must invert it.
SCANNER_PROFILES: dict[str, ScannerProfile] = {
    "HOLOGIC": ScannerProfile(0.85, 1.0, 0.0, 0.010, 0.0, 14, "MONOCHROME2"),
    "GE": ScannerProfile(1.3, 0.95, 0.05, 0.020, 0.0025, 12, "MONOCHROME2"),
    "SIEMENS": ScannerProfile(1.0, 1.12, 0.02, 0.015, 0.0, 12, "MONOCHROME2"),
    "FUJIFILM": ScannerProfile(0.75, 0.88, 0.08, 0.025, 0.002, 10, "MONOCHROME1"),
}
# Makes of every site but the last, in turn; the last site (the one that sends DICOM) runs FUJIFILM and
# GE, so that its files hold both photometric interpretations.
_SITE_MAKES: tuple[tuple[str, ...], ...] = (("HOLOGIC",), ("HOLOGIC", "SIEMENS"), ("SIEMENS",), ("GE", "HOLOGIC"))
_LAST_SITE_MAKES: tuple[str, ...] = ("FUJIFILM", "GE")
_MAKE_WEIGHTS = (0.6, 0.4)  # first and second make of a two-make site
_MODEL_NAMES = {"HOLOGIC": "Selenia Dimensions", "GE": "Senographe Pristina", "SIEMENS": "Mammomat Revelation", "FUJIFILM": "Amulet Innovality"}
_SITE_WEIGHTS = np.array([0.34, 0.26, 0.22, 0.18])


class MammoImageSynthConfig(BaseModel):
    """Settings of :func:`write_synth_mammo_images`. Same config → byte-identical files.

    ``dicom_share``: the last site sends DICOM and its expected share of women is set to this value
    (one site sending DICOM while others export PNG is what multi-site collections look like); with one
    site, this share of its women is stored as DICOM; 0 writes PNG only, 1 DICOM only.
    """

    model_config = ConfigDict(extra="forbid")

    n_women: int = Field(200, description="number of women (1-100000)")
    seed: int = Field(0, description="seed of every random step (>= 0)")
    size: int = Field(128, description="image side in pixels (32-1024); images are square")
    n_sites: int = Field(3, description="number of sites (1-26), named site_A, site_B, ...")
    max_episodes: int = Field(3, description="most screening rounds per woman (1-6); each woman has 1 to this many")
    abnormal_rate: float = Field(0.2, description="share of studies with any finding in either breast (0-1)")
    malignant_share: float = Field(0.25, description="share of abnormal studies holding a malignant (BI-RADS 4/5/6) finding (0-1)")
    dicom_share: float = Field(0.25, description="expected share of women whose images are stored as DICOM (0-1)")
    report_label_noise: float = Field(0.0, description="per-report probability that the report text departs from the truth once (0-1)")

    @model_validator(mode="after")
    def _check(self) -> MammoImageSynthConfig:
        if not 1 <= self.n_women <= 100_000:
            raise ConfigError(f"n_women must be between 1 and 100000, got {self.n_women}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")
        if not 32 <= self.size <= 1024:
            raise ConfigError(f"size must be between 32 and 1024 pixels, got {self.size}")
        if not 1 <= self.n_sites <= 26:
            raise ConfigError(f"n_sites must be between 1 and 26, got {self.n_sites}")
        if not 1 <= self.max_episodes <= 6:
            raise ConfigError(f"max_episodes must be between 1 and 6, got {self.max_episodes}")
        for name in ("abnormal_rate", "malignant_share", "dicom_share", "report_label_noise"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:  # also false for NaN
                raise ConfigError(f"{name} must be between 0 and 1, got {value}")
        return self


# ----------------------------------------------------------------------------------------------------
# Specs: everything an image is rendered from
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lesion:
    """One lesion as drawn in one view. ``x`` (column), ``y`` (row) and ``radius`` are fractions of the
    image side, in the image as written (right breasts already mirrored), so a spec renders the same
    anatomy at any size; ``contrast`` is the peak added intensity (the conspicuity)."""

    lesion_id: str
    kind: str
    x: float
    y: float
    radius: float
    malignant: bool
    contrast: float
    seed: int
    aspect: float = 1.0
    angle: float = 0.0


@dataclass(frozen=True)
class ViewSpec:
    """Everything :func:`render_view` needs for one image; geometry in fractions of the image side, in
    the canonical frame (chest wall at x = 0), mirrored for right breasts when rendered."""

    case_id: str
    size: int
    laterality: str
    view: str
    density: str
    manufacturer: str
    depth: float  # breast depth from the chest wall to the nipple
    half_height: float
    centre: float  # row of the nipple axis at the chest wall
    tilt: float  # radians; MLO breasts point down toward the feet
    pectoral_width: float  # 0 for CC views
    pectoral_height: float
    gland_fraction: float
    field_seed: int  # the breast's own texture, kept across screening rounds
    episode_seed: int  # what changes from one round to the next
    noise_seed: int
    lesions: tuple[Lesion, ...] = ()


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=tuple(int(k) for k in key)))


def _density_of(score: float) -> str:
    # Cut points of a standard normal: about 10/40/40/10% A/B/C/D at age 60.
    return "A" if score < -1.28 else ("B" if score < 0.0 else ("C" if score < 1.28 else "D"))


@dataclass
class _Study:
    woman: int
    episode: int
    patient_id: str
    episode_id: str
    study_id: str
    report_id: str
    site: int
    make: str
    age: int
    density: str
    klass: str  # "normal" | "benign" | "malignant"
    dicom: bool
    date: str
    pool_key: tuple[int, int] = (0, 0)
    malignant_side: str | None = None
    findings: dict[str, list[str]] = field(default_factory=dict)  # side -> finding kinds


def _site_plan(cfg: MammoImageSynthConfig) -> tuple[list[str], list[tuple[str, ...]], np.ndarray, list[bool]]:
    """Site names, their makes, the women's site weights and which sites send DICOM."""
    names = site_names(cfg.n_sites)
    makes = [_SITE_MAKES[i % len(_SITE_MAKES)] for i in range(cfg.n_sites - 1)] + [_LAST_SITE_MAKES]
    base = np.tile(_SITE_WEIGHTS, cfg.n_sites // 4 + 1)[: cfg.n_sites].astype(float)
    base /= base.sum()
    d = cfg.dicom_share
    if cfg.n_sites == 1 or d in (0.0, 1.0):
        weights = base
        dicom_site = [d == 1.0] * cfg.n_sites
    else:
        # The last site's share of women is the DICOM share; the others keep their relative sizes.
        rest = base[:-1] / base[:-1].sum()
        weights = np.append(rest * (1.0 - d), d)
        dicom_site = [False] * (cfg.n_sites - 1) + [True]
    return names, makes, weights, dicom_site


def _plan_studies(cfg: MammoImageSynthConfig) -> list[_Study]:
    names, makes, weights, dicom_site = _site_plan(cfg)
    rng = _rng(cfg.seed, _T_WOMEN)
    width = max(6, len(str(cfg.n_women * cfg.max_episodes * 4)))
    studies: list[_Study] = []
    for w in range(cfg.n_women):
        site = int(rng.choice(cfg.n_sites, p=weights))
        n_ep = 1 + int(rng.integers(cfg.max_episodes))
        age0 = int(rng.integers(50, max(50, 75 - 4 * (n_ep - 1)) + 1))
        # Density falls with age (Checka et al., 2012, AJR 198:W292); the woman's own level persists.
        level = float(rng.normal()) - 0.055 * (age0 - 60)
        dicom = dicom_site[site] if cfg.n_sites > 1 or cfg.dicom_share in (0.0, 1.0) else bool(rng.random() < cfg.dicom_share)
        year0 = 2008 + int(rng.integers(0, 4))
        age = age0
        for e in range(n_ep):
            if e:
                age += int(rng.integers(2, 5))  # screening every 3 years, give or take one
            score = level - 0.04 * (age - age0) + float(rng.normal(0.0, 0.15))
            site_makes = makes[site]
            p = np.array(_MAKE_WEIGHTS[: len(site_makes)]) / sum(_MAKE_WEIGHTS[: len(site_makes)])
            make = site_makes[int(rng.choice(len(site_makes), p=p))]
            u = float(rng.random())
            klass = "normal"
            if u < cfg.abnormal_rate:
                klass = "malignant" if float(rng.random()) < cfg.malignant_share else "benign"
            k = len(studies) + 1
            dr = _rng(cfg.seed, _T_DATE, k)
            date = f"{year0 + age - age0:04d}{1 + int(dr.integers(12)):02d}{1 + int(dr.integers(28)):02d}"
            studies.append(
                _Study(
                    woman=w,
                    episode=e,
                    patient_id=f"W{w + 1:0{width}d}",
                    episode_id=f"E{k:0{width}d}",
                    study_id=f"S{k:0{width}d}",
                    report_id=f"R{k:0{width}d}",
                    site=site,
                    make=make,
                    age=age,
                    density=_density_of(score),
                    klass=klass,
                    dicom=dicom,
                    date=date,
                )
            )
    return studies


# ----------------------------------------------------------------------------------------------------
# Reports: a pool of generated cases, picked to fit each study
# ----------------------------------------------------------------------------------------------------


class _ReportPool:
    """Cases of the report generator, bucketed by (site, density, class); grown in seeded chunks until
    every study has found its case. Only bilateral exams of women whose malignant side (if any) is known
    are eligible, since every study images both breasts.

    Chunks are small and seeded by their index, so a pool is the same whatever the noise level: with
    ``report_label_noise`` the texts change but the truths, hence the images, stay.
    """

    CHUNK = 100

    def __init__(self, cfg: MammoImageSynthConfig, n_studies: int) -> None:
        self.cfg = cfg
        self.max_chunks = max(1000, 10 * n_studies)
        self.cohorts: list[pd.DataFrame] = []
        self.truths: list[pd.DataFrame] = []
        self.buckets: dict[tuple[int, str, str], deque[tuple[int, int, str | None]]] = defaultdict(deque)

    def take(self, site: int, density: str, klass: str) -> tuple[int, int, str | None]:
        key = (site, density, klass)
        while not self.buckets[key]:
            if len(self.cohorts) >= self.max_chunks:
                raise RuntimeError(f"report pool: no eligible case for site {site}, density {density}, class {klass}")
            self._grow()
        return self.buckets[key].popleft()

    def _chunk(self, c: int) -> tuple[Cohort, pd.DataFrame]:
        seed = int(_rng(self.cfg.seed, _T_POOL, c, 0).integers(0, 2**31 - 1))
        cfg = MammoReportSynthConfig(n=self.CHUNK, seed=seed, n_sites=self.cfg.n_sites, label_noise=self.cfg.report_label_noise)
        cohort, truth, _ = synth_mammo_frame(cfg)
        return cohort, truth

    def _grow(self) -> None:
        c = len(self.cohorts)
        cohort, truth = self._chunk(c)
        frame = cohort.frame
        self.cohorts.append(frame)
        self.truths.append(truth)
        site_index = {s: i for i, s in enumerate(site_names(self.cfg.n_sites))}
        pos = {side: truth[[f"{_SIDE_WORD[side]}_{k}" for k in _KINDS]].astype(int).to_numpy() == 1 for side in ("L", "R")}
        birads = truth["birads"].astype(int).to_numpy()
        sites = [site_index[x] for x in frame["site"].astype(str)]
        densities = truth["density"].astype(str).to_numpy()
        usable = (truth["laterality"].astype(str).to_numpy() == "B") & (frame["sex"].astype(str).to_numpy() == "F")
        for flat in np.flatnonzero(usable):
            i = int(flat)
            any_side = [s for s in ("L", "R") if pos[s][i].any()]
            if not any_side:
                klass, mside = "normal", None
            elif birads[i] in (4, 5, 6):
                # The suspicious finding is the only non-calcification one (benign extras are calcifications).
                noncalc = [s for s in ("L", "R") if pos[s][i][[0, 2, 3]].any()]
                if len(any_side) == 1:
                    mside = any_side[0]
                elif len(noncalc) == 1:
                    mside = noncalc[0]
                else:
                    continue
                klass = "malignant"
            else:
                klass, mside = "benign", None
            key = (sites[i], str(densities[i]), klass)
            self.buckets[key].append((c, i, mside))


def _assign_reports(cfg: MammoImageSynthConfig, studies: list[_Study]) -> tuple[Cohort, pd.DataFrame, dict[str, int]]:
    pool = _ReportPool(cfg, len(studies))
    rows, truth_rows = [], []
    names = site_names(cfg.n_sites)
    for st in studies:
        c, i, mside = pool.take(st.site, st.density, st.klass)
        st.pool_key, st.malignant_side = (c, i), mside
        t = pool.truths[c].iloc[i]
        st.findings = {s: [k for k in _KINDS if int(t[f"{_SIDE_WORD[s]}_{k}"]) == 1] for s in ("L", "R")}
        rep = pool.cohorts[c].iloc[i]
        row: dict[str, Any] = {"case_id": st.report_id, "patient_id": st.patient_id, "episode_id": st.episode_id, "study_id": st.study_id, "site": names[st.site]}
        old_age = int(rep["age"])
        for col in ("exam", "indication", "comparison", "findings", "impression", "text"):
            v = rep[col]
            v = None if pd.isna(v) else str(v)
            if v is not None and col in ("indication", "text"):
                # The generator wrote its own age into "NN-year-old female"; the woman's age replaces it.
                v = re.sub(rf"\b{old_age}-year-old", f"{st.age}-year-old", v, flags=re.IGNORECASE)
            row[col] = v
        row["age"] = float(st.age)
        row["sex"] = "F"
        rows.append(row)
        tr = t.to_dict()
        tr["case_id"] = st.report_id
        truth_rows.append(tr)
    frame = pd.DataFrame(rows)
    cohort = Cohort(frame, source=f"synthetic-mammo-images(seed={cfg.seed})")
    truth = normalise_mammo_table(pd.DataFrame(truth_rows), "synthetic image report truth")
    truth[LABEL_SOURCE_COLUMN] = TRUTH_SOURCE
    return cohort, truth, {"chunks": len(pool.cohorts), "cases": len(pool.cohorts) * pool.CHUNK}


# ----------------------------------------------------------------------------------------------------
# Geometry and lesions
# ----------------------------------------------------------------------------------------------------


def _breast_geometry(rng: np.random.Generator) -> dict[str, dict[str, float]]:
    """Per-view geometry of one breast; CC and MLO of one breast share the depth (the nipple distance)."""
    depth = float(rng.uniform(0.55, 0.8))
    return {
        "CC": {"depth": depth, "half_height": float(rng.uniform(0.36, 0.43)), "centre": float(rng.uniform(0.47, 0.53)), "tilt": 0.0, "pectoral_width": 0.0, "pectoral_height": 0.0},
        "MLO": {
            "depth": depth * float(rng.uniform(0.93, 1.0)),
            "half_height": float(rng.uniform(0.42, 0.47)),
            "centre": float(rng.uniform(0.53, 0.58)),
            "tilt": math.radians(float(rng.uniform(6.0, 16.0))),
            "pectoral_width": float(rng.uniform(0.2, 0.32)),
            "pectoral_height": float(rng.uniform(0.4, 0.6)),
        },
    }


def _to_image(geo: dict[str, float], u: float, v: float, laterality: str) -> tuple[float, float]:
    """A point at depth ``u`` (fraction of the breast depth) and offset ``v`` (fraction of the half
    height) in the breast's own frame, as fractions of the image (column, row)."""
    xr, yr = u * geo["depth"], v * geo["half_height"]
    c, s = math.cos(geo["tilt"]), math.sin(geo["tilt"])
    x, y = xr * c - yr * s, geo["centre"] + xr * s + yr * c
    return (1.0 - x if laterality == "R" else x), y


def _in_pectoral(geo: dict[str, float], x: float, y: float, margin: float) -> bool:
    pw, ph = geo["pectoral_width"], geo["pectoral_height"]
    return pw > 0 and y < ph + margin and x < pw * (1.0 - y / ph) + margin


def _draw_lesions(rng: np.random.Generator, st: _Study, side: str, geo: dict[str, dict[str, float]], seed_base: int) -> dict[str, list[Lesion]]:
    """The lesions of one breast in both views, at the same depth from the chest wall."""
    out: dict[str, list[Lesion]] = {"CC": [], "MLO": []}
    malignant = st.malignant_side == side
    vis = DENSITY_VISIBILITY[st.density]
    for j, kind in enumerate(st.findings.get(side, [])):
        radius = {
            "mass": rng.uniform(0.025, 0.05),
            "calcification": rng.uniform(0.018, 0.03) if malignant else rng.uniform(0.025, 0.045),
            "architectural_distortion": rng.uniform(0.04, 0.065),
            "asymmetry": rng.uniform(0.06, 0.09),
        }[kind]
        contrast = LESION_CONTRAST[kind] * vis * float(rng.uniform(0.85, 1.15))
        aspect, angle = float(rng.uniform(0.65, 1.0)), float(rng.uniform(0, math.pi))
        rng.integers(0, 2**31 - 1)  # a draw once used for a per-lesion seed: kept so that every later draw is unchanged
        u = float(rng.uniform(0.25, 0.72))
        for view in ("CC", "MLO"):
            g = geo[view]
            for _ in range(50):
                v = float(rng.uniform(-0.55, 0.55))
                x, y = _to_image(g, u, v, "L")
                if u * u + v * v < 0.62 and not _in_pectoral(g, x, y, radius * 1.5):
                    break
            else:  # pragma: no cover - the nipple axis is always inside and clear of the muscle
                x, y = _to_image(g, u, 0.0, "L")
            if side == "R":
                x = 1.0 - x
            out[view].append(
                Lesion(
                    lesion_id=f"{st.study_id}-{side}-{j + 1}",
                    kind=kind,
                    x=x,
                    y=y,
                    radius=float(radius),
                    malignant=malignant,
                    contrast=contrast,
                    seed=seed_base + 7919 * j + (0 if view == "CC" else 1),
                    aspect=aspect,
                    angle=angle,
                )
            )
    return out


def _specs(cfg: MammoImageSynthConfig, studies: list[_Study], width: int) -> list[ViewSpec]:
    specs: list[ViewSpec] = []
    geos: dict[int, dict[str, dict[str, dict[str, float]]]] = {}
    k = 0
    for st in studies:
        if st.woman not in geos:
            g_rng = _rng(cfg.seed, _T_FIELD, st.woman)
            geos[st.woman] = {side: _breast_geometry(g_rng) for side in ("L", "R")}
        l_rng = _rng(cfg.seed, _T_LESION, int(st.study_id[1:]))
        lesions = {side: _draw_lesions(l_rng, st, side, geos[st.woman][side], int(l_rng.integers(0, 2**31 - 1))) for side in ("L", "R")}
        e_rng = _rng(cfg.seed, _T_EPISODE, int(st.study_id[1:]))
        for side, view in _VIEWS:
            k += 1
            geo = dict(geos[st.woman][side][view])
            # Compression differs a little from one round to the next.
            geo["depth"] *= float(e_rng.uniform(0.97, 1.03))
            geo["half_height"] *= float(e_rng.uniform(0.97, 1.03))
            specs.append(
                ViewSpec(
                    case_id=f"I{k:0{width}d}",
                    size=cfg.size,
                    laterality=side,
                    view=view,
                    density=st.density,
                    manufacturer=st.make,
                    gland_fraction=float(np.clip(GLAND_FRACTION[st.density] + e_rng.uniform(-0.05, 0.05), 0.03, 0.95)),
                    field_seed=int(np.random.SeedSequence(cfg.seed, spawn_key=(_T_FIELD, st.woman, 1 + "LR".index(side), 1 + ("CC", "MLO").index(view))).generate_state(1)[0]),
                    episode_seed=int(e_rng.integers(0, 2**31 - 1)),
                    noise_seed=int(np.random.SeedSequence(cfg.seed, spawn_key=(_T_NOISE, k)).generate_state(1)[0]),
                    lesions=tuple(lesions[side][view]),
                    **geo,
                )
            )
    return specs


# ----------------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _upsampler(grid: int, size: int) -> np.ndarray:
    """The (size, grid) matrix of cubic-spline upsampling along one axis (periodic). Spline zooming is
    separable and linear, so ``A f A^T`` equals ``ndimage.zoom(f)`` at a fraction of its cost."""
    a = ndimage.zoom(np.eye(grid), (size / grid, 1.0), order=3, mode="grid-wrap", grid_mode=True)
    a = a[:size]
    a.setflags(write=False)
    return a


def _field(seed: int, grid: int, sigma: float, size: int) -> np.ndarray:
    """Smooth unit-variance noise drawn on a fixed grid and resized: the pattern depends on the seed
    only, not on the image size, and a 1024-pixel image costs a resize, not a huge filter."""
    f = ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal((grid, grid)), sigma, mode="wrap")
    f = (f - f.mean()) / (f.std() + 1e-12)
    a = _upsampler(grid, size)
    # einsum's own loops, not BLAS: no thread pool to fight over when other processes load the CPUs,
    # and the same bits on every machine (BLAS kernels may sum in a different order).
    return np.einsum("ik,jk->ij", np.einsum("ij,jk->ik", a, f), a)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _tissue(spec: ViewSpec) -> np.ndarray:
    """The breast without lesions, canonical orientation (chest wall at the left edge)."""
    s = spec.size
    coords = (np.arange(s, dtype=np.float64) + 0.5) / s
    X, Y = coords[None, :], coords[:, None]
    c, si = math.cos(spec.tilt), math.sin(spec.tilt)
    xr = X * c + (Y - spec.centre) * si
    yr = -X * si + (Y - spec.centre) * c
    rho2 = (np.maximum(xr, 0.0) / spec.depth) ** 2 + (yr / spec.half_height) ** 2
    inside = rho2 < 1.0
    # A compressed breast thins toward the skin line, so intensity falls off there.
    thickness = np.clip(1.0 - rho2, 0.0, 1.0) ** 0.3
    base = _field(spec.field_seed, 32, 2.2, s)
    episode = _field(spec.episode_seed, 32, 2.2, s)
    coarse = (0.92 * base + 0.35 * episode) / math.hypot(0.92, 0.35)
    medium = _field(spec.field_seed ^ 0x5BD1E995, 64, 1.3, s)
    # Glandular tissue gathers behind the nipple, fat under the skin: pull the score toward the centre.
    score = 0.8 * coarse + 0.45 * medium + 1.3 * (1.0 - np.sqrt(np.minimum(rho2, 1.0)))
    if inside.any():
        thr = float(np.quantile(score[inside], 1.0 - spec.gland_fraction))
    else:  # pragma: no cover - the breast always covers part of the image
        thr = 0.0
    # A soft threshold: fibroglandular tissue fades into fat rather than ending at a sharp contour.
    gland = _sigmoid((score - thr) / 0.25)
    t = (_FAT + (_GLAND - _FAT) * gland + 0.05 * medium * (0.3 + 0.7 * gland)) * thickness
    if spec.pectoral_width > 0:
        edge = spec.pectoral_width * (1.0 - Y / spec.pectoral_height)
        pect = np.clip((edge - X) * s / 1.5, 0.0, 1.0) * (Y < spec.pectoral_height)
        muscle = _MUSCLE + 0.08 * (1.0 - Y / spec.pectoral_height) + 0.015 * medium
        t = t * (1.0 - pect) + muscle * pect
    return np.clip(t, 0.0, 1.0)


def _lesion_pattern(les: Lesion, s: int) -> tuple[slice, slice, np.ndarray]:
    """The lesion's shape (peak about 1) on a patch around it, and where the patch goes."""
    cx, cy, r = les.x * s, les.y * s, max(les.radius * s, 1.0)
    reach = 3.0 * r + 2.0
    x0, x1 = max(0, int(cx - reach)), min(s, int(cx + reach) + 1)
    y0, y1 = max(0, int(cy - reach)), min(s, int(cy + reach) + 1)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64) + 0.5
    dx, dy = xs - cx, ys - cy
    d = np.hypot(dx, dy)
    theta = np.arctan2(dy, dx)
    rng = np.random.default_rng(les.seed)
    out = np.zeros_like(d)

    def spicules(n: int, lo: float, hi: float, start: float, amp: float) -> np.ndarray:
        acc = np.zeros_like(d)
        w = max(0.5, 0.07 * r)
        for a, length in zip(rng.uniform(0, 2 * math.pi, n), rng.uniform(lo, hi, n) * r, strict=True):
            along = dx * math.cos(a) + dy * math.sin(a)
            perp = -dx * math.sin(a) + dy * math.cos(a)
            on = (along > start * r) & (along < length)
            acc = np.maximum(acc, amp * np.exp(-((perp / w) ** 2)) * on * (1.0 - along / length))
        return acc

    if les.kind == "mass":
        ca, sa = math.cos(les.angle), math.sin(les.angle)
        u, v = dx * ca + dy * sa, -dx * sa + dy * ca
        rho = np.hypot(u / r, v / (r * les.aspect))
        if les.malignant:
            # Irregular margin and spicules: the signs of an invasive carcinoma.
            wobble = 1.0 + sum(0.12 * np.cos(k * theta + rng.uniform(0, 2 * math.pi)) for k in range(3, 8))
            rho = rho / wobble
            out = _sigmoid((1.0 - rho) / 0.08) * (1.0 - 0.25 * np.minimum(rho, 1.0) ** 2)
            out = np.maximum(out, spicules(int(rng.integers(7, 13)), 1.6, 2.8, 0.6, 0.55))
        else:
            out = _sigmoid((1.0 - rho) / 0.12) * (1.0 - 0.25 * np.minimum(rho, 1.0) ** 2)
    elif les.kind == "calcification":
        n = int(rng.integers(8, 16)) if les.malignant else int(rng.integers(3, 8))
        sigma0 = max(0.55, 0.0035 * s)
        rad = r * np.sqrt(rng.random(n))
        ang = rng.uniform(0, 2 * math.pi, n)
        scale = rng.uniform(0.6, 1.4, n) if les.malignant else rng.uniform(1.0, 1.6, n)
        for rr, aa, sc in zip(rad, ang, scale, strict=True):
            px, py = cx + rr * math.cos(aa), cy + rr * math.sin(aa)
            if sigma0 * sc < 1.0:
                # Sub-pixel specks land on a pixel centre, so that every speck is sampled at its peak.
                px, py = math.floor(px) + 0.5, math.floor(py) + 0.5
            out = np.maximum(out, np.exp(-(((xs - px) ** 2 + (ys - py) ** 2) / (2 * (sigma0 * sc) ** 2))))
    elif les.kind == "architectural_distortion":
        out = np.maximum(spicules(int(rng.integers(8, 15)), 0.7, 1.1, 0.05, 1.0), 0.3 * np.exp(-((d / (0.3 * r)) ** 2)))
    else:  # asymmetry: a faint, ill-defined density
        lobes = 1.0 + 0.25 * np.cos(3 * theta + rng.uniform(0, 2 * math.pi))
        out = np.exp(-0.5 * (d / (0.55 * r * lobes)) ** 2)
    return slice(y0, y1), slice(x0, x1), out


def render_view(spec: ViewSpec, lesions: bool = True, scanner: bool = True) -> np.ndarray:
    """One image as float32 ``(size, size)`` in [0, 1], bright = dense, exactly as it was written
    (before 8-bit or DICOM quantisation). ``lesions=False`` draws the same breast without its lesions
    and ``scanner=False`` stops before the make's intensity profile, so a test can measure what a lesion
    or a make does to the pixels."""
    t = _tissue(spec)
    if spec.laterality == "R":
        t = t[:, ::-1]
    if lesions:
        for les in spec.lesions:
            ys, xs, pat = _lesion_pattern(les, spec.size)
            t[ys, xs] += les.contrast * pat
    t = np.clip(t, 0.0, 1.0)
    if not scanner:
        return t.astype(np.float32)
    p = SCANNER_PROFILES[spec.manufacturer]
    y = p.background + (1.0 - p.background) * np.clip(p.contrast * t**p.gamma, 0.0, 1.0)
    if p.blur * spec.size >= 0.3:
        y = ndimage.gaussian_filter(y, p.blur * spec.size, mode="nearest")
    y = y + p.noise * (0.5 + t) * np.random.default_rng(spec.noise_seed).standard_normal(t.shape)
    return np.clip(y, 0.0, 1.0).astype(np.float32)


# ----------------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------------


def _uid(config_key: str, *parts: str) -> str:
    """A UUID-derived UID (``2.25.<128-bit integer>``, PS3.5 B.2) hashed from the config and the object:
    the same run gives the same UIDs, another config other ones."""
    digest = hashlib.sha256("\0".join((GENERATOR_VERSION, config_key, *parts)).encode("utf-8")).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"


def _write_png(img: np.ndarray, path: Path) -> None:
    from PIL import Image

    arr = np.round(img * 255.0).astype(np.uint8)
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")


def _write_dicom(img: np.ndarray, path: Path, spec: ViewSpec, st: _Study, site: str, study_uid: str, config_key: str) -> None:
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import UID, ExplicitVRLittleEndian

    prof = SCANNER_PROFILES[spec.manufacturer]
    top = 2**prof.bits_stored - 1
    stored = img if prof.photometric == "MONOCHROME2" else 1.0 - img  # MONOCHROME1: high = dark
    pixels = np.round(stored * top).astype(np.uint16)
    sop_uid = _uid(config_key, "image", spec.case_id)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(MG_SOP_CLASS)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = MG_SOP_CLASS
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = _uid(config_key, "series", st.study_id)
    ds.StudyID = st.study_id
    ds.AccessionNumber = st.report_id
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = st.date
    ds.Modality = "MG"
    ds.PatientID = st.patient_id
    ds.PatientName = st.patient_id
    ds.PatientSex = "F"
    ds.PatientAge = f"{st.age:03d}Y"
    ds.Manufacturer = spec.manufacturer
    ds.ManufacturerModelName = _MODEL_NAMES[spec.manufacturer]
    ds.InstitutionName = site
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImageLaterality = spec.laterality
    ds.ViewPosition = spec.view
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator = ("399162004", "SCT") if spec.view == "CC" else ("399368009", "SCT")
    code.CodeMeaning = "cranio-caudal" if spec.view == "CC" else "medio-lateral oblique"
    ds.ViewCodeSequence = Sequence([code])
    # Row direction, column direction (PS3.3 C.8.11.7): nipple-ward is anterior; CC columns run toward
    # the medial side, MLO columns toward the feet and the medial side.
    row_dir = "A" if spec.laterality == "L" else "P"
    medial = "R" if spec.laterality == "L" else "L"
    ds.PatientOrientation = [row_dir, medial if spec.view == "CC" else f"F{medial}"]
    ds.BurnedInAnnotation = "NO"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = prof.photometric
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, prof.bits_stored, prof.bits_stored - 1
    ds.PixelRepresentation = 0
    spacing = f"{240.0 / spec.size:.6g}"  # a 24 cm detector
    ds.PixelSpacing = ds.ImagerPixelSpacing = [spacing, spacing]
    # The full stored range as the window, so the display values are the rendered ones.
    ds.WindowCenter = 2 ** (prof.bits_stored - 1)
    ds.WindowWidth = 2**prof.bits_stored
    ds.VOILUTFunction = "LINEAR"
    ds.PixelData = pixels.tobytes()
    with atomic_path(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)


@dataclass
class SynthMammoImages:
    """What :func:`write_synth_mammo_images` wrote, in memory as well.

    * ``manifest``: images.csv with absolute ``image_path`` (one row per view image).
    * ``truth``: the image LabelTable (:data:`IMAGE_TRUTH_FINDINGS`, source ``synthetic-truth``).
    * ``reports``: the report Cohort (one row per study); ``report_truth`` its mammo label table.
    * ``marks``: one row per lesion per image (:data:`MARK_COLUMNS`).
    * ``specs``: case_id → :class:`ViewSpec`, to re-render any image (with or without lesions).
    * ``paths``: name → file written (``images_csv``, ``images_truth``, ``reports``, ``reports_truth``,
      ``marks``, ``meta``, ``images_dir``).
    """

    out_dir: Path
    manifest: pd.DataFrame
    truth: LabelTable
    reports: Cohort
    report_truth: pd.DataFrame
    marks: pd.DataFrame
    meta: dict[str, Any]
    specs: dict[str, ViewSpec]
    paths: dict[str, Path]


def write_synth_mammo_images(config: MammoImageSynthConfig | None, out_dir: str | Path) -> SynthMammoImages:
    """Generate the archive into ``out_dir`` and return it in memory too.

    Writes ``images/<case_id>.png|.dcm``, ``images.csv`` (:data:`MANIFEST_COLUMNS`, ``image_path``
    relative to the folder of images.csv), ``images_truth.csv``, ``reports.csv`` (a Cohort: report id as
    case_id, patient_id, episode_id, study_id, site, the report sections, age, sex), ``reports_truth.csv``
    (the mammo label table, case_id = report id), ``marks.csv`` and ``meta.json``. Image files of an
    earlier run in ``images/`` that this run did not write are removed, so that a scan of the folder
    finds this archive only. Tables are written after the images and meta.json last: a run that stops
    half-way leaves no table naming a missing image.
    """
    cfg = config if config is not None else MammoImageSynthConfig()
    out = Path(out_dir)
    images_dir = out / "images"
    for folder in (out, images_dir):
        if folder.exists() and not folder.is_dir():
            raise InputError(f"{folder}: is a file, expected a folder for the synthetic archive")
    images_dir.mkdir(parents=True, exist_ok=True)
    config_key = json.dumps(cfg.model_dump(mode="json"), sort_keys=True)

    studies = _plan_studies(cfg)
    reports, report_truth, pool_stats = _assign_reports(cfg, studies)
    width = max(6, len(str(4 * len(studies))))
    specs = _specs(cfg, studies, width)
    names, makes, _, _ = _site_plan(cfg)

    rows, truth_rows, mark_rows = [], [], []
    written: set[str] = set()
    study_uids: dict[str, str] = {}
    for k, spec in enumerate(specs):
        st = studies[k // 4]
        uid = study_uids.setdefault(st.study_id, _uid(config_key, "study", st.study_id))
        img = render_view(spec)
        fname = f"{spec.case_id}.{'dcm' if st.dicom else 'png'}"
        path = images_dir / fname
        if st.dicom:
            _write_dicom(img, path, spec, st, names[st.site], uid, config_key)
        else:
            _write_png(img, path)
        written.add(fname)
        rows.append(
            {
                "case_id": spec.case_id,
                "patient_id": st.patient_id,
                "episode_id": st.episode_id,
                "study_id": st.study_id,
                "site": names[st.site],
                "manufacturer": spec.manufacturer,
                "laterality": spec.laterality,
                "view": spec.view,
                "age": float(st.age),
                "image_path": f"images/{fname}",
                "report_id": st.report_id,
                "density": st.density,
                "study_uid": uid,
            }
        )
        abnormal = bool(st.findings.get(spec.laterality))
        malignant = float(st.malignant_side == spec.laterality) if abnormal else math.nan
        truth_rows.append([float(abnormal), malignant, *(float(st.density == d) for d in DENSITIES)])
        for les in spec.lesions:
            mark_rows.append(
                {
                    "case_id": spec.case_id,
                    "lesion_id": les.lesion_id,
                    "lesion_type": les.kind,
                    "x": les.x * spec.size,
                    "y": les.y * spec.size,
                    "radius": les.radius * spec.size,
                    "malignant": int(les.malignant),
                    "conspicuity": les.contrast,
                }
            )
    for stale in images_dir.iterdir():
        if re.fullmatch(r"I\d+\.(png|dcm)", stale.name) and stale.name not in written and stale.is_file():
            stale.unlink()

    manifest_rel = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    truth_frame = pd.DataFrame(truth_rows, columns=list(IMAGE_TRUTH_FINDINGS))
    truth_frame.insert(0, "case_id", manifest_rel["case_id"].to_numpy())
    truth_frame[LABEL_SOURCE_COLUMN] = TRUTH_SOURCE
    truth = LabelTable(truth_frame, list(IMAGE_TRUTH_FINDINGS), TRUTH_SOURCE)
    marks = pd.DataFrame(mark_rows, columns=list(MARK_COLUMNS))
    for col in ("x", "y", "radius", "conspicuity"):
        marks[col] = marks[col].astype(float)

    paths = {
        "images_dir": images_dir,
        "images_csv": out / "images.csv",
        "images_truth": out / "images_truth.csv",
        "reports": out / "reports.csv",
        "reports_truth": out / "reports_truth.csv",
        "marks": out / "marks.csv",
        "meta": out / "meta.json",
    }
    write_table(manifest_rel, paths["images_csv"])
    write_table(truth.frame, paths["images_truth"])
    write_table(reports.frame, paths["reports"])
    write_table(report_truth, paths["reports_truth"])
    write_table(marks, paths["marks"])
    meta = _meta(cfg, studies, manifest_rel, truth_frame, report_truth, marks, names, makes)
    meta["report_pool"] = pool_stats
    write_json(meta, paths["meta"])

    manifest = manifest_rel.copy()
    manifest["image_path"] = [str((out / p).resolve()) for p in manifest_rel["image_path"]]
    return SynthMammoImages(
        out_dir=out,
        manifest=manifest,
        truth=truth,
        reports=reports,
        report_truth=report_truth,
        marks=marks,
        meta=meta,
        specs={s.case_id: s for s in specs},
        paths=paths,
    )


def _counts(col: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in col.value_counts().sort_index().items()}


def _meta(
    cfg: MammoImageSynthConfig,
    studies: list[_Study],
    manifest: pd.DataFrame,
    truth: pd.DataFrame,
    report_truth: pd.DataFrame,
    marks: pd.DataFrame,
    names: list[str],
    makes: list[tuple[str, ...]],
) -> dict[str, Any]:
    st = pd.DataFrame({"site": [names[s.site] for s in studies], "density": [s.density for s in studies], "klass": [s.klass for s in studies], "dicom": [s.dicom for s in studies]})
    abnormal = truth["abnormal"] == 1
    is_dicom = manifest["image_path"].str.endswith(".dcm")
    return {
        "generator": GENERATOR_VERSION,
        "config": cfg.model_dump(mode="json"),
        "orientation": "right breasts: chest wall on the right image edge; left breasts: on the left edge (back-to-back hanging)",
        "malignancy_rule": "malignant = the breast holding the suspicious finding of a BI-RADS 4/5/6 study; other abnormal breasts 0 (BI-RADS 0/2/3 taken as benign); empty for normal breasts",
        "density_column": "truth density (A-D) of the study, copied to its four views",
        "counts": {
            "women": int(manifest["patient_id"].nunique()),
            "episodes": int(manifest["episode_id"].nunique()),
            "studies": len(studies),
            "images": len(manifest),
            "lesion_marks": len(marks),
            "studies_per_woman": _counts(manifest.groupby("patient_id")["study_id"].nunique()),
            "images_per_site": _counts(manifest["site"]),
            "images_per_manufacturer": _counts(manifest["manufacturer"]),
            "images_per_site_manufacturer": {f"{a}/{b}": int(v) for (a, b), v in manifest.groupby(["site", "manufacturer"]).size().items()},
            "studies_per_density": _counts(st["density"]),
            "studies_per_class": _counts(st["klass"]),
            "report_birads": _counts(report_truth["birads"].astype(int)),
        },
        "sites": {n: list(m) for n, m in zip(names, makes, strict=True)},
        "prevalence": {
            "studies_abnormal": round(float((st["klass"] != "normal").mean()), 4),
            "studies_malignant": round(float((st["klass"] == "malignant").mean()), 4),
            "images_abnormal": round(float(abnormal.mean()), 4),
            "images_malignant": round(float((truth["malignant"] == 1).mean()), 4),
            "malignant_among_abnormal_images": round(float((truth.loc[abnormal, "malignant"] == 1).mean()), 4) if abnormal.any() else None,
            "images_abnormal_per_density": {d: round(float(abnormal[manifest["density"] == d].mean()), 4) for d in DENSITIES if (manifest["density"] == d).any()},
            "report_findings": {f: round(float((report_truth[f] == 1).mean()), 4) for f in MAMMO_FINDINGS},
        },
        "lesion_contrast": {kind: {d: round(c * v, 4) for d, v in DENSITY_VISIBILITY.items()} for kind, c in LESION_CONTRAST.items()},
        "lesion_contrast_jitter": [0.85, 1.15],
        "gland_fraction": GLAND_FRACTION,
        "scanner_profiles": {
            m: {"gamma": p.gamma, "contrast": p.contrast, "background": p.background, "noise": p.noise, "blur": p.blur, "bits_stored": p.bits_stored, "photometric": p.photometric}
            for m, p in SCANNER_PROFILES.items()
        },
        "dicom": {
            "sites": sorted({names[s.site] for s in studies if s.dicom}),
            "images": int(is_dicom.sum()),
            "share_of_images": round(float(is_dicom.mean()), 4),
            "photometric": _counts(manifest.loc[is_dicom, "manufacturer"].map(lambda m: SCANNER_PROFILES[m].photometric)) if is_dicom.any() else {},
        },
    }
