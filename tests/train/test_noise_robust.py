"""Noise-robust training in the one training loop: the GCE loss, and a label audit's flagged cells
excluded from or softened in the loss, with nothing per case reaching the run folder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from radtrust.data.schema import Cohort, LabelTable
from radtrust.errors import ConfigError, InputError
from radtrust.noise.files import label_issue_cells
from radtrust.train.api import fit_and_save
from radtrust.train.config import TrainConfig
from radtrust.train.estimator import ReportClassifier, apply_label_issues
from radtrust.train.loop import masked_bce, masked_gce, record_loss
from test_cli import (  # tests/ is on sys.path (its conftest.py lives there)
    TINY,
    radtrust,
)
from test_cli_budget import one_line_error

FINDINGS = ["Edema", "Pleural Effusion", "Cardiomegaly"]
CANARY = "CANARYCASE"  # case-id prefix that must never appear in a run folder


def write_audit(path: Path, labels: LabelTable, findings: list[str], p_wrong: np.ndarray | None = None, seed: int = 0, flip: float = 0.0) -> pd.DataFrame:
    """A per-cell audit file in the format of ``radtrust audit labels`` for ``labels`` (uncertain cells
    are not audited). ``p_wrong`` (n_cases, n_findings) defaults to random probabilities; ``flip`` is the
    share of rows whose given_label is inverted (an audit of other labels)."""
    rng = np.random.default_rng(seed)
    v = labels.select(findings).values()
    p_wrong = rng.random(v.shape) if p_wrong is None else p_wrong
    rows = []
    for i, cid in enumerate(labels.case_ids):
        for j, f in enumerate(findings):
            if v[i, j] == -1:
                continue
            given = int(v[i, j] == 1)
            if rng.random() < flip:
                given = 1 - given
            p = float(p_wrong[i, j])
            rows.append(
                {"case_id": cid, "finding": f, "given_label": given, "p_label_wrong": p, "oos_probability": round(float(rng.random()), 4),
                 "cleanlab_issue": p >= 0.5, "likely_wrong": p >= 0.5, "radtrust_release": "internal-only"}
            )  # fmt: skip
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False)
    return frame


def _canary(cohort: Cohort, labels: LabelTable) -> tuple[Cohort, LabelTable]:
    """The same data with case ids that a grep can find unambiguously."""
    rename = {c: f"{CANARY}{i:04d}" for i, c in enumerate(cohort.case_ids)}
    frame = cohort.frame.copy()
    frame["case_id"] = frame["case_id"].map(rename)
    lab = labels.frame.copy()
    lab["case_id"] = lab["case_id"].map(rename)
    return Cohort(frame), LabelTable(lab, list(labels.findings), labels.source)


# ---- the loss ------------------------------------------------------------------------------------
def test_gce_matches_the_formula():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 4, generator=g, dtype=torch.float64) * 3
    t = torch.rand(6, 4, generator=g, dtype=torch.float64)  # soft targets too
    m = (torch.rand(6, 4, generator=g) > 0.3).double()
    for q in (0.3, 0.7, 1.0):
        p = torch.sigmoid(z)
        cell = (t * (1 - p**q) / q + (1 - t) * (1 - (1 - p) ** q) / q) * m
        expected = cell.sum(1) / m.sum(1).clamp(min=1)
        assert torch.allclose(masked_gce(z, t, m, q), expected, atol=1e-12)
    # q = 1 is the mean absolute error |t - p|
    hard = (t > 0.5).double()
    assert torch.allclose(masked_gce(z, hard, torch.ones_like(z), 1.0), (hard - torch.sigmoid(z)).abs().mean(1), atol=1e-12)


def test_gce_approaches_bce_as_q_goes_to_zero():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(8, 5, generator=g) * 4
    t = (torch.rand(8, 5, generator=g) > 0.5).float()
    m = torch.ones_like(z)
    bce = masked_bce(z, t, m)
    assert torch.allclose(masked_gce(z, t, m, 1e-4), bce, rtol=2e-3, atol=1e-4)
    assert not torch.allclose(masked_gce(z, t, m, 0.7), bce, rtol=0.05)


def test_gce_gradient_is_bounded_and_small_for_confident_contradictions():
    z = torch.linspace(-100, 100, 401, dtype=torch.float64).reshape(-1, 1).requires_grad_(True)
    t, m = torch.ones_like(z), torch.ones_like(z)
    masked_gce(z, t, m, 0.7).sum().backward()
    grad = z.grad.detach()
    assert torch.isfinite(grad).all() and grad.abs().max() <= 1.0
    # A cell the model confidently says is absent (z = -30) while the label says present: BCE pulls with
    # full force (gradient -1), GCE barely at all; that is the robustness to a wrong label.
    zz = torch.tensor([[-30.0]], dtype=torch.float64, requires_grad=True)
    masked_gce(zz, torch.ones_like(zz), torch.ones_like(zz), 0.7).sum().backward()
    gce_grad = float(zz.grad)
    zz.grad = None
    masked_bce(zz, torch.ones_like(zz), torch.ones_like(zz)).sum().backward()
    assert abs(gce_grad) < 1e-6 and float(zz.grad) == pytest.approx(-1.0, abs=1e-9)
    assert torch.isfinite(masked_gce(torch.tensor([[1e4, -1e4]]), torch.tensor([[0.0, 1.0]]), torch.ones(1, 2), 1e-3)).all()


@pytest.mark.parametrize("robust_loss", ["bce", "gce"])
def test_masked_cells_contribute_nothing(robust_loss):
    cfg = TrainConfig(robust_loss=robust_loss)
    z = torch.tensor([[0.3, -2.0, 5.0], [1.0, 1.0, 1.0]], requires_grad=True)
    t = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    m = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    loss = record_loss(z, t, m, cfg)
    loss.sum().backward()
    assert z.grad[0, 1] == 0 and (z.grad[1] == 0).all() and loss[1] == 0
    # changing a masked cell's logit or target changes nothing
    z2, t2 = z.detach().clone(), t.clone()
    z2[0, 1], t2[0, 1] = 40.0, 1.0
    assert torch.equal(record_loss(z2, t2, m, cfg), loss.detach())
    # per-record average over the cells that count
    only = record_loss(z[:1, [0, 2]].detach(), t[:1, [0, 2]], torch.ones(1, 2), cfg)
    assert torch.allclose(loss[:1].detach(), only)


def test_record_loss_follows_the_config():
    z, t, m = torch.randn(4, 3), (torch.rand(4, 3) > 0.5).float(), torch.ones(4, 3)
    assert torch.equal(record_loss(z, t, m, TrainConfig()), masked_bce(z, t, m))
    assert torch.equal(record_loss(z, t, m, TrainConfig(robust_loss="gce", gce_q=0.4)), masked_gce(z, t, m, 0.4))


def test_soft_targets_give_the_expected_bce():
    z = torch.tensor([[0.0, 2.0, -1.0]])
    t = torch.tensor([[0.5, 0.5, 0.8]])
    got = masked_bce(z, t, torch.ones_like(z))
    sp = torch.nn.functional.softplus
    cells = [math.log(2.0), 0.5 * float(sp(torch.tensor(-2.0))) + 0.5 * float(sp(torch.tensor(2.0))), 0.8 * float(sp(torch.tensor(1.0))) + 0.2 * float(sp(torch.tensor(-1.0)))]
    assert float(got) == pytest.approx(sum(cells) / 3, rel=1e-6)
    # the soft GCE loss is the same mixture of its two hard losses
    ones, zeros = torch.ones_like(z), torch.zeros_like(z)
    mix = 0.5 * masked_gce(z[:, :1], ones[:, :1], ones[:, :1], 0.7) + 0.5 * masked_gce(z[:, :1], zeros[:, :1], ones[:, :1], 0.7)
    assert torch.allclose(masked_gce(z[:, :1], t[:, :1], ones[:, :1], 0.7), mix)


def test_config_validates_the_new_options():
    for bad in ({"gce_q": 0.0}, {"gce_q": 1.5}, {"robust_loss": "mae"}, {"label_issue_policy": "drop"}, {"label_issue_threshold": 0.0}):
        with pytest.raises(ConfigError):
            TrainConfig.build(bad)
    assert TrainConfig.build({"gce_q": 1.0, "robust_loss": "gce"}).gce_q == 1.0


# ---- label audit: cells, policies, checks --------------------------------------------------------
def _small_table() -> tuple[LabelTable, np.ndarray]:
    v = np.array([[1, 0, np.nan], [0, -1, 1], [np.nan, 1, 0], [1, 1, 0]], dtype=float)
    p = np.array([[0.9, 0.1, 0.6], [0.5, 0.99, 0.2], [0.0, 0.7, 0.49], [0.3, 0.3, 0.3]])
    return LabelTable.from_matrix(["a", "b", "c", "d"], ["x", "y", "z"], v, "t"), p


def test_label_issue_cells_and_exclude_mask_exactly_the_flagged_cells(tmp_path):
    from radtrust.data.schema import label_targets
    from radtrust.noise.files import read_label_audit

    table, p = _small_table()
    audit = write_audit(tmp_path / "a.csv", table, ["x", "y", "z"], p)
    # rows for a case outside the cohort, a finding not learned and an uncertain cell are ignored
    row = audit.iloc[0].to_dict()
    extra = pd.DataFrame([row | {"case_id": "other"}, row | {"finding": "w"}, row | {"case_id": "b", "finding": "y", "given_label": 0, "p_label_wrong": 0.99}])
    pd.concat([audit, extra]).to_csv(tmp_path / "a.csv", index=False)
    cells = label_issue_cells(read_label_audit(tmp_path / "a.csv"), table.case_ids, ["x", "y", "z"], table.values(), "a.csv")
    expected = p.copy()
    expected[1, 1] = np.nan  # uncertain: not audited, the uncertain policy decides
    np.testing.assert_array_equal(np.isnan(cells), np.isnan(expected))
    np.testing.assert_allclose(cells[~np.isnan(cells)], expected[~np.isnan(expected)])

    t, m = label_targets(table, "ignore")
    t2, m2, n = apply_label_issues(t, m, cells, "exclude", 0.5)
    flagged = np.array([[1, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=bool)
    assert n == flagged.sum() == 4
    np.testing.assert_array_equal(m2, np.where(flagged, 0.0, m))
    np.testing.assert_array_equal(t2, t)
    # U-Ones: the uncertain cell is trained on as positive and stays in the loss
    t, m = label_targets(table, "positive")
    _, m3, _ = apply_label_issues(t, m, label_issue_cells(read_label_audit(tmp_path / "a.csv"), table.case_ids, ["x", "y", "z"], table.values(), "a"), "exclude", 0.5)
    assert m3[1, 1] == 1


def test_soft_policy_gives_the_posterior_that_the_finding_is_present():
    t = np.array([[1.0, 0.0, 1.0, 0.0]], dtype=np.float32)
    m = np.array([[1.0, 1.0, 1.0, 0.0]], dtype=np.float32)
    p = np.array([[0.2, 0.2, np.nan, 0.9]])
    soft, m2, n = apply_label_issues(t, m, p, "soft", 0.5)
    np.testing.assert_allclose(soft, [[0.8, 0.2, 1.0, 0.0]], atol=1e-7)
    assert n == 2 and np.array_equal(m2, m)  # soft keeps every cell; a masked cell stays masked


def test_audit_of_other_labels_or_other_cases_is_refused(tmp_path):
    from radtrust.noise.files import read_label_audit

    table, p = _small_table()
    findings = ["x", "y", "z"]
    # 1 disagreeing cell in 10 checked: far above 1%
    audit = write_audit(tmp_path / "a.csv", table, findings, p)
    audit.loc[0, "given_label"] = 1 - audit.loc[0, "given_label"]
    audit.to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(InputError, match="computed on different labels") as e:
        label_issue_cells(read_label_audit(tmp_path / "a.csv"), table.case_ids, findings, table.values(), str(tmp_path / "a.csv"))
    assert str(tmp_path / "a.csv") in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(InputError, match="none of the cohort's cases"):
        label_issue_cells(audit.assign(case_id="zz"), table.case_ids, findings, table.values(), "a.csv")
    with pytest.raises(InputError, match="no finding in common"):
        label_issue_cells(audit.assign(finding="w"), table.case_ids, findings, table.values(), "a.csv")
    # below 1% is tolerated; the disagreeing cell is left as it is
    big = LabelTable.from_matrix([f"c{i}" for i in range(120)], ["x"], np.zeros((120, 1)), "t")
    a = write_audit(tmp_path / "b.csv", big, ["x"], np.full((120, 1), 0.9))
    a.loc[0, "given_label"] = 1
    cells = label_issue_cells(a, big.case_ids, ["x"], big.values(), "b.csv")
    assert np.isnan(cells[0, 0]) and (cells[1:, 0] == 0.9).all()


def test_prepare_excludes_flagged_cells_in_training_and_validation_but_never_reviewed_labels(chest_small, tiny_config, tmp_path):
    cohort, truth = chest_small
    rng = np.random.default_rng(3)
    p = np.where(rng.random((len(cohort), len(FINDINGS))) < 0.2, 0.8, 0.1)
    write_audit(tmp_path / "a.csv", truth.aligned_to(cohort.case_ids), FINDINGS, p)
    base = tiny_config.model_copy(update={"findings": FINDINGS})
    _, tr, va, t0, m0, vt0, vm0, _ = ReportClassifier(base).prepare(cohort, truth)
    clf = ReportClassifier(base.model_copy(update={"label_issues": str(tmp_path / "a.csv")}))
    _, tr1, va1, t1, m1, vt1, vm1, _ = clf.prepare(cohort, truth)
    assert np.array_equal(tr, tr1) and np.array_equal(va, va1)
    flagged = (p >= 0.5) & (truth.aligned_to(cohort.case_ids).select(FINDINGS).values() != -1)
    np.testing.assert_array_equal(m1, np.where(flagged[tr], 0.0, m0))
    np.testing.assert_array_equal(vm1, np.where(flagged[va], 0.0, vm0))
    assert np.array_equal(t1, t0) and np.array_equal(vt1, vt0)
    s = clf.label_issue_summary
    assert s["cells_excluded"] == int((flagged[tr] & (m0 > 0)).sum()) > 0 and s["validation_cells_excluded"] == int((flagged[va] & (vm0 > 0)).sum())

    soft = ReportClassifier(clf.config.model_copy(update={"label_issue_policy": "soft"}))
    _, _, _, ts, ms, vts, vms, _ = soft.prepare(cohort, truth)
    assert np.array_equal(ms, m0) and np.array_equal(vms, vm1) and np.array_equal(vts, vt0)  # validation: hard, flagged excluded
    assert np.isclose(ts[ms > 0][:, None], [0.1, 0.2, 0.8, 0.9], atol=1e-6).any(axis=1).all()  # given·(1-p) + (1-given)·p
    assert soft.label_issue_summary["cells_softened"] > 0

    # reviewed validation labels are never altered
    reviewed = truth.aligned_to(cohort.case_ids[:60])
    _, tr2, va2, t2, m2, vt2, vm2, _ = ReportClassifier(base).prepare(cohort, truth, reviewed)
    _, _, _, t3, m3, vt3, vm3, _ = clf.prepare(cohort, truth, reviewed)
    assert np.array_equal(vm3, vm2) and np.array_equal(vt3, vt2)
    np.testing.assert_array_equal(m3, np.where(flagged[tr2], 0.0, m2))
    assert clf.label_issue_summary["validation_cells_excluded"] == 0


# ---- end to end ----------------------------------------------------------------------------------
def test_private_gce_with_soft_label_issues_writes_counts_and_no_case_ids(chest_small, tiny_config, tmp_path):
    from radtrust.noise.files import is_internal

    cohort, truth = _canary(*chest_small)
    audit = tmp_path / "audit.csv"
    write_audit(audit, truth, FINDINGS, seed=1)
    cfg = tiny_config.model_copy(update={"findings": FINDINGS, "epochs": 1, "epsilon": 4.0, "accountant": "rdp", "robust_loss": "gce", "label_issues": str(audit), "label_issue_policy": "soft"})
    clf = fit_and_save(cohort, truth, cfg, tmp_path / "run", ledger=None)
    run = tmp_path / "run"
    assert 3.9 < clf.result.privacy.epsilon <= 4.0 and math.isfinite(clf.result.history[0]["mean_loss"])
    meta = json.loads((run / "run.json").read_text())
    li = meta["label_issues"]
    assert set(li) == {"file_sha256", "policy", "threshold", "cells_softened", "validation_cells_excluded"}
    assert li["policy"] == "soft" and li["cells_softened"] > 0 and len(li["file_sha256"]) == 64
    assert "label cleaning" in json.loads((run / "privacy.json").read_text())["note"]
    assert "robust_loss: gce" in (run / "config.yaml").read_text()
    for f in run.rglob("*"):
        if f.is_file():
            assert CANARY.encode() not in f.read_bytes(), f.name
            assert not is_internal(f), f.name


@pytest.mark.parametrize("method", ["head", "full"])
def test_gce_trains_privately_with_every_method(method, toy_cohort, tiny_config):
    cohort, labels = toy_cohort
    cfg = tiny_config.model_copy(update={"method": method, "epochs": 1, "epsilon": 2.0, "accountant": "rdp", "robust_loss": "gce"})
    clf = ReportClassifier(cfg).fit(cohort, labels)
    assert clf.result.privacy.noise_multiplier > 0 and "label cleaning" not in clf.result.privacy.note


def test_gce_with_group_dro_and_exclude_non_private(chest_small, tiny_config, tmp_path):
    cohort, truth = chest_small
    write_audit(tmp_path / "a.csv", truth, FINDINGS, seed=2)
    cfg = tiny_config.model_copy(
        update={"findings": FINDINGS, "epochs": 1, "groups": "sex", "mitigation": "group_dro", "robust_loss": "gce", "gce_q": 0.5,
                "label_issues": str(tmp_path / "a.csv"), "min_validation_positives": 2}
    )  # fmt: skip
    clf = ReportClassifier(cfg).fit(cohort, truth)
    q = clf.result.history[-1]["group_dro_q"]
    assert len(q) == 2 and sum(q) == pytest.approx(1.0) and clf.meta["label_issues"]["cells_excluded"] > 0
    # the private twin: GroupDRO's released per-record losses are GCE losses, still clipped to [0, bound]
    private = ReportClassifier(cfg.model_copy(update={"epsilon": 4.0, "accountant": "rdp"})).fit(cohort, truth)
    assert private.result.privacy.epsilon <= 4.0 and "label cleaning" in private.result.privacy.note


def test_a_changed_audit_file_refuses_resume(chest_small, tiny_config, tmp_path, monkeypatch):
    from radtrust.train import api

    cohort, truth = chest_small
    audit = tmp_path / "a.csv"
    write_audit(audit, truth, FINDINGS, seed=0)
    cfg = tiny_config.model_copy(update={"findings": FINDINGS, "label_issues": str(audit)})

    def killed(*args):
        args[-1]()  # on_first_step: interrupted after its first step: the run is resumable
        raise KeyboardInterrupt

    monkeypatch.setattr(api.ReportClassifier, "_fit", killed)
    with pytest.raises(KeyboardInterrupt):
        fit_and_save(cohort, truth, cfg, tmp_path / "run", ledger=None)
    write_audit(audit, truth, FINDINGS, seed=5)  # same path, other verdicts
    with pytest.raises(InputError, match="label_issues"):
        fit_and_save(cohort, truth, cfg, tmp_path / "run", ledger=None, resume=True)


# ---- command line --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from radtrust.data.readers import read_labels

    d = tmp_path_factory.mktemp("noise_cli")
    assert radtrust("synth", "chest", "--n", 200, "--seed", 4, "--out", "c.parquet", cwd=d).returncode == 0
    assert radtrust("label", "c.parquet", "--vocab", "chexpert14", "--out", "labels.csv", cwd=d).returncode == 0
    labels = read_labels(d / "labels.csv")
    write_audit(d / "f.csv", labels, FINDINGS, seed=0)
    write_audit(d / "other.csv", labels, FINDINGS, seed=0, flip=0.2)
    return d


def test_cli_train_with_gce_and_label_issues(workdir):
    d = workdir
    r = radtrust("train", "--data", "c.parquet", "--labels", "labels.csv", "--findings", ",".join(FINDINGS), "--out", "run", "--robust-loss", "gce",
                 "--gce-q", 0.5, "--label-issues", "f.csv", "--label-issue-threshold", 0.6, "-q", *TINY, cwd=d)  # fmt: skip
    assert r.returncode == 0, r.stderr
    li = json.loads((d / "run" / "run.json").read_text())["label_issues"]
    assert li["policy"] == "exclude" and li["threshold"] == 0.6 and li["cells_excluded"] > 0
    cfg = (d / "run" / "config.yaml").read_text()
    assert "robust_loss: gce" in cfg and "gce_q: 0.5" in cfg and "label_issues: f.csv" in cfg


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--gce-q", "0"], "gce_q"),
        (["--robust-loss", "mae"], "robust_loss"),
        (["--label-issues", "f.csv", "--label-issue-policy", "drop"], "label_issue_policy"),
        (["--label-issues", "missing.csv"], "no such file"),
        (["--label-issues", "other.csv"], "computed on different labels"),
    ],
)
def test_cli_bad_noise_options_one_line_exit_2(workdir, args, needle):
    before = set(workdir.iterdir())
    r = radtrust("train", "--data", "c.parquet", "--labels", "labels.csv", "--findings", ",".join(FINDINGS), "--out", "bad_run", *args, *TINY, cwd=workdir)
    one_line_error(r, needle)
    assert set(workdir.iterdir()) == before
