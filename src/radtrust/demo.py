"""``radtrust demo``: the whole pipeline on the built-in synthetic cohort, in a few minutes on a laptop CPU.

Synthesize reports with hidden truth → label them with the rule labeler → train a private (ε = 8) and a
non-private report classifier on the labeler's labels → score both against the hidden truth on held-out
patients → write ``report.html`` and ``metrics.json``.

Then the same for screening mammograms (``mammography.json`` and a section of the report): a synthetic
archive of four-view exams with reports → image labels read off the reports by the mammography labeler
(the population-health route) → a private (ε = 8 per woman) and a non-private image model → breast- and
exam-level scores against the hidden image truth on held-out women, by density, site and scanner make.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from radtrust.data.io import write_json, write_table
from radtrust.data.schema import Cohort
from radtrust.data.splits import patient_split
from radtrust.evaluate.evaluate import score_against_gold
from radtrust.evaluate.images import score_images
from radtrust.evaluate.metrics import multilabel_metrics
from radtrust.evaluate.privacy_audit import PrivacyAuditConfig, audit_privacy
from radtrust.fairness.api import audit_run, forest_for
from radtrust.fairness.audit import AuditConfig
from radtrust.labeling.image_labels import image_labels_from_reports
from radtrust.labeling.mammo import MammoLabeler
from radtrust.labeling.rules import RuleLabeler
from radtrust.privacy.ledger import PrivacyLedger
from radtrust.progress import console
from radtrust.report.html import fairness_context, render_metrics_report, write_report
from radtrust.synth.chest import ChestSynthConfig, synth_chest
from radtrust.synth.mammo_images import MammoImageSynthConfig, write_synth_mammo_images
from radtrust.train.api import fit_and_save
from radtrust.train.config import ImageTrainConfig, TrainConfig

#: Demo training settings: LoRA on the top encoder layer only and reports cut at 96 tokens keep both runs
#: to about a minute and a half each on 2 CPU cores; everything else is the library default.
DEMO_TRAIN = dict(lora_top_layers=1, max_length=96)
#: Canaries planted in each demo run for its membership-inference audit (half are trained on).
DEMO_CANARIES = 100


def _privacy_audit(run: Path, train: Cohort, labels, seed: int) -> dict:
    """The run's membership-inference audit on its canaries and training records (loss attack; the
    benchmark adds LiRA shadow models), condensed for the report."""

    a = audit_privacy(run, train, labels, PrivacyAuditConfig(shadows=0, n_boot=500, seed=seed))
    write_json(a, run / "privacy_audit.json")
    can, rec = a["attacks"].get("loss/canaries"), a["attacks"]["loss/training_records"]
    return {
        "canary_auc": can["auc"] if can else None, "canary_auc_ci95": can["auc_ci95"] if can else None,
        "canary_tpr_at_fpr_0.01": can["tpr_at_fpr_0.01"]["tpr"] if can else None,
        "record_auc": rec["auc"], "record_auc_ci95": rec["auc_ci95"],
        "epsilon_lower_bound": a["empirical_epsilon"]["lower_bound"], "confidence": a["empirical_epsilon"]["confidence"],
        "within_claim": a["empirical_epsilon"]["within_claim"], "n_canaries": a["population"]["canaries_included"] + a["population"]["canaries_excluded"],
    }  # fmt: skip


def _audit_private_model(clf, test, test_truth, seed: int, out: Path) -> dict:
    """Audit the private model by sex, age band, race and site on the test patients; writes fairness.json."""

    audit = audit_run(clf, test, test_truth, AuditConfig(["sex", "age_band", "race", "site"], seed=seed))
    d = audit.to_dict()
    write_json(d, out / "fairness.json")
    png, caption = forest_for(d, "tpr")
    return fairness_context(d, png, caption, model="private model")


def _mammography(out: Path, n_women: int, seed: int, epsilon: float, backbone: str, ledger: PrivacyLedger, progress: bool, log) -> dict:
    """The mammography part of the demo; writes ``mammography.json`` and returns it."""

    size = 128 if backbone != "tiny" else 48
    archive = write_synth_mammo_images(MammoImageSynthConfig(n_women=n_women, size=size, seed=seed, report_label_noise=0.1), out / "mammo")
    images = Cohort(archive.manifest, str(archive.paths["images_csv"]))
    report_labels = MammoLabeler().label(archive.reports)
    labels = image_labels_from_reports(images, report_labels)
    write_table(labels.frame, out / "mammo" / "images_labels_from_reports.csv")
    log(f"synthesized {len(images)} mammograms of {archive.meta['counts']['studies']} exams of {n_women} women; labelled them from their reports")

    train_idx, test_idx = patient_split(images, 0.3, seed)
    train, test = images.subset(train_idx), images.subset(test_idx)
    truth = archive.truth.aligned_to(test.case_ids)
    results: dict = {"data": archive.meta["counts"], "training_labels": labels.source, "models": {}}
    for name, eps in {"private": epsilon, "non_private": float("inf")}.items():
        cfg = ImageTrainConfig(backbone=backbone, method="head" if backbone != "tiny" else "full", image_size=size, epsilon=eps, seed=seed, epochs=20)
        clf = fit_and_save(train, labels, cfg, out / "runs" / f"mammo_{name}", overwrite=True, progress=progress, ledger=ledger)
        assert clf.result is not None  # fitted
        probs = clf.predict_proba(test)
        scores = score_images(test, probs, truth.select(clf.findings).values(), clf.findings, cfg.breast_aggregation, seed=seed)
        results["models"][name] = {"scores": scores, "privacy": clf.result.privacy.to_dict(), "model": clf.meta.get("model", {}), "train_wall_seconds": round(clf.result.wall_seconds, 1)}
        auc = scores["findings"]["abnormal"]["auroc"]
        auc_txt = f"{auc:.3f}" if auc is not None else "n/a (one class among the test breasts)"
        log(f"mammography {name}: breast AUROC normal vs abnormal {auc_txt}, exam density accuracy {scores['density']['accuracy']:.3f} against the hidden truth")
    write_json(results, out / "mammography.json")
    return results


def run_demo(out: str | Path, n: int = 1500, seed: int = 0, epsilon: float = 8.0, encoder: str = "all-MiniLM-L6-v2", progress: bool = True, mammo_women: int = 100) -> dict:
    """Run the demo into ``out`` and return ``{"private": metrics, "non_private": metrics}`` (reports);
    the mammography part (``mammo_women`` women, 0 = skip) goes to ``mammography.json``. With the
    ``tiny`` encoder (smoke tests) the image model is the tiny CNN as well."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log = console().log if progress else (lambda *a, **k: None)
    t0 = time.perf_counter()

    cohort, truth = synth_chest(ChestSynthConfig(n=n, seed=seed))
    write_table(cohort.frame, out / "cohort.parquet")
    write_table(truth.frame, out / "cohort.truth.csv")
    log(f"synthesized {len(cohort)} reports from {cohort.frame['patient_id'].nunique()} patients at {cohort.frame['site'].nunique()} sites")

    labels = RuleLabeler("chexpert14").label(cohort)
    write_table(labels.frame, out / "labels.csv")
    log("labelled reports with the rule labeler (CheXpert-14)")

    train_idx, test_idx = patient_split(cohort, 0.2, seed)
    train, test = cohort.subset(train_idx), cohort.subset(test_idx)
    test_truth = truth.aligned_to(test.case_ids)

    labeler_on_test = labels.aligned_to(test.case_ids).values()
    labeler_metrics = multilabel_metrics(test_truth.values(), None, (labeler_on_test == 1).astype(int), truth.findings, clusters=test.patient_ids, seed=seed)

    results: dict[str, dict] = {}
    fairness = None
    runs = {"private": epsilon, "non_private": float("inf")}
    # the demo's own ledger, so a demo neither litters the project's ledger nor counts against its budgets
    ledger = PrivacyLedger(out / "privacy_ledger.sqlite")
    for name, eps in runs.items():
        cfg = TrainConfig(encoder=encoder, epsilon=eps, seed=seed, canaries=DEMO_CANARIES, **DEMO_TRAIN)
        clf = fit_and_save(train, labels, cfg, out / "runs" / name, overwrite=True, progress=progress, ledger=ledger)
        assert clf.result is not None  # fitted
        m = score_against_gold(clf, test, test_truth, seed=seed, progress=False)
        m["privacy"] = clf.result.privacy.to_dict()
        m["privacy_audit"] = _privacy_audit(out / "runs" / name, train, labels, seed)
        log(f"{name}: canary membership AUC {m['privacy_audit']['canary_auc']:.3f}, empirical ε ≥ {m['privacy_audit']['epsilon_lower_bound']:.2f}")
        m["train_wall_seconds"] = round(clf.result.wall_seconds, 1)
        results[name] = m
        if name == "private":
            fairness = _audit_private_model(clf, test, test_truth, seed, out)
            log(f"fairness audit of the private model: {len(fairness['tests'])} group comparisons, {len(fairness['significant_tests'])} significant after Holm")
        log(f"{name}: weighted F1 {m['weighted_f1']:.3f} against the hidden truth (ε = {m['privacy']['epsilon'] if eps == float('inf') else round(m['privacy']['epsilon'], 3)})")

    write_json(results, out / "metrics.json")
    mammo = None
    if mammo_women > 0:
        mammo = _mammography(out, mammo_women, seed, epsilon, "tiny" if encoder == "tiny" else "auto", ledger, progress, log)
    cs = cohort.summary()
    summary = {
        "reports / patients / sites": f"{cs['n_cases']} / {cs['n_patients']} / {cs['n_sites']}",
        "reports per site": ", ".join(f"{k} {v}" for k, v in cs["sites"].items()),
        "sex": ", ".join(f"{k} {v}" for k, v in cs.get("sex", {}).items()),
        "median age": cs.get("age_median", "–"),
        "training patients / reports": f"{len(np.unique(train.patient_ids))} / {len(train)}",
        "test patients / reports": f"{len(np.unique(test.patient_ids))} / {len(test)}",
        "training labels": labels.source,
        "rule labeler vs hidden truth on test (weighted F1)": f"{labeler_metrics['weighted_f1']:.3f}",
        "wall time (s)": f"{time.perf_counter() - t0:.0f}",
    }
    html = render_metrics_report(
        title="radtrust demo: private report classifier on a synthetic chest X-ray cohort",
        intro="Models were trained on labels extracted by the rule labeler and are scored against the cohort's hidden ground truth on held-out patients.",
        data_summary=summary,
        models=results,
        metrics_note="Averages over the 13 CheXpert findings (No Finding excluded); 95% intervals from a "
        "patient-clustered bootstrap (1,000 resamples). Thresholds were chosen on a validation split of the "
        "training patients.",
        fairness=fairness,
        mammography=mammo,
    )
    write_report(out / "report.html", html)
    log(f"wrote {out / 'report.html'} and {out / 'metrics.json'} in {time.perf_counter() - t0:.0f} s")
    return results
