"""Fault suite, data loss (issue 18, class 1): no command replaces one of its inputs with its output.

Each case runs the real command line with ``--out`` naming one of the command's inputs: by the same path,
through a symlink, and through a hard link. Each must exit 2 with one line on stderr and no traceback, and
leave the input byte-identical. The check comes before anything is read, so a case needs no trained run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPORTS = "case_id,patient_id,findings\nS1,P1,No pleural effusion.\nS2,P2,Mild cardiomegaly.\n"
LABELS = "case_id,Cardiomegaly\nS1,0\nS2,1\n"
QUEUE = "case_id,finding,label,annotator_id,reviewed_at\nS1,Cardiomegaly,1,a1,2026-01-01\n"

# command line (with {in} for the input that --out names) and the files it needs
CASES = {
    "label": (["label", "{in}", "--out", "{out}"], "reports.csv"),
    "label --combine": (["label", "--combine", "{in}", "labels2.csv", "--out", "{out}"], "labels.csv"),
    "deid": (["deid", "{in}", "--out", "{out}"], "reports.csv"),
    "predict": (["predict", "--run", "run", "--data", "{in}", "--out", "{out}"], "reports.csv"),
    "evaluate --labels": (["evaluate", "--run", "run", "--data", "reports.csv", "--labels", "{in}", "--out", "{out}"], "labels.csv"),
    "audit fairness": (["audit", "fairness", "--run", "run", "--data", "{in}", "--out", "{out}"], "reports.csv"),
    "audit labels": (["audit", "labels", "--data", "reports.csv", "--labels", "{in}", "--out", "{out}"], "labels.csv"),
    "annotate merge": (["annotate", "merge", "{in}", "--labels", "labels.csv", "--out", "{out}"], "queue.csv"),
}


def _files(d: Path) -> None:
    (d / "reports.csv").write_text(REPORTS)
    (d / "labels.csv").write_text(LABELS)
    (d / "labels2.csv").write_text(LABELS)
    (d / "queue.csv").write_text(QUEUE)


# every command by the same path; links through two of them (one shared function checks them all)
RUNS = [(c, "same path") for c in sorted(CASES)] + [(c, h) for c in ("label", "annotate merge") for h in ("symlink", "hard link")]


@pytest.mark.parametrize(("case", "how"), RUNS)
def test_an_output_that_is_an_input_is_refused(tmp_path: Path, case: str, how: str) -> None:
    _files(tmp_path)
    args, src = CASES[case]
    out = src
    if how == "symlink":
        out = "link.csv"
        os.symlink(src, tmp_path / out)
    elif how == "hard link":
        out = "hard.csv"
        os.link(tmp_path / src, tmp_path / out)
    before = (tmp_path / src).read_bytes()
    cmd = [a.replace("{in}", src).replace("{out}", out) for a in args]
    r = subprocess.run([sys.executable, "-m", "radtrust.cli", *cmd], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr and "the output is the input" in lines[0], r.stderr
    assert (tmp_path / src).read_bytes() == before
