"""De-identification of free-text radiology reports (HIPAA Safe Harbor style) that keeps clinical content.

``Deidentifier(DeidConfig(...)).deidentify(text, patient_id)`` masks identifiers as ``[NAME]``, ``[DATE]``,
..., or replaces them with keyed, per-patient-consistent surrogates, optionally shifting each patient's
dates by one secret offset; ``deidentify_frame`` does the same for report columns of a table. The rules
live in :mod:`~radtrust.deid.recognizers`, what must survive in :mod:`~radtrust.deid.allowlist`, the fakes
in :mod:`~radtrust.deid.surrogates`; Presidio is used in addition where it is installed.
"""

from __future__ import annotations

from functools import lru_cache

from radtrust.deid.allowlist import AllowList
from radtrust.deid.bounds import cut_back
from radtrust.deid.engine import (
    PRESIDIO_KINDS,
    DeidConfig,
    Deidentifier,
    DeidSummary,
    PresidioAdapter,
    deidentify_frame,
    deidentify_values,
    presidio_model,
)
from radtrust.deid.recognizers import find_candidates, resolve
from radtrust.deid.recognizers.base import KINDS, Span
from radtrust.deid.recognizers.names import name_in_dictionary


@lru_cache(maxsize=1)
def _default_allow() -> AllowList:
    return AllowList()


def find_identifiers(text: str) -> list[Span]:
    """Identifier spans in ``text`` found by the radtrust recognizers alone (no Presidio), allow-list applied."""
    allow = _default_allow()
    return cut_back(text, resolve(text, find_candidates(text, allow), allow))[0]


__all__ = [
    "KINDS",
    "PRESIDIO_KINDS",
    "AllowList",
    "DeidConfig",
    "DeidSummary",
    "Deidentifier",
    "PresidioAdapter",
    "Span",
    "deidentify_frame",
    "deidentify_values",
    "find_identifiers",
    "name_in_dictionary",
    "presidio_model",
]
