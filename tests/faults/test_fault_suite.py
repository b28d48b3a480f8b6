"""The standing fault suite (issue 18): bad inputs and faults across every command, one table.

Each case runs the real command line (``radtrust.cli.main``, in this process for speed; the signal test
below uses a real subprocess) in a fresh copy of a small workspace: synthetic reports with a planted
clinician name, their labels, a trained tiny report run, a small image manifest. Every case checks the
same promises:

- the exit code (2 for every user mistake and fault, 0 where the command should succeed);
- stderr holds exactly one ``radtrust:`` line for a failure and never a traceback;
- every file that was there before is byte-identical afterwards (inputs are never replaced);
- the planted name appears in no message and in no file written (no leak of identifiers);
- the privacy ledger holds the expected charges (most cases: none counting; a run that cannot start is
  never charged), and a failure leaves no half-written output, temporary file or stale checkpoint.

``PROMISES`` counts how many cases exercise each promise; the closing note of issue 18 quotes it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

PLANTED = "Quillfeather"  # a surname no synthetic report holds; planted in reports and file headers
PLANTED_SENTENCE = f" Discussed with Dr. Zebediah {PLANTED} on the ward."


# ---------------------------------------------------------------------------------------------- workspace
def _write_png(path: Path, seed: int) -> None:
    from PIL import Image

    arr = (np.random.default_rng(seed).random((48, 48)) * 255).astype(np.uint8)
    Image.fromarray(arr).save(path)


def _write_dicom_without_pixels(path: Path) -> None:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientID, ds.Modality, ds.Rows, ds.Columns = "W9", "MG", 48, 48
    ds.save_as(path, enforce_file_format=True)  # every header, no PixelData


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """The files every case starts from (copied per case, so no case sees another's leftovers)."""
    from radtrust.synth.chest import ChestSynthConfig, synth_chest
    from radtrust.train.api import fit_and_save
    from radtrust.train.config import TrainConfig

    ws = tmp_path_factory.mktemp("faults")
    cohort, truth = synth_chest(ChestSynthConfig(n=80, seed=11))
    frame = cohort.frame[["case_id", "patient_id", "findings", "impression"]].copy()
    frame.loc[::4, "findings"] = frame.loc[::4, "findings"] + PLANTED_SENTENCE
    frame.to_csv(ws / "reports.csv", index=False)
    labels = truth.frame[["case_id", "Cardiomegaly", "Edema", "Pleural Effusion"]]
    labels.to_csv(ws / "labels.csv", index=False)
    aged = frame.assign(age=60.0, sex="F")
    aged.to_csv(ws / "reports_aged.csv", index=False)
    # a trained run (tiny random encoder: the machinery, not accuracy), never charged to any ledger
    from radtrust.data.readers import read_cohort, read_labels
    from radtrust.deid.door import CohortDeidentifier

    cfg = TrainConfig(encoder="tiny", epochs=1, batch_size=32, max_length=32, num_threads=2, epsilon=float("inf"))
    fit_and_save(read_cohort(ws / "reports.csv", deid=CohortDeidentifier()), read_labels(ws / "labels.csv"), cfg, ws / "run", ledger=None, checkpoint=False)
    # images: four PNG views of two women, and a manifest
    (ws / "img").mkdir()
    rows = []
    for i in range(8):
        _write_png(ws / "img" / f"v{i}.png", i)
        rows.append({"case_id": f"v{i}", "patient_id": f"w{i // 4}", "image_path": f"img/v{i}.png", "laterality": "LR"[i % 2], "view": "CC"})
    import pandas as pd

    pd.DataFrame(rows).to_csv(ws / "images.csv", index=False)
    pd.DataFrame({"case_id": [r["case_id"] for r in rows], "abnormal": [i % 2 for i in range(8)]}).to_csv(ws / "images_labels.csv", index=False)
    # a trained image run (tiny backbone), for the damaged-weights case
    from radtrust.data.image_readers import read_images
    from radtrust.train.config import ImageTrainConfig

    images, _ = read_images(ws / "images.csv")
    icfg = ImageTrainConfig(backbone="tiny", epochs=1, image_size=32, epsilon=float("inf"), num_threads=2)
    fit_and_save(images, read_labels(ws / "images_labels.csv"), icfg, ws / "image_run", ledger=None, checkpoint=False)
    return ws


# ------------------------------------------------------------------------------------------------ cases
@dataclass(frozen=True)
class Case:
    name: str
    args: list[str]
    code: int = 2
    message: str = ""  # regex the one stderr line must match
    setup: Callable[[Path], None] | None = None
    promises: tuple[str, ...] = ()  # which issue-18 class the case stands for (besides the checks all share)
    counted_charges: int = 0  # charges that count in the ledger afterwards
    may_change: tuple[str, ...] = field(default_factory=tuple)  # files the command may rewrite (none by default)


def _text(name: str, content: str) -> Callable[[Path], None]:
    return lambda d: (d / name).write_text(content, encoding="utf-8")


def _bytes(name: str, content: bytes) -> Callable[[Path], None]:
    return lambda d: (d / name).write_bytes(content)


def _truncate(name: str, keep: int = 40) -> Callable[[Path], None]:
    return lambda d: (d / name).write_bytes((d / name).read_bytes()[:keep])


def _all(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def run(d: Path) -> None:
        for s in steps:
            s(d)

    return run


def _edit_csv(src: str, dst: str, **assign) -> Callable[[Path], None]:
    def run(d: Path) -> None:
        import pandas as pd

        frame = pd.read_csv(d / src, dtype=str)
        for col, value in assign.items():
            frame.loc[frame.index[:3], col] = value
        frame.to_csv(d / dst, index=False)

    return run


def _no_pixels(d: Path) -> None:
    import pandas as pd

    _write_dicom_without_pixels(d / "img" / "broken.dcm")
    frame = pd.read_csv(d / "images.csv")
    frame.loc[len(frame)] = {"case_id": "v9", "patient_id": "w2", "image_path": "img/broken.dcm", "laterality": "L", "view": "CC"}
    frame.to_csv(d / "images_broken.csv", index=False)
    pd.read_csv(d / "images_labels.csv").pipe(lambda f: pd.concat([f, pd.DataFrame({"case_id": ["v9"], "abnormal": [1]})])).to_csv(d / "images_labels.csv", index=False)


def _broken_encoder(d: Path) -> None:
    from radtrust.models.text import bundled_encoder_path

    src = bundled_encoder_path()
    (d / "enc").mkdir()
    for f in src.iterdir():
        if f.is_file() and f.suffix != ".safetensors":
            shutil.copy(f, d / "enc" / f.name)
    (d / "enc" / "model.safetensors").write_bytes(os.urandom(2048))


def _earlier_sweep(d: Path) -> None:
    (d / "sw").mkdir()
    (d / "sw" / "sweep.json").write_text('{"status": "complete", "rows": []}\n')


def _budget(eps: float) -> Callable[[Path], None]:
    def run(d: Path) -> None:
        from radtrust.data.fingerprint import file_fingerprint
        from radtrust.privacy.ledger import PrivacyLedger

        PrivacyLedger(d / "ledger.sqlite").set_budget(file_fingerprint(d / "reports.csv"), eps, 1e-3)

    return run


HEADERLESS = "".join(f"c{i},p{i},Patient of Dr. Zebediah {PLANTED}. No effusion.\n" for i in range(5))
RAGGED = "case_id,patient_id,findings\nc1,p1,No effusion.\nc2,p2,Small effusion.,extra,fields\nc3,p3,Normal.\n"
TRAIN = ["train", "--data", "reports.csv", "--labels", "labels.csv", "--encoder", "tiny", "--epochs", "1", "--quiet"]
TRAIN_IMAGES = ["train-images", "--data", "images.csv", "--labels", "images_labels.csv", "--backbone", "tiny", "--epochs", "1", "--quiet"]
SWEEP = ["sweep", "--data", "reports.csv", "--labels", "labels.csv", "--encoder", "tiny", "--epochs", "1", "--methods", "head", "--quiet"]
PREDICT = ["predict", "--run", "run", "--data", "reports.csv", "--quiet"]
FAIRNESS = ["audit", "fairness", "--run", "run", "--data", "reports_aged.csv", "--labels", "labels.csv", "--groups", "sex", "--n-bootstrap", "20", "--quiet"]

CASES = [
    # -- usage errors: one line, exit 2 (class 4)
    Case("usage: epsilon not a number", [*TRAIN, "--out", "r", "--epsilon", "abc"], message="epsilon", promises=("usage",)),
    Case("usage: unknown option", ["label", "reports.csv", "--out", "l.csv", "--bogus"], message="bogus", promises=("usage",)),
    Case("usage: unknown command", ["frobnicate"], message="frobnicate", promises=("usage",)),
    Case("usage: missing --out", ["label", "reports.csv"], message="out", promises=("usage",)),
    Case("usage: train without options", ["train"], message="Missing option", promises=("usage",)),
    Case("usage: unknown --deid mode", ["--deid", "bogus", "label", "reports.csv", "--out", "l.csv"], message="deid", promises=("usage",)),
    Case("usage: sweep --resume with --overwrite", [*SWEEP, "--out", "sw", "--resume", "--overwrite"], message="one of them", promises=("usage",)),
    Case("usage: negative budget", ["budget", "set", "reports.csv", "--epsilon", "-1"], message="epsilon", promises=("usage", "charges")),
    # -- identifiers never reach a message or an output (class 2)
    Case("leak: headerless CSV, label", ["label", "headerless.csv", "--out", "l.csv"], message="header|column", setup=_text("headerless.csv", HEADERLESS), promises=("leaks",)),
    Case("leak: headerless CSV, deid", ["deid", "headerless.csv", "--out", "d.csv"], message="header|column", setup=_text("headerless.csv", HEADERLESS), promises=("leaks",)),
    Case("leak: headerless CSV, train", [*TRAIN, "--data", "headerless.csv", "--out", "r"], message="header|column", setup=_text("headerless.csv", HEADERLESS), promises=("leaks", "charges")),
    Case("leak: headerless CSV, predict", [*PREDICT, "--data", "headerless.csv", "--out", "p.csv"], message="header|column", setup=_text("headerless.csv", HEADERLESS), promises=("leaks",)),
    Case("leak: names are masked in deid output", ["deid", "reports.csv", "--out", "d.csv"], code=0, promises=("leaks",)),
    Case(
        "leak: name before a record number",
        ["deid", "mrn.csv", "--out", "d.csv"],
        code=0,
        setup=_text("mrn.csv", f"case_id,findings\nc1,Zebediah {PLANTED} MRN 12345678. No effusion.\n"),
        promises=("leaks",),
    ),
    Case("leak: labels carry no text", ["label", "reports.csv", "--out", "l.csv"], code=0, promises=("leaks",)),
    Case("leak: predictions carry no text", [*PREDICT, "--out", "p.csv"], code=0, promises=("leaks",)),
    # -- nothing charged for a run that cannot start (class 3)
    Case("charge: missing encoder", [*TRAIN, "--encoder", "no_such_model", "--out", "r", "--epsilon", "8"], message="encoder", promises=("charges",)),
    Case("charge: damaged encoder weights", [*TRAIN, "--encoder", "enc", "--out", "r", "--epsilon", "8"], message="damaged encoder weights", setup=_broken_encoder, promises=("charges",)),
    Case("charge: unreachable epsilon", [*TRAIN, "--out", "r", "--epsilon", "1e-9"], message="cannot reach", promises=("charges",)),
    Case("charge: delta not below 1/N", [*TRAIN, "--out", "r", "--epsilon", "8", "--delta", "0.5"], message="delta", promises=("charges",)),
    Case("charge: --out below a file", [*TRAIN, "--out", "afile/r", "--epsilon", "8"], message="is a file", setup=_text("afile", "x"), promises=("charges", "outputs")),
    Case("charge: --out is a file", [*TRAIN, "--out", "afile", "--epsilon", "8"], message="is a file", setup=_text("afile", "x"), promises=("charges", "outputs")),
    Case("charge: --out holds a run", [*TRAIN, "--out", "run", "--epsilon", "8"], message="--overwrite", promises=("charges", "data loss")),
    Case(
        "charge: labels match no case",
        [*TRAIN, "--labels", "other_labels.csv", "--out", "r", "--epsilon", "8"],
        message="case ids",
        setup=_text("other_labels.csv", "case_id,Edema\nzz1,1\nzz2,0\n"),
        promises=("charges",),
    ),
    Case("charge: over the budget", [*TRAIN, "--out", "r", "--epsilon", "8"], message="over the privacy budget", setup=_budget(1.0), promises=("charges",)),
    Case("charge: non-private run under a budget", [*TRAIN, "--out", "r", "--epsilon", "inf"], message="non-private run", setup=_budget(10.0), promises=("charges",)),
    Case(
        "charge: DICOM without pixel data",
        [*TRAIN_IMAGES, "--data", "images_broken.csv", "--out", "r", "--epsilon", "8"],
        message="broken.dcm",
        setup=_no_pixels,
        promises=("charges",),
        may_change=("images_labels.csv",),
    ),
    Case(
        "charge: image file missing",
        [*TRAIN_IMAGES, "--data", "images_gone.csv", "--out", "r", "--epsilon", "8"],
        message="not found",
        setup=_edit_csv("images.csv", "images_gone.csv", image_path="img/gone.png"),
        promises=("charges",),
    ),
    Case(
        "charge: laterality neither L nor R",
        [*TRAIN_IMAGES, "--data", "images_b.csv", "--out", "r", "--epsilon", "8"],
        message="laterality",
        setup=_edit_csv("images.csv", "images_b.csv", laterality="B"),
        promises=("charges", "wrong results"),
    ),
    Case(
        "charge: age below zero",
        [*TRAIN, "--data", "aged_bad.csv", "--out", "r", "--epsilon", "8", "--groups", "age"],
        message="age",
        setup=_edit_csv("reports_aged.csv", "aged_bad.csv", age="-5"),
        promises=("charges", "wrong results"),
    ),
    Case(
        "charge: age of 999",
        [*TRAIN, "--data", "aged_bad.csv", "--out", "r", "--epsilon", "8"],
        message="age",
        setup=_edit_csv("reports_aged.csv", "aged_bad.csv", age="999"),
        promises=("charges", "wrong results"),
    ),
    Case(
        "charge: damaged checkpoint identity with --resume",
        [*TRAIN, "--out", "r", "--epsilon", "8", "--resume"],
        message="damaged checkpoint",
        setup=_all(lambda d: (d / "r.checkpoint").mkdir(), _text("r.checkpoint/run.json", "{not json")),
        promises=("charges", "damaged"),
    ),
    Case("charge: warm start is a run folder, not a pretrain folder", [*TRAIN, "--out", "r", "--epsilon", "8", "--warm-start", "run"], message="not a pretrain folder", promises=("charges",)),
    Case(
        "charge: damaged warm-start weights",
        [*TRAIN, "--out", "r", "--epsilon", "8", "--warm-start", "ws"],
        message="damaged pretrain folder",
        setup=_all(
            lambda d: (d / "ws").mkdir(),
            _text("ws/pretrain.json", '{"patient_data": "none", "encoder": "tiny"}'),
            _text("ws/labels.json", '{"findings": ["Edema"]}'),
            _bytes("ws/head.safetensors", os.urandom(200)),
            _bytes("ws/encoder_delta.safetensors", os.urandom(200)),
        ),
        promises=("charges", "damaged"),
    ),
    Case("charge: --resume with nothing to resume", [*TRAIN, "--out", "r", "--epsilon", "8", "--resume"], message="no checkpoint", promises=("charges",)),
    Case("charge: sweep --out is a file", [*SWEEP, "--out", "afile", "--epsilons", "8"], message="is a file", setup=_text("afile", "x"), promises=("charges", "outputs")),
    Case("charge: sweep over an earlier sweep", [*SWEEP, "--out", "sw", "--epsilons", "8"], message="--overwrite", setup=_earlier_sweep, promises=("charges", "data loss")),
    Case("charge: sweep with one unreachable epsilon", [*SWEEP, "--out", "sw2", "--epsilons", "8,1e-9"], message="cannot reach", promises=("charges",)),
    Case("charge: sweep --resume with no sweep", [*SWEEP, "--out", "sw3", "--epsilons", "8", "--resume"], message="no sweep.json", promises=("charges",)),
    # -- damaged run folders: the damaged file is named (class 4)
    Case("damaged: truncated head weights", [*PREDICT, "--out", "p.csv"], message=r"head\.safetensors", setup=_truncate("run/head.safetensors"), promises=("damaged",)),
    Case("damaged: random head weights", [*PREDICT, "--out", "p.csv"], message=r"head\.safetensors", setup=_bytes("run/head.safetensors", os.urandom(500)), promises=("damaged",)),
    Case("damaged: random adapter weights", [*PREDICT, "--out", "p.csv"], message=r"adapter\.safetensors", setup=_bytes("run/adapter.safetensors", os.urandom(500)), promises=("damaged",)),
    Case("damaged: thresholds.json not JSON", [*PREDICT, "--out", "p.csv"], message=r"thresholds\.json", setup=_text("run/thresholds.json", "{"), promises=("damaged",)),
    Case("damaged: thresholds.json without a finding", [*PREDICT, "--out", "p.csv"], message=r"thresholds\.json", setup=_text("run/thresholds.json", '{"thresholds": {}}'), promises=("damaged",)),
    Case("damaged: config.yaml not YAML", [*PREDICT, "--out", "p.csv"], message=r"config\.yaml", setup=_text("run/config.yaml", "epochs: [1, 2\n  bad: {"), promises=("damaged",)),
    Case("damaged: config.yaml a list", [*PREDICT, "--out", "p.csv"], message=r"config\.yaml", setup=_text("run/config.yaml", "- 1\n- 2\n"), promises=("damaged",)),
    Case("damaged: labels.json empty", [*PREDICT, "--out", "p.csv"], message=r"labels\.json", setup=_text("run/labels.json", ""), promises=("damaged",)),
    Case("damaged: labels.json without findings", [*PREDICT, "--out", "p.csv"], message=r"labels\.json", setup=_text("run/labels.json", '{"findings": []}'), promises=("damaged",)),
    Case("damaged: run file missing", [*PREDICT, "--out", "p.csv"], message="missing privacy.json", setup=lambda d: (d / "run" / "privacy.json").unlink(), promises=("damaged",)),
    Case(
        "damaged: evaluate with broken thresholds",
        ["evaluate", "--run", "run", "--data", "reports.csv", "--labels", "labels.csv", "--out", "m.json", "--quiet"],
        message=r"thresholds\.json",
        setup=_text("run/thresholds.json", "[1, 2]"),
        promises=("damaged",),
    ),
    Case("damaged: audit with broken config", [*FAIRNESS, "--out", "f.json"], message=r"config\.yaml", setup=_text("run/config.yaml", ":::"), promises=("damaged",)),
    Case(
        "damaged: random image model weights",
        ["predict", "--run", "image_run", "--data", "images.csv", "--out", "p.csv", "--quiet"],
        message=r"image_model\.safetensors",
        setup=_bytes("image_run/image_model.safetensors", os.urandom(700)),
        promises=("damaged",),
    ),
    Case(
        "damaged: image weights of another shape",
        ["predict", "--run", "image_run", "--data", "images.csv", "--out", "p.csv", "--quiet"],
        message=r"image_model\.safetensors",
        setup=lambda d: shutil.copy(d / "run" / "head.safetensors", d / "image_run" / "image_model.safetensors"),
        promises=("damaged",),
    ),
    Case("ok: image run predicts", ["predict", "--run", "image_run", "--data", "images.csv", "--out", "p.csv", "--quiet"], code=0),
    Case("damaged: no such run", [*PREDICT, "--run", "nope", "--out", "p.csv"], message="no such run folder", promises=("damaged",)),
    # -- outputs: the format the name asks for, somewhere writable (class 4)
    Case("output: predictions named .json", [*PREDICT, "--out", "p.json"], message=r"\.csv", promises=("outputs", "wrong results")),
    Case(
        "output: metrics named .csv",
        ["evaluate", "--run", "run", "--data", "reports.csv", "--labels", "labels.csv", "--out", "m.csv", "--quiet"],
        message=r"\.json",
        promises=("outputs", "wrong results"),
    ),
    Case("output: predictions into a folder", [*PREDICT, "--out", "img"], message="is a folder", promises=("outputs",)),
    Case("output: labels below a file", ["label", "reports.csv", "--out", "afile/l.csv"], message="is a file", setup=_text("afile", "x"), promises=("outputs",)),
    Case("output: labels named .txt", ["label", "reports.csv", "--out", "l.txt"], message=r"\.csv", promises=("outputs", "wrong results")),
    Case("output: deid below a file", ["deid", "reports.csv", "--out", "afile/d.csv"], message="is a file", setup=_text("afile", "x"), promises=("outputs",)),
    Case("output: deid named .json", ["deid", "reports.csv", "--out", "d.json"], message=r"\.csv", promises=("outputs", "wrong results")),
    Case("output: label audit named .json", ["audit", "labels", "--data", "reports.csv", "--labels", "labels.csv", "--out", "a.json", "--quiet"], message=r"\.csv", promises=("outputs",)),
    Case(
        "output: label audit summary named .csv",
        ["audit", "labels", "--data", "reports.csv", "--labels", "labels.csv", "--out", "a.csv", "--summary", "s.csv", "--quiet"],
        message=r"\.json",
        promises=("outputs",),
    ),
    Case("output: fairness plot below a file (nothing written)", [*FAIRNESS, "--out", "f.json", "--plot", "afile/p.png"], message="is a file", setup=_text("afile", "x"), promises=("outputs",)),
    Case("output: fairness plot named .jpg", [*FAIRNESS, "--out", "f.json", "--plot", "p.jpg"], message=r"\.png", promises=("outputs",)),
    Case("output: fairness json named .csv", [*FAIRNESS, "--out", "f.csv"], message=r"\.json", promises=("outputs",)),
    Case("output: fairness --out and --report the same file", [*FAIRNESS, "--out", "f.json", "--report", "f.json"], message="different files|html", promises=("outputs",)),
    # -- wrong results with exit 0 are refused (class 4)
    Case("wrong: report model on an image list (predict)", [*PREDICT, "--data", "images.csv", "--out", "p.csv"], message="image list", promises=("wrong results",)),
    Case(
        "wrong: report model on an image list (evaluate)",
        ["evaluate", "--run", "run", "--data", "images.csv", "--labels", "images_labels.csv", "--out", "m.json", "--quiet"],
        message="image list",
        promises=("wrong results",),
    ),
    Case("wrong: ragged CSV row, label", ["label", "ragged.csv", "--out", "l.csv"], message="Expected 3 fields", setup=_text("ragged.csv", RAGGED), promises=("wrong results",)),
    Case("wrong: ragged CSV row, deid", ["deid", "ragged.csv", "--out", "d.csv"], message="Expected 3 fields", setup=_text("ragged.csv", RAGGED), promises=("wrong results",)),
    Case("wrong: ragged CSV row, train", [*TRAIN, "--data", "ragged.csv", "--out", "r"], message="Expected 3 fields", setup=_text("ragged.csv", RAGGED), promises=("wrong results", "charges")),
    Case("wrong: ragged CSV row, predict", [*PREDICT, "--data", "ragged.csv", "--out", "p.csv"], message="Expected 3 fields", setup=_text("ragged.csv", RAGGED), promises=("wrong results",)),
    # -- data loss (class 1; tests/faults/test_output_is_input.py has the link cases)
    Case("loss: label over its reports", ["label", "reports.csv", "--out", "reports.csv"], message="the output is the input", promises=("data loss",)),
    Case("loss: predict over its reports", [*PREDICT, "--out", "reports.csv"], message="the output is the input", promises=("data loss",)),
    # -- successful runs keep every promise too
    Case("ok: private training is charged once", [*TRAIN, "--out", "r", "--epsilon", "8", "--accountant", "rdp"], code=0, counted_charges=1, promises=("charges",)),
    Case("ok: fairness audit writes all its outputs", [*FAIRNESS, "--out", "f.json", "--plot", "f.png", "--report", "f.html"], code=0),
]

#: promise -> number of cases that test it (every case also tests traceback, inputs, leaks and ledger)
PROMISES = {p: sum(p in c.promises for c in CASES) for p in sorted({p for c in CASES for p in c.promises})}


# ------------------------------------------------------------------------------------------------ runner
def _snapshot(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*")) if p.is_file() and p.name != "ledger.sqlite"}


def _run_cli(args: list[str], d: Path, capsys, monkeypatch) -> tuple[int, str, str]:
    from radtrust.cli import main

    monkeypatch.chdir(d)
    monkeypatch.setattr(sys, "argv", ["radtrust", *args])
    saved = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        signal.signal(signal.SIGINT, saved[0])
        signal.signal(signal.SIGTERM, saved[1])
    out, err = capsys.readouterr()
    return code, out, err


def _charges(ledger: Path) -> list[tuple[str, str]]:
    if not ledger.exists():
        return []
    with sqlite3.connect(ledger) as con:
        return con.execute("SELECT run_id, status FROM charges").fetchall()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault(case: Case, workspace: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    d = tmp_path / "w"
    shutil.copytree(workspace, d)
    ledger = d / "ledger.sqlite"
    monkeypatch.setenv("RADTRUST_LEDGER", str(ledger))
    if case.setup is not None:
        case.setup(d)
    before = _snapshot(d)
    entries_before = {str(p.relative_to(d)) for p in d.rglob("*")}

    code, out, err = _run_cli(case.args, d, capsys, monkeypatch)

    assert code == case.code, (code, err[-2000:])
    assert "Traceback" not in err and "Traceback" not in out
    if case.code != 0:
        errors = [ln for ln in err.splitlines() if ln.startswith("radtrust:")]
        assert len(errors) == 1, err[-2000:]
        assert re.search(case.message, errors[0]), errors[0]
    # inputs never replaced or altered
    after = _snapshot(d)
    changed = [p for p, h in before.items() if p not in case.may_change and after.get(p) != h]
    assert not changed, changed
    # no identifier in any message or any file the command wrote
    assert PLANTED not in out and PLANTED not in err
    written = [p for p, h in after.items() if before.get(p) != h]
    leaked = [p for p in written if PLANTED.encode() in (d / p).read_bytes()]
    assert not leaked, leaked
    # ledger: only what ran is charged
    counted = [c for c in _charges(ledger) if c[1] != "void"]
    assert len(counted) == case.counted_charges, _charges(ledger)
    if case.code != 0:
        # nothing half-written: no temporary files, no new output, no stale checkpoint
        assert not written, written
        new = {str(p.relative_to(d)) for p in d.rglob("*")} - entries_before - {"ledger.sqlite"}
        assert not new, new


def test_every_promise_has_cases() -> None:
    assert len(CASES) >= 60
    assert set(PROMISES) == {"usage", "leaks", "charges", "damaged", "outputs", "wrong results", "data loss"}
    assert all(n >= 3 for n in PROMISES.values()), PROMISES


# ------------------------------------------------------------------------------------------- Ctrl-C, kill
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_says_what_was_kept_and_resume_finishes_under_the_same_charge(workspace: Path, tmp_path: Path, stop: signal.Signals) -> None:
    """SIGINT (or a scheduler's SIGTERM) mid-training: exit 130, one line naming the checkpoint and --resume, the charge kept; the
    same command with --resume finishes under that one charge. No Opacus warning is printed on the way."""
    import pandas as pd

    d = tmp_path / "w"
    shutil.copytree(workspace, d)
    big = pd.concat([pd.read_csv(d / "reports.csv", dtype=str).assign(case_id=lambda f, k=k: f.case_id + f"_{k}", patient_id=lambda f, k=k: f.patient_id + f"_{k}") for k in range(4)])
    big.to_csv(d / "big.csv", index=False)
    lab = pd.concat([pd.read_csv(d / "labels.csv", dtype={"case_id": str}).assign(case_id=lambda f, k=k: f.case_id + f"_{k}") for k in range(4)])
    lab.to_csv(d / "big_labels.csv", index=False)
    env = {**os.environ, "RADTRUST_LEDGER": str(d / "ledger.sqlite")}
    args = [sys.executable, "-m", "radtrust.cli", "train", "--data", "big.csv", "--labels", "big_labels.csv", "--encoder", "tiny", "--out", "r",
            "--epsilon", "8", "--accountant", "rdp", "--epochs", "8", "--batch-size", "32", "--quiet"]  # fmt: skip
    p = subprocess.Popen(args, cwd=d, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not (d / "r.checkpoint" / "checkpoint.safetensors").exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.2)
    p.send_signal(stop)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err[-2000:]
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--resume" in lines[0] and "r.checkpoint" in lines[0] and "Warning" not in err, err[-2000:]
    ((run_id, status),) = _charges(d / "ledger.sqlite")
    assert status == "charged"

    r = subprocess.run([*args, "--resume"], cwd=d, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert _charges(d / "ledger.sqlite") == [(run_id, "finished")] and not (d / "r.checkpoint").exists()
