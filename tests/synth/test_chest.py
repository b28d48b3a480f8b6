"""The synthetic chest report cohort: schema, determinism, realism and the noise/bias knobs."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from radtrust.data.schema import Cohort, LabelTable
from radtrust.errors import ConfigError, InputError
from radtrust.labeling.vocab import CHEXPERT14
from radtrust.synth.chest import (
    GROUP_COLUMNS,
    MENTION_SOURCE,
    TRUTH_SOURCE,
    ChestSynthConfig,
    chest_prevalence,
    site_names,
    synth_chest,
    synth_chest_detailed,
    write_synth_chest,
)

N = 3000


@pytest.fixture(scope="module")
def base():
    return synth_chest_detailed(ChestSynthConfig(n=N, seed=7))


@pytest.fixture(scope="module")
def texts(base):
    return base.cohort.texts(("findings", "impression"))


_NEG_CUE = re.compile(r"\b(no|without|free of|negative for|not seen|resolved|resolution|removed|no longer)\b", re.I)


def _says_positive(text: str, keyword: str) -> bool:
    """Crude text check: some sentence names the keyword with no negation cue in it."""
    return any(keyword in s.lower() and not _NEG_CUE.search(s) for s in re.split(r"(?<=[.;])\s+", text))


# -- schema -------------------------------------------------------------------------------------------


def test_cohort_columns_and_schema(base):
    f = base.cohort.frame
    for col in (
        "case_id",
        "patient_id",
        "study_id",
        "site",
        "findings",
        "impression",
        "indication",
        "comparison",
        "age",
        "sex",
        "race",
    ):
        assert col in f.columns
    Cohort.from_frame(f)  # re-validates
    assert f["case_id"].str.fullmatch(r"S\d{6}").all()
    assert f["case_id"].is_unique and f["study_id"].is_unique
    assert set(f["site"]) == set(site_names(4))
    assert f["age"].between(18, 95).all()
    assert set(f["sex"]) == {"F", "M"}
    assert "Unknown" in set(f["race"]) and len(set(f["race"])) >= 4
    assert set(f["view"]) <= set(GROUP_COLUMNS["view"])
    # No truth leaks into the cohort.
    assert not set(CHEXPERT14) & set(f.columns)
    # Some reports have only findings + impression; some only an impression.
    only_fi = f["indication"].isna() & f["comparison"].isna() & f["findings"].notna()
    assert only_fi.any()
    assert f["findings"].isna().any() and f["impression"].notna().all()


def test_truth_table(base):
    tr = base.truth
    assert isinstance(tr, LabelTable)
    assert tr.source == TRUTH_SOURCE and base.mentions.source == MENTION_SOURCE
    assert tuple(tr.findings) == CHEXPERT14
    assert tr.case_ids == base.cohort.case_ids
    v = tr.values()
    assert not np.isnan(v).any() and set(np.unique(v)) == {0.0, 1.0}
    others = v[:, 1:13].sum(axis=1)  # everything but No Finding and Support Devices
    assert (v[:, 0] == (others == 0)).all()
    # Devices alone still leave No Finding = 1.
    assert ((v[:, 0] == 1) & (v[:, 13] == 1)).any()


def test_synth_chest_matches_detailed():
    cfg = ChestSynthConfig(n=300, seed=3)
    cohort, truth = synth_chest(cfg)
    det = synth_chest_detailed(cfg)
    pd.testing.assert_frame_equal(cohort.frame, det.cohort.frame)
    pd.testing.assert_frame_equal(truth.frame, det.truth.frame)


# -- determinism and files ----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_is_deterministic_and_separate(tmp_path, suffix):
    cfg = ChestSynthConfig(n=400, seed=11, label_noise=0.1)
    a = write_synth_chest(cfg, tmp_path / "a" / f"cohort{suffix}")
    b = write_synth_chest(cfg, tmp_path / "b" / f"cohort{suffix}")
    assert a[1].name == "cohort.truth.csv"
    meta_a, meta_b = (p[0].with_name("cohort.meta.json") for p in (a, b))
    for x, y in ((a[0], b[0]), (a[1], b[1]), (meta_a, meta_b)):
        assert x.read_bytes() == y.read_bytes()
    cohort = pd.read_csv(a[0]) if suffix == ".csv" else pd.read_parquet(a[0])
    assert not set(CHEXPERT14) & set(cohort.columns)
    truth = pd.read_csv(a[1])
    assert list(truth.columns) == ["case_id", *CHEXPERT14, "label_source"]
    assert set(truth["case_id"]) == set(cohort["case_id"])
    meta = json.loads(meta_a.read_text())
    assert meta["config"]["seed"] == 11 and meta["n_cases"] == 400
    assert set(meta["prevalence"]) == set(CHEXPERT14)
    assert not any(name.startswith(".") for name in (p.name for p in a[0].parent.iterdir()))  # no temp files
    # The meta file holds counts, never report text.
    blob = meta_a.read_text()
    assert not any(str(t) in blob for t in cohort["impression"].head(50))


def test_different_seed_differs():
    a, _ = synth_chest(ChestSynthConfig(n=200, seed=1))
    b, _ = synth_chest(ChestSynthConfig(n=200, seed=2))
    assert not a.frame["impression"].equals(b.frame["impression"])


def test_bad_output_suffix(tmp_path):
    with pytest.raises(InputError):
        write_synth_chest(ChestSynthConfig(n=10), tmp_path / "cohort.txt")


@pytest.mark.parametrize(
    "kw",
    [
        {"n": 0},
        {"n_sites": 27},
        {"label_noise": 1.5},
        {"bias_rate": -0.1},
        {"reports_per_patient": 0.5},
        {"bias_finding": "Nodule"},
        {"bias_finding": "No Finding"},
        {"bias_finding": "Edema", "bias_group": ("sex", "X")},
        {"bias_finding": "Edema", "bias_group": ("zip", "1")},
        {"bias_finding": "Edema", "bias_site": "site_Q"},
        {"bias_site": "site_A"},
    ],
)
def test_config_errors(kw):
    with pytest.raises(ConfigError):
        ChestSynthConfig(**kw)


# -- realism ------------------------------------------------------------------------------------------


def test_patients_have_several_studies(base):
    f = base.cohort.frame
    per = f.groupby("patient_id").size()
    assert (per > 1).any() and 1.3 < per.mean() < 1.7
    g = f.sort_values(["patient_id", "study_seq"]).groupby("patient_id")
    assert (g["sex"].nunique() == 1).all() and (g["race"].nunique() == 1).all()
    assert (g["age"].diff().dropna() >= 0).all()
    assert not f["case_id"].str.contains("P").any()


def test_prevalence_differs_across_sites_and_ages(base):
    by_site = chest_prevalence(base.truth, base.cohort, by="site")
    devices = [by_site[s]["Support Devices"] for s in site_names(4)]
    assert max(devices) - min(devices) > 0.1
    nf = [by_site[s]["No Finding"] for s in site_names(4)]
    assert max(nf) - min(nf) > 0.08
    by_age = chest_prevalence(base.truth, base.cohort, by="age_group")
    assert by_age["80+"]["Cardiomegaly"] > 2 * by_age["18-39"]["Cardiomegaly"]
    overall = chest_prevalence(base.truth)
    assert 0.3 < overall["No Finding"] < 0.6
    assert all(overall[f] > 0.005 for f in CHEXPERT14)


def test_cooccurrence(base):
    v = base.truth.values()
    ix = {f: i for i, f in enumerate(CHEXPERT14)}

    def cond(a, b):
        m = v[:, ix[b]] == 1
        return v[m, ix[a]].mean(), v[~m, ix[a]].mean()

    for a, b in (("Cardiomegaly", "Edema"), ("Pleural Effusion", "Edema"), ("Lung Opacity", "Pneumonia")):
        with_b, without_b = cond(a, b)
        assert with_b > 2 * without_b


def test_report_phenomena(base, texts):
    f = base.cohort.frame
    joined = "\n".join(texts)
    for needle in (
        "No pleural effusion or pneumothorax",
        "cannot exclude",
        "ossible",
        "versus",
        "without",
        "free of",
        "egative for",
        "unchanged",
        "again seen",
        "resolution of",
        "PTX",
        "ETT",
        "PICC",
        "effusions",
        "XXXX",
        "LUNGS:",
        "No acute cardiopulmonary",
        "cardiomegaly",
        "rib fracture",
        "pleural thickening",
        "nodule",
        "mediastin",
    ):
        assert needle.lower() in joined.lower(), needle
    assert "___" in "\n".join(f["comparison"].dropna())
    # Different sites write differently: the structured headers and the XXXX masks are site habits.
    by_site = f.assign(t=texts).groupby("site")["t"]
    headers = by_site.apply(lambda s: s.str.contains("LUNGS:", case=False).mean())
    assert headers.max() > 0.5 and headers.min() == 0.0
    lengths = by_site.apply(lambda s: s.str.len().mean())
    assert lengths.max() > 1.3 * lengths.min()


def test_typos_are_rare_but_present():
    clean, _ = synth_chest(ChestSynthConfig(n=1500, seed=4, typo_scale=0.0))
    noisy, _ = synth_chest(ChestSynthConfig(n=1500, seed=4, typo_scale=3.0))
    vocab = set(" ".join(clean.texts()).lower().split())
    new_words = set(" ".join(noisy.texts()).lower().split()) - vocab
    assert 5 < len(new_words) < 500


def test_indication_names_absent_findings(base):
    f, t = base.cohort.frame, base.truth.frame
    ind = f["indication"].fillna("").str.lower()
    asks_pna = ind.str.contains("pneumonia")
    assert asks_pna.sum() > 20
    assert (t.loc[asks_pna, "Pneumonia"] == 0).mean() > 0.5
    comp = f["comparison"].fillna("").str.lower()
    assert comp.str.contains("which showed|with ").any()


def test_text_agrees_with_truth_without_knobs(base):
    """With no noise and no bias, a stated finding is present and a negated one is absent."""
    m, t = base.mentions.values(), base.truth.values()
    said, neg = m[:, 1:] == 1, m[:, 1:] == 0
    assert said.any() and neg.any()
    assert (t[:, 1:][said] == 1).all()
    assert (t[:, 1:][neg] == 0).all()
    hedged = m[:, 1:] == -1
    # Hedged mentions are genuinely ambiguous: some true, some false.
    assert 0.2 < t[:, 1:][hedged].mean() < 0.8


def test_normal_reports_vary(base, texts):
    nf = base.truth.frame["No Finding"].to_numpy() == 1
    imps = base.cohort.frame["impression"][nf]
    assert imps.str.contains("acute", case=False).mean() > 0.4
    assert imps.nunique() > 20


# -- knobs --------------------------------------------------------------------------------------------


def test_label_noise_changes_agreement_not_truth():
    clean = synth_chest_detailed(ChestSynthConfig(n=2000, seed=5))
    noisy = synth_chest_detailed(ChestSynthConfig(n=2000, seed=5, label_noise=0.3))
    pd.testing.assert_frame_equal(clean.truth.frame, noisy.truth.frame)
    events = noisy.stats["noise_omissions"] + noisy.stats["noise_commissions"]
    assert 0.25 * 2000 < events < 0.35 * 2000
    assert noisy.stats["noise_commissions"] > 0 and noisy.stats["noise_omissions"] > 0
    assert noisy.stats["text_truth_agreement"] < clean.stats["text_truth_agreement"] - 0.15
    m, t = noisy.mentions.values(), noisy.truth.values()
    assert (t[:, 1:][m[:, 1:] == 1] == 0).any()  # some stated findings are false now


def test_bias_reduces_mentions_in_group_at_site():
    kw = {"n": 4000, "seed": 0}
    bias = {"bias_finding": "Pleural Effusion", "bias_group": ("sex", "F"), "bias_site": "site_B", "bias_rate": 0.8}
    fair_c, fair_t = synth_chest(ChestSynthConfig(**kw))
    bias_c, bias_t = synth_chest(ChestSynthConfig(**kw, **bias))
    pd.testing.assert_frame_equal(fair_t.frame, bias_t.frame)

    def rate(cohort, truth, sex):
        f = cohort.frame
        m = ((f["site"] == "site_B") & (f["sex"] == sex) & (truth.frame["Pleural Effusion"] == 1)).to_numpy()
        said = np.array([_says_positive(x, "effusion") for x in np.asarray(cohort.texts(), dtype=object)[m]])
        return said.mean(), int(m.sum())

    fair_rate, n_pos = rate(fair_c, fair_t, "F")
    bias_rate, _ = rate(bias_c, bias_t, "F")
    assert n_pos > 40
    assert fair_rate > 0.9 and bias_rate < 0.4
    # Outside the group (men at site_B) nothing changes.
    assert rate(bias_c, bias_t, "M")[0] > 0.9


def test_chest_prevalence_needs_cohort_for_groups(base):
    with pytest.raises(InputError):
        chest_prevalence(base.truth, by="site")
    with pytest.raises(InputError):
        chest_prevalence(base.truth, base.cohort, by="nope")


def test_many_sites_and_tiny_cohort():
    cohort, truth = synth_chest(ChestSynthConfig(n=1, n_sites=1))
    assert len(cohort) == 1 and len(truth) == 1
    cohort, _ = synth_chest(ChestSynthConfig(n=600, n_sites=9, seed=2))
    assert cohort.frame["site"].nunique() == 9
