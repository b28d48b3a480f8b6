"""Synthetic screening and diagnostic mammography reports with a hidden truth: a seeded test bed for the
mammography labeler.

Every exam gets its truth first (exam type, laterality, breast composition, BI-RADS assessment and the
findings per breast that the assessment implies); the report is then *written* from that truth in the
style of its site: 5th-edition density wording, letters or 4th-edition numbers; BI-RADS in many forms
("BI-RADS 2: Benign", "BIRADS category 4", "ASSESSMENT: Negative (BI-RADS 1)", "Bi-Rads 0 - incomplete,
needs additional imaging", 4A/4B/4C); per-breast paragraphs or one narrative; clock-face positions,
quadrants, depths and sizes; negation lists; benign descriptors; comparison with priors ("stable",
"new", "has resolved"); prior surgery; typos; and indication/history/comparison sections that name
findings which are not present now.

    cohort, truth = synth_mammo_reports(MammoReportSynthConfig(n=2000, seed=0))
    write_synth_mammo_reports(MammoReportSynthConfig(n=2000), Path("demo/mammo.csv"))

Cohort columns: case_id, patient_id, study_id, site, exam (the exam description; empty at sites that
state it in the text), indication, comparison, findings, impression, text (a whole report with its own
section headers, at the site that sends one), age, sex. The truth is a separate mammo label table (see
:mod:`radtrust.labeling.mammo`): case_id, birads (0-6), density (A-D), laterality (L/R/B) and the eight
per-breast 0/1 finding columns, with ``label_source`` = ``synthetic-truth``.

Truth rules (BI-RADS Atlas, 5th ed., D'Orsi et al., 2013): 1 - no finding; 2 - at least one benign
finding; 3 - one probably benign finding; 0 - a finding that needs work-up; 4/5 - a suspicious finding;
6 - the known cancer's finding. Breasts that were not imaged have no findings. No real report text is
copied.
"""

from __future__ import annotations

import gc
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from radtrust.data.io import write_json, write_table
from radtrust.data.schema import LABEL_SOURCE_COLUMN, Cohort
from radtrust.errors import ConfigError, InputError
from radtrust.labeling.mammo import DENSITIES, MAMMO_FINDINGS, MAMMO_KINDS, normalise_mammo_table
from radtrust.synth.chest import ReportWriter, site_names

__all__ = [
    "MammoReportSynthConfig",
    "TRUTH_SOURCE",
    "synth_mammo_reports",
    "write_synth_mammo_reports",
]

GENERATOR_VERSION = "radtrust-mammo-synth/1"
TRUTH_SOURCE = "synthetic-truth"

MASS, CALC, AD, ASYM = range(4)
_SIDE_WORD = ("left", "right")
_L, _R = 0, 1


class MammoReportSynthConfig(BaseModel):
    """Settings of :func:`synth_mammo_reports`. Same config (and seed) → identical output.

    * ``n`` reports, one per patient; ``n_sites`` sites (1-26, ``site_A`` ...), each with its own
      reporting style (sites past the fourth reuse the four styles in turn).
    * ``typo_scale`` multiplies every site's per-sentence typo rate (0 = no typos).
    * ``label_noise``: per report, with this probability the *text* departs from the truth once: one
      truth-positive finding is left out of the report, or (when there is none, or on a coin flip) a
      benign-looking finding that is not there is written into it. The truth is unchanged; the meta
      file counts both kinds of event.
    """

    model_config = ConfigDict(extra="forbid")

    n: int = Field(1000, description="number of reports")
    seed: int = Field(0, description="seed of every random step")
    n_sites: int = Field(4, description="number of sites (1-26), named site_A, site_B, ...")
    typo_scale: float = Field(1.0, description="multiplies every site's typo rate (0 = no typos)")
    label_noise: float = Field(0.0, description="per-report probability that the text departs from the truth once")

    @model_validator(mode="after")
    def _check(self) -> MammoReportSynthConfig:
        if self.n < 1:
            raise ConfigError(f"n must be at least 1, got {self.n}")
        if not 1 <= self.n_sites <= 26:
            raise ConfigError(f"n_sites must be between 1 and 26, got {self.n_sites}")
        if not self.typo_scale >= 0.0:
            raise ConfigError(f"typo_scale must be >= 0, got {self.typo_scale}")
        if not 0.0 <= self.label_noise <= 1.0:
            raise ConfigError(f"label_noise must be between 0 and 1, got {self.label_noise}")
        return self


# ----------------------------------------------------------------------------------------------------
# Site styles
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Style:
    kind: str  # "academic" | "community" | "structured" | "legacy"
    exam_column: float  # share of reports whose exam description is a column (else stated in the text)
    per_breast: float  # share of bilateral reports written as RIGHT BREAST: / LEFT BREAST: paragraphs
    density_words: float  # 5th-edition wording
    density_letter: float  # letter a-d
    density_number: float  # 4th-edition number 1-4
    birads_words_only: float  # assessment given by name only
    abbrev: float
    upper: float
    typo: float  # per sentence
    indication: float
    comparison: float
    screening: float  # share of screening exams


_STYLES: tuple[_Style, ...] = (
    _Style("academic", 1.0, 0.45, 0.9, 0.3, 0.0, 0.02, 0.0, 0.0, 0.004, 0.9, 0.85, 0.65),
    _Style("community", 0.9, 0.25, 0.4, 0.75, 0.05, 0.03, 0.6, 0.35, 0.02, 0.7, 0.6, 0.75),
    _Style("structured", 0.0, 0.3, 0.8, 0.6, 0.0, 0.05, 0.1, 0.0, 0.008, 0.95, 0.9, 0.7),
    _Style("legacy", 0.5, 0.5, 0.6, 0.0, 0.6, 0.08, 0.2, 0.15, 0.012, 0.6, 0.7, 0.6),
)
_SITE_WEIGHTS = np.array([0.34, 0.26, 0.22, 0.18])

# ----------------------------------------------------------------------------------------------------
# Phrase catalogue
# ----------------------------------------------------------------------------------------------------

_BIRADS_NAMES = {
    0: ("Incomplete - need additional imaging evaluation", "Incomplete", "Needs additional imaging evaluation"),
    1: ("Negative",),
    2: ("Benign", "Benign findings"),
    3: ("Probably benign",),
    4: ("Suspicious", "Suspicious abnormality"),
    5: ("Highly suggestive of malignancy",),
    6: ("Known biopsy-proven malignancy",),
}
_SUB4 = {"A": "Low suspicion for malignancy", "B": "Moderate suspicion for malignancy", "C": "High suspicion for malignancy"}

_DENSITY_SENT = {
    "A": (
        "The breasts are almost entirely fatty.",
        "The breast tissue is almost entirely fatty.",
        "The breasts are predominantly fatty.",
    ),
    "B": (
        "There are scattered areas of fibroglandular density.",
        "Scattered fibroglandular densities are present.",
        "The breast tissue shows scattered areas of fibroglandular density.",
    ),
    "C": (
        "The breasts are heterogeneously dense, which may obscure small masses.",
        "The breast tissue is heterogeneously dense, which could obscure detection of small masses.",
        "Heterogeneously dense breast tissue.",
    ),
    "D": (
        "The breasts are extremely dense, which lowers the sensitivity of mammography.",
        "The breast tissue is extremely dense, which lowers the sensitivity of mammography.",
        "Extremely dense breast tissue, which may obscure small masses.",
    ),
}
_DENSITY_SHORT = {
    "A": "almost entirely fatty",
    "B": "scattered areas of fibroglandular density",
    "C": "heterogeneously dense",
    "D": "extremely dense",
}

_DEPTHS = ("anterior depth", "middle depth", "posterior depth", "mid depth", "anterior third", "posterior third")
_BENIGN_EXTRA = (
    "A benign-appearing intramammary lymph node is noted in the {side} breast.",
    "Skin markers are in place.",
    "Bilateral axillary lymph nodes are normal in appearance.",
    "A biopsy clip is present in the {side} breast at the site of a prior benign biopsy.",
    "Normal-appearing axillary lymph nodes.",
)


@dataclass
class _Find:
    side: int
    kind: int
    cat: str  # "benign", "pb", "workup", "susp", "high", "known", "postsurg"
    clock: str | None = None
    quad: str | None = None
    depth: str | None = None
    size: int | None = None
    dist: int | None = None
    change: str = ""  # "", "stable", "new"
    year: int = 2020
    assoc_calc: bool = False
    bilateral: bool = False
    desc: str = ""
    extras: dict[str, Any] = field(default_factory=dict)


def _quadrant(side: int, hour: int) -> str | None:
    if hour in (12, 3, 6, 9):
        return None
    upper = hour in (10, 11, 1, 2)
    # Outer is toward 3 o'clock in the left breast and toward 9 o'clock in the right one.
    outer = hour in (1, 2, 4, 5) if side == _L else hour in (7, 8, 10, 11)
    return f"{'upper' if upper else 'lower'} {'outer' if outer else 'inner'} quadrant"


# ----------------------------------------------------------------------------------------------------
# Generation
# ----------------------------------------------------------------------------------------------------


def synth_mammo_reports(config: MammoReportSynthConfig | None = None) -> tuple[Cohort, pd.DataFrame]:
    """A synthetic mammography report cohort and its hidden truth (a mammo label table)."""
    cohort, truth, _ = synth_mammo_frame(config if config is not None else MammoReportSynthConfig())
    return cohort, truth


def synth_mammo_frame(cfg: MammoReportSynthConfig) -> tuple[Cohort, pd.DataFrame, dict[str, Any]]:
    ss = np.random.SeedSequence(cfg.seed)
    r_demo, r_truth, r_noise, r_text = (np.random.default_rng(s) for s in ss.spawn(4))
    n = cfg.n
    sites = site_names(cfg.n_sites)
    styles = [_STYLES[i % 4] for i in range(cfg.n_sites)]
    w = _SITE_WEIGHTS[: cfg.n_sites] if cfg.n_sites <= 4 else np.tile(_SITE_WEIGHTS, cfg.n_sites // 4 + 1)[: cfg.n_sites]
    site = r_demo.choice(cfg.n_sites, size=n, p=w / w.sum())
    age = np.clip(np.round(r_demo.normal(58, 11, size=n)), 30, 90).astype(int)
    sex = np.where(r_demo.random(n) < 0.005, "M", "F")

    R = random.Random(int(r_truth.integers(0, 2**63 - 1)))
    cases = [_draw_case(styles[site[k]], int(age[k]), R) for k in range(n)]
    n_omit = n_commit = 0
    if cfg.label_noise > 0:
        RN = random.Random(int(r_noise.integers(0, 2**63 - 1)))
        for case in cases:
            if RN.random() < cfg.label_noise:
                o, c_ = _noise(case, RN)
                n_omit += o
                n_commit += c_

    Rt = random.Random(int(r_text.integers(0, 2**63 - 1)))
    W = ReportWriter(Rt, cfg.typo_scale)  # the chest generator's typo injection
    cols: dict[str, list] = {k: [] for k in ("exam", "indication", "comparison", "findings", "impression", "text")}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for k, case in enumerate(cases):
            rep = _write(case, styles[site[k]], W, Rt)
            for key in cols:
                cols[key].append(rep.get(key))
    finally:
        if gc_was_enabled:
            gc.enable()

    perm = r_demo.permutation(n)
    width = max(6, len(str(n)))
    case_ids = np.array([f"M{i:0{width}d}" for i in range(n)], dtype=object)
    patient_ids = np.array([f"P{i:0{width}d}" for i in r_demo.permutation(n) + 1], dtype=object)
    study_ids = np.array([f"T{i:0{width + 1}d}" for i in r_demo.permutation(n) + 1], dtype=object)
    frame = pd.DataFrame(
        {
            "case_id": case_ids,
            "patient_id": patient_ids,
            "study_id": study_ids,
            "site": np.array(sites, dtype=object)[site][perm],
            **{key: np.array(v, dtype=object)[perm] for key, v in cols.items()},
            "age": age[perm],
            "sex": sex[perm],
        }
    )
    cohort = Cohort(frame, source=f"synthetic-mammo(seed={cfg.seed})")

    truth_rows = []
    for k in perm:
        case = cases[k]
        row: dict[str, Any] = {"birads": case["birads"], "density": case["density"], "laterality": case["laterality"]}
        row.update({col: 0 for col in MAMMO_FINDINGS})
        for side, kind in case["truth"]:
            row[f"{_SIDE_WORD[side]}_{MAMMO_KINDS[kind]}"] = 1
        truth_rows.append(row)
    truth = pd.DataFrame(truth_rows)
    truth.insert(0, "case_id", case_ids)
    truth[LABEL_SOURCE_COLUMN] = TRUTH_SOURCE
    truth = normalise_mammo_table(truth, "synthetic truth")

    stats = {
        "generator": GENERATOR_VERSION,
        "n_cases": n,
        "cases_per_site": {s: int((site == i).sum()) for i, s in enumerate(sites)},
        "site_styles": {s: styles[i].kind for i, s in enumerate(sites)},
        "birads": {str(k): int(v) for k, v in truth["birads"].value_counts().sort_index().items()},
        "density": {str(k): int(v) for k, v in truth["density"].value_counts().sort_index().items()},
        "laterality": {str(k): int(v) for k, v in truth["laterality"].value_counts().sort_index().items()},
        "screening_share": round(float(np.mean([c["screening"] for c in cases])), 4),
        "prevalence": {f: round(float((truth[f] == 1).mean()), 4) for f in MAMMO_FINDINGS},
        "noise_omissions": n_omit,
        "noise_commissions": n_commit,
    }
    return cohort, truth, stats


def _pick(R: random.Random, seq):
    return seq[int(R.random() * len(seq))]


def _draw_case(st: _Style, age: int, R: random.Random) -> dict[str, Any]:
    r = R.random
    screening = r() < st.screening
    surgery: tuple[str, int] | None = None  # ("lumpectomy"|"mastectomy", side)
    u = r()
    if u < 0.03:
        surgery = ("mastectomy", int(r() * 2))
    elif u < 0.13:
        surgery = ("lumpectomy", int(r() * 2))
    if surgery and surgery[0] == "mastectomy":
        laterality = "R" if surgery[1] == _L else "L"
    elif screening:
        laterality = "B"
    else:
        u = r()
        laterality = "L" if u < 0.36 else ("R" if u < 0.72 else "B")
    imaged = {"L": (_L,), "R": (_R,), "B": (_L, _R)}[laterality]
    u = r()
    density = "A" if u < 0.1 else ("B" if u < 0.5 else ("C" if u < 0.9 else "D"))
    if age < 45 and density in ("A", "B") and r() < 0.3:
        density = "C"
    u = r()
    if screening:
        birads = 1 if u < 0.62 else (2 if u < 0.88 else 0)
    else:
        cum = ((1, 0.1), (2, 0.3), (3, 0.48), (4, 0.72), (5, 0.8), (6, 0.9), (0, 1.0))
        birads = next(b for b, c in cum if u < c)
    finds: list[_Find] = []

    def new_find(kind: int, cat: str, side: int | None = None) -> _Find:
        s = side if side is not None else _pick(R, imaged)
        hour = 1 + int(r() * 12)
        half = r() < 0.15
        clock = f"{hour}:30" if half else str(hour)
        f = _Find(s, kind, cat, clock=clock, quad=_quadrant(s, hour) if not half else None)
        f.depth = _pick(R, _DEPTHS) if r() < 0.6 else None
        f.dist = 2 + int(r() * 9) if r() < 0.5 else None
        f.year = 2014 + int(r() * 9)
        if kind == MASS:
            f.size = {"benign": 5 + int(r() * 20), "pb": 4 + int(r() * 12), "workup": 5 + int(r() * 15)}.get(cat, 6 + int(r() * 30))
        return f

    lump_side = surgery[1] if surgery and surgery[0] == "lumpectomy" and surgery[1] in imaged else None
    if birads == 2:
        k = 1 if r() < 0.7 else 2
        for _ in range(k):
            u = r()
            if lump_side is not None and u < 0.3:
                f = new_find(AD if r() < 0.7 else CALC, "postsurg", lump_side)
            elif u < 0.55:
                f = new_find(CALC, "benign")
                f.bilateral = len(imaged) == 2 and r() < 0.35
            elif u < 0.8:
                f = new_find(MASS, "benign")
            else:
                f = new_find(ASYM, "benign")
            f.change = "stable" if r() < 0.7 else ""
            finds.append(f)
    elif birads == 3:
        finds.append(new_find(_pick(R, (MASS, MASS, CALC, ASYM)), "pb"))
    elif birads == 0:
        u = r()
        kind = ASYM if u < 0.45 else (MASS if u < 0.7 else (CALC if u < 0.9 else AD))
        f = new_find(kind, "workup")
        f.change = "new" if r() < 0.3 else ""
        finds.append(f)
    elif birads in (4, 5):
        cat = "susp" if birads == 4 else "high"
        u = r()
        kind = MASS if u < 0.55 else (CALC if u < 0.85 else AD)
        if birads == 5 and kind == AD:
            kind = MASS
        f = new_find(kind, cat)
        f.assoc_calc = kind == MASS and r() < (0.25 if birads == 4 else 0.5)
        f.change = "new" if r() < 0.3 else ""
        finds.append(f)
        if kind == MASS and birads == 5 and r() < 0.3:
            f.extras["ad"] = True  # "with associated architectural distortion"
    elif birads == 6:
        f = new_find(MASS if r() < 0.7 else CALC, "known")
        finds.append(f)
    if birads in (0, 3, 4, 5, 6) and r() < 0.2:
        f = new_find(CALC, "benign")
        f.bilateral = len(imaged) == 2 and r() < 0.4
        f.change = "stable" if r() < 0.6 else ""
        finds.append(f)
    truth: set[tuple[int, int]] = set()
    for f in finds:
        for s in imaged if f.bilateral else (f.side,):
            truth.add((s, f.kind))
        if f.assoc_calc:
            truth.add((f.side, CALC))
        if f.extras.get("ad"):
            truth.add((f.side, AD))
    sub4 = _pick(R, ("", "", "A", "B", "C")) if birads == 4 else ""
    return {
        "screening": screening,
        "laterality": laterality,
        "imaged": imaged,
        "density": density,
        "birads": birads,
        "sub4": sub4,
        "finds": finds,
        "truth": truth,
        "surgery": surgery,
        "age": age,
        "has_prior": r() < 0.75,
        "palpable": (not screening) and r() < 0.3,
        "resolved": (not screening and r() < 0.08),
    }


def _noise(case: dict[str, Any], R: random.Random) -> tuple[int, int]:
    """Make the text depart from the truth once (the truth itself is kept)."""
    finds = [f for f in case["finds"] if not f.bilateral and not f.assoc_calc and not f.extras]
    if finds and (R.random() < 0.5 or len(case["truth"]) >= 8):
        f = _pick(R, finds)
        case["finds"] = [x for x in case["finds"] if x is not f]
        case.setdefault("omitted", []).append(f)
        return 1, 0
    side = _pick(R, case["imaged"])
    free = [k for k in (CALC, ASYM, MASS) if (side, k) not in case["truth"]]
    if not free:
        return 0, 0
    f = _Find(side, _pick(R, free), "benign", clock=str(1 + int(R.random() * 12)), change="stable")
    case["finds"].append(f)
    case.setdefault("committed", []).append(f)
    return 0, 1


# ----------------------------------------------------------------------------------------------------
# The writer
# ----------------------------------------------------------------------------------------------------


class _Ctx:
    """Per-report writing state: style, random stream and the typo helper."""

    def __init__(self, st: _Style, W: ReportWriter, R: random.Random) -> None:
        self.st, self.W, self.R, self.r = st, W, R, R.random
        self.ab = R.random() < st.abbrev

    def pick(self, seq):
        return seq[int(self.r() * len(seq))]

    def sent(self, s: str) -> str:
        s = s.strip()
        s = s[0].upper() + s[1:]
        if s[-1] not in ".?":
            s += "."
        if self.st.typo and self.r() < self.st.typo * self.W.typo_scale:
            s = self.W.typo(s)
        return s

    def side(self, side: int, adj: bool = False) -> str:
        w = _SIDE_WORD[side]
        if self.ab and self.r() < 0.5:
            return ("Lt", "Rt")[side] if adj or self.r() < 0.5 else ("L", "R")[side] + (" breast" if not adj else "")
        return w

    def breast(self, side: int) -> str:
        """'the left breast' or an abbreviation."""
        if self.ab and self.r() < 0.4:
            return f"the {('L', 'R')[side]} breast" if self.r() < 0.5 else f"the {('lt', 'rt')[side]} breast"
        return f"the {_SIDE_WORD[side]} breast"

    def clock(self, f: _Find) -> str:
        if f.clock is None:
            return ""
        u = self.r()
        c = f.clock
        if ":" in c:
            return f"at {c}"
        if u < 0.55:
            return f"at {c} o'clock"
        if u < 0.8:
            return f"at the {c}:00 position"
        return f"at {c} o'clock position"

    def where(self, f: _Find, with_side: bool = True) -> str:
        """Location phrase: side, clock or quadrant, depth, distance from the nipple."""
        r = self.r
        parts = []
        u = r()
        if with_side:
            if f.quad and u < 0.2:
                q = f.quad
                if self.ab and r() < 0.5:
                    q = ("L", "R")[f.side] + "".join(w[0].upper() for w in q.split()[:2]) + "Q"
                    parts.append(f"in the {q}")
                else:
                    parts.append(f"in the {_SIDE_WORD[f.side]} breast {q}" if r() < 0.3 else f"in the {self.side(f.side, True)} {q}")
            else:
                parts.append(f"in {self.breast(f.side)}")
                parts.append(self.clock(f))
        else:
            if f.quad and u < 0.3:
                parts.append(f"in the {f.quad}")
            else:
                parts.append(self.clock(f))
        if f.depth and r() < 0.6:
            parts.append(f.depth)
        if f.dist and r() < 0.5:
            parts.append(f"{f.dist} cm from the nipple" if r() < 0.7 else f"{f.dist} cm FN")
        parts = [p for p in parts if p]
        return " " + ", ".join(parts) if len(parts) > 1 and r() < 0.5 else " " + " ".join(parts)


def _size(c: _Ctx, mm: int) -> str:
    if c.r() < 0.6 or mm < 10:
        return f"{mm} mm"
    return f"{mm / 10:.1f} cm"


def _describe(f: _Find, c: _Ctx) -> str:
    """Noun phrase for a finding (no location)."""
    p, r = c.pick, c.r
    calc = "calcs" if c.ab and r() < 0.4 else "calcifications"
    if f.kind == MASS:
        sz = _size(c, f.size or 8)
        if f.cat == "benign":
            core = p(
                (
                    f"{sz} circumscribed oval mass",
                    "circumscribed equal density mass",
                    "fat-containing mass consistent with a lipoma",
                    "circumscribed round mass, likely a cyst",
                    f"{sz} oval mass with circumscribed margins",
                )
            )
        elif f.cat == "pb":
            core = p((f"{sz} oval circumscribed mass", f"circumscribed oval {sz} mass", f"{sz} round mass with circumscribed margins"))
        elif f.cat == "workup":
            core = p(("possible mass", "mass seen on the CC view only", f"{sz} obscured mass", "possible mass with indistinct margins", "mass"))
        elif f.cat == "susp":
            core = p(
                (
                    f"{sz} irregular mass",
                    f"irregular mass with indistinct margins measuring {sz}",
                    f"{sz} irregular high-density mass with microlobulated margins",
                    f"{sz} irregular mass with angular margins",
                )
            )
        elif f.cat == "high":
            core = p((f"{sz} spiculated irregular mass", f"irregular high-density spiculated mass measuring {sz}", f"{sz} spiculated mass"))
        else:  # known
            core = p((f"{sz} irregular mass with a biopsy clip", f"biopsy-proven malignant {sz} irregular mass", f"known {sz} spiculated mass with associated biopsy clip"))
        if f.assoc_calc:
            core += p((f" with associated fine pleomorphic {calc}", f" with associated {calc}", f" containing amorphous {calc}"))
        if f.extras.get("ad"):
            core += " and associated architectural distortion"
        return core
    if f.kind == CALC:
        if f.cat in ("benign", "postsurg"):
            if f.cat == "postsurg":
                return p((f"dystrophic {calc} at the lumpectomy site", f"postsurgical dystrophic {calc}"))
            return p(
                (
                    f"benign-appearing {calc}",
                    f"vascular {calc}",
                    f"coarse popcorn-like {calc} consistent with a degenerating fibroadenoma",
                    f"scattered round {calc}",
                    f"benign {calc}",
                    f"large rod-like secretory {calc}",
                    f"punctate benign {calc}",
                )
            )
        if f.cat == "pb":
            return p((f"group of round and punctate {calc}", f"grouped punctate {calc}", f"cluster of round {calc}"))
        if f.cat == "workup":
            return p((f"group of {calc}", f"possible grouped {calc}", f"cluster of indeterminate {calc}", f"grouped amorphous {calc}"))
        if f.cat == "susp":
            span = _size(c, f.size or 10 + int(r() * 20))
            return p((f"grouped amorphous {calc}", f"fine pleomorphic {calc} spanning {span}", f"coarse heterogeneous {calc} in a segmental distribution", f"grouped fine pleomorphic {calc}"))
        if f.cat == "high":
            return p((f"fine linear branching {calc} in a linear distribution", f"fine-linear branching {calc} in a segmental distribution"))
        return p((f"biopsy-proven malignant {calc} with a biopsy clip", f"known malignant pleomorphic {calc} with associated clip"))
    if f.kind == AD:
        if f.cat in ("benign", "postsurg"):
            return p(
                (
                    "architectural distortion at the lumpectomy site, consistent with postsurgical scarring",
                    "postsurgical architectural distortion",
                    "architectural distortion related to prior lumpectomy",
                )
            )
        if f.cat == "pb":
            return "area of architectural distortion"
        if f.cat == "workup":
            return p(("possible architectural distortion", "area of architectural distortion seen on the MLO view only", "architectural distortion"))
        return p(("architectural distortion without a definite associated mass", "area of architectural distortion", "architectural distortion"))
    # asymmetry
    if f.cat == "benign":
        return p(("focal asymmetry", "global asymmetry, likely a normal variant", "asymmetry", "focal asymmetry that spreads out on spot compression"))
    if f.cat == "pb":
        return p(("focal asymmetry", "focal asymmetry without associated calcifications or distortion"))
    if f.cat == "workup":
        return p(("focal asymmetry", "asymmetry seen on the CC view only", "one-view asymmetry", "developing asymmetry", "possible asymmetry"))
    return p(("developing asymmetry", "focal asymmetry"))


def _article(np_: str) -> str:
    if np_.startswith(
        ("known ", "scattered ", "grouped ", "vascular ", "benign ", "fine", "coarse", "dystrophic", "postsurgical", "punctate", "large rod", "architectural", "biopsy-proven malignant calc")
    ):
        return ""
    if np_.startswith("benign-appearing") or np_.endswith(("calcifications", "calcs")) and not np_.startswith(("group", "cluster")):
        return ""
    return "an " if np_[0] in "aeiou8" or np_.startswith(("11 ", "18 ")) else "a "


def _positive_sentence(f: _Find, c: _Ctx, with_side: bool) -> str:
    """One sentence asserting a finding, with its location and comparison words."""
    r, p = c.r, c.pick
    desc = _describe(f, c)
    if f.bilateral:
        where = p((" bilaterally", " in both breasts", " in the bilateral breasts"))
    else:
        where = c.where(f, with_side)
    stable = f.change == "stable"
    new = f.change == "new"
    plural = desc.endswith(("calcifications", "calcs"))
    be = "are" if plural else "is"
    art = _article(desc)
    u = r()
    if new:
        if u < 0.5:
            return c.sent(f"there {be} {'a ' if art else ''}new {desc}{where}")
        return c.sent(f"new {desc}{where}")
    if stable:
        yr = f.year
        if u < 0.3:
            return c.sent(f"stable {desc}{where}")
        if u < 0.55:
            return c.sent(f"{art}{desc}{where} {be} unchanged since {yr}")
        if u < 0.75:
            return c.sent(f"again seen {be} {art}{desc}{where}, stable")
        return c.sent(f"{art}{desc}{where} {be} stable compared with prior exams")
    if u < 0.4:
        return c.sent(f"there {be} {art}{desc}{where}")
    if u < 0.6:
        return c.sent(f"{art}{desc} {be} seen{where}")
    if u < 0.75 and f.kind in (MASS, ASYM) and with_side and not f.bilateral:
        return c.sent(f"in {c.breast(f.side)}, there is {art}{desc} {c.clock(f)}".rstrip())
    return c.sent(f"{art}{desc}{where}")


_NEG_TERMS = {
    MASS: ("masses", "mass", "dominant masses", "suspicious masses"),
    CALC: ("calcifications", "suspicious calcifications", "microcalcifications", "suspicious microcalcifications"),
    AD: ("architectural distortion", "areas of architectural distortion", "distortion"),
    ASYM: ("asymmetries", "significant asymmetry", "focal asymmetries"),
}


def _negation(kinds: list[int], c: _Ctx, where: str = "") -> list[str]:
    """Sentences negating the given kinds ("No suspicious masses, calcifications, or distortion.")."""
    if not kinds:
        return []
    p, r = c.pick, c.r
    main = [k for k in kinds if k != ASYM]
    out = []
    if main:
        terms = [p(_NEG_TERMS[k]) for k in main]
        if len(terms) == 1:
            body = terms[0]
        elif len(terms) == 2:
            body = f"{terms[0]} or {terms[1]}"
        else:
            body = ", ".join(terms[:-1]) + (", or " if r() < 0.5 else " or ") + terms[-1]
        u = r()
        if u < 0.4:
            s = f"no suspicious {body.replace('suspicious ', '')}{where}"
        elif u < 0.6:
            s = f"there are no {body}{where}"
        elif u < 0.75:
            s = f"no {body} {'is' if len(terms) == 1 and not terms[0].endswith('s') else 'are'} seen{where}"
        elif u < 0.88:
            s = f"no new {body}{where}"
        else:
            s = f"negative for {body}{where}"
        out.append(c.sent(s))
    if ASYM in kinds:
        out.append(c.sent(p(("no significant asymmetry", "there are no suspicious asymmetries", "no focal asymmetry")) + where))
    return out


def _density_statement(case: dict[str, Any], c: _Ctx) -> str:
    st, r, p = c.st, c.r, c.pick
    d = case["density"]
    i = DENSITIES.index(d)
    uni = case["laterality"] != "B"
    words = p(_DENSITY_SENT[d])
    if uni:
        words = words.replace("The breasts are", "The breast is")
    u = r()
    if u < st.density_number:
        num = i + 1
        return c.pick(
            (
                f"Category {num} density.",
                f"BI-RADS density {num}.",
                f"Breast density: category {num}.",
                f"The breast tissue is {_DENSITY_SHORT[d]} (density {num}).",
            )
        )
    u = r()
    letter = d if r() < 0.6 else d.lower()
    if u < st.density_letter and r() < 0.5:
        return c.pick((f"Breast density: {letter}.", f"ACR {letter}.", f"Density {letter}.", f"Breast composition category {letter}.", f"ACR density category {letter}."))
    if u < st.density_letter:
        return c.pick(
            (
                f"BREAST COMPOSITION: {letter}. {words}",
                f"{words[:-1]} (ACR {letter}).",
                f"Breast density: {letter} - {_DENSITY_SHORT[d]}.",
                f"{words[:-1]} (density {letter}).",
            )
        )
    return c.sent(words)


def _birads_statement(case: dict[str, Any], c: _Ctx) -> str:
    b = case["birads"]
    st, r, p = c.st, c.r, c.pick
    name = p(_BIRADS_NAMES[b])
    sub = case["sub4"]
    num = f"{b}{sub}"
    if sub and r() < 0.5:
        name = _SUB4[sub]
    if r() < st.birads_words_only and b != 4:
        return p((f"ASSESSMENT: {name}.", f"Overall assessment: {name}."))
    forms = [
        f"BI-RADS {num}: {name}.",
        f"BI-RADS Category {num}: {name}.",
        f"BIRADS category {num}.",
        f"ASSESSMENT: {name} (BI-RADS {num}).",
        f"Bi-Rads {num} - {name.lower()}.",
        f"ACR BI-RADS® {num} – {name}.",
        f"Overall assessment: BI-RADS {num}.",
        f"Category {num} - {name}.",
        f"BI-RADS: {num}.",
        f"Final assessment: {name} (Category {num}).",
    ]
    if st.kind == "legacy" and b == 0 and r() < 0.5:
        return "Bi-Rads 0 - incomplete, needs additional imaging."
    return p(forms)


def _exam_description(case: dict[str, Any], c: _Ctx) -> str:
    lat, scr = case["laterality"], case["screening"]
    p = c.pick
    tomo = p(("", " with tomosynthesis", " W/TOMO", " 3D"))
    if lat == "B":
        if scr:
            return p(
                (f"Screening mammogram, bilateral{tomo}", f"MAMMO SCREENING BILATERAL{tomo}", f"Bilateral digital screening mammogram{tomo}", "MG SCREEN BIL", "3D screening mammogram of both breasts")
            )
        return p((f"Bilateral diagnostic mammogram{tomo}", f"MAMMO DIAG BIL{tomo}", "Diagnostic mammogram, bilateral", "MG DIAGNOSTIC BILATERAL"))
    side = _SIDE_WORD[0 if lat == "L" else 1]
    ab = ("LT", "RT")[0 if lat == "L" else 1]
    surg = case["surgery"]
    note = ""
    if surg and surg[0] == "mastectomy" and c.r() < 0.5:
        note = f" (s/p {_SIDE_WORD[surg[1]]} mastectomy)"
    if scr:
        return p((f"Unilateral {side} screening mammogram{note}", f"MAMMO SCREEN {ab}{tomo}{note}", f"Screening mammogram, {side} breast{note}"))
    return p(
        (
            f"Diagnostic mammogram, {side}{tomo}",
            f"MAMMO DIAG {ab}{tomo}",
            f"{side.upper()} DIAGNOSTIC MAMMOGRAM",
            f"MG DIAGNOSTIC UNILATERAL {side.upper()}",
            f"Digital diagnostic mammogram of the {side} breast{note}",
        )
    )


def _exam_sentence(case: dict[str, Any], c: _Ctx) -> str:
    lat = case["laterality"]
    kind = "screening" if case["screening"] else "diagnostic"
    if lat == "B":
        return c.pick(
            (
                f"Bilateral {kind} mammogram with CC and MLO views.",
                "Standard CC and MLO views of both breasts were obtained.",
                f"Bilateral digital {kind} mammography with tomosynthesis was performed.",
            )
        )
    side = _SIDE_WORD[0 if lat == "L" else 1]
    extra = " and spot compression views" if kind == "diagnostic" and c.r() < 0.5 else ""
    return c.pick(
        (f"{side.capitalize()} {kind} mammogram{extra}.", f"CC and MLO views of the {side} breast{extra} were obtained.", f"{('LCC and LMLO', 'RCC and RMLO')[0 if lat == 'L' else 1]} views{extra}.")
    )


def _indication(case: dict[str, Any], c: _Ctx) -> str:
    r, p = c.r, c.pick
    age = case["age"]
    items = []
    surg = case["surgery"]
    if surg:
        s = _SIDE_WORD[surg[1]]
        items.append(p((f"History of {s} breast cancer status post {surg[0]}.", f"Personal history of {s} breast cancer, s/p {surg[0]} {2008 + int(r() * 12)}.")))
    if case["palpable"]:
        s = _SIDE_WORD[_pick(c.R, case["imaged"])]
        items.append(p((f"Palpable lump in the {s} breast at {1 + int(r() * 12)} o'clock.", f"Patient reports a palpable mass in the {s} breast.", f"{s.capitalize()} breast lump.")))
    if not case["screening"] and not items:
        s = _SIDE_WORD[_pick(c.R, case["imaged"])]
        items.append(
            p(
                (
                    f"Callback from screening for a {s} breast asymmetry.",
                    f"Follow-up of probably benign {s} breast calcifications.",
                    f"Focal pain in the {s} breast.",
                    f"Recall for possible {s} breast mass.",
                    f"Six-month follow-up of {s} breast mass.",
                    f"{s.capitalize()} nipple discharge.",
                )
            )
        )
    if r() < 0.3:
        items.append(p(("Family history of breast cancer (mother).", "Family history of breast cancer in a sister.", "Prior benign biopsy of calcifications.", "BRCA negative.")))
    if case["screening"] and not items:
        items.append(p((f"{age}-year-old female, screening.", "Routine screening.", "Annual screening. No complaints.", "Screening. Asymptomatic.")))
    return " ".join(items)


def _comparison(case: dict[str, Any], c: _Ctx) -> str | None:
    if not case["has_prior"]:
        return c.pick(("None.", "No prior studies available.", None))
    years = sorted({2015 + int(c.r() * 9) for _ in range(2)})
    base = c.pick((f"Prior mammograms from {' and '.join(map(str, years))}.", f"Comparison is made to exams dated {years[-1]}.", f"Compared with prior study from {years[-1]}."))
    if c.r() < 0.2:
        s = _SIDE_WORD[_pick(c.R, case["imaged"])]
        base += c.pick((f" The prior showed {s} breast calcifications.", f" Prior exam was BI-RADS 3 for a {s} breast mass.", " Prior study showed an asymmetry."))
    return base


def _impression(case: dict[str, Any], c: _Ctx, birads_line: str) -> list[str]:
    b = case["birads"]
    r, p = c.r, c.pick
    finds = case["finds"]
    main = [f for f in finds if f.cat not in ("benign", "postsurg")] or finds
    out: list[str] = []
    if b == 1:
        out.append(p(("No mammographic evidence of malignancy.", "Negative mammogram.", "No suspicious findings.", "No mammographic evidence of malignancy in either breast.")))
    elif b == 2:
        if finds and r() < 0.5:
            f = finds[0]
            what = {MASS: "mass", CALC: "calcifications", AD: "postsurgical changes" if f.cat == "postsurg" else "architectural distortion", ASYM: "asymmetry"}[f.kind]
            side = "bilateral" if f.bilateral else _SIDE_WORD[f.side] + " breast"
            out.append(c.sent(p((f"benign {side} {what}", f"stable benign {what} in the {side}".replace("the bilateral", "both breasts")))))
        out.append(p(("Benign findings.", "No mammographic evidence of malignancy.", "Benign findings. No evidence of malignancy.")))
    else:
        for f in main[:1]:
            side = _SIDE_WORD[f.side]
            what = {MASS: "mass", CALC: "calcifications", AD: "architectural distortion", ASYM: "asymmetry"}[f.kind]
            clock = c.clock(f)
            if b == 3:
                out.append(c.sent(f"probably benign {what} in the {side} breast {clock}"))
                out.append(p(("Recommend short-interval follow-up mammogram in 6 months.", "Six-month follow-up diagnostic mammogram is recommended.")))
            elif b == 0:
                out.append(c.sent(p((f"possible {what} in the {side} breast", f"{side} breast {what}", f"{what} in the {side} breast {clock}", f"indeterminate {side} breast {what}"))))
                out.append(
                    p(
                        (
                            "Additional imaging evaluation with diagnostic mammography and possibly ultrasound is recommended.",
                            "Recall for additional imaging.",
                            "Diagnostic mammogram and ultrasound of the " + side + " breast recommended.",
                        )
                    )
                )
            elif b in (4, 5):
                adj = "suspicious" if b == 4 else "highly suspicious"
                out.append(c.sent(p((f"{adj} {what} in the {side} breast {clock}", f"{side} breast {what} {clock}, {adj} for malignancy", f"{adj} {side} breast {what}"))))
                proc = "stereotactic" if f.kind == CALC else "ultrasound-guided"
                out.append(p((f"Recommend {proc} biopsy.", f"{proc.capitalize()} biopsy is recommended.", "Tissue sampling is recommended.")))
            else:
                out.append(c.sent(p((f"known biopsy-proven malignancy in the {side} breast {clock}", f"known {side} breast cancer {clock}, as above"))))
                out.append(p(("Treatment as clinically indicated.", "Surgical consultation as planned.")))
    if b in (1, 2) and r() < 0.6:
        out.append(p(("Recommend annual screening mammography.", "Routine screening mammogram in 1 year.", "Annual mammography is recommended.")))
    out.append(birads_line)
    return out


def _write(case: dict[str, Any], st: _Style, W: ReportWriter, R: random.Random) -> dict[str, Any]:
    c = _Ctx(st, W, R)
    r = c.r
    imaged = case["imaged"]
    finds: list[_Find] = case["finds"]
    lat = case["laterality"]
    exam_in_column = r() < st.exam_column
    exam = _exam_description(case, c) if exam_in_column else None

    body: list[str] = []
    if not exam_in_column and st.kind != "structured":
        body.append(_exam_sentence(case, c))
    density = _density_statement(case, c)
    density_in_impression = st.kind == "community" and r() < 0.3
    if not density_in_impression and st.kind != "structured":
        body.append(density)
    if case["surgery"]:
        s, side = case["surgery"][0], _SIDE_WORD[case["surgery"][1]]
        body.append(c.sent(c.pick((f"the patient is status post {side} {s}", f"postsurgical changes from prior {side} {s}" if s == "lumpectomy" else f"status post {side} mastectomy"))))
    if case["has_prior"] and r() < 0.5:
        body.append(
            c.pick(
                ("Comparison was made to prior studies.", "Compared to prior exams.", "There has been no significant interval change." if case["birads"] in (1, 2) else "Prior studies were reviewed.")
            )
        )
    if case["palpable"] and r() < 0.7:
        s = _SIDE_WORD[_pick(R, imaged)]
        body.append(c.sent(f"a BB marker was placed over the palpable lump in the {s} breast at {1 + int(r() * 12)} o'clock"))
        if not any(f.side == _SIDE_WORD.index(s) and f.cat not in ("benign", "postsurg") for f in finds):
            body.append(c.sent(c.pick(("no mammographic abnormality is seen at the site of palpable concern", "no suspicious mass, calcifications or distortion is identified at this site"))))
    if case["resolved"] and not finds:
        s = _pick(R, imaged)
        body.append(
            c.sent(
                c.pick(
                    (
                        f"the previously seen asymmetry in the {_SIDE_WORD[s]} breast has resolved",
                        f"interval resolution of the {_SIDE_WORD[s]} breast asymmetry",
                        f"the previously noted {_SIDE_WORD[s]} breast mass is no longer seen",
                    )
                )
            )
        )
    if r() < 0.08:
        body.append(
            c.sent(
                c.pick(("prior benign biopsy of calcifications in the left breast, with clip in place", "history of benign excisional biopsy of a mass in the right breast"))
                if lat == "B"
                else "skin is normal"
            )
        )

    per_breast = lat == "B" and r() < st.per_breast
    present_kinds = {f.kind for f in finds}
    if per_breast:
        for breast in (_R, _L):
            head = ("LEFT BREAST:", "RIGHT BREAST:")[breast] if r() < 0.6 else ("Left breast:", "Right breast:")[breast]
            sents = [_positive_sentence(f, c, r() < 0.4) for f in finds if f.side == breast and not f.bilateral]
            here = {f.kind for f in finds if f.side == breast or f.bilateral}
            neg = [k for k in (MASS, CALC, AD, ASYM) if (k not in here or (k == CALC and r() < 0.3)) and (k != ASYM or r() < 0.4)]
            if not sents and r() < 0.3:
                sents.append(c.pick(("No suspicious findings.", "Negative.", "Unremarkable.")))
                neg = []
            sents += _negation(neg, c)
            body.append(head + " " + " ".join(sents))
        # Findings in both breasts are stated once, after the per-breast paragraphs.
        body += [_positive_sentence(f, c, True) for f in finds if f.bilateral]
    else:
        for f in finds:
            body.append(_positive_sentence(f, c, True))
        neg = [k for k in (MASS, CALC, AD, ASYM) if (k not in present_kinds or (k == CALC and r() < 0.2)) and (k != ASYM or r() < 0.4)]
        if lat == "B" and present_kinds and r() < 0.3:
            # Negations for the other breast only.
            clear = [s for s in (_L, _R) if not any(f.side == s or f.bilateral for f in finds)]
            if clear:
                body += _negation([MASS, CALC, AD], c, f" in {c.breast(clear[0])}")
                neg = []
        elif not present_kinds and lat == "B" and r() < 0.2:
            body += _negation(neg, c, " in either breast")
            neg = []
        body += _negation(neg, c)
    if r() < 0.15:
        body.append(c.sent(c.pick(_BENIGN_EXTRA).format(side=_SIDE_WORD[_pick(R, imaged)])))

    birads_line = _birads_statement(case, c)
    imp = _impression(case, c, birads_line)
    if density_in_impression:
        imp.insert(0, density)
    # Label noise can drop the only suspicious finding; such a report keeps its one overall assessment.
    main = [x for x in finds if x.cat not in ("benign", "postsurg")]
    if lat == "B" and case["birads"] in (0, 4, 5) and st.kind == "academic" and r() < 0.25 and main:
        f = main[0]
        other = 1 - f.side
        other_b = 2 if any(x.side == other or x.bilateral for x in finds) else 1
        imp[-1] = f"{_SIDE_WORD[other].capitalize()} breast: BI-RADS {other_b}. {_SIDE_WORD[f.side].capitalize()} breast: BI-RADS {case['birads']}{case['sub4']}."
        if r() < 0.5:
            imp.append(f"Overall: BI-RADS {case['birads']}.")

    indication = _indication(case, c) if r() < st.indication else None
    comparison = _comparison(case, c) if r() < st.comparison else None
    numbered = st.kind == "academic" and len(imp) > 1 and r() < 0.3
    impression = " ".join(f"{i}. {x}" for i, x in enumerate(imp, 1)) if numbered else " ".join(imp)
    findings = " ".join(body)
    if st.upper and r() < st.upper:
        findings, impression = findings.upper(), impression.upper()
        exam = exam.upper() if exam else exam
    if st.kind == "structured":
        parts = [f"EXAM: {_exam_description(case, c)}."]
        if indication:
            parts.append(f"CLINICAL HISTORY: {indication}")
        if comparison:
            parts.append(f"COMPARISON: {comparison}")
        parts.append(density if density.startswith("BREAST COMPOSITION") else f"BREAST COMPOSITION: {density}")
        parts.append(f"FINDINGS: {findings}")
        imp_body = " ".join(x for x in imp[:-1])
        parts.append(f"IMPRESSION: {imp_body}")
        parts.append(imp[-1] if imp[-1].upper().startswith(("ASSESSMENT", "OVERALL", "FINAL")) else f"ASSESSMENT: {imp[-1]}")
        return {"exam": None, "text": "\n".join(parts)}
    return {"exam": exam, "indication": indication, "comparison": comparison, "findings": findings, "impression": impression}


# ----------------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------------


def write_synth_mammo_reports(config: MammoReportSynthConfig | None, out: str | Path) -> tuple[Path, Path]:
    """Write the cohort to ``out`` (``.parquet`` or ``.csv``), the truth to ``<stem>.truth.csv`` and
    ``<stem>.meta.json`` (config and counts, no text) beside it; every file atomically.

    Returns ``(cohort_path, truth_path)``.
    """
    cfg = config if config is not None else MammoReportSynthConfig()
    out = Path(out)
    if out.suffix.lower() not in (".parquet", ".pq", ".csv"):
        raise InputError(f"{out}: the cohort file must end in .parquet or .csv")
    cohort, truth, stats = synth_mammo_frame(cfg)
    truth_path = out.with_name(f"{out.stem}.truth.csv")
    meta_path = out.with_name(f"{out.stem}.meta.json")
    write_table(truth, truth_path)
    write_table(cohort.frame, out)
    meta = {
        "config": cfg.model_dump(mode="json"),
        "cohort_file": out.name,
        "truth_file": truth_path.name,
        "truth_columns": list(truth.columns),
        "truth_source": TRUTH_SOURCE,
        **stats,
    }
    write_json(meta, meta_path)
    return out, truth_path
