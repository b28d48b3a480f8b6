"""Mitigation inside the one training loop: group weights, GroupDRO, per-group thresholds and worst-group
selection, each with the privacy accounting it needs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from radtrust.errors import ConfigError, InputError
from radtrust.train.config import TrainConfig
from radtrust.train.estimator import ReportClassifier

FINDINGS = ["Edema", "Pleural Effusion", "Cardiomegaly"]


def _cfg(tiny_config: TrainConfig, **kw) -> TrainConfig:
    base = dict(groups="sex", findings=FINDINGS, min_validation_positives=2, min_group_size=5)
    return tiny_config.model_copy(update=base | kw)


def test_config_refuses_mitigation_without_groups_and_budget_too_small():
    with pytest.raises(ConfigError, match="groups"):
        TrainConfig.build({"mitigation": "reweight"})
    with pytest.raises(ConfigError, match="group_count_epsilon"):
        TrainConfig.build({"mitigation": "reweight", "groups": "sex", "epsilon": 0.1, "group_count_epsilon": 0.1})


@pytest.mark.parametrize("mitigation", ["reweight", "group_dro"])
def test_private_mitigation_accounts_group_counts_and_stays_within_target(chest_small, tiny_config, mitigation):
    cohort, truth = chest_small
    cfg = _cfg(tiny_config, mitigation=mitigation, epsilon=4.0)
    clf = ReportClassifier(cfg).fit(cohort, truth)
    p = clf.result.privacy
    parts = {c["mechanism"].split(",")[0]: c for c in p.components}
    assert "Laplace group sizes (L1 sensitivity 1)" in parts
    assert parts["Laplace group sizes (L1 sensitivity 1)"]["epsilon"] == pytest.approx(0.1)
    assert p.epsilon == pytest.approx(sum(c["epsilon"] for c in p.components))
    assert p.epsilon <= 4.0 + 1e-6 and p.epsilon > 3.5
    if mitigation == "group_dro":
        sgd = p.components[0]
        # the step's two releases are one Gaussian: 1/σ² = 1/σ_grad² + 1/σ_loss²
        assert 1 / sgd["noise_multiplier"] ** 2 == pytest.approx(1 / sgd["noise_multiplier_gradient"] ** 2 + 1 / sgd["noise_multiplier_group_losses"] ** 2)
        q = clf.result.history[-1]["group_dro_q"]
        assert len(q) == 2 and sum(q) == pytest.approx(1.0)


def test_non_private_reweighting_changes_training_and_needs_no_budget(chest_small, tiny_config):
    cohort, truth = chest_small
    plain = ReportClassifier(_cfg(tiny_config, epsilon=math.inf)).fit(cohort, truth)
    weighted = ReportClassifier(_cfg(tiny_config, epsilon=math.inf, mitigation="reweight")).fit(cohort, truth)
    assert weighted.result.privacy.components == [] and math.isinf(weighted.result.privacy.epsilon)
    assert not np.allclose(plain.predict_proba(cohort), weighted.predict_proba(cohort))


def test_validation_labels_define_the_validation_patients(chest_small, tiny_config):
    cohort, truth = chest_small
    reviewed_ids = cohort.case_ids[:60]
    clf = ReportClassifier(_cfg(tiny_config, groups=None)).fit(cohort, truth, validation_labels=truth.aligned_to(reviewed_ids))
    val_patients = set(cohort.patient_ids[:60])
    n_train_expected = sum(p not in val_patients for p in cohort.patient_ids)
    assert clf.meta["n_train"] == n_train_expected and clf.meta["n_validation"] == 60
    with pytest.raises(InputError, match="nothing is left to train on"):
        ReportClassifier(_cfg(tiny_config)).prepare(cohort, truth, truth)


def test_postprocess_and_worst_group_selection_round_trip(chest_small, tiny_config, tmp_path):
    cohort, truth = chest_small
    cfg = _cfg(tiny_config, epochs=3, postprocess="true_positive_rate_parity", postprocess_findings=["Cardiomegaly"], selection="worst_group", epsilon=math.inf)
    clf = ReportClassifier(cfg).fit(cohort, truth)
    sel = clf.fairness["selection"]
    assert sel["chosen_epoch"] in (1, 2, 3) and len(sel["by_epoch"]) == 3
    best = max(e["worst_group_macro_auroc"] for e in sel["by_epoch"] if e["worst_group_macro_auroc"] is not None)
    assert sel["value"] == pytest.approx(best)
    pp = clf.fairness["postprocess"]
    assert set(pp["rules"]) <= {"Cardiomegaly"}
    clf.save(tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "fairness.json").read_text())
    assert saved["postprocess"]["constraint"] == "true_positive_rate_parity"
    again = ReportClassifier.load(tmp_path / "run")
    probs = clf.predict_proba(cohort)
    assert (again.predict(cohort, probs=probs) == clf.predict(cohort, probs=probs)).all()
    # findings without per-group rules keep the single validation threshold
    j = clf.findings.index("Edema")
    assert (clf.predict(cohort, probs=probs)[:, j] == (probs[:, j] >= clf.thresholds["Edema"])).all()
    # per-group decisions need the group column at prediction time
    no_sex = cohort.subset(np.arange(len(cohort)))
    no_sex.frame = no_sex.frame.drop(columns=["sex"])
    if pp["rules"]:
        with pytest.raises(InputError, match="'sex'"):
            again.predict(no_sex, probs=probs)
