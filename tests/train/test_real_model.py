"""Integration tests with the real bundled all-MiniLM-L6-v2 (marked slow; they still run in `make test`)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from radtrust.data.splits import patient_split
from radtrust.evaluate.evaluate import score_against_gold
from radtrust.labeling.rules import RuleLabeler
from radtrust.train.config import TrainConfig
from radtrust.train.estimator import ReportClassifier
from radtrust.train.warm_start import BUNDLED

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def split(chest_small):
    cohort, truth = chest_small
    labels = RuleLabeler("chexpert14").label(cohort)
    tr, te = patient_split(cohort, 0.3, 0)
    return cohort.subset(tr), cohort.subset(te), labels, truth


def test_real_encoder_learns_from_rule_labels(split):
    train, test, labels, truth = split
    cfg = TrainConfig(epsilon=math.inf, lora_top_layers=1, epochs=6, batch_size=32, learning_rate=1e-2, max_length=96, findings=["No Finding", "Support Devices", "Pleural Effusion", "Cardiomegaly"])
    clf = ReportClassifier(cfg).fit(train, labels)
    m = score_against_gold(clf, test, truth, n_boot=100)
    # Frequent, plainly worded findings: a real pretrained encoder must be far above chance on held-out patients.
    assert m["per_label"]["No Finding"]["auroc"] > 0.85
    assert m["per_label"]["Support Devices"]["auroc"] > 0.8
    assert m["weighted_f1"] > 0.5


def test_real_encoder_private_run_is_accounted(split):
    train, _, labels, _ = split
    cfg = TrainConfig(epsilon=4.0, lora_top_layers=1, epochs=1, batch_size=32, max_length=64, debug_checks=True, findings=["No Finding", "Pleural Effusion"])
    clf = ReportClassifier(cfg).fit(train, labels)
    p = clf.result.privacy
    assert 3.98 <= p.epsilon <= 4.0 and p.accountant == "prv" and p.delta < 1 / p.n_train_records
    probs = clf.predict_proba(train)
    assert np.isfinite(probs).all() and probs.shape == (len(train), 2)
    # The default warm start is the bundled one (synthetic reports only), and the privacy record says so.
    assert clf.warm_start() is not None and clf.warm_start().path == BUNDLED
    record = clf._privacy_record()
    assert record["warm_start"]["patient_data"] == "none" and "leave this guarantee as it is" in record["note"]
