import math

import pytest

from radtrust.errors import PrivacyError
from radtrust.privacy.accountant import EPSILON_TOLERANCE, calibrate_noise, check_privacy_target, default_delta, spent_epsilon


def test_default_delta_is_below_one_over_n():
    for n in (10, 1000, 123457):
        assert default_delta(n) < 1.0 / n


@pytest.mark.parametrize("eps", [0.0, -1.0, float("nan")])
def test_nonpositive_epsilon_rejected(eps):
    with pytest.raises(PrivacyError, match="epsilon must be > 0"):
        check_privacy_target(eps, None, 100, "prv")


def test_delta_must_be_below_one_over_n():
    with pytest.raises(PrivacyError, match="not below 1/N"):
        check_privacy_target(1.0, 0.02, 100, "prv")
    assert check_privacy_target(1.0, 1e-4, 100, "prv") == 1e-4


@pytest.mark.parametrize("accountant", ["prv", "rdp"])
@pytest.mark.parametrize("target", [1.0, 8.0])
def test_calibration_ends_at_target_not_above(accountant, target):
    q, steps, delta = 64 / 1000, 200, 1e-4
    sigma = calibrate_noise(target, delta, q, steps, accountant)
    eps = spent_epsilon(sigma, q, steps, delta, accountant)
    assert target - EPSILON_TOLERANCE - 1e-9 <= eps <= target + 1e-9


def test_more_noise_less_epsilon_and_prv_tighter_than_rdp():
    q, steps, delta = 0.01, 1000, 1e-5
    assert spent_epsilon(2.0, q, steps, delta) < spent_epsilon(1.0, q, steps, delta)
    assert spent_epsilon(1.0, q, steps, delta, "prv") <= spent_epsilon(1.0, q, steps, delta, "rdp")
    assert spent_epsilon(1.0, q, 0, delta) == 0.0


@pytest.mark.parametrize("sigma,q,steps,delta", [(1.1, 0.01, 10_000, 1e-5), (0.8, 0.064, 300, 1e-4), (2.0, 0.001, 50_000, 1e-6)])
def test_matches_google_dp_accounting(sigma, q, steps, delta):
    """Cross-check against Google's dp-accounting: RDP must agree; PRV and PLD are both near-exact
    numerical compositions, and Opacus's PRV reports a conservative bound at most 3% above PLD's."""
    dpa = pytest.importorskip("dp_accounting")
    from dp_accounting.pld.pld_privacy_accountant import PLDAccountant
    from dp_accounting.rdp.rdp_privacy_accountant import RdpAccountant

    event = dpa.SelfComposedDpEvent(dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(sigma)), steps)
    rdp, pld = RdpAccountant(), PLDAccountant()
    rdp.compose(event)
    pld.compose(event)
    assert spent_epsilon(sigma, q, steps, delta, "rdp") == pytest.approx(rdp.get_epsilon(delta), rel=0.01)
    ours = spent_epsilon(sigma, q, steps, delta, "prv")
    ref = pld.get_epsilon(delta)
    assert 0.995 * ref <= ours <= 1.03 * ref
    assert math.isfinite(ours)


def test_remembered_one_step_rdp_gives_opacus_own_epsilon_and_is_reused():
    """The memo on Opacus's one-step RDP changes no figure (the unwrapped function, called directly, agrees
    at every order) and a second ε query at the same (q, σ) computes nothing new."""
    from opacus.accountants.analysis import rdp as opacus_rdp

    from radtrust.privacy.accountant import _memoise_one_step_rdp

    wrapped = opacus_rdp._compute_rdp
    _memoise_one_step_rdp()  # idempotent: a second install must not wrap the wrapper
    assert wrapped.radtrust_memo and opacus_rdp._compute_rdp is wrapped
    for order in (1.5, 2.25, 7.0, 32.0):
        assert opacus_rdp._compute_rdp(0.07, 0.93, order) == opacus_rdp._compute_log_a(0.07, 0.93, order) / (order - 1)
    spent_epsilon(0.91, 0.05, 300, 1e-5)
    calls = []
    original = opacus_rdp._compute_log_a
    try:
        opacus_rdp._compute_log_a = lambda *a: calls.append(a) or original(*a)
        again = spent_epsilon(0.91, 0.05, 301, 1e-5)
    finally:
        opacus_rdp._compute_log_a = original
    assert calls == [] and again > 0
