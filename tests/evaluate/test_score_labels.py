"""A label table (the teacher's output) scored against gold on the same footing as a trained run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radtrust.data.schema import Cohort, LabelTable
from radtrust.errors import InputError
from radtrust.evaluate.evaluate import score_labels_against_gold
from radtrust.evaluate.metrics import multilabel_metrics


def _cohort(n: int) -> Cohort:
    return Cohort(pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], "patient_id": [f"p{i // 2}" for i in range(n)], "findings": ["x"] * n}))


def test_teacher_labels_are_scored_with_the_students_metric_and_uncertain_as_chosen():
    rng = np.random.default_rng(0)
    n, findings = 60, ["Edema", "Effusion"]
    cohort = _cohort(n)
    truth = (rng.random((n, 2)) < 0.4).astype(float)
    pred = truth.copy()
    pred[:6, 0] = -1  # uncertain
    pred[6:12, 1] = 1 - pred[6:12, 1]  # wrong
    gold = LabelTable.from_matrix(cohort.case_ids, findings, truth, "gold")
    teacher = LabelTable.from_matrix(cohort.case_ids[::-1], findings + ["Hernia"], np.c_[pred[::-1], np.zeros(n)], "rules")  # other order, an extra finding
    m = score_labels_against_gold(teacher, cohort, gold, n_boot=200, seed=3)
    direct = multilabel_metrics(truth, None, (pred == 1).astype(int), findings, clusters=cohort.patient_ids, n_boot=200, seed=3)
    assert m["weighted_f1"] == direct["weighted_f1"] and m["ci95"] == direct["ci95"] and m["scored"]["uncertain_counts_as"] == "negative"
    pos = score_labels_against_gold(teacher, cohort, gold, uncertain_as="positive", n_boot=200, seed=3)
    assert pos["per_label"]["Edema"]["f1"] != m["per_label"]["Edema"]["f1"]
    with pytest.raises(InputError, match="have no label"):
        score_labels_against_gold(LabelTable.from_matrix(cohort.case_ids[:50], findings, pred[:50], "rules"), cohort, gold)
    with pytest.raises(InputError, match="no finding in common"):
        score_labels_against_gold(LabelTable.from_matrix(cohort.case_ids, ["Mass"], pred[:, :1], "rules"), cohort, gold)
