"""Benchmark: the de-identification engine on held-out synthetic reports with injected identifiers.

Corpora come from :func:`radtrust.synth.deid_corpus.synthetic_phi_corpus` with seeds 1, 2, 3 (``n`` reports
each). Seed 0 is the engine's development set and is never scored here. Scoring follows the i2b2/n2c2
de-identification tasks (Stubbs & Uzuner, 2015), token-free, on characters:

* **found**: a truth span counts as found when the engine's spans (of any kind) cover every letter and
  digit of it (spaces and punctuation inside it, like the comma of "Last, First", may stay). ``strict``
  also asks for every non-space character. **Typed**: found by spans of the same kind only.
* **character recall**: the share of truth letters/digits that predicted spans cover.
* 95% Clopper-Pearson intervals (scipy ``binomtest(...).proportion_ci``); reports are independent.
* **precision**: the share of predicted non-space characters that lie inside truth spans (a title such as
  "Dr." or a credential outside a NAME span counts against it), and the share of predicted spans that
  touch a truth span.
* **clinical terms removed**: a clinical term (a word of the clinical text, a section header or a stress
  term such as "Paget disease", "2 o'clock", "BI-RADS 4A", "C5-6", "72-year-old") counts as removed when
  any of its characters is covered by a predicted span.
* **names in / not in the dictionary**: NAME spans whose tokens (initials left out) are all in the
  engine's name dictionary (``radtrust.deid.recognizers.names.name_in_dictionary``) vs. the others.
* **verbatim leak**: the share of injected values still present, unchanged, in ``deidentify()`` output
  (mask mode).

Goals: overall recall >= 0.99, name recall >= 0.98, clinical terms removed <= 0.5%.

    python benchmarks/deid_synthetic.py [--n 1000] [--seeds 1,2,3] [--out benchmarks/results/deid_synthetic.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "deid_synthetic.json"
GOALS = {"overall_recall": 0.99, "name_recall": 0.98, "clinical_removed": 0.005}


def ci95(k: int, n: int) -> list[float] | None:
    from scipy.stats import binomtest

    if n == 0:
        return None
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return [float(ci.low), float(ci.high)]


def rate(k: int, n: int) -> dict:
    return {"k": k, "n": n, "rate": (k / n) if n else None, "ci95": ci95(k, n)}


def _name_tokens(value: str) -> list[str]:
    toks = re.findall(r"[^\W\d_]+(?:['’][^\W\d_]+)?", value.replace("^", " "))
    return [t for t in toks if len(t) > 1]


def _in_dictionary(value: str, lookup) -> bool | None:
    toks = _name_tokens(value)
    if lookup is None or not toks:
        return None

    def one(t: str) -> bool:
        return bool(lookup(t) or lookup(t.capitalize()) or lookup(t.lower()))

    return all(one(t) for t in toks)


def shape(s: str, cap: int = 24) -> str:
    out = "".join("D" if ch.isdigit() else ("A" if ch.isupper() else "a") if ch.isalpha() else ch for ch in s)
    return out if len(out) <= cap else out[:cap] + "…"


def score(reports, engine, lookup, masker=None) -> dict:
    """All counts for one corpus; pooled later by adding them up.

    ``masker`` (an engine of its own) times ``deidentify``: the engine that just ran ``find`` remembers each
    text's spans, and timing it again would time that cache, not the de-identification."""
    masker = masker or engine
    c: dict = {
        "per_kind": defaultdict(Counter), "formats": defaultdict(Counter), "where": defaultdict(Counter),
        "names": defaultdict(Counter), "name_variant": defaultdict(Counter), "clin": defaultdict(Counter),
        "removed_terms": Counter(), "missed_examples": {}, "chars": Counter(), "spans": Counter(),
        "edge": defaultdict(Counter), "pred_kinds": Counter(),
    }  # fmt: skip
    t_find = 0.0
    t_deid = 0.0
    for rep in reports:
        text = rep.text
        t0 = time.perf_counter()
        pred = engine.find(text)
        t_find += time.perf_counter() - t0
        t0 = time.perf_counter()
        masked = masker.deidentify(text, patient_id=rep.patient_id)
        t_deid += time.perf_counter() - t0
        cover = bytearray(len(text))
        n_chars = len(text)
        typed: dict[str, bytearray] = defaultdict(lambda n=n_chars: bytearray(n))
        for sp in pred:
            a, b = max(0, sp.start), min(len(text), sp.end)
            cover[a:b] = b"\x01" * (b - a)
            typed[sp.kind][a:b] = b"\x01" * (b - a)
            c["pred_kinds"][sp.kind] += 1
        truth = bytearray(len(text))
        for s in rep.phi:
            truth[s.start : s.end] = b"\x01" * (s.end - s.start)
        for s in rep.phi:
            alnum = [i for i in range(s.start, s.end) if text[i].isalnum()]
            nonsp = [i for i in range(s.start, s.end) if not text[i].isspace()]
            hit = all(cover[i] for i in alnum)
            strict = all(cover[i] for i in nonsp)
            tk = typed.get(s.kind)
            hit_typed = tk is not None and all(tk[i] for i in alnum)
            pk = c["per_kind"][s.kind]
            pk["n"] += 1
            pk["found"] += hit
            pk["strict"] += strict
            pk["typed"] += hit_typed
            pk["chars"] += len(alnum)
            pk["chars_covered"] += sum(cover[i] for i in alnum)
            pk["leak"] += s.value in masked
            key = f"{s.kind} | {s.fmt}" + (f" | {s.variant}" if s.kind in ("PHONE", "ID", "EMAIL") and s.variant else "")
            c["formats"][key]["n"] += 1
            c["formats"][key]["missed"] += not hit
            c["where"][s.where]["n"] += 1
            c["where"][s.where]["missed"] += not hit
            edge = "start" if s.start == 0 else ("end" if s.end >= len(text.rstrip()) else "inside")
            c["edge"][edge]["n"] += 1
            c["edge"][edge]["missed"] += not hit
            if not hit and key not in c["missed_examples"]:
                c["missed_examples"][key] = s.value
            if s.kind == "NAME":
                s.in_dictionary = _in_dictionary(s.value, lookup)
                grp = {True: "in dictionary", False: "not in dictionary", None: "unknown"}[s.in_dictionary]
                c["names"][grp]["n"] += 1
                c["names"][grp]["found"] += hit
                v = s.variant.split("+")[0]
                c["name_variant"][v]["n"] += 1
                c["name_variant"][v]["found"] += hit
        for (a, b), lab in zip(rep.clinical, rep.clinical_labels):
            grp = "word" if lab == "word" else ("header" if lab == "header" else "stress")
            removed = any(cover[a:b])
            for g in (grp, f"stress:{lab}" if grp == "stress" else None, "all"):
                if g:
                    c["clin"][g]["n"] += 1
                    c["clin"][g]["removed"] += removed
            if removed:
                c["removed_terms"][f"{text[a:b]} ({lab})"] += 1
        for i, ch in enumerate(text):
            if cover[i] and not ch.isspace():
                c["chars"]["pred"] += 1
                c["chars"]["pred_true"] += truth[i]
        for sp in pred:
            c["spans"]["pred"] += 1
            c["spans"]["touch_truth"] += any(truth[max(0, sp.start) : sp.end])
    c["t_find"] = t_find
    c["t_deid"] = t_deid
    c["n_reports"] = len(reports)
    return c


def pool(parts: list[dict]) -> dict:
    out: dict = {}
    for c in parts:
        for k, v in c.items():
            if isinstance(v, defaultdict):
                dst = out.setdefault(k, defaultdict(Counter))
                for kk, vv in v.items():
                    dst[kk].update(vv)
            elif isinstance(v, Counter):
                out.setdefault(k, Counter()).update(v)
            elif isinstance(v, dict):
                d = out.setdefault(k, {})
                for kk, vv in v.items():
                    d.setdefault(kk, vv)
            else:
                out[k] = out.get(k, 0) + v
    return out


def summarise(c: dict, kinds) -> dict:
    per_kind = {}
    for k in kinds:
        p = c["per_kind"].get(k, Counter())
        per_kind[k] = {
            "n": p["n"], "recall": rate(p["found"], p["n"]), "recall_strict": p["strict"] / p["n"] if p["n"] else None,
            "recall_typed": p["typed"] / p["n"] if p["n"] else None,
            "char_recall": p["chars_covered"] / p["chars"] if p["chars"] else None,
            "verbatim_leak": p["leak"] / p["n"] if p["n"] else None,
        }  # fmt: skip
    tot = Counter()
    for p in c["per_kind"].values():
        tot.update(p)
    names = {g: rate(v["found"], v["n"]) for g, v in c["names"].items()}
    name_all = c["per_kind"].get("NAME", Counter())
    clin = {g: rate(v["removed"], v["n"]) for g, v in sorted(c["clin"].items())}
    formats = sorted(((k, v["missed"], v["n"]) for k, v in c["formats"].items() if v["missed"]), key=lambda x: (-x[1], x[0]))
    return {
        "per_kind": per_kind,
        "overall": {
            "recall": rate(tot["found"], tot["n"]),
            "recall_strict": tot["strict"] / tot["n"] if tot["n"] else None,
            "recall_typed": tot["typed"] / tot["n"] if tot["n"] else None,
            "char_recall": tot["chars_covered"] / tot["chars"] if tot["chars"] else None,
            "verbatim_leak": tot["leak"] / tot["n"] if tot["n"] else None,
        },  # fmt: skip
        "name_recall": rate(name_all["found"], name_all["n"]),
        "names_by_dictionary": names,
        "names_by_source": {g: rate(v["found"], v["n"]) for g, v in sorted(c["name_variant"].items())},
        "precision_chars": c["chars"]["pred_true"] / c["chars"]["pred"] if c["chars"]["pred"] else None,
        "precision_spans": c["spans"]["touch_truth"] / c["spans"]["pred"] if c["spans"]["pred"] else None,
        "predicted_spans_by_kind": dict(c["pred_kinds"]),
        "clinical_removed": clin,
        "top_removed_clinical_terms": c["removed_terms"].most_common(25),
        "missed_by_format": [{"format": k, "missed": m, "n": n, "example": c["missed_examples"].get(k, ""), "example_shape": shape(c["missed_examples"].get(k, ""))} for k, m, n in formats[:40]],
        "missed_by_position": {w: {"missed": v["missed"], "n": v["n"]} for w, v in sorted(c["where"].items())},
        "missed_by_edge": {w: {"missed": v["missed"], "n": v["n"]} for w, v in sorted(c["edge"].items())},
        "reports_per_s_find": c["n_reports"] / c["t_find"] if c["t_find"] else None,
        "reports_per_s_deidentify": c["n_reports"] / c["t_deid"] if c["t_deid"] else None,
        "n_reports": c["n_reports"],
    }


def _f(x, nd: int = 4) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="reports per seed")
    ap.add_argument("--seeds", default="1,2,3", help="comma-separated corpus seeds (0 is the development set)")
    ap.add_argument("--out", "--json", dest="out", type=Path, default=DEFAULT_OUT, help="write the results here")
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]

    from rich.console import Console
    from rich.table import Table

    from radtrust.deid import KINDS, DeidConfig, Deidentifier
    from radtrust.synth.deid_corpus import GENERATOR_VERSION, synthetic_phi_corpus

    try:
        from radtrust.deid.recognizers.names import name_in_dictionary as lookup
    except ImportError:
        lookup = None

    console = Console(width=160)
    engine = Deidentifier(DeidConfig(mode="mask", engine="auto"))
    console.print(f"engine: [bold]{engine.engine_name}[/bold]; corpora: seeds {seeds} x {args.n} reports ({GENERATOR_VERSION}); seed 0 is the engine's development set and is not scored")
    if 0 in seeds:
        console.print("[yellow]warning: seed 0 is the development set; its figures are not held-out[/yellow]")

    per_seed = {}
    parts = []
    t_gen = 0.0
    for sd in seeds:
        t0 = time.perf_counter()
        reports = synthetic_phi_corpus(args.n, seed=sd)
        t_gen += time.perf_counter() - t0
        c = score(reports, engine, lookup, Deidentifier(DeidConfig(mode="mask", engine="auto")))
        parts.append(c)
        per_seed[sd] = summarise(c, KINDS)
    allc = pool(parts)
    res = summarise(allc, KINDS)

    tab = Table(title=f"De-identification recall on synthetic reports (seeds {','.join(map(str, seeds))}, {res['n_reports']} reports) - {engine.engine_name}")
    for col in ("kind", "n", "recall", "95% CI", "strict", "typed", "char recall", "verbatim leak"):
        tab.add_column(col, justify="left" if col == "kind" else "right")
    for k, v in [*res["per_kind"].items(), ("overall", {**res["overall"], "n": res["overall"]["recall"]["n"]})]:
        r = v["recall"]
        ci = f"{r['ci95'][0]:.4f}-{r['ci95'][1]:.4f}" if r["ci95"] else "-"
        tab.add_row(k, str(v["n"]), _f(r["rate"]), ci, _f(v["recall_strict"]), _f(v["recall_typed"]), _f(v["char_recall"]), _f(v["verbatim_leak"]))
    console.print(tab)

    ok = lambda b: "[green]meets goal[/green]" if b else "[red]below goal[/red]"  # noqa: E731
    o, nm = res["overall"]["recall"], res["name_recall"]
    console.print(
        f"overall recall {o['rate']:.4f} (goal >= {GOALS['overall_recall']}) {ok(o['rate'] >= GOALS['overall_recall'])}; per seed: "
        + ", ".join(f"{s}: {v['overall']['recall']['rate']:.4f}" for s, v in per_seed.items())
    )
    console.print(
        f"name recall {nm['rate']:.4f} (goal >= {GOALS['name_recall']}) {ok(nm['rate'] >= GOALS['name_recall'])}; "
        + "; ".join(f"{g}: {v['rate']:.4f} ({v['k']}/{v['n']})" for g, v in sorted(res["names_by_dictionary"].items()))
        + ("" if lookup else " (engine exposes no name dictionary)")
    )
    console.print("name recall by source: " + ", ".join(f"{g} {v['rate']:.3f}" for g, v in res["names_by_source"].items()))
    console.print(f"precision: {_f(res['precision_chars'])} of predicted characters are identifiers; {_f(res['precision_spans'])} of predicted spans touch an identifier")

    ct = Table(title="Clinical terms removed (any character covered by a predicted span)")
    for col in ("group", "n", "removed", "share", "95% CI"):
        ct.add_column(col, justify="left" if col == "group" else "right")
    for g, v in res["clinical_removed"].items():
        ct.add_row(g, str(v["n"]), str(v["k"]), f"{100 * v['rate']:.3f}%", f"{100 * v['ci95'][0]:.3f}-{100 * v['ci95'][1]:.3f}%")
    console.print(ct)
    cr = res["clinical_removed"]["all"]["rate"]
    console.print(f"clinical terms removed {100 * cr:.3f}% (goal <= {100 * GOALS['clinical_removed']:.1f}%) {ok(cr <= GOALS['clinical_removed'])}")
    if res["top_removed_clinical_terms"]:
        console.print("top wrongly removed clinical terms: " + "; ".join(f"{t} x{n}" for t, n in res["top_removed_clinical_terms"][:20]))

    mt = Table(title="Top missed identifier formats (synthetic values)")
    for col in ("kind | format", "missed", "of", "example"):
        mt.add_column(col, justify="right" if col in ("missed", "of") else "left")
    for m in res["missed_by_format"][:25]:
        mt.add_row(m["format"], str(m["missed"]), str(m["n"]), m["example"][:40])
    console.print(mt)
    console.print(
        "misses by position: "
        + ", ".join(f"{w} {v['missed']}/{v['n']}" for w, v in res["missed_by_position"].items())
        + " | by edge: "
        + ", ".join(f"{w} {v['missed']}/{v['n']}" for w, v in res["missed_by_edge"].items())
    )
    console.print(
        f"throughput: {res['reports_per_s_find']:,.0f} reports/s (find), {res['reports_per_s_deidentify']:,.0f} reports/s (deidentify, mask); corpus generation {args.n * len(seeds) / t_gen:,.0f} reports/s"
    )

    out = {
        "engine": engine.engine_name,
        "generator": GENERATOR_VERSION,
        "seeds": seeds,
        "n_per_seed": args.n,
        "note": "seed 0 is the engine's development set; seeds 1-3 are held out",
        "rule": "found = every letter/digit of the truth span covered by predicted spans of any kind; strict = every non-space character; typed = covered by spans of the truth's kind",
        "goals": GOALS,
        **res,
        "per_seed": {
            str(s): {"overall_recall": v["overall"]["recall"], "name_recall": v["name_recall"], "clinical_removed": v["clinical_removed"]["all"], "precision_chars": v["precision_chars"]}
            for s, v in per_seed.items()
        },
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False))
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
