"""radtrust: private, fair and label-honest radiology AI.

``import radtrust as rt`` is the Python front door: the names below are what the command line uses, in the
order data flows (read, de-identify, label, train, predict, evaluate, audit, budget). They load on first
use (PEP 562), so ``import radtrust`` and the command line start without importing torch or transformers.
See the README's "From Python" section, which the tests run.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # read and validate
    "Cohort": "radtrust.data.schema",
    "LabelTable": "radtrust.data.schema",
    "read_cohort": "radtrust.data.readers",
    "read_labels": "radtrust.data.readers",
    "read_images": "radtrust.data.readers",
    "read_openi": "radtrust.data.readers",
    "ChestSynthConfig": "radtrust.data.synthetic",
    "synth_chest": "radtrust.data.synthetic",
    # de-identify
    "DeidConfig": "radtrust.deid.engine",
    "Deidentifier": "radtrust.deid.engine",
    "deidentify_cohort": "radtrust.deid.door",
    "using_deid": "radtrust.deid.door",
    # label
    "RuleLabeler": "radtrust.labeling.rules",
    "MammoLabeler": "radtrust.labeling.mammo",
    # train (fit_and_save charges the privacy ledger and writes the run folder)
    "TrainConfig": "radtrust.train.config",
    "ImageTrainConfig": "radtrust.train.config",
    "ReportClassifier": "radtrust.train.estimator",
    "ImageClassifier": "radtrust.train.images",
    "fit_and_save": "radtrust.train.api",
    "load_classifier": "radtrust.train.api",
    # predict and evaluate
    "predictions_frame": "radtrust.train.api",
    "evaluate_run": "radtrust.evaluate.evaluate",
    "score_against_gold": "radtrust.evaluate.evaluate",
    # audit
    "AuditConfig": "radtrust.fairness.audit",
    "audit_run": "radtrust.fairness.api",
    # privacy budget
    "PrivacyLedger": "radtrust.privacy.ledger",
    # errors a caller may catch
    "RadtrustError": "radtrust.errors",
    "InputError": "radtrust.errors",
    "ConfigError": "radtrust.errors",
    "PrivacyError": "radtrust.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'radtrust' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load lazily above
    from radtrust.data.readers import read_cohort, read_images, read_labels, read_openi
    from radtrust.data.schema import Cohort, LabelTable
    from radtrust.data.synthetic import ChestSynthConfig, synth_chest
    from radtrust.deid.door import deidentify_cohort, using_deid
    from radtrust.deid.engine import DeidConfig, Deidentifier
    from radtrust.errors import ConfigError, InputError, PrivacyError, RadtrustError
    from radtrust.evaluate.evaluate import evaluate_run, score_against_gold
    from radtrust.fairness.api import audit_run
    from radtrust.fairness.audit import AuditConfig
    from radtrust.labeling.mammo import MammoLabeler
    from radtrust.labeling.rules import RuleLabeler
    from radtrust.privacy.ledger import PrivacyLedger
    from radtrust.train.api import fit_and_save, load_classifier, predictions_frame
    from radtrust.train.config import ImageTrainConfig, TrainConfig
    from radtrust.train.estimator import ReportClassifier
    from radtrust.train.images import ImageClassifier
