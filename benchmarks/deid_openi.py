"""Benchmark: what the de-identification engine still finds in real, already de-identified Open-i reports,
and what masking does to the rule labeler on the Open-i ChestX-ray14 gold standard (Peng et al., 2018).

Open-i reports (Demner-Fushman et al., 2016) had their identifiers replaced by ``XXXX`` before release, so
what the engine finds here is mostly what it wrongly takes for an identifier (or a left-over the original
scrubbing missed). Per kind: hits, reports touched, hits that are only an existing ``XXXX`` mask (harmless)
and the most common *shapes* of the matched strings (digit -> D, upper-case letter -> A, lower-case -> a,
other characters kept). Privacy rule: no report text and no matched string is printed or written, only
shapes and counts.

Labeling impact: the rule labeler (``RuleLabeler("chestxray14")``, findings + impression, uncertain =
negative, as in ``openi_labeler.py``) on the raw text and on the engine's mask-mode output of every
section; micro precision/recall/F1 over the 14 findings for both, their difference with a 95% paired
report-bootstrap interval, and how many predicted (report, finding) labels change.

    python benchmarks/deid_openi.py [--data DIR_OR_TGZ] [--gold CSV] [--out benchmarks/results/deid_openi.json]
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

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_DIR = REPO.parent / "shared" / "data" / "openi"
DEFAULT_OUT = HERE / "results" / "deid_openi.json"
SECTIONS = ("findings", "impression", "indication", "comparison")
FINDINGS14 = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
)  # fmt: skip


def shape(s: str, cap: int = 24) -> str:
    """Digits -> D, letters -> A/a, anything else kept; long strings cut (the shape is all that is shown)."""
    out = "".join("D" if ch.isdigit() else ("A" if ch.isupper() else "a") if ch.isalpha() else ch for ch in s)
    return out if len(out) <= cap else out[:cap] + "…"


def micro(pred: np.ndarray, gold: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-report TP, FP, FN over the findings (prediction positive only when 1)."""
    p = pred == 1
    g = gold == 1
    return (p & g).sum(1), (p & ~g).sum(1), (~p & g).sum(1)


def prf(tp: float, fp: float, fn: float) -> dict:
    pr = tp / (tp + fp) if tp + fp else 0.0
    rc = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": pr, "recall": rc, "f1": 2 * tp / (2 * tp + fp + fn) if tp else 0.0, "tp": int(tp), "fp": int(fp), "fn": int(fn)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DIR / "reports_dev.tgz", help="Open-i .tgz, folder or XML")
    ap.add_argument("--gold", type=Path, default=DEFAULT_DIR / "gold_chestxray14_dev.csv", help="gold CSV (filename + 0/1 columns)")
    ap.add_argument("--out", "--json", dest="out", type=Path, default=DEFAULT_OUT, help="write the results here")
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    args = ap.parse_args(argv)

    if not args.data.exists():
        print(f"Open-i reports not found at {args.data} (see ../shared/data/openi/README.md); nothing to benchmark.", file=sys.stderr)
        return 2

    from rich.console import Console
    from rich.table import Table

    from radtrust.data.readers import read_openi
    from radtrust.data.schema import Cohort
    from radtrust.deid import KINDS, DeidConfig, Deidentifier
    from radtrust.labeling.rules import RuleLabeler
    from radtrust.stats import cluster_resample_indices

    console = Console(width=160)
    cohort = read_openi(args.data, empty_reports="keep")
    frame = cohort.frame
    engine = Deidentifier(DeidConfig(mode="mask", engine="auto"))
    # de-identification is timed on an engine of its own: ``engine`` remembers each text's spans from ``find``
    masker = Deidentifier(DeidConfig(mode="mask", engine="auto"))
    console.print(f"engine: [bold]{engine.engine_name}[/bold]; {len(frame)} Open-i reports, sections {', '.join(SECTIONS)}")

    hits = Counter()  # kind -> spans
    by_section: dict[str, Counter] = defaultdict(Counter)
    touched: dict[str, set] = defaultdict(set)
    shapes: dict[str, Counter] = defaultdict(Counter)
    next_to_mask = Counter()  # kind -> hits that touch an XXXX mask
    on_mask = Counter()  # kind -> hits that are nothing but existing masks ("XXXX", "XXXX, XXXX"): harmless
    masked_cols: dict[str, list[str]] = {}
    n_texts = 0
    n_chars = 0
    t_find = 0.0
    t_deid = 0.0
    for sec in SECTIONS:
        if sec not in frame.columns:
            continue
        col = frame[sec].fillna("").astype(str).tolist()
        out_col = []
        for cid, text in zip(frame["case_id"].tolist(), col):
            if not text.strip():
                out_col.append(text)
                continue
            n_texts += 1
            n_chars += len(text)
            t0 = time.perf_counter()
            spans = engine.find(text)
            t_find += time.perf_counter() - t0
            for sp in spans:
                hits[sp.kind] += 1
                by_section[sec][sp.kind] += 1
                touched[sp.kind].add(cid)
                touched["any"].add(cid)
                shapes[sp.kind][shape(text[sp.start : sp.end])] += 1
                ctx = text[max(0, sp.start - 5) : sp.end + 5]
                next_to_mask[sp.kind] += "XXXX" in ctx
                on_mask[sp.kind] += bool(re.fullmatch(r"[X\s,.]*XXXX[X\s,.]*", text[sp.start : sp.end]))
            t0 = time.perf_counter()
            out_col.append(masker.deidentify(text, patient_id=cid))
            t_deid += time.perf_counter() - t0
        masked_cols[sec] = out_col

    tab = Table(title=f"What {engine.engine_name} finds in already de-identified Open-i text ({len(frame)} reports, {n_texts} non-empty sections)")
    for c in ("kind", "hits", "reports", *SECTIONS, "next to XXXX", "only XXXX", "top shapes (count)"):
        tab.add_column(c, justify="left" if c in ("kind", "top shapes (count)") else "right")
    for k in KINDS:
        tab.add_row(
            k, str(hits[k]), str(len(touched[k])), *(str(by_section[s][k]) for s in SECTIONS), str(next_to_mask[k]), str(on_mask[k]), "; ".join(f"{s} ({n})" for s, n in shapes[k].most_common(6))
        )
    tab.add_row("all", str(sum(hits.values())), str(len(touched["any"])), *(str(sum(by_section[s].values())) for s in SECTIONS), str(sum(next_to_mask.values())), str(sum(on_mask.values())), "")
    console.print(tab)
    console.print(f"{sum(hits.values()) - sum(on_mask.values())} hits are not just existing XXXX masks")
    console.print(
        f"reports touched: {len(touched['any'])} of {len(frame)} ({100 * len(touched['any']) / max(len(frame), 1):.2f}%); throughput {n_texts / t_find:,.0f} sections/s find, {len(frame) / (t_find + 1e-12):,.0f} reports/s, {n_chars / t_find / 1e6:.2f} M chars/s"
    )

    out: dict = {
        "engine": engine.engine_name,
        "n_reports": int(len(frame)),
        "n_sections": n_texts,
        "hits_by_kind": {k: hits[k] for k in KINDS},
        "reports_touched_by_kind": {k: len(touched[k]) for k in KINDS},
        "reports_touched_any": len(touched["any"]),
        "hits_by_section": {s: dict(by_section[s]) for s in SECTIONS},
        "hits_next_to_xxxx": dict(next_to_mask),
        "hits_only_xxxx": dict(on_mask),
        "hits_other_than_masks": sum(hits.values()) - sum(on_mask.values()),
        "top_shapes": {k: shapes[k].most_common(15) for k in KINDS if shapes[k]},
        "sections_per_s_find": n_texts / t_find if t_find else None,
        "reports_per_s_find": len(frame) / t_find if t_find else None,
        "reports_per_s_deidentify": len(frame) / t_deid if t_deid else None,
        "privacy": "no report text or matched string is stored; shapes only (digit D, letter A/a)",
    }

    # Labeling impact on the gold standard.
    if args.gold.exists():
        gold = pd.read_csv(args.gold, dtype={"filename": str}).set_index("filename")
        keep = np.isin(np.asarray(cohort.case_ids, dtype=object), list(gold.index))
        masked_frame = frame.copy()
        for sec, col in masked_cols.items():
            masked_frame[sec] = col
        raw = cohort.subset(keep)
        dei = Cohort(masked_frame.iloc[np.flatnonzero(keep)].reset_index(drop=True), cohort.source, "keep")
        labeler = RuleLabeler("chestxray14")
        cols = [list(labeler.findings).index(f) for f in FINDINGS14]
        p_raw = labeler.label(raw).values()[:, cols]
        p_dei = RuleLabeler("chestxray14").label(dei).values()[:, cols]
        g = gold.loc[raw.case_ids, list(FINDINGS14)].to_numpy()
        a_raw, a_dei = micro(p_raw, g), micro(p_dei, g)
        s_raw, s_dei = prf(*(x.sum() for x in a_raw)), prf(*(x.sum() for x in a_dei))
        n = len(g)
        diffs = []
        for idx in cluster_resample_indices(np.arange(n), args.n_bootstrap, seed=0):  # each report its own cluster, paired
            diffs.append(prf(*(x[idx].sum() for x in a_dei))["f1"] - prf(*(x[idx].sum() for x in a_raw))["f1"])
        both_nan = np.isnan(p_raw) & np.isnan(p_dei)
        changed = ~both_nan & ~(p_raw == p_dei)
        pos_raw, pos_dei = p_raw == 1, p_dei == 1
        flips = Counter()
        for j, f in enumerate(FINDINGS14):
            flips[f] = int(changed[:, j].sum())
        lab = {
            "n_reports": int(n),
            "raw": s_raw,
            "deidentified": s_dei,
            "f1_difference": s_dei["f1"] - s_raw["f1"],
            "f1_difference_ci95": [float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))] if diffs else None,
            "labels_changed": int(changed.sum()),
            "reports_with_a_changed_label": int(changed.any(1).sum()),
            "positives_lost": int((pos_raw & ~pos_dei).sum()),
            "positives_gained": int((~pos_raw & pos_dei).sum()),
            "correct_to_wrong": int(((pos_raw == (g == 1)) & (pos_dei != (g == 1))).sum()),
            "wrong_to_correct": int(((pos_raw != (g == 1)) & (pos_dei == (g == 1))).sum()),
            "changed_by_finding": {f: v for f, v in flips.items() if v},
            "rule": "findings + impression; uncertain (-1) counts as negative; 14 findings; 95% paired report bootstrap",
            "label_source": labeler.label_source,
        }
        lt = Table(title=f"Rule labeler on the Open-i gold standard ({n} reports): raw vs de-identified (mask mode)")
        for c in ("text", "P", "R", "F1", "TP", "FP", "FN"):
            lt.add_column(c, justify="left" if c == "text" else "right")
        for name, s in (("raw", s_raw), ("de-identified", s_dei)):
            lt.add_row(name, f"{s['precision']:.4f}", f"{s['recall']:.4f}", f"{s['f1']:.4f}", str(s["tp"]), str(s["fp"]), str(s["fn"]))
        console.print(lt)
        ci = lab["f1_difference_ci95"]
        console.print(
            f"micro F1 difference (de-identified - raw): {lab['f1_difference']:+.4f} (95% CI {ci[0]:+.4f} to {ci[1]:+.4f}); "
            f"{lab['labels_changed']} predicted labels change in {lab['reports_with_a_changed_label']} reports "
            f"(positives lost {lab['positives_lost']}, gained {lab['positives_gained']}; against the gold: "
            f"{lab['correct_to_wrong']} correct->wrong, {lab['wrong_to_correct']} wrong->correct)"
            + (f"; by finding: {', '.join(f'{f} {v}' for f, v in lab['changed_by_finding'].items())}" if lab["changed_by_finding"] else "")
        )
        out["labeling"] = lab
    else:
        console.print(f"gold standard not found at {args.gold}; labeling impact skipped")
    out["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
