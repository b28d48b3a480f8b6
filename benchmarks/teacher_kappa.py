"""Benchmark: agreement (Cohen's kappa) between the rule labeler and a teacher LLM, per finding.

Labels a sample of reports with :class:`RuleLabeler` and with :class:`TeacherLabeler` through a running
OpenAI-compatible server (Ollama, vLLM, llama.cpp) and prints per-finding kappa over the four categories
(positive / uncertain / negative / not mentioned) and on positive-vs-rest. On synthetic reports (the
default) it also prints each labeler's positive-vs-rest kappa against the generator's hidden truth.
Cases the teacher gave no valid answer for are left out of every comparison (and counted).

    python benchmarks/teacher_kappa.py --base-url http://127.0.0.1:11434/v1 --model qwen2.5:7b-instruct \
        [--n 200] [--data OPENI_TGZ_OR_DIR] [--json OUT]

Exits 0 with a message when no server answers at --base-url.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def server_answers(base_url: str, timeout_s: float = 3.0) -> bool:
    """Whether anything HTTP answers at ``base_url`` (any status counts: /models is optional in some servers)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        opener.open(f"{base_url.rstrip('/')}/models", timeout=timeout_s).close()
        return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _cohort(args):
    if args.data is None:
        from radtrust.synth.chest import ChestSynthConfig, synth_chest

        cohort, truth = synth_chest(ChestSynthConfig(n=args.n, seed=args.seed))
        return cohort, truth, args.vocab or "chexpert14", f"synthetic (n={args.n}, seed={args.seed})"
    from radtrust.data.readers import read_openi

    cohort = read_openi(args.data, empty_reports="drop")
    if args.n < len(cohort):
        idx = np.sort(np.random.default_rng(args.seed).choice(len(cohort), size=args.n, replace=False))
        cohort = cohort.subset(idx)
    return cohort, None, args.vocab or "chestxray14", f"Open-i sample (n={len(cohort)}, seed={args.seed})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base-url", default="http://127.0.0.1:11434/v1", help="OpenAI-compatible root (default: Ollama)")
    ap.add_argument("--model", default="qwen2.5:7b-instruct", help="model name on that server")
    ap.add_argument("--api-key", default=None, help="bearer token, if the server wants one")
    ap.add_argument("--allow-remote", action="store_true", help="allow a non-loopback server (reports leave the machine)")
    ap.add_argument("--data", type=Path, default=None, help="Open-i .tgz/folder instead of synthetic reports")
    ap.add_argument("--vocab", default=None, help="default: chexpert14 (synthetic), chestxray14 (Open-i)")
    ap.add_argument("--n", type=int, default=200, help="reports to label")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-concurrency", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--no-cache", action="store_true", help="ask the server again even for cached reports")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args(argv)

    from radtrust.errors import RadtrustError
    from radtrust.labeling.teacher_client import check_base_url

    try:
        check_base_url(args.base_url, args.allow_remote)
    except RadtrustError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not server_answers(args.base_url):
        print(f"No OpenAI-compatible server answers at {args.base_url}; start one (e.g. `ollama serve`) to run this benchmark.")
        return 0

    from rich.console import Console
    from rich.table import Table

    from radtrust.data.io import write_json
    from radtrust.data.schema import LabelTable
    from radtrust.labeling.combine import agreement_table
    from radtrust.labeling.rules import RuleLabeler
    from radtrust.labeling.teacher import TeacherLabeler
    from radtrust.labeling.teacher_prompts import PROMPT_VERSION

    cohort, truth, vocab, what = _cohort(args)
    rules = RuleLabeler(vocab).label(cohort)
    teacher_lab = TeacherLabeler(
        vocab, args.base_url, args.model, api_key=args.api_key, allow_remote=args.allow_remote, cache_dir=args.cache_dir,
        use_cache=not args.no_cache, max_concurrency=args.max_concurrency, timeout_s=args.timeout, progress=True,
    )  # fmt: skip
    t0 = time.perf_counter()
    try:
        teacher = teacher_lab.label(cohort)
    except RadtrustError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - t0
    stats = teacher_lab.last_stats
    failed = set(stats.failed_case_ids)
    if failed:
        keep = ~teacher.frame["case_id"].isin(failed)
        if not keep.any():
            print(f"The teacher gave no valid answer for any of {len(cohort)} reports; nothing to compare.")
            return 0
        teacher = LabelTable(teacher.frame.loc[keep].reset_index(drop=True), list(teacher.findings), teacher.source)

    tables = [rules, teacher] + ([truth.select(list(rules.findings))] if truth is not None else [])
    agr = agreement_table(tables)
    names = {"rules": rules.source, "teacher": teacher.source, "truth": truth.source if truth is not None else None}

    def pair(a: str, b: str):
        sub = agr[(agr["source_a"] == names[a]) & (agr["source_b"] == names[b])]
        return sub.set_index("finding")

    rt = pair("rules", "teacher")
    vs_truth = {"rules": pair("rules", "truth"), "teacher": pair("teacher", "truth")} if truth is not None else {}

    console = Console()
    tab = Table(title=f"{what}: rules vs {teacher.source} ({stats.n_ok + stats.n_cached} answered)")
    cols = ["finding", "n", "kappa", "kappa pos"] + (["rules~truth pos", "teacher~truth pos"] if truth is not None else [])
    for c in cols:
        tab.add_column(c, justify="left" if c == "finding" else "right")
    fmt = lambda x: "-" if x != x else f"{x:.3f}"  # noqa: E731 - NaN (undefined kappa) shows as "-"
    per_finding = {}
    for f in rt.index:
        row = rt.loc[f]
        rec = {"n": int(row["n"]), "kappa": float(row["kappa"]), "kappa_positive": float(row["kappa_positive"])}
        cells = [f, str(rec["n"]), fmt(rec["kappa"]), fmt(rec["kappa_positive"])]
        if truth is not None:
            rec["rules_vs_truth_kappa_positive"] = float(vs_truth["rules"].loc[f, "kappa_positive"])
            rec["teacher_vs_truth_kappa_positive"] = float(vs_truth["teacher"].loc[f, "kappa_positive"])
            cells += [fmt(rec["rules_vs_truth_kappa_positive"]), fmt(rec["teacher_vs_truth_kappa_positive"])]
        per_finding[f] = rec
        tab.add_row(*cells)
    console.print(tab)
    console.print(
        f"teacher: {stats.n_ok} answered, {stats.n_cached} cached, {stats.n_invalid_after_retries} invalid after retries, "
        f"{stats.n_errors} errors, {stats.n_requests} requests in {elapsed:.1f}s; json_mode={stats.json_mode}"
    )

    out = {
        "data": what,
        "vocab": vocab,
        "model": args.model,
        "label_sources": {"rules": rules.source, "teacher": teacher.source},
        "prompt_version": PROMPT_VERSION,
        "per_finding": per_finding,
        "teacher_stats": {k: v for k, v in stats.to_dict().items() if k != "failed_case_ids"},
        "seconds": elapsed,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    if args.json:
        write_json(out, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
