"""The synthetic de-identification corpus: exact offsets, every kind present, determinism, clean text."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from radtrust.synth.deid_corpus import PHI_KINDS, PhiReport, synthetic_phi_corpus


@pytest.fixture(scope="module")
def corpus() -> list[PhiReport]:
    return synthetic_phi_corpus(200, seed=0)


def test_offsets_match_injected_values(corpus):
    for rep in corpus:
        for s in rep.phi:
            assert 0 <= s.start < s.end <= len(rep.text)
            assert rep.text[s.start : s.end] == s.value, (rep.report_id, s)
            assert s.value == s.value.strip() and s.kind in PHI_KINDS
        for a, b in rep.clinical:
            assert 0 <= a < b <= len(rep.text)
        assert len(rep.clinical) == len(rep.clinical_labels)


def test_spans_are_what_their_kind_says(corpus):
    for rep in corpus:
        for s in rep.phi:
            v = s.value
            if s.kind == "AGE":
                assert v.isdigit() and int(v) > 89
            elif s.kind == "EMAIL":
                assert "@" in v
            elif s.kind in ("PHONE", "ID"):
                assert sum(ch.isdigit() for ch in v) >= 4
            elif s.kind == "DATE":
                assert re.search(r"\d", v) and (re.search(r"[A-Za-z]", v) or len(re.findall(r"\d", v)) >= 4)
            elif s.kind == "NAME":
                # the name only: no title before it, no credential after it
                assert not re.match(r"(?i)(dr|mr|mrs|ms|miss)\.? ", v) and not re.search(r"(?i),? (md|m\.d\.|do|rn)$", v)


def test_every_kind_present_many_times(corpus):
    counts = Counter(s.kind for rep in corpus for s in rep.phi)
    for kind in PHI_KINDS:
        assert counts[kind] >= 20, (kind, counts)
    per_report = [len(rep.phi) for rep in corpus]
    assert min(per_report) >= 5 and max(per_report) <= 13
    # identifiers at the very start and the very end of some texts
    assert sum(any(s.start == 0 for s in rep.phi) for rep in corpus) >= 10
    assert sum(any(s.end == len(rep.text) for s in rep.phi) for rep in corpus) >= 40


def test_kinds_match_the_engine():
    deid = pytest.importorskip("radtrust.deid")
    if not hasattr(deid, "KINDS"):
        pytest.skip("engine not there yet")
    assert tuple(deid.KINDS) == PHI_KINDS


def test_formats_are_varied(corpus):
    fmts = {k: {s.fmt for rep in corpus for s in rep.phi if s.kind == k} for k in PHI_KINDS}
    assert len(fmts["NAME"]) >= 8 and len(fmts["DATE"]) >= 12 and len(fmts["PHONE"]) >= 8
    variants = {s.variant.split("+")[0] for rep in corpus for s in rep.phi if s.kind == "NAME"}
    assert {"en_US", "de_DE", "zh_CN", "yo_NG", "invented", "common-word"} <= variants
    labels = Counter(lab for rep in corpus for lab in rep.clinical_labels)
    for lab in ("eponym", "clock", "system", "measure", "spine", "time", "year", "age", "header", "word"):
        assert labels[lab] > 0, lab


def test_deterministic_per_seed():
    a = synthetic_phi_corpus(30, seed=3)
    b = synthetic_phi_corpus(30, seed=3)
    assert [r.text for r in a] == [r.text for r in b]
    assert [r.phi for r in a] == [r.phi for r in b]
    assert [r.clinical for r in a] == [r.clinical for r in b]


def test_different_across_seeds():
    a = synthetic_phi_corpus(30, seed=1)
    b = synthetic_phi_corpus(30, seed=2)
    assert sum(x.text == y.text for x, y in zip(a, b)) == 0


def test_no_masks_left(corpus):
    for rep in corpus:
        assert "XXXX" not in rep.text and "___" not in rep.text


def test_clinical_spans_do_not_overlap_identifiers(corpus):
    for rep in corpus:
        marks = bytearray(len(rep.text))
        for s in rep.phi:
            marks[s.start : s.end] = b"\x01" * (s.end - s.start)
        for a, b in rep.clinical:
            assert not any(marks[a:b]), (rep.report_id, rep.text[a:b])


def test_identifier_spans_do_not_overlap_each_other(corpus):
    for rep in corpus:
        spans = sorted((s.start, s.end) for s in rep.phi)
        assert all(b0 <= a1 for (_, b0), (a1, _) in zip(spans, spans[1:]))


def test_empty_corpus():
    assert synthetic_phi_corpus(0) == []
