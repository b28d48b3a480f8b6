"""A real interruption: `radtrust train` killed with SIGKILL after a checkpoint, then `--resume`d.

The resumed run must end with the same ε and, with fixed seeds, the same weights as an uninterrupted run,
and must not be charged twice in the privacy ledger.
"""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from radtrust.data.fingerprint import file_fingerprint
from radtrust.privacy.ledger import PrivacyLedger

TINY = ["--encoder", "tiny", "--max-length", "32", "--batch-size", "32", "--accountant", "rdp", "--epsilon", "3", "-q"]


def _cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "radtrust.cli", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("resume")
    assert _cli("synth", "chest", "--n", 200, "--seed", 3, "--out", "c.parquet", cwd=d).returncode == 0
    assert _cli("label", "c.parquet", "--vocab", "chexpert14", "--out", "labels.csv", cwd=d).returncode == 0
    return d


def test_killed_run_resumes_to_the_uninterrupted_result(data_dir, tmp_path):
    d, ledger = data_dir, tmp_path / "ledger.sqlite"
    epochs = "12"  # the kill lands after epoch 1 of 12: most of the run is left for --resume
    common = ["--data", "c.parquet", "--labels", "labels.csv", "--epochs", epochs, "--ledger", str(ledger), *TINY]
    ref = _cli("train", *common, "--out", tmp_path / "ref", cwd=d)
    assert ref.returncode == 0, ref.stderr

    out = tmp_path / "run"
    ck = tmp_path / "run.checkpoint" / "checkpoint.safetensors"
    proc = subprocess.Popen([sys.executable, "-m", "radtrust.cli", "train", *common, "--out", str(out)], cwd=d, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not ck.exists():
            assert proc.poll() is None, f"run ended before its first checkpoint: {proc.stderr.read()}"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL and not out.exists()

    again = _cli("train", *common, "--out", out, cwd=d)  # without --resume: refused, the checkpoint is named
    assert again.returncode == 2 and "--resume" in again.stderr and "Traceback" not in again.stderr

    resumed = _cli("train", *common, "--out", out, "--resume", cwd=d)
    assert resumed.returncode == 0, resumed.stderr
    assert not ck.parent.exists()  # cleaned up once the run folder is in place

    p_ref, p_res = (json.loads((r / "privacy.json").read_text()) for r in (tmp_path / "ref", out))
    assert p_res["epsilon"] == p_ref["epsilon"] and p_res["epsilon_per_epoch"] == p_ref["epsilon_per_epoch"]
    for f in ("adapter.safetensors", "head.safetensors"):
        a, b = load_file(str(tmp_path / "ref" / f)), load_file(str(out / f))
        assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a), f

    charges = PrivacyLedger(ledger).charges(file_fingerprint(d / "c.parquet"))
    assert len(charges) == 2  # the reference run and the interrupted-then-resumed one: charged once
    assert sorted(c.status for c in charges) == ["finished", "finished"]
    run_ids = {json.loads((r / "run.json").read_text())["ledger_run_id"] for r in (tmp_path / "ref", out)}
    assert run_ids == {c.run_id for c in charges}
