"""Typed results of scoring a model: what ``radtrust evaluate`` writes to ``metrics.json``, as an object a
Python user can read (``result.weighted_f1``, ``result.per_label``) and write (``to_dict``, ``to_json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from radtrust.data.io import write_json
from radtrust.data.schema import Cohort, LabelTable
from radtrust.evaluate.evaluate import evaluate_run, score_against_gold
from radtrust.train.estimator import Classifier


@dataclass(frozen=True)
class Evaluation:
    """A model's scores against a gold standard: the averages over findings with their patient-clustered 95%
    bootstrap intervals, one row per finding, and the full record behind them (:meth:`to_dict`)."""

    weighted_f1: float
    macro_f1: float
    micro_f1: float
    macro_auroc: float | None
    ci95: dict[str, tuple[float, float]]
    n_cases: int
    per_label: pd.DataFrame = field(repr=False)
    privacy: dict | None = field(default=None, repr=False)
    record: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, record: dict) -> Evaluation:
        """The result of a ``metrics.json`` record (what :func:`score_against_gold` returns)."""
        return cls(
            weighted_f1=record["weighted_f1"],
            macro_f1=record["macro_f1"],
            micro_f1=record["micro_f1"],
            macro_auroc=record.get("macro_auroc"),
            ci95={k: (v[0], v[1]) for k, v in record.get("ci95", {}).items()},
            n_cases=record["n_cases"],
            per_label=pd.DataFrame.from_dict(record["per_label"], orient="index").rename_axis("finding"),
            privacy=record.get("privacy"),
            record=record,
        )

    def to_dict(self) -> dict:
        """The record as written to ``metrics.json`` (a copy)."""
        return json.loads(self.to_json())

    def to_json(self, path: str | Path | None = None) -> str:
        """The record as JSON; with ``path``, also written there atomically."""
        text = json.dumps(self.record, indent=2, default=str)
        if path is not None:
            write_json(self.record, path)
        return text

    def __str__(self) -> str:
        ci = self.ci95.get("weighted_f1")
        interval = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        return f"weighted F1 {self.weighted_f1:.3f}{interval} over {len(self.per_label)} findings, {self.n_cases} cases"


def evaluate_model(model: Classifier | str | Path, cohort: Cohort, gold: LabelTable, n_boot: int = 1000, seed: int = 0, progress: bool = False) -> Evaluation:
    """Score ``model`` (a fitted classifier or a run folder) on ``cohort`` against ``gold``; decisions use the
    thresholds chosen on the run's own validation split, never on the scored data. The privacy record (the
    run folder's, or the fitted model's) comes with the result."""
    if not isinstance(model, Classifier):
        return Evaluation.from_dict(evaluate_run(model, cohort, gold, n_boot=n_boot, seed=seed, progress=progress))
    record = score_against_gold(model, cohort, gold, n_boot=n_boot, seed=seed, progress=progress)
    if model.result is not None:
        record["privacy"] = model.result.privacy.to_dict()
    return Evaluation.from_dict(record)
