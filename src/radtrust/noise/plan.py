"""Annotation plan: which cases the experts review under a fixed budget.

Three parts, in this order:

1. **A random slice** (default 10% of the budget), a simple random sample of the whole cohort drawn before
   anything else, so the noise rate can be estimated without bias from the experts' verdicts
   (``radtrust annotate merge --plan``). Annotators are not told which cases these are.
2. **Per-group quotas**: every group (site, sex, age band, race, or intersections) gets at least
   ``min_per_group`` cases and at least ``proportional_floor`` of its proportional share, its highest-benefit
   cases first, so no group goes unchecked even when the noise concentrates elsewhere.
3. **The rest by expected benefit.** ``expected_errors`` (default) sums ``w`` = P(label wrong) over the
   case's findings (optionally weighted per finding): the expected number of wrong labels one review
   corrects, each a training example turned from misleading to right. ``active_label_cleaning`` sums
   ``w·log(w / (1 − w))`` instead: Bernhardt et al.'s active label cleaning score (Nat. Commun. 2022),
   cross-entropy of the label under the model minus the model's entropy, which is the chance the label is
   wrong times how decisively a correction moves the model (zero for a coin flip, negative for ambiguous
   labels that cost a review and teach little). On the synthetic benchmark it corrected fewer wrong labels
   (47.0% vs 51.4% at a 10% budget in benchmarks/label_noise.py), because ambiguous labels there were often wrong.

The queue CSV holds what an annotator needs and nothing more: case id, report text, the findings in doubt
and the current labels (plus empty ``annotator_id`` / ``reviewed_at`` to fill in). Selection reasons,
scores and inclusion probabilities go to an internal ``<stem>.plan.json`` beside it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from radtrust.data.groups import DEFAULT_AGE_CUTS, available, group_values
from radtrust.data.io import write_json, write_table
from radtrust.data.schema import TEXT_SECTIONS, Cohort, LabelTable
from radtrust.errors import ConfigError, InputError
from radtrust.noise.files import INTERNAL_KEY, INTERNAL_MARKER, INTERNAL_NOTE

__all__ = ["PlanConfig", "AnnotationPlan", "plan_annotation", "case_benefit", "finding_weights"]

QUEUE_TAIL = ("annotator_id", "reviewed_at")


class PlanConfig(BaseModel):
    """Settings of :func:`plan_annotation`."""

    model_config = ConfigDict(extra="forbid")

    budget: int = Field(..., ge=1, description="number of cases the experts will review")
    score: Literal["expected_errors", "active_label_cleaning"] = Field(
        "expected_errors",
        description="expected_errors: expected number of wrong labels a review corrects; active_label_cleaning: Bernhardt et al.'s score "
        "(fixed fewer wrong labels at a 10% budget in benchmarks/label_noise.py: it passes over ambiguous labels, which were often wrong)",
    )
    finding_weights: Literal["equal", "prevalence"] = Field("equal", description="worth of a correct label per finding: equal, or ∝ prevalence")
    random_share: float = Field(0.1, ge=0, le=1, description="share of the budget drawn uniformly at random (for an unbiased noise estimate)")
    groups: list[str] = Field(default_factory=lambda: ["site", "sex", "age_band", "race"])
    age_cuts: list[float] = Field(default_factory=lambda: list(DEFAULT_AGE_CUTS))
    min_per_group: int = Field(10, ge=0, description="every group gets at least this many cases (or all it has)")
    proportional_floor: float = Field(0.25, ge=0, le=1, description="every group gets at least this share of its proportional part of the budget")
    max_quota_share: float = Field(0.5, ge=0, le=1, description="one attribute's quotas take at most this share of the non-random budget")
    doubt_threshold: float = Field(0.2, gt=0, lt=1, description="findings with P(wrong) at least this are listed as 'in doubt'")
    seed: int = 0


def finding_weights(prevalence: np.ndarray, kind: str) -> np.ndarray:
    """How much a correct label of each finding is worth: ``equal``, or ``prevalence`` (proportional to how
    many cases have the finding, as weighted F1 counts it: a finding on more patients affects more future
    decisions). Normalised to mean 1."""
    if kind == "equal":
        return np.ones(len(prevalence))
    if kind == "prevalence":
        p = np.maximum(np.asarray(prevalence, dtype=float), 1e-6)
        return p / p.mean()
    raise ConfigError(f"finding weights must be equal or prevalence, got '{kind}'")


def case_benefit(p_wrong: np.ndarray, score: str, weights: np.ndarray | None = None) -> np.ndarray:
    """Expected benefit of reviewing each case (see module docstring); ``weights`` per finding."""
    w = np.clip(p_wrong, 1e-9, 1 - 1e-9)
    v = np.ones(p_wrong.shape[1]) if weights is None else weights
    if score == "expected_errors":
        return (p_wrong * v).sum(1)
    if score == "active_label_cleaning":
        return (w * np.log(w / (1 - w)) * v).sum(1)
    raise ConfigError(f"score must be active_label_cleaning or expected_errors, got '{score}'")


@dataclass
class AnnotationPlan:
    """The chosen cases in queue order, why each was chosen, and the group quotas."""

    cases: pd.DataFrame  # case_id, selection, inclusion_probability, benefit, expected_wrong_labels, findings_in_doubt, queue_position
    quotas: dict
    summary: dict


def _quotas(values: dict[str, np.ndarray], n_plan: int, cfg: PlanConfig) -> dict[str, dict[str, int]]:
    """Per attribute and group: min(group size, max(min_per_group, ⌈floor × proportional share⌉)), scaled down
    so that one attribute's quotas take at most ``max_quota_share`` of the planned cases."""
    out: dict[str, dict[str, int]] = {}
    for attr, v in values.items():
        levels, counts = np.unique(v.astype(str), return_counts=True)
        n = counts.sum()
        q = np.array([min(c, max(cfg.min_per_group, math.ceil(cfg.proportional_floor * n_plan * c / n))) for c in counts], dtype=float)
        cap = cfg.max_quota_share * n_plan
        if q.sum() > cap:
            q = np.maximum(np.floor(q * cap / q.sum()), min(1, cfg.min_per_group))
        out[attr] = {str(lv): int(x) for lv, x in zip(levels, q)}
    return out


def plan_annotation(cohort: Cohort, p_wrong: np.ndarray, config: PlanConfig, findings: Sequence[str], prevalence: np.ndarray | None = None) -> AnnotationPlan:
    """Choose ``config.budget`` cases of ``cohort`` (rows of ``p_wrong`` in the cohort's order).

    ``prevalence`` per finding (share of cases labelled present) feeds the ``prevalence`` finding weights.
    """
    n = len(cohort)
    if config.budget > n:
        raise ConfigError(f"budget ({config.budget}) is larger than the cohort ({n} cases)")
    rng = np.random.default_rng(config.seed)
    if prevalence is None and config.finding_weights == "prevalence":
        raise ConfigError("prevalence finding weights need the findings' prevalence")
    weights = finding_weights(prevalence if prevalence is not None else np.ones(p_wrong.shape[1]), config.finding_weights)
    benefit = case_benefit(p_wrong, config.score, weights)
    chosen = np.zeros(n, dtype=bool)
    reason = np.full(n, "", dtype=object)

    n_random = int(round(config.random_share * config.budget))
    random_idx = rng.choice(n, size=n_random, replace=False) if n_random else np.array([], dtype=int)
    chosen[random_idx] = True
    reason[random_idx] = "random_slice"

    # Ties (many cases with no doubt at all) are broken at random, not by file order.
    order = np.lexsort((rng.random(n), -benefit))
    n_plan = config.budget - n_random
    # A group whose column the cohort lacks (Open-i has no demographics) gets no quota; the summary says so.
    values = {attr: group_values(cohort.frame, attr, config.age_cuts, cohort.source).astype(str) for attr in config.groups if available(cohort.frame, attr)}
    quotas = _quotas(values, n_plan, config)
    # The benefit ranking fills the budget first; then each group short of its quota (smallest quota first)
    # swaps in its own best cases for the lowest-benefit picks whose removal leaves every other group at or
    # above its quota. "group_quota" therefore marks exactly the cases chosen only because of a quota.
    for i in order:
        if chosen.sum() >= config.budget:
            break
        if not chosen[i]:
            chosen[i] = True
            reason[i] = "score"
    # Each case is in one group per attribute; counts of chosen cases per group are kept up to date, so a
    # swap costs the case's few groups rather than a pass over the cohort per group.
    keys_of = [[(a, str(values[a][i])) for a in values] for i in range(n)]
    counts = Counter(k for i in np.flatnonzero(chosen) for k in keys_of[i])

    def quota(key: tuple[str, str]) -> int:
        return quotas[key[0]][key[1]]

    removable = [i for i in order[::-1] if reason[i] == "score"]  # lowest benefit first
    for key in sorted(((a, lv) for a, qs in quotas.items() for lv in qs), key=quota):
        short = quota(key) - counts[key]
        if short <= 0:
            continue
        for i in order:
            if short <= 0:
                break
            if chosen[i] or key not in keys_of[i]:
                continue
            drop = next(
                (j for j in removable if reason[j] == "score" and key not in keys_of[j] and all(counts[k] > quota(k) for k in keys_of[j])),
                None,
            )
            if drop is None:
                break
            chosen[drop], reason[drop] = False, ""
            counts.subtract(keys_of[drop])
            chosen[i], reason[i] = True, "group_quota"
            counts.update(keys_of[i])
            short -= 1
    sizes = Counter(k for ks in keys_of for k in ks)
    quota_report = {attr: {lv: {"n_cases": sizes[(attr, lv)], "quota": q, "selected": counts[(attr, lv)]} for lv, q in qs.items()} for attr, qs in quotas.items()}
    total_quota = sum(sum(q.values()) for q in quotas.values())

    idx = np.flatnonzero(chosen)
    # Queue order: highest benefit first, with the random slice at random places so it cannot be told apart.
    by_benefit = sorted((int(i) for i in idx if reason[i] != "random_slice"), key=lambda i: -benefit[i])
    queue = list(by_benefit)
    for i in random_idx:
        queue.insert(int(rng.integers(0, len(queue) + 1)), int(i))
    doubt = [";".join(findings[j] for j in np.argsort(-p_wrong[i]) if p_wrong[i, j] >= config.doubt_threshold) for i in queue]
    cases = pd.DataFrame(
        {
            "case_id": np.asarray(cohort.case_ids, dtype=object)[queue],
            "selection": reason[queue],
            "inclusion_probability": [n_random / n if reason[i] == "random_slice" else 1.0 for i in queue],
            "benefit": benefit[queue],
            "expected_wrong_labels": p_wrong[queue].sum(1),
            "findings_in_doubt": doubt,
            "queue_position": np.arange(1, len(queue) + 1),
        }
    )
    expected_found = float(p_wrong[idx].sum())
    expected_random = float(p_wrong.sum() * len(idx) / n)
    summary = {
        "budget": config.budget,
        "n_cohort": n,
        "n_random_slice": n_random,
        "n_group_quota": int((reason == "group_quota").sum()),
        "n_score": int((reason == "score").sum()),
        "quota_total_before_overlap": int(total_quota),
        "groups_without_quota": [a for a in config.groups if a not in values],
        "expected_wrong_labels_in_queue": expected_found,
        "expected_wrong_labels_if_random": expected_random,
        "expected_wrong_labels_in_cohort": float(p_wrong.sum()),
    }
    return AnnotationPlan(cases=cases, quotas=quota_report, summary=summary)


def queue_frame(plan: AnnotationPlan, cohort: Cohort, labels: LabelTable, findings: Sequence[str]) -> pd.DataFrame:
    """What the annotator gets: case id, the report text, the findings in doubt, the current labels, and
    empty ``annotator_id`` / ``reviewed_at`` columns to fill in."""
    pos = pd.Index(cohort.case_ids).get_indexer(plan.cases["case_id"])
    texts = cohort.texts(TEXT_SECTIONS)
    current = labels.aligned_to(list(plan.cases["case_id"])).frame[list(findings)]
    frame = pd.DataFrame({"case_id": plan.cases["case_id"].to_numpy(), "report": [texts[i] for i in pos], "findings_in_doubt": plan.cases["findings_in_doubt"].to_numpy()})
    for f in findings:
        frame[f] = current[f].astype("Int8").array
    for c in QUEUE_TAIL:
        frame[c] = ""
    return frame


def plan_json(plan: AnnotationPlan, config: PlanConfig, findings: Sequence[str], label_source: str) -> dict:
    """The internal record of the plan that ``annotate merge`` reads (selection reasons, inclusion
    probabilities) and that says how the queue was chosen."""
    return {
        INTERNAL_KEY: INTERNAL_MARKER,
        "note": INTERNAL_NOTE,
        "config": config.model_dump(),
        "findings": list(findings),
        "label_source": label_source,
        "n_cohort": plan.summary["n_cohort"],
        "summary": plan.summary,
        "quotas": plan.quotas,
        "cases": plan.cases.to_dict(orient="records"),
    }


def write_plan(plan: AnnotationPlan, cohort: Cohort, labels: LabelTable, config: PlanConfig, findings: Sequence[str], out: str | Path) -> tuple[Path, Path]:
    """Write the queue (CSV) and ``<stem>.plan.json`` atomically."""

    out = Path(out)
    if out.suffix.lower() != ".csv":
        raise InputError(f"{out}: the annotation queue is a .csv file")
    plan_path = out.with_name(f"{out.stem}.plan.json")
    queue = queue_frame(plan, cohort, labels, findings)
    write_json(plan_json(plan, config, findings, labels.source), plan_path)
    write_table(queue, out)
    return out, plan_path
