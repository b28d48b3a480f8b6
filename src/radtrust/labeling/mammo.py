"""Rule-based labeler for mammography reports: BI-RADS assessment, breast density, exam laterality and
per-breast findings (mass, calcification, architectural distortion, asymmetry).

Categories follow the ACR BI-RADS Atlas, 5th edition (D'Orsi et al., 2013): assessment categories 0-6
(4A/4B/4C count as 4; several assessments combine by the Atlas' hierarchy 1 < 2 < 3 < 6 < 0 < 4 < 5) and
breast composition a-d, read from 5th-edition wording, letters or 4th-edition numbers 1-4. Finding
polarity reuses the NegEx-style cue machinery of :mod:`radtrust.labeling.rules` (Chapman et al., 2001)
with a few mammography cues added; only findings, impression and assessment sections make labels.

**Table shape** (the "mammo label table", one row per report; the synthetic truth has the same shape):
``case_id``; ``birads`` (0-6, empty = no assessment found); ``density`` ("A"-"D" or empty);
``laterality`` ("L", "R", "B" or empty); the eight :data:`MAMMO_FINDINGS` columns
(``left_mass`` ... ``right_asymmetry``) with 1 positive, 0 negative, -1 uncertain, empty = not mentioned
(the LabelTable convention, so :func:`mammo_findings_table` turns them into a :class:`LabelTable`); and
``label_source``. The categorical columns cannot live in a LabelTable (it only holds 1/0/-1/empty), which
is why this is a plain DataFrame validated by :func:`normalise_mammo_table`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radtrust.data.io import write_table
from radtrust.data.readers import read_cohort
from radtrust.data.schema import LABEL_SOURCE_COLUMN, Cohort, CohortScrubber, LabelTable
from radtrust.errors import ConfigError, InputError
from radtrust.labeling import patterns as P
from radtrust.labeling import rules
from radtrust.labeling.rules import RuleLabeler, normalise_report_text

__all__ = [
    "MammoLabeler",
    "MAMMO_KINDS",
    "MAMMO_FINDINGS",
    "MAMMO_CATEGORICAL",
    "MAMMO_COLUMNS",
    "BIRADS_HIERARCHY",
    "normalise_mammo_table",
    "mammo_findings_table",
    "mammo_label_file",
    "VERSION",
]

VERSION = "0.1"

#: Finding kinds, in column order within each breast.
MAMMO_KINDS: tuple[str, ...] = ("mass", "calcification", "architectural_distortion", "asymmetry")
#: The eight per-breast finding columns (1/0/-1/empty).
MAMMO_FINDINGS: tuple[str, ...] = tuple(f"{s}_{k}" for s in ("left", "right") for k in MAMMO_KINDS)
MAMMO_CATEGORICAL: tuple[str, ...] = ("birads", "density", "laterality")
MAMMO_COLUMNS: tuple[str, ...] = ("case_id", *MAMMO_CATEGORICAL, *MAMMO_FINDINGS)
DENSITIES: tuple[str, ...] = ("A", "B", "C", "D")
LATERALITIES: tuple[str, ...] = ("L", "R", "B")
#: BI-RADS Atlas 5th ed.: with more than one assessment (per breast, per finding) the overall one is the
#: highest in this order of increasing concern.
BIRADS_HIERARCHY: tuple[int, ...] = (1, 2, 3, 6, 0, 4, 5)
_BIRADS_RANK = {c: i for i, c in enumerate(BIRADS_HIERARCHY)}

POS, UNC, NEG = 1, -1, 0
_RANK = {POS: 3, UNC: 2, NEG: 1}
_L, _R = 0, 1  # breast index: left, right
_BOTH = (_L, _R)


# ----------------------------------------------------------------------------------------------------
# The table shape
# ----------------------------------------------------------------------------------------------------


def normalise_mammo_table(frame: pd.DataFrame, origin: str = "<memory>") -> pd.DataFrame:
    """Validate a mammo label table and give its columns their dtypes (one-line InputError otherwise).

    ``birads`` becomes nullable Int8, ``density``/``laterality`` upper-case strings, the finding columns
    nullable Int8; ``label_source`` is kept when present.
    """
    missing = [c for c in MAMMO_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{origin}: missing column(s): {', '.join(missing)}")
    if len(frame) == 0:
        raise InputError(f"{origin}: the label table is empty (no rows)")
    cols = list(MAMMO_COLUMNS) + ([LABEL_SOURCE_COLUMN] if LABEL_SOURCE_COLUMN in frame.columns else [])
    out = frame[cols].copy().reset_index(drop=True)
    out["case_id"] = out["case_id"].astype("string").str.strip()
    bad = out["case_id"].isna() | (out["case_id"] == "")
    if bad.any():
        raise InputError(f"{origin}: row {int(np.flatnonzero(bad.to_numpy())[0]) + 1}: empty case id")
    dup = out["case_id"].duplicated()
    if dup.any():
        raise InputError(f"{origin}: row {int(np.flatnonzero(dup.to_numpy())[0]) + 1}: duplicate case id")

    def check(col: str, bad_mask: pd.Series, what: str) -> None:
        if bad_mask.any():
            row = int(np.flatnonzero(bad_mask.to_numpy())[0]) + 1
            raise InputError(f"{origin}: row {row}, column '{col}': {what}")

    num = pd.to_numeric(out["birads"], errors="coerce")
    check("birads", (out["birads"].notna() & num.isna()) | (num.notna() & ~num.isin(range(7))), "must be 0-6 or empty")
    out["birads"] = num.astype("Int8")
    for col, allowed in (("density", DENSITIES), ("laterality", LATERALITIES)):
        s = out[col].astype("string").str.strip().str.upper().replace("", pd.NA)
        check(col, s.notna() & ~s.isin(allowed), f"must be one of {'/'.join(allowed)} or empty")
        out[col] = s
    for col in MAMMO_FINDINGS:
        num = pd.to_numeric(out[col], errors="coerce")
        check(col, (out[col].notna() & num.isna()) | (num.notna() & ~num.isin((1, 0, -1))), "must be 1, 0, -1 or empty")
        out[col] = num.astype("Int8")
    return out


def mammo_findings_table(frame: pd.DataFrame, source: str | None = None) -> LabelTable:
    """The eight per-breast finding columns of a mammo label table as a :class:`LabelTable`."""
    src = source
    if src is None and LABEL_SOURCE_COLUMN in frame.columns and frame[LABEL_SOURCE_COLUMN].notna().any():
        src = str(frame[LABEL_SOURCE_COLUMN].dropna().iloc[0])
    return LabelTable(frame[["case_id", *MAMMO_FINDINGS]].copy(), list(MAMMO_FINDINGS), src or "unknown")


# ----------------------------------------------------------------------------------------------------
# Patterns (plain data; compiled once, on first use)
# ----------------------------------------------------------------------------------------------------

# Finding mentions, on lower-cased text. Variants tolerate the commonest one-letter typos.
_MENTIONS: tuple[tuple[str, str], ...] = (
    ("architectural_distortion", r"(?:arch\w*\s+)?(?:distort\w*|d\w{1,3}rtion\w*)|arch\w*\s+dis\w+"),
    ("asymmetry", r"(?:(?:focal|global|developing|one[\s-]view)\s+)?(?:as+y?m+e?t\w*|asym\w*|aysm\w*|asmy\w*|aymm\w*)"),
    ("calcification", r"(?:micro)?c(?:a?l?a?c)\w*?if\w*|(?:micro)?calcs?\b|calcium"),
    ("mass", r"mass(?:es)?\b(?!\s+effect)|mas+es\b|msses\b|msas\b"),
)

_SIDE_WORDS = (
    r"\b(?:(?P<b>bilateral(?:ly)?|both\s+(?:breasts?|sides)|either\s+breast|each\s+breast|b/l"
    r"|(?:left|right)\s+and\s+(?:left|right)(?:\s+breasts?)?)"
    r"|(?P<l>left|lt|l(?=\s+(?:breast|axilla)))|(?P<r>right|rt|r(?=\s+(?:breast|axilla)))"
    r"|(?P<lq>l(?:uo|ui|lo|li|o|i)q)|(?P<rq>r(?:uo|ui|lo|li|o|i)q))\b"
)
# A location right after a mention: "in the left breast at 2 o'clock, middle depth, 4 cm from the nipple".
_LOC_ATOM = (
    r"(?:(?:in|at|of|within|on|along|involving|near|from|the|a|an|and|with|to|spanning)\s+)*"
    r"(?:(?:left|right|lt|rt|l|r|bilateral|both|either|each|mid|middle|anterior|posterior|upper|lower|"
    r"outer|inner|central|lateral|medial|superior|inferior|far|deep)\s+)*"
    r"(?:breasts?|quadrants?|axill\w*|axillary\s+tail|tail|third|depth|region|nipple|areola|"
    r"sub-?areolar(?:\s+region)?|retro-?areolar(?:\s+region)?|periareolar|bilaterally|bilateral|"
    r"[lr](?:uo|ui|lo|li|o|i)q|\d{1,2}(?:[:.]\d{2})?\s*(?:o'?\s?clock|o\s?clock|:00)(?:\s+(?:position|axis))?|"
    r"(?:\d+(?:\.\d+)?\s*(?:cm|mm)\s+(?:from\s+(?:the\s+)?nipple|fn|fnd)))"
)
_LOC_SUFFIX = rf"(?:[\s,]+{_LOC_ATOM})+"
_VERBISH = r"(?:\s+(?:is|are|was|were|has|have|been|be|seen|noted|identified|present|visuali[sz]ed|demonstrated|again|also|now|still|appreciated|located|observed|evident|stable|unchanged|persists?|remains?|not|no|longer))*"

# Mammography additions to the chest cue inventory.
_IGNORE_EXTRA = (
    r"\bobscur(?:e|es|ing)\b",
    r"\blower\w*\s+(?:the\s+)?(?:\w+\s+)?sensitivity",
    r"\bpalpable\b",
    r"\bclinical(?:ly)?\s+(?:concern|palpable|finding)",
    r"\b(?:patient|pt)\s+(?:reports?|complains?|notes?|presents?|describes?|feels?)\b",
    r"\b(?:prior|previous|remote|earlier)\s+(?:\w+\s+){0,2}?(?:biops\w*|excision\w*|lumpectom\w*|surgery)\s+(?:of|for)\b",
    r"\bfollow[\s-]?up\s+of\b",
)
#: In mammography these are lexicon descriptors ("indeterminate calcifications"), not hedges.
_NOT_HEDGES = r"(?!(?:indeterminate|equivocal)\b)"
_SCOPE_EXTRA = (r"\b(?:correspond\w*|correlat\w*)\b",)

_SECTION = (
    r"(?:^|(?<=[\s.;]))(?P<name>findings?|impressions?|conclusions?|summary|opinion|diagnosis|"
    r"(?:final\s+|overall\s+)?(?:bi-?\s?rads\s+)?assessments?(?:\s+category)?|bi-?\s?rads(?:\s+category)?|"
    r"(?:breast\s+)?(?:composition|density|tissue\s+density)|"
    r"indications?|clinical\s+(?:history|indications?|information|data|details)|(?:medical\s+|surgical\s+|family\s+)?history|"
    r"reason\s+for\s+(?:exam(?:ination)?|study|request)|comparisons?|priors?|"
    r"technique|examination|exam|procedure|study|views?|recommendations?|recs?|notes?|addendum)\s*:"
)

_BIRADS_NUM = (
    r"\b(?:acr\s+)?bi-?\s?rads\s*®?[\s:=#\-–(]*"
    r"(?:(?:final|overall)\s+)?(?:assessment\s*)?(?:category|cat\.?)?[\s:=#\-–(]*"
    r"(?P<n1>[0-6])(?P<s1>[abc])?(?!\d|\.\d)(?!\s*(?:mm|cm|%))"
    r"|\b(?:assessment\s+)?(?:category|cat\.?)\s*[:#\-–]?\s*(?P<n2>[0-6])(?P<s2>[abc])?(?!\d|\.\d)"
    r"(?!\s*(?:breast\s+)?(?:density|composition|dense))"
)
_BIRADS_PRIOR = r"(?:prior|previous(?:ly)?|last|earlier|outside|former|follow[\s-]?up\s+of|f/u\s+of|was)\W+(?:\w+\W+){0,4}$"
_BIRADS_WORDS: tuple[tuple[int, str], ...] = (
    (6, r"known\s+(?:biopsy[\s-]+proven\s+)?malignan\w*|biopsy[\s-]+proven\s+malignan\w*"),
    (5, r"highly\s+suggestive\s+of\s+malignan\w*"),
    (0, r"incomplete|(?:needs?|need\s+for|requires?)\s+additional\s+imaging|additional\s+imaging\s+(?:evaluation\s+)?(?:is\s+)?(?:needed|required|recommended)|recall(?:ed)?\s+for\s+additional"),
    (4, r"suspicious(?:\s+(?:abnormality|findings?|for\s+malignancy))?|biopsy\s+(?:is\s+|should\s+be\s+)?(?:recommended|considered|advised)"),
    (3, r"probably\s+benign"),
    (2, r"benign(?:\s+findings?)?"),
    (1, r"negative(?:\s+(?:mammogram|study|exam(?:ination)?|screening))?|no\s+mammographic\s+evidence\s+of\s+malignancy"),
)
# Assessment words count only right after an assessment label, or as a whole short statement.
_BIRADS_WORD_CONTEXT = r"(?:assessment|impression|bi-?\s?rads|category|overall|conclusion)\s*[:\-–]?\s*(?:is\s+)?(?:\(|\s)*$"

_SEP = r"\s*[:=\-–]?\s*"
_DENSITY_LETTER = (
    rf"\b(?:acr|bi-?\s?rads){_SEP}(?:breast\s+)?(?:density|composition)?{_SEP}(?:category|type|cat\.?|grade)?{_SEP}\(?\s*(?P<a>[a-d])(?![\w'])"
    rf"|\b(?:breast\s+)?(?:density|composition){_SEP}(?:category|type|cat\.?|grade|is|of)?{_SEP}\(?\s*(?:acr\s*)?(?P<b>[a-d])(?=\s*(?:[.,;:)\-–]|$|\s(?:category|density|composition|type|breast)))"
    r"|\b(?:category|type|grade|cat\.?)\s*(?P<c>[a-d])\s+(?:breast\s+)?(?:density|composition)"
)
_DENSITY_NUMBER = (
    rf"\b(?:breast\s+|bi-?\s?rads\s+|acr\s+)?(?:density|composition){_SEP}(?:category|type|cat\.?|grade)?{_SEP}\(?\s*(?P<a>[1-4])(?!\d|\.\d)(?!\s*(?:mm|cm|%|o'?clock))"
    r"|\b(?:category|type|grade|cat\.?)\s*(?P<b>[1-4])\s+(?:breast\s+)?(?:density|composition)"
)
_DENSE = r"(?:dense|dnse|dese|dnese|desne)\b"  # with the one-letter slips a typist makes
_DENSITY_WORDS: tuple[tuple[str, str], ...] = (
    ("D", rf"\b(?:ext\w*|etx\w*|e\w{{4,}}ely)\s+{_DENSE}"),
    ("C", rf"\b(?:het\w*|hte\w*|h\w{{5,}}ously|h\w+geneous\w*)\s+(?:{_DENSE}|densit\w*|fibroglandular)"),
    ("B", r"\b(?:sca\w*|sact\w*|s\w{4,}ed)\s+(?:\w+\s+){0,2}?(?:fib\w*|fbi\w*|f\w+ular)\s*(?:dens\w*|tis\w*|parench\w*)?"),
    ("A", r"\b(?:(?:alm\w*|nearly)\s+)?(?:ent\w*|e\w{3,}ly|pred\w*|mos\w*|lar\w*|comp\w*|pri\w*)\s+f[a-z]{2,5}\b(?<!fibro)|\bfatty[\s-]+replac\w*|\bfat[\s-]+replaced"),
)

_EXAM_SIDE = (
    r"\b(?P<b>bilateral|bilat|bil|both|b/l)\b|\b(?P<l>left|lt|l(?=\s*(?:breast|cc|mlo|ml|xccl|diag|screen|mammo)))\b"
    r"|\b(?P<r>right|rt|r(?=\s*(?:breast|cc|mlo|ml|xccl|diag|screen|mammo)))\b|\b(?P<lv>l)(?:cc|mlo|ml|xccl|m)\b|\b(?P<rv>r)(?:cc|mlo|ml|xccl|m)\b"
)
# Side words that name an operation or history, not the imaged breast.
_SURGICAL_SIDE = (
    r"(?:s/p|status\s+post|post|history\s+of|h/o|prior|previous|remote)\s+(?:\w+\s+){0,2}?(?:left|right|lt|rt|bilateral)\s+(?:\w+\s+)?\w*(?:ectom\w*|surgery|cancer|carcinoma|reconstruction|implant\w*)"
    r"|(?:left|right|lt|rt|bilateral)\s+(?:radical\s+|modified\s+radical\s+|simple\s+|total\s+|skin[\s-]sparing\s+)?mastectom\w*"
)
_EXAM_IN_TEXT = (
    r"(?:(?P<s1>left|right|bilateral|both|lt|rt|bil)\s+(?:\w+\s+){0,4}?(?:mammogra\w*|views?|tomosynthesis|imaging|breast\s+imaging))"
    r"|(?:(?:views?|mammogra\w*|tomosynthesis|images?|imaging)\s+(?:\w+\s+){0,3}?of\s+(?:the\s+)?(?P<s2>left|right|both|bilateral)\b)"
    r"|\b(?P<v>[lr])(?:cc|mlo|ml|xccl)\b"
)
_HEADER_ONLY = r"^[\s\-*]*(?:the\s+)?(?P<side>left|right|lt|rt|l|r|bilateral|both)(?:\s+breasts?)?\s*[:\-–]?\s*$"


class _Compiled:
    """Everything compiled, once per process on first use: the chest labeler's cue regexes, extended."""

    def __init__(self) -> None:

        base = rules._compiled()
        # The chest labeler's cue engine reads these attributes; a shallow copy shares the compiled
        # sentence splitter, post-cues and hedge checks, and the mammography cues replace ``pre``.
        self.cues = copy.copy(base)
        self.cues.pre = re.compile(
            "|".join(
                [
                    "(?P<pseudo>" + "|".join(P.PSEUDO_NEGATION) + ")",
                    "(?P<unc>" + _NOT_HEDGES + "(?:" + "|".join(P.UNCERTAINTY_PRE) + "))",
                    "(?P<likely>" + "|".join(P.LIKELY_PRE) + ")",
                    "(?P<ignore>" + "|".join((*P.IGNORE_PRE, *_IGNORE_EXTRA)) + ")",
                    "(?P<neg>" + "|".join(P.NEGATION_PRE) + ")",
                ]
            )
        )
        self.cues.scope_break = re.compile("|".join(f"(?:{p})" for p in (*P.SCOPE_BREAK, *_SCOPE_EXTRA)))
        self.phrases = tuple(P.Phrase(p, (k,)) for k, p in _MENTIONS)
        self.mention = re.compile(r"\b(?:" + "|".join(f"(?P<m{i}>{ph.pattern})" for i, ph in enumerate(self.phrases)) + ")")
        self.kind_of = {f"m{i}": MAMMO_KINDS.index(k) for i, (k, _) in enumerate(_MENTIONS)}
        self.phrase_of = {f"m{i}": ph for i, ph in enumerate(self.phrases)}
        self.side = re.compile(_SIDE_WORDS)
        self.loc_suffix = re.compile(_LOC_SUFFIX)
        self.verb_loc_suffix = re.compile(_VERBISH + _LOC_SUFFIX)
        self.adj_side = re.compile(_SIDE_WORDS + r"(?:\s+breast)?(?:[\s,-]+(?!(?:in|at|on|of|and|or|is|are|was|were|with|without|no|not|there|the|a|an)\b)[a-z0-9.'/-]+){0,5}[\s,-]*$")
        self.section = re.compile(_SECTION)
        self.birads_num = re.compile(_BIRADS_NUM)
        self.birads_prior = re.compile(_BIRADS_PRIOR)
        self.birads_words = [(v, re.compile(rf"\b(?:{p})\b")) for v, p in _BIRADS_WORDS]
        self.birads_word_context = re.compile(_BIRADS_WORD_CONTEXT)
        self.density_letter = re.compile(_DENSITY_LETTER)
        self.density_number = re.compile(_DENSITY_NUMBER)
        self.density_words = [(v, re.compile(p)) for v, p in _DENSITY_WORDS]
        self.exam_side = re.compile(_EXAM_SIDE)
        self.surgical_side = re.compile(_SURGICAL_SIDE)
        self.exam_in_text = re.compile(_EXAM_IN_TEXT)
        self.header_only = re.compile(_HEADER_ONLY)
        self.screening = re.compile(r"\bscreen\w*")
        self.sentence_start = re.compile(r"^[\s\d.)*-]*")
        self.statement_end = re.compile(r"[\s.]*(?:$|\(|bi|cat|-|–|:)")
        self.negated_word = re.compile(r"\bno\s+(?:\w+\s+)?$")
        self.density_before = re.compile(r"(?:density|composition|dense)\W*$")


@lru_cache(maxsize=1)
def _compiled() -> _Compiled:
    return _Compiled()


def _section_kind(name: str) -> str:
    if name.startswith(("finding", "impression", "conclusion", "summary", "opinion", "diagnosis")):
        return "findings" if name.startswith("finding") else "impression"
    if "assessment" in name or "rads" in name:
        return "assessment"
    if name.startswith(("composition", "density", "breast", "tissue")):
        return "density"
    if name.startswith(("technique", "exam", "procedure", "study", "view")):
        return "exam"
    return "skip"  # indication, history, comparison, recommendation, notes


def _side_of_match(m: re.Match) -> tuple[int, ...]:
    """Breasts named by one match of the side-word pattern (its named group says which)."""
    g = m.lastgroup
    return _BOTH if g == "b" else ((_L,) if g in ("l", "lq") else (_R,))


def _sides_of(text: str, c: _Compiled) -> set[int]:
    out: set[int] = set()
    for m in c.side.finditer(text):
        out.update(_side_of_match(m))
    return out


class MammoLabeler:
    """Label mammography reports: BI-RADS (0-6), density (A-D), laterality (L/R/B), per-breast findings.

    Parameters
    ----------
    likely_as:
        How strong hedges ("probably benign mass", "likely calcifications") are labelled: ``"positive"``
        (1, default: the finding is there, only its meaning is weighed) or ``"uncertain"`` (-1).
    max_cue_distance:
        Most words between a cue and the (first) mention it governs.
    exam_column:
        Cohort column holding the exam description ("MAMMO DIAG LT W/TOMO"); read for laterality when
        present. Exam/technique sections inside the text are read too.

    :meth:`label` returns the mammo label table described in the module docstring. Nothing is compiled
    until the first call; compiled patterns are shared by all instances.
    """

    def __init__(self, *, likely_as: str = "positive", max_cue_distance: int = 6, exam_column: str = "exam") -> None:

        if likely_as not in ("uncertain", "positive"):
            raise ConfigError(f"likely_as must be 'uncertain' or 'positive', not '{likely_as}'")
        if max_cue_distance < 0:
            raise ConfigError("max_cue_distance must be >= 0")
        self.likely_as = likely_as
        self.max_cue_distance = max_cue_distance
        self.exam_column = exam_column
        # The chest labeler supplies the cue logic (pre/post cues, scope, coordination, decision).
        self._engine = RuleLabeler("chexpert14", likely_as=likely_as, max_cue_distance=max_cue_distance)
        self._cache: dict[str, tuple] = {}

    @property
    def label_source(self) -> str:
        return f"radtrust-mammo@{VERSION}"

    # ---------------------------------------------------------------- public API

    def label(self, cohort: Cohort) -> pd.DataFrame:
        """Label every report of a cohort (findings + impression, or the ``text`` column)."""
        texts = cohort.texts(("findings", "impression", "text"))
        exams = None
        if self.exam_column in cohort.frame.columns:
            exams = cohort.frame[self.exam_column].astype("string").fillna("").tolist()
        out = self.label_texts(texts, exams)
        out.insert(0, "case_id", cohort.case_ids)
        out[LABEL_SOURCE_COLUMN] = self.label_source
        return out

    def label_texts(self, texts: Sequence[str], exams: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per text: the categorical columns and the eight finding columns (no case id)."""
        c = _compiled()
        rows = []
        for i, text in enumerate(texts):
            exam = exams[i] if exams is not None else None
            rows.append(self.label_report("" if text is None or text != text else str(text), exam, c))
        frame = pd.DataFrame(rows, columns=[*MAMMO_CATEGORICAL, *MAMMO_FINDINGS])
        frame["birads"] = pd.array(frame["birads"], dtype="Int8")
        for col in ("density", "laterality"):
            frame[col] = frame[col].astype("string")
        for col in MAMMO_FINDINGS:
            frame[col] = pd.array(frame[col], dtype="Int8")
        return frame

    def label_report(self, text: str, exam: str | None = None, c: _Compiled | None = None) -> dict[str, Any]:
        """Labels of one report as a dict (``birads``, ``density``, ``laterality`` and the findings)."""
        c = c or _compiled()

        t = normalise_report_text(text, c.cues)
        sections = self._sections(t, c)
        exam_parts = [normalise_report_text(exam, c.cues)] if isinstance(exam, str) and exam.strip() else []
        exam_text = " . ".join(exam_parts + [b for k, b in sections if k == "exam"])
        labelled = [(k, b) for k, b in sections if k in ("findings", "impression", "assessment", "density", "pre")]
        laterality = self._exam_laterality(exam_text, c)
        if laterality is None:
            laterality = self._text_laterality(" . ".join(b for k, b in labelled if k in ("findings", "pre")), c)
        entries: list[tuple[int, int, tuple[int, ...] | None, tuple[int, ...] | None]] = []
        sides_named: set[int] = set()
        last: tuple[int, ...] | None = None
        for _, body in labelled:
            last = self._findings(body, entries, last, c)
        for _, _, sides, _ in entries:
            if sides is not None:
                sides_named.update(sides)
        if laterality is None and sides_named:
            laterality = "B" if sides_named == set(_BOTH) else ("L" if _L in sides_named else "R")
        values = self._resolve(entries, laterality)
        if laterality is None and c.screening.search(exam_text + " " + t):
            laterality = "B"
        row: dict[str, Any] = {
            "birads": self._birads(labelled, c),
            "density": self._density(" . ".join(b for _, b in labelled), c),
            "laterality": laterality,
        }
        for b, side in ((_L, "left"), (_R, "right")):
            for k, kind in enumerate(MAMMO_KINDS):
                v = values.get((b, k))
                row[f"{side}_{kind}"] = pd.NA if v is None else v
        return row

    # ---------------------------------------------------------------- sections and categories

    @staticmethod
    def _sections(t: str, c: _Compiled) -> list[tuple[str, str]]:
        heads = list(c.section.finditer(t))
        if not heads:
            return [("pre", t)]
        out = [("pre", t[: heads[0].start()])] if t[: heads[0].start()].strip() else []
        for i, h in enumerate(heads):
            end = heads[i + 1].start() if i + 1 < len(heads) else len(t)
            name = re.sub(r"\s+", " ", h.group("name"))
            kind = _section_kind(name)
            body = t[h.end() : end]
            if kind == "assessment":
                body = name + ": " + body  # keep "bi-rads:" so "bi-rads: 2" still reads as an assessment
            elif kind == "density":
                body = name + ": " + body
            out.append((kind, body))
        return out

    @staticmethod
    def _birads(labelled: list[tuple[str, str]], c: _Compiled) -> int | None:
        # Assessment/impression sections first (numbers, then names); the findings only when they are silent.
        for kinds in (("assessment", "impression"), ("findings", "pre", "density")):
            for reader in (MammoLabeler._birads_numbers, MammoLabeler._birads_names):
                found = [v for kind, body in labelled if kind in kinds for v in reader(kind, body, c)]
                if found:
                    return max(found, key=_BIRADS_RANK.__getitem__)
        return None

    @staticmethod
    def _birads_numbers(kind: str, body: str, c: _Compiled) -> list[int]:
        out = []
        for m in c.birads_num.finditer(body):
            before = body[max(0, m.start() - 60) : m.start()]
            if c.birads_prior.search(before):
                continue  # "prior exam was BI-RADS 3"
            if m.group("n2") is not None and c.density_before.search(before):
                continue  # "breast density: category 3"
            out.append(int(m.group("n1") or m.group("n2")))
        return out

    @staticmethod
    def _birads_names(kind: str, body: str, c: _Compiled) -> list[int]:
        out = []
        for v, rx in c.birads_words:
            for m in rx.finditer(body):
                before = body[max(0, m.start() - 40) : m.start()]
                whole = (
                    kind == "assessment"
                    or c.birads_word_context.search(before)
                    or (c.sentence_start.fullmatch(before[-12:].split(".")[-1]) is not None and c.statement_end.match(body, m.end()) is not None)
                )
                if whole and not c.negated_word.search(before):
                    out.append(v)
        return out

    @staticmethod
    def _density(t: str, c: _Compiled) -> str | None:
        m = c.density_letter.search(t)
        if m:
            return (m.group("a") or m.group("b") or m.group("c")).upper()
        m = c.density_number.search(t)
        if m:
            return DENSITIES[int(m.group("a") or m.group("b")) - 1]
        best: tuple[int, str] | None = None
        for v, rx in c.density_words:
            m = rx.search(t)
            if m and (best is None or m.start() < best[0]):
                best = (m.start(), v)
        return best[1] if best else None

    @staticmethod
    def _side_set_to_laterality(sides: set[str]) -> str | None:
        if "B" in sides or ("L" in sides and "R" in sides):
            return "B"
        if sides:
            return next(iter(sides))
        return None

    def _exam_laterality(self, exam_text: str, c: _Compiled) -> str | None:
        if not exam_text.strip(" ."):
            return None
        t = c.surgical_side.sub(" ", exam_text)
        sides = set()
        for m in c.exam_side.finditer(t):
            g = m.lastgroup
            sides.add("B" if g == "b" else ("L" if g in ("l", "lv") else "R"))
        return self._side_set_to_laterality(sides)

    def _text_laterality(self, t: str, c: _Compiled) -> str | None:
        t = c.surgical_side.sub(" ", t)
        sides = set()
        for m in c.exam_in_text.finditer(t):
            s = m.group("s1") or m.group("s2") or m.group("v")
            if s in ("bilateral", "both", "bil"):
                sides.add("B")
            else:
                sides.add("L" if s[0] == "l" else "R")
        return self._side_set_to_laterality(sides)

    # ---------------------------------------------------------------- findings

    def _findings(self, body: str, entries: list, last: tuple[int, ...] | None, c: _Compiled) -> tuple[int, ...] | None:
        """Append (kind, value, explicit breasts, context breasts) per mention of one section.

        Context: a side header ("RIGHT BREAST:") governs until the section ends; otherwise the breasts
        most recently named (carried over from earlier sections) serve unsided positive mentions.
        Returns the breasts last named, for the next section.
        """

        header: tuple[int, ...] | None = None
        for sent in RuleLabeler._sentences(body, c.cues):
            h = c.header_only.match(sent.rstrip(".:;"))
            if h:
                side = h.group("side")
                header = _BOTH if side in ("bilateral", "both") else ((_L,) if side[0] == "l" else (_R,))
                last = header
                continue
            for kind, value, sides in self._cached(sent, c):
                if sides is None and header is not None:
                    sides = header
                entries.append((kind, value, sides, last))
            if header is None:
                s_sides = _sides_of(sent, c)
                if s_sides:
                    last = tuple(sorted(s_sides))
        return last

    @staticmethod
    def _resolve(entries: list, laterality: str | None) -> dict[tuple[int, int], int]:
        """Per (breast, kind) value; mentions without a stated breast are attributed here.

        A negated unsided mention ("no suspicious calcifications") covers every imaged breast. An asserted
        unsided mention ("suspicious mass" in the impression) refers to the breast where that kind was
        asserted with a side, else to the breast named last, else to the imaged breast(s).
        """
        exam_breasts = {"L": (_L,), "R": (_R,)}.get(laterality or "", _BOTH)
        values: dict[tuple[int, int], int] = {}
        sided_pos: dict[int, set[int]] = {}
        for kind, value, sides, _ in entries:
            if sides is not None and value != NEG:
                sided_pos.setdefault(kind, set()).update(sides)
        for kind, value, sides, ctx in entries:
            if sides is None:
                if value == NEG:
                    sides = exam_breasts
                elif kind in sided_pos:
                    sides = tuple(sorted(sided_pos[kind]))
                else:
                    sides = ctx if ctx is not None else exam_breasts
            for b in sides:
                old = values.get((b, kind))
                if old is None or _RANK[value] > _RANK[old]:
                    values[(b, kind)] = value
        return values

    def _cached(self, sent: str, c: _Compiled) -> tuple:
        found = self._cache.get(sent)
        if found is None:
            found = tuple(self._sentence(sent, c))
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[sent] = found
        return found

    def _sentence(self, t: str, c: _Compiled) -> list[tuple[int, int, tuple[int, ...] | None]]:
        """(kind, value, breasts or None) per mention of one sentence."""
        eng, cues = self._engine, c.cues
        found = list(c.mention.finditer(t))
        if not found:
            return []
        side_hits = [(m.start(), m) for m in c.side.finditer(t)]
        out = []
        i = 0
        while i < len(found):
            j = i
            while j + 1 < len(found):
                gap = t[found[j].end() : found[j + 1].start()]
                if not cues.coord.match(gap) or cues.pre.search(gap):
                    break
                j += 1
            group = found[i : j + 1]
            first, lastm = group[0], group[-1]
            pre = eng._pre_cue(t[: first.start()], cues)
            suffix = t[lastm.end() :]
            post = eng._post_cue(suffix, cues)
            loc = c.loc_suffix.match(suffix)
            if post is None and loc:
                post = eng._post_cue(suffix[loc.end() :], cues)
            sides = self._group_sides(t, first.start(), lastm.end(), side_hits, c)
            for m in group:
                name = m.lastgroup
                assert name is not None  # every alternative of the pattern is a named group
                value, _cue = eng._decide(c.phrase_of[name], m.group(0), pre, post, False, cues)
                if value is not None:
                    out.append((c.kind_of[name], value, sides))
            i = j + 1
        return out

    @staticmethod
    def _group_sides(t: str, start: int, end: int, side_hits: list, c: _Compiled) -> tuple[int, ...] | None:
        # 1. A location right after the mention(s), possibly after a verb: "... is seen in the left breast".
        loc = c.verb_loc_suffix.match(t, end)
        if loc:
            s = _sides_of(loc.group(0), c)
            if s:
                return tuple(sorted(s))
        # 2. A side adjective in the noun phrase: "left breast 8 mm irregular mass".
        adj = c.adj_side.search(t[max(0, start - 80) : start])
        if adj:
            return _side_of_match(adj)
        # 3. The sentence's sides: one side only, or else the nearest one before (or after) the mention.
        if not side_hits:
            return None
        kinds = {_side_of_match(m) for _, m in side_hits}
        if len(kinds) == 1:
            return kinds.pop()
        before = [m for pos, m in side_hits if pos < start]
        after = [m for pos, m in side_hits if pos >= end]
        pick = before[-1] if before else (after[0] if after else None)
        return None if pick is None else _side_of_match(pick)


def mammo_label_file(input_path: str | Path, out: str | Path, column_map=None, empty_reports: str = "error", *, deid: CohortScrubber | None) -> pd.DataFrame:
    """Label every report of ``input_path`` with :class:`MammoLabeler`; write the table atomically.
    ``deid``: the de-identifier the text goes through first, or None for the raw text.

    Mirrors :func:`radtrust.labeling.api.label_file` (what ``radtrust label --vocab mammo`` calls).
    """

    cohort = read_cohort(input_path, column_map, empty_reports, deid=deid)
    table = MammoLabeler().label(cohort)
    write_table(table, out)
    return table
