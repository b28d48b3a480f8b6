"""Rule-based radiology report labeler: finding mentions, negation and uncertainty, in the NegEx family.

Mentions are found with one compiled alternation over the phrase lists of :mod:`.patterns`; each mention
(or coordinated list of mentions, "no X, Y or Z") takes its polarity from the nearest cue in its clause
(NegEx, Chapman et al., 2001) or from a cue right after it, and mentions are aggregated per finding with
the CheXpert convention: positive beats uncertain beats negative (Irvin et al., 2019). Only the findings
and impression sections make labels.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from radtrust.data.schema import Cohort, LabelTable
from radtrust.errors import ConfigError
from radtrust.labeling import patterns as P
from radtrust.labeling.vocab import get_vocabulary

__all__ = ["RuleLabeler", "Mention", "VERSION"]

VERSION = "0.2"  # 0.2: CheXpert conventions (likely = uncertain), cardiomediastinum, devices, windows

POS, UNC, NEG = 1, -1, 0
_CACHE_SIZE = 200_000  # sentences; reports repeat sentences a lot, and a sentence decides its mentions
#: Characters before a mention searched for its pre-cue, and after it for its post-cue. Cues must lie
#: within ``max_cue_distance`` words anyway; the windows keep a sentence with thousands of mentions (a
#: megabyte without a full stop) linear instead of quadratic.
_PRE_WINDOW = 400
_POST_WINDOW = 200
#: Aggregation priority (higher wins): positive > uncertain > negative.
_RANK = {POS: 3, UNC: 2, NEG: 1}


class Mention(NamedTuple):
    """One finding mention: concept names, value (1/0/-1), character span and the deciding cue kind.

    Carries no report text, so it can be logged.
    """

    concepts: tuple[str, ...]
    value: int
    start: int
    end: int
    cue: str


_K = 3  # length of the word prefixes that trigger a mention attempt


def _word_prefixes(pattern: str) -> set[str] | None:
    """The word starts a match of ``pattern`` can begin with, or None when that cannot be worked out.

    Each item is up to ``_K`` word characters, then ``$`` if the word must end there or ``*`` if
    anything may follow. Lets the labeler try the big mention alternation only at words that can start
    a mention, which is most of its speed. Uses the standard library's regex parser; on any surprise it
    gives up (None) and the labeler tries every word.
    """
    try:
        from re import _parser as sre_parse  # type: ignore[attr-defined]

        parsed = sre_parse.parse(pattern)
    except Exception:  # pragma: no cover - other Python versions
        return None

    def done(h: str) -> bool:
        return len(h) >= _K or h.endswith(("$", "*"))

    def close(heads: set[str], mark: str) -> set[str]:
        return {h if done(h) else h + mark for h in heads}

    def seq(items, heads: set[str]) -> set[str]:
        for op, av in items:
            if all(done(h) for h in heads):
                break
            heads = node(str(op), av, heads)
        return heads

    def chars_of(av) -> set[str] | None:
        out: set[str] = set()
        for o, a in av:
            if str(o) == "LITERAL":
                out.add(chr(a))
            elif str(o) == "RANGE" and a[1] - a[0] < 12:
                out.update(chr(x) for x in range(a[0], a[1] + 1))
            else:
                return None
        return out

    def node(name: str, av, heads: set[str]) -> set[str]:
        if name in ("LITERAL", "IN"):
            chars = {chr(av)} if name == "LITERAL" else chars_of(av)
            if chars is None or (any(c.isalnum() for c in chars) and not all(c.isalnum() for c in chars)):
                return close(heads, "*")
            if not any(c.isalnum() for c in chars):
                return close(heads, "$")  # a space or hyphen ends the word
            return {h if done(h) else h + c for h in heads for c in chars}
        if name == "BRANCH":
            out: set[str] = set()
            for alt in av[1]:
                out |= seq(list(alt), set(heads))
            return out
        if name == "SUBPATTERN":
            return seq(list(av[-1]), heads)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            lo, hi, sub = av
            out = set(heads) if lo == 0 else set()
            cur = set(heads)
            for n in range(1, _K + 2):
                cur = seq(list(sub), cur)
                if n >= lo:
                    out |= cur
                if n >= hi or all(done(h) for h in cur):
                    break
            return out
        if name in ("AT", "ASSERT", "ASSERT_NOT"):
            return heads
        return close(heads, "*")

    heads = seq(list(parsed), {""})
    if any(not h.rstrip("$*") for h in heads):
        return None  # can start with anything
    return {h if h.endswith(("$", "*")) else h for h in heads}


class _Compiled:
    """All regular expressions, compiled once per process on first use (nothing at import time)."""

    def __init__(self) -> None:
        self.phrases = P.PHRASES
        self.mention = re.compile(r"\b(?:" + "|".join(rf"(?P<p{i}>{ph.pattern})" for i, ph in enumerate(self.phrases)) + ")")
        self.group_index = {f"p{i}": i for i in range(len(self.phrases))}
        self.pre = re.compile(
            "|".join(
                [
                    "(?P<pseudo>" + "|".join(P.PSEUDO_NEGATION) + ")",
                    "(?P<unc>" + "|".join(P.UNCERTAINTY_PRE) + ")",
                    "(?P<likely>" + "|".join(P.LIKELY_PRE) + ")",
                    "(?P<assert>" + "|".join(P.ASSERTION_PRE) + ")",
                    "(?P<ignore>" + "|".join(P.IGNORE_PRE) + ")",
                    "(?P<neg>" + "|".join(P.NEGATION_PRE) + ")",
                ]
            )
        )
        self.post_neg = re.compile("|".join(f"(?:{p})" for p in P.NEGATION_POST))
        self.post_unc = re.compile("|".join(f"(?:{p})" for p in P.UNCERTAINTY_POST))
        self.post_loc = re.compile(P.POST_LOCATIVE)
        # "X versus Y": the first-named diagnosis is the favoured one.
        self.post_likely = re.compile(r"^[\s,]*(?:(?:is|are|was|were|most)\s+)?(?:likely|probable|favou?red|versus|vs\b|or\s+less\s+likely)")
        self.scope_break = re.compile("|".join(f"(?:{p})" for p in P.SCOPE_BREAK))
        self.verb_break = re.compile(P.VERB_BREAK)
        self.coord = re.compile(P.COORDINATION_GAP)
        self.sentence = re.compile(r"\.(?!\d)(?<!\bvs\.)(?<!\bdr\.)(?<!\be\.g\.)(?<!\bi\.e\.)|[;!\n]|:(?!\d)(?!" + P.COLON_ANSWER + ")")
        self.word = re.compile(r"\w+")
        self.or_word = re.compile(r"\bor\b")
        self.s3: set[str] = set()
        self.short: set[str] = set()
        self.prefilter = True
        for ph in self.phrases:
            heads = _word_prefixes(ph.pattern)
            if heads is None:
                self.prefilter = False
                break
            for h in heads:
                core = h.rstrip("$*")
                (self.s3 if len(core) >= _K else self.short).add(core[:_K])
        self.header = re.compile(P.SECTION_HEADER + "$")
        self.xray_mask = re.compile(r"\bx-xxxx\b")
        self.mask = re.compile(r"xxxx(?:[\s-]+xxxx)*")
        self.space = re.compile(r"[ \t\r\f\v]{2,}|[\t\r\f\v]")
        # Inside a clausal phrase ("the heart is not enlarged", "may be enlarged").
        self.inner_neg = re.compile(r"\b(?:not|no|normal|upper\s+limits?)\b")
        self.inner_unc = re.compile(r"\b(?:may|might|could|possibly|perhaps|questionabl\w*)\b")
        self.inner_likely = re.compile(r"\b(?:likely|probably|borderline)\b")
        self.neg_then_hedge = re.compile(
            r"\b(?:no|not|without|negative\s+for)\b(?:(?!\b(?:but|however)\b)[^,])*?\b(?:to\s+suggest|suggest\w*|to\s+indicate|indicat\w*|(?:suspicious|concerning|worrisome|diagnostic|typical)\s+(?:for|of)|(?:consistent|compatible)\s+with|evidence\s+(?:of|for))\s*$"
        )
        self.words = re.compile(r"[a-z0-9?]+")
        # A report "says something" when a word other than the de-identification mask is left.
        self.content = re.compile(r"\b(?!xxxx\b)[^\W\d_]")


@lru_cache(maxsize=1)
def _compiled() -> _Compiled:
    return _Compiled()


def normalise_report_text(text: str, c: _Compiled) -> str:
    t = text.lower()
    if "xxxx" in t:
        # De-identification masks: "x-XXXX" is nearly always "x-ray"; other masks become one neutral token.
        t = c.mask.sub("xxxx", c.xray_mask.sub("x-ray", t))
    return c.space.sub(" ", t)


def _colons(t: str) -> list[int]:
    out, i = [], t.find(":")
    while i >= 0:
        out.append(i)
        i = t.find(":", i + 1)
    return out


def _labelled_part(t: str, c: _Compiled) -> str:
    """Keep findings/impression-like sections; drop indication, history, comparison, technique."""
    if ":" not in t:
        return t
    heads = [h for h in (c.header.search(t, max(0, i - 60), i + 1) for i in _colons(t)) if h is not None]
    if not heads:
        return t
    keep = [t[: heads[0].start()]]
    for i, h in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(t)
        name = h.group("name")
        if name.startswith(P.LABELLED_HEADERS):
            keep.append(t[h.end() : end])
    return " . ".join(keep)


class RuleLabeler:
    """Label radiology reports with a vocabulary's findings from the report text alone.

    Parameters
    ----------
    vocab:
        ``"chexpert14"`` (CheXpert's 14 observations incl. ``No Finding``) or ``"chestxray14"``
        (ChestX-ray14's 14 findings plus ``normal``).
    likely_as:
        How strong hedges ("likely", "probable", "presumably", "borderline") are labelled: ``"uncertain"``
        (-1, the CheXpert convention) or ``"positive"`` (1, how Open-i's MeSH indexers read them). Default:
        uncertain for ``chexpert14``, positive for ``chestxray14``. "Consistent with" / "compatible with"
        assert a finding (1) in both, as in the CheXpert labeler.
    or_is_uncertain:
        Whether "X or Y" / "X versus Y" between two findings (a differential) makes both uncertain.
    max_cue_distance:
        Most words allowed between a pre-mention cue and the (first) mention it governs.
    cache_size:
        Sentences whose mentions are remembered per instance (reports repeat sentences a lot); 0 turns
        the cache off. Results never depend on it.

    Labels: 1 positive, 0 negative, -1 uncertain, NaN not mentioned. The summary column (``No Finding``
    / ``normal``) follows CheXpert: 1 when no pathology is positive or uncertain (Support Devices aside
    for ``No Finding``), else empty for ``No Finding`` and 0 for ``normal``. A report with nothing to
    read in its findings/impression (empty, only de-identification masks, only an indication) gets
    every column empty, the summary column included: it says nothing about the image. Time is linear in
    report length. Nothing is compiled until the first call; compiled patterns are shared by all
    instances.
    """

    def __init__(
        self,
        vocab: str = "chexpert14",
        *,
        likely_as: str | None = None,
        or_is_uncertain: bool = False,
        max_cue_distance: int = 6,
        cache_size: int = _CACHE_SIZE,
    ) -> None:
        self.vocab = vocab
        self.findings: tuple[str, ...] = get_vocabulary(vocab)
        key = vocab.strip().lower().replace("-", "").replace("_", "")
        if likely_as is None:
            likely_as = "uncertain" if key == "chexpert14" else "positive"
        self.likely_as = likely_as
        self.or_is_uncertain = or_is_uncertain
        self.max_cue_distance = max_cue_distance
        self.cache_size = cache_size
        if cache_size < 0:
            raise ConfigError("cache_size must be >= 0")
        if likely_as not in ("uncertain", "positive"):
            raise ConfigError(f"likely_as must be 'uncertain' or 'positive', not '{likely_as}'")
        if max_cue_distance < 0:
            raise ConfigError("max_cue_distance must be >= 0")
        self._key = key
        self._map = P.CHEXPERT14_MAP if key == "chexpert14" else P.CHESTXRAY14_MAP
        self._summary = "No Finding" if key == "chexpert14" else "normal"
        self._cache: dict[str, tuple] = {}
        self._cols: dict[str, tuple[int, ...]] = {}
        for j, name in enumerate(self.findings):
            for k in self._map.get(name, ()):
                self._cols[k] = (*self._cols.get(k, ()), j)
        self._summary_col = self.findings.index(self._summary) if self._summary in self.findings else None
        self._pathology_cols = [j for j, n in enumerate(self.findings) if n not in ("No Finding", "Support Devices", "normal")]

    @property
    def label_source(self) -> str:
        return f"radtrust-rules/{self._key}@{VERSION}"

    # ---------------------------------------------------------------- public API

    def label(self, cohort: Cohort) -> LabelTable:
        """Label every report of a cohort (findings + impression, or the ``text`` column)."""
        values = self.label_texts(cohort.texts())
        return LabelTable.from_matrix(cohort.case_ids, self.findings, values, self.label_source)

    def label_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, n_findings) float array of 1, 0, -1 and NaN (not mentioned)."""
        c = _compiled()
        out = np.full((len(texts), len(self.findings)), np.nan)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                text = "" if text is None or (isinstance(text, float) and text != text) else str(text)
            t = _labelled_part(normalise_report_text(text, c), c)
            if c.content.search(t) is None:
                continue  # nothing to read: every column stays empty
            out[i] = self._row(self._concepts(t, c), True)
        return out

    def concept_values(self, text: str, c: _Compiled | None = None) -> dict[str, int]:
        """Aggregated value per concept named in ``text`` (finer than the vocabulary's columns)."""
        c = c or _compiled()
        return self._concepts(_labelled_part(normalise_report_text(text, c), c), c)

    def _concepts(self, t: str, c: _Compiled) -> dict[str, int]:
        cache = self._cache
        size = self.cache_size
        best: dict[str, int] = {}
        for sent in self._sentences(t, c):
            found = cache.get(sent) if size else None
            if found is None:
                found = tuple((m.concepts, m.value) for m in self._sentence_mentions(sent, 0, c))
                if size:
                    if len(cache) >= size:
                        cache.clear()
                    cache[sent] = found
            for concepts, value in found:
                for k in concepts:
                    old = best.get(k)
                    if old is None or _RANK[value] > _RANK[old]:
                        best[k] = value
        return best

    def mentions(self, text: str, c: _Compiled | None = None) -> list[Mention]:
        """Every mention in the labelled sections of ``text`` with its value and deciding cue.

        Spans index the normalised text (lower case, masks collapsed, unlabelled sections dropped).
        """
        c = c or _compiled()
        t = _labelled_part(normalise_report_text(text, c), c)
        out: list[Mention] = []
        start = 0
        for sent in self._sentences(t, c):
            start = t.index(sent, start)
            out.extend(self._sentence_mentions(sent, start, c))
            start += len(sent)
        return out

    # ---------------------------------------------------------------- internals

    @staticmethod
    def _sentences(t: str, c: _Compiled) -> list[str]:
        out = []
        start = 0
        for m in c.sentence.finditer(t):
            end = m.end()
            if end - start > 2:
                out.append(t[start:end])
            start = end
        if len(t) - start > 2:
            out.append(t[start:])
        return out

    def _sentence_mentions(self, t: str, offset: int, c: _Compiled) -> list[Mention]:
        """Mentions of one sentence: everything that decides a mention's value lies in its sentence."""
        found = self._find(t, c)
        out: list[Mention] = []
        i = 0
        while i < len(found):
            # Coordinated list: only connectors and modifiers in between, no cue.
            j = i
            while j + 1 < len(found):
                gap = t[found[j].end() : found[j + 1].start()]
                if not c.coord.match(gap) or c.pre.search(gap):
                    break
                j += 1
            group = found[i : j + 1]
            s0, e1 = group[0].start(), group[-1].end()
            if s0 > _PRE_WINDOW:
                before = t[s0 - _PRE_WINDOW : s0]
                before = before[before.find(" ") + 1 :]  # no partial first word
            else:
                before = t[:s0]
            pre_kind = self._pre_cue(before, c)
            post_kind = self._post_cue(t[e1 : e1 + _POST_WINDOW], c)
            differential = False
            if self.or_is_uncertain and len(group) > 1:
                differential = any(c.or_word.search(t[a.end() : b.start()]) for a, b in zip(group, group[1:]))
            for m in group:
                ph = c.phrases[c.group_index[m.lastgroup]]  # type: ignore[index]  # every alternative of the pattern is a named group
                value, cue = self._decide(ph, m.group(0), pre_kind, post_kind, differential, c)
                if value is not None:
                    out.append(Mention(ph.concepts, value, offset + m.start(), offset + m.end(), cue))
            i = j + 1
        return out

    @staticmethod
    def _find(t: str, c: _Compiled) -> list[re.Match]:
        if not c.prefilter:
            return list(c.mention.finditer(t))
        found: list[re.Match] = []
        last_end = 0
        s3, short, match = c.s3, c.short, c.mention.match
        for w in c.word.finditer(t):
            pos = w.start()
            if pos < last_end:
                continue
            word = w.group()
            if word[:3] in s3 or (short and (word[:2] in short or word[:1] in short)):
                m = match(t, pos)
                if m is not None:
                    found.append(m)
                    last_end = m.end()
        return found

    def _pre_cue(self, prefix: str, c: _Compiled) -> str | None:
        cut = 0
        for b in c.scope_break.finditer(prefix):
            cut = b.end()
        prefix = prefix[cut:]
        verb_cut = 0
        for b in c.verb_break.finditer(prefix):
            verb_cut = b.end()
        kinds = []
        for m in c.pre.finditer(prefix):
            kind = m.lastgroup
            if kind in ("neg", "pseudo", "ignore") and m.start() < verb_cut:
                continue
            if len(c.words.findall(prefix[m.end() :])) > self.max_cue_distance:
                continue
            if kind in ("unc", "likely", "assert") and c.neg_then_hedge.search(prefix[: m.end()]):
                kind = "neg"  # "no opacity to suggest pneumonia": the hedge sits inside the negation
            kinds.append(kind)
        if not kinds:
            return None
        last = kinds[-1]
        if last in ("likely", "assert") and "unc" in kinds:
            return "unc"  # "may be compatible with": the weaker hedge governs
        if last == "assert" and "likely" in kinds:
            return "likely"  # "likely consistent with"
        return last

    def _post_cue(self, suffix: str, c: _Compiled) -> str | None:
        for _ in range(2):
            if c.post_unc.match(suffix):
                return "unc"
            if c.post_neg.match(suffix):
                return "neg"
            if c.post_likely.match(suffix):
                return "likely"
            # "pneumonia at the left lung base cannot be excluded": look past a location once.
            loc = c.post_loc.match(suffix)
            if loc is None:
                return None
            suffix = suffix[loc.end() :]
        return None

    def _decide(self, ph: P.Phrase, span: str, pre: str | None, post: str | None, differential: bool, c: _Compiled) -> tuple[int | None, str]:
        if ph.fixed is not None:
            return ph.fixed, "phrase"
        if ph.borderline:
            return (UNC if self.likely_as == "uncertain" else POS), "borderline"
        if " " in span:
            # Cues inside a multi-word mention ("the heart is not enlarged", "may be enlarged").
            if c.inner_neg.search(span):
                return NEG, "inner-neg"
            if c.inner_unc.search(span):
                return UNC, "inner-unc"
            if c.inner_likely.search(span):
                return (UNC if self.likely_as == "uncertain" else POS), "inner-likely"
        if ph.clausal:
            pre = None  # cues before a clause with its own verb belong to another clause
        kind = post or pre
        if pre == "neg" and post in ("unc", "likely"):
            kind = "neg"
        elif pre == "unc" and post == "likely":
            kind = "unc"
        if kind is None or kind == "pseudo":
            return (UNC, "differential") if differential else (POS, "none")
        if kind == "neg":
            return NEG, "neg"
        if kind == "unc":
            return UNC, "unc"
        if kind == "likely":
            return (UNC if self.likely_as == "uncertain" else POS), "likely"
        if kind == "assert":
            return POS, "assert"
        return None, "ignore"  # history / risk: not a statement about this image

    def _row(self, concepts: dict[str, int], nonempty: bool) -> list[float]:
        row = [np.nan] * len(self.findings)
        for k, v in concepts.items():
            for j in self._cols.get(k, ()):
                old = row[j]
                if old != old or _RANK[v] > _RANK[int(old)]:
                    row[j] = float(v)
        if self._summary_col is not None and nonempty:
            if self._key == "chexpert14":
                # CheXpert: No Finding is 1 when no pathology (Support Devices aside) is positive or
                # uncertain, otherwise left empty.
                hit = any(row[j] in (1.0, -1.0) for j in self._pathology_cols)
                row[self._summary_col] = np.nan if hit else 1.0
            else:
                # ChestX-ray14 "normal": nothing abnormal at all is asserted or hedged, whether or not it
                # is one of the 14 findings (granulomas, degenerative spine, devices count too).
                row[self._summary_col] = 0.0 if any(v in (POS, UNC) for v in concepts.values()) else 1.0
        return row
