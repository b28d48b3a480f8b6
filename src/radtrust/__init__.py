"""radtrust: private, fair and label-honest radiology AI.

``import radtrust as rt`` is the Python front door: the names below are what the command line uses, in the
order data flows (read, de-identify, label, train, predict, evaluate, audit, budget). They load on first
use (PEP 562), so ``import radtrust`` and the command line start without importing torch or transformers.
See the README's "From Python" section, which the tests run.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from radtrust._version import __version__

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # read and validate
    "Cohort": "radtrust.data.schema",
    "LabelTable": "radtrust.data.schema",
    "read_cohort": "radtrust.data.readers",
    "read_labels": "radtrust.data.readers",
    "read_images": "radtrust.data.image_readers",
    "read_openi": "radtrust.data.readers",
    "ChestSynthConfig": "radtrust.synth.chest",
    "synth_chest": "radtrust.synth.chest",
    # de-identify
    "DeidConfig": "radtrust.deid.engine",
    "Deidentifier": "radtrust.deid.engine",
    "CohortDeidentifier": "radtrust.deid.door",
    # label
    "RuleLabeler": "radtrust.labeling.rules",
    "MammoLabeler": "radtrust.labeling.mammo",
    # train: fit(..., ledger=) charges the privacy ledger itself; save() writes the run folder atomically
    "TrainConfig": "radtrust.train.config",
    "ImageTrainConfig": "radtrust.train.config",
    "ReportClassifier": "radtrust.train.estimator",
    "ImageClassifier": "radtrust.train.images",
    "load_classifier": "radtrust.train.api",
    "pretrain": "radtrust.synth.pretrain",  # a warm start fitted on synthetic reports only (TrainConfig.warm_start)
    # predict and evaluate (typed results with to_dict() / to_json())
    "predictions_frame": "radtrust.train.api",
    "evaluate_model": "radtrust.evaluate.result",  # not "evaluate": that name is the radtrust.evaluate package
    "Evaluation": "radtrust.evaluate.result",
    # audit
    "AuditConfig": "radtrust.fairness.audit",
    "SubgroupAudit": "radtrust.fairness.audit",
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
    from radtrust.data.image_readers import read_images
    from radtrust.data.readers import read_cohort, read_labels, read_openi
    from radtrust.data.schema import Cohort, LabelTable
    from radtrust.deid.door import CohortDeidentifier
    from radtrust.deid.engine import DeidConfig, Deidentifier
    from radtrust.errors import ConfigError, InputError, PrivacyError, RadtrustError
    from radtrust.evaluate.result import Evaluation, evaluate_model
    from radtrust.fairness.api import audit_run
    from radtrust.fairness.audit import AuditConfig, SubgroupAudit
    from radtrust.labeling.mammo import MammoLabeler
    from radtrust.labeling.rules import RuleLabeler
    from radtrust.privacy.ledger import PrivacyLedger
    from radtrust.synth.chest import ChestSynthConfig, synth_chest
    from radtrust.synth.pretrain import pretrain
    from radtrust.train.api import load_classifier, predictions_frame
    from radtrust.train.config import ImageTrainConfig, TrainConfig
    from radtrust.train.estimator import ReportClassifier
    from radtrust.train.images import ImageClassifier
