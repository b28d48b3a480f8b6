"""Canary guard: identifiers planted in the input reports never appear in any artifact, log line, report or
error message that a command writes, nor in what the teacher LLM server receives.

Real subprocesses of the ``radtrust`` command with the default setting (typed masks), a tiny model for
speed; every file under the working folder and both output streams are searched for every canary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radtrust.synth.chest import ChestSynthConfig, synth_chest

#: Planted identifiers and, for the searches, the distinctive pieces of each (a leak of part of one counts).
CANARIES = {
    "Quillon Zarkovsky": ("Quillon", "Zarkovsky"),
    "90817263": ("90817263",),
    "(312) 555-0199": ("555-0199",),
    "q.zarkovsky@example-hosp.org": ("zarkovsky@", "example-hosp"),
    "03/17/2021": ("03/17/2021",),
    "4821 Wexford Lane, Springfield, IL 62704": ("Wexford", "62704"),
    "Bellhaven Memorial Hospital": ("Bellhaven",),
    "ACC-55831907": ("55831907",),
    "94-year-old": ("94-year",),
}
PIECES = [p for parts in CANARIES.values() for p in parts]


def planted(i: int) -> str:
    """A sentence block with every canary, placed differently per report."""
    blocks = [
        "Patient: Quillon Zarkovsky. MRN: 90817263. Accession ACC-55831907.",
        "Comparison: outside films from Bellhaven Memorial Hospital dated 03/17/2021.",
        "94-year-old man living at 4821 Wexford Lane, Springfield, IL 62704.",
        "Findings discussed with Dr. Quillon Zarkovsky at (312) 555-0199; copy to q.zarkovsky@example-hosp.org.",
        # a name straight before a record number, and an address mid-line with the findings after it
        "Quillon Zarkovsky MRN 90817263 chest film. Patient address: 4821 Wexford Lane, Springfield, IL 62704. No effusion.",
    ]
    return " ".join(blocks[(i + k) % len(blocks)] for k in range(len(blocks)))


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("guard")
    cohort, truth = synth_chest(ChestSynthConfig(n=160, seed=11))
    frame = cohort.frame.copy()
    rng = np.random.default_rng(0)
    hit = rng.random(len(frame)) < 0.5
    frame.loc[hit, "findings"] = [f"{planted(i)} {t}" for i, t in zip(range(hit.sum()), frame.loc[hit, "findings"])]
    frame.loc[~hit, "indication"] = [planted(i) for i in range((~hit).sum())]
    frame.to_csv(d / "reports.csv", index=False)
    truth.frame.to_csv(d / "truth.csv", index=False)
    # Bad inputs whose offending cell is a canary: the one-line error must name the place, not the value.
    bad = frame.head(5).copy()
    bad["age"] = bad["age"].astype(object)
    bad.loc[bad.index[2], "age"] = "Quillon Zarkovsky"
    bad.to_csv(d / "bad_age.csv", index=False)
    dup = frame.head(5).copy()
    dup.loc[dup.index[3], "case_id"] = "Zarkovsky-90817263"
    dup.loc[dup.index[4], "case_id"] = "Zarkovsky-90817263"
    dup.to_csv(d / "dup_ids.csv", index=False)
    return d


def radtrust(d: Path, *args) -> subprocess.CompletedProcess:
    env = os.environ | {"RADTRUST_LEDGER": str(d / "ledger.sqlite")}
    env.pop("RADTRUST_DEID", None)  # the default, as a user meets it
    return subprocess.run([sys.executable, "-m", "radtrust.cli", *map(str, args)], cwd=d, capture_output=True, text=True, timeout=900, env=env)


def leaks(text: str) -> list[str]:
    return [p for p in PIECES if p.lower() in text.lower()]


def test_planted_identifiers_are_in_the_input(work):
    raw = (work / "reports.csv").read_text()
    assert not [p for p in PIECES if p not in raw]  # the guard would be empty otherwise


def test_no_command_writes_a_planted_identifier_anywhere(work):
    tiny = ["--encoder", "tiny", "--epochs", "1", "--max-length", "32", "--batch-size", "32"]
    steps = [
        ("deid", "reports.csv", "--out", "scrubbed.csv"),
        ("label", "reports.csv", "--out", "rule_labels.csv"),
        ("audit", "labels", "--data", "reports.csv", "--labels", "rule_labels.csv", "--out", "label_audit.csv", "--folds", "2"),
        ("train", "--data", "reports.csv", "--labels", "truth.csv", "--out", "run", "--canaries", "20", *tiny),
        ("predict", "--run", "run", "--data", "reports.csv", "--out", "predictions.csv"),
        ("evaluate", "--run", "run", "--data", "reports.csv", "--labels", "truth.csv", "--out", "evaluation.json"),
        ("audit", "privacy", "--run", "run", "--data", "reports.csv", "--labels", "truth.csv", "--out", "privacy_audit.json", "--shadows", "0"),
    ]
    for args in steps:
        r = radtrust(work, *args)
        assert r.returncode == 0, f"radtrust {' '.join(args[:2])}: {r.stderr[-2000:]}"
        assert not leaks(r.stdout + r.stderr), f"radtrust {' '.join(args[:2])} printed {leaks(r.stdout + r.stderr)}"
        assert "radtrust recognizers" in r.stderr or args[0] in ("predict",) or "de-identified" in r.stderr
    inputs = {"reports.csv", "bad_age.csv", "dup_ids.csv"}
    written = [p for p in work.rglob("*") if p.is_file() and p.name not in inputs]
    assert len(written) > 10
    for p in written:
        data = p.read_bytes().decode("utf-8", errors="ignore")
        assert not leaks(data), f"{p.relative_to(work)} holds {leaks(data)}"
    run_json = json.loads((work / "run" / "run.json").read_text())
    assert run_json["deid"]["engine"] and sum(run_json["deid"]["counts"].values()) > 0


def test_errors_about_a_planted_identifier_do_not_quote_it(work):
    for name in ("bad_age.csv", "dup_ids.csv"):
        r = radtrust(work, "label", name, "--out", f"never_{name}")
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
        assert not leaks(r.stderr), f"error for {name} quotes {leaks(r.stderr)}: {r.stderr}"
        assert not (work / f"never_{name}").exists()


class _Server:
    """A local OpenAI-compatible server that keeps every request body it receives."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"])).decode()
                outer.bodies.append(raw)
                body = json.loads(raw)
                content = json.dumps({"Pleural Effusion": 0})
                data = json.dumps({
                    "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()


def test_the_teacher_server_never_receives_a_planted_identifier(work, tmp_path):
    from radtrust.deid.door import CohortDeidentifier
    from radtrust.labeling.teacher import teacher_label_file

    s = _Server()
    try:
        frame = pd.read_csv(work / "reports.csv").head(12)
        frame.to_csv(tmp_path / "few.csv", index=False)
        teacher_label_file(tmp_path / "few.csv", "chexpert14", tmp_path / "teacher.csv", s.url, "fake-1", cache_dir=tmp_path / "cache", max_concurrency=2, deid=CohortDeidentifier())
    finally:
        s.httpd.shutdown()
    assert len(s.bodies) >= 12
    sent = "\n".join(s.bodies)
    assert "[NAME]" in sent and not leaks(sent), leaks(sent)
    for p in tmp_path.rglob("*"):
        if p.is_file() and p.name != "few.csv":
            assert not leaks(p.read_bytes().decode("utf-8", errors="ignore")), p.name
