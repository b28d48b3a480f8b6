"""TeacherLabeler against a real loopback HTTP server that speaks the OpenAI chat-completions shape.

The fake model is keyword-based and deterministic; markers in a report switch on misbehaviour
(invalid JSON, unknown labels, HTTP 500, slow answers) so every recovery path runs over real HTTP.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest

from radtrust.data.io import write_table
from radtrust.data.readers import read_labels
from radtrust.data.schema import Cohort
from radtrust.deid.door import CohortDeidentifier
from radtrust.errors import ConfigError
from radtrust.labeling.teacher import TeacherLabeler, sidecar_path, teacher_label_file
from radtrust.labeling.teacher_client import check_base_url
from radtrust.labeling.teacher_prompts import validate_answer

SECRET = "PATIENT-SECRET-7731"  # stands for report text that must never leak into errors or logs
FAST = {"backoff_base_s": 0.005, "backoff_max_s": 0.02, "timeout_s": 5.0}


def fake_model(report: str) -> dict[str, int]:
    out: dict[str, int] = {}
    low = report.lower()
    for word, finding in (("effusion", "Pleural Effusion"), ("cardiomegaly", "Cardiomegaly"), ("pneumothorax", "Pneumothorax")):
        if re.search(rf"\bno (?:\w+ )?{word}", low):
            out[finding] = 0
        elif re.search(rf"\bpossible {word}", low):
            out[finding] = -1
        elif word in low:
            out[finding] = 1
    return out


class FakeServer:
    def __init__(self, delay_s: float = 0.0, status: int | None = None, reject_json_mode: bool = False) -> None:
        self.delay_s, self.status, self.reject_json_mode = delay_s, status, reject_json_mode
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.inflight = 0
        self.max_inflight = 0
        self.per_report: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append(body)
                    server.inflight += 1
                    server.max_inflight = max(server.max_inflight, server.inflight)
                try:
                    code, payload = server.answer(self.path, body)
                    data = json.dumps(payload).encode()
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and went away
                    pass
                finally:
                    with server.lock:
                        server.inflight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def n_requests(self) -> int:
        return len(self.requests)

    def answer(self, path: str, body: dict) -> tuple[int, dict]:
        if path != "/v1/chat/completions":
            return 404, {"error": {"message": "not found"}}
        if self.status is not None:
            return self.status, {"error": {"message": f"echo of the request: {json.dumps(body)}"}}
        if self.reject_json_mode and "response_format" in body:
            return 400, {"error": {"message": "response_format not supported"}}
        msgs = body["messages"]
        report = msgs[1]["content"].split("<<<\n", 1)[1].rsplit("\n>>>", 1)[0]
        with self.lock:
            self.per_report[report] = self.per_report.get(report, 0) + 1
            nth = self.per_report[report]
        if self.delay_s:
            time.sleep(self.delay_s)
        if "[slow]" in report:
            time.sleep(1.0)
        if "[500-twice]" in report and nth <= 2:
            return 500, {"error": {"message": "overloaded"}}
        corrected = any(m["role"] == "assistant" for m in msgs)
        if "[invalid-once]" in report and not corrected:
            content = "Sure! Here are the labels: effusion present"
        elif "[always-invalid]" in report:
            content = json.dumps({"Dragon": 1, "Pleural Effusion": "yes"})
        else:
            content = json.dumps(fake_model(report))
            if "[fenced]" in report:
                content = f"```json\n{content}\n```"
        return 200, {
            "id": f"chatcmpl-{nth}",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


def cohort_of(texts: list[str]) -> Cohort:
    n = len(texts)
    return Cohort(pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], "patient_id": [f"p{i}" for i in range(n)], "findings": texts}))


def labeler(url: str, tmp_path, **kw) -> TeacherLabeler:
    return TeacherLabeler("chexpert14", url, "fake-1", cache_dir=tmp_path / "cache", **(FAST | kw))


TEXTS = [
    "Large right pleural effusion. Cardiomegaly.",
    "No pneumothorax. Possible effusion.",
    "Normal heart size.",
    "No pleural effusion or pneumothorax. Cardiomegaly.",
]


def expected(texts: list[str], findings) -> np.ndarray:
    out = np.full((len(texts), len(findings)), np.nan)
    for i, t in enumerate(texts):
        for k, v in fake_model(t).items():
            out[i, list(findings).index(k)] = v
    return out


def test_labels_match_the_model_and_the_schema(server, tmp_path):
    lab = labeler(server.url, tmp_path, progress=True)
    table = lab.label(cohort_of(TEXTS))
    np.testing.assert_array_equal(table.values(), expected(TEXTS, lab.findings))
    assert table.source == "teacher:fake-1" and table.case_ids == ["c0", "c1", "c2", "c3"]
    st = lab.last_stats
    assert (st.n_ok, st.n_cached, st.n_invalid_after_retries, st.n_errors, st.n_requests) == (4, 0, 0, 0, 4)
    body = server.requests[0]
    assert body["model"] == "fake-1" and body["response_format"] == {"type": "json_object"}
    system = body["messages"][0]["content"]
    assert all(f in system for f in lab.findings) and "-1" in system and "JSON" in system


def test_second_run_is_served_from_the_cache(server, tmp_path):
    texts = TEXTS + [TEXTS[0]]  # a repeated report is asked once
    first = labeler(server.url, tmp_path).label(cohort_of(texts))
    assert server.n_requests == 4
    lab = labeler(server.url, tmp_path)
    second = lab.label(cohort_of(texts))
    assert server.n_requests == 4  # zero new requests
    assert lab.last_stats.n_cached == 5 and lab.last_stats.n_ok == 0
    np.testing.assert_array_equal(first.values(), second.values())
    # Another model is another cache entry; the cache file holds no report text.
    TeacherLabeler("chexpert14", server.url, "fake-2", cache_dir=tmp_path / "cache", **FAST).label(cohort_of(texts[:1]))
    assert server.n_requests == 5
    raw = b"".join(p.read_bytes() for p in (tmp_path / "cache").iterdir())
    assert b"large right" not in raw.lower()


def test_invalid_answer_is_retried_with_a_correction(server, tmp_path):
    lab = labeler(server.url, tmp_path)
    table = lab.label(cohort_of(["[invalid-once] Small left effusion.", "[fenced] Cardiomegaly."]))
    v = table.values()
    assert v[0, lab.findings.index("Pleural Effusion")] == 1 and v[1, lab.findings.index("Cardiomegaly")] == 1
    st = lab.last_stats
    assert st.n_ok == 2 and st.n_invalid_answers == 1 and st.invalid_reasons == {"not_json": 1}
    corrections = [r for r in server.requests if len(r["messages"]) == 4]
    assert len(corrections) == 1 and "not valid" in corrections[0]["messages"][3]["content"]


def test_always_invalid_is_missing_and_counted_never_guessed(server, tmp_path):
    lab = labeler(server.url, tmp_path, max_invalid_retries=2)
    table = lab.label(cohort_of(["[always-invalid] Pleural effusion.", "Cardiomegaly."]))
    v = table.values()
    assert np.isnan(v[0]).all() and v[1, lab.findings.index("Cardiomegaly")] == 1
    st = lab.last_stats
    assert st.n_invalid_after_retries == 1 and st.n_ok == 1 and st.failed_case_ids == ["c0"]
    assert server.per_report["FINDINGS: [always-invalid] Pleural effusion."] == 3  # 1 + 2 retries
    assert st.n_invalid_answers == 3 and st.invalid_reasons == {"unknown_finding": 3}
    # Invalid answers are not cached: the next run asks again.
    labeler(server.url, tmp_path, max_invalid_retries=0).label(cohort_of(["[always-invalid] Pleural effusion."]))
    assert server.per_report["FINDINGS: [always-invalid] Pleural effusion."] == 4


def test_http_500_is_retried_with_backoff(server, tmp_path):
    lab = labeler(server.url, tmp_path, max_retries=3)
    table = lab.label(cohort_of(["[500-twice] Right pneumothorax."]))
    assert table.values()[0, lab.findings.index("Pneumothorax")] == 1
    st = lab.last_stats
    assert st.n_ok == 1 and st.n_transport_retries == 2 and st.n_requests == 3
    lab = labeler(server.url, tmp_path, max_retries=1, use_cache=False)
    lab.label(cohort_of(["[500-twice] Left pneumothorax."]))
    assert lab.last_stats.n_errors == 1 and lab.last_stats.error_types == {"HTTP 500": 1}


def test_timeout_is_an_error_for_that_report_only(server, tmp_path):
    lab = labeler(server.url, tmp_path, timeout_s=0.25, max_retries=1)
    t0 = time.perf_counter()
    table = lab.label(cohort_of(["[slow] Effusion.", "Cardiomegaly."]))
    assert time.perf_counter() - t0 < 3
    st = lab.last_stats
    assert st.n_errors == 1 and st.n_ok == 1 and st.error_types == {"APITimeoutError": 1}
    assert np.isnan(table.values()[0]).all()


def test_concurrency_is_bounded(tmp_path):
    s = FakeServer(delay_s=0.08)
    try:
        lab = labeler(s.url, tmp_path, max_concurrency=3)
        lab.label(cohort_of([f"Report {i}: effusion." for i in range(12)]))
        assert s.max_inflight == 3 and lab.last_stats.n_ok == 12
    finally:
        s.close()


def test_json_mode_is_dropped_when_the_server_rejects_it(tmp_path):
    s = FakeServer(reject_json_mode=True)
    try:
        lab = labeler(s.url, tmp_path, max_concurrency=1)
        table = lab.label(cohort_of(TEXTS))
        np.testing.assert_array_equal(table.values(), expected(TEXTS, lab.findings))
        assert lab.last_stats.json_mode is False and s.n_requests == 5  # one rejected, then plain prompting
    finally:
        s.close()


@pytest.mark.parametrize("url", ["http://example.invalid/v1", "https://localhost.example.invalid/v1", "http://0.0.0.0:8000/v1", "http://[2001:db8::1]:8000/v1"])
def test_non_loopback_is_refused_before_any_request(url, tmp_path):
    with pytest.raises(ConfigError, match="`allow_remote`") as e:
        TeacherLabeler("chexpert14", url, "fake-1", cache_dir=tmp_path)
    assert "patient data" in str(e.value) and "\n" not in str(e.value)
    assert TeacherLabeler("chexpert14", url, "fake-1", allow_remote=True, cache_dir=tmp_path).allow_remote


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/v1", "http://127.8.9.10/v1", "http://localhost:11434/v1", "http://[::1]:8000/v1"])
def test_loopback_is_accepted(url):
    assert check_base_url(url) is True


def test_malformed_url_is_a_config_error():
    with pytest.raises(ConfigError, match="`base_url`"):
        check_base_url("127.0.0.1:8000")


def test_errors_and_logs_never_contain_report_text(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    s = FakeServer(status=404)  # its error body echoes the whole request, report included
    try:
        with pytest.raises(ConfigError, match="HTTP 404") as e:
            labeler(s.url, tmp_path).label(cohort_of([f"{SECRET} Effusion."]))
        assert SECRET not in str(e.value)
    finally:
        s.close()
    with socket.socket() as sock:  # a free port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConfigError, match="no OpenAI-compatible server answered") as e:
        labeler(f"http://127.0.0.1:{port}/v1", tmp_path, max_retries=1).label(cohort_of([f"{SECRET} Effusion."] * 3))
    assert SECRET not in str(e.value)
    assert SECRET not in caplog.text


def test_validate_answer_is_strict():
    f = ("Cardiomegaly", "Edema")
    assert validate_answer('{"Cardiomegaly": 1, "Edema": -1}', f)[0] == {"Cardiomegaly": 1, "Edema": -1}
    assert validate_answer("{}", f)[0] == {}
    assert validate_answer('<think>hmm</think>\n```json\n{"Edema": 0}\n```', f)[0] == {"Edema": 0}
    for bad, kind in [
        ("nope", "not_json"),
        ("[1]", "not_object"),
        ('{"cardiomegaly": 1}', "unknown_finding"),
        ('{"Edema": 2}', "bad_value"),
        ('{"Edema": true}', "bad_value"),
        ('{"Edema": "1"}', "bad_value"),
        ('{"Edema": null}', "bad_value"),
        ('{"Edema": 1, "Edema": 0}', "duplicate_key"),
        ("", "empty"),
        (None, "empty"),
    ]:
        labels, k, _ = validate_answer(bad, f)
        assert labels is None and k == kind, bad


def test_teacher_label_file_writes_table_and_sidecar(server, tmp_path):
    src = tmp_path / "reports.csv"
    frame = pd.DataFrame({"case_id": ["a", "b"], "patient_id": ["p", "q"], "findings": ["Cardiomegaly.", "[always-invalid] x"]})
    write_table(frame, src)
    out = tmp_path / "out" / "teacher.csv"
    table, stats = teacher_label_file(src, "chexpert14", out, server.url, "fake-1", cache_dir=tmp_path / "c", max_invalid_retries=0, deid=CohortDeidentifier())
    back = read_labels(out)
    assert back.source == "teacher:fake-1" and back.case_ids == ["a", "b"]
    side = json.loads(sidecar_path(out).read_text())
    assert side["stats"]["failed_case_ids"] == ["b"] and side["stats"]["n_missing"] == 1
    assert "Cardiomegaly." not in sidecar_path(out).read_text()


def test_a_server_that_stops_answering_trips_the_breaker(tmp_path):
    s = FakeServer(status=503)
    try:
        lab = labeler(s.url, tmp_path, max_concurrency=1, max_retries=0)
        with pytest.raises(ConfigError, match=r"failed \d reports in a row \(HTTP 503\).*run again to resume"):
            lab.label(cohort_of([f"Report {i}: effusion." for i in range(20)]))
        assert s.n_requests == 3  # the worker trips the breaker itself: no request after the third failure
    finally:
        s.close()


def test_unusable_cache_folder_is_a_config_error(server, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    lab = TeacherLabeler("chexpert14", server.url, "fake-1", cache_dir=tmp_path / "file", **FAST)
    with pytest.raises(ConfigError, match="cannot use the teacher cache"):
        lab.label(cohort_of(TEXTS))
    assert server.n_requests == 0


def test_redirects_are_not_followed(tmp_path):
    s = FakeServer(status=307)
    try:
        with pytest.raises(ConfigError, match="redirect, not followed"):
            labeler(s.url, tmp_path).label(cohort_of(TEXTS[:1]))
        assert s.n_requests == 1
    finally:
        s.close()
