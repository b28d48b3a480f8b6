"""Warm start: a report student that begins from weights fitted on synthetic reports only.

Data that holds no patient's record costs no privacy. ``radtrust pretrain`` (:mod:`radtrust.synth.pretrain`)
trains a student non-privately on the built-in synthetic cohort, labelled by the teacher (the rule labeler)
or by the generator's hidden truth, and writes a *pretrain folder*: an ordinary run folder plus

- ``pretrain.json``: what it was fitted on (generator, its settings, the number of reports, the teacher),
  ``"patient_data": "none"``, and the command that rebuilds it;
- ``encoder_delta.safetensors``: the encoder weights that differ from the base encoder after training (LoRA
  merged into its weights), so any method (head, lora, bitfit, full) can start from the adapted encoder.

A private run with ``warm_start: DIR`` builds its encoder from the base encoder plus that delta, and starts
its head from the pretrain head's rows for the findings both learned. DP-SGD's guarantee holds for any
initial weights chosen without looking at the private data (Abadi et al. 2016 start from public
pre-training for the same reason), so the run's (ε, δ) is unchanged; ``privacy.json`` names the warm start
and what it was fitted on. The synthetic generator takes no parameters from the user's data.

A warm start is copied into the run folder (``warm_start/``) so the run predicts on any machine.

One warm start ships inside the package (:data:`BUNDLED`): ``radtrust pretrain`` on synthetic chest reports
labelled by the rule labeler (ChestX-ray14 vocabulary), fitted on no patient data; its ``pretrain.json`` holds
the command that rebuilds it (``make warm-start`` runs it and compares the bytes). ``warm_start: auto`` (the
default) uses it whenever the run's encoder is the bundled all-MiniLM-L6-v2 it was fitted for.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from radtrust.errors import ConfigError
from radtrust.models.text import DEFAULT_ENCODER

#: The warm start that ships with radtrust (package data; see the module docstring).
BUNDLED = Path(__file__).resolve().with_name("warm_starts") / "chest_minilm_l6"

#: The files of a pretrain folder that a warm start reads.
WARM_START_FILES = ("pretrain.json", "encoder_delta.safetensors", "head.safetensors", "labels.json")


@dataclass
class WarmStart:
    """A pretrain folder, read and checked."""

    path: Path
    info: dict  # pretrain.json
    delta: dict[str, torch.Tensor]
    head: dict[str, torch.Tensor]
    findings: list[str]
    sha256: str  # of encoder_delta.safetensors: names the weights in run records and feature caches

    def describe(self) -> dict:
        """What ``privacy.json`` and ``run.json`` say about the warm start (no path: a run folder is released)."""
        keep = ("data", "patient_data", "generator", "generator_config", "n_reports", "teacher", "method", "epochs", "rebuild")
        return {"encoder_delta_sha256": self.sha256, **{k: self.info[k] for k in keep if k in self.info}}

    def init_head(self, head: torch.nn.Module, findings: list[str]) -> list[str]:
        """Copy the pretrain head's rows into ``head`` for the findings both know; the others keep their
        random start. A head of another layout (the run pools differently from the pretrain run) keeps its
        random start: the adapted encoder is still used. Returns the findings copied."""
        own = dict(head.named_parameters())
        if set(own) != set(self.head) or any(own[k].shape[1:] != self.head[k].shape[1:] for k in own):
            return []
        shared = [f for f in findings if f in self.findings]
        with torch.no_grad():
            for k, param in own.items():
                for f in shared:
                    param[findings.index(f)] = self.head[k][self.findings.index(f)]
        return shared


def resolve_warm_start(value: str | Path | None, encoder: str) -> Path | None:
    """The pretrain folder that ``warm_start: value`` names for a run on ``encoder``: ``auto`` is the bundled
    warm start for the encoder it was fitted for and nothing for any other encoder; ``none`` (or None) is
    nothing; anything else is a folder path."""
    if value is None or str(value) == "none":
        return None
    if str(value) == "auto":
        if encoder != DEFAULT_ENCODER:
            return None
        if not (BUNDLED / "pretrain.json").exists():
            raise ConfigError(f"{BUNDLED}: the bundled warm start is missing from this installation (reinstall radtrust, or pass --warm-start none)")
        return BUNDLED
    return Path(value)


def read_warm_start(value: str | Path, encoder: str) -> WarmStart:
    """Read a pretrain folder, checking that it is one, that it was fitted on no patient
    data, and that it fits ``encoder``; every failure is a one-line :class:`ConfigError` naming the folder."""
    path = Path(value)
    if not path.is_dir():
        raise ConfigError(f"{path}: warm_start: no such pretrain folder")
    missing = [f for f in WARM_START_FILES if not (path / f).exists()]
    if missing:
        raise ConfigError(f"{path}: warm_start: not a pretrain folder (missing {', '.join(missing)}; make one with 'radtrust pretrain')")
    try:
        info = json.loads((path / "pretrain.json").read_text(encoding="utf-8"))
        findings = json.loads((path / "labels.json").read_text(encoding="utf-8"))["findings"]
        delta, head = load_file(str(path / "encoder_delta.safetensors")), load_file(str(path / "head.safetensors"))
    except Exception as e:  # noqa: BLE001 - any damaged file is reported the same way
        raise ConfigError(f"{path}: warm_start: damaged pretrain folder ({type(e).__name__})") from None
    if info.get("patient_data") != "none":
        # Only weights fitted without patient data leave the run's guarantee as it is.
        raise ConfigError(f"{path}: warm_start: pretrain.json does not say it was fitted on no patient data")
    if info.get("encoder") != encoder:
        raise ConfigError(f"{path}: warm_start: fitted for encoder '{info.get('encoder')}', this run uses '{encoder}'")
    digest = hashlib.sha256((path / "encoder_delta.safetensors").read_bytes()).hexdigest()
    return WarmStart(path, info, delta, head, list(findings), digest)


def copy_warm_start(warm: WarmStart, run: Path) -> None:
    """Put the warm start's files in ``run/warm_start`` so the run loads without the original folder."""
    dest = run / "warm_start"
    dest.mkdir(parents=True, exist_ok=True)
    for f in WARM_START_FILES:
        shutil.copyfile(warm.path / f, dest / f)
