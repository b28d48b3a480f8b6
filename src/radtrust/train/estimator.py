"""``Classifier`` and ``ReportClassifier``: the scikit-learn-style face of training.

``ReportClassifier(config).fit(cohort, labels)`` (and its sibling ``ImageClassifier``) splits the cohort by patient into training and
validation parts, trains (privately unless ε = inf), picks per-finding decision thresholds on the
validation part only, and can then ``predict_proba`` / ``predict`` / ``save`` / ``load``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import torch
import yaml
from safetensors.torch import load_file, save_file

from radtrust._version import __version__
from radtrust.data.fingerprint import data_fingerprint, file_sha256
from radtrust.data.groups import DEFAULT_AGE_CUTS, group_codes, group_values
from radtrust.data.io import atomic_path, check_writable_folder, write_json
from radtrust.data.schema import Cohort, LabelTable, label_targets
from radtrust.data.splits import patient_split
from radtrust.errors import ConfigError, InputError, Interrupted
from radtrust.models.text import build_report_net, check_encoder_weights, load_tokenizer, load_trainable_encoder_state, pad_batch, tokenize, trainable_encoder_state
from radtrust.noise.files import label_issue_cells, read_label_audit, refuse_release
from radtrust.privacy.ledger import Charge, PrivacyLedger, new_run_id, planned_charge
from radtrust.progress import progress_bar
from radtrust.stats import worst_group_auroc
from radtrust.train.canaries import Canaries, make_canaries
from radtrust.train.checkpoint import Checkpointer
from radtrust.train.config import LoopConfig, TrainConfig
from radtrust.train.loop import TrainData, TrainResult, plan_noise, train_model
from radtrust.train.mitigation import GroupThresholds
from radtrust.train.warm_start import WarmStart, copy_warm_start, read_warm_start, resolve_warm_start

RUN_FILES = ("config.yaml", "labels.json", "adapter.safetensors", "head.safetensors", "thresholds.json", "privacy.json", "history.json", "run.json")


def apply_label_issues(targets: np.ndarray, mask: np.ndarray, p_wrong: np.ndarray, policy: str, threshold: float) -> tuple[np.ndarray, np.ndarray, int]:
    """New (targets, mask) from per-cell ``p_wrong`` (NaN = no verdict), and how many cells changed.

    "exclude" masks cells with ``p_wrong >= threshold`` out of the loss: a label that is probably wrong
    teaches the model the wrong thing, and leaving it out costs only that cell. "soft" replaces the target
    with the posterior that the finding is present, given·(1 - p) + (1 - given)·p (the audited cells'
    targets equal their given label, see :func:`label_issue_cells`), so doubtful cells still count, with
    the weight of the evidence. Cells already out of the loss stay out.
    """
    audited = ~np.isnan(p_wrong) & (mask > 0)
    if policy == "exclude":
        flagged = audited & (p_wrong >= threshold)
        mask = mask.copy()
        mask[flagged] = 0.0
        return targets, mask, int(flagged.sum())
    if policy != "soft":
        raise ConfigError(f"unknown label_issue_policy '{policy}'")
    p = np.where(audited, p_wrong, 0.0)
    soft = targets * (1.0 - p) + (1.0 - targets) * p
    return soft.astype(np.float32), mask, int((audited & (p > 0)).sum())


def choose_thresholds(probs: np.ndarray, targets: np.ndarray, mask: np.ndarray, findings: list[str], config: LoopConfig) -> dict[str, float]:
    """Per-finding threshold maximising F1 on validation data (or the fixed threshold).

    A finding with fewer than ``min_validation_positives`` positive validation cases keeps the fixed
    threshold: an F1-optimal threshold fitted to two or three positives is noise, and for a rare finding it
    tends to sit near zero and flood the predictions with false positives.
    """
    from sklearn.metrics import precision_recall_curve

    out: dict[str, float] = {}
    for j, f in enumerate(findings):
        keep = mask[:, j] > 0
        y, p = targets[keep, j], probs[keep, j]
        if config.threshold_policy == "fixed" or y.sum() < config.min_validation_positives or y.sum() == len(y):
            out[f] = config.fixed_threshold
            continue
        prec, rec, thr = precision_recall_curve(y, p)
        f1 = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-12), 0.0)[:-1]
        out[f] = float(thr[int(np.argmax(f1))])
    return out


def privacy_population(cohort: Cohort, config: LoopConfig) -> int:
    """N in the default δ = 1/(10·N): records, or patients when the guarantee is per patient."""
    return int(len(np.unique(cohort.patient_ids))) if config.privacy_unit == "patient" else len(cohort)


def prepare_run_dir(out: str | Path, overwrite: bool) -> Path:
    """Refuse a run folder that would replace results without ``overwrite``, names a file, or lies where
    nothing can be written; checked before anything is read or charged."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file; `out` names the run folder to create")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InputError(f"{out}: already exists and is not empty; choose a new `out` or pass `overwrite`")
    check_writable_folder(out.parent)
    return out


def publish_run_dir(tmp: Path, out: Path) -> None:
    """Move a finished run folder into place in one rename; an old one is replaced only now."""
    if out.exists():
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(out)


def config_hash(config: LoopConfig) -> str:
    """The run's settings as one hash: recorded with its ledger charge and in its checkpoint identity."""
    return hashlib.sha256(config.to_yaml().encode("utf-8")).hexdigest()


def charge_training(ledger: PrivacyLedger, cohort: Cohort, config: LoopConfig, fingerprint: str | None = None, run_id: str | None = None) -> Charge:
    """Charge the run's planned (ε, δ) to the dataset in ``ledger`` before training; refuses a run over
    budget with :class:`~radtrust.errors.PrivacyError`. ``fingerprint`` defaults to the cohort's content."""
    epsilon, delta = planned_charge(config.epsilon, config.delta, privacy_population(cohort, config))
    return ledger.charge(
        fingerprint or data_fingerprint(cohort),
        run_id or new_run_id(),
        epsilon,
        delta,
        accountant=config.accountant if config.private else None,
        method=getattr(config, "method", None),  # each model's config names its training method
        config_hash=config_hash(config),
    )


def settle_charge(error: BaseException, ledger: PrivacyLedger, charge: Charge, stepped: bool) -> None:
    """The charge of a run that failed with ``error``: voided with the reason if it never took a training
    step (the mechanism never ran on a record), kept and marked ``failed`` if it did, and left ``charged``
    (resumable) if it was interrupted after stepping. The run's own error is the one reported, so a ledger
    that cannot be updated here leaves the charge counted."""
    interrupted = isinstance(error, (KeyboardInterrupt, Interrupted))
    try:
        if not stepped:
            reason = "interrupted before the first step" if interrupted else f"failed before the first step: {' '.join(str(error).split())[:300] or type(error).__name__}"
            ledger.void(charge.run_id, reason)
        elif not interrupted:
            ledger.finish(charge.run_id, None, status="failed")
    except Exception:  # noqa: BLE001 - conservative: the charge then still counts
        pass


class Classifier:
    """What every radtrust classifier shares, whatever its records are: the split, the one training loop
    (private unless ε = inf), thresholds chosen on validation data, the ledger charge and the run folder.

    :class:`ReportClassifier` (report text) and :class:`radtrust.train.images.ImageClassifier` (mammography
    views) are siblings over this base; each supplies the model and its inputs through the hooks
    ``_build``, ``_encode``, ``_take``, ``_train_data``, ``_predict_inputs``, ``_check_inputs``,
    ``_model_meta``, ``_save_weights`` and ``_load_weights``. The code here reads only :class:`LoopConfig`'s
    fields.
    """

    config_class: type[LoopConfig] = LoopConfig
    config: LoopConfig
    run_files: tuple[str, ...] = ()
    #: How an empty label cell enters the loss (see :func:`label_targets`).
    missing_labels: str = "negative"

    def __init__(self, config: LoopConfig | None = None) -> None:
        self.config = config or self.config_class()
        self.findings: list[str] = []
        self.thresholds: dict[str, float] = {}
        # A ReportNet or an ImageNet (None until built); Any because the shared code calls either's methods,
        # which torch's Module.__getattr__ would otherwise type as Tensor | Module.
        self.net: Any = None
        self.result: TrainResult | None = None
        self.meta: dict = {}
        self.fairness: dict = {}  # groups, mitigation, worst-group selection, per-group thresholds
        self.postprocess: GroupThresholds | None = None
        self.label_issue_summary: dict | None = None  # counts only: what the label audit changed
        self._label_audit: tuple[str, pd.DataFrame, str] | None = None  # (path, per-cell frame, sha256)
        self._preflighted: tuple[int, int, int] | None = None  # the inputs preflight last passed, so fit does not check them twice

    def _set_threads(self) -> None:
        # None = all cores, unless the standard OMP_NUM_THREADS says otherwise (a shared machine, a test
        # worker); set explicitly each fit because an earlier fit in the same process may have lowered it.
        omp = os.environ.get("OMP_NUM_THREADS", "")
        torch.set_num_threads(self.config.num_threads or (int(omp) if omp.isdigit() and int(omp) > 0 else os.cpu_count()) or 1)

    # ---- model hooks (each sibling supplies these) ---------------------------------------------
    def _build(self, n_outputs: int) -> torch.nn.Module:
        """The untrained network with ``n_outputs`` logits."""
        raise NotImplementedError

    def _encode(self, cohort: Cohort, progress: bool = False) -> Any:
        """The model's inputs for every case of ``cohort`` (token ids, pixels)."""
        raise NotImplementedError

    @staticmethod
    def _take(inputs: Any, idx: np.ndarray) -> Any:
        """The inputs of the cases at positions ``idx``."""
        raise NotImplementedError

    def _train_data(self, inputs: Any, targets: np.ndarray, mask: np.ndarray) -> Any:
        """The loop's view of the training records (:class:`TrainData`'s interface)."""
        raise NotImplementedError

    def _predict_inputs(self, inputs: Any, progress: bool = False) -> np.ndarray:
        """(n_cases, n_findings) probabilities for encoded inputs."""
        raise NotImplementedError

    def _check_inputs(self, cohort: Cohort, progress: bool = False) -> None:
        """The model can read this cohort (checked before any ledger charge)."""
        raise NotImplementedError

    def _model_meta(self) -> dict:
        """Intended use, inputs and outputs, for run.json."""
        raise NotImplementedError

    def _save_weights(self, run: Path) -> None:
        raise NotImplementedError

    def _load_weights(self, run: Path) -> None:
        raise NotImplementedError

    # ---- estimator API -------------------------------------------------------------------------
    def fit(
        self,
        cohort: Cohort,
        labels: LabelTable,
        progress: bool = False,
        checkpoint: Checkpointer | None = None,
        validation_labels: LabelTable | None = None,
        fingerprint: str | None = None,
        on_first_step=None,
        *,
        ledger: PrivacyLedger | None = None,
        run_id: str | None = None,
        resumed: bool = False,
    ) -> Self:
        """Train on ``cohort``; with ``checkpoint``, save after every epoch and resume a saved state.
        ``on_first_step()`` is called just before the first training step (see :func:`train_model`).

        With a ``ledger`` the estimator accounts for itself: everything that can fail without training is
        checked first (:meth:`preflight`), then the planned (ε, δ) is charged to the dataset (refused over
        budget), and the charge is settled by one fact, whether the run took a training step: a run that
        fails before its first step has its charge voided with the reason (:meth:`PrivacyLedger.void` says
        why that is sound); one that fails after keeps it, marked ``failed`` (an interruption leaves it
        ``charged``, so the run can resume under it); one that finishes records the ε it spent. ``run_id``
        names the charge (a ``resumed`` run passes its original id, so it is not charged twice, and counts as
        having stepped). Without a
        ledger the (ε, δ) of the run is still accounted and written to ``privacy.json``, but no dataset's
        budget is charged, and ``run.json`` says so (``ledger_run_id`` absent).

        ``fingerprint``: :func:`data_fingerprint` of ``cohort`` when the caller has it already (it reads
        every image file of an image cohort, so it is computed once per run).

        δ defaults to 1/(10·N) with N = ``len(cohort)`` (training and validation records together), which
        is what the privacy ledger charges before the run starts.

        ``validation_labels`` (e.g. expert-reviewed labels for some cases) makes those cases' patients the
        validation split, scored against these labels: thresholds, per-group thresholds and worst-group
        selection are then fitted on reviewed labels rather than on the (possibly biased) training labels.
        Other cases of those patients are used for neither side.

        ``config.label_issues`` (a label audit) excludes or softens the training cells it flags, and keeps
        flagged cells out of the validation split unless ``validation_labels`` are given; ``run.json`` records
        what it changed as counts only (see :meth:`prepare`).
        """
        if ledger is None:
            return self._fit(cohort, labels, progress, checkpoint, validation_labels, fingerprint, on_first_step)
        if self._preflighted != (id(cohort), id(labels), id(validation_labels)):
            self.preflight(cohort, labels, validation_labels, progress)
        fingerprint = fingerprint or data_fingerprint(cohort)
        charge = charge_training(ledger, cohort, self.config, fingerprint, run_id)
        stepped = resumed  # a resumed run took steps before it stopped

        def first_step() -> None:
            nonlocal stepped
            stepped = True
            if on_first_step is not None:
                on_first_step()

        try:
            self._fit(cohort, labels, progress, checkpoint, validation_labels, fingerprint, first_step)
            assert self.result is not None  # _fit sets it
            ledger.finish(charge.run_id, self.result.privacy.epsilon)
        except BaseException as e:
            settle_charge(e, ledger, charge, stepped)
            raise
        self.meta.update(ledger_run_id=charge.run_id, ledger_path=str(ledger.path.resolve()), ledger_fingerprint=charge.fingerprint)
        return self

    def _fit(
        self,
        cohort: Cohort,
        labels: LabelTable,
        progress: bool,
        checkpoint: Checkpointer | None,
        validation_labels: LabelTable | None,
        fingerprint: str | None,
        on_first_step,
    ) -> Self:
        """The training itself (see :meth:`fit`); subclasses extend this, so :meth:`fit` settles the charge of theirs too."""
        c = self.config
        self._set_threads()
        findings, train_idx, val_idx, train_t, train_m, val_targets, val_mask, group_vals = self.prepare(cohort, labels, validation_labels)
        inputs = self._encode(cohort, progress)
        torch.manual_seed(c.seed)
        self.findings = findings
        self.net = self._build(len(findings))
        train_inputs, units = self._take(inputs, train_idx), cohort.patient_ids[train_idx]
        canaries = self._canaries(findings)
        if canaries is not None:
            # Planted audit canaries (each its own patient) join the training split; the others stay out.
            inc = np.flatnonzero(canaries.included)
            train_inputs = train_inputs + self._encode(canaries.cohort.subset(inc))
            train_t = np.vstack([train_t, canaries.targets[inc]])
            train_m = np.vstack([train_m, np.ones_like(canaries.targets[inc])])
            units = np.concatenate([units, canaries.cohort.patient_ids[inc]])
        data = self._train_data(train_inputs, train_t, train_m)
        data.units = np.unique(units, return_inverse=True)[1]
        if group_vals is not None:
            codes, names = group_codes(group_vals)
            data.groups, data.n_groups = codes[train_idx], len(names)
        selector = None
        if c.selection == "worst_group":
            val_data = self._train_data(self._take(inputs, val_idx), val_targets, val_mask)
            selector = WorstGroupSelector(self.net, val_data, group_vals[val_idx], c)
        self.result = train_model(
            self.net,
            data,
            c,
            progress=progress,
            checkpoint=checkpoint,
            n_records=privacy_population(cohort, c),
            on_epoch_end=selector.on_epoch_end if selector else None,
            on_first_step=on_first_step,
        )
        self.fairness = {"groups": c.groups, "age_cuts": list(c.age_cuts), "mitigation": c.mitigation} if c.groups else {}
        if selector is not None:
            self.fairness["selection"] = selector.restore_best()

        if self.label_issue_summary is not None and c.private:
            self.result.privacy.note += (
                " The (ε, δ) guarantee is with respect to the training table after label cleaning (label_issues). The label audit"
                " that cleaned it was cross-fitted on the other records' data, so for the raw records the guarantee covers the"
                " cleaned labels as given, not the audit itself."
            )
        if c.postprocess != "none" or c.selection == "worst_group":
            self.result.privacy.note += " Per-group thresholds and worst-group epoch selection are fitted on the same validation records and are likewise outside the guarantee."
        # The selector already scored the validation split with the chosen weights; otherwise score it now.
        val_probs = selector.best_probs if selector is not None and selector.best_probs is not None else self._predict_inputs(self._take(inputs, val_idx), progress=False)
        self._validation = (val_idx, val_targets, val_mask, val_probs)  # for subclasses that fit more on the validation split
        self.thresholds = choose_thresholds(val_probs, val_targets, val_mask, findings, c)
        self.postprocess = None
        if c.postprocess != "none":
            assert c.groups is not None  # the config requires groups with postprocess
            self.postprocess = GroupThresholds.fit(
                val_probs,
                val_targets,
                val_mask,
                group_vals[val_idx],
                findings,
                c.groups,
                c.postprocess,
                c.postprocess_objective,
                c.min_validation_positives,
                c.seed,
                only=c.postprocess_findings,
            )
            self.fairness["postprocess"] = self.postprocess.to_dict()
        self.meta = {
            "radtrust_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "data_fingerprint": fingerprint or data_fingerprint(cohort),
            "label_source": labels.source,
            "validation_label_source": validation_labels.source if validation_labels is not None else labels.source,
            "n_records": len(cohort),
            "n_train": int(len(train_idx)),
            "n_validation": int(len(val_idx)),
            "n_patients": int(len(np.unique(cohort.patient_ids))),
            "train_wall_seconds": self.result.wall_seconds,
            **self._model_meta(),
        }
        if self.label_issue_summary is not None:
            self.meta["label_issues"] = dict(self.label_issue_summary)
        if canaries is not None:
            self.meta["canaries"] = canaries.to_meta()
        if cohort.deid is not None:
            self.meta["deid"] = dict(cohort.deid)  # engine, mode and counts of what was scrubbed before training
        return self

    def preflight(self, cohort: Cohort, labels: LabelTable, validation_labels: LabelTable | None = None, progress: bool = False) -> None:
        """Check everything that can fail before training, so that a run that cannot start fails before
        the privacy ledger is charged: the inputs and split (:meth:`prepare`), the encoder (resolved and its
        tokenizer loaded, never downloaded), and the noise for the target ε (σ calibrated from the number
        of training records and the settings; an ε that no σ reaches fails here). Image classifiers also
        decode every image."""
        findings, train_idx, *_ = self.prepare(cohort, labels, validation_labels)
        self._check_inputs(cohort, progress)
        canaries = self._canaries(findings)
        n_train = len(train_idx) + (int(canaries.included.sum()) if canaries is not None else 0)
        plan_noise(n_train, self.config, privacy_population(cohort, self.config))
        self._preflighted = (id(cohort), id(labels), id(validation_labels))

    def _canaries(self, findings: list[str]) -> Canaries | None:
        """The run's audit canaries (``config.canaries``; report runs only), or None."""
        n = getattr(self.config, "canaries", 0)
        return make_canaries(n, findings, getattr(self.config, "canary_seed", 0)) if n else None

    def prepare(self, cohort: Cohort, labels: LabelTable, validation_labels: LabelTable | None = None) -> tuple:
        """Check the inputs and split them, without tokenising or training (so a bad input fails before a
        privacy ledger is charged). Returns (findings, train positions, validation positions, training
        targets and loss mask, validation targets and loss mask, group value per case or None).

        With ``config.label_issues`` the audit is read and checked here too, so a wrong audit file also fails
        before any charge; what it changed is left in ``self.label_issue_summary``."""
        c = self.config
        self.label_issue_summary = None
        findings = list(c.findings) if c.findings else list(labels.findings)
        unknown = [f for f in findings if f not in labels.findings]
        if unknown:
            raise InputError(f"{labels.origin}: finding(s) not in the label file: {', '.join(unknown)}")
        group_vals = group_values(cohort.frame, c.groups, c.age_cuts, cohort.source) if c.groups else None
        if c.postprocess_findings:
            bad = [f for f in c.postprocess_findings if f not in findings]
            if bad:
                raise InputError(f"postprocess_findings: '{bad[0]}' is not one of the findings learned")
        case_ids = cohort.case_ids
        if validation_labels is None:
            table = labels.aligned_to(case_ids).select(findings)
            targets, mask = label_targets(table, c.uncertain_policy, self.missing_labels)
            train_idx, val_idx = patient_split(cohort, c.val_fraction, c.seed)
            val_t, val_m = targets[val_idx], mask[val_idx]
            targets, mask = targets[train_idx], mask[train_idx]
            train_rows, val_rows = train_idx, val_idx  # rows of ``table`` in each part
        else:
            missing = [f for f in findings if f not in validation_labels.findings]
            if missing:
                raise InputError(f"{validation_labels.origin}: validation labels lack finding(s): {', '.join(missing[:5])}")
            reviewed = set(validation_labels.case_ids)
            has = np.array([cid in reviewed for cid in cohort.case_ids])
            if not has.any():
                raise InputError(f"{validation_labels.origin}: none of the cohort's case ids has a validation label")
            val_patients = set(cohort.patient_ids[has])
            in_val_patient = np.array([p in val_patients for p in cohort.patient_ids])
            train_idx, val_idx = np.flatnonzero(~in_val_patient), np.flatnonzero(has)
            if len(train_idx) == 0:
                raise InputError(f"{validation_labels.origin}: every patient has validation labels; nothing is left to train on")
            table = labels.aligned_to([case_ids[i] for i in train_idx]).select(findings)
            targets, mask = label_targets(table, c.uncertain_policy, self.missing_labels)
            val_t, val_m = label_targets(validation_labels.aligned_to([case_ids[i] for i in val_idx]).select(findings), c.uncertain_policy, self.missing_labels)
            # Reviewed validation labels are what the run is judged against: the audit never alters them.
            train_rows, val_rows = np.arange(len(train_idx)), None
        # Thresholds are chosen on hard labels: a soft validation cell (uncertain under 'soft') stays out.
        val_m = np.where((val_t > 0) & (val_t < 1), 0.0, val_m).astype(np.float32)
        if c.label_issues:
            audit, audit_sha256 = self._read_label_audit()
            p_wrong = label_issue_cells(audit, table.case_ids, findings, table.values(), c.label_issues)
            targets, mask, n_changed = apply_label_issues(targets, mask, p_wrong[train_rows], c.label_issue_policy, c.label_issue_threshold)
            n_val = 0
            if val_rows is not None:
                # A flagged validation label is as doubtful as a training one, and threshold choice needs
                # hard 0/1 labels: flagged cells are left out of it under either policy.
                val_t, val_m, n_val = apply_label_issues(val_t, val_m, p_wrong[val_rows], "exclude", c.label_issue_threshold)
            self.label_issue_summary = self._label_issue_summary(audit_sha256, n_changed, n_val)
        if mask.sum() == 0:
            after = f" and the label audit ({c.label_issue_policy})" if c.label_issues else ""
            raise InputError(f"{labels.origin}: no usable labels after the uncertain policy '{c.uncertain_policy}'{after}")
        return findings, train_idx, val_idx, targets, mask, val_t, val_m, group_vals

    def _read_label_audit(self) -> tuple[pd.DataFrame, str]:
        """The audit file and its SHA-256, read once per classifier: ``prepare`` runs as a precheck and again
        in ``fit``, and an audit has a row per case and finding."""

        path = self.config.label_issues
        assert path is not None  # called only for a run with a label audit
        if self._label_audit is None or self._label_audit[0] != path:
            self._label_audit = (path, read_label_audit(path), file_sha256(path))
        return self._label_audit[1], self._label_audit[2]

    def _label_issue_summary(self, sha256: str, n_train: int, n_validation: int) -> dict:
        """What the audit changed, as counts only: the audit is internal-only and per case, so nothing per
        case (ids, probabilities) may reach the run folder, which is a released artifact."""
        c = self.config
        changed = "cells_excluded" if c.label_issue_policy == "exclude" else "cells_softened"
        return {
            "file_sha256": sha256,
            "policy": c.label_issue_policy,
            "threshold": c.label_issue_threshold,
            changed: n_train,
            "validation_cells_excluded": n_validation,
        }

    def predict_proba(self, cohort: Cohort, progress: bool = False) -> np.ndarray:
        """(n_cases, n_findings) probabilities, columns in ``self.findings`` order."""
        self._set_threads()
        return self._predict_inputs(self._encode(cohort, progress), progress)

    def predict(self, cohort: Cohort, probs: np.ndarray | None = None) -> np.ndarray:
        """0/1 decisions at the thresholds chosen on validation data (per group when the run was fitted
        with ``postprocess``; then the cohort needs the group columns)."""
        probs = self.predict_proba(cohort) if probs is None else probs
        if self.postprocess is not None:
            groups = group_values(cohort.frame, self.postprocess.attribute, self.fairness.get("age_cuts", DEFAULT_AGE_CUTS), cohort.source)
            return self.postprocess.predict(self.findings, probs, groups, self.thresholds, case_keys=cohort.case_ids)
        thr = np.array([self.thresholds[f] for f in self.findings])
        return (probs >= thr).astype(np.int8)

    # ---- run folder ----------------------------------------------------------------------------
    def save(self, run_dir: str | Path, overwrite: bool = False) -> Path:
        """Write the self-describing run folder (safetensors + JSON/YAML only, never pickle), all at once: the
        files go into a temporary folder beside ``run_dir``, renamed into place when complete, so a failure
        leaves no half-written run. A non-empty folder is replaced only with ``overwrite``. A run folder is
        released with its model, so nothing marked internal-only may go into it."""
        if self.net is None or self.result is None:
            raise RuntimeError("the classifier is not fitted")
        out = prepare_run_dir(run_dir, overwrite)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            self.write_run(tmp)
            publish_run_dir(tmp, out)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return out

    def write_run(self, run_dir: str | Path) -> Path:
        """The run folder's files, written into ``run_dir`` (an empty folder the caller publishes; see :meth:`save`)."""
        refuse_release([self.meta, self.fairness], "run folder")
        if self.net is None or self.result is None:
            raise RuntimeError("the classifier is not fitted")
        run = Path(run_dir)
        run.mkdir(parents=True, exist_ok=True)
        self._save_weights(run)
        with atomic_path(run / "config.yaml") as tmp:
            cfg = self.config.model_copy(update={"findings": self.findings})
            tmp.write_text(cfg.to_yaml(), encoding="utf-8")
        write_json({"findings": self.findings, "uncertain_policy": self.config.uncertain_policy, "not_mentioned": "negative", "label_source": self.meta.get("label_source")}, run / "labels.json")
        write_json(
            {"policy": self.config.threshold_policy, "chosen_on": "validation split of the training patients", "thresholds": self.thresholds, **self._extra_thresholds()}, run / "thresholds.json"
        )
        write_json(self._privacy_record(), run / "privacy.json")
        self._write_extra(run)
        write_json(self.result.history, run / "history.json")
        write_json(self.meta, run / "run.json")
        if self.fairness:
            write_json(self.fairness, run / "fairness.json")
        return run

    def _privacy_record(self) -> dict:
        """What ``privacy.json`` holds: the run's privacy report (a sibling may add what it started from)."""
        assert self.result is not None  # fitted
        return self.result.privacy.to_dict()

    def _write_extra(self, run: Path) -> None:
        """Further files a sibling writes into the run folder (e.g. the warm start it started from)."""
        return None

    def _loading_from(self, run: Path) -> None:
        """Called by :meth:`load` before the network is built from ``run``."""
        return None

    def _extra_thresholds(self) -> dict:
        """Further thresholds a subclass stores beside the per-case ones (e.g. per breast)."""
        return {}

    def _load_extra_thresholds(self, stored: dict) -> None:
        return None

    @classmethod
    def check_run_dir(cls, run_dir: str | Path) -> Path:
        """Fail early, with a one-line error, on a folder that is not a complete run."""
        run = Path(run_dir)
        if not run.is_dir():
            raise InputError(f"{run}: no such run folder")
        missing = [f for f in cls.run_files if not (run / f).exists()]
        if missing:
            raise InputError(f"{run}: not a radtrust run folder (missing {', '.join(missing)})")
        return run

    @classmethod
    def load(cls, run_dir: str | Path) -> Self:
        """Read a run folder, checking every file as it goes: a truncated, edited or foreign file is named
        in a one-line :class:`InputError` (never a traceback half-way through loading a model)."""
        run = cls.check_run_dir(run_dir)
        config = cls.config_class.build(read_run_yaml(run / "config.yaml"), origin=str(run / "config.yaml"))
        self = cls(config)
        labels_file = read_run_json(run / "labels.json")
        findings = labels_file.get("findings")
        if not (isinstance(findings, list) and findings and all(isinstance(f, str) for f in findings)):
            raise InputError(f"{run / 'labels.json'}: damaged run file (no list of findings)")
        self.findings = findings
        stored = read_run_json(run / "thresholds.json")
        thresholds = stored.get("thresholds")
        if not isinstance(thresholds, dict) or any(not isinstance(thresholds.get(f), (int, float)) for f in self.findings):
            raise InputError(f"{run / 'thresholds.json'}: damaged run file (no numeric threshold for every finding in labels.json)")
        self.thresholds = thresholds
        self._load_extra_thresholds(stored)
        self.meta = read_run_json(run / "run.json")
        self._loading_from(run)
        self.net = self._build(len(self.findings))
        self._load_weights(run)
        self.net.eval()
        if (run / "fairness.json").exists():
            self.fairness = read_run_json(run / "fairness.json")
            if "postprocess" in self.fairness:
                try:
                    self.postprocess = GroupThresholds.from_dict(self.fairness["postprocess"])
                except (KeyError, TypeError, ValueError):
                    raise InputError(f"{run / 'fairness.json'}: damaged run file (per-group thresholds)") from None
        return self

    @staticmethod
    def privacy_of(run_dir: str | Path) -> dict:
        return read_run_json(Path(run_dir) / "privacy.json")


class ReportClassifier(Classifier):
    """Multi-label report classifier (encoder + LoRA + head), trained privately unless ε = inf."""

    config_class = TrainConfig
    config: TrainConfig  # the report hooks read TrainConfig's model fields
    run_files = RUN_FILES

    def __init__(self, config: TrainConfig | None = None) -> None:
        super().__init__(config or TrainConfig())
        self._tokenizer = None
        self._warm: WarmStart | None = None
        self._warm_read = False

    def warm_start(self) -> WarmStart | None:
        """The pretrain folder this run starts from (``config.warm_start``), read once; None without one."""
        if not self._warm_read:
            path = resolve_warm_start(self.config.warm_start, self.config.encoder)
            self._warm = read_warm_start(path, self.config.encoder) if path is not None else None
            self._warm_read = True
        return self._warm

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.config.encoder)
        return self._tokenizer

    def _build(self, n_outputs: int) -> torch.nn.Module:
        c, warm = self.config, self.warm_start()
        net = build_report_net(
            c.encoder,
            n_outputs,
            c.lora_r,
            c.lora_alpha,
            c.lora_dropout,
            list(c.lora_targets),
            c.lora_top_layers,
            c.dropout,
            c.seed,
            c.pooling,
            c.method,
            c.pooled_norm,
            c.bitfit_top_layers,
            encoder_delta=warm.delta if warm else None,
            delta_key=warm.sha256 if warm else None,
        )
        if warm is not None and len(self.findings) == n_outputs:
            warm.init_head(net.head, self.findings)  # a loaded run then overwrites the head with its own
        return net

    def _encode(self, cohort: Cohort, progress: bool = False) -> list[list[int]]:
        """Token ids of every report of ``cohort``."""
        return tokenize(self.tokenizer, cohort.texts(), self.config.max_length)

    @staticmethod
    def _take(inputs, idx: np.ndarray):
        return [inputs[i] for i in idx]

    def _train_data(self, inputs, targets: np.ndarray, mask: np.ndarray) -> TrainData:
        return TrainData(inputs, targets, mask, self.tokenizer.pad_token_id)

    def _predict_inputs(self, inputs: list[list[int]], progress: bool = False, batch_size: int = 64) -> np.ndarray:
        if self.net is None:
            raise RuntimeError("the classifier is not fitted")
        self.net.eval()
        # Sort by length so each batch pads to a similar length; results go back in input order.
        order = np.argsort([len(x) for x in inputs], kind="stable")
        out = np.zeros((len(inputs), len(self.findings)), dtype=np.float32)
        with torch.inference_mode(), progress_bar("predicting", len(inputs), progress) as bar:
            for s in range(0, len(inputs), batch_size):
                chunk = order[s : s + batch_size]
                inp, att = pad_batch([inputs[i] for i in chunk], self.tokenizer.pad_token_id)
                out[chunk] = torch.sigmoid(self.net(inp, att)).numpy()
                bar.advance(len(chunk))
        return out

    def _check_inputs(self, cohort: Cohort, progress: bool = False) -> None:
        """The model can read this cohort: the encoder's tokenizer loads, its weights file is whole, and a
        warm start is a pretrain folder that fits it."""
        _ = self.tokenizer
        check_encoder_weights(self.config.encoder)
        self.warm_start()

    def _privacy_record(self) -> dict:
        d = super()._privacy_record()
        warm = self.warm_start()
        if warm is not None:
            d["warm_start"] = warm.describe()
            d["note"] = (
                d.get("note", "") + " The run started from a warm start fitted on synthetic reports only (no patient data; see"
                " warm_start): initial weights chosen without the private data leave this guarantee as it is."
            ).strip()
        return d

    def _write_extra(self, run: Path) -> None:
        warm = self.warm_start()
        if warm is not None:
            copy_warm_start(warm, run)

    def _loading_from(self, run: Path) -> None:
        if (run / "warm_start").is_dir():
            self._warm, self._warm_read = read_warm_start(run / "warm_start", self.config.encoder), True
        elif resolve_warm_start(self.config.warm_start, self.config.encoder) is not None:
            raise InputError(f"{run}: damaged run folder (trained from a warm start, but warm_start/ is missing)")

    def _model_meta(self) -> dict:
        warm = self.warm_start()
        return {
            **({"warm_start": warm.describe()} if warm is not None else {}),
            "intended_use": "research: multi-label finding classification of chest radiograph report text (findings + impression sections); not for clinical decisions.",
            "inputs": "report text: FINDINGS and IMPRESSION sections, English",
            "outputs": "per finding: probability and 0/1 decision at the stored threshold",
        }

    def _save_weights(self, run: Path) -> None:
        adapter = trainable_encoder_state(self.net, self.config.method)
        head = {k: v.detach().contiguous() for k, v in self.net.head.state_dict().items()}
        with atomic_path(run / "adapter.safetensors") as tmp:
            # One metadata key only: safetensors writes metadata from a hash map whose order varies per
            # process, so a second key makes identical weights differ byte for byte (config.yaml has the method).
            save_file(adapter, str(tmp), metadata={"format": "pt"})
        with atomic_path(run / "head.safetensors") as tmp:
            save_file(head, str(tmp), metadata={"format": "pt"})

    def _load_weights(self, run: Path) -> None:
        if not load_trainable_encoder_state(self.net, self.config.method, read_weights(run / "adapter.safetensors")):
            raise InputError(f"{run / 'adapter.safetensors'}: adapter weights do not match the configured encoder")
        load_module_state(self.net.head, read_weights(run / "head.safetensors"), run / "head.safetensors")


def read_run_json(path: Path) -> dict:
    """A run folder's JSON object file, or a one-line :class:`InputError` naming it."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: missing from the run folder") from None
    except (OSError, UnicodeDecodeError, ValueError):
        raise InputError(f"{path}: damaged run file (not readable JSON)") from None
    if not isinstance(obj, dict):
        raise InputError(f"{path}: damaged run file (expected a JSON object)")
    return obj


def read_run_yaml(path: Path) -> dict:
    """A run folder's ``config.yaml`` as a mapping, or a one-line :class:`InputError` naming it."""
    try:
        obj = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        raise InputError(f"{path}: damaged run file (not readable YAML)") from None
    if not isinstance(obj, dict):
        raise InputError(f"{path}: damaged run file (expected a mapping of options)")
    return obj


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors weights file, or a one-line :class:`InputError` (truncated, random or foreign bytes)."""
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise InputError(f"{path}: missing from the run folder") from None
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error type and OSError for damaged files
        raise InputError(f"{path}: damaged weights file ({type(e).__name__})") from None


def load_module_state(module: torch.nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    """``module.load_state_dict(state)``, a mismatch (other names or shapes) reported as a damaged file."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError):
        raise InputError(f"{path}: weights do not fit this run's model (other names or shapes); the file is damaged or from another run") from None


class WorstGroupSelector:
    """Worst-group model selection over epochs: after each epoch, score the validation split by group
    (macro AUROC of the worst group) and keep a copy of the trainable weights of the best epoch so far.

    The frozen layers' output on the validation split is computed once; each epoch only runs the
    trainable top. Every epoch's weights are already covered by the DP guarantee (the accountant composes
    all steps), so choosing among them costs no privacy; the choice uses validation data, like thresholds.
    """

    def __init__(self, net, val: TrainData, groups: np.ndarray, config: LoopConfig) -> None:
        self.net, self.val, self.groups = net, val, np.asarray(groups, dtype=str)
        self.min_cases, self.min_positives = config.min_group_size, config.min_validation_positives
        self.best: tuple[float, int, dict] | None = None
        self.best_probs: np.ndarray | None = None  # validation probabilities of the best epoch
        self.scores: list[dict] = []
        val.prepare(net, config)

    def _params(self) -> dict[str, torch.Tensor]:
        return {k: p.detach().clone() for k, p in self.net.named_parameters() if p.requires_grad}

    def on_epoch_end(self, epoch: int) -> dict:
        was_training = self.net.training
        self.net.eval()
        head = self.net.trainable_part()
        probs = np.zeros(self.val.targets.shape, dtype=np.float32)
        order = np.argsort(self.val.lengths(), kind="stable")
        with torch.inference_mode():
            for s in range(0, len(order), 128):
                chunk = order[s : s + 128]
                inputs, _, _ = self.val.batch(chunk, self.net, training=False)
                probs[chunk] = torch.sigmoid(head(*inputs)).numpy()
        self.net.train(was_training)
        value, group, _ = worst_group_auroc(probs, self.val.targets, self.val.loss_mask, self.groups, self.min_cases, self.min_positives)
        score = {"epoch": epoch, "worst_group_macro_auroc": None if np.isnan(value) else value, "worst_group": group}
        self.scores.append(score)
        if not np.isnan(value) and (self.best is None or value > self.best[0]):
            self.best = (value, epoch, self._params())
            self.best_probs = probs
        return {"validation_worst_group_macro_auroc": score["worst_group_macro_auroc"], "validation_worst_group": group}

    def restore_best(self) -> dict:
        """Load the best epoch's weights into the net; returns what was chosen and why."""
        self.val.release()
        if self.best is None:
            return {"policy": "worst_group", "chosen_epoch": None, "note": "no group was large enough to judge; kept the last epoch", "by_epoch": self.scores}
        value, epoch, params = self.best
        with torch.no_grad():
            for k, p in self.net.named_parameters():
                if k in params:
                    p.copy_(params[k])
        return {"policy": "worst_group", "metric": "validation macro AUROC of the worst group", "chosen_epoch": epoch, "value": value, "by_epoch": self.scores}
