"""Benchmark: radtrust's private training against plain Opacus DP-LoRA, and against itself without DP.

Three runs in one process on the same reports, the same labels and the same train / validation / test
split, at the same (ε, δ), epochs, expected batch size, learning rate and clipping bound:

- ``plain_opacus``: the textbook recipe: LoRA (peft) in every layer of all-MiniLM-L6-v2,
  ``PrivacyEngine.make_private_with_epsilon`` (PRV accountant, Poisson sampling, hooks mode), every
  batch padded to its longest report, the whole encoder run forward and backward at every step.
- ``radtrust``: ``ReportClassifier`` with the given method and radtrust's defaults (LoRA in the top
  layers, frozen lower layers run once per report, length-sorted micro-batches).
- ``nonprivate``: the same radtrust configuration at ε = inf (same loop, same Poisson batches).

Each model's decision thresholds are picked on the same validation records; weighted F1 is scored on
held-out reports against the gold standard. Samples/s counts training records processed per second of
training (for radtrust including the one pass through the frozen layers).

Data: Open-i (rule-labeler labels for training, the public gold standard for scoring, split by report)
when ``../shared/data/openi`` exists; otherwise a synthetic cohort scored against its hidden truth.

    python benchmarks/dp_speed.py [--epochs 6] [--epsilon 8] [--method lora] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OPENI = REPO.parent / "shared" / "data" / "openi"


class RssMonitor:
    """Peak resident memory of this process while a block runs (sampled every 20 ms from /proc)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()

    @staticmethod
    def current() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            time.sleep(0.02)

    def __enter__(self) -> RssMonitor:
        self.peak = self.current()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return round(self.peak / 2**20, 1)


def load_data(args):
    """(train cohort, train labels, test cohort, gold labels, description)."""
    from radtrust.data.readers import read_labels, read_openi
    from radtrust.data.splits import patient_split
    from radtrust.labeling.rules import RuleLabeler

    data, gold_path = OPENI / "reports_dev.tgz", OPENI / "gold_chestxray14_dev.csv"
    if data.exists() and gold_path.exists() and not args.synthetic:
        cohort = read_openi(data, empty_reports="drop")
        gold = read_labels(gold_path)
        labels = RuleLabeler("chestxray14").label(cohort)
        desc = "Open-i dev reports (rule-labeler labels for training; gold standard for scoring; split by report)"
    else:
        from radtrust.synth.chest import ChestSynthConfig, synth_chest

        cohort, gold = synth_chest(ChestSynthConfig(n=args.synthetic_n, seed=args.seed))
        labels = RuleLabeler("chexpert14").label(cohort)
        desc = f"synthetic chest cohort, n={args.synthetic_n} (rule-labeler labels for training; hidden truth for scoring)"
    train_idx, test_idx = patient_split(cohort, args.test_fraction, args.seed)
    return cohort.subset(train_idx), labels, cohort.subset(test_idx), gold, desc


def plain_opacus_fit(config, cohort, labels, timing: dict):
    """The plain recipe, kept deliberately standard: what a user gets from Opacus + peft out of the box:
    LoRA in every layer, the whole encoder run at every step, ``make_private_with_epsilon`` with a
    DataLoader whose batches are padded to their longest report. Returns a fitted ``ReportClassifier``
    (same network class, thresholds picked the same way) so it is scored exactly like radtrust's runs."""
    import torch
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, Dataset

    from radtrust.data.schema import label_targets
    from radtrust.data.splits import patient_split
    from radtrust.models.text import build_report_net, pad_batch, tokenize
    from radtrust.privacy.accountant import check_privacy_target
    from radtrust.train.estimator import ReportClassifier, choose_thresholds
    from radtrust.train.loop import masked_bce

    c = config
    clf = ReportClassifier(c)
    torch.set_num_threads(c.num_threads or os.cpu_count() or 1)
    clf.findings = list(c.findings) if c.findings else list(labels.findings)
    targets, mask = label_targets(labels.aligned_to(cohort.case_ids).select(clf.findings), c.uncertain_policy)
    train_idx, val_idx = patient_split(cohort, c.val_fraction, c.seed)
    ids = tokenize(clf.tokenizer, cohort.texts(), c.max_length)
    pad = clf.tokenizer.pad_token_id

    torch.manual_seed(c.seed)
    # lora_top_layers=None: adapters in every layer; the frozen "trunk" is only the embedding layer
    net = build_report_net(c.encoder, len(clf.findings), c.lora_r, c.lora_alpha, c.lora_dropout, list(c.lora_targets), None, c.dropout, c.seed, c.pooling, "lora", c.pooled_norm)

    class _Records(Dataset):
        def __len__(self):
            return len(train_idx)

        def __getitem__(self, k):
            i = train_idx[k]
            return torch.tensor(ids[i]), torch.from_numpy(targets[i]), torch.from_numpy(mask[i])

    def collate(rows):
        x, att = pad_batch([r[0].tolist() for r in rows], pad)
        return x, att, torch.stack([r[1] for r in rows]), torch.stack([r[2] for r in rows])

    loader = DataLoader(_Records(), batch_size=c.batch_size, collate_fn=collate)
    # the same two learning rates as radtrust's runs: head, and the adapters
    head = list(net.head.parameters())
    adapters = [p for n, p in net.named_parameters() if p.requires_grad and not n.startswith("head.")]
    groups = [{"params": head, "lr": c.learning_rate}, {"params": adapters, "lr": c.encoder_learning_rate or c.learning_rate}]
    optimizer = torch.optim.AdamW(groups, lr=c.learning_rate, weight_decay=c.weight_decay)
    delta = check_privacy_target(c.epsilon, c.delta, len(cohort), c.accountant)
    engine = PrivacyEngine(accountant=c.accountant)
    model, optimizer, loader = engine.make_private_with_epsilon(
        module=net, optimizer=optimizer, data_loader=loader, target_epsilon=c.epsilon, target_delta=delta,
        epochs=c.epochs, max_grad_norm=c.max_grad_norm, poisson_sampling=True, grad_sample_mode="hooks",
    )  # fmt: skip
    t0, seen = time.perf_counter(), 0
    model.train()
    for _ in range(c.epochs):
        for x, att, y, m in loader:
            if len(x) == 0:
                continue
            loss = masked_bce(model(x, att), y, m).mean()
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            seen += len(x)
    timing.update(train_seconds=time.perf_counter() - t0, records_seen=seen, epsilon=engine.get_epsilon(delta), delta=delta)
    clf.net = model._module
    clf.net.eval()
    val_probs = clf.predict_proba(cohort.subset(val_idx))
    clf.thresholds = choose_thresholds(val_probs, targets[val_idx], mask[val_idx], clf.findings, c)
    return clf


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="lora", choices=["lora", "head", "full"], help="radtrust's method (the plain baseline is always all-layer DP-LoRA)")
    ap.add_argument("--epsilon", type=float, default=8.0)
    ap.add_argument("--epochs", type=int, default=6, help="default 6 (radtrust's default is 10: the plain run would take 20 minutes)")
    ap.add_argument("--batch-size", type=int, default=None, help="default: radtrust's default (256)")
    ap.add_argument("--learning-rate", type=float, default=None, help="default: radtrust's default")
    ap.add_argument("--max-length", type=int, default=None, help="default: radtrust's default (128)")
    ap.add_argument("--test-fraction", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--synthetic", action="store_true", help="use a synthetic cohort even when Open-i is present")
    ap.add_argument("--synthetic-n", type=int, default=2000)
    ap.add_argument("--skip-plain", action="store_true", help="skip the (slow) plain Opacus run")
    ap.add_argument("--config", type=Path, default=None, help="YAML options for radtrust's runs")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    from radtrust.evaluate.evaluate import score_against_gold
    from radtrust.train.config import TrainConfig
    from radtrust.train.estimator import ReportClassifier

    train, labels, test, gold, desc = load_data(args)
    common = dict(epochs=args.epochs, batch_size=args.batch_size, max_length=args.max_length, seed=args.seed, learning_rate=args.learning_rate)
    base = TrainConfig.load(args.config, method=args.method, **common)
    results: dict = {
        "data": desc,
        "n_train": len(train),
        "n_test": len(test),
        "epsilon_target": args.epsilon,
        "config": json.loads(base.model_dump_json()),
        "machine": {"cores": os.cpu_count(), "torch_threads": None, "platform": platform.platform(), "python": sys.version.split()[0]},
        "runs": {},
    }
    import torch

    runs: dict[str, dict] = {}
    for name, eps in (("radtrust", args.epsilon), ("nonprivate", math.inf)):
        cfg = base.model_copy(update={"epsilon": eps})
        t0 = time.perf_counter()
        with RssMonitor() as mon:
            clf = ReportClassifier(cfg).fit(train, labels, progress=True)
        wall = time.perf_counter() - t0
        m = score_against_gold(clf, test, gold, seed=args.seed)
        runs[name] = {
            "samples_per_s": clf.result.samples_per_second,
            "train_seconds": clf.result.wall_seconds,
            "timings": clf.result.timings,
            "fit_wall_seconds": wall,
            "weighted_f1": m["weighted_f1"],
            "weighted_f1_ci95": m["ci95"]["weighted_f1"],
            "epsilon": clf.result.privacy.epsilon,
            "delta": clf.result.privacy.delta,
            "peak_rss_mb": mon.peak_mb,
        }
    results["machine"]["torch_threads"] = torch.get_num_threads()
    if not args.skip_plain:
        # textbook recipe: mean pooling without radtrust's rescaling of the pooled vector
        cfg = base.model_copy(update={"epsilon": args.epsilon, "method": "lora", "lora_top_layers": None, "pooled_norm": None})
        timing: dict = {}
        t0 = time.perf_counter()
        with RssMonitor() as mon:
            plain = plain_opacus_fit(cfg, train, labels, timing)
        wall = time.perf_counter() - t0
        m = score_against_gold(plain, test, gold, seed=args.seed)
        runs["plain_opacus"] = {
            "samples_per_s": timing["records_seen"] / timing["train_seconds"],
            "train_seconds": timing["train_seconds"],
            "fit_wall_seconds": wall,
            "weighted_f1": m["weighted_f1"],
            "weighted_f1_ci95": m["ci95"]["weighted_f1"],
            "epsilon": timing["epsilon"],
            "delta": timing["delta"],
            "peak_rss_mb": mon.peak_mb,
        }
    results["runs"] = runs
    r, n = runs["radtrust"], runs["nonprivate"]
    p = runs.get("plain_opacus")
    results.update(
        {
            "nonprivate_samples_per_s": round(n["samples_per_s"], 2),
            "opacus_hooks_samples_per_s": round(p["samples_per_s"], 2) if p else None,
            "radtrust_dp_samples_per_s": round(r["samples_per_s"], 2),
            "ratio_dp_over_nonprivate": round(r["samples_per_s"] / n["samples_per_s"], 3),
            "speedup_over_plain_opacus_wall": round(p["fit_wall_seconds"] / r["fit_wall_seconds"], 2) if p else None,
            "heldout_wf1": {"plain_opacus": round(p["weighted_f1"], 4) if p else None, "radtrust": round(r["weighted_f1"], 4), "radtrust_nonprivate": round(n["weighted_f1"], 4)},
            "peak_rss_mb": {k: v["peak_rss_mb"] for k, v in runs.items()},
        }
    )

    table = Table(title=f"DP training speed ({desc}; {len(train)} train, {len(test)} test; {base.epochs} epochs, batch {base.batch_size})")
    for col in ("run", "samples/s", "train s", "fit wall s", "weighted F1 [95% CI]", "ε", "peak RSS MB"):
        table.add_column(col, justify="right")
    for name, v in runs.items():
        ci = v["weighted_f1_ci95"]
        eps = "inf" if v["delta"] is None else f"{v['epsilon']:.3f}"
        table.add_row(
            name, f"{v['samples_per_s']:.1f}", f"{v['train_seconds']:.0f}", f"{v['fit_wall_seconds']:.0f}", f"{v['weighted_f1']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]", eps, f"{v['peak_rss_mb']:.0f}"
        )
    Console().print(table)
    Console().print(
        f"DP / non-private samples/s: {results['ratio_dp_over_nonprivate']:.3f}; "
        + (f"wall speed-up over plain Opacus: {results['speedup_over_plain_opacus_wall']:.2f}×" if p else "plain Opacus skipped")
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
