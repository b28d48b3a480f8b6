"""Bias mitigation that keeps the privacy guarantee: group weights, GroupDRO, per-group thresholds and
worst-group model selection.

How each stays compatible with DP-SGD (the training loop applies them):

* **Group sizes.** Balanced weights need each group's size, which is a fact about private records. In a
  private run the sizes are released once with the Laplace mechanism (a record is in one group, so the
  histogram has L1 sensitivity 1 under add/remove-one) at ``group_count_epsilon``, and everything after
  is computed from the noisy sizes. The run's ε is the training ε plus that (basic composition).
* **Reweighting.** Weights multiply the *clipped* per-record gradients and never exceed 1, so a record
  still moves the summed gradient by at most the clipping bound C: same sensitivity, same noise, same
  accountant. (Weights on the loss before clipping would be undone by clipping.) The price: upweighting
  a small group means downweighting the large ones, so the signal shrinks against the fixed noise.
* **GroupDRO** (Sagawa et al., 2020) moves weight towards the groups with the highest loss. Group losses
  are private too: each step releases the batch's per-group loss sums (each record's loss clipped to
  ``[0, loss_bound]``) with Gaussian noise. That release and the gradient release share the step's
  Poisson batch; a record's joint contribution, measured in units of each release's noise, has squared
  norm ≤ 1/σ_grad² + 1/σ_loss², so the pair is one subsampled Gaussian mechanism with
  1/σ² = 1/σ_grad² + 1/σ_loss² and the usual accountant applies to σ. The weights used at a step come
  from earlier steps' releases only.
* **Thresholds per group** and **worst-group selection** (:func:`radtrust.stats.worst_group_auroc`) use the validation split, which, as for every
  decision threshold, lies outside the DP-SGD guarantee (it is not trained on); say so in the report.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from radtrust.errors import InputError


# ---- group sizes and weights -------------------------------------------------------------------
def release_group_counts(codes: np.ndarray, n_groups: int, epsilon: float | None, rng: np.random.Generator) -> np.ndarray:
    """Group sizes: exact when ``epsilon`` is None (non-private run), else Laplace(1/ε) noised and
    floored at 1 (post-processing, free)."""
    counts = np.bincount(codes, minlength=n_groups).astype(float)
    if epsilon is None:
        return counts
    return np.maximum(counts + rng.laplace(0.0, 1.0 / epsilon, size=n_groups), 1.0)


def balanced_group_weights(counts: np.ndarray, power: float = 1.0) -> np.ndarray:
    """Per-group weight ∝ (1/size)^power, scaled so the largest weight is 1.

    power = 1 gives every group the same total weight; 0.5 is a gentler square-root correction.
    """
    raw = np.power(1.0 / np.maximum(counts, 1.0), power)
    return raw / raw.max()


@dataclass
class GroupDRO:
    """Online GroupDRO weights q over groups, updated by exponentiated gradient on group losses.

    ``update`` takes per-group loss *sums* of one batch (noisy in a private run) and the expected number
    of the group's records in a batch; ``group_weights`` turns q into weights in [0, 1] per group
    (∝ q_g / share_g, largest = 1), so the weighted loss estimates Σ_g q_g · loss_g.
    """

    shares: np.ndarray  # group share of the training records (from released counts)
    step_size: float = 0.05
    q: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.shares = np.asarray(self.shares, dtype=float) / np.sum(self.shares)
        self.q = np.full(len(self.shares), 1.0 / len(self.shares))

    def update(self, loss_sums: np.ndarray, expected_counts: np.ndarray) -> None:
        mean_loss = np.asarray(loss_sums, dtype=float) / np.maximum(expected_counts, 1e-9)
        logq = np.log(self.q) + self.step_size * np.clip(mean_loss, -10.0, 10.0)
        logq -= logq.max()
        q = np.exp(logq)
        self.q = q / q.sum()

    def group_weights(self) -> np.ndarray:
        raw = self.q / np.maximum(self.shares, 1e-12)
        return raw / raw.max()


def split_noise_for_group_losses(sigma: float, loss_share: float) -> tuple[float, float]:
    """(σ_grad, σ_loss) with 1/σ_grad² + 1/σ_loss² = 1/σ²: the loss release takes ``loss_share`` of the
    step's privacy, the gradient the rest."""
    if not 0 < loss_share < 1:
        raise ValueError("loss_share must be in (0, 1)")
    return sigma / math.sqrt(1.0 - loss_share), sigma / math.sqrt(loss_share)


# ---- per-group thresholds (fairlearn) ----------------------------------------------------------
class _ScoreAsEstimator(ClassifierMixin, BaseEstimator):
    """A fitted 'estimator' whose probability is its single input column: lets fairlearn's
    ThresholdOptimizer post-process scores that were computed elsewhere (our network)."""

    def fit(self, X, y=None):  # pragma: no cover - never refitted (prefit=True)
        return self

    def predict_proba(self, X):
        s = np.asarray(X, dtype=float).reshape(len(X), -1)[:, 0]
        return np.column_stack([1.0 - s, s])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def __sklearn_is_fitted__(self) -> bool:
        return True


POSTPROCESS_CONSTRAINTS = ("equalized_odds", "true_positive_rate_parity")


@dataclass
class GroupThresholds:
    """Per-finding, per-group (randomised) decision rules fitted by fairlearn's ThresholdOptimizer.

    Stored as JSON (thresholds and mixing probabilities, fairlearn's own representation) rather than a
    pickled estimator. Findings without enough validation positives in every group keep the model's single
    threshold; a group not seen at fitting time falls back to it too.
    """

    attribute: str
    constraint: str
    objective: str
    rules: dict[str, dict[str, dict]] = field(default_factory=dict)  # finding -> group -> interpolation
    skipped: dict[str, str] = field(default_factory=dict)  # finding -> why
    seed: int = 0

    @classmethod
    def fit(
        cls,
        probs: np.ndarray,
        targets: np.ndarray,
        mask: np.ndarray,
        groups: np.ndarray,
        findings: Sequence[str],
        attribute: str,
        constraint: str = "equalized_odds",
        objective: str = "balanced_accuracy_score",
        min_positives: int = 5,
        seed: int = 0,
        only: Sequence[str] | None = None,
    ) -> GroupThresholds:
        """Fit per-group rules for each finding (or only those in ``only``; the rest keep the model's
        single threshold). fairlearn's objectives are accuracy-type, not F1, so restricting the rules to
        the findings with a disparity avoids moving thresholds that were fine."""
        from fairlearn.postprocessing import ThresholdOptimizer

        if constraint not in POSTPROCESS_CONSTRAINTS:
            raise InputError(f"postprocess constraint must be one of {', '.join(POSTPROCESS_CONSTRAINTS)}, not '{constraint}'")
        out = cls(attribute, constraint, objective, seed=seed)
        groups = np.asarray(groups, dtype=str)
        for j, f in enumerate(findings):
            if only is not None and f not in only:
                continue
            keep = mask[:, j] > 0
            y, s, g = targets[keep, j].astype(int), probs[keep, j], groups[keep]
            thin = [str(v) for v in np.unique(g) if y[g == v].sum() < min_positives or (y[g == v] == 0).sum() < min_positives]
            if thin:
                out.skipped[f] = f"fewer than {min_positives} validation positives or negatives in group(s) {', '.join(thin[:4])}"
                continue
            opt = ThresholdOptimizer(estimator=_ScoreAsEstimator(), constraints=constraint, objective=objective, prefit=True, predict_method="predict_proba")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                opt.fit(s.reshape(-1, 1), y, sensitive_features=g)
            out.rules[f] = {str(k): _interp_to_dict(v) for k, v in opt.interpolated_thresholder_.interpolation_dict.items()}
        return out

    def positive_probability(self, finding: str, scores: np.ndarray, groups: np.ndarray, fallback_threshold: float) -> np.ndarray:
        """P(decision = 1) per case under the fitted rule of its group (fairlearn's interpolation)."""
        scores = np.asarray(scores, dtype=float)
        out = (scores >= fallback_threshold).astype(float)
        rules = self.rules.get(finding)
        if not rules:
            return out
        groups = np.asarray(groups, dtype=str)
        for g, r in rules.items():
            rows = groups == g
            if not rows.any():
                continue
            s = scores[rows]
            p = r["p0"] * _apply_op(r["operation0"], s) + r["p1"] * _apply_op(r["operation1"], s)
            if "p_ignore" in r:
                p = r["p_ignore"] * r["prediction_constant"] + (1.0 - r["p_ignore"]) * p
            out[rows] = p
        return out

    def predict(self, findings: Sequence[str], probs: np.ndarray, groups: np.ndarray, thresholds: dict[str, float], case_keys: Sequence[str] | None = None) -> np.ndarray:
        """0/1 decisions. Randomised rules draw with a generator seeded per case (from ``case_keys``), so a
        case gets the same decision every time it is scored, whatever else is in the batch."""
        out = np.zeros(probs.shape, dtype=np.int8)
        u = _case_uniforms(case_keys, len(probs), self.seed) if case_keys is not None else np.random.default_rng(self.seed).random(len(probs))
        for j, f in enumerate(findings):
            p = self.positive_probability(f, probs[:, j], groups, thresholds[f])
            out[:, j] = (u < p).astype(np.int8)
        return out

    def to_dict(self) -> dict:
        return {"attribute": self.attribute, "constraint": self.constraint, "objective": self.objective, "seed": self.seed, "rules": self.rules, "skipped": self.skipped}

    @classmethod
    def from_dict(cls, d: dict) -> GroupThresholds:
        return cls(d["attribute"], d["constraint"], d["objective"], d.get("rules", {}), d.get("skipped", {}), d.get("seed", 0))


def _threshold_json(t: float) -> float | str:
    """±inf (fairlearn's 'always'/'never' rules) as strings: JSON has no infinity."""
    t = float(t)
    return t if math.isfinite(t) else ("inf" if t > 0 else "-inf")


def _interp_to_dict(b) -> dict:
    d = {
        "p0": float(b.p0),
        "operation0": [b.operation0.operator, _threshold_json(b.operation0.threshold)],
        "p1": float(b.p1),
        "operation1": [b.operation1.operator, _threshold_json(b.operation1.threshold)],
    }
    if "p_ignore" in b:
        d["p_ignore"] = float(b.p_ignore)
        d["prediction_constant"] = float(b.prediction_constant)
    return d


def _apply_op(op: Sequence, s: np.ndarray) -> np.ndarray:
    operator, threshold = op[0], float(op[1])
    return (s > threshold).astype(float) if operator == ">" else (s < threshold).astype(float)


def _case_uniforms(keys: Sequence[str], n: int, seed: int) -> np.ndarray:
    out = np.empty(n)
    for i, k in enumerate(keys):
        h = hashlib.blake2b(f"{seed}:{k}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(h, "little") / 2**64
    return out
