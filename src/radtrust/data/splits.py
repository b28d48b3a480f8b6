"""Patient-grouped splits: every report of a patient lands on the same side, so no patient is both
trained on and evaluated on (which would inflate every metric and void a per-record privacy audit)."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import GroupShuffleSplit

from radtrust.data.schema import Cohort
from radtrust.errors import InputError


def patient_split(cohort: Cohort, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positional indices (train, test) with no patient on both sides; ``test_fraction`` of patients go to test."""
    if not 0 < test_fraction < 1:
        raise InputError(f"split fraction must be in (0, 1), got {test_fraction}")
    groups = cohort.patient_ids
    if len(np.unique(groups)) < 2:
        raise InputError(f"{cohort.source}: need at least two patients to split by patient")
    gss = GroupShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed)
    train, test = next(gss.split(np.zeros(len(groups)), groups=groups))
    return np.sort(train), np.sort(test)
