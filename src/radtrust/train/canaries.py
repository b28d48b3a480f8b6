"""Audit canaries: planted records with random labels, each in the training set with probability 1/2.

A membership-inference audit needs records whose membership is decided by a coin the auditor knows.
Canaries are the standard device (Jagielski, Ullman & Oprea 2020; Nasr et al. 2021): crafted to be as easy
to memorise as possible, so that how well an attacker tells the included canaries from the excluded ones
shows what the training procedure can leak about one record, in the worst case the guarantee covers.
Including each canary independently with probability 1/2 lets one training run give the audit many
trials (Steinke, Nasr & Jagielski, NeurIPS 2023).

Here a canary is a report of random pseudo-words (a token sequence no real report shares) with a random
0/1 label for every finding. Canaries are rebuilt from ``(n, findings, seed)``, so a run stores only
those three numbers (``run.json: canaries``), not the canaries; :mod:`radtrust.evaluate.privacy_audit`
rebuilds them. Each canary is its own patient, and carries no demographics, site or group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from radtrust.data.schema import Cohort

GENERATOR = "radtrust-canaries/1"
CASE_PREFIX = "canary-"
_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gl", "kr", "pl", "st", "tr", "sk")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou", "ei")
_CODAS = ("", "", "n", "r", "s", "x", "lt", "nd", "rk")


@dataclass
class Canaries:
    """``n`` canaries: a report cohort, their random labels (n, k) and which are in the training set."""

    cohort: Cohort
    targets: np.ndarray
    included: np.ndarray
    seed: int

    def to_meta(self) -> dict:
        """What ``run.json`` records: enough to rebuild them, nothing else."""
        return {"n": int(len(self.included)), "n_included": int(self.included.sum()), "seed": self.seed, "generator": GENERATOR}


def _word(rng: np.random.Generator) -> str:
    return "".join(_ONSETS[rng.integers(len(_ONSETS))] + _VOWELS[rng.integers(len(_VOWELS))] + _CODAS[rng.integers(len(_CODAS))] for _ in range(int(rng.integers(2, 4))))


def make_canaries(n: int, findings: list[str], seed: int, words: int = 14) -> Canaries:
    """``n`` canaries for ``findings``; the same arguments always give the same canaries and coins."""
    rng = np.random.default_rng([seed, 0xCA7A])
    texts = [" ".join(_word(rng) for _ in range(words)) + "." for _ in range(n)]
    targets = rng.integers(0, 2, size=(n, len(findings))).astype(np.float32)
    included = rng.random(n) < 0.5
    ids = [f"{CASE_PREFIX}{i:05d}" for i in range(n)]
    frame = pd.DataFrame({"case_id": ids, "patient_id": ids, "study_id": ids, "site": "canary", "findings": texts})
    return Canaries(Cohort(frame, "<canaries>"), targets, included, seed)
