"""The one training loop, for private and non-private runs alike.

Batches are Poisson-sampled in both cases (each record joins each step independently with probability
q = batch_size / N), so a private run and its ε = inf twin see the same batch-size distribution and the
same number of steps; the only fork is whether :class:`~radtrust.privacy.engine.PrivateTraining` wraps
the model and optimizer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from opacus.utils.uniform_sampler import UniformWithReplacementSampler

from radtrust._warnings import quiet_known_warnings
from radtrust.errors import InputError, PrivacyError
from radtrust.models.text import ReportNet, pad_batch, pad_features
from radtrust.privacy.accountant import calibrate_noise, check_privacy_target, spent_epsilon
from radtrust.privacy.engine import PrivacyReport, PrivateTraining
from radtrust.progress import progress_bar
from radtrust.train.checkpoint import Checkpointer
from radtrust.train.config import LoopConfig
from radtrust.train.mitigation import GroupDRO, balanced_group_weights, release_group_counts, split_noise_for_group_losses
from radtrust.train.optimizers import AdamBC, dp_noise_variance


@dataclass
class TrainData:
    """Tokenised training records with their targets and loss mask (1 = this cell counts in the loss).

    What the loop asks of its data (the image records in :mod:`radtrust.train.images` answer the same):
    ``lengths()`` to sort micro-batches, ``prepare()`` to run the frozen layers once, ``batch()`` for the
    trainable part's inputs with targets and mask, ``release()`` to drop caches, and optionally ``units``
    (the privacy unit of each record, for patient-level DP) and ``groups`` (for mitigation).
    """

    token_ids: list[list[int]]
    targets: np.ndarray  # (n, k) float 0/1
    loss_mask: np.ndarray  # (n, k) float 0/1
    pad_id: int
    features: list[torch.Tensor] | None = None  # frozen-trunk output per record, when cached
    groups: np.ndarray | None = None  # (n,) int group code per record, for mitigation
    n_groups: int = 0
    units: np.ndarray | None = None  # (n,) int privacy-unit code per record (the patient), for patient-level DP
    record_name: str = "report"

    def __len__(self) -> int:
        return len(self.token_ids)

    def lengths(self) -> np.ndarray:
        return np.array([len(x) for x in self.token_ids], dtype=np.int64)

    def prepare(self, model: ReportNet, config: LoopConfig, progress: bool = False) -> None:
        if self.features is None and (config.cache_features or model.pools_in_trunk):
            self.cache_features(model, progress=progress)

    def physical_batch_size(self, model: ReportNet, config: LoopConfig) -> int:
        # Pooled cached features are tiny: the whole logical batch goes through at once.
        return len(self) if model.pools_in_trunk else config.physical_batch_size

    def release(self) -> None:
        self.features = None

    def cache_features(self, net: ReportNet, batch_size: int = 64, progress: bool = False) -> None:
        """Run the frozen trunk once per record (length-sorted batches) and keep the unpadded output."""
        order = np.argsort([len(x) for x in self.token_ids], kind="stable")
        feats: list[torch.Tensor | None] = [None] * len(self)
        with torch.inference_mode(), progress_bar("encoding (frozen layers)", len(self), progress) as bar:
            for s in range(0, len(order), batch_size):
                chunk = order[s : s + batch_size]
                ids, att = pad_batch([self.token_ids[i] for i in chunk], self.pad_id)
                hidden, kept = net.features(ids, att), net.feature_mask(att).sum(1).tolist()
                for row, i in enumerate(chunk):
                    feats[i] = hidden[row, : kept[row]].clone()
                bar.advance(len(chunk))
        self.features = feats  # type: ignore[assignment]

    def batch(self, idx: np.ndarray, net: ReportNet, training: bool = True) -> tuple[tuple[torch.Tensor, ...], torch.Tensor, torch.Tensor]:
        """(inputs of the trainable part, targets, loss mask) for records ``idx``."""
        if self.features is not None:
            hidden, att = pad_features([self.features[i] for i in idx])
        else:
            ids, att = pad_batch([self.token_ids[i] for i in idx], self.pad_id)
            hidden, att = net.features(ids, att), net.feature_mask(att)
        return (hidden, att), torch.from_numpy(self.targets[idx]).float(), torch.from_numpy(self.loss_mask[idx]).float()


@dataclass
class TrainResult:
    privacy: PrivacyReport
    history: list[dict] = field(default_factory=list)
    wall_seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # encode_frozen_s, calibrate_noise_s, steps_s

    @property
    def samples_per_second(self) -> float:
        """Training records processed per second of encoding + optimiser steps (noise calibration, a
        fixed accountant computation independent of the data, excluded)."""
        seen = sum(h.get("records_seen", 0) for h in self.history)
        busy = self.timings.get("encode_frozen_s", 0.0) + self.timings.get("steps_s", 0.0)
        return seen / busy if busy > 0 else float("nan")


def masked_bce(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-record loss: mean binary cross-entropy over the findings whose label counts (mask = 1).

    Targets may be soft (in [0, 1]), e.g. the posterior that a finding is present after a label audit.
    """
    cell = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none") * mask
    return cell.sum(1) / mask.sum(1).clamp(min=1.0)


def masked_gce(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, q: float) -> torch.Tensor:
    """Per-record loss: mean generalized cross-entropy (Zhang & Sabuncu, NeurIPS 2018) over masked cells.

    Per cell, with p = sigmoid(z): t·(1 - p^q)/q + (1 - t)·(1 - (1 - p)^q)/q. Its gradient in z is the
    BCE gradient times p^q (or (1 - p)^q), so a cell the model confidently contradicts, often a wrong
    label, pulls far less than under BCE; q -> 0 recovers BCE, q = 1 the mean absolute error. p^q is
    computed as exp(q·logsigmoid(z)) and 1 - exp(x) as -expm1(x), which stay finite and accurate for
    large |z| and small q.
    """
    pos = -torch.expm1(q * torch.nn.functional.logsigmoid(logits)) / q
    neg = -torch.expm1(q * torch.nn.functional.logsigmoid(-logits)) / q
    cell = (targets * pos + (1.0 - targets) * neg) * mask
    return cell.sum(1) / mask.sum(1).clamp(min=1.0)


def record_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, config: LoopConfig) -> torch.Tensor:
    """Per-record training loss chosen by ``config.robust_loss``: one call site for every run.

    Both losses are per-record (mean over the record's masked cells), so DP-SGD's per-sample clipping,
    group weights and GroupDRO's per-record losses treat them alike.
    """
    if config.robust_loss == "gce":
        return masked_gce(logits, targets, mask, config.gce_q)
    return masked_bce(logits, targets, mask)


def _trainable(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def micro_batches(idx: np.ndarray, lengths: np.ndarray, physical_batch_size: int, units: np.ndarray | None = None) -> list[np.ndarray]:
    """Split one logical (Poisson) batch into length-sorted physical micro-batches.

    The logical batch is what the sampler drew and what DP-SGD accounts for; micro-batches only bound
    memory and padding: each is padded to its own longest report, so a batch of mostly short reports
    with one long one no longer pays the long one's length for every row.

    With ``units`` (patient-level DP) a patient's records stay in one micro-batch, in the order drawn:
    her gradients are summed and clipped together, which needs them in the same backward pass.
    """
    if units is not None:
        out: list[np.ndarray] = []
        cur: list[int] = []
        for u in dict.fromkeys(units[idx].tolist()):
            rows = idx[units[idx] == u].tolist()
            if cur and len(cur) + len(rows) > physical_batch_size:
                out.append(np.asarray(cur, dtype=np.int64))
                cur = []
            cur.extend(rows)
        if cur:
            out.append(np.asarray(cur, dtype=np.int64))
        return out
    order = idx[np.argsort(lengths[idx], kind="stable")]
    return [order[s : s + physical_batch_size] for s in range(0, len(order), physical_batch_size)]


class _UnitSampler:
    """Poisson sampling of privacy units (patients): each unit joins a step with probability q, bringing
    all her records. Opacus's sampler draws the units; this maps them back to record positions."""

    def __init__(self, sampler: UniformWithReplacementSampler, members: list[np.ndarray]) -> None:
        self.sampler, self.members = sampler, members

    def __iter__(self):
        for units in self.sampler:
            yield np.concatenate([self.members[u] for u in units]) if len(units) else np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.sampler)


@dataclass
class _State:
    """What a checkpoint must restore for a resumed run to continue bit for bit."""

    epoch: int = 0
    history: list[dict] = field(default_factory=list)
    wall_seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class NoisePlan:
    """The Poisson sampling and noise a run will use, fixed by N and the settings alone (no record's
    content): computed before the ledger is charged, so an ε that cannot be reached fails first."""

    sample_rate: float
    steps_per_epoch: int
    total_steps: int
    delta: float | None
    sigma: float  # 0 for a non-private run


def plan_noise(n_train: int, config: LoopConfig, n_records: int | None = None) -> NoisePlan:
    """Sampling rate q = batch_size / ``n_train``, the steps, δ (default 1/(10·``n_records``)) and the noise
    multiplier σ that reaches ``config.epsilon`` (cached: the second call in a run is free)."""
    if n_train < 1:
        raise InputError("no training records left after the validation split")
    sample_rate = min(1.0, config.batch_size / n_train)
    steps_per_epoch = max(1, round(1.0 / sample_rate))
    total_steps = steps_per_epoch * config.epochs
    if not config.private:
        return NoisePlan(sample_rate, steps_per_epoch, total_steps, None, 0.0)
    delta = check_privacy_target(config.epsilon, config.delta, n_records or n_train, config.accountant)
    if config.epsilon <= config.group_count_spend:
        raise PrivacyError(f"ε = {config.epsilon:g} leaves nothing for training after the group counts' share ({config.group_count_spend:g})")
    sigma = calibrate_noise(config.epsilon - config.group_count_spend, delta, sample_rate, total_steps, config.accountant)
    return NoisePlan(sample_rate, steps_per_epoch, total_steps, delta, sigma)


def train_model(
    model: ReportNet,
    data: TrainData,
    config: LoopConfig,
    progress: bool = False,
    checkpoint: Checkpointer | None = None,
    n_records: int | None = None,
    on_epoch_end: Callable[[int], dict | None] | None = None,
    on_first_step: Callable[[], None] | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``data`` for ``config.epochs`` epochs of Poisson-sampled steps.

    DP-SGD wraps only the trainable part (top layers + head, fed the frozen part's output): per-sample
    gradients exist only there, and the frozen part is a fixed per-record function of public weights,
    so the guarantee is the same as for the whole network.

    Each logical step draws a Poisson batch (sampling rate q = batch_size / N), splits it into
    length-sorted micro-batches of at most ``physical_batch_size`` reports, accumulates their clipped
    per-sample gradients, and takes ONE noisy optimiser step: gradient accumulation that leaves q, and so
    the accounting, exactly as if the whole batch had been processed at once.

    With ``checkpoint``, the state after every epoch (weights, optimiser, accountant history, both random
    generators) is saved, and a saved state is resumed from: the final weights and ε equal those of an
    uninterrupted run. ``n_records`` (default ``len(data)``) sets the default δ = 1/(10·N).

    ``config.mitigation`` reweights records by group (``data.groups``): see
    :mod:`radtrust.train.mitigation` for how the weights, the group sizes and GroupDRO's group losses
    are kept inside the privacy guarantee. ``on_epoch_end(epoch)`` may return entries for the history.
    ``on_first_step()`` is called once, just before the first record is read for a training step: until
    then nothing has been computed from the records (see :meth:`PrivacyLedger.void`).
    """
    quiet_known_warnings()
    n = len(data)
    t_cal = time.perf_counter()
    plan = plan_noise(n, config, n_records)
    calibrate_s = time.perf_counter() - t_cal
    sample_rate, steps_per_epoch, total_steps = plan.sample_rate, plan.steps_per_epoch, plan.total_steps
    generator = torch.Generator().manual_seed(config.seed)
    units = data.units if config.privacy_unit == "patient" else None
    if config.privacy_unit == "patient" and units is None:
        raise ValueError("privacy_unit 'patient' needs each record's patient (TrainData.units)")
    n_units = int(units.max()) + 1 if units is not None else n
    # Sampling units at rate q = batch_size / N keeps the expected records per step at batch_size.
    sampler = UniformWithReplacementSampler(num_samples=n_units, sample_rate=sample_rate, generator=generator, steps=steps_per_epoch)
    if units is not None:
        sampler = _UnitSampler(sampler, [np.flatnonzero(units == u) for u in range(n_units)])
    lengths = data.lengths()

    start = time.perf_counter()
    timings = {"encode_frozen_s": 0.0, "calibrate_noise_s": 0.0, "steps_s": 0.0}
    data.prepare(model, config, progress)
    timings["encode_frozen_s"] = time.perf_counter() - start
    physical = data.physical_batch_size(model, config)
    trainable = model.trainable_part()
    params = _trainable(trainable)
    head_params = [p for p in model.head.parameters() if p.requires_grad]
    head_ids = {id(p) for p in head_params}
    groups = [{"params": head_params, "lr": config.learning_rate}]
    encoder_params = [p for p in params if id(p) not in head_ids]
    if encoder_params:
        groups.append({"params": encoder_params, "lr": config.encoder_learning_rate or config.learning_rate})
    if config.optimizer == "sgd":
        optimizer: torch.optim.Optimizer = torch.optim.SGD(groups, lr=config.learning_rate, momentum=0.9, weight_decay=config.weight_decay)
    elif config.optimizer == "adam_bc":
        optimizer = AdamBC(groups, lr=config.learning_rate, weight_decay=config.weight_decay, gamma=config.adam_bc_gamma)
    else:
        optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, weight_decay=config.weight_decay)
    engine: PrivateTraining | None = None
    delta: float | None = None
    sigma = sigma_grad = sigma_loss = 0.0
    weighting = _GroupWeighting.build(data, config, sample_rate) if config.mitigation != "none" else None
    dro = weighting.dro if weighting is not None else None
    if config.private:
        delta, sigma = plan.delta, plan.sigma
        timings["calibrate_noise_s"] = calibrate_s
        sigma_grad = sigma
        if config.mitigation == "group_dro":
            sigma_grad, sigma_loss = split_noise_for_group_losses(sigma, config.group_loss_share)
        engine = PrivateTraining(trainable, optimizer, sigma_grad, config.max_grad_norm, round(n * sample_rate), sample_rate, config.accountant, accounted_noise_multiplier=sigma)
        net, opt = engine.module, engine.optimizer
        if isinstance(optimizer, AdamBC):  # the noise in each released coordinate, public before training
            optimizer.noise_variance = dp_noise_variance(sigma_grad, config.max_grad_norm, round(n * sample_rate))
    else:
        net, opt = trainable, optimizer  # type: ignore[assignment]  # the plain optimizer: WeightedDPOptimizer's interface is Optimizer's

    state = _State()
    if checkpoint is not None and checkpoint.exists():
        saved = checkpoint.load(trainable, optimizer, generator, engine)
        state = _State(epoch=saved["epoch"], history=saved["history"], wall_seconds=saved["wall_seconds"], timings={"steps_s": saved.get("steps_seconds", 0.0)})
        start -= state.wall_seconds
        if dro is not None and state.history and "group_dro_q" in state.history[-1]:
            dro.q = np.asarray(state.history[-1]["group_dro_q"], dtype=float)

    if on_first_step is not None:
        on_first_step()
    model.train()
    t_steps = time.perf_counter()
    label = "training" + (f" (DP, ε={config.epsilon:g})" if config.private else " (non-private)")
    with progress_bar(label, total_steps, progress) as bar:
        bar.advance(state.epoch * steps_per_epoch)
        for epoch in range(state.epoch, config.epochs):
            losses: list[float] = []
            seen = 0
            for batch in sampler:
                idx = np.asarray(batch, dtype=np.int64)
                if len(idx) == 0:
                    if engine is not None:
                        engine.empty_step()
                    bar.advance()
                    continue
                before = [p.detach().clone() for p in params] if config.debug_checks else None
                chunks = micro_batches(idx, lengths, physical, units)
                total = 0.0
                step_losses = []
                for c, chunk in enumerate(chunks):
                    inputs, y, m = data.batch(chunk, model, training=True)
                    per_record = record_loss(net(*inputs), y, m, config)
                    if engine is not None:
                        # Opacus undoes the mean per sample; clipping is per record (or per patient), noise
                        # once per step. Group weights (<= 1) multiply the clipped gradients.
                        opt.sample_weights = weighting.private_weights(chunk) if weighting is not None else None
                        opt.sample_units = torch.from_numpy(np.unique(units[chunk], return_inverse=True)[1]) if units is not None else None
                        per_record.mean().backward()
                        if c < len(chunks) - 1:
                            opt.signal_skip_step(do_skip=True)
                            opt.step()
                            opt.zero_grad(set_to_none=True)
                    else:
                        w = weighting.plain_weights(chunk) if weighting is not None else None
                        ((per_record * w if w is not None else per_record).sum() / len(idx)).backward()
                    total += float(per_record.detach().sum())
                    if dro is not None:
                        step_losses.append(per_record.detach())
                opt.step()
                opt.zero_grad(set_to_none=True)
                if dro is not None:
                    # Chunks come in length order; losses are matched back to their records' groups.
                    order = np.concatenate(chunks)
                    step_seed = (config.seed, epoch * steps_per_epoch + len(losses))
                    assert weighting is not None  # dro is weighting.dro
                    weighting.update_dro(order, torch.cat(step_losses).numpy(), sigma_loss if engine is not None else None, config.group_loss_bound, step_seed)
                if before is not None:
                    check_step(params, before)
                losses.append(total / len(idx))
                seen += len(idx)
                bar.advance()
                bar.update(status=f"epoch {epoch + 1}/{config.epochs} loss {np.mean(losses[-20:]):.4f}")
            entry: dict[str, Any] = {"epoch": epoch + 1, "mean_loss": float(np.mean(losses)) if losses else float("nan"), "records_seen": seen}
            if engine is not None:
                assert delta is not None  # a private run has δ
                entry["epsilon"] = engine.epsilon(delta) + config.group_count_spend
            if dro is not None:
                entry["group_dro_q"] = [float(x) for x in dro.q]
            if on_epoch_end is not None:
                entry.update(on_epoch_end(epoch + 1) or {})
            state.history.append(entry)
            state.epoch = epoch + 1
            if checkpoint is not None and state.epoch < config.epochs:
                checkpoint.save(
                    state.epoch, state.history, time.perf_counter() - start, trainable, optimizer, generator, engine, steps_seconds=time.perf_counter() - t_steps + state.timings.get("steps_s", 0.0)
                )
    history = state.history
    timings["steps_s"] = time.perf_counter() - t_steps + state.timings.get("steps_s", 0.0)
    wall = time.perf_counter() - start
    model.eval()
    data.release()  # free the cache

    unit = f"record (one {data.record_name})" if units is None else f"patient (all of a patient's {data.record_name}s; {n_units} patients)"
    if engine is not None:
        # Recompute from the composed history rather than trusting the running estimate: this is the
        # number that goes into privacy.json and the ledger.
        assert delta is not None  # a private run has δ
        eps_sgd = spent_epsilon(sigma, sample_rate, total_steps, delta, config.accountant)
        eps = eps_sgd + config.group_count_spend
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
            unit=unit,
            epsilon_per_epoch=[h["epsilon"] for h in history],
            note="DP-SGD (Poisson sampling, per-sample clipping, Gaussian noise) over the training records; "
            "decision thresholds chosen on the held-out validation records are not covered by this guarantee.",
            components=_privacy_components(config, eps_sgd, delta, sigma, sigma_grad, sigma_loss, weighting),
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
            unit=unit,
            note="not private: trained without clipping or noise (epsilon = inf)",
        )
    return TrainResult(privacy=report, history=history, wall_seconds=wall, timings=timings)


def _privacy_components(config: LoopConfig, eps_sgd: float, delta: float | None, sigma: float, sigma_grad: float, sigma_loss: float, weighting: _GroupWeighting | None) -> list[dict]:
    """What each mechanism of the run spent; the run's ε is their sum (basic composition)."""
    sgd: dict[str, Any] = {"mechanism": "DP-SGD, subsampled Gaussian", "epsilon": eps_sgd, "delta": delta, "accountant": config.accountant, "noise_multiplier": sigma}
    if weighting is None:
        return [sgd]
    sgd["mechanism"] += f" with {config.mitigation} weights (<= 1, on clipped gradients)"
    if config.mitigation == "group_dro":
        sgd["mechanism"] += f"; per-step group-loss release (losses clipped to [0, {config.group_loss_bound:g}]) folded into the same Gaussian"
        sgd["noise_multiplier_gradient"] = sigma_grad
        sgd["noise_multiplier_group_losses"] = sigma_loss
    counts = {"mechanism": "Laplace group sizes (L1 sensitivity 1)", "epsilon": config.group_count_spend, "delta": 0.0, "accountant": "pure ε"}
    return [sgd, counts]


@dataclass
class _GroupWeighting:
    """Per-record weights for group mitigation, computed from (noisily) released group sizes."""

    codes: np.ndarray
    counts: np.ndarray
    group_weights: np.ndarray
    sample_rate: float
    dro: GroupDRO | None = None

    @classmethod
    def build(cls, data: TrainData, config: LoopConfig, sample_rate: float) -> _GroupWeighting:
        if data.groups is None:
            raise ValueError("mitigation needs the records' groups (TrainData.groups)")
        rng = np.random.default_rng([config.seed, 7919])
        counts = release_group_counts(data.groups, data.n_groups, config.group_count_spend or None, rng)
        dro = GroupDRO(counts, config.group_dro_step_size) if config.mitigation == "group_dro" else None
        gw = dro.group_weights() if dro is not None else balanced_group_weights(counts, config.reweight_power)
        return cls(data.groups, counts, gw, sample_rate, dro)

    def private_weights(self, idx: np.ndarray) -> torch.Tensor:
        """Weights in [0, 1] (largest group weight = 1): the clipping bound still bounds each record."""
        return torch.from_numpy(self.group_weights[self.codes[idx]]).float()

    def plain_weights(self, idx: np.ndarray) -> torch.Tensor:
        """Non-private runs: the same relative weights, rescaled to average 1 over the training records."""
        mean = float((self.group_weights * self.counts).sum() / self.counts.sum())
        return torch.from_numpy(self.group_weights[self.codes[idx]] / mean).float()

    def update_dro(self, idx: np.ndarray, losses: np.ndarray, sigma_loss: float | None, bound: float, step_seed: tuple) -> None:
        """Release this batch's group loss sums (noised when private) and update q for the next steps."""
        assert self.dro is not None
        g = len(self.counts)
        sums: np.ndarray = np.bincount(self.codes[idx], weights=np.clip(losses, 0.0, bound), minlength=g)
        if sigma_loss is not None:
            sums = sums + np.random.default_rng(list(step_seed) + [104729]).normal(0.0, sigma_loss * bound, size=g)
        self.dro.update(sums, self.sample_rate * self.counts)
        self.group_weights = self.dro.group_weights()


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
