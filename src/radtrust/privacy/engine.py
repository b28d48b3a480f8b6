"""The DP-SGD engine: per-sample clipping and Gaussian noise through Opacus, with the accountant attached.

One facade, like Opacus's ``PrivacyEngine.make_private``, but taking radtrust's own Poisson-sampled batches
(variable length, dynamically padded) instead of a DataLoader. It returns ordinary PyTorch objects so the
training loop reads the same for private and non-private runs; ε = inf never reaches this module.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from opacus import GradSampleModule
from opacus.optimizers import DPOptimizer
from opacus.optimizers.optimizer import _check_processed_flag, _mark_as_processed

from radtrust.privacy.accountant import create_accountant


@dataclass
class PrivacyReport:
    """What a run spent, in the form written to ``privacy.json``."""

    epsilon: float
    delta: float | None
    accountant: str | None
    target_epsilon: float
    noise_multiplier: float
    max_grad_norm: float | None
    sample_rate: float
    steps: int
    epochs: int
    n_train_records: int
    expected_batch_size: float
    sampling: str = "poisson"
    unit: str = "record (one report)"
    epsilon_per_epoch: list[float] = field(default_factory=list)
    note: str = ""
    components: list[dict] = field(default_factory=list)  # mechanism, epsilon, delta, accountant; ε adds up

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("epsilon", "target_epsilon"):
            if d[k] == float("inf"):
                d[k] = "inf"
        return d


class WeightedDPOptimizer(DPOptimizer):
    """DP-SGD with per-record weights in [0, 1] applied to the *clipped* per-sample gradients.

    Group reweighting and GroupDRO give records different weights. Multiplying the loss by a weight
    before clipping does not survive DP-SGD: a record whose gradient is clipped anyway comes out at norm
    C whatever its weight. Weighting after clipping does, and a weight ≤ 1 keeps every record's
    contribution within C, so the sensitivity, and with it the noise calibration and the accountant, are
    unchanged. Opacus has no hook between clipping and summation, hence this override of
    ``clip_and_accumulate`` (same computation as Opacus 1.6, times ``sample_weights``). The same override
    sums the per-record gradients of each privacy unit (``sample_units``) before clipping: user-level
    DP-SGD (McMahan et al., ICLR 2018), which Opacus does not offer.
    """

    sample_weights: torch.Tensor | None = None
    #: Patient-level DP: the privacy unit (0..k-1) of each record of the micro-batch. Records of one unit
    #: are summed before clipping, so one patient moves the sum by at most C, however many records she has.
    sample_units: torch.Tensor | None = None

    def clip_and_accumulate(self) -> None:
        if self.sample_weights is None and self.sample_units is None:
            return super().clip_and_accumulate()
        n_rows = len(self.grad_samples[0])
        w = self.sample_weights if self.sample_weights is not None else torch.ones(n_rows)
        if len(w) != n_rows:
            raise RuntimeError("sample_weights must have one weight per record of the micro-batch")
        if (w < 0).any() or (w > 1.0 + 1e-6).any():
            raise ValueError("DP sample weights must lie in [0, 1] so the clipping bound still holds")
        units = self.sample_units
        if units is not None:
            if len(units) != n_rows:
                raise RuntimeError("sample_units must have one unit per record of the micro-batch")
            if self.sample_weights is not None:
                # Group weights are accounted per record (LoopConfig refuses mitigation with patient-level DP).
                raise RuntimeError("per-record sample_weights cannot be combined with sample_units")
            k = int(units.max()) + 1 if n_rows else 0
            w = torch.ones(k)

        def per_unit(g: torch.Tensor) -> torch.Tensor:
            if units is None:
                return g
            return torch.zeros((k, *g.shape[1:]), dtype=g.dtype, device=g.device).index_add_(0, units.to(g.device), g)

        norms = torch.stack([per_unit(g.reshape(len(g), -1)).norm(2, dim=-1) for g in self.grad_samples], dim=1).norm(2, dim=1)
        factor = (self.max_grad_norm / (norms + 1e-6)).clamp(max=1.0) * w.to(norms.device)
        for p in self.params:
            _check_processed_flag(p.grad_sample)
            grad_sample = per_unit(self._get_flat_grad_sample(p).to(p.dtype))
            grad = torch.einsum("i,i...", factor.to(grad_sample.device).to(p.dtype), grad_sample)
            p.summed_grad = grad if p.summed_grad is None else p.summed_grad + grad
            _mark_as_processed(p.grad_sample)


class PrivateTraining:
    """Wraps a model and optimizer for DP-SGD and keeps the accountant.

    The loss is the mean over the *actual* batch; Opacus undoes that mean per sample, clips each
    sample's gradient to ``max_grad_norm``, sums, adds N(0, σ²C²) noise and divides by the *expected*
    batch size, which is the unbiased DP-SGD estimator under Poisson sampling (Abadi et al., 2016).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        noise_multiplier: float,
        max_grad_norm: float,
        expected_batch_size: int,
        sample_rate: float,
        accountant: str = "prv",
        grad_sample_mode: str = "hooks",
        accounted_noise_multiplier: float | None = None,
    ) -> None:
        self.module = GradSampleModule(model, batch_first=True, loss_reduction="mean", force_functorch=grad_sample_mode == "functorch")
        self.optimizer = WeightedDPOptimizer(
            optimizer,
            noise_multiplier=noise_multiplier,
            max_grad_norm=max_grad_norm,
            expected_batch_size=expected_batch_size,
            loss_reduction="mean",
        )
        self.accountant = create_accountant(mechanism=accountant)
        # ``accounted_noise_multiplier``: when the step releases more than the gradient (GroupDRO's group
        # losses), the step is one Gaussian mechanism with this smaller effective multiplier.
        accounted = noise_multiplier if accounted_noise_multiplier is None else accounted_noise_multiplier

        def account(optim: DPOptimizer) -> None:
            self.accountant.step(noise_multiplier=accounted, sample_rate=sample_rate * optim.accumulated_iterations)

        self.optimizer.attach_step_hook(account)
        self.trainable = [p for p in self.module.parameters() if p.requires_grad]

    def empty_step(self) -> None:
        """A Poisson batch can be empty: the step still happens (noise only), so it is accounted."""
        self.optimizer.sample_weights = None
        self.optimizer.sample_units = None
        for p in self.trainable:
            p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype, device=p.device)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def epsilon(self, delta: float) -> float:
        return float(self.accountant.get_epsilon(delta=delta)) if self.accountant.history else 0.0
