"""WeightedDPOptimizer: per-record weights on the clipped per-sample gradients, checked against gradients
computed by hand on a linear model, against plain Opacus, and for what the accountant records."""

from __future__ import annotations

import copy

import pytest
import torch
from opacus import GradSampleModule
from opacus.optimizers import DPOptimizer

from radtrust.privacy.engine import PrivateTraining, WeightedDPOptimizer

pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing:UserWarning")

EXPECTED_BATCH = 5  # deliberately not the actual batch size (4): DP-SGD divides by the expected size


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, generator=g, dtype=torch.float64) * 2
    y = torch.randn(4, 1, generator=g, dtype=torch.float64)
    return x, y


def _model(seed: int = 1) -> torch.nn.Linear:
    torch.manual_seed(seed)
    return torch.nn.Linear(3, 1).double()


def _hand_grads(model: torch.nn.Linear, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-record gradient of (w·x + b - y)² as (n, 4): [dL/dw (3), dL/db]."""
    with torch.no_grad():
        r = (x @ model.weight.T + model.bias - y)[:, 0]
        return torch.cat([2 * r[:, None] * x, 2 * r[:, None]], dim=1)


def _engine(model, noise=0.0, clip=1.0, **kw) -> PrivateTraining:
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    return PrivateTraining(model, opt, noise_multiplier=noise, max_grad_norm=clip, expected_batch_size=EXPECTED_BATCH, sample_rate=0.01, **kw)


def _step(engine: PrivateTraining, x, y, weights=None):
    engine.optimizer.zero_grad(set_to_none=True)
    loss = ((engine.module(x) - y) ** 2)[:, 0]
    loss.mean().backward()
    engine.optimizer.sample_weights = weights
    engine.optimizer.step()


def _flat_grad(model: torch.nn.Linear) -> torch.Tensor:
    return torch.cat([model.weight.grad.reshape(-1), model.bias.grad.reshape(-1)])


def _flat_summed(model: torch.nn.Linear) -> torch.Tensor:
    return torch.cat([model.weight.summed_grad.reshape(-1), model.bias.summed_grad.reshape(-1)])


def _clip_between(model, x, y) -> float:
    """A clipping bound with some records clipped and some not."""
    norms = _hand_grads(model, x, y).norm(dim=1).sort().values
    assert norms[1] < norms[2]
    return float((norms[1] + norms[2]) / 2)


def test_optimizer_class():
    eng = _engine(_model())
    assert isinstance(eng.optimizer, WeightedDPOptimizer)
    assert isinstance(eng.optimizer, DPOptimizer)
    assert eng.optimizer.sample_weights is None


def test_weighted_gradient_equals_hand_computation():
    x, y = _data()
    model = _model()
    g = _hand_grads(model, x, y)
    clip = _clip_between(model, x, y)
    factor = (clip / (g.norm(dim=1) + 1e-6)).clamp(max=1.0)
    assert (factor < 1).sum() == 2  # two clipped, two not
    # fractional weights on the clipped records too (where weighting before clipping would differ)
    rank = g.norm(dim=1).argsort()
    w = torch.empty(4, dtype=torch.float64)
    w[rank] = torch.tensor([1.0, 0.0, 0.25, 0.6], dtype=torch.float64)
    expected_sum = (w[:, None] * factor[:, None] * g).sum(0)

    eng = _engine(model, clip=clip)
    _step(eng, x, y, w)
    torch.testing.assert_close(_flat_summed(model), expected_sum)
    torch.testing.assert_close(_flat_grad(model), expected_sum / EXPECTED_BATCH)


def test_weights_act_after_clipping_not_before():
    """A heavily clipped record with weight 0.5 contributes exactly C/2 in norm, whatever its raw size."""
    x, y = _data()
    model = _model()
    g = _hand_grads(model, x, y)
    i = int(g.norm(dim=1).argmax())
    clip = float(g.norm(dim=1).min()) / 10  # everything clipped
    w = torch.zeros(4, dtype=torch.float64)
    w[i] = 0.5
    eng = _engine(model, clip=clip)
    _step(eng, x, y, w)
    assert float(_flat_summed(model).norm()) == pytest.approx(0.5 * clip, rel=1e-5)


def test_no_weights_reproduces_plain_opacus():
    x, y = _data()
    m1 = _model(3)
    m2 = copy.deepcopy(m1)
    clip = _clip_between(m1, x, y)
    eng = _engine(m1, clip=clip)
    _step(eng, x, y, None)

    gsm = GradSampleModule(m2, batch_first=True, loss_reduction="mean")
    plain = DPOptimizer(torch.optim.SGD(m2.parameters(), lr=0.0), noise_multiplier=0.0, max_grad_norm=clip, expected_batch_size=EXPECTED_BATCH, loss_reduction="mean")
    plain.zero_grad(set_to_none=True)
    ((gsm(x) - y) ** 2)[:, 0].mean().backward()
    plain.step()
    torch.testing.assert_close(_flat_grad(m1), _flat_grad(m2))
    # and the unweighted sum is the hand computation too
    g = _hand_grads(m1, x, y)
    factor = (clip / (g.norm(dim=1) + 1e-6)).clamp(max=1.0)
    torch.testing.assert_close(_flat_grad(m1), (factor[:, None] * g).sum(0) / EXPECTED_BATCH)


def test_all_ones_weights_equal_no_weights():
    x, y = _data()
    m1 = _model(4)
    m2 = copy.deepcopy(m1)
    clip = _clip_between(m1, x, y)
    _step(_engine(m1, clip=clip), x, y, None)
    _step(_engine(m2, clip=clip), x, y, torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(_flat_grad(m1), _flat_grad(m2))


def test_parameters_move_by_the_weighted_gradient():
    x, y = _data()
    model = _model(5)
    before = torch.cat([model.weight.detach().reshape(-1), model.bias.detach()]).clone()
    g = _hand_grads(model, x, y)
    w = torch.tensor([0.1, 0.9, 0.5, 1.0], dtype=torch.float64)
    clip = 1e6  # nothing clipped
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    eng = PrivateTraining(model, opt, noise_multiplier=0.0, max_grad_norm=clip, expected_batch_size=EXPECTED_BATCH, sample_rate=0.01)
    _step(eng, x, y, w)
    after = torch.cat([model.weight.detach().reshape(-1), model.bias.detach()])
    torch.testing.assert_close(after, before - 0.1 * (w[:, None] * g).sum(0) / EXPECTED_BATCH)


@pytest.mark.parametrize("bad", [[1.0, 1.5, 0.0, 0.0], [0.5, -0.1, 0.5, 0.5]])
def test_weights_outside_unit_interval_raise(bad):
    x, y = _data()
    eng = _engine(_model())
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        _step(eng, x, y, torch.tensor(bad, dtype=torch.float64))


def test_weights_of_wrong_length_raise():
    x, y = _data()
    eng = _engine(_model())
    with pytest.raises(RuntimeError, match="one weight per record"):
        _step(eng, x, y, torch.ones(3, dtype=torch.float64))


def test_noise_is_added_to_weighted_sum():
    """With σ > 0 and all weights 0 the gradient is pure noise with std σC/B per coordinate."""
    x, y = _data()
    torch.manual_seed(0)
    model = _model(6)
    eng = _engine(model, noise=2.0, clip=0.5)
    grads = []
    for _ in range(300):
        _step(eng, x, y, torch.zeros(4, dtype=torch.float64))
        grads.append(_flat_grad(model).clone())
    g = torch.stack(grads)
    assert float(g.std()) == pytest.approx(2.0 * 0.5 / EXPECTED_BATCH, rel=0.1)
    assert abs(float(g.mean())) < 0.02


def test_accounted_noise_multiplier_is_recorded():
    x, y = _data()
    eng = _engine(_model(), noise=1.5, accounted_noise_multiplier=1.1, accountant="rdp")
    for _ in range(3):
        _step(eng, x, y, torch.full((4,), 0.5, dtype=torch.float64))
    assert eng.accountant.history == [(1.1, 0.01, 3)]
    plain = _engine(_model(), noise=1.5, accountant="rdp")
    for _ in range(3):
        _step(plain, x, y, None)
    assert plain.accountant.history == [(1.5, 0.01, 3)]
    # the smaller accounted multiplier costs more ε, exactly as a run with that noise would
    same = _engine(_model(), noise=1.1, accountant="rdp")
    for _ in range(3):
        _step(same, x, y, None)
    assert eng.epsilon(1e-5) == pytest.approx(same.epsilon(1e-5))
    assert eng.epsilon(1e-5) > plain.epsilon(1e-5)


def test_prv_accountant_records_accounted_multiplier():
    x, y = _data()
    eng = _engine(_model(), noise=1.0, accounted_noise_multiplier=0.8)
    _step(eng, x, y, None)
    assert eng.accountant.mechanism() == "prv"
    assert eng.accountant.history == [(0.8, 0.01, 1)]
