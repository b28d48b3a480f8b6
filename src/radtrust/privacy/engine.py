"""The DP-SGD engine: per-sample clipping and Gaussian noise through Opacus, with the accountant attached.

One facade, like Opacus's ``PrivacyEngine.make_private``, but taking radtrust's own Poisson-sampled batches
(variable length, dynamically padded) instead of a DataLoader. It returns ordinary PyTorch objects so the
training loop reads the same for private and non-private runs; ε = inf never reaches this module.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from opacus import GradSampleModule
from opacus.accountants import create_accountant
from opacus.optimizers import DPOptimizer


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

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("epsilon", "target_epsilon"):
            if d[k] == float("inf"):
                d[k] = "inf"
        return d


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
    ) -> None:
        self.module = GradSampleModule(model, batch_first=True, loss_reduction="mean", force_functorch=grad_sample_mode == "functorch")
        self.optimizer = DPOptimizer(
            optimizer,
            noise_multiplier=noise_multiplier,
            max_grad_norm=max_grad_norm,
            expected_batch_size=expected_batch_size,
            loss_reduction="mean",
        )
        self.accountant = create_accountant(mechanism=accountant)
        self.optimizer.attach_step_hook(self.accountant.get_optimizer_hook_fn(sample_rate=sample_rate))
        self.trainable = [p for p in self.module.parameters() if p.requires_grad]

    def empty_step(self) -> None:
        """A Poisson batch can be empty: the step still happens (noise only), so it is accounted."""
        for p in self.trainable:
            p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype, device=p.device)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def epsilon(self, delta: float) -> float:
        return float(self.accountant.get_epsilon(delta=delta)) if self.accountant.history else 0.0
