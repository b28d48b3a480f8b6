"""The shortcuts that make de-identification cheap (the sentence cache, the pre-screen that skips
recognizers on sentences of report words) never change what is found."""

from __future__ import annotations

import pytest

import radtrust.deid.recognizers as recognizers
from radtrust.deid import DeidConfig, Deidentifier
from radtrust.deid.allowlist import AllowList
from radtrust.deid.recognizers import find_candidates, sentence_pieces
from radtrust.synth.chest import ChestSynthConfig, synth_chest
from radtrust.synth.deid_corpus import synthetic_phi_corpus


@pytest.fixture(scope="module")
def texts() -> list[str]:
    cohort, _ = synth_chest(ChestSynthConfig(n=300, seed=3))
    chest = [v for c in ("findings", "impression", "indication", "comparison") for v in cohort.frame[c] if isinstance(v, str)]
    return chest + [r.text for r in synthetic_phi_corpus(60, seed=5)]


def test_sentence_pieces_cover_the_text_and_never_split_an_abbreviation() -> None:
    text = "Seen by Dr. J. Smith, M.D. on Jan. 4.  The lungs are clear.\nNo effusion!"
    pieces = [text[s:e] for s, e in sentence_pieces(text)]
    assert pieces == ["Seen by Dr. J. Smith, M.D. on Jan. 4.", "The lungs are clear.", "No effusion!"]
    assert sentence_pieces("") == [] and sentence_pieces("  x") == [(0, 3)]


def test_the_cache_changes_no_result(texts: list[str]) -> None:
    cold = Deidentifier(DeidConfig(engine="radtrust"), cache_size=0)
    warm = Deidentifier(DeidConfig(engine="radtrust"), cache_size=50)  # small: cleared many times on the way
    for _ in range(2):
        for t in texts:
            assert warm.find_bounded(t) == cold.find_bounded(t)
    assert 0 < len(warm._cache) <= 50 and cold._cache == {}


def test_the_pre_screen_skips_only_sentences_without_candidates(texts: list[str], monkeypatch) -> None:
    allow = AllowList()
    screened = [t for t in texts if any(recognizers._nothing_to_find(t[s:e], allow) for s, e in sentence_pieces(t))]
    assert len(screened) > 100  # the screen does skip work on real-looking reports
    with_screen = [find_candidates(t, allow) for t in texts]
    monkeypatch.setattr(recognizers, "_nothing_to_find", lambda text, allow: False)
    assert [find_candidates(t, allow) for t in texts] == with_screen


@pytest.mark.parametrize(
    "sentence",
    [
        "Ordering Provider: Şama, Şemsinisa",  # letters outside ASCII are words, not gaps
        "discussed with john smith",
        "dr. okafor agrees",
        "Patient: white",
        "Smith was notified",
    ],
)
def test_the_pre_screen_lets_cues_and_names_through(sentence: str) -> None:
    assert not recognizers._nothing_to_find(sentence, AllowList())


def test_negative_cache_size_is_refused() -> None:
    from radtrust.errors import ConfigError

    with pytest.raises(ConfigError, match="cache_size"):
        Deidentifier(cache_size=-1)
