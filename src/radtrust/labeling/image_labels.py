"""Image labels read off the reports: the population-health route to training an image model.

Large archives have reports for every exam but expert image annotation for almost none. A mammography
report labeler (:class:`radtrust.labeling.mammo.MammoLabeler`) gives per exam the BI-RADS assessment,
the density and the findings per breast; this module turns that into per-view labels of the same shape
as image truth (``abnormal``, ``malignant``, one-hot ``density_*``), so an image model can be trained on
them and measured against true labels. They inherit every error of the report and of the labeler.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from radtrust.data.schema import LABEL_SOURCE_COLUMN, Cohort, LabelTable
from radtrust.errors import InputError
from radtrust.labeling.mammo import DENSITIES, MAMMO_KINDS

IMAGE_FINDINGS: tuple[str, ...] = ("abnormal", "malignant", *(f"density_{d.lower()}" for d in DENSITIES))
_SIDE_WORD = {"L": "left", "R": "right"}
#: BI-RADS 4 (suspicious), 5 (highly suggestive) and 6 (known cancer) are read as malignant; 0
#: (incomplete), 2 (benign) and 3 (probably benign) as benign outcomes, the convention of the synthetic
#: image truth (most recalls turn out benign).
MALIGNANT_BIRADS = (4, 5, 6)


def image_labels_from_reports(images: Cohort, report_labels: pd.DataFrame, link: str = "report_id", source: str | None = None) -> LabelTable:
    """Per-view labels from the mammo label table of each view's report (``images.frame[link]`` names it).

    A breast is abnormal when its report names any finding in it (uncertain mentions count as absent);
    malignant when it is abnormal and the exam's BI-RADS is 4-6 (0 when abnormal with another category,
    empty when normal or when the report gives no category); density one-hot from the report's density
    (all empty when the report gives none). Views whose report is missing get empty labels, which stay
    out of the loss of an image model.
    """
    if link not in images.frame.columns:
        raise InputError(f"{images.source}: no '{link}' column linking each image to its report")
    if "laterality" not in images.frame.columns:
        raise InputError(f"{images.source}: no 'laterality' column: breast labels need the side of each image")
    table = report_labels.set_index(report_labels["case_id"].astype(str))
    rows = []
    for rid, lat in zip(images.frame[link].astype("string").fillna(""), images.frame["laterality"].astype("string").fillna("")):
        row = dict.fromkeys(IMAGE_FINDINGS, np.nan)
        if rid in table.index and lat in _SIDE_WORD:
            rep = table.loc[rid]
            side = _SIDE_WORD[lat]
            vals = [rep.get(f"{side}_{k}") for k in MAMMO_KINDS]
            abnormal = float(any(pd.notna(v) and int(v) == 1 for v in vals))
            row["abnormal"] = abnormal
            birads = rep.get("birads")
            if abnormal and pd.notna(birads):
                row["malignant"] = float(int(birads) in MALIGNANT_BIRADS)
            density = rep.get("density")
            if pd.notna(density) and str(density) in DENSITIES:
                for d in DENSITIES:
                    row[f"density_{d.lower()}"] = float(str(density) == d)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(IMAGE_FINDINGS))
    frame.insert(0, "case_id", images.case_ids)
    src = source
    if src is None and LABEL_SOURCE_COLUMN in report_labels.columns and report_labels[LABEL_SOURCE_COLUMN].notna().any():
        src = f"{report_labels[LABEL_SOURCE_COLUMN].dropna().iloc[0]} (via reports)"
    frame[LABEL_SOURCE_COLUMN] = src or "reports"
    return LabelTable(frame, list(IMAGE_FINDINGS), src or "reports", images.source)
