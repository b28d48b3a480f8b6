"""De-identification at the door: every pipeline that reads report text gets it scrubbed first.

:func:`radtrust.data.readers.read_cohort` (and the chunked reader of ``radtrust label``) pass each report
cohort through :func:`deidentify_cohort` with the process's current setting, so labelers, the teacher
LLM, training, prediction, evaluation and the label audit never see the identifiers, without each of them
having to remember to ask. The default is on, with typed masks (``[NAME]``, ``[DATE]``): privacy by default.
The CLI sets the choice once for the whole command (``radtrust --deid surrogate train ...``); library users
use :func:`using_deid`. A run records what was done (:attr:`Cohort.deid`: engine, mode, counts per kind;
never text) in its ``run.json``.

Privacy-ledger fingerprints are always taken from the raw file (:func:`radtrust.data.fingerprint.file_fingerprint`
re-reads it without this step), so a dataset's budget does not depend on how its text was scrubbed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from radtrust.data.schema import TEXT_SECTIONS, Cohort
from radtrust.deid import DeidConfig, Deidentifier, DeidSummary, deidentify_frame

#: Environment variable read when no setting was made in-process: ``mask`` (default), ``surrogate`` or ``off``.
DEID_ENV = "RADTRUST_DEID"
#: Environment variable holding the secret key for date shifts and surrogates (never logged or stored).
KEY_ENV = "RADTRUST_DEID_KEY"

_setting: ContextVar[DeidConfig | None | str] = ContextVar("radtrust_deid", default="env")
_engines: dict[str, Deidentifier] = {}
_done: list[dict] = []  # summaries of the cohorts scrubbed since the last take_summary()


def deid_setting(mode: str, key: str | None = None, origin: str = f"${DEID_ENV}", **options) -> DeidConfig | None:
    """The setting for ``mode`` (mask, surrogate or off; None = off) as the CLI or the environment names it:
    ``key``, else ``$RADTRUST_DEID_KEY``, keys surrogates and date shifts; ``options`` are other
    :class:`DeidConfig` fields. A bad mode is a one-line error naming ``origin``."""
    from radtrust.errors import ConfigError, build_config

    mode = mode.strip().lower() or "mask"
    if mode == "off":
        return None
    if mode not in ("mask", "surrogate"):
        raise ConfigError(f"{origin} must be mask, surrogate or off, not '{mode}'")
    return build_config(DeidConfig, "options", mode=mode, key=key or os.environ.get(KEY_ENV) or None, **options)


def _from_env() -> DeidConfig | None:
    return deid_setting(os.environ.get(DEID_ENV, "mask"))


def current_deid() -> DeidConfig | None:
    """The de-identification applied to report text read now (None = off)."""
    s = _setting.get()
    return _from_env() if isinstance(s, str) else s


@contextmanager
def using_deid(config: DeidConfig | None) -> Iterator[None]:
    """Read report text with ``config`` (None = no de-identification) inside the block."""
    token = _setting.set(config)
    try:
        yield
    finally:
        _setting.reset(token)


def set_deid(config: DeidConfig | None) -> None:
    """Set the process's de-identification for every later read (the CLI's ``--deid``)."""
    _setting.set(config)


def _engine(config: DeidConfig) -> Deidentifier:
    # One engine per setting and process: a random key (surrogates, date shifts) stays the same across the
    # chunks of one file and the files of one command.
    # (model_dump_json masks the secret, so the key itself is part of the cache key; kept in memory only)
    k = config.model_dump_json() + "\x1f" + (config.key.get_secret_value() if config.key is not None else "")
    if k not in _engines:
        _engines[k] = Deidentifier(config)
    return _engines[k]


def deidentify_cohort(cohort: Cohort, config: DeidConfig | None | str = "current") -> Cohort:
    """``cohort`` with every free-text section scrubbed, and ``cohort.deid`` saying what was done.

    Image cohorts and a None config come back unchanged. Ids and demographics are not touched: ids are
    the user's pseudonyms, ages are bands downstream, and the split by patient needs ``patient_id``."""
    cfg = current_deid() if isinstance(config, str) else config
    if cfg is None or cohort.modality == "image" or cohort.deid is not None:
        return cohort
    columns = [s for s in TEXT_SECTIONS if s in cohort.frame.columns]
    frame, summary = deidentify_frame(cohort.frame, columns, cfg, patient_column="patient_id", deidentifier=_engine(cfg))
    out = Cohort(frame, cohort.source, "keep")
    out.n_dropped_empty = cohort.n_dropped_empty
    out.deid = summary.to_dict()
    _done.append(out.deid)
    return out


def record_summary(summary: dict) -> None:
    """Count a scrub done elsewhere (the label workers) in what the command reports."""
    _done.append(summary)


def take_summary() -> dict | None:
    """What was scrubbed since the last call, all reads together (the CLI prints it after a command)."""
    merged = merge_summaries(_done)
    _done.clear()
    return merged


def merge_summaries(parts: list[dict]) -> dict | None:
    """One summary for a file read in chunks: counts added up."""
    parts = [p for p in parts if p]
    if not parts:
        return None
    out = dict(parts[0])
    out["counts"] = dict(parts[0].get("counts", {}))
    for p in parts[1:]:
        out["n_texts"] = out.get("n_texts", 0) + p.get("n_texts", 0)
        out["n_changed"] = out.get("n_changed", 0) + p.get("n_changed", 0)
        out["n_cut_back"] = out.get("n_cut_back", 0) + p.get("n_cut_back", 0)
        for k, v in p.get("counts", {}).items():
            out["counts"][k] = out["counts"].get(k, 0) + v
    return out


def describe(summary: dict | None) -> str:
    """One line for the CLI: which engine ran and how many identifiers of each kind it replaced (counts only)."""
    if not summary:
        return "de-identification off"
    counts = ", ".join(f"{v} {k}" for k, v in sorted(summary.get("counts", {}).items()) if v) or "nothing found"
    keyed_on = summary.get("keyed_on")
    if keyed_on not in (None, "patient_id") and (summary.get("mode") == "surrogate" or summary.get("shift_dates")):
        counts += f"; surrogates and date shifts keyed per {keyed_on} (no patient_id column: each report its own patient)"
    cut = summary.get("n_cut_back", 0)
    cut_note = f"; {cut} overlong matches cut back at a sentence end or length limit (text kept)" if cut else ""
    return f"de-identified {summary.get('n_changed', 0)} of {summary.get('n_texts', 0)} texts ({summary.get('engine')}, {summary.get('mode')}): {counts}{cut_note}"


__all__ = ["DEID_ENV", "KEY_ENV", "DeidSummary", "current_deid", "deid_setting", "deidentify_cohort", "describe", "merge_summaries", "record_summary", "set_deid", "take_summary", "using_deid"]
