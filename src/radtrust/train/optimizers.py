"""DP-AdamBC: Adam whose second moment is corrected for the noise DP-SGD adds.

Under DP-SGD each coordinate of the released gradient carries Gaussian noise of variance
Φ = (σ·C / B)² (noise multiplier σ, clipping bound C, expected batch B). Adam's second-moment estimate then
tracks E[g²] + Φ, and where the noise dominates (most coordinates, at small batches) every coordinate moves
by about lr/√Φ: Adam degenerates into sign-free SGD with a fixed rate (Tang et al., "DP-AdamBC: Your
DP-Adam Is Actually DP-SGD (Unless You Apply Bias Correction)", AAAI 2024). DP-AdamBC subtracts Φ from the
bias-corrected second moment and floors the result at γ:

    θ ← θ − lr · m̂ / √max(v̂ − Φ, γ)        (decoupled weight decay as in AdamW)

Φ is public (σ, C and B are fixed before training), so the correction is post-processing of the privatised
gradient and the guarantee is unchanged. With Φ = 0 (a non-private run) it is Adam with γ in place of ε.
Neither torch nor Opacus ships it, hence this class.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


class AdamBC(torch.optim.Optimizer):
    """Adam with DP bias correction (see the module docstring). ``noise_variance`` (Φ) is set by the loop
    once the noise is known; ``gamma`` floors the corrected second moment (Tang et al. use 1e-8 to 5e-8)."""

    def __init__(self, params: Iterable, lr: float, betas: tuple[float, float] = (0.9, 0.999), gamma: float = 5e-8, weight_decay: float = 0.0, noise_variance: float = 0.0) -> None:
        if gamma <= 0:
            raise ValueError("gamma must be > 0")
        super().__init__(params, {"lr": lr, "betas": betas, "gamma": gamma, "weight_decay": weight_decay})
        self.noise_variance = float(noise_variance)

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                g = p.grad
                if group["weight_decay"]:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                state["exp_avg"].mul_(beta1).add_(g, alpha=1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
                m_hat = state["exp_avg"] / (1 - beta1**t)
                v_hat = state["exp_avg_sq"] / (1 - beta2**t)
                denom = (v_hat - self.noise_variance).clamp(min=group["gamma"]).sqrt()
                p.addcdiv_(m_hat, denom, value=-group["lr"])
        return loss


def dp_noise_variance(noise_multiplier: float, max_grad_norm: float, expected_batch_size: int) -> float:
    """Φ: the variance per coordinate of the noise in the averaged private gradient, (σ·C/B)²."""
    if expected_batch_size <= 0 or not math.isfinite(noise_multiplier):
        return 0.0
    return (noise_multiplier * max_grad_norm / expected_batch_size) ** 2
