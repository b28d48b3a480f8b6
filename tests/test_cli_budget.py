"""``radtrust budget`` and the privacy ledger as a user meets them: real subprocesses, a dataset known by its
content, training refused over budget with exit code 2, and a charge that survives SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from radtrust.data.fingerprint import file_fingerprint
from radtrust.privacy.ledger import PrivacyLedger
from test_cli import radtrust  # tests/ is on sys.path (pytest rootdir-relative import)

#: RDP calibrates faster than PRV; the ledger does not care which accountant ran.
TINY = ["--encoder", "tiny", "--max-length", "32", "--batch-size", "32", "--accountant", "rdp", "-q"]


def one_line_error(r: subprocess.CompletedProcess, needle: str) -> None:
    lines = [x for x in r.stderr.strip().splitlines() if x.strip()]
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr, r.stderr


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("budget_cli")
    r = radtrust("synth", "chest", "--n", 120, "--seed", 5, "--out", "c.parquet", cwd=d)
    assert r.returncode == 0, r.stderr
    r = radtrust("label", "c.parquet", "--vocab", "chexpert14", "--out", "labels.csv", cwd=d)
    assert r.returncode == 0, r.stderr
    pd.read_parquet(d / "c.parquet").rename(columns={"case_id": "accession"}).to_csv(d / "copy.csv", index=False)
    return d


def test_budget_set_and_show_follow_the_content(workdir, tmp_path):
    d, ledger = workdir, tmp_path / "l.sqlite"
    fp = file_fingerprint(d / "c.parquet")
    r = radtrust("budget", "set", "c.parquet", "--epsilon", 10, "--delta", 1e-3, "--label", "synthetic", "--ledger", ledger, cwd=d)
    assert r.returncode == 0, r.stderr
    assert fp[:12] in r.stderr and str(ledger) in r.stderr

    # the same reports in another format, under another column name, are the same dataset
    r = radtrust("budget", "show", "copy.csv", "--column-map", "case_id=accession", "--json", "--ledger", ledger, cwd=d)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["fingerprint"] == fp and shown["charges"] == []
    assert shown["budget"]["epsilon"] == 10 and shown["budget"]["delta"] == 1e-3 and shown["budget"]["label"] == "synthetic"
    assert shown["remaining"] == {"epsilon": 10, "delta": 1e-3}

    led = PrivacyLedger(ledger)
    led.charge(fp, "run-a", 4.0, 1e-4, "prv", "lora", "c" * 64)
    led.finish("run-a", 3.995)
    led.charge(fp, "run-b", 2.0, 1e-4, "rdp", "lora", "d" * 64)
    r = radtrust("budget", "show", "c.parquet", "--ledger", ledger, cwd=d)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for needle in ("run-a", "run-b", "finished", "charged", "3.995", "rdp", "cccccccc", "ε = 6, δ = 0.0002", "remaining: ε = 4"):
        assert needle in out, (needle, out)
    r = radtrust("budget", "show", "c.parquet", "--json", "--ledger", ledger, cwd=d)
    shown = json.loads(r.stdout)
    assert [c["run_id"] for c in shown["charges"]] == ["run-a", "run-b"] and shown["spent"]["epsilon"] == 6.0

    # lowering the budget below what is spent is refused; the default δ is 1/N
    one_line_error(radtrust("budget", "set", "c.parquet", "--epsilon", 5, "--ledger", ledger, cwd=d), "already spent")
    r = radtrust("budget", "set", "c.parquet", "--epsilon", 6, "--ledger", ledger, cwd=d)
    assert r.returncode == 0, r.stderr
    assert led.budget(fp).delta == pytest.approx(1 / 120)


def test_budget_uses_the_ledger_from_the_environment(workdir):
    d = workdir
    assert radtrust("budget", "set", "c.parquet", "--epsilon", 3, cwd=d).returncode == 0
    env_ledger = Path(os.environ["RADTRUST_LEDGER"])
    assert env_ledger.exists() and not (d / ".radtrust").exists()
    assert PrivacyLedger().budget(file_fingerprint(d / "c.parquet")).epsilon == 3


@pytest.mark.parametrize(
    "args,needle",
    [
        (["budget", "set", "c.parquet", "--epsilon", "0"], "finite epsilon > 0"),
        (["budget", "set", "c.parquet", "--epsilon", "inf"], "finite epsilon > 0"),
        (["budget", "set", "c.parquet", "--epsilon", "5", "--delta", "1.5"], "delta must be in [0, 1)"),
        (["budget", "set", "missing.csv", "--epsilon", "5"], "no such file"),
        (["budget", "show", "copy.csv", "--column-map", "case_id=nope"], "'nope'"),
        (["budget", "show", "c.parquet", "--ledger", "."], "is a folder"),
    ],
)
def test_budget_bad_input_one_line_exit_2(workdir, args, needle):
    before = set(workdir.iterdir())
    one_line_error(radtrust(*args, cwd=workdir), needle)
    assert set(workdir.iterdir()) == before


def test_train_over_budget_or_non_private_is_refused_before_it_starts(workdir, tmp_path):
    d, ledger = workdir, tmp_path / "l.sqlite"
    assert radtrust("budget", "set", "c.parquet", "--epsilon", 4, "--ledger", ledger, cwd=d).returncode == 0
    fp = file_fingerprint(d / "c.parquet")
    PrivacyLedger(ledger).charge(fp, "earlier", 3.0, 1e-4, "prv", "lora", None)
    out = tmp_path / "run"
    r = radtrust("train", "--data", "c.parquet", "--labels", "labels.csv", "--epsilon", 2, "--out", out, "--ledger", ledger, *TINY, cwd=d)
    one_line_error(r, "over the privacy budget")
    assert "--ledger" not in r.stderr and str(ledger) in r.stderr
    r = radtrust("train", "--data", "c.parquet", "--labels", "labels.csv", "--epsilon", "inf", "--out", out, "--ledger", ledger, *TINY, cwd=d)
    one_line_error(r, "non-private run (ε = inf) refused")
    assert not out.exists() and [c.run_id for c in PrivacyLedger(ledger).charges(fp)] == ["earlier"]


def test_a_charge_survives_sigkill_of_its_run(workdir, tmp_path):
    d, ledger = workdir, tmp_path / "l.sqlite"
    assert radtrust("budget", "set", "c.parquet", "--epsilon", 10, "--ledger", ledger, cwd=d).returncode == 0
    fp = file_fingerprint(d / "c.parquet")
    led = PrivacyLedger(ledger)
    cmd = [sys.executable, "-m", "radtrust.cli", "train", "--data", "c.parquet", "--labels", "labels.csv", "--epsilon", "8",
           "--epochs", "500", "--out", str(tmp_path / "run"), "--ledger", str(ledger), *TINY]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not led.charges(fp):
            assert proc.poll() is None, f"training ended before it was charged: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "no charge within 120 s"
            time.sleep(0.1)
        time.sleep(0.5)  # into training proper
        assert proc.poll() is None, "a 500-epoch run should still be running"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    (c,) = led.charges(fp)
    assert (c.status, c.epsilon, c.spent_epsilon, c.finished_at) == ("charged", 8.0, None, None)
    assert c.delta == pytest.approx(1 / (10 * 120)) and c.accountant == "rdp"
    assert not (tmp_path / "run").exists()
    again = ["train", "--data", "c.parquet", "--labels", "labels.csv", "--epsilon", 8, "--out", tmp_path / "run2", "--ledger", ledger]
    one_line_error(radtrust(*again, *TINY, cwd=d), "over the privacy budget")
    shown = json.loads(radtrust("budget", "show", "c.parquet", "--json", "--ledger", ledger, cwd=d).stdout)
    assert [x["status"] for x in shown["charges"]] == ["charged"] and shown["spent"]["epsilon"] == 8.0
