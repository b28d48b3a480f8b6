"""Empirical privacy audit of a trained run: membership inference against the model, measured.

The accountant's ε is an upper bound on what the run can leak. This audit attacks the model and turns the
attack's success into a *lower* bound on ε (:mod:`radtrust.privacy.audit`), to set beside the claimed one.
A claimed ε that the lower bound exceeds means a bug in the training or the accounting; a non-private
model whose lower bound is far above zero shows what DP is protecting against.

Records attacked:

- the run's own training records (members) against the records of the patients it held out for
  validation (non-members): the split is recomputed from the run's config, and the data must be the data
  the run was trained on (same fingerprint);
- the run's canaries (``canaries`` in the training config, :mod:`radtrust.train.canaries`): random-text
  reports with random labels, each trained on with probability 1/2. They are built to be memorised,
  so they give the tightest bound.

Attacks:

- ``loss``: the per-record loss of the target model on the record's labels, thresholded (Yeom et al.,
  2018): no shadow models, the baseline every audit reports.
- ``lira``: online LiRA (Carlini et al., 2022) with ``shadows`` shadow models trained with the run's own
  recipe (same config, same ε) on random halves of the audited records, each record in exactly half of
  them. The statistic is the sum over the record's labels of the logit margin of its label.

For every attack: AUC with a patient-clustered 95% interval, TPR at FPR 1% and 0.1% with Clopper–Pearson
intervals, and the ε lower bound with the threshold chosen on half the records and measured on the other
half, at confidence 1 - alpha/(number of bounds taken) (Bonferroni: the headline is the largest of them).

The audit uses the membership of every record, so its numbers are not differentially private: they are
for the data holder's review. It is recorded in the privacy ledger as a non-private analysis (ε = inf).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from radtrust.data.fingerprint import data_fingerprint, file_fingerprint
from radtrust.data.io import check_output, write_json
from radtrust.data.readers import read_labels
from radtrust.data.schema import Cohort, CohortScrubber, LabelTable, label_targets
from radtrust.data.splits import patient_split
from radtrust.errors import InputError, PrivacyError
from radtrust.models.text import pad_features
from radtrust.privacy.audit import attack_metrics, heldout_epsilon, lira_scores, tpr_at_fpr
from radtrust.privacy.ledger import new_run_id, resolve_ledger
from radtrust.progress import progress_bar
from radtrust.stats import N_BOOT, auroc_or_nan, clustered_interval
from radtrust.train.canaries import make_canaries
from radtrust.train.estimator import ReportClassifier

LOW_FPRS = (0.01, 0.001)


class PrivacyAuditConfig(BaseModel):
    """How hard the audit attacks."""

    model_config = ConfigDict(extra="forbid")

    shadows: int = Field(4, ge=0, le=64, description="shadow models for LiRA (even; 0 = loss attack only)")
    alpha: float = Field(0.05, gt=0, lt=0.5, description="1 - confidence of the ε lower bound (split over the bounds taken)")
    n_boot: int = Field(N_BOOT, ge=100, description="bootstrap resamples for the AUC intervals")
    seed: int = 0

    @field_validator("shadows")
    @classmethod
    def _even(cls, v: int) -> int:
        if v % 2:
            raise ValueError("shadows must be even: each record is in exactly half of the shadow models")
        return v


def record_statistics(probs: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per record: (sum over its counted labels of the logit margin of the given label, mean BCE loss).

    The margin log(p/(1-p)) for a positive label and its negative for a negative one is LiRA's
    statistic: close to Gaussian across models, unlike the probability itself."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-7, 1 - 1e-7)
    z = np.log(p) - np.log1p(-p)
    sign = 2.0 * targets - 1.0
    margin = (mask * sign * z).sum(1)
    bce = -(targets * np.log(p) + (1 - targets) * np.log1p(-p))
    loss = (mask * bce).sum(1) / np.maximum(mask.sum(1), 1)
    return margin, loss


def balanced_inclusion(n_units: int, n_shadows: int, seed: int) -> np.ndarray:
    """(n_shadows, n_units) bool: each unit in exactly half of the shadow models, chosen at random."""
    rng = np.random.default_rng([seed, 0x5AD0])
    out = np.zeros((n_shadows, n_units), dtype=bool)
    for u in range(n_units):
        out[rng.permutation(n_shadows)[: n_shadows // 2], u] = True
    return out


def score_attack(member: np.ndarray, nonmember: np.ndarray, member_clusters: np.ndarray, nonmember_clusters: np.ndarray, delta: float, alpha: float, n_boot: int, seed: int) -> dict:
    """AUC (patient-clustered 95% interval), TPR at FPR 1% and 0.1% (Clopper–Pearson) and the held-out
    ε lower bound at confidence 1 - alpha, for one attack's scores (higher = member)."""
    out = attack_metrics(member, nonmember, fprs=())  # AUC; the TPRs below carry their intervals
    y = np.concatenate([np.ones(len(member)), np.zeros(len(nonmember))])
    s = np.concatenate([member, nonmember])
    clusters = np.concatenate([np.asarray(member_clusters, dtype=object), np.asarray(nonmember_clusters, dtype=object)])
    out["auc_ci95"] = clustered_interval(auroc_or_nan, y, s, clusters, n_boot, seed)
    for f in LOW_FPRS:
        out[f"tpr_at_fpr_{f:g}"] = tpr_at_fpr(member, nonmember, f, 0.05)
    out["epsilon"] = heldout_epsilon(member, nonmember, delta, alpha, seed)
    return out


def _cached_features(est, inputs) -> list[torch.Tensor] | None:
    """The frozen layers' output for every record, computed once for the target and all shadows (report
    models: the frozen trunk is the same pretrained network in each). None for image models."""
    from radtrust.train.loop import TrainData  # loads opacus: imported on first use

    probe = est._train_data(inputs, np.zeros((len(inputs), 1), np.float32), np.zeros((len(inputs), 1), np.float32))
    if not isinstance(probe, TrainData):
        return None
    probe.cache_features(est.net)
    return probe.features


def _predict(est, net, inputs, feats) -> np.ndarray:
    if feats is None:
        saved, est.net = est.net, net
        try:
            return est._predict_inputs(inputs)
        finally:
            est.net = saved

    net.eval()
    out = []
    with torch.inference_mode():
        for s in range(0, len(feats), 256):
            hidden, att = pad_features(feats[s : s + 256])
            out.append(torch.sigmoid(net.forward_features(hidden, att)).numpy())
    return np.concatenate(out)


def audit_privacy(run_dir: str | Path, cohort: Cohort, labels: LabelTable, config: PrivacyAuditConfig | None = None, progress: bool = False, fingerprints: tuple[str, ...] = ()) -> dict:
    """Attack the run in ``run_dir`` trained on ``cohort``/``labels``; return the audit (JSON-ready).

    The run must have been trained on ``cohort``: its recorded fingerprint must be the cohort's, or one of
    ``fingerprints`` (the whole file's, as ``radtrust train`` records when it charges a ledger).
    Counts, rates and bounds only: no record, text or identifier."""
    from radtrust.train.api import load_classifier  # loads opacus: imported on first use
    from radtrust.train.loop import train_model  # loads opacus: imported on first use

    cfg = config or PrivacyAuditConfig()
    clf = load_classifier(run_dir)
    c = clf.config
    check_training_data(run_dir, clf.meta, cohort, fingerprints)
    if clf.meta.get("validation_label_source", clf.meta.get("label_source")) != clf.meta.get("label_source"):
        raise InputError(f"run {run_dir} was validated on separate reviewed labels; its split cannot be rebuilt from the training data alone")
    findings = list(clf.findings)
    missing = [f for f in findings if f not in labels.findings]
    if missing:
        raise InputError(f"{labels.origin}: finding(s) the run learned are not in the label file: {', '.join(missing[:5])}")
    targets, mask = label_targets(labels.aligned_to(cohort.case_ids).select(findings), c.uncertain_policy, clf.missing_labels)
    train_idx, val_idx = patient_split(cohort, c.val_fraction, c.seed)
    pop_idx = np.concatenate([train_idx, val_idx])
    is_member = np.concatenate([np.ones(len(train_idx), bool), np.zeros(len(val_idx), bool)])
    clusters = cohort.patient_ids[pop_idx]
    clf._set_threads()
    inputs = clf._take(clf._encode(cohort, progress), pop_idx)
    T, M = targets[pop_idx].astype(np.float32), mask[pop_idx].astype(np.float32)
    is_canary = np.zeros(len(pop_idx), bool)
    canary_meta = clf.meta.get("canaries")
    if canary_meta:
        can = make_canaries(int(canary_meta["n"]), findings, int(canary_meta["seed"]))
        if int(can.included.sum()) != int(canary_meta["n_included"]):
            raise InputError(f"run {run_dir}: its canaries cannot be rebuilt (generator changed?)")
        inputs = inputs + clf._encode(can.cohort)
        T, M = np.vstack([T, can.targets]), np.vstack([M, np.ones_like(can.targets)])
        is_member = np.concatenate([is_member, can.included])
        clusters = np.concatenate([clusters, can.cohort.patient_ids])
        is_canary = np.concatenate([is_canary, np.ones(len(can.included), bool)])

    feats = _cached_features(clf, inputs)
    target_margin, target_loss = record_statistics(_predict(clf, clf.net, inputs, feats), T, M)

    privacy = clf.privacy_of(run_dir)
    claimed_eps = float(privacy["epsilon"])
    delta = privacy.get("delta") or 1.0 / (10 * len(cohort))
    scores = {"loss": -target_loss}
    shadow_note = None
    if cfg.shadows:
        units, unit_of = np.unique(clusters, return_inverse=True)
        inclusion = balanced_inclusion(len(units), cfg.shadows, cfg.seed)[:, unit_of]
        stats = np.zeros((cfg.shadows, len(clusters)))
        with progress_bar("shadow models", cfg.shadows, progress) as bar:
            for k in range(cfg.shadows):
                sc = c.model_copy(update={"seed": c.seed + 1000 + k, "canaries": 0} if hasattr(c, "canaries") else {"seed": c.seed + 1000 + k})
                shadow = type(clf)(sc)
                if isinstance(shadow, ReportClassifier) and isinstance(clf, ReportClassifier):
                    shadow._tokenizer = clf._tokenizer  # loaded once, shared by the shadows
                    # the warm start the run carries in its folder, not the path it was trained from
                    shadow._warm, shadow._warm_read = clf._warm, clf._warm_read
                idx = np.flatnonzero(inclusion[k])
                net = shadow._build(len(findings))
                data = shadow._train_data(clf._take(inputs, idx), T[idx], M[idx])
                data.units = np.unique(clusters[idx], return_inverse=True)[1]
                if feats is not None:
                    data.features = [feats[i] for i in idx]
                train_model(net, data, sc, n_records=len(idx))  # type: ignore[arg-type]  # a ReportNet or an ImageNet: the loop uses their shared interface
                stats[k] = record_statistics(_predict(shadow, net, inputs, feats), T, M)[0]
                bar.advance(1)
        scores["lira"] = lira_scores(target_margin, stats, inclusion)
        shadow_note = f"{cfg.shadows} shadow models, each trained with the run's config on half of the audited patients (and canaries)"

    groups = {"training_records": ~is_canary, "canaries": is_canary}
    n_bounds = sum(1 for g in groups.values() if g.any() and is_member[g].any() and (~is_member[g]).any()) * len(scores)
    alpha = cfg.alpha / max(n_bounds, 1)
    attacks: dict[str, dict] = {}
    for gname, g in groups.items():
        mem, non = g & is_member, g & ~is_member
        if not mem.any() or not non.any():
            continue
        for aname, s in scores.items():
            attacks[f"{aname}/{gname}"] = score_attack(s[mem], s[non], clusters[mem], clusters[non], delta, alpha, cfg.n_boot, cfg.seed)
    best_name = max(attacks, key=lambda k: attacks[k]["epsilon"]["epsilon_lower_bound"]) if attacks else None
    best = attacks[best_name]["epsilon"]["epsilon_lower_bound"] if best_name else 0.0
    return {
        "run": str(run_dir),
        "claimed": {"epsilon": "inf" if math.isinf(claimed_eps) else claimed_eps, "delta": privacy.get("delta"), "accountant": privacy.get("accountant"), "unit": privacy.get("unit")},
        "empirical_epsilon": {
            "lower_bound": best,
            "attack": best_name,
            "delta": delta,
            "confidence": 1 - cfg.alpha,
            "within_claim": bool(best <= claimed_eps + 1e-9),
            "method": "largest held-out Clopper-Pearson bound over the attacks, each at confidence 1 - alpha/(number of bounds) (Bonferroni)",
        },  # fmt: skip
        "population": {
            "training_records": int((is_member & ~is_canary).sum()),
            "held_out_records": int((~is_member & ~is_canary).sum()),
            "canaries_included": int((is_member & is_canary).sum()),
            "canaries_excluded": int((~is_member & is_canary).sum()),
            "patients": int(len(np.unique(clusters[~is_canary]))),
        },  # fmt: skip
        "attacks": attacks,
        "shadows": shadow_note,
        "config": cfg.model_dump(),
        "note": "The audit uses every record's membership, so these numbers are not differentially private: they are for the data "
        "holder's review. Training records are attacked against the patients the run held out for validation.",
    }


def check_training_data(run_dir: str | Path, meta: dict, cohort: Cohort, fingerprints: tuple[str, ...] = ()) -> None:
    """Refuse to attack the run (``meta``: its run.json) with other data, or other text, than it trained on.

    The recorded fingerprint must be one of ``fingerprints`` or the cohort's (hashed only when needed), and
    the text must have been read with the training's de-identification settings."""

    recorded = meta.get("data_fingerprint")
    if recorded not in fingerprints and recorded != data_fingerprint(cohort):
        raise InputError(f"{cohort.source}: not the data run {run_dir} was trained on (fingerprint differs): the audit needs the training data")
    _check_same_text(run_dir, meta.get("deid"), cohort.deid)


def _describe_deid(d: dict | None) -> str:
    return "off" if not d else d["mode"] + (" with date shifts" if d.get("shift_dates") else "")


def _check_same_text(run: str | Path, trained: dict | None, now: dict | None) -> None:
    """Refuse an audit that would attack the model with other text than it was trained on: the ledger
    fingerprint is the raw file's, so only the de-identification settings tell the two reads apart."""
    if _describe_deid(trained) != _describe_deid(now):
        raise InputError(
            f"run {run} was trained on text de-identified as '{_describe_deid(trained)}' but the data was read now as "
            f"'{_describe_deid(now)}': rerun with the same `deid` options (and `deid_key_file`) as the training"
        )
    if trained and (trained["mode"] == "surrogate" or trained.get("shift_dates")) and not trained.get("keyed", True):
        raise InputError(
            f"run {run} was trained on surrogates or shifted dates made with a one-off random key, so the text it saw "
            "cannot be rebuilt for the audit: train with `deid_key_file` (or `deid` mask) to audit it"
        )


def audit_privacy_files(
    run: str | Path,
    data: str | Path,
    labels: str | Path | None,
    out: str | Path,
    config: PrivacyAuditConfig | None = None,
    id_column: str | None = None,
    column_map=None,
    empty_reports: str = "error",
    ledger: str | Path | bool | None = True,
    progress: bool = False,
    *,
    deid: CohortScrubber | None,
) -> dict:
    """Read the run's training data and labels as ``radtrust train`` did (``deid``: the same de-identification
    as the training, which is checked), audit, write ``out`` (JSON,
    atomically) and record the audit in the privacy ledger as a non-private analysis (ε = inf)."""
    from radtrust.train.api import read_inputs, run_config  # loads opacus: imported on first use
    from radtrust.train.estimator import read_run_json  # loads opacus: imported on first use

    check_output(out, [data, labels], suffixes=(".json",))
    rc = run_config(run)
    cohort, carried = read_inputs(data, rc, column_map, empty_reports, deid=deid)
    table = read_labels(labels, id_column=id_column) if labels is not None else carried
    if table is None:
        raise InputError(f"{data}: no labels: pass the label file the run was trained on")
    ids = set(table.case_ids)
    keep = np.array([c in ids for c in cohort.case_ids])
    whole = data_fingerprint(cohort) if cohort.modality == "image" else file_fingerprint(data, column_map, read=cohort)
    if not keep.all():
        cohort = cohort.subset(keep)
    check_training_data(run, read_run_json(Path(run) / "run.json"), cohort, (whole,))  # before anything is charged
    privacy_ledger = resolve_ledger(ledger)
    if privacy_ledger is not None:
        try:
            charge = privacy_ledger.charge(whole, new_run_id(), math.inf, None, None, "membership-inference audit", None)
        except PrivacyError as e:
            raise PrivacyError(f"{e}. The audit reads every record's membership and is not private; run it where the dataset has no budget") from None
    result = audit_privacy(run, cohort, table, config, progress, fingerprints=(whole,))
    write_json(result, Path(out))
    if privacy_ledger is not None:
        privacy_ledger.finish(charge.run_id, math.inf)
    return result
