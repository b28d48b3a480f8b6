"""The de-identification facade: configuration, the optional Presidio adapter, masking or surrogates, and
a table-level helper with a text-free summary.

``Deidentifier(config).deidentify(text, patient_id)`` is the whole API; ``deidentify_frame`` applies it to
report columns of a table. Nothing here logs or raises with report text: only kinds, counts and columns.
"""

from __future__ import annotations

import importlib.util
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from radtrust.deid.allowlist import AllowList
from radtrust.deid.bounds import check_replacement, cut_back
from radtrust.deid.recognizers import find_candidates, remember, resolve
from radtrust.deid.recognizers.base import KINDS, MEDIUM, WEAK, Candidate, Span
from radtrust.deid.recognizers.dates import date_spans, has_month_name
from radtrust.deid.surrogates import SurrogateGenerator, shift_date_text
from radtrust.errors import ConfigError, InputError

#: spaCy English pipelines Presidio may use, best first. They are looked up locally, never downloaded.
SPACY_MODELS: tuple[str, ...] = ("en_core_web_lg", "en_core_web_trf", "en_core_web_md", "en_core_web_sm")

#: Presidio entity types and the kinds they become; any other type (NRP, ORGANIZATION, ...) is ignored.
PRESIDIO_KINDS: dict[str, str] = {
    "PERSON": "NAME",
    "DATE_TIME": "DATE",
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "URL": "URL",
    "LOCATION": "ADDRESS",
    "US_SSN": "ID",
    "MEDICAL_LICENSE": "ID",
    "US_DRIVER_LICENSE": "ID",
}

#: Sentences (and whole texts) whose candidates and spans a :class:`Deidentifier` remembers: each label
#: worker peaked at 257 MiB with it on 1,000,000 reports (benchmarks/labeler_speed.py), 200 MiB at 100,000.
SENTENCE_CACHE_SIZE = 250_000

#: Presidio's pattern recognizers report low-confidence guesses (any 9-digit run as a licence, ...).
PRESIDIO_MIN_SCORE = 0.5

#: Places that Safe Harbor lets stand (a state or a country), as Presidio's LOCATION would write them.
_LOCATION_ALLOWED = frozenset(
    p.strip()
    for p in (
        "us,usa,united states,united states of america,america,uk,united kingdom,england,scotland,wales,"
        "britain,great britain,canada,mexico,europe,asia,africa,india,china,germany,france,spain,italy,nigeria,japan,"
        "alabama,alaska,arizona,arkansas,california,colorado,connecticut,delaware,florida,georgia,hawaii,idaho,"
        "illinois,indiana,iowa,kansas,kentucky,louisiana,maine,maryland,massachusetts,michigan,minnesota,mississippi,"
        "missouri,montana,nebraska,nevada,new hampshire,new jersey,new mexico,new york state,north carolina,"
        "north dakota,ohio,oklahoma,oregon,pennsylvania,rhode island,south carolina,south dakota,tennessee,texas,utah,"
        "vermont,virginia,washington state,west virginia,wisconsin,wyoming,puerto rico"
    ).split(",")
)


class DeidConfig(BaseModel):
    """How to de-identify: what to replace with, whether to shift dates, which engine, what to keep.

    ``key`` seeds surrogates and date shifts (HMAC-SHA256). Give the same key to get the same surrogates and
    shifts across runs; leave it None for a fresh random key per :class:`Deidentifier` (consistent within
    one run only). The key is a secret: it is never written to a file or a log.
    """

    model_config = ConfigDict(extra="forbid")

    mode: Literal["mask", "surrogate"] = Field("mask", description="mask: typed placeholders like [NAME]; surrogate: realistic fakes of the same kind and shape")
    shift_dates: bool = Field(
        False, description="move every date of a patient by the same number of days (kept in its format) instead of masking or faking it, so intervals between a patient's dates survive"
    )
    shift_max_days: int = Field(365, ge=1, le=3650, description="largest date shift in days; shifts are never 0")
    key: SecretStr | None = Field(None, description="secret for surrogates and date shifts; None = random per run")
    engine: Literal["auto", "radtrust", "presidio"] = Field("auto", description="auto: add Presidio if it and a spaCy English model are installed; radtrust: rules only; presidio: require Presidio")
    extra_allow: list[str] = Field(default_factory=list, description="terms never to remove (case-insensitive words or phrases)")
    kinds: tuple[str, ...] = Field(KINDS, description=f"identifier kinds to act on, of {', '.join(KINDS)}")

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [k for k in v if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown kind {unknown[0]!r}; choose from {', '.join(KINDS)}")
        if not v:
            raise ValueError("at least one kind is needed")
        return tuple(dict.fromkeys(v))


class _Analyzer(Protocol):
    def analyze(self, text: str, language: str) -> list[Any]: ...


class PresidioAdapter:
    """Turns a Presidio ``AnalyzerEngine`` (or anything with its ``analyze`` method) into weak candidates.

    Presidio's results only add to the rules: they pass the same allow-list, and a DATE_TIME counts only
    where it holds a real date, since times of day, durations and bare years are not identifiers.
    """

    def __init__(self, analyzer: _Analyzer, model: str = "injected analyzer") -> None:
        self.analyzer = analyzer
        self.model = model

    def candidates(self, text: str) -> list[Candidate]:
        out: list[Candidate] = []
        for r in self.analyzer.analyze(text=text, language="en"):
            kind = PRESIDIO_KINDS.get(str(r.entity_type))
            if kind is None or float(getattr(r, "score", 1.0)) < PRESIDIO_MIN_SCORE:
                continue
            s, e = int(r.start), int(r.end)
            if not 0 <= s < e <= len(text):
                continue
            piece = text[s:e]
            if kind == "DATE":
                out.extend(_presidio_dates(piece, s))
            elif kind == "ADDRESS" and " ".join(piece.lower().replace(".", "").split()) in _LOCATION_ALLOWED:
                continue  # a state or country alone is not an identifier under Safe Harbor
            else:
                out.append(Candidate(s, e, kind, WEAK, "presidio"))
        return out


def _presidio_dates(piece: str, offset: int) -> list[Candidate]:
    """The dates inside a Presidio DATE_TIME hit: the rule-found ones, else the whole hit if it names a month
    and a number and is no time of day; nothing for "3:45 pm", "2019", "two weeks"."""
    inner = [Candidate(offset + s, offset + e, "DATE", MEDIUM, "presidio") for s, e in date_spans(piece)]
    if inner:
        return inner
    if has_month_name(piece) and any(ch.isdigit() for ch in piece) and ":" not in piece:
        return [Candidate(offset, offset + len(piece), "DATE", WEAK, "presidio")]
    return []


def presidio_model() -> str | None:
    """The spaCy English pipeline Presidio would use, or None if Presidio or every pipeline is missing."""
    if importlib.util.find_spec("presidio_analyzer") is None or importlib.util.find_spec("spacy") is None:
        return None
    # find_spec looks the pipeline package up without importing it (or spaCy, which takes seconds): every
    # label worker builds a Deidentifier, most of them where no pipeline is installed
    for name in SPACY_MODELS:
        if importlib.util.find_spec(name) is not None:
            return name
    return None


def _build_presidio(model: str) -> PresidioAdapter:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]})
    return PresidioAdapter(AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"]), model)


class Deidentifier:
    """Finds identifiers in report text and masks them, fakes them, or shifts dates.

    ``analyzer`` injects a Presidio-like analyzer (an object with ``analyze(text=..., language="en")``);
    it is used unless ``engine="radtrust"``. Without one, ``engine="auto"`` builds Presidio only where it
    and a spaCy English pipeline are installed locally. ``cache_size`` sentences' candidates are remembered
    (0 = off); results never depend on it.
    """

    def __init__(self, config: DeidConfig | None = None, analyzer: _Analyzer | None = None, one_off_key: bytes | None = None, cache_size: int = SENTENCE_CACHE_SIZE) -> None:
        self.config = config or DeidConfig()
        if cache_size < 0:
            raise ConfigError("cache_size must be >= 0")
        # sentence -> the recognizers' candidates in it (see find_candidates); held in memory only, never
        # written or logged, and gone with the object
        self.cache_size = cache_size
        self._cache: dict[str, tuple[Candidate, ...]] = {}
        # a whole text seen before gets its final spans back without finding or resolving them again
        # (sections repeat: "No acute cardiopulmonary process."); the sentence cache above serves the rest
        self._span_cache: dict[str, tuple[tuple[Span, ...], int]] = {}
        if self.config.mode == "surrogate" and importlib.util.find_spec("faker") is None:
            raise ConfigError("mode 'surrogate' needs the faker package: pip install faker, or use mode 'mask'")
        self._allow = AllowList(self.config.extra_allow)
        # Without the user's key: a random one, or ``one_off_key`` when several processes must make the same
        # surrogates and shifts for one command (the label workers). Either way not reproducible later.
        key = self.config.key.get_secret_value().encode("utf-8") if self.config.key is not None else (one_off_key or secrets.token_bytes(32))
        self._surrogates = SurrogateGenerator(key)
        self._presidio: PresidioAdapter | None = None
        if self.config.engine != "radtrust":
            if analyzer is not None:
                self._presidio = PresidioAdapter(analyzer)
            else:
                model = presidio_model()
                if model is not None:
                    self._presidio = _build_presidio(model)
                elif self.config.engine == "presidio":
                    raise ConfigError("engine 'presidio' needs presidio-analyzer and a local spaCy English pipeline: pip install presidio-analyzer and en_core_web_lg, or use engine 'radtrust'")
        self.engine_name: str = f"presidio ({self._presidio.model}) + radtrust recognizers" if self._presidio is not None else "radtrust recognizers"

    def find(self, text: str) -> list[Span]:
        """Identifier spans in ``text``: sorted, non-overlapping, allow-list applied, only the configured
        kinds, each within its bounds (:mod:`~radtrust.deid.bounds`)."""
        return self.find_bounded(text)[0]

    def find_bounded(self, text: str) -> tuple[list[Span], int]:
        """:meth:`find`, and how many spans had to be cut back to their bounds (a recognizer overreached)."""
        caching = self.cache_size > 0 and self._presidio is None
        if caching:
            hit = self._span_cache.get(text)
            if hit is not None:
                return list(hit[0]), hit[1]
        cands = find_candidates(text, self._allow, self._cache, self.cache_size)
        if self._presidio is not None:
            cands.extend(self._presidio.candidates(text))
        if cands:
            # each recognizer's match is bounded, and so is what merging them makes
            cands, n_long = cut_back(text, cands)
            spans, n_merged = cut_back(text, resolve(text, cands, self._allow, self.config.kinds))
        else:
            spans, n_long, n_merged = [], 0, 0
        if caching:
            remember(self._span_cache, self.cache_size, text, (tuple(spans), n_long + n_merged))
        return spans, n_long + n_merged

    def deidentify(self, text: str, patient_id: str | None = None) -> str:
        """``text`` with its identifiers replaced; ``patient_id`` keys surrogates and the date shift."""
        return self.deidentify_with_spans(text, patient_id)[0]

    def deidentify_with_spans(self, text: str, patient_id: str | None = None) -> tuple[str, list[Span]]:
        """The de-identified text and the spans (offsets into the *input*) that were replaced.

        Without a ``patient_id`` all such texts share one anonymous patient: one date shift, one surrogate
        per original."""
        out, spans, _ = self.deidentify_counted(text, patient_id)
        return out, spans

    def deidentify_counted(self, text: str, patient_id: str | None = None) -> tuple[str, list[Span], int]:
        """:meth:`deidentify_with_spans` and the number of spans cut back to their bounds.

        Every output is checked against the input (:func:`~radtrust.deid.bounds.check_replacement`): only
        the spans changed, everything else is the input byte for byte."""
        spans, n_cut = self.find_bounded(text)
        if not spans:
            return text, spans, n_cut
        pid = "" if patient_id is None else str(patient_id)
        parts: list[str] = []
        reps: list[str] = []
        pos = 0
        for sp in spans:
            parts.append(text[pos : sp.start])
            rep = self._replacement(sp.kind, text[sp.start : sp.end], pid)
            reps.append(rep)
            parts.append(rep)
            pos = sp.end
        parts.append(text[pos:])
        out = "".join(parts)
        check_replacement(text, spans, reps, out)
        return out, spans, n_cut

    def new_summary(self) -> DeidSummary:
        """An empty summary of this de-identifier's settings, for :func:`deidentify_values` to fill."""
        return DeidSummary(engine=self.engine_name, mode=self.config.mode, shift_dates=self.config.shift_dates, keyed=self.config.key is not None)

    def date_shift_days(self, patient_id: str | None) -> int:
        """The number of days this patient's dates move by when ``shift_dates`` is on."""
        return self._surrogates.date_shift_days("" if patient_id is None else str(patient_id), self.config.shift_max_days)

    def _replacement(self, kind: str, original: str, pid: str) -> str:
        if kind == "DATE" and self.config.shift_dates:
            shifted = shift_date_text(original, self.date_shift_days(pid))
            if shifted is not None:
                return shifted
            return "[DATE]"
        if self.config.mode == "mask":
            return f"[{kind}]"
        return self._surrogates.surrogate(kind, original, pid)


@dataclass
class DeidSummary:
    """What a table pass did, in numbers only: it never holds report text or identifiers."""

    engine: str
    mode: str
    shift_dates: bool
    #: whether surrogates and date shifts came from the user's key (reproducible) or a one-off random one
    keyed: bool = False
    n_texts: int = 0
    n_changed: int = 0
    #: identifier spans that a recognizer stretched past a sentence end or its kind's length and the engine
    #: cut back (kept text, not deleted); a non-zero count is worth a bug report, with no text in it
    n_cut_back: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "engine": self.engine,
            "mode": self.mode,
            "shift_dates": self.shift_dates,
            "keyed": self.keyed,
            "n_texts": self.n_texts,
            "n_changed": self.n_changed,
            "n_cut_back": self.n_cut_back,
            "counts": {k: int(v) for k, v in self.counts.items()},
        }


def deidentify_frame(
    frame: pd.DataFrame,
    columns: Sequence[str],
    config: DeidConfig | None = None,
    patient_column: str | None = "patient_id",
    deidentifier: Deidentifier | None = None,
) -> tuple[pd.DataFrame, DeidSummary]:
    """De-identify the text ``columns`` of ``frame``; returns a copy and a text-free summary.

    Cells that are not strings (NaN, numbers) are left as they are. ``patient_column`` keys surrogates and
    date shifts per patient; when the default ``patient_id`` column is absent every row counts as one
    anonymous patient, while a column named explicitly must exist. A given ``deidentifier`` wins over
    ``config`` (useful to reuse one key across tables).
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"text column '{missing[0]}' is not in the table")
    if patient_column is not None and patient_column not in frame.columns and patient_column != "patient_id":
        raise InputError(f"patient column '{patient_column}' is not in the table")
    deid = deidentifier or Deidentifier(config)
    summary = deid.new_summary()
    out = frame.copy()
    if patient_column is not None and patient_column in frame.columns:
        patients: list[str | None] = [None if pd.isna(p) else str(p) for p in frame[patient_column].tolist()]
    else:
        patients = [None] * len(frame)
    for col in columns:
        new_values = deidentify_values(deid, frame[col].tolist(), patients, summary)
        out[col] = pd.Series(new_values, index=out.index, dtype=frame[col].dtype)
    return out, summary


def deidentify_values(deid: Deidentifier, values: Sequence[Any], patients: Sequence[str | None], summary: DeidSummary) -> list[Any]:
    """``values`` (one text column, any non-string cell left as it is) de-identified, with ``patients``
    keying surrogates and date shifts row by row, and ``summary`` counting what was done. The loop behind
    :func:`deidentify_frame`, also called on plain lists where a table would only cost time (the label
    workers)."""
    new_values: list[Any] = []
    counts = summary.counts
    for value, pid in zip(values, patients):
        if not isinstance(value, str):
            new_values.append(value)
            continue
        new, spans, n_cut = deid.deidentify_counted(value, pid)
        summary.n_texts += 1
        if spans:
            summary.n_changed += int(new != value)
            summary.n_cut_back += n_cut
            for sp in spans:
                counts[sp.kind] = counts.get(sp.kind, 0) + 1
        else:
            summary.n_cut_back += n_cut
        new_values.append(new)
    return new_values


__all__ = [
    "DeidConfig",
    "DeidSummary",
    "Deidentifier",
    "PRESIDIO_KINDS",
    "PresidioAdapter",
    "deidentify_frame",
    "deidentify_values",
    "presidio_model",
]
