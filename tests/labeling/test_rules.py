"""Unit tests for the rule-based report labeler (synthetic sentences only; no shared data needed)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radtrust.data.schema import Cohort, LabelTable
from radtrust.errors import ConfigError, InputError
from radtrust.labeling.rules import RuleLabeler
from radtrust.labeling.vocab import CHESTXRAY14, CHEXPERT14

NAN = float("nan")


@pytest.fixture(scope="module")
def cx14() -> RuleLabeler:
    return RuleLabeler("chestxray14")


@pytest.fixture(scope="module")
def chexpert() -> RuleLabeler:
    return RuleLabeler("chexpert14")


def value(labeler: RuleLabeler, text: str, finding: str) -> float:
    return float(labeler.label_texts([text])[0, labeler.findings.index(finding)])


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


# ------------------------------------------------------------------ API and shapes


def test_shape_and_columns(cx14, chexpert):
    assert cx14.label_texts(["a", "b", "c"]).shape == (3, len(CHESTXRAY14))
    assert chexpert.label_texts(["a"]).shape == (1, len(CHEXPERT14))
    assert chexpert.label_source == "radtrust-rules/chexpert14@0.2"


def test_unknown_vocab_and_bad_option():
    with pytest.raises(InputError):
        RuleLabeler("radlex")
    with pytest.raises(ConfigError):
        RuleLabeler("chexpert14", likely_as="maybe")


def test_label_returns_label_table():
    frame = pd.DataFrame(
        {
            "case_id": ["a", "b"],
            "patient_id": ["p1", "p2"],
            "findings": ["Small right pleural effusion.", "No pneumothorax."],
            "impression": ["", "Normal chest."],
            "indication": ["Pneumonia?", "Cardiomegaly"],
        }
    )
    table = RuleLabeler("chestxray14").label(Cohort(frame))
    assert isinstance(table, LabelTable)
    assert table.case_ids == ["a", "b"]
    assert table.source == "radtrust-rules/chestxray14@0.2"
    v = table.values()
    cols = list(CHESTXRAY14)
    assert v[0, cols.index("Effusion")] == 1
    assert v[1, cols.index("Pneumothorax")] == 0
    # indication never makes a label
    assert math.isnan(v[0, cols.index("Pneumonia")])
    assert math.isnan(v[1, cols.index("Cardiomegaly")])


def test_empty_and_missing_text_all_nan(cx14, chexpert):
    for lab in (cx14, chexpert):
        v = lab.label_texts(["", "   ", None])
        assert np.isnan(v).all()


def test_no_mentions_is_normal(cx14, chexpert):
    assert value(cx14, "The lungs are clear.", "normal") == 1
    assert value(chexpert, "The lungs are clear.", "No Finding") == 1


# ------------------------------------------------------------------ negation


@pytest.mark.parametrize(
    "text",
    [
        "No pneumothorax.",
        "There is no pneumothorax.",
        "No evidence of pneumothorax.",
        "Negative for pneumothorax.",
        "Without pneumothorax.",
        "Lungs are clear, without pneumothorax.",
        "Pneumothorax is not seen.",
        "Pneumothorax has resolved.",
        "Free of pneumothorax.",
        "No focal consolidation, pleural effusion or pneumothorax.",
        "No consolidation, effusion, or pneumothorax identified.",
        "There are no XXXX of pneumothorax.",
        "No PTX.",
    ],
)
def test_negation(cx14, text):
    assert value(cx14, text, "Pneumothorax") == 0


def test_negated_list_covers_every_item(cx14):
    v = cx14.label_texts(["No focal consolidation, pleural effusion, or pneumothorax."])[0]
    for f in ("Consolidation", "Effusion", "Pneumothorax"):
        assert v[cx14.findings.index(f)] == 0


def test_negation_scope_ends_at_contrast(cx14):
    text = "No pneumothorax, but there is a small right pleural effusion."
    assert value(cx14, text, "Pneumothorax") == 0
    assert value(cx14, text, "Effusion") == 1


def test_negation_does_not_cross_sentences(cx14):
    text = "No pneumothorax. Small left pleural effusion."
    assert value(cx14, text, "Effusion") == 1


def test_no_change_is_not_negation(cx14):
    assert value(cx14, "No change in the moderate right pleural effusion.", "Effusion") == 1
    assert value(cx14, "No significant interval change in cardiomegaly.", "Cardiomegaly") == 1


def test_hedge_inside_negation(cx14):
    # "no opacity to suggest pneumonia" denies pneumonia; it does not hedge it
    assert value(cx14, "There is no focal airspace opacity to suggest a pneumonia.", "Pneumonia") == 0


# ------------------------------------------------------------------ uncertainty


@pytest.mark.parametrize(
    "text",
    [
        "Possible right lower lobe pneumonia.",
        "Findings may represent pneumonia.",
        "Cannot exclude pneumonia.",
        "Pneumonia cannot be excluded.",
        "Questionable pneumonia.",
        "Opacity concerning for pneumonia.",
        "Opacity suggestive of pneumonia.",
        "Atelectasis versus pneumonia.",
    ],
)
def test_uncertain(cx14, text):
    assert value(cx14, text, "Pneumonia") == -1


def test_likely_follows_option():
    text = "Left basilar opacity, likely atelectasis."
    assert value(RuleLabeler("chestxray14"), text, "Atelectasis") == 1
    assert value(RuleLabeler("chestxray14", likely_as="uncertain"), text, "Atelectasis") == -1


def test_weaker_hedge_wins(cx14):
    assert value(cx14, "Opacity may be compatible with atelectasis.", "Atelectasis") == -1


def test_first_of_a_differential_leans_positive(cx14):
    v = cx14.label_texts(["Left base atelectasis versus pneumonia."])[0]
    assert v[cx14.findings.index("Atelectasis")] == 1
    assert v[cx14.findings.index("Pneumonia")] == -1


# ------------------------------------------------------------------ comparison, severity, sections


@pytest.mark.parametrize(
    "text",
    [
        "Stable small left pleural effusion.",
        "Left pleural effusion is unchanged.",
        "Left pleural effusion is again seen.",
        "Persistent trace left effusion.",
        "Large left pleural effusion has increased.",
        "Decreased but persistent left effusion.",
    ],
)
def test_comparison_and_severity_stay_positive(cx14, text):
    assert value(cx14, text, "Effusion") == 1


def test_indication_and_comparison_sections_make_no_labels(cx14):
    text = "INDICATION: pneumonia, effusion. COMPARISON: cardiomegaly. FINDINGS: Lungs are clear."
    v = cx14.label_texts([text])[0]
    for f in ("Pneumonia", "Effusion", "Cardiomegaly"):
        assert math.isnan(v[cx14.findings.index(f)])
    assert v[cx14.findings.index("normal")] == 1


def test_history_is_not_a_finding(cx14):
    assert math.isnan(value(cx14, "History of pneumonia. Lungs are clear.", "Pneumonia"))


def test_masks_and_typos(cx14):
    assert value(cx14, "There are no XXXX of a pleural effusion.", "Effusion") == 0
    assert value(cx14, "Small right effusoin.", "Effusion") == 1
    assert value(cx14, "Right apical PTX.", "Pneumothorax") == 1
    assert value(cx14, "Normal chest x-XXXX.", "normal") == 1


def test_aggregation_positive_beats_uncertain_beats_negative(cx14):
    assert value(cx14, "No effusion. Possible effusion. Small effusion.", "Effusion") == 1
    assert value(cx14, "No effusion on the left. Possible effusion on the right.", "Effusion") == -1


# ------------------------------------------------------------------ cardiac size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The heart is enlarged.", 1),
        ("Heart size is mildly enlarged.", 1),
        ("Stable cardiomegaly.", 1),
        ("Enlarged cardiac silhouette.", 1),
        ("Borderline cardiomegaly.", 1),
        ("Heart size is normal.", 0),
        ("Normal heart size.", 0),
        ("The heart is not enlarged.", 0),
        ("Negative for cardiac enlargement.", 0),
        ("Heart size is at the upper limits of normal.", 0),
        ("The heart may be enlarged.", -1),
    ],
)
def test_cardiac_size(cx14, text, expected):
    assert value(cx14, text, "Cardiomegaly") == expected


# ------------------------------------------------------------------ summary columns


def test_chexpert_no_finding(chexpert):
    assert value(chexpert, "Right PICC line in place. Lungs clear.", "No Finding") == 1
    assert value(chexpert, "Right PICC line in place.", "Support Devices") == 1
    assert math.isnan(value(chexpert, "Small left effusion.", "No Finding"))
    assert math.isnan(value(chexpert, "Possible pneumonia.", "No Finding"))
    assert value(chexpert, "No pneumothorax or effusion.", "No Finding") == 1


def test_chestxray14_normal(cx14):
    assert value(cx14, "No acute cardiopulmonary disease. No effusion.", "normal") == 1
    assert value(cx14, "Mild cardiomegaly.", "normal") == 0
    # abnormal findings outside the 14 also make a report not normal
    assert value(cx14, "Calcified granuloma in the right upper lobe.", "normal") == 0
    assert value(cx14, "Degenerative changes of the thoracic spine.", "normal") == 0


def test_chexpert_concepts(chexpert):
    v = chexpert.label_texts(["Widened mediastinum. Acute left rib fracture. Right upper lobe mass."])[0]
    names = list(chexpert.findings)
    assert v[names.index("Enlarged Cardiomediastinum")] == 1
    assert v[names.index("Fracture")] == 1
    assert v[names.index("Lung Lesion")] == 1


def test_mentions_carry_no_text(cx14):
    ms = cx14.mentions("Small left pleural effusion. No pneumothorax.")
    assert {m.value for m in ms} == {0, 1}
    for m in ms:
        assert all(isinstance(getattr(m, f), (int, str, tuple)) for f in ("value", "start", "end", "cue"))


def test_results_do_not_depend_on_batch(cx14):
    texts = ["No effusion.", "Small effusion.", "Possible pneumonia.", ""]
    whole = cx14.label_texts(texts)
    one_by_one = np.vstack([RuleLabeler("chestxray14").label_texts([t]) for t in texts])
    assert np.array_equal(np.isnan(whole), np.isnan(one_by_one))
    assert np.array_equal(np.nan_to_num(whole, nan=9), np.nan_to_num(one_by_one, nan=9))


# ------------------------------------------------------------------ property-based

_WORDS = st.sampled_from(
    ["no", "not", "possible", "effusion", "pneumothorax", "heart", "is", "enlarged", "xxxx", "XXXX", ",", ".",
     "versus", "or", "cannot", "exclude", "FINDINGS:", "INDICATION:", "?", "stable", "normal", "mass", "nodule"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=40), _WORDS), max_size=40).map(" ".join))
def test_never_crashes_and_values_allowed(text):
    for name in ("chestxray14", "chexpert14"):
        v = RuleLabeler(name).label_texts([text])
        assert v.shape == (1, 15 if name == "chestxray14" else 14)
        ok = np.isnan(v) | np.isin(v, [1.0, 0.0, -1.0])
        assert ok.all()
        if name == "chexpert14":
            nf = v[0, 0]
            assert math.isnan(nf) or nf == 1  # No Finding is 1 or missing


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_indication_only_never_positive(text):
    v = RuleLabeler("chestxray14").label_texts(["INDICATION: " + text.replace(":", " ")])[0]
    assert not (v[:-1] == 1).any()


# ------------------------------------------------------------------ bad input: defined outcomes


def test_reports_with_nothing_to_read_are_all_empty(cx14, chexpert):
    # Empty, masks only, punctuation/numbers only, headers only, indication only: the report says nothing
    # about the image, so even the summary column (normal / No Finding) stays empty.
    texts = ["", "XXXX XXXX.", "XXXX-XXXX XXXX", "1. 2. ... ;", "FINDINGS: IMPRESSION:", "INDICATION: cough."]
    for lab in (cx14, chexpert):
        assert np.isnan(lab.label_texts(texts)).all()


def test_one_megabyte_report_completes_and_scans_bounded_windows(cx14, monkeypatch):
    # No timing assert: check instead that each cue search looks at a bounded window, so the work is
    # linear in report length even for a megabyte without a full stop.
    from radtrust.labeling import rules

    seen: list[int] = []
    pre = rules.RuleLabeler._pre_cue
    post = rules.RuleLabeler._post_cue

    def spy_pre(self, prefix, c):
        seen.append(len(prefix))
        return pre(self, prefix, c)

    def spy_post(self, suffix, c):
        seen.append(len(suffix))
        return post(self, suffix, c)

    monkeypatch.setattr(rules.RuleLabeler, "_pre_cue", spy_pre)
    monkeypatch.setattr(rules.RuleLabeler, "_post_cue", spy_post)
    unit = "small left pleural effusion and no pneumothorax with possible atelectasis "
    text = unit * (1_000_000 // len(unit))
    assert len(text) > 990_000
    v = RuleLabeler("chestxray14", cache_size=0).label_texts([text])[0]
    names = list(CHESTXRAY14)
    assert v[names.index("Effusion")] == 1 and v[names.index("Atelectasis")] == -1
    assert len(seen) > 10_000  # every mention was looked at
    assert max(seen) <= max(rules._PRE_WINDOW, rules._POST_WINDOW)


def test_megabyte_without_spaces_or_mentions(cx14):
    v = cx14.label_texts(["a" * 1_000_000, "." * 1_000_000, "xxxx " * 200_000])
    assert v.shape == (3, len(CHESTXRAY14))
    assert v[0, -1] == 1  # a (very long) word and nothing abnormal: normal
    assert np.isnan(v[1:]).all()  # punctuation only, masks only: nothing to read


@pytest.mark.parametrize(
    "text",
    [
        "Der Befund ist unauffällig. Keine Auffälligkeiten im Thorax.",
        "心脏大小正常。双肺清晰，未见明显异常。",
        "Сердце не расширено. Лёгкие без очаговых изменений.",
        "القلب طبيعي الحجم. الرئتان صافيتان.",
        "Il paziente sta bene, nessuna novità rilevante.",
    ],
)
def test_foreign_text_makes_no_positive(cx14, chexpert, text):
    for lab in (cx14, chexpert):
        v = lab.label_texts([text])[0]
        summary = lab.findings.index("normal" if lab is cx14 else "No Finding")
        others = np.delete(v, summary)
        assert not (others == 1).any() and not (others == -1).any()


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(whitelist_categories=("Lo", "Zs", "Po")), max_size=300))
def test_random_non_latin_text_never_positive(text):
    for name in ("chestxray14", "chexpert14"):
        v = RuleLabeler(name).label_texts([text])[0]
        assert not np.isin(v[:-1] if name == "chestxray14" else v[1:], [1.0, -1.0]).any()


def test_duplicate_case_ids_are_a_user_error():
    frame = pd.DataFrame({"case_id": ["a", "a"], "patient_id": ["p", "q"], "findings": ["No effusion.", "Effusion."]})
    with pytest.raises(InputError, match="row 2: duplicate case_id"):
        RuleLabeler("chexpert14").label(Cohort(frame))


def test_cache_does_not_change_results(chexpert):
    texts = ["No effusion. Small effusion.", "Possible pneumonia.", "No effusion. Small effusion."] * 3
    cached = chexpert.label_texts(texts)
    uncached = RuleLabeler("chexpert14", cache_size=0).label_texts(texts)
    assert np.array_equal(np.nan_to_num(cached, nan=9), np.nan_to_num(uncached, nan=9))
    with pytest.raises(ConfigError):
        RuleLabeler("chexpert14", cache_size=-1)


# ------------------------------------------------------------------ CheXpert conventions and language rules


def test_chexpert_likely_is_uncertain_consistent_with_is_positive(chexpert, cx14):
    assert value(chexpert, "Left basilar opacity, likely atelectasis.", "Atelectasis") == -1
    assert value(cx14, "Left basilar opacity, likely atelectasis.", "Atelectasis") == 1
    assert value(chexpert, "Opacity consistent with pneumonia.", "Pneumonia") == 1
    assert value(chexpert, "Findings compatible with pulmonary edema.", "Edema") == 1
    assert value(chexpert, "Opacity may be consistent with pneumonia.", "Pneumonia") == -1
    assert value(chexpert, "No opacity consistent with pneumonia.", "Pneumonia") == 0
    assert value(chexpert, "Borderline cardiomegaly.", "Cardiomegaly") == -1


def test_chexpert_no_finding_ignores_support_devices(chexpert):
    assert value(chexpert, "Endotracheal tube in place. No effusion.", "No Finding") == 1
    assert math.isnan(value(chexpert, "Endotracheal tube in place. Possible effusion.", "No Finding"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Normal mediastinal contours.", 0),
        ("The mediastinum is not widened.", 0),
        ("Mediastinal contours are within normal limits.", 0),
        ("No mediastinal widening.", 0),
        ("Widening of the superior mediastinum.", 1),
        ("Enlarged cardiomediastinal silhouette.", 1),
        ("The cardiomediastinal silhouette is within normal limits.", 0),
        ("Questionable mediastinal widening.", -1),
    ],
)
def test_enlarged_cardiomediastinum(chexpert, text, expected):
    assert value(chexpert, text, "Enlarged Cardiomediastinum") == expected


def test_cardiomediastinal_silhouette_is_not_cardiomegaly_in_chexpert(chexpert, cx14):
    # CheXpert files the silhouette under Enlarged Cardiomediastinum; Open-i's indexers under Cardiomegaly.
    assert math.isnan(value(chexpert, "Enlarged cardiomediastinal silhouette.", "Cardiomegaly"))
    assert value(cx14, "Enlarged cardiomediastinal silhouette.", "Cardiomegaly") == 1
    assert value(cx14, "Normal cardiomediastinal silhouette.", "Cardiomegaly") == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("LINES/TUBES: None.", 0),
        ("No support devices.", 0),
        ("Interval removal of support devices.", 0),
        ("The PICC line has been removed.", 0),
        ("ETT tip 4 cm above the carina.", 1),
        ("R IJ line tip in the SVC.", 1),
        ("LINES/TUBES: Right PICC with tip in the SVC.", 1),
    ],
)
def test_support_devices(chexpert, text, expected):
    assert value(chexpert, text, "Support Devices") == expected


@pytest.mark.parametrize(
    ("text", "finding", "expected"),
    [
        ("No evidence of PNA.", "Pneumonia", 0),
        ("RML PNA.", "Pneumonia", 1),
        ("Atelectasis versus PNA at the right base.", "Pneumonia", -1),
        ("Pneumonia at the left lung base cannot be excluded.", "Pneumonia", -1),
        ("Nodule in the left upper lobe is not excluded.", "Lung Lesion", -1),
        ("RLL airspace disease, possibly pneumonia.", "Lung Opacity", 1),
        ("RLL airspace disease, possibly pneumonia.", "Pneumonia", -1),
        ("Small effusion, possibly.", "Pleural Effusion", -1),
        ("Bibasilar collapse.", "Atelectasis", 1),
        ("Nodular density in the right upper lobe.", "Lung Lesion", 1),
        ("Minimal fibrosis in the right apex, may be due to radiation.", "Lung Opacity", float("nan")),
    ],
)
def test_language_rules(chexpert, text, finding, expected):
    assert same(value(chexpert, text, finding), expected)


def test_cause_hedge_does_not_hedge_the_finding(cx14):
    assert value(cx14, "Minimal fibrosis in the right apex, may be due to radiation.", "Fibrosis") == 1
