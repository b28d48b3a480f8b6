import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from radtrust.evaluate.metrics import multilabel_metrics


@pytest.fixture
def preds():
    rng = np.random.default_rng(1)
    y = (rng.random((400, 4)) < 0.3).astype(float)
    p = np.clip(y * 0.4 + rng.random((400, 4)) * 0.6, 0, 1)
    d = (p > 0.5).astype(int)
    return y, p, d


def test_matches_scikit_learn(preds):
    y, p, d = preds
    m = multilabel_metrics(y, p, d, ["a", "b", "c", "d"], exclude_from_average=())
    for avg in ("micro", "macro", "weighted"):
        assert m[f"{avg}_f1"] == pytest.approx(f1_score(y, d, average=avg, zero_division=0))
    assert m["micro_precision"] == pytest.approx(precision_score(y, d, average="micro"))
    assert m["micro_recall"] == pytest.approx(recall_score(y, d, average="micro"))
    assert m["per_label"]["b"]["f1"] == pytest.approx(f1_score(y[:, 1], d[:, 1]))
    assert m["per_label"]["a"]["support"] == int(y[:, 0].sum())


def test_summary_column_excluded_from_averages(preds):
    y, p, d = preds
    m = multilabel_metrics(y, p, d, ["a", "b", "c", "normal"])
    assert m["averaged_over"] == ["a", "b", "c"]
    assert m["micro_f1"] == pytest.approx(f1_score(y[:, :3], d[:, :3], average="micro"))
    assert "normal" in m["per_label"]


def test_uncertain_gold_cells_left_out(preds):
    y, p, d = preds
    y2 = y.copy()
    y2[:50, 0] = -1
    m = multilabel_metrics(y2, p, d, ["a", "b", "c", "d"], exclude_from_average=())
    assert m["per_label"]["a"]["n"] == 350
    assert m["per_label"]["a"]["f1"] == pytest.approx(f1_score(y[50:, 0], d[50:, 0]))


def test_ci_contains_estimate_and_respects_clusters(preds):
    y, p, d = preds
    clusters = np.arange(400) // 4
    m = multilabel_metrics(y, p, d, list("abcd"), clusters=clusters, n_boot=500)
    lo, hi = m["ci95"]["micro_f1"]
    assert lo <= m["micro_f1"] <= hi
    # Duplicating every case 5× inside its cluster must not narrow a *cluster* bootstrap interval much,
    # while a row bootstrap (each row its own cluster) would narrow by about √5.
    Y, P, D = np.repeat(y, 5, 0), np.repeat(p, 5, 0), np.repeat(d, 5, 0)
    rows = multilabel_metrics(Y, P, D, list("abcd"), clusters=np.arange(2000), n_boot=500)
    clus = multilabel_metrics(Y, P, D, list("abcd"), clusters=np.repeat(clusters, 5), n_boot=500)
    w = lambda mm: mm["ci95"]["micro_f1"][1] - mm["ci95"]["micro_f1"][0]  # noqa: E731
    assert w(clus) > 1.7 * w(rows)
    assert w(clus) == pytest.approx(w(m), rel=0.35)


def test_auroc_none_when_single_class():
    y = np.zeros((20, 1))
    m = multilabel_metrics(y, np.random.default_rng(0).random((20, 1)), np.zeros((20, 1), int), ["a"])
    assert m["per_label"]["a"]["auroc"] is None
