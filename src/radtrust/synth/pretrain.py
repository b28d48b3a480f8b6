"""``radtrust pretrain``: fit a warm start for report students on the built-in synthetic cohort only.

The synthetic chest generator (:mod:`radtrust.synth.chest`) takes its settings from :class:`ChestSynthConfig`
alone, never from a user's data, and its reports describe no patient. A student trained on them without
privacy, labelled by the teacher (the rule labeler, as the private student will be) or by the generator's
hidden truth, is public: a private run can start from it at no privacy cost
(:mod:`radtrust.train.warm_start`). The folder written here is a run folder plus ``pretrain.json`` and
``encoder_delta.safetensors``; the same command and version rebuild it bit for bit on the same machine kind
(fixed seeds; CPU arithmetic is deterministic for one thread count, so ``pretrain.json`` records it).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Literal

import torch
from safetensors.torch import save_file

from radtrust._version import __version__
from radtrust.data.io import write_json
from radtrust.labeling.rules import RuleLabeler
from radtrust.models.text import TINY_ENCODER, encoder_delta, load_encoder, merged_encoder_state
from radtrust.synth.chest import ChestSynthConfig, synth_chest
from radtrust.train.config import PRETRAIN_FIXED, TrainConfig
from radtrust.train.estimator import ReportClassifier, prepare_run_dir, publish_run_dir

Targets = Literal["teacher", "truth"]


def rebuild_command(config: TrainConfig, n: int, seed: int, vocab: str, targets: str, threads: int) -> str:
    """The ``radtrust pretrain`` command line that rebuilds a warm start: the corpus, the teacher, and every
    training option that differs from its default (the defaults are those of this radtrust version, which
    ``pretrain.json`` also records), with the thread count pinned (CPU sums are exact only per thread count)."""
    parts = ["radtrust", "pretrain", "--n-reports", str(n), "--corpus-seed", str(seed), "--vocab", vocab, "--targets", targets]
    default = TrainConfig()
    for name in TrainConfig.model_fields:
        value = getattr(config, name)
        if name == "num_threads":
            value = threads
        elif name in PRETRAIN_FIXED or value == getattr(default, name):
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else f"--no-{flag[2:]}")
        else:
            parts += [flag, ",".join(map(str, value)) if isinstance(value, list) else str(value)]
    return " ".join([*parts, "--out", "OUT"])


def pretrain(
    out: str | Path,
    config: TrainConfig | None = None,
    n: int = 20_000,
    seed: int = 0,
    vocab: str = "chestxray14",
    targets: Targets = "teacher",
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Synthesize ``n`` chest reports, label them (``teacher``: the rule labeler with ``vocab``; ``truth``: the
    generator's CheXpert-14 truth), train ``config`` on them without privacy and write the pretrain folder
    ``out`` atomically. No privacy ledger is touched: no patient's record is read."""
    out = prepare_run_dir(out, overwrite)
    base = config or TrainConfig()
    fixed = {name: TrainConfig.model_fields[name].get_default(call_default_factory=True) for name in PRETRAIN_FIXED}
    cfg = base.model_copy(update={**fixed, "epsilon": math.inf, "warm_start": None})
    synth = ChestSynthConfig(n=n, seed=seed)
    cohort, truth = synth_chest(synth)
    labels = RuleLabeler(vocab).label(cohort) if targets == "teacher" else truth
    clf = ReportClassifier(cfg).fit(cohort, labels, progress=progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        clf.write_run(tmp)
        merged = merged_encoder_state(ReportClassifier.load(tmp).net)  # a loaded copy: merging consumes LoRA
        # The tiny test encoder is random (seeded per run), so its warm start keeps every tensor.
        delta = merged if cfg.encoder == TINY_ENCODER else encoder_delta(load_encoder(cfg.encoder, cfg.seed), merged)
        save_file(delta, str(tmp / "encoder_delta.safetensors"), metadata={"format": "pt"})  # one key: byte-stable (pretrain.json names the encoder)
        rebuild = rebuild_command(cfg, n, seed, vocab, targets, torch.get_num_threads())
        info = {
            "format": 1,
            "data": "synthetic chest X-ray reports (radtrust.synth.chest)",
            "patient_data": "none",
            "generator": "radtrust.synth.chest.synth_chest",
            "generator_config": json.loads(synth.model_dump_json()),
            "n_reports": n,
            "teacher": labels.source if targets == "teacher" else "generator truth (CheXpert-14)",
            "encoder": cfg.encoder,
            "method": cfg.method,
            "epochs": cfg.epochs,
            "findings": clf.findings,
            "radtrust_version": __version__,
            "torch_threads": torch.get_num_threads(),
            "rebuild": rebuild,
        }
        write_json(info, tmp / "pretrain.json")
        publish_run_dir(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out
