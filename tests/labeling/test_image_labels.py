"""Image labels read off the reports (radtrust.labeling.image_labels), checked against the synthetic
archive's image truth, which is derived from the same report truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radtrust.data.image_readers import read_images
from radtrust.data.readers import read_cohort, read_table
from radtrust.data.schema import LABEL_SOURCE_COLUMN, Cohort, LabelTable
from radtrust.deid.door import CohortDeidentifier
from radtrust.errors import InputError
from radtrust.labeling.image_labels import IMAGE_FINDINGS, image_labels_from_reports
from radtrust.labeling.mammo import MammoLabeler
from radtrust.synth.mammo_images import MammoImageSynthConfig, write_synth_mammo_images

LESION_FREE = ("abnormal", "density_a", "density_b", "density_c", "density_d")


@pytest.fixture(scope="session")
def archive(tmp_path_factory):
    # enriched, so that malignant and benign breasts both occur among 24 women
    cfg = MammoImageSynthConfig(n_women=24, size=64, seed=0, abnormal_rate=0.4, malignant_share=0.4)
    return write_synth_mammo_images(cfg, tmp_path_factory.mktemp("mammo_labels"))


@pytest.fixture(scope="session")
def noisy_archive(tmp_path_factory):
    cfg = MammoImageSynthConfig(n_women=24, size=32, seed=0, report_label_noise=0.3)
    return write_synth_mammo_images(cfg, tmp_path_factory.mktemp("mammo_noisy"))


def _values(table: LabelTable, findings=IMAGE_FINDINGS) -> pd.DataFrame:
    return table.frame.set_index("case_id")[list(findings)].astype("float64")


def test_report_truth_reproduces_image_truth(archive):
    images, _ = read_images(archive.paths["images_csv"])
    report_truth = read_table(archive.paths["reports_truth"])
    labels = image_labels_from_reports(images, report_truth)
    assert labels.findings == list(IMAGE_FINDINGS) and labels.case_ids == images.case_ids
    assert labels.source == "synthetic-truth (via reports)" and set(labels.frame[LABEL_SOURCE_COLUMN]) == {"synthetic-truth (via reports)"}
    got, truth = _values(labels), _values(archive.truth)
    assert truth["abnormal"].sum() >= 20 and (truth["malignant"] == 1).sum() >= 4  # the check has cases to bite on
    # abnormal and density: exactly the image truth, view by view
    pd.testing.assert_frame_equal(got[list(LESION_FREE)], truth[list(LESION_FREE)])
    # malignant: defined on the same views (abnormal breasts only) ...
    np.testing.assert_array_equal(got["malignant"].isna(), truth["malignant"].isna())
    defined = truth["malignant"].notna()
    g, t = got.loc[defined, "malignant"], truth.loc[defined, "malignant"]
    # ... every malignant breast is found, and the only disagreements are benign breasts of a BI-RADS
    # 4-6 exam whose other breast holds the malignancy (the report's category covers the whole exam)
    assert (g[t == 1] == 1).all()
    wrong = g.index[(g != t).to_numpy()]
    assert (g[wrong] == 1).all() and (t[wrong] == 0).all()
    m = archive.manifest.set_index("case_id")
    for cid in wrong:
        exam = m.index[(m["study_id"] == m.loc[cid, "study_id"]) & (m["laterality"] != m.loc[cid, "laterality"])]
        assert (truth.loc[exam, "malignant"] == 1).any(), cid
    assert (g == t).mean() >= 0.8


def test_rule_labels_of_noisy_reports_mostly_agree(noisy_archive):
    a = noisy_archive
    reports = read_cohort(a.paths["reports"], deid=CohortDeidentifier())
    rule = MammoLabeler().label(reports)
    images, _ = read_images(a.paths["images_csv"])
    labels = image_labels_from_reports(images, rule)
    assert labels.source == "radtrust-mammo@0.1 (via reports)"
    got, truth = _values(labels), _values(a.truth)
    both = got.notna() & truth.notna()
    agree = (got == truth) & both
    share = agree.sum().sum() / both.sum().sum()
    abnormal_wrong = int((both["abnormal"] & (got["abnormal"] != truth["abnormal"])).sum())
    assert abnormal_wrong >= 8, abnormal_wrong  # the noise shows (about 1 view in 9 at this level)
    assert share >= 0.9 and (got["abnormal"] == truth["abnormal"]).mean() >= 0.75, share
    # a wrong report puts findings in breasts that have none, so malignant is defined on other views
    assert (got["malignant"].isna() != truth["malignant"].isna()).any()


def test_rule_labels_of_clean_reports_match_truth(tmp_path):
    a = write_synth_mammo_images(MammoImageSynthConfig(n_women=12, size=32, seed=4, abnormal_rate=0.5), tmp_path)
    labels = image_labels_from_reports(read_images(a.paths["images_csv"])[0], MammoLabeler().label(read_cohort(a.paths["reports"], deid=CohortDeidentifier())))
    got, truth = _values(labels), _values(a.truth)
    assert (got["abnormal"] == truth["abnormal"]).mean() >= 0.95
    for d in ("density_a", "density_b", "density_c", "density_d"):
        assert (got[d] == truth[d]).mean() >= 0.95


def test_missing_report_gives_an_empty_row(archive):
    images, _ = read_images(archive.paths["images_csv"])
    report_truth = read_table(archive.paths["reports_truth"])
    gone = images.frame["report_id"].iloc[0]
    labels = image_labels_from_reports(images, report_truth[report_truth["case_id"] != gone])
    frame = labels.frame.set_index("case_id")[list(IMAGE_FINDINGS)].astype("float64")
    hit = (images.frame["report_id"] == gone).to_numpy()
    assert hit.sum() == 4  # the exam's four views
    assert frame[hit].isna().all().all()
    assert frame[~hit]["abnormal"].notna().all() and frame[~hit]["density_a"].notna().all()
    # a view with no laterality cannot be given breast labels either
    f = images.frame.copy()
    f.loc[f.index[-1], "laterality"] = None
    odd = image_labels_from_reports(Cohort(f, "odd.csv"), report_truth)
    assert odd.frame[list(IMAGE_FINDINGS)].iloc[-1].isna().all()
    assert odd.frame[list(IMAGE_FINDINGS)].iloc[0].notna().any()


def test_needs_link_and_laterality_columns(archive):
    images, _ = read_images(archive.paths["images_csv"])
    report_truth = read_table(archive.paths["reports_truth"])
    with pytest.raises(InputError, match="no 'accession' column"):
        image_labels_from_reports(images, report_truth, link="accession")
    with pytest.raises(InputError, match="no 'laterality' column"):
        image_labels_from_reports(Cohort(images.frame.drop(columns="laterality"), "x.csv"), report_truth)
