"""Statistics of an expert review: agreement between annotators (Cohen's kappa), and the share of automatic
labels the experts changed on the annotation plan's random slice. That slice is a simple random sample of the
cohort, so the share is an unbiased estimate of the automatic labels' error rate (Wilson 1927 score interval
for cases; a case-clustered percentile bootstrap, Davison & Hinkley 1997, for cells, which are correlated
within a case)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from radtrust.data.schema import LABEL_VALUES
from radtrust.errors import InputError
from radtrust.noise.files import INTERNAL_KEY, INTERNAL_MARKER
from radtrust.stats import cluster_bootstrap_sums, percentile_interval, wilson_interval

#: Annotators must share at least this many cells before their agreement is worth a kappa.
KAPPA_MIN_OVERLAP = 20


def annotator_kappas(corr: pd.DataFrame) -> list[dict]:
    """Cohen's kappa for each pair of annotators sharing at least :data:`KAPPA_MIN_OVERLAP` cells.

    Annotators are numbered by first appearance in the corrections; their ids never enter the summary.
    """
    from sklearn.metrics import cohen_kappa_score

    order = list(dict.fromkeys(corr["annotator_id"]))
    # Each annotator's latest label per cell.
    last = corr.sort_values(["reviewed_at", "row"], kind="stable").groupby(["case_id", "finding", "annotator_id"], sort=False).tail(1)
    wide = last.pivot(index=["case_id", "finding"], columns="annotator_id", values="label")
    out = []
    for i, a in enumerate(order):
        for j in range(i + 1, len(order)):
            b = order[j]
            both = wide[[a, b]].dropna()
            if len(both) < KAPPA_MIN_OVERLAP:
                continue
            x, y = both[a].astype(int).to_numpy(), both[b].astype(int).to_numpy()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # one shared category: kappa is undefined (NaN), reported as None
                k = float(cohen_kappa_score(x, y, labels=list(LABEL_VALUES)))
            out.append({"annotators": [i + 1, j + 1], "n_cells": int(len(both)), "agreement": float(np.mean(x == y)), "kappa": k if np.isfinite(k) else None})
    return out


def random_slice_ids(plan: dict) -> list[str]:
    cases = plan.get("cases") if isinstance(plan, dict) else None
    if not isinstance(cases, list):
        raise InputError("annotation plan: no 'cases' list; write the plan with radtrust annotate plan")
    out = []
    for i, c in enumerate(cases):
        if not isinstance(c, dict) or "case_id" not in c or "selection" not in c:
            raise InputError(f"annotation plan: case entry {i + 1} needs 'case_id' and 'selection'")
        if c["selection"] == "random_slice":
            out.append(str(c["case_id"]).strip())
    return out


def estimate_noise_from_random_slice(history_rows: pd.DataFrame, plan: dict, seed: int = 0, n_boot: int = 2000) -> dict:
    """Share of automatic labels the experts changed, estimated on the plan's random slice.

    ``history_rows``: this merge's rows of the history; ``plan``: the ``.plan.json`` of the queue (only its
    ``cases[].case_id`` and ``cases[].selection`` are used). The random slice is a simple random sample of
    the cohort, so among its reviewed cases the share with at least one changed label (Wilson interval)
    and the share of changed cells (case-clustered percentile bootstrap, ``n_boot`` resamples, ``seed``)
    are unbiased for the cohort, provided unreviewed slice cases are missing at random.
    """
    ids = random_slice_ids(plan)
    rows = history_rows[history_rows["case_id"].isin(ids)] if len(history_rows) else history_rows
    n_planned = len(set(ids))
    if len(rows) == 0:
        return {
            INTERNAL_KEY: INTERNAL_MARKER,
            "n_cases": 0,
            "n_random_slice_planned": n_planned,
            "note": "no random-slice case of the plan was reviewed in this merge, so no unbiased noise estimate",
        }
    rows = rows.assign(changed=rows["changed"].astype(bool))
    per_case = rows.groupby("case_id", sort=False)["changed"].agg(["sum", "size"])
    n = int(len(per_case))
    k = int((per_case["sum"] > 0).sum())
    c, m = per_case["sum"].to_numpy(dtype=float), per_case["size"].to_numpy(dtype=float)
    # Rows of per_case are cases, so resampling them is the case-clustered bootstrap.
    boot_sums = cluster_bootstrap_sums(np.column_stack([c, m]), np.arange(n), n_boot, seed)
    lo, hi = percentile_interval(boot_sums[:, 0] / boot_sums[:, 1])
    by_finding = {}
    for f, g in rows.groupby("finding", sort=False):
        # One cell per case and finding, so cells of one finding are independent: a Wilson interval fits.
        kf, nf = int(g["changed"].sum()), int(len(g))
        by_finding[str(f)] = {"share": kf / nf, "ci95": list(wilson_interval(kf, nf)), "n_changed": kf, "n_cells": nf}
    out = {
        INTERNAL_KEY: INTERNAL_MARKER,
        "n_cases": n,
        "n_random_slice_planned": n_planned,
        "n_cells": int(m.sum()),
        "cases_with_changed_label": {"share": k / n, "ci95": list(wilson_interval(k, n)), "n_changed": k, "method": "wilson"},
        "cells_changed": {
            "share": float(c.sum() / m.sum()),
            "ci95": [float(lo), float(hi)],
            "n_changed": int(c.sum()),
            "method": "case-clustered percentile bootstrap",
            "n_boot": int(n_boot),
            "seed": int(seed),
        },
        "by_finding": by_finding,
    }
    if n < n_planned:
        out["note"] = f"{n} of {n_planned} random-slice cases reviewed; the estimate assumes the others are missing at random"
    return out
