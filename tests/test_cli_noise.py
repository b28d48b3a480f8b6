"""Label-noise commands as a user meets them: audit labels → annotate plan → the experts → annotate merge →
train on the corrected or cleaned labels. Internal-only outputs never reach a released artifact."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from radtrust.errors import PrivacyError
from test_cli import (  # tests/ is on sys.path (its conftest.py lives there)
    TINY,
    radtrust,
)
from test_cli_budget import one_line_error


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    """A synthetic cohort, its hidden truth, and labels with 15% of cases flipped (40% at site_B)."""
    from radtrust.data.io import write_table
    from radtrust.data.readers import read_cohort, read_labels
    from radtrust.deid.door import CohortDeidentifier
    from radtrust.noise.simulate import flip_labels

    d = tmp_path_factory.mktemp("noise_cli")
    r = radtrust("synth", "chest", "--n", 500, "--seed", 9, "--out", "c.csv", cwd=d)
    assert r.returncode == 0, r.stderr
    cohort, truth = read_cohort(d / "c.csv", deid=CohortDeidentifier()), read_labels(d / "c.truth.csv")  # as the commands read it
    labels, flipped = flip_labels(truth, cohort, 0.15, ("site", "site_B"), 0.4, seed=2)
    write_table(labels.frame, d / "labels.csv")
    return d, cohort, truth, flipped


def test_audit_plan_merge_train(noisy):
    d, cohort, truth, flipped = noisy
    r = radtrust("audit", "labels", "--data", "c.csv", "--labels", "labels.csv", "--out", "issues.csv", "--n-bootstrap", 100, "-q", cwd=d)
    assert r.returncode == 0, r.stderr
    assert "no privacy budget spent" in r.stderr
    cells = pd.read_csv(d / "issues.csv")
    summary = json.loads((d / "issues.summary.json").read_text())
    assert summary["radtrust_release"] == "internal-only"
    assert len(cells) == len(cohort) * len(truth.findings)
    # Nothing but counts and rates reach the terminal.
    for cid in cohort.case_ids[:50]:
        assert cid not in r.stderr and cid not in r.stdout

    r = radtrust("annotate", "plan", "--budget", 60, "--out", "queue.csv", "--data", "c.csv", "--labels", "labels.csv", "--issues", "issues.csv", cwd=d)
    assert r.returncode == 0, r.stderr
    queue = pd.read_csv(d / "queue.csv", dtype=str)
    assert len(queue) == 60 and (d / "queue.plan.json").exists()

    # The experts: every queued case gets its hidden truth, signed and dated.
    t = truth.aligned_to(list(queue["case_id"])).frame
    for f in truth.findings:
        queue[f] = t[f].astype("Int8").astype("string").fillna("").to_numpy()
    queue["annotator_id"] = np.where(np.arange(60) % 2 == 0, "rad1", "rad2")
    queue["reviewed_at"] = "2026-11-20T10:00:00"
    queue.to_csv(d / "corrections.csv", index=False)

    r = radtrust("annotate", "merge", "corrections.csv", "--labels", "labels.csv", "--out", "labels_v2.csv", "--plan", "queue.plan.json", cwd=d)
    assert r.returncode == 0, r.stderr
    assert "random slice" in r.stderr
    merged = pd.read_csv(d / "labels_v2.csv", dtype={"case_id": str})
    history = pd.read_csv(d / "labels_v2.history.csv", dtype={"case_id": str})
    assert set(merged.loc[merged["label_source"] == "expert", "case_id"]) == set(queue["case_id"])
    pos = pd.Index(cohort.case_ids).get_indexer(queue["case_id"])
    fixed = int(flipped[pos].sum())
    assert int(history["changed"].sum()) == fixed > 0
    assert {"annotator_id", "reviewed_at", "merged_at", "batch", "old_label", "new_label"} <= set(history.columns)

    # Train on the corrected labels, leaving out what the audit still flags.
    r = radtrust("train", "--data", "c.csv", "--labels", "labels.csv", "--out", "run", "--label-issues", "issues.csv", "--robust-loss", "gce", "-q", *TINY, cwd=d)
    assert r.returncode == 0, r.stderr
    run_text = " ".join(p.read_text(errors="ignore") for p in (d / "run").iterdir() if p.suffix in (".json", ".yaml"))
    assert "internal-only" not in run_text and cohort.case_ids[0] not in run_text


def test_bad_inputs_are_one_line_and_write_nothing(noisy):
    d = noisy[0]
    r = radtrust("audit", "labels", "--data", "c.csv", "--labels", "nope.csv", "--out", "x.csv", cwd=d)
    one_line_error(r, "nope.csv")
    assert not (d / "x.csv").exists()
    r = radtrust("audit", "labels", "--data", "c.csv", "--labels", "labels.csv", "--out", "x.csv", "--threshold", 1.5, cwd=d)
    one_line_error(r, "flag_threshold")
    r = radtrust("annotate", "plan", "--budget", 10_000, "--out", "q2.csv", "--data", "c.csv", "--labels", "labels.csv", "--issues", "labels.csv", cwd=d)
    one_line_error(r, "labels.csv")
    assert not (d / "q2.csv").exists()
    (d / "bad_corr.csv").write_text("case_id,finding,label,annotator_id,reviewed_at\nS000001,Edema,7,rad1,2026-01-01\n")
    r = radtrust("annotate", "merge", "bad_corr.csv", "--labels", "labels.csv", "--out", "l3.csv", cwd=d)
    one_line_error(r, "row 1")
    assert not (d / "l3.csv").exists()


def test_released_artifacts_refuse_internal_output(noisy, tmp_path):
    from radtrust.noise.files import is_internal, refuse_release
    from radtrust.report.html import render_fairness_report, render_metrics_report

    d = noisy[0]
    if not (d / "issues.summary.json").exists():
        pytest.skip("needs the audit of test_audit_plan_merge_train")
    summary = json.loads((d / "issues.summary.json").read_text())
    assert is_internal(d / "issues.csv") and is_internal(summary)
    with pytest.raises(PrivacyError, match="internal-only"):
        render_fairness_report("t", {"label_audit": summary})
    with pytest.raises(PrivacyError):
        render_metrics_report("t", "", {"n_cases": 1, "label_noise": summary}, {"m": {"per_label": {}}}, "")
    with pytest.raises(PrivacyError):
        refuse_release(pd.read_csv(d / "issues.csv"), "x")
    refuse_release({"weighted_f1": 0.8}, "ok")  # ordinary aggregates pass
