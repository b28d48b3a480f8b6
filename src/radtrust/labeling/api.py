"""File-level labeling entry points (what ``radtrust label`` calls).

Rule labels of table files stream in chunks through worker processes (:mod:`radtrust.labeling.stream`),
so one code path serves a 100-report CSV and a 1,000,000-report archive.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from radtrust.data.io import TABLE_SUFFIXES, check_output
from radtrust.errors import ConfigError
from radtrust.labeling.combine import combine_files
from radtrust.labeling.mammo import mammo_label_file
from radtrust.labeling.stream import label_stream
from radtrust.labeling.teacher import teacher_label_file
from radtrust.progress import progress_bar

if TYPE_CHECKING:
    from radtrust.deid.door import CohortDeidentifier


def label_file(
    input_path: str | Path, vocab: str, out: str | Path, column_map=None, empty_reports: str = "error", workers: int | None = None, progress: bool = False, *, deid: CohortDeidentifier | None
):
    """Label every report of ``input_path`` with the rule labeler and write the label table atomically;
    ``deid``: the :class:`~radtrust.deid.door.CohortDeidentifier` the text goes through first, or None."""

    with progress_bar("labelling reports", None, progress) as bar:
        return label_stream(input_path, out, vocab, workers=workers, column_map=column_map, empty_reports=empty_reports, progress=lambda n: bar.update(completed=n), deid=deid)


def label_any(
    inputs: Sequence[str | Path],
    out: str | Path,
    vocab: str = "chexpert14",
    teacher: str | None = None,
    base_url: str | None = None,
    model: str | None = None,
    allow_remote: bool = False,
    max_concurrency: int = 4,
    combine: bool = False,
    method: str = "dawid_skene",
    workers: int | None = None,
    column_map=None,
    empty_reports: str = "error",
    progress: bool = False,
    *,
    deid: CohortDeidentifier | None,
) -> str:
    """Dispatch ``radtrust label``: combine label tables, ask a teacher LLM, label mammography reports, or
    run the chest rule labeler. Returns a one-line summary (counts only) for the CLI to print. ``deid``:
    the de-identifier report text goes through before any labeler reads it, or None for the raw text."""
    inputs = [Path(p) for p in inputs]
    check_output(out, inputs, suffixes=TABLE_SUFFIXES)
    if combine:
        if len(inputs) < 2:
            raise ConfigError("`combine` needs at least two label tables")
        table, _, agreement = combine_files(inputs, out, method)
        return f"combined {len(inputs)} label tables ({method}) into {len(table)} cases → {out} (+ confidence and agreement tables)"
    if len(inputs) != 1:
        raise ConfigError(f"label one report file at a time ({len(inputs)} given); to merge label tables use `combine`")
    src = inputs[0]
    if teacher is not None:
        if teacher != "openai":
            raise ConfigError(f"unknown teacher '{teacher}': the supported route is 'openai' (any OpenAI-compatible endpoint)")
        if not base_url or not model:
            raise ConfigError("`teacher` openai needs `base_url` and `model`")
        table, stats = teacher_label_file(
            src, vocab, out, base_url, model, allow_remote, column_map=column_map, empty_reports=empty_reports,
            max_concurrency=max_concurrency, progress=progress, deid=deid,
        )  # fmt: skip
        return f"teacher {model}: labelled {stats.n_ok} reports ({stats.n_cached} from cache), {stats.n_missing} left missing after retries → {out}"
    if vocab.strip().lower() in ("mammo", "mammography"):
        frame = mammo_label_file(src, out, column_map, empty_reports, deid=deid)
        return f"labelled {len(frame)} mammography reports (BI-RADS, density, laterality, per-breast findings) → {out}"
    res = label_file(src, vocab, out, column_map, empty_reports, workers, progress, deid=deid)
    return f"labelled {res.n_reports} reports ({len(res.findings)} findings, {res.label_source}) in {res.seconds:.1f} s → {out}"
