"""Subgroup audit checked against direct numpy counts, fairlearn, scikit-learn and hand-made examples."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from radtrust.errors import InputError
from radtrust.fairness.api import forest_for
from radtrust.fairness.audit import FEW_EVENTS, TOO_SMALL, AuditConfig, audit_fairness

FINDINGS = ["Edema", "Effusion", "Atelectasis"]


def _random_data(n_patients: int, per_patient: int = 2, k: int = 3, groups=("A", "B", "C"), seed: int = 0, p_uncertain=0.1, p_nan=0.05):
    """Cases grouped by patient (all of a patient's reports in one group); gold with 1, 0, NaN and -1."""
    rng = np.random.default_rng(seed)
    pid = np.repeat(np.arange(n_patients), per_patient)
    n = len(pid)
    grp = np.asarray(groups, dtype=object)[rng.integers(0, len(groups), n_patients)][pid]
    y = (rng.random((n, k)) < 0.35).astype(float)
    u = rng.random((n, k))
    prob = np.clip(0.35 * y + 0.65 * rng.random((n, k)), 0, 1)
    pred = (prob > 0.45).astype(int)
    y[u < p_uncertain] = -1
    y[(u >= p_uncertain) & (u < p_uncertain + p_nan)] = np.nan
    frame = pd.DataFrame({"grp": grp, "patient_id": [f"p{i}" for i in pid]})
    return y, prob, pred, frame, frame["patient_id"].to_numpy()


def _direct_rates(y, pred, rows, j):
    """TPR/FPR/PPV/F1 straight from the definitions: -1 left out, NaN counts as negative."""
    yy, pp = y[rows, j], pred[rows, j]
    valid = yy != -1
    pos, neg = (yy == 1) & valid, valid & (yy != 1)
    tp, fp = (pos & (pp == 1)).sum(), (neg & (pp == 1)).sum()
    fn, tn = (pos & (pp == 0)).sum(), (neg & (pp == 0)).sum()
    return {"tpr": tp / (tp + fn), "fpr": fp / (fp + tn), "ppv": tp / (tp + fp), "f1": 2 * tp / (2 * tp + fp + fn)}


@pytest.fixture(scope="module")
def random_audit():
    y, prob, pred, frame, pids = _random_data(300, seed=1)
    # a tiny fourth group: judged by nobody, and extreme so that including it would change every gap
    tiny = np.arange(12)
    frame.loc[tiny, "grp"] = "tiny"
    pred[tiny] = 1
    cfg = AuditConfig(attributes=["grp"], n_boot=200, seed=0, min_cell_size=30, min_events=10)
    audit = audit_fairness(y, prob, pred, FINDINGS, frame, pids, cfg)
    return audit, (y, prob, pred, frame, pids)


# ---------------------------------------------------------------------------- point estimates
def test_group_rates_equal_direct_computation(random_audit):
    audit, (y, prob, pred, frame, pids) = random_audit
    bg = audit.by_group
    judged = bg[bg["status"] == "ok"]
    assert set(judged["group"]) == {"A", "B", "C"}
    assert len(judged) == 9
    for _, r in judged.iterrows():
        j = FINDINGS.index(r["finding"])
        rows = frame["grp"].to_numpy() == r["group"]
        expected = _direct_rates(y, pred, rows, j)
        for m, v in expected.items():
            assert r[m] == pytest.approx(v, abs=1e-12), (r["group"], r["finding"], m)
        valid = rows & (y[:, j] != -1)
        assert r["n"] == valid.sum()
        assert r["n_positive"] == (y[valid, j] == 1).sum()
        assert r["n_patients"] == len(np.unique(pids[valid]))
        assert r["auroc"] == pytest.approx(roc_auc_score(y[valid, j] == 1, prob[valid, j]))


def test_overall_rates_equal_direct_computation(random_audit):
    audit, (y, prob, pred, frame, pids) = random_audit
    for _, r in audit.overall.iterrows():
        j = FINDINGS.index(r["finding"])
        expected = _direct_rates(y, pred, np.ones(len(y), bool), j)
        for m, v in expected.items():
            assert r[m] == pytest.approx(v, abs=1e-12)
        assert r["group"] == "all" and r["attribute"] == "overall"


def test_tpr_matches_fairlearn_on_one_finding(random_audit):
    from fairlearn.metrics import true_positive_rate

    audit, (y, prob, pred, frame, pids) = random_audit
    j = 1
    valid = y[:, j] != -1
    for g in ("A", "B", "C"):
        rows = valid & (frame["grp"].to_numpy() == g)
        ref = true_positive_rate((y[rows, j] == 1).astype(int), pred[rows, j], pos_label=1)
        got = audit.by_group.query("group == @g and finding == @FINDINGS[@j]")["tpr"].item()
        assert got == pytest.approx(ref, abs=1e-12)


def test_uncertain_cells_excluded_and_nan_gold_is_negative():
    y, prob, pred, frame, pids = _random_data(150, seed=5, p_uncertain=0.15, p_nan=0.15)
    cfg = AuditConfig(attributes=["grp"], n_boot=50)
    a = audit_fairness(y, prob, pred, FINDINGS, frame, pids, cfg)
    y0 = np.where(np.isnan(y), 0.0, y)
    b = audit_fairness(y0, prob, pred, FINDINGS, frame, pids, cfg)
    cols = ["tpr", "fpr", "ppv", "f1", "auroc", "tpr_low", "tpr_high", "n"]
    pd.testing.assert_frame_equal(a.by_group[cols], b.by_group[cols])
    # turning the uncertain cells into negatives changes the counts: they really were left out
    y_neg = np.where(y == -1, 0.0, y)
    c = audit_fairness(y_neg, prob, pred, FINDINGS, frame, pids, cfg)
    assert (c.by_group["n"].to_numpy() > a.by_group["n"].to_numpy()).all()
    assert not np.allclose(c.by_group["fpr"], a.by_group["fpr"])


# ---------------------------------------------------------------------------- intervals
def test_intervals_contain_point_estimates(random_audit):
    audit, _ = random_audit
    for m in ("tpr", "fpr", "ppv", "f1", "auroc"):
        ok = audit.by_group[audit.by_group[f"{m}_status"] == "ok"]
        assert len(ok) == 9
        assert (ok[f"{m}_low"] <= ok[m] + 1e-9).all() and (ok[m] <= ok[f"{m}_high"] + 1e-9).all(), m
        assert (ok[f"{m}_high"] - ok[f"{m}_low"] > 0).all()
    ok = audit.by_group[audit.by_group["ece_status"] == "ok"]
    assert (ok["ece_low"] <= ok["ece_high"]).all()


def _one_finding(n_patients, seed, tpr=0.7, fpr=0.2, per_patient=1):
    rng = np.random.default_rng(seed)
    pid = np.repeat(np.arange(n_patients), per_patient)
    n = len(pid)
    y = (rng.random(n) < 0.5).astype(float)
    u = rng.random(n)
    pred = np.where(y == 1, u < tpr, u < fpr).astype(int)
    prob = np.clip(0.5 * pred + 0.3 * y + 0.2 * rng.random(n), 0, 1)
    frame = pd.DataFrame({"grp": np.where(pid % 2 == 0, "A", "B"), "patient_id": pid.astype(str)})
    return y[:, None], prob[:, None], pred[:, None], frame, frame["patient_id"].to_numpy()


def _width(audit, metric="tpr"):
    r = audit.overall.iloc[0]
    return r[f"{metric}_high"] - r[f"{metric}_low"]


def test_intervals_narrow_with_more_patients():
    cfg = AuditConfig(attributes=[], n_boot=300)
    small = audit_fairness(*_one_finding(300, 0)[:3], ["Edema"], *_one_finding(300, 0)[3:], cfg)
    large = audit_fairness(*_one_finding(2400, 0)[:3], ["Edema"], *_one_finding(2400, 0)[3:], cfg)
    # sqrt(8) ≈ 2.8 times narrower in theory
    assert _width(large) < _width(small) / 2
    assert _width(large) > _width(small) / 4


def test_interval_is_clustered_by_patient():
    y, prob, pred, frame, pids = _one_finding(600, 3)
    cfg = AuditConfig(attributes=[], n_boot=400)
    base = audit_fairness(y, prob, pred, ["Edema"], frame, pids, cfg)
    y2, prob2, pred2 = (np.concatenate([a, a]) for a in (y, prob, pred))
    frame2 = pd.concat([frame, frame], ignore_index=True)
    same = audit_fairness(y2, prob2, pred2, ["Edema"], frame2, np.concatenate([pids, pids]), cfg)
    new_ids = np.concatenate([pids, np.char.add("dup", pids.astype(str))])
    fresh = audit_fairness(y2, prob2, pred2, ["Edema"], frame2.assign(patient_id=new_ids), new_ids, cfg)
    assert same.overall["tpr"].item() == pytest.approx(base.overall["tpr"].item())
    # duplicated reports of the same patients add no information
    assert _width(same) == pytest.approx(_width(base), rel=0.1)
    # pretending the duplicates were new patients narrows the interval by about 1/sqrt(2)
    assert _width(fresh) < 0.85 * _width(base)
    assert same.meta["n_patients"] == 600 and fresh.meta["n_patients"] == 1200


# ---------------------------------------------------------------------------- too small / too few
def test_small_group_is_too_small_to_judge(random_audit):
    audit, _ = random_audit
    tiny = audit.by_group[audit.by_group["group"] == "tiny"]
    assert len(tiny) == 3
    assert (tiny["status"] == TOO_SMALL).all()
    for m in ("tpr", "fpr", "ppv", "f1", "auroc", "ece"):
        assert (tiny[f"{m}_status"] == TOO_SMALL).all()
        assert tiny[[m, f"{m}_low", f"{m}_high"]].isna().all().all()
    ud = audit.underdiagnosis.query("group == 'tiny'").iloc[0]
    assert ud["status"] == TOO_SMALL and np.isnan(ud["underdiagnosis_rate"])


def test_too_few_events_for_a_rate():
    rng = np.random.default_rng(2)
    n = 200
    y = np.zeros((n, 1))
    pos_rows = rng.choice(n, 6, replace=False)  # 6 positives < min_events 10
    y[pos_rows, 0] = 1
    pred = (rng.random((n, 1)) < 0.3).astype(int)
    prob = rng.random((n, 1))
    frame = pd.DataFrame({"grp": ["A"] * n})
    a = audit_fairness(y, prob, pred, ["Edema"], frame, np.arange(n), AuditConfig(attributes=["grp"], n_boot=50, min_events=10))
    r = a.by_group.iloc[0]
    assert r["status"] == "ok"
    assert r["tpr_status"] == FEW_EVENTS and np.isnan(r["tpr"]) and np.isnan(r["tpr_low"])
    assert r["auroc_status"] == FEW_EVENTS and np.isnan(r["auroc"])
    assert r["fpr_status"] == "ok"
    assert r["fpr"] == pytest.approx(((pred[:, 0] == 1) & (y[:, 0] == 0)).sum() / (y[:, 0] == 0).sum())
    # with a lower bar, the same rate is judged
    b = audit_fairness(y, prob, pred, ["Edema"], frame, np.arange(n), AuditConfig(attributes=["grp"], n_boot=50, min_events=5))
    assert b.by_group.iloc[0]["tpr_status"] == "ok"
    assert b.by_group.iloc[0]["tpr"] == pytest.approx(pred[pos_rows, 0].mean())


# ---------------------------------------------------------------------------- underdiagnosis
def _ud_audit(y, pred, findings):
    reps = 10
    y, pred = np.tile(y, (reps, 1)), np.tile(pred, (reps, 1))
    n = len(y)
    sex = np.tile(np.array(["F", "F", "F", "M", "M", "M"]), reps)
    frame = pd.DataFrame({"sex": sex})
    cfg = AuditConfig(attributes=["sex"], n_boot=50, min_cell_size=1, min_events=1)
    a = audit_fairness(y, np.clip(pred + 0.0, 0, 1).astype(float), pred, findings, frame, np.arange(n), cfg)
    return a.underdiagnosis.set_index("group")


def test_underdiagnosis_with_no_finding_column():
    nan = np.nan
    findings = ["No Finding", "Edema", "Support Devices"]
    y = np.array(
        [
            [0, 1, 0],  # finding, called normal -> underdiagnosed
            [0, 0, 1],  # gold says not normal, model does not call normal
            [1, 0, 1],  # normal (support devices are not a disease)
            [nan, 1, 0],  # Edema -> has a finding, model does not call normal
            [nan, 0, 1],  # only a device and no normal label: no finding
            [1, 0, 0],  # normal
        ]
    )
    pred = np.array([[1, 0, 0], [0, 1, 1], [1, 0, 1], [0, 1, 0], [1, 0, 1], [0, 0, 0]])
    ud = _ud_audit(y, pred, findings)
    assert ud.loc["all", "n_with_finding"] == 30
    assert ud.loc["all", "underdiagnosis_rate"] == pytest.approx(1 / 3)
    assert ud.loc["F", "underdiagnosis_rate"] == pytest.approx(1 / 2)
    assert ud.loc["M", "underdiagnosis_rate"] == pytest.approx(0.0)
    assert ud.loc["F", "n_with_finding"] == 20 and ud.loc["M", "n_with_finding"] == 10


def test_underdiagnosis_without_no_finding_column():
    findings = ["Edema", "Effusion", "Support Devices"]
    y = np.array(
        [
            [1, 0, 0],  # has, nothing predicted but a device -> underdiagnosed
            [0, 1, 0],  # has, wrong finding predicted -> not called normal
            [0, 0, 1],  # a device only: no finding
            [-1, 0, 0],  # uncertain is not a finding
            [0, 1, 0],  # has, found
            [1, 1, 0],  # has, nothing predicted -> underdiagnosed
        ]
    ).astype(float)
    pred = np.array([[0, 0, 1], [1, 0, 0], [0, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]])
    ud = _ud_audit(y, pred, findings)
    assert ud.loc["all", "n_with_finding"] == 40
    assert ud.loc["all", "underdiagnosis_rate"] == pytest.approx(0.5)
    assert ud.loc["F", "underdiagnosis_rate"] == pytest.approx(0.5)  # 1 of 2
    assert ud.loc["M", "underdiagnosis_rate"] == pytest.approx(0.5)  # 1 of 2


# ---------------------------------------------------------------------------- gaps
def test_gaps_are_max_minus_min_over_judged_groups(random_audit):
    audit, _ = random_audit
    bg = audit.by_group
    gaps = audit.gaps
    for f in FINDINGS:
        sub = bg[bg["finding"] == f]
        for m in ("tpr", "fpr", "ppv", "f1", "auroc", "ece"):
            ok = sub[sub[f"{m}_status"] == "ok"]
            g = gaps.query("finding == @f and metric == @m").iloc[0]
            assert g["n_groups_judged"] == 3
            assert g["max_minus_min"] == pytest.approx(ok[m].max() - ok[m].min())
            worst = ok.loc[ok[m].idxmax() if m in ("fpr", "ece") else ok[m].idxmin()]
            assert g["worst_group"] == worst["group"]
            assert g["worst_value"] == pytest.approx(worst[m])
            assert g["max_minus_min_low"] <= g["max_minus_min_high"]
        ok = sub[(sub["tpr_status"] == "ok") & (sub["fpr_status"] == "ok")]
        eod = gaps.query("finding == @f and metric == 'equalized_odds_difference'").iloc[0]
        assert eod["max_minus_min"] == pytest.approx(max(ok["tpr"].max() - ok["tpr"].min(), ok["fpr"].max() - ok["fpr"].min()))
    diff = audit.difference("tpr", "Edema")
    assert diff["max_minus_min"].item() == pytest.approx(gaps.query("finding == 'Edema' and metric == 'tpr'")["max_minus_min"].item())


def test_worst_group_for_tpr_is_lowest():
    # group B misses far more findings than A
    ya, proba, preda, fa, pa = _one_finding(400, 0, tpr=0.9, fpr=0.1)
    yb, probb, predb, fb, pb = _one_finding(400, 1, tpr=0.5, fpr=0.3)
    y, prob, pred = np.vstack([ya, yb]), np.vstack([proba, probb]), np.vstack([preda, predb])
    frame = pd.DataFrame({"grp": ["A"] * 400 + ["B"] * 400})
    pids = np.concatenate([pa, np.char.add("b", pb.astype(str))])
    a = audit_fairness(y, prob, pred, ["Edema"], frame, pids, AuditConfig(attributes=["grp"], n_boot=100))
    g = a.gaps.set_index("metric")
    assert g.loc["tpr", "worst_group"] == "B"
    assert g.loc["fpr", "worst_group"] == "B"  # highest FPR is worst
    assert g.loc["underdiagnosis_rate", "worst_group"] == "B"


# ---------------------------------------------------------------------------- tests
def _two_groups(tpr_a, tpr_b, n=600, seed=0, k=1):
    rng = np.random.default_rng(seed)
    grp = np.array(["A"] * n + ["B"] * n)
    y = (rng.random((2 * n, k)) < 0.5).astype(float)
    tpr = np.where(grp == "A", tpr_a, tpr_b)[:, None]
    u = rng.random((2 * n, k))
    pred = np.where(y == 1, u < tpr, u < 0.2).astype(int)
    prob = np.clip(0.4 * y + 0.6 * rng.random((2 * n, k)), 0, 1)
    frame = pd.DataFrame({"grp": grp})
    return y, prob, pred, frame, np.arange(2 * n)


def _holm(p):
    p = np.asarray(p, float)
    order = np.argsort(p)
    m = len(p)
    adj = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


def test_large_tpr_difference_is_significant_after_holm():
    y, prob, pred, frame, pids = _two_groups(0.9, 0.5)
    a = audit_fairness(y, prob, pred, ["Edema"], frame, pids, AuditConfig(attributes=["grp"], n_boot=400))
    t = a.tests.set_index("metric")
    assert set(t.index) == {"tpr", "fpr", "auroc", "underdiagnosis_rate"}
    assert (t["reference"] == "A").all() or (t["reference"] == "B").all()
    assert abs(t.loc["tpr", "difference"]) == pytest.approx(0.4, abs=0.08)
    assert bool(t.loc["tpr", "significant"])
    assert t.loc["tpr", "p_adjusted"] < 0.05
    assert not bool(t.loc["fpr", "significant"])
    assert t.loc["auroc", "test"].startswith("unpaired DeLong")
    assert t.loc["tpr", "test"] == "patient-clustered bootstrap"
    np.testing.assert_allclose(a.tests["p_adjusted"], _holm(a.tests["p_value"]))


def test_no_difference_gives_few_significant_comparisons():
    y, prob, pred, frame, pids = _random_data(600, per_patient=1, seed=11, p_uncertain=0.0, p_nan=0.0)
    a = audit_fairness(y, prob, pred, FINDINGS, frame, pids, AuditConfig(attributes=["grp"], n_boot=200))
    t = a.tests
    assert len(t) == 2 * 3 * 3 + 2  # 2 groups vs the reference, 3 findings, tpr/fpr/auroc + underdiagnosis
    assert t["significant"].sum() <= 1
    ok = t["p_value"].notna()
    assert (t.loc[ok, "p_adjusted"] >= t.loc[ok, "p_value"] - 1e-12).all()
    assert (t.loc[t["metric"] == "auroc", "test"] == "unpaired DeLong (Obuchowski clustered variance)").all()
    # reference = the largest group
    sizes = frame["grp"].value_counts()
    assert (t["reference"] == sizes.index[0]).all()


def test_fdr_correction_and_explicit_reference():
    y, prob, pred, frame, pids = _two_groups(0.9, 0.5, n=300)
    a = audit_fairness(y, prob, pred, ["Edema"], frame, pids, AuditConfig(attributes=["grp"], n_boot=200, correction="fdr_bh", reference={"grp": "B"}))
    assert (a.tests["reference"] == "B").all()
    assert (a.tests["group"] == "A").all()
    p = a.tests["p_value"].to_numpy()
    m = len(p)
    order = np.argsort(p)
    bh = np.minimum.accumulate((p[order] * m / np.arange(1, m + 1))[::-1])[::-1]
    expected = np.empty(m)
    expected[order] = np.minimum(bh, 1)
    np.testing.assert_allclose(a.tests["p_adjusted"], expected)
    assert a.tests.set_index("metric").loc["tpr", "difference"] > 0.3  # A - B


# ---------------------------------------------------------------------------- output
def test_to_dict_is_strict_json(random_audit):
    audit, _ = random_audit
    d = audit.to_dict()
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    tiny = [r for r in back["by_group"] if r["group"] == "tiny"]
    assert tiny and all(r["tpr"] is None and r["tpr_low"] is None for r in tiny)
    assert back["n_cases"] == 600 and back["findings"] == FINDINGS
    a_edema = next(r for r in back["by_group"] if r["group"] == "A" and r["finding"] == "Edema")
    assert a_edema["tpr"] == pytest.approx(audit.by_group.query("group == 'A' and finding == 'Edema'")["tpr"].item())
    assert {"overall", "by_group", "underdiagnosis", "gaps", "tests", "adjusted_disparities"} <= set(back)


def test_forest_for_png_and_unknown_finding(random_audit):
    audit, _ = random_audit
    d = audit.to_dict()
    png, caption = forest_for(d, "tpr", "Effusion")
    assert png.startswith(b"\x89PNG")
    assert "Effusion" in caption
    png2, caption2 = forest_for(d, "underdiagnosis_rate")
    assert png2.startswith(b"\x89PNG") and "(any finding)" in caption2
    with pytest.raises(InputError, match="Pneumonia"):
        forest_for(d, "tpr", "Pneumonia")


def test_forest_for_default_finding_is_widest_gap(random_audit):
    audit, _ = random_audit
    d = audit.to_dict()
    widest = audit.gaps[audit.gaps["metric"] == "fpr"].sort_values("max_minus_min").iloc[-1]["finding"]
    _, caption = forest_for(d, "fpr")
    assert f"for {widest} per group" in caption


def test_missing_group_column_raises():
    y, prob, pred, frame, pids = _random_data(40, seed=0)
    with pytest.raises(InputError, match="'race'"):
        audit_fairness(y, prob, pred, FINDINGS, frame, pids, AuditConfig(attributes=["race"], n_boot=10))
