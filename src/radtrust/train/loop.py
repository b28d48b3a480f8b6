"""The one training loop, for private and non-private runs alike.

Batches are Poisson-sampled in both cases (each record joins each step independently with probability
q = batch_size / N), so a private run and its ε = inf twin see the same batch-size distribution and the
same number of steps; the only fork is whether :class:`~radtrust.privacy.engine.PrivateTraining` wraps
the model and optimizer.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from opacus.utils.uniform_sampler import UniformWithReplacementSampler

from radtrust._warnings import quiet_known_warnings
from radtrust.models.text import FeatureHead, ReportNet, pad_batch, pad_features
from radtrust.privacy.accountant import calibrate_noise, check_privacy_target, spent_epsilon
from radtrust.privacy.engine import PrivacyReport, PrivateTraining
from radtrust.progress import progress_bar
from radtrust.train.config import TrainConfig


@dataclass
class TrainData:
    """Tokenised training records with their targets and loss mask (1 = this cell counts in the loss)."""

    token_ids: list[list[int]]
    targets: np.ndarray  # (n, k) float 0/1
    loss_mask: np.ndarray  # (n, k) float 0/1
    pad_id: int
    features: list[torch.Tensor] | None = None  # frozen-trunk output per record, when cached

    def __len__(self) -> int:
        return len(self.token_ids)

    def cache_features(self, net: ReportNet, batch_size: int = 64, progress: bool = False) -> None:
        """Run the frozen trunk once per record (length-sorted batches) and keep the unpadded output."""
        order = np.argsort([len(x) for x in self.token_ids], kind="stable")
        feats: list[torch.Tensor | None] = [None] * len(self)
        with torch.inference_mode(), progress_bar("encoding (frozen layers)", len(self), progress) as bar:
            for s in range(0, len(order), batch_size):
                chunk = order[s : s + batch_size]
                ids, att = pad_batch([self.token_ids[i] for i in chunk], self.pad_id)
                hidden = net.features(ids, att)
                for row, i in enumerate(chunk):
                    feats[i] = hidden[row, : len(self.token_ids[i])].clone()
                bar.advance(len(chunk))
        self.features = feats  # type: ignore[assignment]

    def batch(self, idx: np.ndarray, net: ReportNet) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.features is not None:
            hidden, att = pad_features([self.features[i] for i in idx])
        else:
            ids, att = pad_batch([self.token_ids[i] for i in idx], self.pad_id)
            hidden = net.features(ids, att)
        return hidden, att, torch.from_numpy(self.targets[idx]).float(), torch.from_numpy(self.loss_mask[idx]).float()


@dataclass
class TrainResult:
    privacy: PrivacyReport
    history: list[dict] = field(default_factory=list)
    wall_seconds: float = 0.0


def masked_bce(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-record loss: mean binary cross-entropy over the findings whose label counts (mask = 1)."""
    cell = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none") * mask
    return cell.sum(1) / mask.sum(1).clamp(min=1.0)


def _trainable(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def train_model(model: ReportNet, data: TrainData, config: TrainConfig, progress: bool = False) -> TrainResult:
    """Train ``model`` in place on ``data`` for ``config.epochs`` epochs of Poisson-sampled steps.

    DP-SGD wraps only the trainable part (top layers + head, fed the frozen trunk's output): per-sample
    gradients exist only there, and the trunk is a fixed per-record function, so the guarantee is the
    same as for the whole network.
    """
    quiet_known_warnings()
    n = len(data)
    sample_rate = min(1.0, config.batch_size / n)
    steps_per_epoch = max(1, round(1.0 / sample_rate))
    total_steps = steps_per_epoch * config.epochs
    generator = torch.Generator().manual_seed(config.seed)
    sampler = UniformWithReplacementSampler(num_samples=n, sample_rate=sample_rate, generator=generator, steps=steps_per_epoch)

    start = time.perf_counter()
    if config.cache_features:
        data.cache_features(model, progress=progress)
    trainable = FeatureHead(model)
    params = _trainable(trainable)
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    engine: PrivateTraining | None = None
    delta: float | None = None
    sigma = 0.0
    if config.private:
        delta = check_privacy_target(config.epsilon, config.delta, n, config.accountant)
        sigma = calibrate_noise(config.epsilon, delta, sample_rate, total_steps, config.accountant)
        engine = PrivateTraining(trainable, optimizer, sigma, config.max_grad_norm, round(n * sample_rate), sample_rate, config.accountant)
        net, opt = engine.module, engine.optimizer
    else:
        net, opt = trainable, optimizer

    history: list[dict] = []
    model.train()
    with progress_bar("training" + (f" (DP, ε={config.epsilon:g})" if config.private else " (non-private)"), total_steps, progress) as bar:
        for epoch in range(config.epochs):
            losses, seen = [], 0
            for batch in sampler:
                idx = np.asarray(batch, dtype=np.int64)
                if len(idx) == 0:
                    if engine is not None:
                        engine.empty_step()
                    bar.advance()
                    continue
                hidden, att, y, m = data.batch(idx, model)
                before = [p.detach().clone() for p in params] if config.debug_checks else None
                loss = masked_bce(net(hidden, att), y, m).mean()
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                if before is not None:
                    check_step(params, before)
                losses.append(float(loss.detach()))
                seen += len(idx)
                bar.advance()
                bar.update(status=f"epoch {epoch + 1}/{config.epochs} loss {np.mean(losses[-20:]):.4f}")
            entry = {"epoch": epoch + 1, "mean_loss": float(np.mean(losses)) if losses else float("nan"), "records_seen": seen}
            if engine is not None:
                entry["epsilon"] = engine.epsilon(delta)
            history.append(entry)
    wall = time.perf_counter() - start
    model.eval()
    data.features = None  # free the cache

    if engine is not None:
        # Recompute from the composed history rather than trusting the running estimate: this is the
        # number that goes into privacy.json and the ledger.
        eps = spent_epsilon(sigma, sample_rate, total_steps, delta, config.accountant)
        report = PrivacyReport(
            epsilon=eps,
            delta=delta,
            accountant=config.accountant,
            target_epsilon=config.epsilon,
            noise_multiplier=sigma,
            max_grad_norm=config.max_grad_norm,
            sample_rate=sample_rate,
            steps=total_steps,
            epochs=config.epochs,
            n_train_records=n,
            expected_batch_size=n * sample_rate,
            epsilon_per_epoch=[h["epsilon"] for h in history],
            note="DP-SGD (Poisson sampling, per-sample clipping, Gaussian noise) over the training records; "
            "decision thresholds chosen on the held-out validation records are not covered by this guarantee.",
        )
    else:
        report = PrivacyReport(
            epsilon=math.inf,
            delta=None,
            accountant=None,
            target_epsilon=math.inf,
            noise_multiplier=0.0,
            max_grad_norm=None,
            sample_rate=sample_rate,
            steps=total_steps,
            epochs=config.epochs,
            n_train_records=n,
            expected_batch_size=n * sample_rate,
            note="not private: trained without clipping or noise (epsilon = inf)",
        )
    return TrainResult(privacy=report, history=history, wall_seconds=wall)


def check_step(params: list[torch.nn.Parameter], before: list[torch.Tensor]) -> None:
    """Debug check after an optimiser step: trainable weights changed and are finite.

    Guards against a known silent failure where per-sample-gradient hooks and adapter layers disagree and
    the adapters stop updating or fill with NaN.
    """
    changed = False
    for p, b in zip(params, before):
        if not torch.isfinite(p).all():
            raise FloatingPointError("a trainable weight became non-finite after an optimiser step")
        changed = changed or not torch.equal(p.detach(), b)
    if not changed:
        raise RuntimeError("no trainable weight changed in an optimiser step")
