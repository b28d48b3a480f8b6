"""Synthetic chest X-ray report cohorts with a hidden CheXpert-14 truth: a fair, seeded test bed.

Every study gets its hidden truth first (age, sex, site, latent fluid-overload / infection / ICU states
and the patient's previous study drive it); the report is then *written* from that truth in the style
of its site, with what a report labeler must cope with: negation lists, "without"/"free of"/"negative
for", hedging ("cannot exclude", "X versus Y"), comparisons with priors ("unchanged", "interval
resolution of"), abbreviations (PTX, CHF, ETT, PICC), rare typos (which can hit any word, negation cues
included), ``XXXX``/``___`` de-identification masks, distractor findings outside the vocabulary, and
indication/comparison sections that name findings which are not present now. Two knobs let noise and
fairness tools be checked against a known answer: ``label_noise`` and a subgroup reporting bias.

    cohort, truth = synth_chest(ChestSynthConfig(n=2000, seed=0))
    write_synth_chest(ChestSynthConfig(n=2000), Path("demo/cohort.parquet"))

Cohort columns: case_id, patient_id, study_id, site, findings, impression, indication, comparison,
age, sex, race, plus the extras age_group, view and study_seq (1 = the patient's first study). The
truth is a separate LabelTable (source ``synthetic-truth``) and never a cohort column.

Findings follow CheXpert (Irvin et al., 2019); the section styles imitate MIMIC-CXR (``___`` masks) and
Open-i (``XXXX`` masks; Demner-Fushman et al., 2016) reports, but no real report text is copied.
"""

from __future__ import annotations

import functools
import gc
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from radtrust.data.io import write_json, write_table
from radtrust.data.schema import Cohort, LabelTable
from radtrust.errors import ConfigError, InputError
from radtrust.labeling.vocab import CHEXPERT14

__all__ = [
    "ChestSynthConfig",
    "SynthChest",
    "TRUTH_SOURCE",
    "MENTION_SOURCE",
    "GROUP_COLUMNS",
    "synth_chest",
    "synth_chest_detailed",
    "write_synth_chest",
    "chest_prevalence",
    "site_names",
]

GENERATOR_VERSION = "radtrust-chest-synth/1"
TRUTH_SOURCE = "synthetic-truth"
MENTION_SOURCE = "synthetic-mentions"

SEXES: tuple[str, ...] = ("F", "M")
RACES: tuple[str, ...] = ("White", "Black", "Asian", "Hispanic", "Other", "Unknown")
AGE_GROUPS: tuple[str, ...] = ("18-39", "40-59", "60-79", "80+")
VIEWS: tuple[str, ...] = ("PA/LAT", "PA", "AP")
#: Cohort columns a subgroup bias can be defined on, with their possible values.
GROUP_COLUMNS: dict[str, tuple[str, ...]] = {
    "sex": SEXES,
    "race": RACES,
    "age_group": AGE_GROUPS,
    "view": VIEWS,
}

# Column indices into CHEXPERT14 (asserted below so a vocabulary change fails loudly).
NF, ECM, CM, OP, LES, ED, CONS, PNA, ATEL, PTX, EFF, PLO, FX, SD = range(14)
assert CHEXPERT14[EFF] == "Pleural Effusion" and CHEXPERT14[SD] == "Support Devices"
_NFIND = len(CHEXPERT14)

# Mention states: how the report speaks of a finding.
_ABSENT, _POS, _HEDGE, _NEG, _FALSE = 0, 1, 2, 3, 4
_SAYS_POSITIVE = (_POS, _FALSE)
_SAYS_SOMETHING = (_POS, _HEDGE, _FALSE)


class ChestSynthConfig(BaseModel):
    """Settings of :func:`synth_chest`. Same config (and seed) → byte-identical output.

    * ``n`` reports from about ``n / reports_per_patient`` patients; each patient's studies are a time
      series (same sex and race, ageing, mostly the same site, chronic findings persisting, acute ones
      resolving), so some reports compare with a prior that is in the cohort.
    * ``label_noise``: for each report independently, with this probability one *noise event* changes
      what the report says without changing the truth. With probability 1/2, or always when the case has
      no positive finding, it is a **commission**: one finding drawn uniformly among the case's
      truth-negative findings (``No Finding`` excluded) is reported as present. Otherwise it is an
      **omission**: one finding drawn uniformly among the case's truth-positive findings is left out of
      the report entirely (not negated, not hedged). Noise is applied after the subgroup bias.
    * Subgroup reporting bias: among reports at ``bias_site`` (``None`` = every site) whose patient is in
      ``bias_group`` (``(column, value)`` with column one of :data:`GROUP_COLUMNS`; ``None`` = everyone),
      each truth-positive ``bias_finding`` is, with probability ``bias_rate``, left out of the report
      (half of those) or stated as absent (the other half). The truth is unchanged, so the labels a
      labeler reads from these reports under-count the finding in exactly that group.
    * Hedged mentions ("cannot exclude pneumonia") occur for truth positives and truth negatives; the
      truth is drawn first, so P(truth = 1 | hedged) is whatever the rates imply (reported in the meta).
    """

    model_config = ConfigDict(extra="forbid")

    n: int = Field(1000, description="number of reports")
    seed: int = Field(0, description="seed of every random step")
    n_sites: int = Field(4, description="number of sites (1-26), named site_A, site_B, ...")
    reports_per_patient: float = Field(1.5, description="mean number of studies per patient (>= 1)")
    label_noise: float = Field(0.0, description="per-report probability of one noise event (see class doc)")
    bias_finding: str | None = Field(None, description="finding under-reported in the bias subgroup")
    bias_group: tuple[str, str] | None = Field(None, description="(column, value), e.g. ('sex', 'F')")
    bias_site: str | None = Field(None, description="site of the bias, e.g. 'site_B'; None = all sites")
    bias_rate: float = Field(0.5, description="share of truth positives of bias_finding omitted/negated")
    typo_scale: float = Field(1.0, description="multiplies every site's typo rate (0 = no typos)")

    @model_validator(mode="after")
    def _check(self) -> ChestSynthConfig:
        # ConfigError (not ValueError) so that it reaches the CLI door as a one-line user error.
        if self.n < 1:
            raise ConfigError(f"n must be at least 1, got {self.n}")
        if not 1 <= self.n_sites <= 26:
            raise ConfigError(f"n_sites must be between 1 and 26, got {self.n_sites}")
        if not self.reports_per_patient >= 1.0:
            raise ConfigError(f"reports_per_patient must be >= 1, got {self.reports_per_patient}")
        for name in ("label_noise", "bias_rate"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"{name} must be between 0 and 1, got {v}")
        if not self.typo_scale >= 0.0:
            raise ConfigError(f"typo_scale must be >= 0, got {self.typo_scale}")
        if self.bias_finding is not None and self.bias_finding not in CHEXPERT14[1:]:
            raise ConfigError(f"bias_finding '{self.bias_finding}' is not a CheXpert finding; choose one of {', '.join(CHEXPERT14[1:])}")
        if self.bias_group is not None:
            col, val = self.bias_group
            if col not in GROUP_COLUMNS:
                raise ConfigError(f"bias_group column '{col}' must be one of {', '.join(GROUP_COLUMNS)}")
            if val not in GROUP_COLUMNS[col]:
                raise ConfigError(f"bias_group value '{val}' is not a value of '{col}'; choose one of {', '.join(GROUP_COLUMNS[col])}")
        if self.bias_site is not None and self.bias_site not in site_names(self.n_sites):
            raise ConfigError(f"bias_site '{self.bias_site}' is not one of the {self.n_sites} sites ({', '.join(site_names(self.n_sites))})")
        if (self.bias_group is not None or self.bias_site is not None) and self.bias_finding is None:
            raise ConfigError("bias_group/bias_site are set but bias_finding is not")
        return self


def site_names(n_sites: int) -> list[str]:
    """``site_A``, ``site_B``, ... for ``n_sites`` sites."""
    return [f"site_{chr(ord('A') + i)}" for i in range(n_sites)]


# ----------------------------------------------------------------------------------------------------
# Site reporting styles and prevalence shifts
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Style:
    kind: str  # "verbose" | "terse" | "structured" | "template"
    findings_rate: float  # share of reports with a findings section (the rest: impression only)
    indication_rate: float
    comparison_rate: float
    abbrev: float  # chance of an abbreviated form where one exists
    neg_mult: float  # multiplies the chance that an absent finding is explicitly negated
    list_neg: float  # chance that negations are grouped into one "No A, B or C." sentence
    hedge_mult: float
    typo: float  # per sentence
    mask: float  # chance that a masked-able word is de-identified
    mask_token: str
    upper: float  # share of reports in capitals
    numbered: float  # chance the impression is a numbered list
    impression_heavy: bool
    icu: float  # share of inpatient / ICU studies
    offsets: tuple[float, ...] = field(default=(0.0,) * _NFIND)  # logit shift per finding


def _off(**kw: float) -> tuple[float, ...]:
    out = [0.0] * _NFIND
    names = {
        "ECM": ECM,
        "CM": CM,
        "OP": OP,
        "LES": LES,
        "ED": ED,
        "CONS": CONS,
        "PNA": PNA,
        "ATEL": ATEL,
        "PTX": PTX,
        "EFF": EFF,
        "PLO": PLO,
        "FX": FX,
        "SD": SD,
        "ALL": -1,
    }
    base = kw.pop("ALL", 0.0)
    for i in range(1, _NFIND):
        out[i] = base
    for k, v in kw.items():
        out[names[k]] += v
    return tuple(out)


_BASE_STYLES: tuple[_Style, ...] = (
    # Academic hospital: verbose full sentences, findings-heavy, numbered impressions, MIMIC-style masks.
    _Style("verbose", 0.97, 0.85, 0.8, 0.05, 1.0, 0.6, 1.0, 0.004, 0.0, "___", 0.0, 0.55, False, 0.2, _off()),
    # ICU-heavy hospital: terse fragments, many abbreviations, impression-heavy, more acute disease.
    _Style(
        "terse",
        0.55,
        0.6,
        0.9,
        0.65,
        0.75,
        0.7,
        1.3,
        0.02,
        0.0,
        "___",
        0.0,
        0.2,
        True,
        0.45,
        _off(ED=0.3, EFF=0.3, ATEL=0.4, PTX=0.4, SD=0.3),
    ),
    # Community hospital: structured "LUNGS: ... PLEURA: ..." template, some all-caps, more infection.
    _Style(
        "structured",
        0.92,
        0.5,
        0.6,
        0.2,
        1.15,
        0.5,
        0.8,
        0.01,
        0.0,
        "___",
        0.3,
        0.3,
        False,
        0.12,
        _off(OP=0.4, PNA=0.9, CONS=0.4, FX=0.3),
    ),
    # Outpatient clinic: Open-i-like normal macros, XXXX de-identification, low acuity, chronic findings.
    _Style(
        "template",
        0.96,
        0.9,
        0.5,
        0.02,
        1.3,
        0.45,
        0.7,
        0.006,
        0.12,
        "XXXX",
        0.0,
        0.5,
        False,
        0.03,
        _off(ALL=-0.3, LES=0.5, PLO=0.6, CM=0.2),
    ),
)
_BASE_SITE_WEIGHTS = np.array([0.32, 0.28, 0.22, 0.18])
_RACE_BY_STYLE = np.array(
    [
        [0.55, 0.20, 0.10, 0.10, 0.02, 0.03],
        [0.40, 0.30, 0.05, 0.15, 0.03, 0.07],
        [0.70, 0.08, 0.04, 0.10, 0.03, 0.05],
        [0.45, 0.15, 0.20, 0.10, 0.05, 0.05],
    ]
)


def _site_styles(n_sites: int, rng: np.random.Generator) -> tuple[list[_Style], np.ndarray, np.ndarray]:
    """Styles, case weights and race mixes of the sites; sites past the fourth are jittered copies."""
    styles: list[_Style] = []
    races = np.zeros((n_sites, len(RACES)))
    for i in range(n_sites):
        base = _BASE_STYLES[i % 4]
        races[i] = _RACE_BY_STYLE[i % 4]
        if i < 4:
            styles.append(base)
            continue
        j = rng.normal(0.0, 1.0, size=8)
        offsets = tuple(o + float(d) for o, d in zip(base.offsets, rng.normal(0.0, 0.25, size=_NFIND), strict=True))
        styles.append(
            _Style(
                base.kind,
                float(np.clip(base.findings_rate + 0.05 * j[0], 0.4, 1.0)),
                float(np.clip(base.indication_rate + 0.1 * j[1], 0.2, 1.0)),
                float(np.clip(base.comparison_rate + 0.1 * j[2], 0.2, 1.0)),
                float(np.clip(base.abbrev + 0.1 * j[3], 0.0, 0.9)),
                float(np.clip(base.neg_mult + 0.15 * j[4], 0.5, 1.5)),
                base.list_neg,
                float(np.clip(base.hedge_mult + 0.15 * j[5], 0.5, 1.5)),
                base.typo,
                base.mask,
                base.mask_token,
                base.upper,
                base.numbered,
                base.impression_heavy,
                float(np.clip(base.icu + 0.05 * j[6], 0.02, 0.6)),
                offsets,
            )
        )
        races[i] = rng.dirichlet(races[i] * 40.0)
    if n_sites == 4:
        weights = _BASE_SITE_WEIGHTS.copy()
    elif n_sites < 4:
        weights = _BASE_SITE_WEIGHTS[:n_sites] / _BASE_SITE_WEIGHTS[:n_sites].sum()
    else:
        weights = rng.dirichlet(np.full(n_sites, 4.0))
    return styles, weights, races


# ----------------------------------------------------------------------------------------------------
# Truth model
# ----------------------------------------------------------------------------------------------------

# Logistic model per finding: base + age*(age-60)/10 + male + hf*HF + inf*INF + icu*ICU (+ site offset),
# where HF (fluid overload), INF (infection) and ICU (inpatient acuity) are latent per-study states that
# make findings co-occur. Figures are tuned to CheXpert-like but less ICU-dominated prevalences.
#                     base   age   male   hf    inf   icu
_COEF = np.array(
    [
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # No Finding (derived)
        [-3.63, 0.25, 0.15, 1.0, 0.0, 0.6],  # Enlarged Cardiomediastinum
        [-2.69, 0.40, 0.20, 2.2, 0.0, 0.3],  # Cardiomegaly
        [-2.36, 0.10, 0.00, 0.8, 2.2, 0.7],  # Lung Opacity
        [-3.31, 0.35, 0.10, 0.0, 0.0, 0.0],  # Lung Lesion
        [-3.47, 0.20, 0.00, 3.2, 0.0, 0.6],  # Edema
        [-3.90, 0.05, 0.00, 0.0, 2.4, 0.6],  # Consolidation
        [-4.06, 0.10, 0.10, 0.0, 3.0, 0.3],  # Pneumonia
        [-2.55, 0.15, 0.00, 0.4, 0.6, 1.3],  # Atelectasis
        [-3.93, -0.15, 0.35, 0.0, 0.0, 1.2],  # Pneumothorax
        [-2.78, 0.30, 0.00, 2.0, 0.6, 0.9],  # Pleural Effusion
        [-4.09, 0.30, 0.20, 0.0, 0.0, 0.0],  # Pleural Other
        [-3.56, 0.20, 0.25, 0.0, 0.0, 0.4],  # Fracture
        [-2.51, 0.05, 0.00, 0.5, 0.3, 3.2],  # Support Devices
    ]
)
#: Chance that a finding present (or absent) on the patient's previous study is carried over unchanged.
_PERSIST = np.array([0, 0.7, 0.9, 0.4, 0.92, 0.35, 0.35, 0.3, 0.35, 0.3, 0.5, 0.95, 0.85, 0.6])

# Mention-state rates. Positive: hedged with probability _HEDGE_POS (× site hedge_mult).
# Negative: hedged with _HEDGE_NEG (× hedge_mult), explicitly negated with _NEG_RATE (× neg_mult).
_HEDGE_POS = np.array([0, 0.06, 0.06, 0.05, 0.08, 0.14, 0.12, 0.25, 0.12, 0.06, 0.07, 0.08, 0.06, 0.0])
_HEDGE_NEG = np.array([0, 0.002, 0.004, 0.003, 0.003, 0.006, 0.006, 0.015, 0.006, 0.002, 0.004, 0.001, 0.002, 0.0])
_NEG_RATE = np.array([0, 0.12, 0.42, 0.2, 0.12, 0.25, 0.45, 0.15, 0.06, 0.6, 0.62, 0.02, 0.15, 0.01])


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# ----------------------------------------------------------------------------------------------------
# Phrase catalogue
# ----------------------------------------------------------------------------------------------------

# Lung locations: (adjective, prepositional, abbreviated adjective, abbreviated prepositional form).
_LOCS: tuple[tuple[str, str, str, str], ...] = (
    ("right upper lobe", "in the right upper lobe", "RUL", "in the RUL"),
    ("right middle lobe", "in the right middle lobe", "RML", "in the RML"),
    ("right lower lobe", "in the right lower lobe", "RLL", "in the RLL"),
    ("left upper lobe", "in the left upper lobe", "LUL", "in the LUL"),
    ("lingular", "in the lingula", "lingular", "in the lingula"),
    ("left lower lobe", "in the left lower lobe", "LLL", "in the LLL"),
    ("right basilar", "at the right lung base", "R basilar", "at the R base"),
    ("left basilar", "at the left lung base", "L basilar", "at the L base"),
    ("bibasilar", "at both lung bases", "bibasilar", "at the bases"),
    ("bilateral perihilar", "in both perihilar regions", "perihilar", "perihilar"),
    ("right midlung", "in the right midlung", "R midlung", "in the R midlung"),
)
_LOC_W_INF = np.array([6, 4, 14, 5, 3, 14, 8, 8, 8, 3, 3], dtype=float)
_LOC_W_ATEL = np.array([1, 2, 6, 1, 3, 8, 8, 10, 22, 0, 1], dtype=float)
_LOC_W_LES = np.array([14, 4, 6, 12, 2, 6, 1, 1, 0, 0, 4], dtype=float)
_LOC_W_INF_C = np.cumsum(_LOC_W_INF / _LOC_W_INF.sum()).tolist()
_LOC_W_ATEL_C = np.cumsum(_LOC_W_ATEL / _LOC_W_ATEL.sum()).tolist()
_LOC_W_LES_C = np.cumsum(_LOC_W_LES / _LOC_W_LES.sum()).tolist()

_ADVERB = {"mild": "mildly", "moderate": "moderately", "marked": "markedly", "severe": "severely"}
_ORDINALS = ("third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth")

_NORMAL_IMPRESSIONS = (
    "No acute cardiopulmonary process.",
    "No acute cardiopulmonary abnormality.",
    "No acute cardiopulmonary disease.",
    "No acute cardiopulmonary findings.",
    "No active disease.",
    "No acute disease.",
    "No evidence of active disease.",
    "No acute intrathoracic process.",
    "No radiographic evidence of acute cardiopulmonary disease.",
    "Negative for acute abnormality.",
)
_NORMAL_NO_DEVICE = ("Normal chest radiograph.", "Normal chest.", "Unremarkable chest radiograph.")
_NORMAL_TERSE = ("No acute process.", "No acute findings.", "Clear lungs.", "No acute cardiopulmonary process.")
_NORMAL_TEMPLATE_MASKED = ("Negative chest x-XXXX.", "No acute cardiopulmonary abnormality.")

_SYMPTOMS = (
    "shortness of breath",
    "cough",
    "fever",
    "chest pain",
    "hypoxia",
    "dyspnea",
    "cough and fever",
    "tachypnea",
    "altered mental status",
    "leukocytosis",
    "weakness",
    "fall",
    "syncope",
    "productive cough",
    "wheezing",
    "pleuritic chest pain",
)
# Indication "evaluate for ..." terms and how often each is asked about (mostly not present now).
_IND_TERMS: tuple[tuple[int, tuple[str, ...], float], ...] = (
    (PNA, ("pneumonia", "infiltrate", "PNA", "aspiration pneumonia"), 0.34),
    (PTX, ("pneumothorax", "PTX"), 0.14),
    (ED, ("CHF", "pulmonary edema", "fluid overload", "edema"), 0.14),
    (EFF, ("pleural effusion", "effusion"), 0.12),
    (FX, ("rib fracture", "fracture"), 0.08),
    (LES, ("mass", "lung nodule", "malignancy"), 0.05),
    (CONS, ("consolidation",), 0.04),
    (ATEL, ("atelectasis",), 0.04),
    (ECM, ("mediastinal widening", "aortic injury"), 0.03),
    (CM, ("cardiomegaly",), 0.02),
)
_IND_CUM_L = (np.cumsum([w for _, _, w in _IND_TERMS]) / sum(w for _, _, w in _IND_TERMS)).tolist()

_DEVICES = ("ETT", "NGT", "PICC", "CVC", "PACER", "CHEST_TUBE")
_DEVICE_NAMES = {
    "ETT": ("endotracheal tube", "ETT"),
    "NGT": ("nasogastric tube", "NGT"),
    "PICC": ("PICC line", "PICC"),
    "CVC": ("central venous catheter", "CVC"),
    "PACER": ("pacemaker", "pacer"),
    "CHEST_TUBE": ("chest tube", "chest tube"),
}

_DISTRACTORS = (
    "Degenerative changes of the thoracic spine.",
    "Atherosclerotic calcification of the aortic arch.",
    "The lungs are hyperinflated, consistent with emphysema.",
    "Surgical clips in the right upper quadrant.",
    "Mild degenerative changes of the spine.",
    "Calcified granuloma {loc}.",
    "Thoracic aorta is tortuous.",
)


# ----------------------------------------------------------------------------------------------------
# The report writer
# ----------------------------------------------------------------------------------------------------


class ReportWriter:
    """Writes one report at a time from mention states; all randomness comes from ``R``."""

    def __init__(self, R: random.Random, typo_scale: float) -> None:
        self.R = R
        self.r = R.random
        self.typo_scale = typo_scale
        # Set per report: the regions ("lungs", "pleura") that can be called clear in a negation
        # ("the lungs are clear without consolidation") without contradicting a finding stated elsewhere.
        self.leads: tuple[str, ...] = ()

    # -- small helpers ---------------------------------------------------------------------------------
    def pick(self, seq: Sequence[str]) -> str:
        return seq[int(self.r() * len(seq))]

    def side(self, side: str, st: _Style) -> str:
        R = self.R
        if st.mask and R.random() < st.mask:
            return st.mask_token
        if st.abbrev and R.random() < st.abbrev:
            return {"left": "L", "right": "R", "bilateral": "b/l"}[side]
        if side == "bilateral" and R.random() < 0.3:
            return "bilateral"
        return side

    def loc(self, i: int, st: _Style, prep: bool = False) -> str:
        R = self.R
        adj, pre, ab, ab_pre = _LOCS[i]
        if st.mask and R.random() < st.mask:
            return ("in the " + st.mask_token) if prep else st.mask_token
        if st.abbrev and R.random() < st.abbrev:
            return ab_pre if prep else ab
        return pre if prep else adj

    def typo(self, s: str) -> str:
        R = self.R
        words = s.split(" ")
        cand = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
        if not cand:
            return s
        i = cand[int(R.random() * len(cand))]
        w = words[i]
        j = 1 + int(R.random() * (len(w) - 3))
        if R.random() < 0.5:
            w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
        else:
            w = w[:j] + w[j + 1 :]
        words[i] = w
        return " ".join(words)

    def sentence(self, clause: str, st: _Style) -> str:
        s = clause[0].upper() + clause[1:]
        if s[-1] not in ".?":
            s += "."
        if st.typo and self.r() < st.typo * self.typo_scale:
            s = self.typo(s)
        return s

    # -- attributes of a positive finding ------------------------------------------------------------
    def draw_attrs(self, f: int, a_lung: int, icu: bool) -> dict[str, Any]:
        R = self.R
        r = R.random
        if f == CM:
            return {"sev": "mild" if r() < 0.5 else ("moderate" if r() < 0.7 else "marked")}
        if f == ED:
            return {"sev": "mild" if r() < 0.45 else ("moderate" if r() < 0.7 else "severe")}
        if f in (OP, CONS, PNA):
            return {"loc": a_lung}
        if f == ATEL:
            return {"loc": _cum_pick(_LOC_W_ATEL_C, r())}
        if f == LES:
            size = int(4 + 26 * r() ** 2)
            return {"loc": _cum_pick(_LOC_W_LES_C, r()), "size": size}
        if f == EFF:
            u = r()
            side = "left" if u < 0.35 else ("right" if u < 0.7 else "bilateral")
            u = r()
            sev = "trace" if u < 0.15 else ("small" if u < 0.6 else ("moderate" if u < 0.88 else "large"))
            return {"side": side, "sev": sev}
        if f == PTX:
            u = r()
            sev = "tiny" if u < 0.2 else ("small" if u < 0.7 else ("moderate" if u < 0.9 else "large"))
            return {"side": "left" if r() < 0.45 else "right", "sev": sev}
        if f == PLO:
            u = r()
            return {"side": "left" if u < 0.3 else ("right" if u < 0.6 else "bilateral")}
        if f == FX:
            u = r()
            where = "rib" if u < 0.75 else ("clavicle" if u < 0.88 else "vertebra")
            return {
                "side": "left" if r() < 0.5 else "right",
                "old": r() < 0.6,
                "where": where,
                "ord": _ORDINALS[int(r() * len(_ORDINALS))],
                "multiple": r() < 0.3,
            }
        if f == SD:
            dev: list[str] = []
            if icu:
                if r() < 0.6:
                    dev.append("ETT")
                if r() < (0.7 if dev else 0.2):
                    dev.append("NGT")
                if r() < 0.35:
                    dev.append("CVC")
                if r() < 0.25:
                    dev.append("PICC")
            else:
                if r() < 0.45:
                    dev.append("PACER")
                if r() < 0.35:
                    dev.append("PICC")
            if r() < 0.08:
                dev.append("CHEST_TUBE")
            if not dev:
                dev.append(("PACER", "PICC", "CVC", "ETT")[int(r() * 4)])
            return {"devices": dev, "side": "left" if r() < 0.5 else "right", "cm": 2 + int(r() * 5)}
        return {}

    # -- positive statements -----------------------------------------------------------------------
    def positive(self, f: int, a: dict[str, Any], st: _Style, short: bool, change: str) -> str:
        """A clause asserting ``f``; ``change`` is "", "new", "same", "better" or "worse" vs the prior."""
        R = self.R
        p = self.pick
        ab = st.abbrev and R.random() < st.abbrev
        if f in (OP, LES, CONS, PNA, ATEL):
            L, Lp = self.loc(a["loc"], st), self.loc(a["loc"], st, True)
        if f == EFF:
            side = self.side(a["side"], st)
            sev = a["sev"]
            bil = a["side"] == "bilateral"
            noun = "effusions" if bil else "effusion"
            if ab or short:
                core = f"{sev} {side} {noun}" if R.random() < 0.6 else f"{side} {noun}"
            else:
                opts = [
                    f"{sev} {side} pleural {noun}",
                    (f"there are {sev} bilateral pleural effusions" if bil else f"there is a {sev} {side} pleural effusion"),
                    f"layering {side} pleural {noun}",
                    f"{sev} {side} {noun}",
                ]
                if not bil and sev in ("trace", "small"):
                    opts.append(f"blunting of the {side} costophrenic angle consistent with a {sev} effusion")
                core = p(opts)
        elif f == CM:
            sev = a["sev"]
            if short or ab:
                core = p((f"{sev} cardiomegaly", "cardiomegaly"))
            else:
                core = p(
                    (
                        f"{sev} cardiomegaly",
                        f"the heart is {_ADVERB[sev]} enlarged",
                        f"the cardiac silhouette is {_ADVERB[sev]} enlarged",
                        "enlarged cardiac silhouette",
                        f"there is {sev} cardiomegaly",
                        "heart size is enlarged",
                    )
                )
        elif f == ECM:
            core = p(
                (
                    "widened mediastinum",
                    "the mediastinum is widened",
                    "widening of the superior mediastinum",
                    "enlarged cardiomediastinal silhouette",
                    "mediastinal widening",
                )
            )
        elif f == OP:
            if short or ab:
                core = p((f"{L} opacity", f"{L} airspace disease"))
            else:
                core = p(
                    (
                        f"{L} opacity",
                        f"patchy {L} opacities",
                        f"{L} airspace opacity",
                        f"hazy opacity {Lp}",
                        f"{L} infiltrate",
                        f"increased opacity {Lp}",
                        f"airspace disease {Lp}",
                    )
                )
        elif f == LES:
            size = a["size"]
            noun = "mass" if size >= 30 else "nodule"
            if short or ab:
                core = f"{L} {noun}"
            else:
                core = p(
                    (
                        f"{size} mm {noun} {Lp}",
                        f"{L} pulmonary {noun}",
                        f"{'spiculated' if size >= 15 else 'well-circumscribed'} {L} {noun}",
                        f"nodular density {Lp} measuring {size} mm",
                    )
                )
        elif f == ED:
            sev = a["sev"]
            if ab:
                core = p((f"{sev} CHF", "CHF", f"{sev} edema"))
            elif short:
                core = p((f"{sev} pulmonary edema", f"{sev} interstitial edema", "pulmonary edema"))
            else:
                core = p(
                    (
                        f"{sev} pulmonary edema",
                        f"{sev} interstitial edema",
                        f"pulmonary vascular congestion with {sev} interstitial edema",
                        f"findings consistent with {sev} pulmonary edema",
                        f"{sev} perihilar edema",
                    )
                )
        elif f == CONS:
            core = (
                p(
                    (
                        f"{L} consolidation",
                        f"consolidation {Lp}",
                        f"dense {L} consolidation",
                        f"airspace consolidation {Lp}",
                    )
                )
                if not short
                else f"{L} consolidation"
            )
        elif f == PNA:
            if ab:
                core = f"{L} PNA"
            elif short:
                core = p((f"{L} pneumonia", "pneumonia"))
            else:
                core = p(
                    (
                        f"{L} pneumonia",
                        f"findings consistent with {L} pneumonia",
                        f"findings compatible with pneumonia {Lp}",
                    )
                )
        elif f == ATEL:
            if ab:
                core = f"{L} atelectasis"
            else:
                core = p(
                    (
                        f"{L} atelectasis",
                        f"subsegmental atelectasis {Lp}",
                        f"plate-like atelectasis {Lp}",
                        f"{L} atelectatic changes",
                        f"minimal {L} atelectasis",
                        f"{L} collapse",
                    )
                )
        elif f == PTX:
            side, sev = self.side(a["side"], st), a["sev"]
            if ab:
                core = p((f"{sev} {side} PTX", f"{side} PTX"))
            else:
                core = p(
                    (
                        f"{sev} {side} pneumothorax",
                        f"{sev} {side} apical pneumothorax",
                        f"{side}-sided pneumothorax",
                        f"there is a {sev} {side} pneumothorax",
                    )
                )
        elif f == PLO:
            side = self.side(a["side"], st)
            core = p(
                (
                    f"{side} pleural thickening",
                    f"{side} apical pleural thickening",
                    f"pleural scarring at the {side} base" if a["side"] != "bilateral" else "bilateral pleural scarring",
                    "calcified pleural plaques",
                    f"{side} pleural fibrosis",
                )
            )
        elif f == FX:
            side = self.side(a["side"], st)
            old = a["old"] or change in ("same", "better")
            where = a["where"]
            if where == "rib":
                what = f"{side} rib fractures" if a["multiple"] else f"{side} {a['ord']} rib fracture"
            elif where == "clavicle":
                what = f"{side} clavicle fracture"
            else:
                what = "compression fracture of a thoracic vertebral body"
            if old:
                core = p((f"old healed {what}", f"healed {what}", f"remote {what}", f"chronic {what}"))
            else:
                core = p((f"acute {what}", f"displaced {what}", f"nondisplaced {what}", what))
            if change in ("same", "better"):
                return core  # comparison words do not read well with healed fractures
        elif f == SD:
            return self.devices(a, st, short, change)
        else:  # pragma: no cover - NF has no positive statement
            raise AssertionError(f)
        return self.with_change(core, change, f)

    def with_change(self, core: str, change: str, f: int) -> str:
        if not change:
            return core
        R = self.R
        if core.startswith(("there is ", "there are ")):
            core = core.split(" ", 2)[2].removeprefix("a ")
        if core.startswith(("the ", "heart size ")):  # a whole clause: only a trailing comparison fits
            return core + ", unchanged from prior" if change == "same" else core
        if change == "new":
            return R.choice(("new ", "interval development of ", "new ")) + core
        if change == "same":
            u = R.random()
            if u < 0.3:
                return "unchanged " + core
            if u < 0.5:
                return "stable " + core
            if u < 0.7:
                plural = core.endswith("s") and not core.endswith(("sis", "ss"))
                return core + (" are again seen" if plural else " is again seen")
            if u < 0.85:
                return "persistent " + core
            return core + ", unchanged from prior"
        if change == "better":
            if f in (OP, CONS, PNA, ED, ATEL, EFF, PTX):
                return R.choice(("improving ", "decreased but persistent ", "slightly improved ")) + core
            return core
        if change == "worse":
            if f in (OP, CONS, PNA, ED, ATEL, EFF, PTX):
                return R.choice(("worsening ", "increased ", "enlarging " if f in (EFF, PTX) else "worsening ")) + core
            return core
        return core

    def devices(self, a: dict[str, Any], st: _Style, short: bool, change: str) -> str:
        R = self.R
        p = self.pick
        ab = st.abbrev and R.random() < st.abbrev
        if short:
            if ab or R.random() < 0.3:
                names = [_DEVICE_NAMES[d][1] for d in a["devices"]]
                joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
                return joined + " in place"
            return p(
                (
                    "support devices in standard position",
                    "lines and tubes as above",
                    "support devices as above",
                    "tubes and lines in expected position",
                )
            )
        parts = []
        side = self.side(a["side"], st)
        for d in a["devices"]:
            if change == "same" and R.random() < 0.4:
                parts.append(f"unchanged position of the {_DEVICE_NAMES[d][0 if not ab else 1]}")
                continue
            if d == "ETT":
                parts.append(
                    p(
                        (
                            f"ETT tip {a['cm']} cm above the carina" if ab else f"endotracheal tube terminates {a['cm']} cm above the carina",
                            "ETT in place" if ab else "endotracheal tube in standard position",
                        )
                    )
                )
            elif d == "NGT":
                parts.append(
                    p(
                        (
                            "NGT tip in the stomach" if ab else "nasogastric tube courses below the diaphragm",
                            "enteric tube with tip in the stomach",
                            "Dobhoff tube with tip in the stomach",
                        )
                    )
                )
            elif d == "PICC":
                parts.append(
                    p(
                        (
                            f"{side} PICC with tip in the SVC",
                            f"{side} upper extremity PICC terminates in the mid SVC",
                            "PICC line tip at the cavoatrial junction",
                        )
                    )
                )
            elif d == "CVC":
                parts.append(
                    p(
                        (
                            f"{side} internal jugular central venous catheter with tip in the SVC",
                            f"{side} IJ line tip in the SVC",
                            f"{side} subclavian central line",
                        )
                    )
                )
            elif d == "PACER":
                parts.append(
                    p(
                        (
                            "left chest wall pacemaker with leads in the right atrium and right ventricle",
                            "dual-chamber pacemaker in place",
                            "AICD in place",
                            "pacer leads in expected position",
                        )
                    )
                )
            else:
                parts.append(p((f"{side} chest tube in place", f"{side} pigtail pleural catheter")))
        if change == "new" and R.random() < 0.5:
            first = parts[0]
            parts[0] = "interval placement of " + (first[0].lower() + first[1:] if first[1:2].islower() else first)
        return "; ".join(parts)

    # -- hedged statements -------------------------------------------------------------------------
    def hedge_term(self, f: int, a: dict[str, Any] | None, st: _Style) -> str:
        p = self.pick
        ab = st.abbrev and self.R.random() < st.abbrev
        if f == ECM:
            return "mediastinal widening"
        if f == CM:
            return p(("cardiomegaly", "mild cardiomegaly"))
        if f == OP:
            return p(("an airspace opacity", "an infiltrate", "a subtle opacity"))
        if f == LES:
            return p(("a pulmonary nodule", "a nodule", "a small mass"))
        if f == ED:
            return "CHF" if ab else p(("mild pulmonary edema", "pulmonary edema", "interstitial edema"))
        if f == CONS:
            return p(("consolidation", "early consolidation", "focal consolidation"))
        if f == PNA:
            return "PNA" if ab else p(("pneumonia", "early pneumonia", "aspiration pneumonia", "pneumonia"))
        if f == ATEL:
            return p(("atelectasis", "subsegmental atelectasis"))
        if f == PTX:
            return "PTX" if ab else p(("a small pneumothorax", "pneumothorax", "a tiny apical pneumothorax"))
        if f == EFF:
            return "effusion" if ab else p(("a small pleural effusion", "small effusion", "trace effusion"))
        if f == PLO:
            return "pleural thickening"
        if f == FX:
            return p(("a rib fracture", "a nondisplaced rib fracture", "a subtle rib fracture"))
        raise AssertionError(f)  # pragma: no cover

    def hedged(self, f: int, a: dict[str, Any] | None, st: _Style, loc: int | None) -> str:
        R = self.R
        term = self.hedge_term(f, a, st)
        if f == CM and R.random() < 0.4:
            return R.choice(("borderline cardiomegaly", "borderline heart size", "heart size is borderline enlarged"))
        if st.kind == "terse" and R.random() < 0.5:
            return R.choice((f"? {term}", f"{term}?", f"possible {term}", f"cannot exclude {term}"))
        where = f" {self.loc(loc, st, True)}" if loc is not None and R.random() < 0.5 else ""
        bare = _bare(term)
        u = R.random()
        if u < 0.16:
            return f"possible {bare}{where}"
        if u < 0.3:
            return f"cannot exclude {term}{where}"
        if u < 0.4:
            return f"{bare}{where} cannot be excluded"
        if u < 0.5:
            return f"findings{where} may represent {term}"
        if u < 0.6:
            return f"findings suggestive of {term}{where}"
        if u < 0.7:
            return f"findings concerning for {term}{where}"
        if u < 0.78:
            return f"questionable {bare}{where}"
        if u < 0.86:
            return f"likely {bare}{where}"
        if u < 0.93:
            return f"{bare}{where} is not excluded"
        return f"difficult to exclude {term}{where}"

    # -- negations ---------------------------------------------------------------------------------
    def neg_term(self, f: int, st: _Style) -> str:
        p = self.pick
        ab = st.abbrev and self.R.random() < st.abbrev
        if f == EFF:
            return "effusion" if ab else p(("pleural effusion", "pleural effusion", "effusion", "pleural effusions"))
        if f == PTX:
            return "PTX" if ab else "pneumothorax"
        if f == CONS:
            return p(("focal consolidation", "consolidation", "focal airspace consolidation"))
        if f == OP:
            return p(("focal opacity", "airspace opacity", "infiltrate", "suspicious pulmonary opacity"))
        if f == ED:
            return "CHF" if ab else p(("pulmonary edema", "edema", "interstitial edema"))
        if f == PNA:
            return "PNA" if ab else "pneumonia"
        if f == ATEL:
            return "atelectasis"
        if f == LES:
            return p(("suspicious pulmonary nodule", "pulmonary mass or nodule", "mass", "nodules or masses"))
        if f == CM:
            return "cardiomegaly"
        if f == ECM:
            return "mediastinal widening"
        if f == FX:
            return p(("displaced rib fracture", "acute fracture", "rib fracture", "acute osseous fracture"))
        if f == PLO:
            return "pleural thickening"
        if f == SD:
            return p(("lines or tubes", "support devices"))
        raise AssertionError(f)  # pragma: no cover

    def negation_sentences(self, fs: list[int], st: _Style) -> list[str]:
        """Sentences negating each finding in ``fs``, grouped into lists as the site likes."""
        R = self.R
        out: list[str] = []
        rest: list[int] = []
        for f in fs:
            # Findings with a characteristic sentence of their own.
            if f == CM and R.random() < 0.6:
                out.append(
                    self.pick(
                        (
                            "Heart size is normal.",
                            "The heart is normal in size.",
                            "Normal heart size.",
                            "Heart size is within normal limits.",
                            "The heart is not enlarged.",
                            "No cardiomegaly.",
                        )
                    )
                )
            elif f == ECM and R.random() < 0.6:
                out.append(
                    self.pick(
                        (
                            "Normal mediastinal contours.",
                            "The mediastinum is not widened.",
                            "No mediastinal widening.",
                            "Mediastinal contours are within normal limits.",
                        )
                    )
                )
            elif f == SD:
                out.append(self.pick(("No support devices.", "No lines or tubes are present.")))
            else:
                rest.append(f)
        if len(rest) > 1 and R.random() < 0.5:
            rest.reverse()
        while rest:
            if len(rest) >= 2 and R.random() < st.list_neg:
                k = min(len(rest), 2 + int(R.random() * 2))
                grp, rest = rest[:k], rest[k:]
                terms = [self.neg_term(f, st) for f in grp]
                if st.kind == "terse" and R.random() < 0.5:
                    body = "/".join(terms)
                elif len(terms) == 2:
                    body = f"{terms[0]} or {terms[1]}"
                else:
                    body = ", ".join(terms[:-1]) + (", or " if R.random() < 0.5 else " or ") + terms[-1]
                lead = self.pick(("no ", "no ", "there is no ", "no evidence of ", "negative for "))
                if lead == "there is no " and terms[0].endswith("s"):
                    lead = "there are no "
                out.append(self.sentence(lead + body, st))
            else:
                f = rest.pop()
                t = self.neg_term(f, st)
                u = R.random()
                if u < 0.45:
                    s = f"no {t}"
                elif u < 0.6:
                    s = f"no evidence of {t}"
                elif u < 0.7:
                    s = f"{t} is not seen" if not t.endswith("s") else f"no {t} are seen"
                elif u < 0.78:
                    s = f"negative for {t}"
                elif u < 0.86 and f in (CONS, OP, ED, ATEL, PNA) and "lungs" in self.leads:
                    s = f"the lungs are free of {t}"
                elif u < 0.86 and f in (EFF, PTX) and "pleura" in self.leads:
                    s = f"the pleural spaces are free of {t}"
                elif u < 0.94 and f in (CONS, OP, ED, PNA, LES) and "lungs" in self.leads:
                    s = f"the lungs are clear without {t}"
                elif u < 0.94 and f == PTX and "lungs" in self.leads:
                    s = f"the lungs are well expanded without {t}"
                elif u < 0.94 and f == EFF and "pleura" in self.leads:
                    s = f"the costophrenic angles are sharp without {t}"
                else:
                    s = f"there is no {t}"
                out.append(self.sentence(s, st))
        return out

    def resolution(self, f: int, a: dict[str, Any] | None, st: _Style) -> str:
        """A negative statement by comparison with the prior ("interval resolution of ...")."""
        if f == SD:
            devs = a["devices"] if a else ["ETT"]
            name = _DEVICE_NAMES[devs[0]][0]
            return self.pick(
                (
                    f"interval removal of the {name}",
                    f"the {name} has been removed",
                    "interval removal of support devices",
                )
            )
        term = self.neg_term(f, st)
        if a and f == EFF:
            term = f"{self.side(a['side'], st)} {'effusions' if a['side'] == 'bilateral' else 'effusion'}"
        elif a and f in (PNA, CONS, OP, ATEL) and "loc" in a:
            noun = {PNA: "pneumonia", CONS: "consolidation", OP: "opacity", ATEL: "atelectasis"}[f]
            term = f"{self.loc(a['loc'], st)} {noun}"
        u = self.R.random()
        if u < 0.35:
            return f"interval resolution of the {term}"
        if u < 0.6:
            return f"the previously seen {term} has resolved"
        if u < 0.8:
            return f"{term} has resolved"
        return f"previously noted {term} is no longer seen"


def _bare(term: str) -> str:
    """The term without its indefinite article ("a small effusion" -> "small effusion")."""
    return term.removeprefix("a ").removeprefix("an ")


def _uniforms(R: random.Random, n: int) -> np.ndarray:
    """``n`` uniforms from ``R`` (so the text stream alone decides the wording)."""
    return np.array([R.random() for _ in range(n)])


def _cum_pick(cum: list[float], u: float) -> int:
    for i, c in enumerate(cum):
        if u < c:
            return i
    return len(cum) - 1


# ----------------------------------------------------------------------------------------------------
# Generation
# ----------------------------------------------------------------------------------------------------


@dataclass
class SynthChest:
    """Everything :func:`synth_chest_detailed` makes.

    ``mentions`` is what the report text itself says (1 stated, 0 negated, -1 hedged, missing = not
    mentioned), so a labeler can be scored against the text (``mentions``) and, separately, the text
    against reality (``truth``). ``stats`` holds counts for the meta file (no text, no identifiers).
    """

    cohort: Cohort
    truth: LabelTable
    mentions: LabelTable
    stats: dict[str, Any]


def synth_chest(config: ChestSynthConfig | None = None) -> tuple[Cohort, LabelTable]:
    """A synthetic report cohort and its hidden truth (``LabelTable`` with source ``synthetic-truth``).

    The cohort carries no truth column; truth values are 0/1 only and ``No Finding`` is 1 exactly when
    nothing but ``Support Devices`` is positive.
    """
    out = synth_chest_detailed(config)
    return out.cohort, out.truth


def synth_chest_detailed(config: ChestSynthConfig | None = None) -> SynthChest:
    """Like :func:`synth_chest`, plus the text-level mention labels and summary counts."""
    cfg = config if config is not None else ChestSynthConfig()
    ss = np.random.SeedSequence(cfg.seed)
    # One independent stream per stage, so that a knob of a late stage (bias, noise) leaves the earlier
    # draws (patients, truth) identical for the same seed.
    r_demo, r_truth, r_mention, r_bias, r_noise, r_text = (np.random.default_rng(s) for s in ss.spawn(6))

    styles, site_w, race_w = _site_styles(cfg.n_sites, r_demo)
    sites = site_names(cfg.n_sites)
    demo = _demographics(cfg, site_w, race_w, r_demo)
    n = cfg.n
    site = demo["site"]
    seq = demo["seq"]
    truth, icu = _truth(demo, styles, r_truth)
    # Portable AP films for inpatients, PA/lateral or PA alone for most others.
    vu = demo["view_u"]
    demo["view"] = np.where(icu | (vu < 0.1), 2, np.where(vu < 0.75, 0, 1))

    state = _mention_states(truth, site, styles, r_mention)
    bias_mask, n_bias_omit, n_bias_neg = _apply_bias(cfg, state, truth, demo, sites, r_bias)
    n_omit, n_commit = _apply_noise(cfg.label_noise, state, truth, r_noise)

    text_seed = int(r_text.integers(0, 2**63 - 1))
    # The writer makes millions of short-lived strings and lists but no reference cycles; pausing the
    # cycle collector meanwhile saves about a tenth of the time.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        texts = _write_reports(cfg, demo, truth, state, icu, styles, random.Random(text_seed))
    finally:
        if gc_was_enabled:
            gc.enable()

    # Rows in a random order so that case ids reveal nothing about patients or time.
    perm = r_demo.permutation(n)
    width = max(6, len(str(n)))
    case_ids = np.array([f"S{i:0{width}d}" for i in range(n)], dtype=object)
    study_ids = np.array([f"T{i:0{width + 1}d}" for i in r_demo.permutation(n) + 1], dtype=object)
    pwidth = max(6, len(str(demo["n_patients"])))
    pat_code = r_demo.permutation(demo["n_patients"]) + 1
    patient_ids = np.array([f"P{c:0{pwidth}d}" for c in pat_code], dtype=object)[demo["patient"]]

    frame = pd.DataFrame(
        {
            "case_id": case_ids,
            "patient_id": patient_ids[perm],
            "study_id": study_ids,
            "site": np.array(sites, dtype=object)[site][perm],
            "findings": texts["findings"][perm],
            "impression": texts["impression"][perm],
            "indication": texts["indication"][perm],
            "comparison": texts["comparison"][perm],
            "age": demo["age"][perm].astype(int),
            "sex": np.array(SEXES, dtype=object)[demo["sex"]][perm],
            "race": np.array(RACES, dtype=object)[demo["race"]][perm],
            "age_group": np.array(AGE_GROUPS, dtype=object)[demo["age_group"]][perm],
            "view": np.array(VIEWS, dtype=object)[demo["view"]][perm],
            "study_seq": (seq + 1)[perm],
        }
    )
    cohort = Cohort(frame, source=f"synthetic(seed={cfg.seed})")

    t_perm = truth[perm]
    truth_table = LabelTable.from_matrix(case_ids.tolist(), CHEXPERT14, t_perm.astype(float), TRUTH_SOURCE)
    ment = _mention_matrix(state[perm])
    mention_table = LabelTable.from_matrix(case_ids.tolist(), CHEXPERT14, ment, MENTION_SOURCE)

    hedged = state[:, 1:] == _HEDGE
    stats: dict[str, Any] = {
        "generator": GENERATOR_VERSION,
        "n_cases": n,
        "n_patients": int(demo["n_patients"]),
        "reports_per_patient": round(n / demo["n_patients"], 4),
        "max_reports_per_patient": int(seq.max() + 1),
        "cases_per_site": {s: int((site == i).sum()) for i, s in enumerate(sites)},
        "site_styles": {s: styles[i].kind for i, s in enumerate(sites)},
        "prevalence": _prev_dict(truth),
        "prevalence_by_site": {s: _prev_dict(truth[site == i]) for i, s in enumerate(sites) if (site == i).any()},
        "hedged_mentions": int(hedged.sum()),
        "hedged_truth_positive_rate": round(float(truth[:, 1:][hedged].mean()), 4) if hedged.any() else None,
        "noise_omissions": n_omit,
        "noise_commissions": n_commit,
        "bias_cases_in_scope": int(bias_mask.sum()),
        "bias_omissions": n_bias_omit,
        "bias_negations": n_bias_neg,
        "text_truth_agreement": round(float(_agreement(state, truth)), 4),
    }
    return SynthChest(cohort, truth_table, mention_table, stats)


def _prev_dict(t: np.ndarray) -> dict[str, float]:
    if len(t) == 0:
        return {f: float("nan") for f in CHEXPERT14}
    return {f: round(float(v), 4) for f, v in zip(CHEXPERT14, t.mean(axis=0), strict=True)}


def _agreement(state: np.ndarray, truth: np.ndarray) -> float:
    """Share of reports whose stated-or-hedged findings equal the truly positive findings exactly."""
    said = np.isin(state[:, 1:], _SAYS_SOMETHING)
    return float((said == (truth[:, 1:] == 1)).all(axis=1).mean())


def _mention_matrix(state: np.ndarray) -> np.ndarray:
    m = np.full(state.shape, np.nan)
    m[(state == _POS) | (state == _FALSE)] = 1.0
    m[state == _HEDGE] = -1.0
    m[state == _NEG] = 0.0
    any_said = np.isin(state[:, 1:SD], _SAYS_SOMETHING).any(axis=1)
    m[:, NF] = np.where(any_said, np.nan, 1.0)
    return m


def _demographics(cfg: ChestSynthConfig, site_w: np.ndarray, race_w: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """Patients, their studies (in patient then time order), site, age, sex, race and view."""
    n = cfg.n
    lam = cfg.reports_per_patient - 1.0
    counts = np.empty(0, dtype=np.int64)
    while counts.sum() < n:
        m = int(n / cfg.reports_per_patient * 1.1) + 16
        counts = np.concatenate([counts, 1 + rng.poisson(lam, size=m)])
    cum = np.cumsum(counts)
    n_pat = int(np.searchsorted(cum, n) + 1)
    counts = counts[:n_pat].copy()
    counts[-1] -= int(cum[n_pat - 1] - n)
    patient = np.repeat(np.arange(n_pat), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    seq = np.arange(n) - starts[patient]

    n_sites = len(site_w)
    home = rng.choice(n_sites, size=n_pat, p=site_w)
    sex = (rng.random(n_pat) < 0.49).astype(np.int64)  # 0 = F, 1 = M
    race = np.empty(n_pat, dtype=np.int64)
    u = rng.random(n_pat)
    cum_r = np.cumsum(race_w, axis=1)
    for s in range(n_sites):
        idx = home == s
        race[idx] = np.minimum(np.searchsorted(cum_r[s], u[idx], side="right"), len(RACES) - 1)
    older = rng.random(n_pat) < 0.6
    age0 = np.where(older, rng.normal(66, 13, n_pat), rng.normal(44, 14, n_pat))
    age0 = np.clip(age0, 18, 93)
    gaps = rng.exponential(0.6, size=n) * (seq > 0)
    # cumulative gap per patient
    cg = np.cumsum(gaps)
    cg = cg - cg[starts][patient]
    age = np.clip(np.floor(age0[patient] + cg), 18, 95)

    site = home[patient].copy()
    moved = (seq > 0) & (rng.random(n) < 0.05)
    site[moved] = rng.choice(n_sites, size=int(moved.sum()), p=site_w)
    age_group = np.searchsorted(np.array([40, 60, 80]), age, side="right")
    return {
        "n_patients": n_pat,
        "patient": patient,
        "seq": seq,
        "site": site,
        "age": age,
        "age_group": age_group,
        "sex": sex[patient],
        "race": race[patient],
        "view_u": rng.random(n),
    }


def _truth(demo: dict[str, Any], styles: list[_Style], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Hidden 0/1 truth (n, 14) and the latent ICU state, persistent along each patient's studies."""
    n = len(demo["age"])
    site = demo["site"]
    seq = demo["seq"]
    a = (demo["age"] - 60.0) / 10.0
    male = demo["sex"].astype(float)
    icu_p = np.array([s.icu for s in styles])[site] * np.clip(1.0 + 0.15 * a, 0.5, 1.6)
    icu = rng.random(n) < icu_p
    # An inpatient stay spans consecutive studies.
    keep = rng.random(n) < 0.6
    for j in range(1, int(seq.max()) + 1):
        idx = np.flatnonzero(seq == j)
        icu[idx] = np.where(keep[idx], icu[idx - 1], icu[idx])
    icu_f = icu.astype(float)
    hf = rng.random(n) < _logistic(-2.2 + 0.45 * a + 0.8 * icu_f)
    inf = rng.random(n) < _logistic(-2.4 + 0.1 * a + 0.9 * icu_f)
    X = np.stack([np.ones(n), a, male, hf.astype(float), inf.astype(float), icu_f], axis=1)
    logit = X @ _COEF.T + np.array([s.offsets for s in styles])[site]
    t = rng.random((n, _NFIND)) < _logistic(logit)

    # Co-occurrence beyond the shared latent states.
    u = rng.random((n, 4))
    t[:, OP] |= t[:, PNA] & (u[:, 0] < 0.6)
    t[:, CONS] |= t[:, PNA] & (u[:, 1] < 0.35)
    t[:, CM] |= t[:, ED] & (u[:, 2] < 0.35)
    t[:, EFF] |= t[:, ED] & (u[:, 3] < 0.3)

    # Chronic findings persist from the previous study; acute ones mostly come and go.
    carry = rng.random((n, _NFIND)) < _PERSIST
    for j in range(1, int(seq.max()) + 1):
        idx = np.flatnonzero(seq == j)
        t[idx] = np.where(carry[idx], t[idx - 1], t[idx])
    t[:, NF] = ~t[:, 1:SD].any(axis=1)
    return t.astype(np.int8), icu


def _mention_states(truth: np.ndarray, site: np.ndarray, styles: list[_Style], rng: np.random.Generator) -> np.ndarray:
    n = len(truth)
    hm = np.array([s.hedge_mult for s in styles])[site][:, None]
    nm = np.array([s.neg_mult for s in styles])[site][:, None]
    u = rng.random((n, _NFIND))
    pos = truth == 1
    state = np.where(pos, np.where(u < _HEDGE_POS * hm, _HEDGE, _POS), _ABSENT).astype(np.int8)
    h_neg = _HEDGE_NEG * hm
    neg_p = np.minimum(_NEG_RATE * nm, 0.95)
    state[~pos & (u < h_neg)] = _HEDGE
    state[~pos & (u >= h_neg) & (u < h_neg + neg_p)] = _NEG
    state[:, NF] = _ABSENT
    return state


def _apply_bias(
    cfg: ChestSynthConfig,
    state: np.ndarray,
    truth: np.ndarray,
    demo: dict[str, Any],
    sites: list[str],
    rng: np.random.Generator,
) -> tuple[np.ndarray, int, int]:
    n = len(truth)
    if cfg.bias_finding is None:
        return np.zeros(n, dtype=bool), 0, 0
    f = CHEXPERT14.index(cfg.bias_finding)
    scope = np.ones(n, dtype=bool)
    if cfg.bias_site is not None:
        scope &= demo["site"] == sites.index(cfg.bias_site)
    if cfg.bias_group is not None:
        col, val = cfg.bias_group
        scope &= demo[col] == GROUP_COLUMNS[col].index(val)
    u = rng.random((n, 2))
    hit = scope & (truth[:, f] == 1) & (u[:, 0] < cfg.bias_rate)
    omit = hit & (u[:, 1] < 0.5)
    neg = hit & ~omit
    state[omit, f] = _ABSENT
    state[neg, f] = _NEG
    return scope, int(omit.sum()), int(neg.sum())


def _apply_noise(rate: float, state: np.ndarray, truth: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
    n = len(truth)
    if rate <= 0:
        return 0, 0
    u = rng.random((n, 2))
    keys = rng.random((n, _NFIND))
    event = u[:, 0] < rate
    pos = truth[:, 1:] == 1
    has_pos = pos.any(axis=1)
    has_neg = (~pos).any(axis=1)
    commit = event & has_neg & (~has_pos | (u[:, 1] < 0.5))
    omit = event & ~commit
    # Uniform choice among allowed columns: the allowed column with the largest random key.
    k_neg = np.where(~pos, keys[:, 1:], -1.0).argmax(axis=1) + 1
    k_pos = np.where(pos, keys[:, 1:], -1.0).argmax(axis=1) + 1
    rows = np.flatnonzero(commit)
    state[rows, k_neg[rows]] = _FALSE
    rows = np.flatnonzero(omit)
    state[rows, k_pos[rows]] = _ABSENT
    return int(omit.sum()), int(commit.sum())


def _write_reports(
    cfg: ChestSynthConfig,
    demo: dict[str, Any],
    truth: np.ndarray,
    state: np.ndarray,
    icu: np.ndarray,
    styles: list[_Style],
    R: random.Random,
) -> dict[str, np.ndarray]:
    """Write the four sections of every report, in patient/time order; ``state`` gets the final wording."""
    n = len(truth)
    W = ReportWriter(R, cfg.typo_scale)
    out_f = np.empty(n, dtype=object)
    out_i = np.empty(n, dtype=object)
    out_ind = np.empty(n, dtype=object)
    out_c = np.empty(n, dtype=object)
    seq = demo["seq"].tolist()
    site = demo["site"].tolist()
    view = demo["view"].tolist()
    sex = demo["sex"].tolist()
    age = demo["age"].astype(int).tolist()
    icu_l = icu.tolist()
    truth_l = truth.tolist()
    state_l = state.tolist()
    bits = _bits_table()
    w = 1 << np.arange(_NFIND, dtype=np.int64)
    w[NF] = 0
    # Attributes (side, size, ...) are needed for what is present or stated present, not for negations.
    need_l = (((truth == 1) | (state == _HEDGE) | (state == _FALSE)) @ w).tolist()
    # One lung location per study shared by its opacity, consolidation and pneumonia.
    lung_locs = np.searchsorted(np.array(_LOC_W_INF_C), _uniforms(R, n), side="right")
    lung_locs = lung_locs.clip(0, len(_LOCS) - 1).tolist()
    attrs: dict[int, dict[str, Any]] = {}
    prev_t: list[int] | None = None
    r = R.random
    for k in range(n):
        st = styles[site[k]]
        t = truth_l[k]
        s = state_l[k]
        if seq[k] == 0:
            attrs = {}
            prev_t = None
        has_prior = prev_t is not None
        comp = has_prior and r() < st.comparison_rate
        # Attributes: kept from the prior when the finding persists, so "unchanged small left effusion"
        # describes the same effusion.
        lung_loc = lung_locs[k]
        for f in bits[need_l[k]]:
            if t[f]:
                if prev_t is not None and prev_t[f] and f in attrs:
                    continue
            elif f in attrs:
                continue  # keep the prior's attributes (for "interval resolution of the left effusion")
            attrs[f] = W.draw_attrs(f, lung_loc, icu_l[k])
        findings, impression, final = _compose(W, st, s, t, prev_t if comp else None, attrs, r, view[k])
        if st.upper and r() < st.upper:
            findings = findings.upper() if findings else findings
            impression = impression.upper()
        out_f[k], out_i[k] = findings, impression
        state_l[k] = final
        out_ind[k] = _indication(W, st, t, prev_t, age[k], sex[k], r) if r() < st.indication_rate else None
        out_c[k] = _comparison(W, st, prev_t, comp, r)
        prev_t = t
    state[:] = np.array(state_l, dtype=state.dtype)
    # A report needs text in findings or impression; _compose guarantees the impression.
    return {"findings": out_f, "impression": out_i, "indication": out_ind, "comparison": out_c}


_LUNG = (OP, CONS, PNA, ED, ATEL, LES)
_PLEURA = (EFF, PTX, PLO)
_HEART = (CM, ECM)
_CHRONIC_OK = (PLO, LES, FX, CM)
_VERSUS = ((ATEL, PNA), (ATEL, CONS), (ED, PNA), (EFF, PLO), (ATEL, OP))
#: Order of statements in a report: devices, lungs, pleura, heart and mediastinum, bones.
_ORDER = (SD, *_LUNG, *_PLEURA, *_HEART, FX)
_RANK = {f: i for i, f in enumerate(_ORDER)}
_GROUP_OF = {
    SD: "lines",
    FX: "bones",
    **{f: "lungs" for f in _LUNG},
    **{f: "pleura" for f in _PLEURA},
    **{f: "heart" for f in _HEART},
}


@functools.lru_cache(maxsize=1)
def _bits_table() -> tuple[tuple[int, ...], ...]:
    """For every bit mask over the 14 findings, its findings in report order (built once, on first use)."""
    return tuple(tuple(f for f in _ORDER if m >> f & 1) for m in range(1 << _NFIND))


def _change(f: int, prev: list[int] | None, r: Any) -> str:
    if prev is None:
        return ""
    u = r()
    if prev[f]:
        if u < 0.45:
            return "same"
        if u < 0.55:
            return "better"
        if u < 0.62:
            return "worse"
        return ""
    return "new" if u < 0.4 else ""


def _compose(
    W: ReportWriter,
    st: _Style,
    s: list[int],
    t: list[int],
    prev: list[int] | None,
    attrs: dict[int, dict[str, Any]],
    r: Any,
    view: int,
) -> tuple[str | None, str, list[int]]:
    """Findings, impression and the final mention states of one report from its mention states ``s``."""
    R = W.R
    s = list(s)
    # "X versus Y": when one of a pair is hedged, sometimes hedge its partner too (if not otherwise said).
    vs_pair: tuple[int, int] | None = None
    for a_, b_ in _VERSUS if _HEDGE in s else ():
        if (s[a_] == _HEDGE or s[b_] == _HEDGE) and r() < 0.3:
            other = b_ if s[a_] == _HEDGE else a_
            if s[other] in (_ABSENT, _NEG, _HEDGE):
                s[other] = _HEDGE
                vs_pair = (a_, b_)
                if other not in attrs:
                    attrs[other] = W.draw_attrs(other, attrs.get(a_ if other == b_ else b_, {}).get("loc", 8), False)
                break
    # Resolution statements: a finding on the prior that is gone now.
    resolved: list[int] = []
    if prev is not None:
        for f in range(1, _NFIND):
            if prev[f] and not t[f] and s[f] in (_ABSENT, _NEG) and r() < 0.55:
                resolved.append(f)
                s[f] = _NEG
    positives: list[int] = []
    hedges: list[int] = []
    negs: list[int] = []
    for f in _ORDER:
        v = s[f]
        if v == _ABSENT:
            continue
        if v in (_POS, _FALSE):
            positives.append(f)
        elif v == _HEDGE:
            hedges.append(f)
        elif f not in resolved:
            negs.append(f)
    said_nondevice = [f for f in positives + hedges if f != SD]
    acute = [f for f in said_nondevice if f not in _CHRONIC_OK or (f == FX and not attrs[f]["old"])]
    if prev is not None:  # a cardiomegaly on the prior is "stable", i.e. chronic
        acute += [f for f in said_nondevice if f == CM and not prev[CM]]

    has_findings = R.random() < st.findings_rate
    said_groups = {_GROUP_OF[f] for f in said_nondevice}
    W.leads = tuple(g for g in ("lungs", "pleura") if g not in said_groups)
    # Clauses per finding (full form for the findings section).
    full: dict[int, str] = {}
    for f in positives:
        full[f] = W.positive(f, attrs[f], st, False, _change(f, prev, r))
    hedged_onto: set[int] = set()  # positive clauses that already carry a hedge for another finding
    for f in hedges:
        if vs_pair and f in vs_pair:
            continue
        loc = attrs.get(f, {}).get("loc")
        if f in (CONS, PNA) and s[OP] in _SAYS_POSITIVE and OP in full and r() < 0.6:
            # "right lower lobe opacity, which may represent pneumonia"
            link = R.choice((", which may represent ", ", possibly ", ", concerning for "))
            full[OP] = full[OP] + link + W.hedge_term(f, None, st)
            full[f] = ""
            hedged_onto.add(OP)
        else:
            full[f] = W.hedged(f, attrs.get(f), st, loc)
    if vs_pair:
        a_, b_ = vs_pair
        ta = _bare(W.hedge_term(a_, None, st))
        tb = _bare(W.hedge_term(b_, None, st))
        loc = attrs.get(a_, {}).get("loc", attrs.get(b_, {}).get("loc"))
        where = f" {W.loc(loc, st, True)}" if loc is not None else ""
        u = r()
        if u < 0.4:
            full[a_] = f"{ta} versus {tb}{where}"
        elif u < 0.6:
            full[a_] = f"{ta} vs {tb}{where}"
        elif u < 0.8:
            full[a_] = f"differential includes {ta} and {tb}"
        else:
            full[a_] = f"findings{where} may reflect {ta} or {tb}"
        full[b_] = ""
    # Pneumonia stated with its opacity/consolidation: "left lower lobe opacity consistent with pneumonia".
    if s[PNA] in _SAYS_POSITIVE and r() < 0.4:
        for g in (CONS, OP):
            if s[g] in _SAYS_POSITIVE and full.get(g) and g not in hedged_onto:
                full[g] += R.choice((" consistent with", " compatible with", " representing")) + " pneumonia"
                full[PNA] = ""
                break
    res_clauses = [W.resolution(f, attrs.get(f), st) for f in resolved]
    said_order = sorted(full, key=_RANK.__getitem__)
    findings_sents: list[str] = []
    imp_items: list[str] = []

    normal_phrase = _normal_phrase(W, st, s)
    if has_findings:
        findings_sents = _findings_section(W, st, full, said_order, negs, res_clauses, said_groups, view)
        # Impression: the said findings in short form (or "As above"), else a normal phrase.
        items: list[str] = []
        for f in said_order:
            if not full[f] and not (vs_pair and f == vs_pair[0]):
                continue
            if f in positives and (st.impression_heavy or f != SD and r() < 0.75 or f == SD and r() < 0.25):
                items.append(W.positive(f, attrs[f], st, True, _change(f, prev, r)))
            elif f in hedges and f in full and full[f]:
                items.append(full[f] if r() < 0.6 else W.hedged(f, attrs.get(f), st, attrs.get(f, {}).get("loc")))
        mentioned_in_findings_only = said_nondevice and not items
        if mentioned_in_findings_only:
            imp_items = [R.choice(("As above.", "See findings.", "As described above."))]
        elif not acute and (not said_nondevice or r() < 0.5):
            imp_items = [normal_phrase] + [W.sentence(x, st) for x in items]
        else:
            imp_items = [W.sentence(x, st) for x in items]
        if st.impression_heavy and negs and r() < 0.3:
            imp_items += W.negation_sentences(negs[:2], st)
        if res_clauses and r() < 0.3:
            imp_items.append(W.sentence(res_clauses[0], st))
        if not imp_items:
            imp_items = [normal_phrase]
    else:
        # Impression only: every statement lives here.
        body = [W.sentence(full[f], st) for f in said_order if full[f]]
        body += [W.sentence(c, st) for c in res_clauses]
        if not acute and (not said_nondevice or r() < 0.5):
            body.insert(0, normal_phrase)
        body += W.negation_sentences(negs, st)
        imp_items = body or [normal_phrase]

    impression = _join_impression(imp_items, st, r)
    findings = " ".join(findings_sents) if has_findings else None
    return findings, impression, s


def _normal_phrase(W: ReportWriter, st: _Style, s: list[int]) -> str:
    R = W.R
    if st.kind == "terse":
        return W.pick(_NORMAL_TERSE)
    if st.kind == "template" and st.mask and R.random() < 0.2:
        return W.pick(_NORMAL_TEMPLATE_MASKED)
    if s[SD] not in _SAYS_POSITIVE and R.random() < 0.12:
        return W.pick(_NORMAL_NO_DEVICE)
    return W.pick(_NORMAL_IMPRESSIONS)


def _join_impression(items: list[str], st: _Style, r: Any) -> str:
    items = [x for x in items if x]
    if len(items) > 1 and r() < st.numbered:
        return " ".join(f"{i}. {x}" for i, x in enumerate(items, 1))
    if len(items) == 1 and r() < st.numbered * 0.3:
        return "1. " + items[0]
    return " ".join(items)


def _findings_section(
    W: ReportWriter,
    st: _Style,
    full: dict[int, str],
    said_order: list[int],
    negs: list[int],
    res_clauses: list[str],
    said_groups: set[str],
    view: int,
) -> list[str]:
    R = W.R
    lung_said = "lungs" in said_groups
    heart_said = "heart" in said_groups
    sents_by: dict[str, list[str]] = {"lines": [], "lungs": [], "pleura": [], "heart": [], "bones": []}
    group_of = _GROUP_OF
    for f in said_order:
        c = full[f]
        if c:
            sents_by[group_of[f]].append(W.sentence(c, st))
    res_s = [W.sentence(c, st) for c in res_clauses]
    neg_s = W.negation_sentences(negs, st) if negs else []
    distract = []
    if R.random() < 0.08:
        d = W.pick(_DISTRACTORS)
        distract.append(d.format(loc=_LOCS[int(R.random() * 8)][1]) if "{loc}" in d else d)

    if st.kind == "structured":
        # Negations are distributed into their headers where one fits.
        neg_by: dict[str, list[int]] = {}
        for f in negs:
            neg_by.setdefault(group_of[f], []).append(f)
        parts = []
        if sents_by["lines"] or SD in negs:
            body = sents_by["lines"] or ["None."]
            parts.append("LINES/TUBES: " + " ".join(body))
        defaults = {
            "lungs": ("Clear.", "The lungs are clear."),
            "pleura": ("Normal.", "Unremarkable."),
            "heart": ("Normal size.", "Within normal limits."),
            "bones": ("Unremarkable.", "Intact."),
        }
        hdr = {"lungs": "LUNGS", "pleura": "PLEURA", "heart": "HEART/MEDIASTINUM", "bones": "BONES"}
        for g in ("lungs", "pleura", "heart", "bones"):
            body = list(sents_by[g])
            if g in neg_by:
                body += W.negation_sentences(neg_by[g], st)
            if not body:
                body = [W.pick(defaults[g])] if g not in said_groups else []
            if g == "lungs":
                body += res_s
            if body:
                parts.append(f"{hdr[g]}: " + " ".join(body))
        return parts + distract

    head: list[str] = []
    out: list[str] = []
    if st.kind == "verbose" and R.random() < 0.4:
        head.append(
            W.pick(
                (
                    ("PA and lateral views of the chest were obtained.", "Frontal and lateral views of the chest."),
                    ("Single PA view of the chest.", "PA view of the chest was obtained."),
                    ("Single portable AP view of the chest.", "Portable AP upright view of the chest."),
                )[view]
            )
        )
    if st.kind == "template":
        # Open-i-like macro: heart, mediastinum, lungs, pleura, bones, with normal lines where nothing is said.
        heart_first = ("Heart", "The heart", "Normal heart", "No cardiomegaly")
        out += sents_by["heart"] or [x for x in neg_s if x.startswith(heart_first)]
        out += sents_by["lungs"]
        if not lung_said:
            out.append(W.pick(("The lungs are clear.", "Lungs are clear.", "The lungs are clear bilaterally.")))
        out += sents_by["pleura"]
        out += [x for x in neg_s if x not in out]
        out += sents_by["bones"] + sents_by["lines"] + res_s + distract
        if "bones" not in said_groups and R.random() < 0.3:
            out.append(W.pick(("The visualized osseous structures appear intact.", "No acute bony abnormality.")))
        return head + out
    # verbose / terse: devices first, then lungs, pleura, heart, bones; negations after the positives.
    out += sents_by["lines"] + sents_by["lungs"] + sents_by["pleura"] + sents_by["heart"] + sents_by["bones"]
    out += res_s
    out += neg_s
    if not lung_said and R.random() < 0.6:
        out.insert(
            len(sents_by["lines"]),
            W.pick(("Lungs clear.", "Lungs are clear.") if st.kind == "terse" else ("The lungs are clear.", "The lungs are well expanded and clear.", "Lungs are clear.")),
        )
    if not heart_said and CM not in negs and R.random() < 0.3:
        out.append(
            W.pick(
                ("Heart size nl.", "Cardiomediastinal silhouette stable.")
                if st.kind == "terse"
                else (
                    "The cardiomediastinal silhouette is within normal limits.",
                    "Cardiomediastinal silhouette is unremarkable.",
                )
            )
        )
    out += distract
    if not out:
        out.append(W.pick(("Lungs clear.", "No change.") if st.kind == "terse" else ("The lungs are clear.",)))
    return head + out


def _indication(W: ReportWriter, st: _Style, t: list[int], prev: list[int] | None, age: int, sex: int, r: Any) -> str:
    mask = st.mask_token if st.mask and r() < max(st.mask * 4, 0.3) else None
    sexw = ("female", "male")[sex] if r() < 0.7 else ("woman", "man")[sex]
    who = f"{mask or age}-year-old {sexw}"
    sym = W.pick(_SYMPTOMS)
    # Term asked about: sometimes a present finding, mostly a suspicion that the study may not confirm.
    present = [f for f in (PNA, PTX, ED, EFF, FX, LES, CONS, ATEL) if t[f]]
    if present and r() < 0.3:
        f = present[int(r() * len(present))]
        term = next(x for g, x, _ in _IND_TERMS if g == f)[0]
    else:
        term = W.pick(_IND_TERMS[_cum_pick(_IND_CUM_L, r())][1])
    u = r()
    if u < 0.25:
        return f"{who} with {sym}."
    if u < 0.45:
        return W.sentence(f"{sym}. Evaluate for {term}", st)
    if u < 0.55:
        return f"{sym.capitalize()}, ? {term}"
    if u < 0.63:
        return f"R/O {term}." if st.abbrev > 0.3 else f"Rule out {term}."
    if u < 0.7:
        return f"Eval for {term}."
    if u < 0.78:
        dev = W.pick(("PICC", "ETT", "NGT", "central line", "chest tube", "Dobhoff"))
        return f"s/p {dev} placement, assess position." if r() < 0.5 else f"{dev[0].upper()}{dev[1:]} placement."
    if u < 0.85 and prev is not None:
        return f"Follow-up {term}."
    if u < 0.9:
        return W.pick(("Pre-operative evaluation.", "Preop.", "Routine follow-up.", "Trauma. Evaluate for rib fracture."))
    return f"{who} with {sym}, history of {term}."


def _comparison(W: ReportWriter, st: _Style, prev: list[int] | None, comp: bool, r: Any) -> str | None:
    tok = st.mask_token

    def date() -> str:
        if tok == "XXXX":
            return "XXXX, XXXX" if r() < 0.5 else "XXXX"
        if r() < 0.6:
            return tok
        return W.pick(("3 days earlier", "the prior day", "2 weeks earlier", "earlier the same day"))

    if comp and prev is not None:
        said = [f for f in range(1, SD) if prev[f]]
        if said and r() < 0.4:
            f = said[int(r() * len(said))]
            # The prior's finding is named whether or not it is still there.
            term = W.neg_term(f, st)
            return f"Chest radiograph from {date()}, which showed {term}."
        d = date()
        opts = (
            f"Chest radiograph from {d}.",
            f"Prior study from {d}.",
            f"Comparison is made to the prior exam from {d}.",
        )
        return W.pick(opts + ((f"{d}.",) if d.startswith(tok) else ()))
    if prev is not None:
        return None  # a prior exists but was not compared: the section is left out
    if r() < 0.15:
        # An outside or older prior that is not in the cohort; its finding need not be present now.
        f = 1 + int(r() * (SD - 1))
        return f"Outside chest radiograph from {date()} with {W.neg_term(f, st)}."
    if r() < 0.5:
        return None
    return W.pick(("None.", "None available.", "No prior studies.", "No prior exams for comparison."))


# ----------------------------------------------------------------------------------------------------
# Files and summaries
# ----------------------------------------------------------------------------------------------------


def write_synth_chest(config: ChestSynthConfig | None, out: str | Path) -> tuple[Path, Path]:
    """Write the cohort to ``out`` (``.parquet`` or ``.csv``), the truth to ``<stem>.truth.csv`` and
    ``<stem>.meta.json`` (config and counts, no text) beside it; every file atomically.

    Returns ``(cohort_path, truth_path)``.
    """
    cfg = config if config is not None else ChestSynthConfig()
    out = Path(out)
    if out.suffix.lower() not in (".parquet", ".pq", ".csv"):
        raise InputError(f"{out}: the cohort file must end in .parquet or .csv")
    res = synth_chest_detailed(cfg)
    truth_path = out.with_name(f"{out.stem}.truth.csv")
    meta_path = out.with_name(f"{out.stem}.meta.json")
    frame = res.cohort.frame.copy()
    frame["age"] = frame["age"].astype("Int64")  # whole years; "67" rather than "67.0" in a CSV
    write_table(res.truth.frame, truth_path)
    write_table(frame, out)
    meta = {
        "config": cfg.model_dump(mode="json"),
        "cohort_file": out.name,
        "truth_file": truth_path.name,
        "vocabulary": "chexpert14",
        "truth_source": TRUTH_SOURCE,
        **res.stats,
    }
    write_json(meta, meta_path)
    return out, truth_path


def chest_prevalence(truth: LabelTable, cohort: Cohort | None = None, by: str | None = None) -> dict[str, Any]:
    """Share of positive (== 1) cases per finding; with ``cohort`` and ``by`` (e.g. "site"), per group.

    Returns ``{finding: rate}`` or ``{group: {finding: rate}}``.
    """
    vals = truth.values()
    if by is None:
        return {f: round(float(np.mean(vals[:, i] == 1)), 4) for i, f in enumerate(truth.findings)}
    if cohort is None:
        raise InputError("chest_prevalence: 'by' needs the cohort")
    if by not in cohort.frame.columns:
        raise InputError(f"chest_prevalence: the cohort has no column '{by}'")
    aligned = truth.aligned_to(cohort.case_ids).values()
    groups = cohort.frame[by].astype("string").fillna("unknown").to_numpy()
    out: dict[str, Any] = {}
    for g in sorted(set(groups.tolist())):
        m = groups == g
        out[str(g)] = {f: round(float(np.mean(aligned[m, i] == 1)), 4) for i, f in enumerate(truth.findings)}
    return out
