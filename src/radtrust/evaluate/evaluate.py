"""Score a trained run against a gold-standard label table: the numbers that go into ``metrics.json``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from radtrust.data.io import check_output, write_json
from radtrust.data.readers import read_labels
from radtrust.data.schema import Cohort, CohortScrubber, LabelTable
from radtrust.errors import InputError
from radtrust.evaluate.images import score_images
from radtrust.evaluate.metrics import multilabel_metrics
from radtrust.train.api import load_classifier, read_inputs, run_config
from radtrust.train.config import ImageTrainConfig
from radtrust.train.estimator import Classifier


def score_against_gold(
    clf: Classifier,
    cohort: Cohort,
    gold: LabelTable,
    probs: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Metrics of ``clf`` on the cases of ``cohort`` that have a gold label, over the findings both share.

    Decisions use the thresholds stored in the run (chosen on the run's own validation split), never
    thresholds tuned on the data being scored.
    """
    shared = [f for f in clf.findings if f in gold.findings]
    if not shared:
        raise InputError(f"{gold.origin}: no finding in common with the model (model: {', '.join(clf.findings[:5])}...; gold: {', '.join(gold.findings[:5])}...)")
    gold_ids = set(gold.case_ids)
    keep = np.array([c in gold_ids for c in cohort.case_ids])
    if not keep.any():
        raise InputError(f"{gold.origin}: none of the cohort's case ids has a gold label")
    sub = cohort.subset(keep)
    probs = clf.predict_proba(sub, progress=progress) if probs is None else probs[keep]
    preds = clf.predict(sub, probs=probs)
    cols = [clf.findings.index(f) for f in shared]
    y_true = gold_values(clf, gold, sub.case_ids, shared)
    out = multilabel_metrics(y_true, probs[:, cols], preds[:, cols], shared, clusters=sub.patient_ids, n_boot=n_boot, seed=seed)
    out["n_cases_without_gold"] = int((~keep).sum())
    out["threshold_policy"] = {
        "policy": clf.config.threshold_policy,
        "chosen_on": "validation split of the training patients (never on the scored data)",
        "thresholds": {f: clf.thresholds[f] for f in shared},
    }
    out["gold_source"] = gold.source
    out["model_findings_not_in_gold"] = [f for f in clf.findings if f not in shared]
    if sub.modality == "image" and "laterality" in sub.frame.columns and isinstance(clf.config, ImageTrainConfig):
        # View rows are the training unit; readers decide per breast and per exam.
        out["breast_level"] = score_images(sub, probs[:, cols], y_true, shared, clf.config.breast_aggregation, n_boot=n_boot, seed=seed)
    return out


def score_labels_against_gold(
    predicted: LabelTable,
    cohort: Cohort,
    gold: LabelTable,
    uncertain_as: str = "negative",
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    """Metrics of a label table (a labeler's output, e.g. the teacher a student learned from) on the cases of
    ``cohort`` that have a gold label, on the same footing as :func:`score_against_gold`: the same findings,
    averages, patient-clustered intervals and seed, so teacher and student sit in one table.

    A label of 1 is a positive decision; uncertain (-1) counts as ``uncertain_as`` (negative by default,
    as the students are trained with ``uncertain_policy: ignore`` and decide at a threshold); an empty cell
    (not mentioned) is negative. A label table has no probabilities, so no AUROC."""
    if uncertain_as not in ("negative", "positive"):
        raise InputError(f"uncertain_as must be negative or positive, got '{uncertain_as}'")
    shared = [f for f in predicted.findings if f in gold.findings]
    if not shared:
        raise InputError(f"{gold.origin}: no finding in common with {predicted.origin}")
    gold_ids, have = set(gold.case_ids), set(predicted.case_ids)
    keep = np.array([c in gold_ids for c in cohort.case_ids])
    if not keep.any():
        raise InputError(f"{gold.origin}: none of the cohort's case ids has a gold label")
    sub = cohort.subset(keep)
    missing = [c for c in sub.case_ids if c not in have]
    if missing:
        raise InputError(f"{predicted.origin}: {len(missing)} scored case(s) have no label (first: row for case '{missing[0]}' is absent)")
    labels = predicted.aligned_to(sub.case_ids).select(shared).values()
    decided = ((labels == 1) | ((labels == -1) if uncertain_as == "positive" else False)).astype(int)
    y_true = gold.aligned_to(sub.case_ids).select(shared).values()
    out = multilabel_metrics(y_true, None, decided, shared, clusters=sub.patient_ids, n_boot=n_boot, seed=seed)
    out["n_cases_without_gold"] = int((~keep).sum())
    out["scored"] = {"labels": predicted.source, "uncertain_counts_as": uncertain_as}
    out["gold_source"] = gold.source
    return out


def gold_values(clf: Classifier, gold: LabelTable, case_ids: list[str], findings: list[str]) -> np.ndarray:
    """Gold labels aligned to ``case_ids``. For a model whose empty label cells mean "does not apply"
    (image truth: benign vs malignant has no answer for a normal breast) empty cells become -1, which
    every scorer leaves out of that finding's counts, instead of counting as negatives."""
    y = gold.aligned_to(case_ids).select(findings).values()
    if clf.missing_labels == "ignore":
        y = np.where(np.isnan(y), -1.0, y)
    return y


def evaluate_run(run_dir: str | Path, cohort: Cohort, gold: LabelTable, n_boot: int = 1000, progress: bool = False, seed: int = 0) -> dict:
    """Load a run folder, score it on ``cohort`` against ``gold``, and attach the run's privacy record."""
    clf = load_classifier(run_dir)
    out = score_against_gold(clf, cohort, gold, n_boot=n_boot, seed=seed, progress=progress)
    out["privacy"] = Classifier.privacy_of(run_dir)
    return out


def evaluate_files(
    run: str | Path | None,
    data: str | Path,
    labels: str | Path | None,
    out: str | Path,
    id_column: str | None = None,
    column_map=None,
    empty_reports: str = "error",
    n_boot: int = 1000,
    progress: bool = False,
    *,
    deid: CohortScrubber | None,
    predicted: str | Path | None = None,
    uncertain_as: str = "negative",
) -> dict:
    """Read data (report text through ``deid``) and gold labels, score the run (or, with ``predicted``, a
    label table such as the teacher's; see :func:`score_labels_against_gold`), and write ``metrics.json``
    atomically."""

    if (run is None) == (predicted is None):
        raise InputError("score either a run (`run`) or a label table (`predicted`), one of the two")
    check_output(out, [data, labels, predicted], suffixes=(".json",))
    if predicted is not None:
        if labels is None:
            raise InputError(f"{predicted}: pass the gold-standard label file to score it against")
        cohort, _ = read_inputs(data, None, column_map, empty_reports, deid=deid)
        pred_table = read_labels(predicted)
        metrics = score_labels_against_gold(pred_table, cohort, read_labels(labels, id_column=id_column), uncertain_as, n_boot=n_boot)
        write_json(metrics, out)
        return metrics
    assert run is not None  # exactly one of the two, checked above
    config = run_config(run)  # fail on a bad run folder before reading large data
    cohort, carried = read_inputs(data, config, column_map, empty_reports, deid=deid)
    gold = read_labels(labels, id_column=id_column) if labels is not None else carried
    if gold is None:
        raise InputError(f"{data}: no gold labels: pass a label file")
    metrics = evaluate_run(run, cohort, gold, n_boot=n_boot, progress=progress)
    write_json(metrics, out)
    return metrics
