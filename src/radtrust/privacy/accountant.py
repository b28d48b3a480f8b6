"""Privacy accounting: calibrate the noise multiplier to a target (ε, δ) and report what was spent.

Thin wrapper over Opacus's accountants (PRV by default: Gopi, Lee & Wutschitz, 2021; RDP on request:
Mironov, 2017) so that every privacy claim radtrust writes names ε, δ and the accountant that produced it.
"""

from __future__ import annotations

import functools
import math

from opacus.accountants import create_accountant
from opacus.accountants.analysis import rdp as opacus_rdp
from opacus.accountants.analysis.prv import prvs as opacus_prvs
from opacus.accountants.utils import get_noise_multiplier

from radtrust._warnings import quiet_known_warnings
from radtrust.errors import PrivacyError

quiet_known_warnings()  # the accountants' known numpy notes (see radtrust._warnings), once per process


def _memoise_one_step_rdp() -> None:
    """Remember Opacus's one-step Rényi DP of the subsampled Gaussian, per (q, σ, order).

    Opacus recomputes it from scratch on every ``get_epsilon``: the PRV accountant bounds its domain with
    two RDP evaluations over ~90 orders, and at fractional orders each is a slowly converging series
    (milliseconds apiece). A run asks for ε after every epoch with the same (q, σ), so a 20-epoch private
    run spent 33 of its 40 seconds there. The value is a pure function of three floats and Opacus
    multiplies it by the step count afterwards, so remembering it returns bit-identical ε. Opacus has no
    cache option (checked in 1.5), hence this wrapper, installed once per process."""
    original = opacus_rdp._compute_rdp
    if getattr(original, "radtrust_memo", False):
        return
    memo = functools.lru_cache(maxsize=1 << 16)(original)

    def compute_rdp(q: float, sigma: float, alpha: float) -> float:
        try:
            return memo(q, sigma, alpha)
        except TypeError:  # an array of orders: not hashable, computed as Opacus would
            return original(q, sigma, alpha)

    compute_rdp.radtrust_memo = True  # type: ignore[attr-defined]
    opacus_rdp._compute_rdp = compute_rdp
    opacus_prvs._compute_rdp = compute_rdp  # the PRV module imported the name itself


_memoise_one_step_rdp()

ACCOUNTANTS = ("prv", "rdp")
#: Calibration stops when the spent ε is within this much *below* the target, never above it.
EPSILON_TOLERANCE = 0.01


def default_delta(n_records: int) -> float:
    """δ below 1/N: 1/(10·N), the usual "much smaller than one record's share" choice."""
    if n_records <= 0:
        raise PrivacyError("cannot choose δ for an empty training set")
    return 1.0 / (10.0 * n_records)


def check_privacy_target(epsilon: float, delta: float | None, n_records: int, accountant: str) -> float:
    """Validate a user's (ε, δ) and return the δ to use."""
    if accountant not in ACCOUNTANTS:
        raise PrivacyError(f"unknown accountant '{accountant}': choose one of {', '.join(ACCOUNTANTS)}")
    if math.isnan(epsilon) or epsilon <= 0:
        raise PrivacyError(f"epsilon must be > 0 (or inf for no privacy), got {epsilon}")
    if delta is None:
        return default_delta(n_records)
    if not (0 < delta < 1):
        raise PrivacyError(f"delta must be in (0, 1), got {delta}")
    if delta >= 1.0 / n_records:
        raise PrivacyError(f"delta {delta:g} is not below 1/N = {1.0 / n_records:g}; such a guarantee can leak a whole record")
    return delta


@functools.lru_cache(maxsize=256)
def calibrate_noise(epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str = "prv") -> float:
    """Smallest noise multiplier σ whose composed (ε, δ) after ``steps`` Poisson-sampled steps is at most
    ``epsilon`` (and within :data:`EPSILON_TOLERANCE` of it).

    Cached: the search takes seconds and its answer depends only on these five numbers (a sweep trains
    several methods at the same ε)."""
    try:
        return float(
            get_noise_multiplier(
                target_epsilon=epsilon,
                target_delta=delta,
                sample_rate=sample_rate,
                steps=steps,
                accountant=accountant,
                epsilon_tolerance=EPSILON_TOLERANCE,
            )
        )
    except ValueError as e:
        raise PrivacyError(f"cannot reach ε={epsilon:g} at δ={delta:g} with {steps} steps at sampling rate {sample_rate:.4g}: {e}") from None


def spent_epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str = "prv") -> float:
    """ε spent by ``steps`` steps of the subsampled Gaussian mechanism, under the named accountant."""
    if steps == 0:
        return 0.0
    acc = create_accountant(mechanism=accountant)
    acc.history = [(noise_multiplier, sample_rate, steps)]
    return float(acc.get_epsilon(delta=delta))
