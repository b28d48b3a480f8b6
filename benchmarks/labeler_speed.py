"""Benchmark: rule-labeler throughput and memory at archive scale (``label_stream`` over a synthetic corpus).

Writes a synthetic chest-report corpus to Parquet a row group at a time (each 50k-report block from
``synth_chest`` with its own seed, ids prefixed per block, so generation memory is flat too), then times
:func:`radtrust.labeling.stream.label_stream` over it at two corpus sizes, sampling the resident memory of
the process and its workers; and times single-process ``RuleLabeler.label_texts`` on 100k reports with
the sentence cache on and off. Synthetic reports repeat sentences far more than real ones, so the
cache-off figure is the one to expect on real archives per core.

    python benchmarks/labeler_speed.py [--n 1000000] [--sizes 200000,1000000] [--workers N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

BLOCK = 50_000


def _write_corpus(path: str, n: int, seed: int, also: tuple[tuple[str, int], ...] = ()) -> None:
    """Write ``n`` synthetic reports to ``path`` (and the first k of them to each ``(path_k, k)``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from radtrust.synth.chest import ChestSynthConfig, synth_chest

    cols = ["case_id", "patient_id", "site", "findings", "impression", "indication", "comparison"]
    writers: list[tuple[pq.ParquetWriter, int]] = []
    main = None
    done = 0
    for b in range(-(-n // BLOCK)):
        k = min(BLOCK, n - done)
        cohort, _ = synth_chest(ChestSynthConfig(n=k, seed=seed + b))
        f = cohort.frame[cols].copy()
        # Each block restarts its ids at S000000: prefix them so they stay unique across blocks.
        f["case_id"] = f"b{b:04d}-" + f["case_id"].astype(str)
        f["patient_id"] = f"b{b:04d}-" + f["patient_id"].astype(str)
        table = pa.Table.from_pandas(f.astype(str).where(f.notna(), None), preserve_index=False)
        if main is None:
            main = pq.ParquetWriter(path, table.schema)
            writers = [(pq.ParquetWriter(p, table.schema), lim) for p, lim in also]
        main.write_table(table)
        for w, lim in writers:
            if done < lim:
                w.write_table(table.slice(0, min(k, lim - done)))
        done += k
    main.close()
    for w, _ in writers:
        w.close()


class _MemorySampler:
    """Peak resident memory of this process plus all its descendants, sampled every ``every`` s."""

    def __init__(self, every: float = 0.1) -> None:
        import psutil

        self._p = psutil.Process()
        self.every = every
        self.peak_total = 0
        self.peak_parent = 0
        self.peak_child_max = 0
        self.max_children = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                parent = self._p.memory_info().rss
                kids = []
                for c in self._p.children(recursive=True):
                    try:
                        kids.append(c.memory_info().rss)
                    except psutil.Error:
                        pass
            except psutil.Error:
                continue
            self.peak_parent = max(self.peak_parent, parent)
            self.peak_child_max = max([self.peak_child_max, *kids])
            self.peak_total = max(self.peak_total, parent + sum(kids))
            self.max_children = max(self.max_children, len(kids))
            self._stop.wait(self.every)

    def __enter__(self) -> _MemorySampler:
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()


def _mib(b: float) -> float:
    return round(b / 2**20, 1)


def _single_core(path: Path, n: int) -> dict:
    import pyarrow.parquet as pq

    from radtrust.data.schema import Cohort
    from radtrust.labeling.rules import RuleLabeler

    pf = pq.ParquetFile(path)
    frame = next(pf.iter_batches(batch_size=n, columns=["case_id", "patient_id", "findings", "impression"])).to_pandas()
    texts = Cohort(frame).texts()
    out = {"n": len(texts), "mean_chars": round(sum(map(len, texts)) / len(texts), 1)}
    for name, size in (("cached", 200_000), ("no_cache", 0)):
        lab = RuleLabeler("chexpert14", cache_size=size)
        t0 = time.perf_counter()
        lab.label_texts(texts)
        out[f"{name}_reports_per_s"] = round(len(texts) / (time.perf_counter() - t0))
    sentences = [s for t in texts[:20_000] for s in t.split(". ")]
    out["distinct_sentence_share"] = round(len(set(sentences)) / max(1, len(sentences)), 4)
    return out


def _deid_one_core(path: Path, out: Path) -> dict:
    """``radtrust deid`` (the library call behind it, mask mode) over the corpus in this one process: read,
    de-identify every report section, write; with the process's peak memory."""
    import psutil

    from radtrust.deid import DeidConfig
    from radtrust.deid.files import deid_file

    base = psutil.Process().memory_info().rss
    with _MemorySampler() as mem:
        t0 = time.perf_counter()
        summary = deid_file(path, out, DeidConfig(engine="radtrust"))
        seconds = time.perf_counter() - t0
    return {
        "n_reports": summary["n_rows"],
        "columns": summary["columns"],
        "seconds": round(seconds, 2),
        "reports_per_s": round(summary["n_rows"] / seconds),
        "n_cut_back": summary["n_cut_back"],
        "parent_rss_before_mib": _mib(base),
        "peak_rss_mib": _mib(mem.peak_parent),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="largest corpus size")
    ap.add_argument("--sizes", type=str, default=None, help="comma-separated corpus sizes (default n/5,n)")
    ap.add_argument("--workers", type=int, default=None, help="worker processes (default: all CPUs)")
    ap.add_argument("--chunk-size", type=int, default=50_000)
    ap.add_argument("--single-n", type=int, default=100_000, help="reports for the single-process timing")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", type=Path, default=None, help="where to write the corpus (default: a temp folder)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args(argv)

    import multiprocessing as mp

    import psutil
    from rich.console import Console
    from rich.table import Table

    from radtrust.deid import DeidConfig
    from radtrust.deid.door import CohortDeidentifier
    from radtrust.labeling.stream import label_stream

    sizes = sorted({int(s) for s in args.sizes.split(",")} if args.sizes else {max(1, args.n // 5), args.n})
    work = Path(tempfile.mkdtemp(prefix="radtrust-speed-", dir=args.dir))
    console = Console()
    try:
        paths = {k: work / f"reports_{k}.parquet" for k in sizes}
        t0 = time.perf_counter()
        # In a child process, so that the generator's memory never counts against the labelling run.
        proc = mp.get_context("spawn").Process(
            target=_write_corpus,
            args=(str(paths[sizes[-1]]), sizes[-1], args.seed, tuple((str(paths[k]), k) for k in sizes[:-1])),
        )
        proc.start()
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"corpus generation failed (exit code {proc.exitcode})")
        gen_s = time.perf_counter() - t0
        console.print(f"wrote {sizes[-1]:,} synthetic reports in {gen_s:.0f} s → {work}")

        runs = []
        for k, deid in [*((k, DeidConfig()) for k in sizes), (sizes[-1], None)]:
            out = work / f"labels_{k}.parquet"
            base = psutil.Process().memory_info().rss
            with _MemorySampler() as mem:
                res = label_stream(paths[k], out, "chexpert14", chunk_size=args.chunk_size, workers=args.workers, deid=CohortDeidentifier(deid) if deid else None)
            runs.append(
                {
                    "n_reports": res.n_reports,
                    "deid": "off" if deid is None else deid.mode,
                    "seconds": round(res.seconds, 2),
                    "reports_per_s": round(res.reports_per_s),
                    "workers": res.workers,
                    "chunk_size": args.chunk_size,
                    "parent_rss_before_mib": _mib(base),
                    "peak_rss_parent_plus_workers_mib": _mib(mem.peak_total),
                    "peak_rss_parent_mib": _mib(mem.peak_parent),
                    "peak_rss_largest_worker_mib": _mib(mem.peak_child_max),
                    "input_mib": _mib(paths[k].stat().st_size),
                }
            )
        single = _single_core(paths[sizes[-1]], args.single_n)
        deid_run = _deid_one_core(paths[sizes[0]], work / "deid.parquet")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    tab = Table(title=f"label_stream over synthetic chest reports ({os.cpu_count()} CPUs)")
    for c in ("reports", "de-identification", "seconds", "reports/s", "workers", "peak RSS parent+workers (MiB)", "parent (MiB)", "largest worker (MiB)"):
        tab.add_column(c, justify="right")
    for r in runs:
        tab.add_row(
            f"{r['n_reports']:,}", r["deid"], f"{r['seconds']:.1f}", f"{r['reports_per_s']:,}", str(r["workers"]),
            f"{r['peak_rss_parent_plus_workers_mib']:,.0f}", f"{r['peak_rss_parent_mib']:,.0f}", f"{r['peak_rss_largest_worker_mib']:,.0f}",
        )  # fmt: skip
    console.print(tab)
    with_deid, without = runs[-2], runs[-1]
    deid_cost = round(with_deid["seconds"] / without["seconds"], 2)
    console.print(f"de-identification in the workers: {deid_cost:.2f}× the time of labelling alone ({without['n_reports']:,} reports)")
    console.print(
        f"single process, {single['n']:,} reports ({single['mean_chars']:.0f} chars on average): "
        f"{single['cached_reports_per_s']:,} reports/s with the sentence cache, "
        f"{single['no_cache_reports_per_s']:,} without (distinct sentences: {single['distinct_sentence_share']:.1%}; "
        "real archives repeat fewer sentences, so expect between the two)"
    )
    console.print(
        f"radtrust deid on one core: {deid_run['n_reports']:,} reports ({', '.join(deid_run['columns'])}) in "
        f"{deid_run['seconds']:.1f} s = {deid_run['reports_per_s']:,} reports/s, peak RSS {deid_run['peak_rss_mib']:,.0f} MiB"
    )
    console.print(
        f"goals: label with de-identification >= 20,000 reports/s: {with_deid['reports_per_s']:,} "
        f"({'met' if with_deid['reports_per_s'] >= 20_000 else 'missed'}); radtrust deid on one core >= 5,000 reports/s: "
        f"{deid_run['reports_per_s']:,} ({'met' if deid_run['reports_per_s'] >= 5_000 else 'missed'})"
    )
    result = {
        "stream": runs,
        "deid_one_core": deid_run,
        "single_process": single,
        "deid_time_ratio": deid_cost,
        "generation_seconds": round(gen_s, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "load_avg_1m_at_end": round(os.getloadavg()[0], 2),
        },
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
