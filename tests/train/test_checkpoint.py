"""Interrupt training and resume it: same final ε, same weights, accountant state restored."""

import json
import math

import pytest
import torch

from radtrust.errors import InputError
from radtrust.train.checkpoint import Checkpointer
from radtrust.train.estimator import ReportClassifier


class _KilledAfterEpoch(Checkpointer):
    """Saves like the real one, then dies the way a killed process would: right after epoch ``k``."""

    def __init__(self, folder, identity, k):
        super().__init__(folder, identity)
        self.k = k

    def save(self, epoch, *args, **kwargs):
        super().save(epoch, *args, **kwargs)
        if epoch == self.k:
            raise KeyboardInterrupt


def _weights(clf):
    return {n: p.detach().clone() for n, p in clf.net.named_parameters() if p.requires_grad}


@pytest.mark.parametrize(("method", "epsilon"), [("lora", 2.0), ("head", math.inf), ("full", 2.0)])
def test_resumed_run_matches_uninterrupted(epsilon, method, toy_cohort, tiny_config, tmp_path):
    cohort, labels = toy_cohort
    cfg = tiny_config.model_copy(update={"epochs": 3, "epsilon": epsilon, "method": method})
    full = ReportClassifier(cfg).fit(cohort, labels)

    ident = {"config": "c1", "data": "d1"}
    with pytest.raises(KeyboardInterrupt):
        ReportClassifier(cfg).fit(cohort, labels, checkpoint=_KilledAfterEpoch(tmp_path / "ck", ident, 1))
    ck = Checkpointer(tmp_path / "ck", ident)
    assert ck.exists()
    state = json.loads(__import__("safetensors").safe_open(str(ck.path), "pt").metadata()["state"])
    assert state["epoch"] == 1
    if math.isfinite(epsilon):
        assert len(state["accountant_history"]) >= 1  # the accountant's composed steps travel with the weights

    torch.manual_seed(12345)  # a new process starts from an unrelated global random state
    resumed = ReportClassifier(cfg).fit(cohort, labels, checkpoint=ck)
    a, b = _weights(full), _weights(resumed)
    assert a.keys() == b.keys()
    for n in a:
        assert torch.equal(a[n], b[n]), n
    assert resumed.result.privacy.epsilon == full.result.privacy.epsilon
    assert resumed.result.privacy.epsilon_per_epoch == full.result.privacy.epsilon_per_epoch
    assert [h["mean_loss"] for h in resumed.result.history] == [h["mean_loss"] for h in full.result.history]


def test_checkpoint_of_another_run_is_refused(toy_cohort, tiny_config, tmp_path):
    cohort, labels = toy_cohort
    cfg = tiny_config.model_copy(update={"epochs": 2, "epsilon": 4.0})
    with pytest.raises(KeyboardInterrupt):
        ReportClassifier(cfg).fit(cohort, labels, checkpoint=_KilledAfterEpoch(tmp_path / "ck", {"config": "a"}, 1))
    with pytest.raises(InputError, match="different config"):
        ReportClassifier(cfg).fit(cohort, labels, checkpoint=Checkpointer(tmp_path / "ck", {"config": "b"}))


def test_unreadable_checkpoint_is_a_one_line_error(tmp_path):
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "checkpoint.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a readable radtrust checkpoint"):
        Checkpointer(tmp_path / "ck", {}).stored_identity()
