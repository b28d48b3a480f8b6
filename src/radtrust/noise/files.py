"""The label audit's per-cell file, and the rule that it stays inside the data holder's walls.

``radtrust audit labels`` writes one row per (case, finding) with the probability that the given label
is wrong. The audit is computed on the private data without noise and is never released, which is why it
spends no privacy budget; the flip side is that nothing it produces per case may reach a model card or any
other released artifact. Its outputs carry :data:`INTERNAL_MARKER`, and the writers of released
artifacts call :func:`refuse_release` on whatever they embed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radtrust.data.readers import read_table
from radtrust.errors import InputError, PrivacyError

#: Key and value that mark an object or file as internal-only (label audit, annotation queue).
INTERNAL_KEY = "radtrust_release"
INTERNAL_MARKER = "internal-only"
INTERNAL_NOTE = (
    "internal-only: computed on private data without differential privacy and not released, so it spends no "
    "privacy budget; never copy it, or anything per case from it, into a model card or a released artifact"
)

#: Columns of the per-cell audit file, in order.
AUDIT_COLUMNS: tuple[str, ...] = (
    "case_id",
    "finding",
    "given_label",  # 1 or 0 as used for training (not mentioned = 0); uncertain cells are not audited
    "p_label_wrong",  # estimated probability that the given label is wrong
    "oos_probability",  # out-of-sample (cross-fitted) probability that the finding is labelled present
    "cleanlab_issue",  # flagged by cleanlab's confident learning (find_multilabel_issues_per_class)
    "likely_wrong",  # p_label_wrong >= the audit's flag threshold
    INTERNAL_KEY,
)


def read_label_audit(path: str | Path) -> pd.DataFrame:
    """Read a per-cell audit file written by ``radtrust audit labels`` (CSV or Parquet).

    Returns the columns of :data:`AUDIT_COLUMNS` with ``case_id``/``finding`` as strings,
    ``given_label`` as int and ``p_label_wrong`` as float in [0, 1].
    """

    path = Path(path)
    frame = read_table(path)
    missing = [c for c in ("case_id", "finding", "given_label", "p_label_wrong") if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: not a label audit file (missing column(s): {', '.join(missing)}); write one with radtrust audit labels")
    frame = frame.copy()
    frame["case_id"] = frame["case_id"].astype("string").str.strip()
    frame["finding"] = frame["finding"].astype("string")
    p = pd.to_numeric(frame["p_label_wrong"], errors="coerce")
    bad = p.isna() | (p < 0) | (p > 1)
    if bad.any():
        raise InputError(f"{path}: row {int(np.flatnonzero(bad.to_numpy())[0]) + 1}, column 'p_label_wrong': must be a probability in [0, 1]")
    frame["p_label_wrong"] = p.astype(float)
    g = pd.to_numeric(frame["given_label"], errors="coerce")
    bad = ~g.isin([0, 1])
    if bad.any():
        raise InputError(f"{path}: row {int(np.flatnonzero(bad.to_numpy())[0]) + 1}, column 'given_label': must be 0 or 1")
    frame["given_label"] = g.astype(int)
    if frame.duplicated(["case_id", "finding"]).any():
        row = int(np.flatnonzero(frame.duplicated(["case_id", "finding"]).to_numpy())[0]) + 1
        raise InputError(f"{path}: row {row}: the same case and finding appear twice")
    return frame


def is_internal(obj: Any) -> bool:
    """True for a dict, DataFrame or file that carries the internal-only marker."""
    if isinstance(obj, Mapping):
        if obj.get(INTERNAL_KEY) == INTERNAL_MARKER:
            return True
        return any(is_internal(v) for v in obj.values() if isinstance(v, (Mapping, list, pd.DataFrame)))
    if isinstance(obj, list):
        return any(is_internal(v) for v in obj if isinstance(v, (Mapping, list, pd.DataFrame)))
    if isinstance(obj, pd.DataFrame):
        return INTERNAL_KEY in obj.columns
    if isinstance(obj, (str, Path)):
        p = Path(obj)
        if not p.is_file():
            return False
        with p.open("rb") as fh:
            head = fh.read(1 << 16)
        return INTERNAL_KEY.encode() in head
    return False


def refuse_release(obj: Any, what: str) -> None:
    """Raise :class:`PrivacyError` if ``obj`` carries the internal-only marker.

    Called by every writer of a released artifact (model card / HTML report, run folder) on what it embeds.
    """
    if is_internal(obj):
        raise PrivacyError(f"{what}: refusing to put internal-only label-audit or annotation output into a released artifact (it is per-case and not differentially private)")


#: Share of audited cells whose given label may differ from the training label before the audit is refused.
MAX_AUDIT_DISAGREEMENT = 0.01


def label_issue_cells(audit: pd.DataFrame, case_ids: Sequence[str], findings: Sequence[str], raw: np.ndarray, origin: str) -> np.ndarray:
    """``p_label_wrong`` per (case, finding) cell of ``raw`` (NaN where the audit gives no verdict).

    ``raw`` holds the training labels (1, 0, -1, NaN = not mentioned) of ``case_ids`` × ``findings``.
    Audit rows for other cases or findings are ignored: an audit of a larger cohort serves any part of it.
    Uncertain cells get no verdict (the audit does not judge them; the uncertain policy decides). The
    audit's ``given_label`` must be the training target of its cell (1 = positive; 0 = negative or not
    mentioned): a p_label_wrong is only meaningful for the label it judged, so an audit that disagrees on
    more than :data:`MAX_AUDIT_DISAGREEMENT` of its cells was computed on other labels and is refused,
    and the few cells that disagree are left as they are.
    """
    pos = {cid: i for i, cid in enumerate(case_ids)}
    rows = audit["case_id"].map(pos)
    if not rows.notna().any():
        raise InputError(f"{origin}: none of the cohort's cases is in the label audit; it was computed on another cohort")
    col = {f: j for j, f in enumerate(findings)}
    keep = rows.notna() & audit["finding"].isin(col).fillna(False).astype(bool)
    if not keep.any():
        raise InputError(f"{origin}: the label audit has no finding in common with the findings learned")
    i = rows[keep].astype(int).to_numpy()
    j = audit.loc[keep, "finding"].map(col).astype(int).to_numpy()
    given = audit.loc[keep, "given_label"].to_numpy()
    p = audit.loc[keep, "p_label_wrong"].to_numpy(dtype=float)
    lab = raw[i, j]
    certain = lab != -1  # NaN (not mentioned) compares unequal, and counts as 0 below
    agree = given == (lab == 1).astype(int)
    n_checked, n_disagree = int(certain.sum()), int((certain & ~agree).sum())
    if n_disagree > MAX_AUDIT_DISAGREEMENT * n_checked:
        raise InputError(
            f"{origin}: the label audit's given_label differs from the training label in {n_disagree} of {n_checked} cells "
            f"({100 * n_disagree / max(n_checked, 1):.1f}%); it was computed on different labels (rerun radtrust audit labels on these)"
        )
    out = np.full(raw.shape, np.nan)
    ok = certain & agree
    out[i[ok], j[ok]] = p[ok]
    return out
