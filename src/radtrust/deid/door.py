"""De-identification at the door: the object every reader of report text is handed, so labelers, the teacher
LLM, training, prediction, evaluation and the label audit never see the identifiers.

:class:`CohortDeidentifier` is what :func:`radtrust.data.readers.read_cohort` (and the chunked reader of
``radtrust label``) take as ``deid=``: it scrubs each report cohort and keeps a running count of what it
replaced. Nothing here is process-wide: the CLI builds one object per command from ``--deid`` (default:
typed masks such as ``[NAME]``, ``[DATE]``; privacy by default) and hands it down; library users build their
own, or pass ``deid=None`` to read the raw text on purpose. A run records what was done (:attr:`Cohort.deid`:
engine, mode, counts per kind; never text) in its ``run.json``.

Privacy-ledger fingerprints are always taken from the raw file (:func:`radtrust.data.fingerprint.file_fingerprint`
re-reads it with ``deid=None``), so a dataset's budget does not depend on how its text was scrubbed.
"""

from __future__ import annotations

import secrets

from radtrust.data.schema import TEXT_SECTIONS, Cohort
from radtrust.deid.engine import DeidConfig, Deidentifier, DeidSummary, deidentify_frame
from radtrust.errors import ConfigError, build_config

#: Environment variable the CLI reads for ``--deid``: ``mask`` (default), ``surrogate`` or ``off``.
DEID_ENV = "RADTRUST_DEID"
#: Environment variable the CLI reads for the secret key of date shifts and surrogates (never logged or stored).
KEY_ENV = "RADTRUST_DEID_KEY"


def deid_setting(mode: str, key: str | None = None, origin: str = "--deid", **options) -> DeidConfig | None:
    """The setting for ``mode`` (mask, surrogate or off; None = off) as the CLI names it: ``key`` keys
    surrogates and date shifts (None: a random key per :class:`CohortDeidentifier`); ``options`` are other
    :class:`DeidConfig` fields. A bad mode is a one-line error naming ``origin``."""
    mode = mode.strip().lower() or "mask"
    if mode == "off":
        return None
    if mode not in ("mask", "surrogate"):
        raise ConfigError(f"{origin} must be mask, surrogate or off, not '{mode}'")
    return build_config(DeidConfig, "options", mode=mode, key=key or None, **options)


class CohortDeidentifier:
    """Scrubs every free-text section of the cohorts handed to it, and counts what it replaced.

    ``CohortDeidentifier(DeidConfig(mode="surrogate"))`` or ``CohortDeidentifier(mode="mask")``; a ready
    :class:`~radtrust.deid.Deidentifier` (an injected Presidio analyzer, say) may be given as ``deidentifier``.
    One object, one engine: without ``config.key`` its random key stays the same for every cohort it scrubs,
    so surrogates and date shifts agree across the chunks of a file and the files of one command. The engine
    is built on first use, so an object that never sees report text costs nothing. :meth:`summary` and
    :meth:`take_summary` say what was replaced so far (counts per kind, never text).
    """

    def __init__(self, config: DeidConfig | None = None, *, deidentifier: Deidentifier | None = None, **options) -> None:
        if options and (config is not None or deidentifier is not None):
            raise TypeError("give a DeidConfig or its fields, not both")
        if deidentifier is not None:
            config = deidentifier.config
        self.config: DeidConfig = config if config is not None else build_config(DeidConfig, "options", **options)
        self._engine = deidentifier
        # used only without config.key; held in memory, never written (a worker's copy gets it through the pipe)
        self._key = secrets.token_bytes(32)
        self._done: list[dict] = []  # summaries of the cohorts scrubbed since the last take_summary()

    @property
    def engine(self) -> Deidentifier:
        """The text engine, built on first use and kept for the life of this object."""
        if self._engine is None:
            self._engine = Deidentifier(self.config, one_off_key=self._key)
        return self._engine

    def deidentify_cohort(self, cohort: Cohort) -> Cohort:
        """``cohort`` with every free-text section scrubbed, and ``cohort.deid`` saying what was done.

        Image cohorts and cohorts scrubbed already come back unchanged. Ids and demographics are not
        touched: ids are the user's pseudonyms, ages are bands downstream, and the split by patient needs
        ``patient_id``."""
        if cohort.modality == "image" or cohort.deid is not None:
            return cohort
        columns = [s for s in TEXT_SECTIONS if s in cohort.frame.columns]
        frame, summary = deidentify_frame(cohort.frame, columns, self.config, patient_column="patient_id", deidentifier=self.engine)
        out = Cohort(frame, cohort.source, "keep")
        out.n_dropped_empty = cohort.n_dropped_empty
        out.deid = summary.to_dict()
        self._done.append(out.deid)
        return out

    def add_summary(self, summary: dict | None) -> None:
        """Count a scrub done elsewhere with this object's settings (a copy in a label worker process)."""
        if summary:
            self._done.append(dict(summary))

    def summary(self) -> dict | None:
        """What was scrubbed since the last :meth:`take_summary`, all cohorts together (None: nothing)."""
        return merge_summaries(self._done)

    def take_summary(self) -> dict | None:
        """:meth:`summary`, and start counting afresh (the CLI prints it after a command)."""
        merged = merge_summaries(self._done)
        self._done.clear()
        return merged

    def __reduce__(self):
        # A copy for a worker process: the same settings and key (so the same surrogates and date shifts),
        # its own engine built there on first use, and no counts (the worker sends its summaries back).
        return (_copy_for_worker, (self.config, self._key))

    def __repr__(self) -> str:
        c = self.config
        keyed = ", keyed" if c.key is not None else ""
        return f"CohortDeidentifier(mode={c.mode!r}, engine={c.engine!r}, shift_dates={c.shift_dates}{keyed})"


def _copy_for_worker(config: DeidConfig, key: bytes) -> CohortDeidentifier:
    out = CohortDeidentifier(config)
    out._key = key
    return out


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


__all__ = ["DEID_ENV", "KEY_ENV", "CohortDeidentifier", "DeidSummary", "deid_setting", "describe", "merge_summaries"]
