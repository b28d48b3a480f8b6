"""Known label noise for checking noise tools: flip labels of a label table, more often in one group.

The report text is left alone, so a reader of the text (or a model of it) can still see the truth; this is
the situation of an automatic labeler that misreads some reports, e.g. a site whose wording it does not
know. The returned mask says which cells were flipped, so detection can be scored.

    noisy, flipped = flip_labels(truth, cohort, rate=0.15, group=("site", "site_B"), group_rate=0.40, seed=0)
"""

from __future__ import annotations

import numpy as np

from radtrust.data.schema import Cohort, LabelTable
from radtrust.errors import ConfigError, InputError

NO_FINDING = "No Finding"
#: Findings that do not make a study abnormal (CheXpert: No Finding can be 1 with a support device present).
NOT_PATHOLOGY = ("Support Devices",)


def flip_labels(
    labels: LabelTable,
    cohort: Cohort,
    rate: float = 0.15,
    group: tuple[str, str] | None = None,
    group_rate: float | None = None,
    omission_share: float = 0.5,
    group_omission_share: float | None = None,
    seed: int = 0,
    source: str = "simulated-noisy",
) -> tuple[LabelTable, np.ndarray]:
    """Give each case, with probability ``rate`` (``group_rate`` in ``group``), one noise event.

    An event is an **omission** with probability ``omission_share`` (``group_omission_share`` in the group)
    when the case has a positive finding: one positive finding, drawn uniformly, becomes 0 (the under-reporting
    of a labeler that misses findings). Otherwise it is a **commission**: one negative finding becomes 1.
    ``No Finding`` is never drawn but is kept consistent: it is 1 exactly when no pathology is positive
    (support devices are not a pathology, as in CheXpert).
    Uncertain (-1) cells are left alone. Not mentioned counts as negative.

    Returns the noisy table (rows in the cohort's order) and a boolean (n_cases, n_findings) mask of the
    cells that differ from ``labels``.
    """
    for name, v in (("rate", rate), ("group_rate", group_rate), ("omission_share", omission_share), ("group_omission_share", group_omission_share)):
        if v is not None and not 0.0 <= v <= 1.0:
            raise ConfigError(f"{name} must be between 0 and 1, got {v}")
    findings = list(labels.findings)
    base = labels.aligned_to(cohort.case_ids)
    values = base.values()
    binary = np.where(values == 1, 1.0, np.where(values == -1, -1.0, 0.0))
    in_group = np.zeros(len(cohort), dtype=bool)
    if group is not None:
        col, val = group
        if col not in cohort.frame.columns:
            raise InputError(f"{cohort.source}: no column '{col}' for the noise group")
        in_group = cohort.frame[col].astype("string").eq(val).fillna(False).to_numpy(dtype=bool)
    p_case = np.where(in_group, rate if group_rate is None else group_rate, rate)
    p_omit = np.where(in_group, omission_share if group_omission_share is None else group_omission_share, omission_share)
    nf = findings.index(NO_FINDING) if NO_FINDING in findings else None
    drawable = np.array([j != nf for j in range(len(findings))])
    pathology = np.array([j != nf and f not in NOT_PATHOLOGY for j, f in enumerate(findings)])
    rng = np.random.default_rng(seed)
    noisy = binary.copy()
    events = rng.random(len(cohort)) < p_case
    kind = rng.random(len(cohort))
    for i in np.flatnonzero(events):
        pos = np.flatnonzero((binary[i] == 1) & drawable)
        neg = np.flatnonzero((binary[i] == 0) & drawable)
        if len(pos) and kind[i] < p_omit[i]:
            noisy[i, rng.choice(pos)] = 0.0
        elif len(neg):
            noisy[i, rng.choice(neg)] = 1.0
        if nf is not None and binary[i, nf] != -1:
            noisy[i, nf] = float(not (noisy[i, pathology] == 1).any())
    out = np.where(noisy == -1, -1.0, noisy)
    # Keep "not mentioned" where nothing changed, so the noisy table reads like a labeler's output.
    out = np.where((noisy == binary) & np.isnan(values), np.nan, out)
    flipped = noisy != binary
    return LabelTable.from_matrix(cohort.case_ids, findings, out, source), flipped
