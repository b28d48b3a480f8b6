"""DP-AdamBC: Adam with the DP noise variance taken out of its second moment."""

from __future__ import annotations

import math

import pytest
import torch

from radtrust.train.optimizers import AdamBC, dp_noise_variance


def _steps(opt_cls, grads, **kw):
    p = torch.nn.Parameter(torch.zeros(len(grads[0])))
    opt = opt_cls([p], **kw)
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
    return p.detach().clone(), opt


def test_without_noise_it_is_adam_with_a_floor_for_epsilon():
    grads = [[0.5, -1.0, 2.0], [0.4, -0.8, 1.0], [0.7, -1.2, 3.0]]
    ours, _ = _steps(AdamBC, grads, lr=0.1, gamma=1e-16)
    ref, _ = _steps(torch.optim.Adam, grads, lr=0.1, eps=0.0)
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-7)


def test_the_noise_variance_is_taken_out_of_the_second_moment():
    """Noise-dominated coordinates: plain DP-Adam moves each by about lr whatever its signal (it is DP-SGD
    with a fixed step); with the correction the step follows the signal-to-noise instead."""
    torch.manual_seed(0)
    phi = 1.0
    signal = torch.tensor([0.05, 0.5])
    grads = [(signal + torch.randn(2) * math.sqrt(phi)).tolist() for _ in range(400)]
    plain, _ = _steps(torch.optim.Adam, grads, lr=0.01)
    corrected, opt = _steps(AdamBC, grads, lr=0.01, noise_variance=phi, gamma=1e-2)
    assert opt.noise_variance == phi
    assert (-corrected[1]) / (-corrected[0]) > 2 * (-plain[1]) / (-plain[0])  # larger moves where the signal is larger


def test_noise_variance_and_the_loop_setting():
    assert dp_noise_variance(1.0, 2.0, 4) == pytest.approx(0.25)
    assert dp_noise_variance(0.0, 1.0, 10) == 0.0 and dp_noise_variance(1.0, 1.0, 0) == 0.0
    with pytest.raises(ValueError):
        AdamBC([torch.nn.Parameter(torch.zeros(1))], lr=0.1, gamma=0)


def test_a_private_run_with_adam_bc_is_accounted_like_any_other(toy_cohort, tiny_config):
    """The optimiser only post-processes the privatised gradient: the noise calibration, and so ε, is the
    one every private run at this ε gets."""
    from radtrust.privacy.accountant import calibrate_noise
    from radtrust.train.estimator import ReportClassifier

    cohort, labels = toy_cohort
    bc = ReportClassifier(tiny_config.model_copy(update={"epsilon": 4.0, "optimizer": "adam_bc"})).fit(cohort, labels)
    p = bc.result.privacy
    assert 3.99 <= p.epsilon <= 4.0 and p.noise_multiplier == calibrate_noise(4.0, p.delta, p.sample_rate, p.steps, "prv")
    assert math.isfinite(bc.result.history[-1]["mean_loss"]) and bc.result.history[-1]["mean_loss"] < bc.result.history[0]["mean_loss"] * 1.5
