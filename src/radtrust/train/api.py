"""File-level entry points for training and prediction (what ``radtrust train`` and ``radtrust predict`` call)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from radtrust.data.io import write_table
from radtrust.data.readers import read_cohort, read_labels
from radtrust.data.schema import Cohort
from radtrust.errors import InputError
from radtrust.train.config import TrainConfig
from radtrust.train.estimator import ReportClassifier


def prepare_run_dir(out: str | Path, overwrite: bool) -> Path:
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise InputError(f"{out}: already exists and is not empty; choose a new --out or pass --overwrite")
    return out


def publish_run_dir(tmp: Path, out: Path) -> None:
    """Move a finished run folder into place in one rename; an old one is replaced only now."""
    if out.exists():
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(out)


def fit_and_save(cohort: Cohort, labels, config: TrainConfig, out: str | Path, overwrite: bool = False, progress: bool = False) -> ReportClassifier:
    """Train and write the run folder atomically: a run that fails leaves no folder behind."""
    out = prepare_run_dir(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        clf = ReportClassifier(config).fit(cohort, labels, progress=progress)
        clf.save(tmp)
        publish_run_dir(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return clf


def train_from_files(
    data: str | Path,
    labels: str | Path,
    config: TrainConfig,
    out: str | Path,
    column_map=None,
    id_column: str | None = None,
    empty_reports: str = "error",
    overwrite: bool = False,
    progress: bool = False,
) -> ReportClassifier:
    """Read a cohort and its label table, train, and write the run folder."""
    prepare_run_dir(out, overwrite)
    cohort = read_cohort(data, column_map, empty_reports)
    table = read_labels(labels, id_column=id_column)
    ids = set(table.case_ids)
    keep = np.array([c in ids for c in cohort.case_ids])
    if not keep.any():
        raise InputError(f"{labels}: none of the cohort's case ids has labels")
    if not keep.all():
        cohort = cohort.subset(keep)
    return fit_and_save(cohort, table, config, out, overwrite, progress)


def predictions_frame(clf: ReportClassifier, cohort: Cohort, progress: bool = False) -> pd.DataFrame:
    """Per case: ``prob_<finding>`` (probability) and ``pred_<finding>`` (0/1 at the stored threshold)."""
    probs = clf.predict_proba(cohort, progress=progress)
    preds = clf.predict(cohort, probs=probs)
    frame = pd.DataFrame({"case_id": cohort.case_ids})
    for j, f in enumerate(clf.findings):
        frame[f"prob_{f}"] = np.round(probs[:, j], 6)
    for j, f in enumerate(clf.findings):
        frame[f"pred_{f}"] = preds[:, j]
    return frame


def predict_to_file(run: str | Path, data: str | Path, out: str | Path, column_map=None, empty_reports: str = "error", progress: bool = False) -> Path:
    ReportClassifier.check_run_dir(run)
    cohort = read_cohort(data, column_map, empty_reports)
    clf = ReportClassifier.load(run)
    write_table(predictions_frame(clf, cohort, progress), out)
    return Path(out)
