"""Rule-based recognizers for the HIPAA Safe-Harbor identifiers found in radiology reports.

One module per identifier kind (:mod:`.names`, :mod:`.dates`, :mod:`.ages`, :mod:`.contacts`, :mod:`.ids`,
:mod:`.addresses`, :mod:`.institutions`), each a few compiled regular expressions plus a little context logic
behind the :class:`~radtrust.deid.recognizers.base.Recognizer` protocol. Together they return *candidates*
with a strength, and :func:`resolve` applies the allow-list and merges them into disjoint spans.

Speed: a regex tried at every character of a report is what makes rule-based scrubbers slow. Here most
expressions are tried only where a trigger sits (a cue word, a month name, a digit run, a keyword), found
by one pass that indexes the words and digit runs of the text; the few that scan the whole text start
with a character class, which lets the regex engine skip ahead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from radtrust.deid.allowlist import AllowList, inside_clinical_code, touches_protected
from radtrust.deid.bounds import sentence_ends
from radtrust.deid.recognizers.addresses import AddressRecognizer
from radtrust.deid.recognizers.ages import AGE_WORD_TRIGGERS, AgeRecognizer
from radtrust.deid.recognizers.base import KINDS, STRONG, UP, WEAK, Candidate, Doc, Recognizer, Span
from radtrust.deid.recognizers.contacts import URL_GATE_RE, EmailUrlRecognizer, PhoneRecognizer
from radtrust.deid.recognizers.dates import DateRecognizer
from radtrust.deid.recognizers.ids import IdRecognizer
from radtrust.deid.recognizers.institutions import AffiliationRecognizer, InstitutionRecognizer
from radtrust.deid.recognizers.names import (
    _CC_TRIGGERS,
    _COLON_TRIGGERS,
    _PATIENT_TRIGGERS,
    _VERBAL_TRIGGERS,
    TITLE_WORDS,
    NameRecognizer,
    _all_allowed,
    _propagate_names,
)

#: The default recognizers, in the order they run on a sentence: a later one may read what the earlier ones
#: found (names in a header field, an affiliation after a name), and the order of the candidates is kept.
RECOGNIZERS: tuple[Recognizer, ...] = (
    DateRecognizer(),
    AgeRecognizer(),
    PhoneRecognizer(),
    EmailUrlRecognizer(),
    IdRecognizer(),
    AddressRecognizer(),
    InstitutionRecognizer(),
    NameRecognizer(),
    AffiliationRecognizer(),
)


#: When overlapping candidates of different kinds tie on length, the earlier kind names the merged span.
_KIND_PRIORITY = {k: i for i, k in enumerate(("EMAIL", "URL", "DATE", "PHONE", "AGE", "ID", "ADDRESS", "INSTITUTION", "NAME"))}


def find_candidates(text: str, allow: AllowList | None = None, cache: dict[str, tuple[Candidate, ...]] | None = None, cache_size: int = 0) -> list[Candidate]:
    """Every recognizer's proposals for ``text``, unfiltered and possibly overlapping.

    The recognizers look at one sentence at a time (:func:`sentence_pieces`): an identifier never crosses
    a sentence end, so this loses nothing, and it lets ``cache`` (a dict from sentence to its candidates,
    cleared when it holds ``cache_size``) skip the sentences seen before. Radiology reports repeat their
    sentences ("No pneumothorax."), so most sentences of an archive are looked up, not scanned. Only the
    propagation of a found name to its other mentions looks at the whole text. Results never depend on
    the cache. (Whole texts seen before are the caller's to remember: the engine keeps their final spans.)"""
    allow = allow or AllowList()
    cached = cache if cache_size > 0 else None
    if _nothing_to_find(text, allow):
        # no recognizer can fire anywhere in it, so on none of its sentences either (the screen only looks at
        # words and characters): about half the sections of an archive end here, unsplit
        return []
    out: list[Candidate] = []
    for s, e in sentence_pieces(text):
        piece = text[s:e]
        found = cached.get(piece) if cached is not None else None
        if found is None:
            found = tuple(_piece_candidates(piece, allow))
            if cached is not None:
                remember(cached, cache_size, piece, found)
        out.extend(found if s == 0 else (Candidate(s + c.start, s + c.end, c.kind, c.strength, c.source) for c in found))
    names = [c for c in out if c.kind == "NAME"]
    if names:
        out.extend(_with_initials(text, _propagate_names(Doc.of(text), names, allow)))
    return out


def remember(cache: dict[str, Any], size: int, key: str, value: Any) -> None:
    """Put ``value`` in ``cache``, clearing it first when it holds ``size`` entries (the policy of every
    de-identification cache)."""
    if len(cache) >= size:
        cache.clear()  # cheaper than an LRU's bookkeeping on every hit; refills within a chunk
    cache[key] = value


_SCREEN_RE = re.compile(r"[\d@]")
_LETTERS_RE = re.compile(r"[^\W\d_]+")  # any script: "Şama" is one word, not "ama"
# lower-case words after which a lower-case name is read ("dr. smith", "discussed with john smith"), and the
# verbs that make the word before them a name ("Smith was notified")
_LOWER_CUES = TITLE_WORDS | _VERBAL_TRIGGERS | _PATIENT_TRIGGERS | _CC_TRIGGERS | frozenset("notified paged informed contacted called aware".split())


def _nothing_to_find(text: str, allow: AllowList) -> bool:
    """A cheap pre-screen: True when no recognizer can fire on ``text``, so none is run.

    Every date, phone, ID, street address and postcode holds a digit, an e-mail an "@", a web address
    passes the URL gate; an age holds a digit or a number word that only ages over 89 need ("ninety",
    "hundred"). A name, institution or address needs a capitalised word that is not report
    vocabulary (the recognizers drop report words from both ends of what they find), or a cue that reads a
    lower-case name after it ("dr.", "discussed with", "Patient:"). So a sentence of lower-case words
    and capitalised report words alone ("No pleural effusion or pneumothorax.") holds no identifier;
    anything else, a typo or an abbreviation in capitals included, goes through every recognizer. The
    test suite checks on every corpus it has that a screened sentence has no candidate."""
    if _SCREEN_RE.search(text) is not None or URL_GATE_RE.search(text) is not None:
        return False
    safe = allow.screened_words
    unknown = set(_LETTERS_RE.findall(text)).difference(safe)
    if not unknown:
        return True
    marked = ":" in text or "#" in text or "=" in text
    is_clinical = allow.is_clinical_word
    for w in unknown:
        lw = w.lower()
        if lw in _LOWER_CUES or lw in AGE_WORD_TRIGGERS or (marked and lw in _COLON_TRIGGERS):
            return False  # (an age in words, "ninety-three years old", holds no digit)
        if lw != w and not is_clinical(w):
            return False
        if lw not in _COLON_TRIGGERS and len(safe) < _SCREENED_WORDS_MAX:
            safe.add(w)  # safe in any sentence: a colon trigger is safe only where no ":" follows, so never kept
    return True


#: at most this many words remembered as screened (a vocabulary, not an archive: names are never safe)
_SCREENED_WORDS_MAX = 200_000


def sentence_pieces(text: str) -> list[tuple[int, int]]:
    """``text`` cut at its sentence ends (:func:`~radtrust.deid.bounds.sentence_ends`), each piece without
    the white space before it: the same sentence is the same piece wherever it stands."""
    out: list[tuple[int, int]] = []
    start = 0
    n = len(text)
    for end in sentence_ends(text):
        out.append((start, end))
        start = end
        while start < n and text[start].isspace():
            start += 1
    if start < n:
        out.append((start, n))
    return out


def _piece_candidates(text: str, allow: AllowList) -> list[Candidate]:
    """What the recognizers propose inside one sentence (everything but the propagation of names)."""
    if _nothing_to_find(text, allow):
        return []
    doc = Doc.of(text)
    out: list[Candidate] = []
    for recognizer in RECOGNIZERS:
        out.extend(recognizer.find(doc, allow, out))
    return _with_initials(text, out)


_INITIAL_BEFORE_RE = re.compile(rf"(?<![\w.])[{UP}]\. ?\Z")


def _with_initials(text: str, cands: list[Candidate]) -> list[Candidate]:
    """Extend a name over an initial right before it ("J. Smith" when only "Smith" was found)."""
    out = []
    for c in cands:
        if c.kind == "NAME" and c.start >= 2:
            m = _INITIAL_BEFORE_RE.search(text, max(0, c.start - 3), c.start)
            if m is not None:
                c = Candidate(m.start(), c.end, c.kind, c.strength, c.source)
        out.append(c)
    return out


_ALREADY_MASKED_RE = re.compile(r"(?:[Xx*_#]{2,}|\[[A-Z>0-9+-]+\])(?:[ ,./-]+(?:[Xx*_#]{2,}|\[[A-Z>0-9+-]+\]))*")


def resolve(text: str, candidates: Iterable[Candidate], allow: AllowList | None = None, kinds: Iterable[str] = KINDS) -> list[Span]:
    """Apply the allow-list to candidates and merge overlapping ones into sorted, disjoint spans.

    A merged span covers the union of its members and takes the kind of the longest member, so a name
    inside an institution ("St. Mary's Hospital") leaves one INSTITUTION span.
    """
    allow = allow or AllowList()
    wanted = set(kinds)
    cands = [c for c in candidates if c.kind in wanted and c.end > c.start]
    if not cands:
        return []
    user = allow.user_spans(text)
    firm = {(c.start, c.end) for c in cands if c.strength > WEAK}
    kept: list[Candidate] = []
    for c in cands:
        if any(s <= c.start and c.end <= e for s, e in user):
            continue
        if _ALREADY_MASKED_RE.fullmatch(text, c.start, c.end):
            continue  # "XXXX", "XXXX, XXXX", "[NAME]": scrubbed before, nothing left to hide
        if c.strength == WEAK and (c.start, c.end) not in firm and touches_protected(text, c.start, c.end):
            continue
        if c.strength < STRONG and inside_clinical_code(text, c.start, c.end):
            continue  # "Staging T2N1M0": a stage, not a postcode (a cue's value still counts)
        weak_evidence = c.strength < STRONG if c.kind == "NAME" else c.strength == WEAK and c.kind in ("INSTITUTION", "ADDRESS")
        if weak_evidence and _all_allowed(text, c.start, c.end, allow):
            continue
        kept.append(c)
    kept.sort(key=lambda c: (c.start, -c.end))
    spans: list[Span] = []
    group: list[Candidate] = []
    end = -1
    for nxt in [*kept, None]:  # None closes the last group
        if nxt is not None and group and nxt.start < end:
            group.append(nxt)
            end = max(end, nxt.end)
            continue
        if group:
            best = max(group, key=lambda g: (g.end - g.start, g.strength, -_KIND_PRIORITY[g.kind], g.source == "radtrust"))
            spans.append(Span(group[0].start, end, best.kind, best.source))
        if nxt is not None:
            group, end = [nxt], nxt.end
    return spans
