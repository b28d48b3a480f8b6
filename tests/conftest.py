"""Shared fixtures: tiny synthetic cohorts built by the package itself (tests never read ../shared)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import settings

from radtrust.data.schema import Cohort, LabelTable
from radtrust.synth.chest import ChestSynthConfig, synth_chest
from radtrust.train.config import TrainConfig

# `make test` runs one pytest worker per core (pytest-xdist); each then trains on one thread, so two workers
# do not fight over two cores. A single-process run keeps two threads.
# Property tests replay the same examples in every run (a red build is caused by a change, not by a new
# random draw); RADTRUST_PROPERTY_EXAMPLES=N explores fresh ones (see tests/deid/test_properties.py).
settings.register_profile("radtrust", derandomize=not os.environ.get("RADTRUST_PROPERTY_EXAMPLES"), deadline=None)
settings.load_profile("radtrust")

TEST_THREADS = 1 if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1 else 2
if TEST_THREADS == 1:  # the commands tests start as subprocesses train on one thread too (torch and radtrust read it)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def test_threads() -> int:
    """Threads for a model a module-scoped fixture trains (see TEST_THREADS)."""
    return TEST_THREADS


@pytest.fixture(scope="session", autouse=True)
def _session_ledger(tmp_path_factory):
    """No test, and no subprocess a test starts, ever writes the project's own privacy ledger."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RADTRUST_LEDGER", str(tmp_path_factory.mktemp("ledger") / "privacy_ledger.sqlite"))
        yield


@pytest.fixture(autouse=True)
def _test_ledger(monkeypatch, tmp_path_factory):
    """A fresh privacy ledger per test, so budgets set by one test never refuse another's runs."""
    monkeypatch.setenv("RADTRUST_LEDGER", str(tmp_path_factory.mktemp("ledger") / "privacy_ledger.sqlite"))


@pytest.fixture(scope="session")
def chest_small() -> tuple[Cohort, LabelTable]:
    """300 synthetic chest reports with hidden truth (CheXpert-14)."""
    return synth_chest(ChestSynthConfig(n=300, seed=7))


@pytest.fixture
def toy_cohort() -> tuple[Cohort, LabelTable]:
    """A trivially learnable 3-finding cohort: each finding is stated or negated in plain words."""
    rng = np.random.default_rng(0)
    n = 240
    y = (rng.random((n, 3)) < 0.35).astype(float)
    words = [("There is a pleural effusion.", "No effusion."), ("Pulmonary edema.", "No edema."), ("Right pneumothorax.", "Lungs are clear.")]
    texts = [" ".join(words[j][0] if y[i, j] else words[j][1] for j in range(3)) for i in range(n)]
    frame = pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], "patient_id": [f"p{i // 2}" for i in range(n)], "findings": texts})
    cohort = Cohort(frame)
    labels = LabelTable.from_matrix(cohort.case_ids, ["Effusion", "Edema", "Pneumothorax"], y, "toy")
    return cohort, labels


@pytest.fixture
def tiny_config() -> TrainConfig:
    """Randomly initialised two-layer BERT: seconds per run, for tests of the machinery, not of accuracy."""
    return TrainConfig(encoder="tiny", epochs=2, batch_size=32, learning_rate=5e-3, max_length=32, num_threads=TEST_THREADS, debug_checks=True)
