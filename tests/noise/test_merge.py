import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.proportion import proportion_confint

from radtrust.data.readers import read_labels
from radtrust.data.schema import LABEL_SOURCE_COLUMN, LabelTable
from radtrust.errors import InputError
from radtrust.noise import merge_io
from radtrust.noise.corrections import HISTORY_COLUMNS, read_corrections, read_history
from radtrust.noise.files import is_internal
from radtrust.noise.merge import apply_history, merge_corrections
from radtrust.noise.merge_io import merge_files
from radtrust.noise.review_stats import estimate_noise_from_random_slice

FINDINGS = ["Edema", "Effusion", "Pneumothorax"]
AUTO = "radtrust-rules/chexpert14@0.2"
T0 = pd.Timestamp("2024-05-01", tz="UTC")


def auto_table(n=4, values=None):
    ids = [f"PAT-{i:04d}-SECRET" for i in range(n)]
    if values is None:
        values = np.tile([[1.0, np.nan, 0.0]], (n, 1))
    return LabelTable.from_matrix(ids, FINDINGS, np.asarray(values, dtype=float), AUTO)


def queue(labels, rows):
    """A returned queue: ``rows`` = [(case index, {finding: label or ""}, annotator, reviewed_at)]."""
    out = []
    for i, cells, annot, when in rows:
        row = {"case_id": labels.case_ids[i], "report": "FINDINGS: secret report text", "findings_in_doubt": "Edema;Effusion"}
        row.update({f: cells.get(f, "") for f in FINDINGS})
        row.update({"annotator_id": annot, "reviewed_at": when})
        out.append(row)
    return pd.DataFrame(out, columns=["case_id", "report", "findings_in_doubt", *FINDINGS, "annotator_id", "reviewed_at"])


def long(labels, rows):
    """Long corrections: ``rows`` = [(case index, finding, label, annotator, reviewed_at)]."""
    return pd.DataFrame(
        [{"case_id": labels.case_ids[i], "finding": f, "label": lab, "annotator_id": a, "reviewed_at": w} for i, f, lab, a, w in rows],
        columns=["case_id", "finding", "label", "annotator_id", "reviewed_at"],
    )


def write(frame, path):
    frame.to_csv(path, index=False)
    return path


def cell(table, i, finding):
    v = table.frame.loc[i, finding]
    return None if pd.isna(v) else int(v)


def test_wide_queue_reads_reviewed_rows_and_skips_unreviewed(tmp_path):
    lt = auto_table()
    q = queue(lt, [(0, {"Edema": "0", "Pneumothorax": "1"}, "dr-a", "2024-05-01"), (1, {}, "", ""), (2, {"Effusion": "-1"}, "dr-b", "2024-05-02T10:30:00+02:00")])
    corr = read_corrections(write(q, tmp_path / "c.csv"), FINDINGS)
    assert corr.attrs["n_rows_read"] == 3 and corr.attrs["n_rows_skipped_unreviewed"] == 1
    assert len(corr) == 6  # two reviewed rows, every finding column
    first = corr[corr["row"] == 1].set_index("finding")["label"]
    assert first.to_dict() == {"Edema": 0, "Effusion": 0, "Pneumothorax": 1}  # empty cell of a reviewed row = 0
    assert (corr["source"] == "expert").all()
    assert corr.loc[corr["row"] == 3, "reviewed_at"].iloc[0] == pd.Timestamp("2024-05-02T08:30:00", tz="UTC")
    assert "report" not in corr.columns and "findings_in_doubt" not in corr.columns


def test_prefilled_unsigned_rows_are_unreviewed_but_edited_ones_are_an_error(tmp_path):
    lt = auto_table()
    untouched = queue(lt, [(0, {"Edema": "1", "Pneumothorax": "0"}, "", ""), (1, {"Edema": "0"}, "dr-a", "2024-05-01")])
    corr = read_corrections(write(untouched, tmp_path / "c.csv"), FINDINGS, current=lt)
    assert corr.attrs["n_rows_skipped_unreviewed"] == 1 and set(corr["row"]) == {2}
    edited = queue(lt, [(0, {"Edema": "0", "Pneumothorax": "0"}, "", "")])
    with pytest.raises(InputError, match=r"row 1: labels differ from the current labels"):
        read_corrections(write(edited, tmp_path / "e.csv"), FINDINGS, current=lt)


def test_long_format_with_source_column(tmp_path):
    lt = auto_table()
    f = long(lt, [(0, "Edema", 0, "dr-a", "2024-05-01"), (3, "Effusion", 1, "dr-b", "2024-05-03")])
    f["source"] = ["expert-panel", ""]
    corr = read_corrections(write(f, tmp_path / "c.csv"), FINDINGS)
    assert corr["source"].tolist() == ["expert-panel", "expert"] and corr["label"].tolist() == [0, 1]
    assert corr["row"].tolist() == [1, 2]


def test_expert_wins_and_rows_get_expert_provenance():
    lt = auto_table()
    corr = long(lt, [(0, "Edema", 0, "dr-a", "2024-05-01"), (0, "Effusion", 1, "dr-a", "2024-05-01"), (2, "Edema", 1, "dr-a", "2024-05-01")])
    res = merge_corrections(lt, corr, batch="b1", merged_at=T0)
    out = res.labels
    assert cell(out, 0, "Edema") == 0 and cell(out, 0, "Effusion") == 1 and cell(out, 2, "Edema") == 1
    assert out.frame[LABEL_SOURCE_COLUMN].tolist() == ["expert", AUTO, "expert", AUTO]
    assert out.source == f"expert+{AUTO}"
    s = res.summary
    assert (s["n_cases_reviewed"], s["n_cells_reviewed"], s["n_cells_changed"]) == (2, 3, 2)
    assert s["changed_by_finding"] == {"Edema": 1, "Effusion": 1}
    assert s["n_annotators"] == 1 and s["conflicting_cells"] == 0 and s["kappa"] is None
    h = res.history
    assert list(h.columns) == list(HISTORY_COLUMNS) and is_internal(h)
    confirm = h[(h["case_id"] == lt.case_ids[2]) & (h["finding"] == "Edema")].iloc[0]
    assert not confirm["changed"] and confirm["old_label"] == 1 and confirm["new_label"] == 1  # confirmations recorded


def test_empty_automatic_label_confirmed_absent_is_not_a_change():
    lt = auto_table()
    res = merge_corrections(lt, long(lt, [(0, "Effusion", 0, "dr-a", "2024-05-01")]), merged_at=T0)
    row = res.history.iloc[0]
    assert pd.isna(row["old_label"]) and row["new_label"] == 0 and not row["changed"]
    assert cell(res.labels, 0, "Effusion") == 0


def test_latest_review_wins_and_conflicts_are_counted():
    lt = auto_table()
    corr = long(
        lt,
        [
            (0, "Edema", 0, "dr-b", "2024-05-03"),  # later review, earlier row: wins
            (0, "Edema", 1, "dr-a", "2024-05-01"),
            (1, "Edema", 0, "dr-a", "2024-05-01"),
            (1, "Edema", 0, "dr-b", "2024-05-02"),  # agreement: no conflict
        ],
    )
    res = merge_corrections(lt, corr, merged_at=T0)
    assert cell(res.labels, 0, "Edema") == 0
    h = res.history.set_index(["case_id", "finding"])
    first = h.loc[(lt.case_ids[0], "Edema")]
    assert first["annotator_id"] == "dr-b" and first["n_reviews"] == 2 and first["conflicting"]
    assert res.summary["conflicting_cells"] == 1 and res.summary["n_annotators"] == 2 and len(res.history) == 2


def test_earlier_batch_with_a_later_review_time_keeps_winning():
    lt = auto_table()
    first = merge_corrections(lt, long(lt, [(0, "Edema", 0, "dr-a", "2024-05-05")]), batch="b1", merged_at=T0)
    late_but_older = long(lt, [(0, "Edema", -1, "dr-b", "2024-05-01")])
    second = merge_corrections(first.labels, late_but_older, first.history, batch="b2", merged_at=T0 + pd.Timedelta(days=9))
    assert cell(second.labels, 0, "Edema") == 0
    assert second.summary["conflicting_cells"] == 1 and second.summary["n_cells_changed"] == 0


def test_kappa_reported_for_annotator_pairs_with_enough_overlap():
    rng = np.random.default_rng(0)
    lt = auto_table(n=30)
    a = rng.choice([1, 0, -1], size=30)
    b = np.where(rng.random(30) < 0.8, a, rng.choice([1, 0, -1], size=30))
    corr = long(lt, [(i, "Edema", int(a[i]), "dr-a", "2024-05-01") for i in range(30)] + [(i, "Edema", int(b[i]), "dr-b", "2024-05-02") for i in range(30)])
    res = merge_corrections(lt, corr, merged_at=T0)
    assert res.summary["kappa"] == pytest.approx(cohen_kappa_score(a, b))
    assert res.summary["kappa_pairs"][0]["annotators"] == [1, 2] and res.summary["kappa_pairs"][0]["n_cells"] == 30
    assert "dr-a" not in str(res.summary)
    few = merge_corrections(lt, corr[corr["case_id"].isin(lt.case_ids[:19])], merged_at=T0)
    assert few.summary["kappa"] is None  # fewer than 20 shared cells


def test_history_accumulates_across_two_merges_in_files(tmp_path):
    lt = auto_table()
    labels = tmp_path / "labels.csv"
    lt.frame.to_csv(labels, index=False)
    c1 = write(queue(lt, [(0, {"Edema": "0"}, "dr-a", "2024-05-01"), (1, {"Edema": "1"}, "dr-a", "2024-05-01")]), tmp_path / "batch1.csv")
    s1 = merge_files(c1, labels, labels)  # in place
    assert s1["history"] == str(tmp_path / "labels.history.csv") and s1["n_cells_reviewed"] == 6
    c2 = write(long(lt, [(2, "Pneumothorax", 1, "dr-b", "2024-06-01")]), tmp_path / "batch2.csv")
    s2 = merge_files(c2, labels, tmp_path / "merged.parquet")
    hist = read_history(tmp_path / "merged.history.csv")
    assert len(hist) == 7 and hist["batch"].nunique() == 2 and hist["batch"].iloc[-1].startswith("batch2.csv@")
    assert int((~hist["changed"]).sum()) == 5  # unchanged confirmations recorded
    assert is_internal(tmp_path / "merged.history.csv")
    merged = read_labels(tmp_path / "merged.parquet")
    assert merged.frame[LABEL_SOURCE_COLUMN].tolist() == ["expert", "expert", "expert", AUTO]
    assert s2["n_history_cells"] == 6 and s2["n_history_cells_restored"] == 0
    with pytest.raises(InputError, match="already merged"):
        merge_files(c2, tmp_path / "merged.parquet", tmp_path / "again.csv")
    text = (tmp_path / "labels.history.csv").read_text() + (tmp_path / "labels.csv").read_text()
    assert "secret report text" not in text


def test_apply_history_reapplies_expert_labels_onto_a_fresh_table():
    lt = auto_table()
    first = merge_corrections(lt, long(lt, [(0, "Edema", 0, "dr-a", "2024-05-01"), (1, "Effusion", 1, "dr-a", "2024-05-01")]), batch="b1", merged_at=T0)
    second = merge_corrections(first.labels, long(lt, [(0, "Edema", -1, "dr-b", "2024-05-09")]), first.history, batch="b2", merged_at=T0)
    fresh = LabelTable.from_matrix(lt.case_ids[:1] + ["NEW-CASE"], FINDINGS, np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]), "rules@0.3")
    out = apply_history(fresh, second.history)
    assert cell(out, 0, "Edema") == -1  # the latest expert label
    assert cell(out, 0, "Effusion") == 1 and cell(out, 1, "Edema") == 0
    assert out.frame[LABEL_SOURCE_COLUMN].tolist() == ["expert", "rules@0.3"]
    # In merge_corrections the history is re-applied first, and case 1's cell is counted as skipped.
    res = merge_corrections(fresh, long(lt, [(0, "Pneumothorax", 1, "dr-c", "2024-06-01")]), second.history, merged_at=T0)
    assert cell(res.labels, 0, "Edema") == -1 and res.summary["n_history_cells_restored"] == 1
    assert res.summary["n_history_cells_skipped"] == 1 and res.summary["n_history_cases_skipped"] == 1


def test_random_slice_estimate_matches_wilson_and_is_seeded():
    lt = auto_table(n=14)
    rows = []
    for i in range(10):  # random slice: cases 0-2 have one changed label (Edema 1 -> 0), others confirmed
        rows += [(i, "Edema", 0 if i < 3 else 1, "dr-a", "2024-05-01"), (i, "Pneumothorax", 0, "dr-a", "2024-05-01")]
    rows += [(i, "Edema", 0, "dr-a", "2024-05-01") for i in range(10, 14)]  # score-selected: all changed
    res = merge_corrections(lt, long(lt, rows), merged_at=T0)
    plan = {
        "radtrust_release": "internal-only",
        "cases": [{"case_id": c, "selection": "random_slice" if i < 10 else "score", "inclusion_probability": 0.1} for i, c in enumerate(lt.case_ids)],
        "findings": FINDINGS,
        "n_cohort": 100,
    }
    est = estimate_noise_from_random_slice(res.history, plan)
    assert est["n_cases"] == 10 and est["n_cells"] == 20
    assert est["cases_with_changed_label"]["share"] == pytest.approx(0.3)
    assert est["cases_with_changed_label"]["ci95"] == pytest.approx(list(proportion_confint(3, 10, alpha=0.05, method="wilson")))
    cells = est["cells_changed"]
    assert cells["share"] == pytest.approx(0.15) and cells["ci95"][0] <= 0.15 <= cells["ci95"][1]
    assert est["by_finding"]["Edema"]["share"] == pytest.approx(0.3) and est["by_finding"]["Pneumothorax"]["n_changed"] == 0
    assert estimate_noise_from_random_slice(res.history, plan) == est  # seeded bootstrap
    assert is_internal(est)
    none = estimate_noise_from_random_slice(res.history, {"cases": [{"case_id": "other", "selection": "random_slice"}]})
    assert none["n_cases"] == 0 and "note" in none


def test_merge_files_adds_the_estimate_with_a_plan(tmp_path):
    import json

    lt = auto_table()
    labels = tmp_path / "labels.csv"
    lt.frame.to_csv(labels, index=False)
    c = write(queue(lt, [(0, {"Edema": "0"}, "dr-a", "2024-05-01"), (1, {"Edema": "1"}, "dr-a", "2024-05-01")]), tmp_path / "c.csv")
    plan = tmp_path / "queue.plan.json"
    plan.write_text(
        json.dumps(
            {"radtrust_release": "internal-only", "cases": [{"case_id": x, "selection": "random_slice", "inclusion_probability": 0.5} for x in lt.case_ids[:2]], "findings": FINDINGS, "n_cohort": 4}
        )
    )
    s = merge_files(c, labels, tmp_path / "out.csv", plan_path=plan)
    assert s["noise_estimate"]["n_cases"] == 2 and s["noise_estimate"]["cases_with_changed_label"]["n_changed"] == 1
    assert "noise_estimate" not in merge_files(write(long(lt, [(3, "Edema", 0, "dr-a", "2024-05-01")]), tmp_path / "d.csv"), labels, tmp_path / "out2.csv")


def _message(tmp_path, frame, current=None):
    lt = auto_table()
    with pytest.raises(InputError) as e:
        corr = read_corrections(write(frame, tmp_path / "bad.csv"), FINDINGS, current=current)
        merge_corrections(lt, corr)
    msg = str(e.value)
    assert "\n" not in msg and "PAT-" not in msg and "dr-" not in msg and "secret" not in msg
    return msg


@pytest.mark.parametrize(
    "edit,expected",
    [
        (lambda q: q.rename(columns={"Effusion": "Efusion"}), "column 'Efusion' is not a finding"),
        (lambda q: q.assign(Edema=["1", "2", "0"]), "row 2, column 'Edema': label must be 1, 0, -1"),
        (lambda q: q.assign(annotator_id=["dr-a", "", "dr-a"]), "row 2, column 'annotator_id': empty"),
        (lambda q: q.assign(reviewed_at=["2024-05-01", "2024-05-01", "yesterday"]), "row 3, column 'reviewed_at': not an ISO 8601"),
        (lambda q: q.assign(reviewed_at=["2024-05-01", "", "2024-05-01"]), "row 2, column 'reviewed_at': empty"),
        (lambda q: q.drop(columns=["case_id"]), "missing column 'case_id'"),
        (lambda q: q.assign(case_id=["PAT-0000-SECRET", "PAT-9999-UNKNOWN", "PAT-0001-SECRET"]), r"row 2: case not in the label table .*1 such rows"),
    ],
)
def test_bad_wide_input_names_row_and_column_without_ids(tmp_path, edit, expected):
    lt = auto_table()
    q = queue(lt, [(i, {"Edema": "1"}, "dr-a", "2024-05-01") for i in range(3)])
    assert re.search(expected, _message(tmp_path, edit(q)))


@pytest.mark.parametrize(
    "edit,expected",
    [
        (lambda f: f.assign(label=[1, None]), "row 2, column 'label': empty"),
        (lambda f: f.assign(finding=["Edema", "Cardiomegaly"]), "row 2, column 'finding': not a finding"),
        (lambda f: f.assign(annotator_id=[None, "dr-a"]), "row 1, column 'annotator_id': empty"),
    ],
)
def test_bad_long_input_names_row_and_column_without_ids(tmp_path, edit, expected):
    lt = auto_table()
    f = long(lt, [(0, "Edema", 0, "dr-a", "2024-05-01"), (1, "Edema", 1, "dr-a", "2024-05-01")])
    assert expected in _message(tmp_path, edit(f))


def test_bad_corrections_write_nothing(tmp_path):
    lt = auto_table()
    labels = tmp_path / "labels.csv"
    lt.frame.to_csv(labels, index=False)
    before = labels.read_bytes()
    bad = write(queue(lt, [(0, {"Edema": "7"}, "dr-a", "2024-05-01")]), tmp_path / "c.csv")
    for out in (tmp_path / "out.csv", labels):
        with pytest.raises(InputError, match="row 1, column 'Edema'"):
            merge_files(bad, labels, out)
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "out.history.csv").exists()
    assert labels.read_bytes() == before and not (tmp_path / "labels.history.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv", "labels.csv"]  # no temporary files left


def test_failed_table_write_leaves_no_history(tmp_path, monkeypatch):
    lt = auto_table()
    labels = tmp_path / "labels.csv"
    lt.frame.to_csv(labels, index=False)
    c = write(long(lt, [(0, "Edema", 0, "dr-a", "2024-05-01")]), tmp_path / "c.csv")

    def boom(frame, target):
        raise OSError("disk full")

    monkeypatch.setattr(merge_io, "write_table", boom)
    with pytest.raises(OSError):
        merge_files(c, labels, tmp_path / "out.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv", "labels.csv"]


label_values = st.sampled_from([1.0, 0.0, -1.0, np.nan])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(label_values, min_size=3, max_size=3), min_size=1, max_size=8), st.data())
def test_confirming_corrections_change_nothing_but_are_recorded(values, data):
    lt = auto_table(n=len(values), values=values)
    vals = lt.values()
    cells = [(i, j) for i in range(len(values)) for j in range(3) if not np.isnan(vals[i, j])]
    picked = data.draw(st.lists(st.sampled_from(cells), unique=True, max_size=len(cells))) if cells else []
    corr = long(lt, [(i, FINDINGS[j], int(vals[i, j]), "dr-a", "2024-05-01") for i, j in picked])
    res = merge_corrections(lt, corr, merged_at=T0)
    np.testing.assert_array_equal(res.labels.values(), vals)
    assert len(res.history) == len(picked) and not res.history["changed"].any()
    assert res.summary["n_cells_changed"] == 0 and res.summary["n_cells_reviewed"] == len(picked)
    reviewed = {lt.case_ids[i] for i, _ in picked}
    src = res.labels.frame.set_index("case_id")[LABEL_SOURCE_COLUMN]
    assert all((src[c] == "expert") == (c in reviewed) for c in lt.case_ids)
