"""File-level entry points for training and prediction (what ``radtrust train`` and ``radtrust predict`` call)."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from radtrust.data.fingerprint import data_fingerprint, file_fingerprint
from radtrust.data.image_readers import read_images
from radtrust.data.io import TABLE_SUFFIXES, check_output, write_json, write_table
from radtrust.data.readers import read_cohort, read_labels
from radtrust.data.schema import Cohort, CohortScrubber, LabelTable
from radtrust.errors import InputError, Interrupted
from radtrust.models.aggregate import aggregate_scores, density_class
from radtrust.privacy.ledger import PrivacyLedger, new_run_id, resolve_ledger
from radtrust.train.checkpoint import CHECKPOINT_FILE, IDENTITY_FILE, Checkpointer
from radtrust.train.config import ImageTrainConfig, LoopConfig, TrainConfig
from radtrust.train.estimator import Classifier, ReportClassifier, config_hash, prepare_run_dir, publish_run_dir, read_run_yaml
from radtrust.train.images import ImageClassifier, is_image_run


def checkpoint_dir_for(out: str | Path) -> Path:
    """Where a run's epoch checkpoints live while it trains: ``<out>.checkpoint`` beside the run folder."""
    out = Path(out)
    return out.with_name(out.name + ".checkpoint")


def _resume_identity(ck_dir: Path, resume: bool | None, identity: dict[str, str]) -> str | None:
    """The stored run id when an interrupted run is to be continued; None for a fresh start."""
    ident_file = ck_dir / IDENTITY_FILE
    if not ident_file.exists():
        if resume is True:
            raise InputError(f"{ck_dir}: no checkpoint of an interrupted run to resume")
        if ck_dir.exists() and not any(ck_dir.iterdir()):
            ck_dir.rmdir()  # an empty leftover says nothing about any run
        return None
    if resume is False:
        raise InputError(f"{ck_dir}: an interrupted run left a checkpoint here; pass `resume` to continue it (same data and options) or delete that folder to start over")
    try:
        stored = json.loads(ident_file.read_text(encoding="utf-8"))
        run_id = stored["run_id"]
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"{ident_file}: damaged checkpoint identity; delete {ck_dir} to start over (its run stays charged in the ledger)") from None
    diff = [k for k in identity if stored.get(k) != identity[k]]
    if diff:
        raise InputError(f"{ck_dir}: the checkpoint was made with a different {', '.join(diff)}; resume with the original data and options")
    return run_id


def fit_and_save(
    cohort: Cohort,
    labels,
    config: LoopConfig,
    out: str | Path,
    overwrite: bool = False,
    progress: bool = False,
    *,
    ledger: PrivacyLedger | None = None,
    fingerprint: str | None = None,
    run_id: str | None = None,
    resume: bool | None = False,
    checkpoint: bool = True,
    validation_labels=None,
) -> Classifier:
    """Train and write the run folder atomically: a run that fails leaves no folder behind.

    Before the ledger is charged, everything that can fail without training is checked
    (:meth:`Classifier.preflight`: inputs, split, encoder, images, the noise for the target ε; and
    that the run folder can be written). With a ``ledger`` the run is then charged and, once training
    succeeds, marked finished with the ε it spent.

    A run that fails anyway decides its charge by one fact, whether it took a training step:

    - **before its first step** (an encoder whose weights do not load, a failure while encoding, Ctrl-C
      during encoding): the charge is voided with the reason (:meth:`PrivacyLedger.void`, which says why
      that is sound) and nothing of the run is left on disk, so a retry starts clean;
    - **after it** the charge stays (the mechanism has run on the records) and is marked ``failed``,
      except on Ctrl-C or a kill, after which the run is resumable.

    With ``checkpoint`` the state after every epoch is kept in ``<out>.checkpoint`` until the run folder is
    written; its identity file (with the ledger run id) is written just before the first step, so a run
    killed in its first epoch resumes under the charge it already made. ``resume=True`` continues such an
    interrupted run (refused if the data or options differ) under its original ledger run id, so it is not
    charged twice; ``None`` resumes when a checkpoint exists and starts fresh otherwise; ``False`` refuses
    to start over an existing checkpoint.
    """
    out = prepare_run_dir(out, overwrite)
    clf = classifier_for(config)
    clf.preflight(cohort, labels, validation_labels, progress)  # everything that can fail before the charge
    ck_dir = checkpoint_dir_for(out)
    cohort_fingerprint = data_fingerprint(cohort)
    identity = {"config_hash": config_hash(config), "data_fingerprint": cohort_fingerprint}
    if validation_labels is not None:
        identity["validation_labels"] = hashlib.sha256(validation_labels.frame.to_csv(index=False).encode("utf-8")).hexdigest()
    if clf.label_issue_summary is not None:
        # The config names the audit by path only; a rewritten audit at the same path changes the training targets.
        identity["label_issues"] = clf.label_issue_summary["file_sha256"]
    stored_run_id = _resume_identity(ck_dir, resume, identity) if checkpoint or resume else None
    run_id = stored_run_id or run_id or new_run_id()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))  # the output is writable: checked before the charge
    stepped = stored_run_id is not None  # a resumed run took steps before it was interrupted
    checkpointer = Checkpointer(ck_dir, identity | {"run_id": run_id}) if checkpoint else None

    def first_step() -> None:
        nonlocal stepped
        if checkpointer is not None:
            # The run id is on disk before the first step, so a run killed in its first epoch resumes
            # under the charge it already made.
            write_json(identity | {"run_id": run_id}, ck_dir / IDENTITY_FILE)
        stepped = True

    try:
        clf.fit(
            cohort,
            labels,
            progress=progress,
            checkpoint=checkpointer,
            validation_labels=validation_labels,
            fingerprint=fingerprint or cohort_fingerprint,
            on_first_step=first_step,
            ledger=ledger,
            run_id=run_id,
            resumed=stored_run_id is not None,
        )
        clf.write_run(tmp)
        publish_run_dir(tmp, out)
        if checkpoint:
            shutil.rmtree(ck_dir, ignore_errors=True)
    except BaseException as e:
        _settle_failed_run(e, stepped, ck_dir if checkpoint else None)
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return clf


def _settle_failed_run(error: BaseException, stepped: bool, ck_dir: Path | None) -> None:
    """What a failed run leaves on disk (its ledger charge is settled by :meth:`Classifier.fit`): its
    checkpoint removed (never stepped) or kept for ``--resume``. An interruption gets a message saying
    which (see ``cli.main``)."""
    interrupted = isinstance(error, (KeyboardInterrupt, Interrupted))
    if not stepped:
        if ck_dir is not None and ck_dir.exists() and not (ck_dir / CHECKPOINT_FILE).exists():
            shutil.rmtree(ck_dir, ignore_errors=True)
        if interrupted:
            error.args = ("stopped before the first training step: the ledger charge was voided and nothing was kept",)
        return
    if interrupted:
        kept = (
            f"its checkpoint is kept in {ck_dir}; rerun the same command with `resume` to continue from the last finished epoch under the same ledger charge"
            if ck_dir is not None
            else "the run's charge stays in the ledger"
        )
        error.args = (f"training stopped; {kept}",)


def classifier_for(config: LoopConfig) -> Classifier:
    """The estimator a config trains: an image classifier for :class:`ImageTrainConfig`, else reports."""

    if isinstance(config, ImageTrainConfig):
        return ImageClassifier(config)
    if isinstance(config, TrainConfig):
        return ReportClassifier(config)
    raise TypeError(f"no classifier trains a {type(config).__name__}: use TrainConfig or ImageTrainConfig")


def run_config(run: str | Path) -> LoopConfig:
    """The resolved config of a saved run folder of either kind (checks the folder first)."""

    cls = ImageClassifier if is_image_run(run) else ReportClassifier
    path = cls.check_run_dir(run) / "config.yaml"
    return cls.config_class.build(read_run_yaml(path), origin=str(path))


def load_classifier(run: str | Path) -> Classifier:
    """A saved run folder of either kind, as its estimator."""

    cls = ImageClassifier if is_image_run(run) else ReportClassifier
    cls.check_run_dir(run)
    return cls.load(run)


def read_inputs(
    data: str | Path, config_or_run: LoopConfig | None, column_map=None, empty_reports: str = "error", site: str | None = None, *, deid: CohortScrubber | None
) -> tuple[Cohort, LabelTable | None]:
    """The cohort a run trains or predicts on: reports (``read_cohort``, their text through ``deid``) or, for
    an image model, images (``read_images``: a mini-MIAS folder, a DICOM folder or an image manifest) with
    any truth they carry."""
    if isinstance(config_or_run, ImageTrainConfig):
        return read_images(data, site, column_map)
    cohort = read_cohort(data, column_map, empty_reports, deid=deid)
    if cohort.modality == "image" and config_or_run is not None:
        # A report model would score every image's empty text alike: the same prediction for every film.
        raise InputError(f"{data}: an image list ('image_path' column), but this is a report model trained on report text; pass reports, or use an image run")
    return cohort, None


def train_from_files(
    data: str | Path,
    labels: str | Path | None,
    config: LoopConfig,
    out: str | Path,
    column_map=None,
    id_column: str | None = None,
    empty_reports: str = "error",
    overwrite: bool = False,
    progress: bool = False,
    ledger: str | Path | PrivacyLedger | bool | None = True,
    run_id: str | None = None,
    resume: bool | None = False,
    validation_labels: str | Path | None = None,
    *,
    deid: CohortScrubber | None,
) -> Classifier:
    """Read a cohort and its label table, train, and write the run folder (``resume``: see
    :func:`fit_and_save`; ``validation_labels``: a label file whose cases' patients become the
    validation split, see :meth:`Classifier.fit`).

    ``ledger``: True (default) charges the run to the default privacy ledger
    (:func:`~radtrust.privacy.ledger.default_ledger_path`), a path or :class:`PrivacyLedger` to that ledger,
    False or None to none. The dataset is the whole file, identified by content (every row, whatever
    ``empty_reports`` drops), so copies in any format share one budget. ``deid``: the de-identifier the
    report text goes through before training (:class:`~radtrust.deid.door.CohortDeidentifier`), or None.
    """
    prepare_run_dir(out, overwrite)
    cohort, carried = read_inputs(data, config, column_map, empty_reports, deid=deid)
    table = read_labels(labels, id_column=id_column) if labels is not None else carried
    if table is None:
        raise InputError(f"{data}: no labels: pass a label file")
    reviewed = read_labels(validation_labels, id_column=id_column) if validation_labels is not None else None
    ids = set(table.case_ids) | (set(reviewed.case_ids) if reviewed is not None else set())
    keep = np.array([c in ids for c in cohort.case_ids])
    if not keep.any():
        raise InputError(f"{labels}: none of the cohort's case ids has labels")
    privacy_ledger = resolve_ledger(ledger)
    fingerprint = None
    if privacy_ledger is not None:
        # Images are identified by their pixels (file bytes), reports by their text, whatever the file format.
        fingerprint = data_fingerprint(cohort) if cohort.modality == "image" else file_fingerprint(data, column_map, read=cohort)
    if not keep.all():
        cohort = cohort.subset(keep)
    return fit_and_save(cohort, table, config, out, overwrite, progress, ledger=privacy_ledger, fingerprint=fingerprint, run_id=run_id, resume=resume, validation_labels=reviewed)


def predictions_frame(clf: Classifier, cohort: Cohort, progress: bool = False) -> pd.DataFrame:
    """Per case: ``prob_<finding>`` (probability) and ``pred_<finding>`` (0/1 at the stored threshold)."""
    probs = clf.predict_proba(cohort, progress=progress)
    preds = clf.predict(cohort, probs=probs)
    frame = pd.DataFrame({"case_id": cohort.case_ids})
    for j, f in enumerate(clf.findings):
        frame[f"prob_{f}"] = np.round(probs[:, j], 6)
    for j, f in enumerate(clf.findings):
        frame[f"pred_{f}"] = preds[:, j]
    return with_density_category(frame)


def with_density_category(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``density_category``, the argmax of one-vs-rest ``prob_density_*`` outputs: density is one
    category per breast, so its decision is the most probable one, not a threshold per category."""
    if any(c.startswith("prob_density") for c in frame.columns):
        frame["density_category"] = density_class(frame)[0].str.removeprefix("density_")
    return frame


def predict_to_file(
    run: str | Path, data: str | Path, out: str | Path, column_map=None, empty_reports: str = "error", progress: bool = False, level: str = "view", *, deid: CohortScrubber | None
) -> Path:
    """Predictions per case, or for an image run per ``level`` (breast, exam, woman; see
    :func:`radtrust.models.aggregate.aggregate_scores`) with decisions at the stored thresholds."""

    check_output(out, [data], suffixes=TABLE_SUFFIXES)
    clf = load_classifier(run)
    cohort, _ = read_inputs(data, clf.config, column_map, empty_reports, deid=deid)
    if level == "view":
        frame = predictions_frame(clf, cohort, progress)
    else:
        if cohort.modality != "image" or not isinstance(clf.config, ImageTrainConfig):
            raise InputError(f"`level` {level} needs an image run and images; reports are scored per case")

        probs = clf.predict_proba(cohort, progress=progress)
        frame = aggregate_scores(cohort, probs, clf.findings, level, clf.config.breast_aggregation)
        # Breast (and exam, woman) scores use the thresholds chosen on validation breasts where stored.
        thresholds = getattr(clf, "breast_thresholds", None) or clf.thresholds
        for f in clf.findings:
            frame[f"pred_{f}"] = (frame[f"prob_{f}"] >= thresholds.get(f, clf.thresholds[f])).astype("int8")
        frame = with_density_category(frame[[c for c in frame.columns if not c.startswith(("other_", "asymmetry_")) or "density" not in c]])
    write_table(frame, out)
    return Path(out)
