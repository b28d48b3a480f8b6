"""combine_labels: Dawid–Skene and weighted vote, confidence, pairwise kappa, alignment by case id."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from radtrust.data.io import write_table
from radtrust.data.readers import read_labels
from radtrust.data.schema import LabelTable
from radtrust.errors import ConfigError, InputError
from radtrust.labeling.combine import CLASS_VALUES, agreement_table, combine_files, combine_labels, dawid_skene

VALS = np.asarray(CLASS_VALUES)  # class index -> 1, -1, 0, NaN
FINDINGS = ["Edema", "Cardiomegaly", "Pneumothorax"]


def simulate(n: int = 1500, seed: int = 0):
    """Truth over the four categories; two honest noisy sources and one that systematically swaps
    positive<->negative and uncertain<->not mentioned (consistently, so it is informative once learnt)."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(4, size=(n, len(FINDINGS)), p=[0.25, 0.1, 0.3, 0.35])

    def source(acc: float, perm=(0, 1, 2, 3)) -> np.ndarray:
        out = np.asarray(perm)[truth]
        flip = rng.random(truth.shape) > acc
        out[flip] = rng.integers(0, 4, size=int(flip.sum()))
        return out

    ids = [f"c{i}" for i in range(n)]
    codes = [source(0.8), source(0.7), source(0.9, perm=(2, 3, 0, 1))]
    tables = [LabelTable.from_matrix(ids, FINDINGS, VALS[c], name) for c, name in zip(codes, ("good", "fair", "swapped"))]
    return VALS[truth], tables


def accuracy(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean((pred == truth) | (np.isnan(pred) & np.isnan(truth))))


def test_dawid_skene_beats_majority_vote_with_a_systematically_bad_source():
    truth, tables = simulate()
    ds, ds_conf, _ = combine_labels(tables, "dawid_skene")
    mv, _, _ = combine_labels(tables, "weighted_vote")
    acc_ds, acc_mv = accuracy(ds.values(), truth), accuracy(mv.values(), truth)
    assert acc_ds > 0.93 and acc_ds > acc_mv + 0.15
    # The posterior is calibrated on this (well-specified) simulation.
    assert abs(float(ds_conf[FINDINGS].to_numpy().mean()) - acc_ds) < 0.03
    assert ds.source == "combined-dawid_skene:good+fair+swapped"


def test_dawid_skene_estimates_the_swap():
    _, tables = simulate(n=800, seed=1)
    codes = np.stack([np.select([t.values()[:, 0] == v for v in (1, -1, 0)], [0, 1, 2], 3) for t in tables], axis=1)
    post, conf, prior, n_iter = dawid_skene(codes)
    assert np.allclose(post.sum(axis=1), 1) and 1 < n_iter < 200
    swapped = conf[2]
    assert swapped[0, 2] > 0.8 and swapped[2, 0] > 0.8 and swapped[1, 3] > 0.8  # P(says negative | positive) ...
    assert np.allclose(conf.sum(axis=2), 1) and abs(prior.sum() - 1) < 1e-9


def test_kappa_matches_sklearn_on_the_shared_cases():
    rng = np.random.default_rng(3)
    n = 300
    a = VALS[rng.choice(4, size=(n, 3))]
    b = np.where(rng.random((n, 3)) < 0.6, a, VALS[rng.choice(4, size=(n, 3))])
    ta = LabelTable.from_matrix([f"c{i}" for i in range(n)], FINDINGS, a, "a")
    tb = LabelTable.from_matrix([f"c{i}" for i in range(50, n + 50)], FINDINGS, np.vstack([b[50:], b[:50]]), "b")
    agr = agreement_table([ta, tb]).set_index("finding")
    cat = lambda v: np.where(np.isnan(v), "nm", v.astype(str))  # noqa: E731
    for j, f in enumerate(FINDINGS):
        x, y = a[50:, j], b[50:, j]  # cases c50..c299 are in both tables
        row = agr.loc[f]
        assert row["n"] == n - 50
        assert row["kappa"] == pytest.approx(cohen_kappa_score(cat(x), cat(y)))
        assert row["kappa_positive"] == pytest.approx(cohen_kappa_score(x == 1, y == 1))
        assert row["agreement"] == pytest.approx(np.mean(cat(x) == cat(y)))
    pooled = agr.loc["(all)"]
    assert pooled["kappa"] == pytest.approx(cohen_kappa_score(cat(a[50:].ravel()), cat(b[50:].ravel())))


@pytest.mark.parametrize("method", ["dawid_skene", "weighted_vote"])
def test_identical_sources_agree_perfectly(method):
    _, tables = simulate(n=200)
    t = tables[0]
    copy = LabelTable(t.frame.copy(), list(t.findings), "copy")
    table, conf, agr = combine_labels([t, copy, LabelTable(t.frame.copy(), list(t.findings), "copy")], method)
    np.testing.assert_array_equal(table.values(), t.values())
    assert conf[FINDINGS].to_numpy().min() > 0.99
    assert (agr["kappa"] == 1).all() and (agr["kappa_positive"] == 1).all() and (agr["agreement"] == 1).all()
    assert list(agr["source_b"].unique()) == ["copy", "copy#2"]  # duplicate names are told apart


def test_union_of_cases_and_missing_rows():
    a = LabelTable.from_matrix(["c1", "c2", "c3"], ["Edema"], np.array([[1.0], [0.0], [np.nan]]), "a")
    b = LabelTable.from_matrix(["c2", "c3", "c4"], ["Edema"], np.array([[0.0], [np.nan], [-1.0]]), "b")
    for method in ("dawid_skene", "weighted_vote"):
        table, conf, agr = combine_labels([a, b], method)
        assert table.case_ids == ["c1", "c2", "c3", "c4"]
        np.testing.assert_array_equal(table.values()[:, 0], [1, 0, np.nan, -1])
        assert conf["n_sources"].tolist() == [1, 2, 2, 1]
    assert agr.loc[agr["finding"] == "Edema", "n"].item() == 2


def test_weighted_vote_ties_and_weights():
    a = LabelTable.from_matrix(["c1", "c2"], ["Edema"], np.array([[1.0], [0.0]]), "a")
    b = LabelTable.from_matrix(["c1", "c2"], ["Edema"], np.array([[np.nan], [-1.0]]), "b")
    table, conf, _ = combine_labels([a, b], "weighted_vote")
    np.testing.assert_array_equal(table.values()[:, 0], [1, -1])  # positive > uncertain > negative > not mentioned
    assert conf["Edema"].tolist() == [0.5, 0.5]
    table, conf, _ = combine_labels([a, b], "weighted_vote", weights={"b": 3.0})
    assert np.isnan(table.values()[0, 0]) and conf["Edema"].tolist() == [0.75, 0.75]
    with pytest.raises(ConfigError, match="one value per table"):
        combine_labels([a, b], "weighted_vote", weights=[1.0])


def test_clear_errors():
    a = LabelTable.from_matrix(["c1", "c2"], ["Edema", "Mass"], np.ones((2, 2)), "a")
    other = LabelTable.from_matrix(["c1", "c2"], ["Hernia"], np.ones((2, 1)), "b")
    with pytest.raises(InputError, match="share no finding"):
        combine_labels([a, other])
    partial = LabelTable.from_matrix(["c1", "c2"], ["Edema"], np.ones((2, 1)), "c")
    with pytest.raises(InputError, match="only a has Mass"):
        combine_labels([a, partial])
    assert combine_labels([a, partial], findings=["Edema"])[0].findings == ["Edema"]
    with pytest.raises(InputError, match="share no case id"):
        combine_labels([a, LabelTable.from_matrix(["x1", "x2"], ["Edema", "Mass"], np.ones((2, 2)), "d")])
    with pytest.raises(InputError, match="at least two"):
        combine_labels([a])
    with pytest.raises(ConfigError, match="unknown combine method"):
        combine_labels([a, a], "mean")


def test_combine_files_writes_three_tables_and_honours_the_teacher_sidecar(tmp_path):
    ids = ["c1", "c2", "c3"]
    rules = LabelTable.from_matrix(ids, ["Edema"], np.array([[1.0], [0.0], [np.nan]]), "rules")
    teacher = LabelTable.from_matrix(ids, ["Edema"], np.array([[1.0], [np.nan], [np.nan]]), "teacher:m")
    write_table(rules.frame, tmp_path / "rules.csv")
    write_table(teacher.frame, tmp_path / "teacher.csv")
    # The teacher gave no answer for c2: its NaN row means "no answer", not "not mentioned".
    (tmp_path / "teacher.teacher.json").write_text(json.dumps({"stats": {"failed_case_ids": ["c2"]}}))
    out = tmp_path / "out" / "combined.csv"
    table, conf, agr = combine_files([tmp_path / "rules.csv", tmp_path / "teacher.csv"], out, "weighted_vote")
    back = read_labels(out)
    np.testing.assert_array_equal(back.values()[:, 0], [1, 0, np.nan])
    assert back.source == "combined-weighted_vote:rules+teacher:m"
    c = pd.read_csv(tmp_path / "out" / "combined.confidence.csv")
    assert c["n_sources"].tolist() == [2, 1, 2] and c["Edema"].tolist() == [1.0, 1.0, 1.0]
    a = pd.read_csv(tmp_path / "out" / "combined.agreement.csv")
    assert a.loc[a["finding"] == "Edema", "n"].item() == 2
