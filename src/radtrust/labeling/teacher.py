"""Teacher-LLM report labeler: any OpenAI-compatible chat-completions server (Ollama, vLLM, llama.cpp).

Each report (findings + impression) is sent once with a system prompt that lists the vocabulary; the
answer must be one JSON object mapping finding names to 1 / 0 / -1 and is validated strictly. An invalid
answer is asked again with a corrective message a bounded number of times and then recorded as missing,
never guessed. Answers are cached on disk (SQLite) by sha256(text), model, vocabulary and prompt version.
Labeling reports with a locally run LLM follows Mukherjee et al. (Radiology, 2023: Vicuna on chest
radiograph reports, on premises for privacy); the label semantics are CheXpert's (Irvin et al., 2019).

Reports are patient data: only loopback servers are contacted unless ``allow_remote=True``; report text
is never logged and never put into an exception message.

The labeler is here; the prompts and the answer's validation are in :mod:`~radtrust.labeling.teacher_prompts`,
the HTTP client in :mod:`~radtrust.labeling.teacher_client`, the answer cache in
:mod:`~radtrust.labeling.teacher_cache`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radtrust.data.io import write_json, write_table
from radtrust.data.readers import read_cohort
from radtrust.data.schema import Cohort, CohortScrubber, LabelTable
from radtrust.errors import ConfigError
from radtrust.labeling.teacher_cache import AnswerCache, default_cache_dir
from radtrust.labeling.teacher_client import CLIENT_LOGGERS, DROP_DEBUG, FATAL_STATUS, RETRY_STATUS, chat, check_base_url, open_client
from radtrust.labeling.teacher_prompts import PROMPT_VERSION, correction_message, system_prompt, user_message, validate_answer
from radtrust.labeling.vocab import get_vocabulary
from radtrust.progress import progress_bar

__all__ = [
    "TeacherLabeler",
    "TeacherStats",
    "teacher_label_file",
]

_log = logging.getLogger(__name__)

_MAX_ECHO_CHARS = 4000  # an invalid answer is echoed back to the model at most this long


# ------------------------------------------------------------------------------------------------ stats


@dataclass
class TeacherStats:
    """What one :meth:`TeacherLabeler.label` call did; counts are per case (report) unless named requests.

    ``failed_case_ids`` are the cases left all-missing because of invalid answers or errors: their NaN
    means "no answer", not "not mentioned" (:func:`radtrust.labeling.combine.combine_files` reads them
    from the ``.teacher.json`` sidecar and treats them as unlabelled).
    """

    n_cases: int = 0
    n_unique_texts: int = 0
    n_ok: int = 0
    n_cached: int = 0
    n_invalid_after_retries: int = 0
    n_errors: int = 0
    n_empty: int = 0
    n_requests: int = 0
    n_invalid_answers: int = 0
    n_transport_retries: int = 0
    invalid_reasons: dict[str, int] = field(default_factory=dict)
    error_types: dict[str, int] = field(default_factory=dict)
    json_mode: bool = True
    elapsed_s: float = 0.0
    failed_case_ids: list[str] = field(default_factory=list)

    @property
    def n_missing(self) -> int:
        return self.n_invalid_after_retries + self.n_errors

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"n_missing": self.n_missing}


@dataclass
class _Outcome:
    labels: dict[str, int] | None
    kind: str  # "ok", "invalid", "error", "skipped"
    requests: int = 0
    invalid_answers: int = 0
    retries: int = 0
    reasons: Counter = field(default_factory=Counter)
    error_type: str = ""
    connection_failed: bool = False
    transport: bool = False  # failed after all retries on timeouts, connection errors or HTTP 5xx/429


class _Fatal(Exception):
    """A server answer that no retry will fix (wrong model, wrong key); carries no report text."""


# ---------------------------------------------------------------------------------------------- labeler


class TeacherLabeler:
    """Label reports through an OpenAI-compatible chat-completions endpoint.

    Parameters
    ----------
    vocab:
        Vocabulary name (``"chexpert14"``, ``"chestxray14"``).
    base_url:
        The server's OpenAI-compatible root, e.g. ``http://127.0.0.1:11434/v1`` (Ollama),
        ``http://127.0.0.1:8000/v1`` (vLLM), ``http://127.0.0.1:8080/v1`` (llama.cpp server).
    model:
        The model name the server knows.
    api_key:
        Sent as a bearer token; local servers ignore it. ``OPENAI_API_KEY`` is deliberately *not* read,
        so a key meant for a hosted service is never handed to a local process.
    allow_remote:
        Allow a non-loopback host. Off by default: reports are patient data.
    cache_dir, use_cache:
        Where the SQLite answer cache lives (default :func:`default_cache_dir`); ``use_cache=False``
        neither reads nor writes it.
    max_concurrency:
        Requests in flight at once (a thread pool of this size).
    timeout_s:
        Per-request timeout.
    max_retries:
        Further tries after a transport failure (timeout, connection error, HTTP 5xx/429), with
        exponential backoff ``backoff_base_s * 2**k`` capped at ``backoff_max_s`` and jittered.
    max_invalid_retries:
        Further tries, with a corrective message, after an answer that fails validation.
    json_mode:
        Ask for ``response_format={"type": "json_object"}``; dropped automatically for the rest of the run
        when the server rejects it with HTTP 400. Validation never depends on it.
    temperature:
        Sampling temperature (0 for repeatable labels).
    """

    def __init__(
        self,
        vocab: str,
        base_url: str,
        model: str,
        api_key: str | None = None,
        allow_remote: bool = False,
        cache_dir: str | Path | None = None,
        *,
        use_cache: bool = True,
        max_concurrency: int = 4,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        max_invalid_retries: int = 2,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        json_mode: bool = True,
        temperature: float = 0.0,
        progress: bool = False,
    ) -> None:
        self.findings: tuple[str, ...] = get_vocabulary(vocab)
        self.vocab = vocab
        if not model or not str(model).strip():
            raise ConfigError("`model` must name the model the teacher server runs")
        if max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be >= 1, not {max_concurrency}")
        if timeout_s <= 0:
            raise ConfigError(f"timeout_s must be > 0, not {timeout_s}")
        if max_retries < 0 or max_invalid_retries < 0:
            raise ConfigError("max_retries and max_invalid_retries must be >= 0")
        if backoff_base_s < 0 or backoff_max_s < 0:
            raise ConfigError("backoff times must be >= 0")
        self._loopback = check_base_url(base_url, allow_remote)
        self.base_url = str(base_url).rstrip("/")
        self.model = str(model).strip()
        self.api_key = api_key
        self.allow_remote = allow_remote
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.use_cache = use_cache
        self.max_concurrency = int(max_concurrency)
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.max_invalid_retries = int(max_invalid_retries)
        self.backoff_base_s = float(backoff_base_s)
        self.backoff_max_s = float(backoff_max_s)
        self.json_mode = json_mode
        self.temperature = float(temperature)
        self.progress = progress
        self.last_stats: TeacherStats | None = None
        self._system = system_prompt(self.findings)
        self._vocab_key = hashlib.sha256("\n".join(self.findings).encode()).hexdigest()[:16]
        self._abort = threading.Event()
        self._lock = threading.Lock()
        self._jitter = random.Random()

    @property
    def label_source(self) -> str:
        return f"teacher:{self.model}"

    # ------------------------------------------------------------------ public API

    def cache_key(self, text: str) -> str:
        """sha256 over sha256(text), model, vocabulary and prompt version."""
        h = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return hashlib.sha256(f"{h}|{self.model}|{self._vocab_key}|{PROMPT_VERSION}".encode()).hexdigest()

    def label(self, cohort: Cohort) -> LabelTable:
        """Label every report of a cohort; failed cases are all-NaN and listed in ``last_stats``."""
        values, stats = self._label_texts(cohort.texts(), cohort.case_ids)
        self.last_stats = stats
        return LabelTable.from_matrix(cohort.case_ids, self.findings, values, self.label_source)

    def label_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, n_findings) float array of 1, 0, -1 and NaN; sets ``last_stats``."""
        values, self.last_stats = self._label_texts(texts, [str(i) for i in range(len(texts))])
        return values

    # ------------------------------------------------------------------ internals

    def _label_texts(self, texts: Sequence[str], case_ids: Sequence[str]) -> tuple[np.ndarray, TeacherStats]:
        t0 = time.perf_counter()
        stats = TeacherStats(n_cases=len(texts))
        col = {f: j for j, f in enumerate(self.findings)}
        out = np.full((len(texts), len(self.findings)), np.nan)
        norm = ["" if t is None or (isinstance(t, float) and t != t) else str(t).strip() for t in texts]
        by_text: dict[str, list[int]] = {}
        for i, t in enumerate(norm):
            if t:
                by_text.setdefault(t, []).append(i)
            else:
                stats.n_empty += 1
        stats.n_unique_texts = len(by_text)
        keys = {t: self.cache_key(t) for t in by_text}

        def fill(rows: list[int], labels: dict[str, int]) -> None:
            for k, v in labels.items():
                out[rows, col[k]] = v

        cache = self._open_cache() if self.use_cache and by_text else None
        try:
            todo = list(by_text)
            if cache is not None:
                hits = cache.get_many(list(keys.values()))
                todo = []
                for t, rows in by_text.items():
                    got = hits.get(keys[t])
                    if got is not None and validate_answer(json.dumps(got), self.findings)[0] is not None:
                        fill(rows, got)
                        stats.n_cached += len(rows)
                    else:
                        todo.append(t)
            if todo:
                self._run(todo, by_text, keys, cache, stats, fill, case_ids)
        finally:
            if cache is not None:
                cache.close()
        stats.elapsed_s = time.perf_counter() - t0
        if stats.n_missing:
            _log.warning(
                "teacher %s: %d of %d cases have no labels (%d invalid after retries, %d errors)",
                self.model, stats.n_missing, stats.n_cases, stats.n_invalid_after_retries, stats.n_errors,
            )  # fmt: skip
        return out, stats

    def _open_cache(self) -> AnswerCache:
        try:
            return AnswerCache(self.cache_dir)
        except (OSError, sqlite3.Error) as e:
            raise ConfigError(f"cannot use the teacher cache in {self.cache_dir} ({type(e).__name__}: {e}); pass another cache folder or turn the cache off") from None

    def _run(self, todo, by_text, keys, cache, stats: TeacherStats, fill, case_ids) -> None:
        client = open_client(self.base_url, self.api_key, self.timeout_s, self._loopback)
        self._abort.clear()
        self._use_json = self.json_mode
        conn_failed = 0
        breaker = max(3, 2 * self.max_concurrency)
        # The breaker is counted and tripped in the worker threads (``_label_one``), so that no thread sends
        # another request between the failure that trips it and this thread reading that failure.
        self._breaker = breaker
        self._answered = 0  # texts for which the server gave an answer (valid or not)
        self._in_a_row = 0  # consecutive texts lost to transport failures after all retries
        last_error = ""
        fatal: _Fatal | None = None
        for name in CLIENT_LOGGERS:
            logging.getLogger(name).addFilter(DROP_DEBUG)
        pool = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="radtrust-teacher")
        try:
            with progress_bar(f"teacher {self.model}", total=len(todo), enabled=self.progress) as bar:
                pending: dict[Future, str] = {pool.submit(self._label_one, client, t): t for t in todo}
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        t = pending.pop(fut)
                        rows = by_text[t]
                        try:
                            res = fut.result()
                        except _Fatal as e:
                            fatal = fatal or e
                            self._abort.set()
                            stats.failed_case_ids.extend(str(case_ids[i]) for i in rows)
                            continue
                        stats.n_requests += res.requests
                        stats.n_invalid_answers += res.invalid_answers
                        stats.n_transport_retries += res.retries
                        for k, v in res.reasons.items():
                            stats.invalid_reasons[k] = stats.invalid_reasons.get(k, 0) + v
                        if res.kind == "ok":
                            fill(rows, res.labels)
                            stats.n_ok += len(rows)
                            if cache is not None:
                                cache.put(keys[t], res.labels)
                        elif res.kind == "invalid":
                            stats.n_invalid_after_retries += len(rows)
                            stats.failed_case_ids.extend(str(case_ids[i]) for i in rows)
                        elif res.kind == "error":
                            stats.n_errors += len(rows)
                            stats.error_types[res.error_type] = stats.error_types.get(res.error_type, 0) + len(rows)
                            stats.failed_case_ids.extend(str(case_ids[i]) for i in rows)
                            conn_failed += res.connection_failed
                            if res.transport:
                                last_error = res.error_type
                        else:  # skipped after an abort
                            stats.failed_case_ids.extend(str(case_ids[i]) for i in rows)
                        bar.advance(1)
                        bar.update(status=f"ok {stats.n_ok}  invalid {stats.n_invalid_after_retries}  errors {stats.n_errors}")
        finally:
            self._abort.set()  # wakes retries sleeping in backoff; they return without another request
            # Do not wait for requests still in flight (up to timeout_s each) after an error or Ctrl-C.
            pool.shutdown(wait=False, cancel_futures=True)
            for name in CLIENT_LOGGERS:
                logging.getLogger(name).removeFilter(DROP_DEBUG)
            client.close()
        stats.json_mode = self._use_json
        answered, in_a_row = self._answered, self._in_a_row  # every worker has finished: the loop drained them
        if fatal is not None:
            raise ConfigError(f"teacher server at {self.base_url}: {fatal}")
        if answered == 0 and conn_failed:
            raise ConfigError(f"no OpenAI-compatible server answered at {self.base_url} (connection failed); start it or fix `base_url`")
        if in_a_row >= breaker:
            raise ConfigError(f"teacher server at {self.base_url} failed {in_a_row} reports in a row ({last_error}) after {answered} answers; answers so far are cached: run again to resume")

    def _sleep_backoff(self, attempt: int) -> None:
        d = min(self.backoff_max_s, self.backoff_base_s * (2 ** (attempt - 1)))
        with self._lock:
            d = d / 2 + self._jitter.uniform(0, d / 2)  # "equal jitter": spread retries, keep a floor
        self._abort.wait(d)

    def _label_one(self, client, text: str) -> _Outcome:
        res = self._label_one_inner(client, text)
        with self._lock:
            if res.kind in ("ok", "invalid"):
                self._answered += 1
                self._in_a_row = 0
            elif res.kind == "error" and res.transport:
                self._in_a_row += 1
                # Stop rather than wait out every report's retries when nothing has ever answered, or when
                # the server has stopped answering.
                if (self._answered == 0 and res.connection_failed) or self._in_a_row >= self._breaker:
                    self._abort.set()
        return res

    def _label_one_inner(self, client, text: str) -> _Outcome:
        import openai

        res = _Outcome(labels=None, kind="error")
        base = [{"role": "system", "content": self._system}, {"role": "user", "content": user_message(text)}]
        messages = base
        transport_fails = 0
        invalid = 0
        use_json = self._use_json
        while True:
            if self._abort.is_set():
                res.kind = "skipped" if res.requests == 0 else res.kind
                if res.kind == "error" and not res.error_type:
                    res.error_type = "Aborted"
                return res
            res.requests += 1
            try:
                content = chat(client, self.model, messages, self.temperature, use_json)
            except openai.APIStatusError as e:
                status = int(getattr(e, "status_code", 0) or 0)
                if 300 <= status < 400:
                    raise _Fatal(f"HTTP {status} redirect, not followed (reports must not move to another host); use the final URL") from None
                if status in FATAL_STATUS:
                    # Only the status and model name: a server's error body may quote the request.
                    raise _Fatal(f"HTTP {status} for model '{self.model}' (check `model`, the API key and the URL path)") from None
                if status == 400 and use_json:
                    # Perhaps the server does not know JSON mode: ask once more without it. Only an answer
                    # that then arrives turns JSON mode off for the run (a 400 may be this report's length).
                    use_json = False
                    continue
                if status in RETRY_STATUS or status >= 500:
                    transport_fails += 1
                    if transport_fails > self.max_retries:
                        res.error_type, res.transport = f"HTTP {status}", True
                        return res
                    res.retries += 1
                    self._sleep_backoff(transport_fails)
                    continue
                res.error_type = f"HTTP {status}"  # e.g. 400 context too long: this report only
                return res
            except (openai.APITimeoutError, openai.APIConnectionError) as e:
                transport_fails += 1
                if transport_fails > self.max_retries:
                    res.error_type, res.transport = type(e).__name__, True
                    res.connection_failed = not isinstance(e, openai.APITimeoutError)
                    return res
                res.retries += 1
                self._sleep_backoff(transport_fails)
                continue
            except openai.APIError as e:  # an answer the client could not make sense of: this report only
                res.error_type = type(e).__name__
                return res
            if use_json != self._use_json:
                self._use_json = False
            labels, kind, reason = validate_answer(content, self.findings)
            if labels is not None:
                res.labels, res.kind = labels, "ok"
                return res
            invalid += 1
            res.invalid_answers += 1
            res.reasons[kind] += 1
            if invalid > self.max_invalid_retries:
                res.kind = "invalid"
                return res
            echo = (content or "")[:_MAX_ECHO_CHARS]
            messages = [*base, {"role": "assistant", "content": echo}, {"role": "user", "content": correction_message(reason)}]


# ------------------------------------------------------------------------------------------------- file


def teacher_label_file(
    input_path: str | Path,
    vocab: str,
    out: str | Path,
    base_url: str,
    model: str,
    allow_remote: bool = False,
    *,
    api_key: str | None = None,
    column_map=None,
    empty_reports: str = "error",
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    max_concurrency: int = 4,
    timeout_s: float = 60.0,
    max_retries: int = 3,
    max_invalid_retries: int = 2,
    progress: bool = False,
    deid: CohortScrubber | None,
) -> tuple[LabelTable, TeacherStats]:
    """Label every report of ``input_path`` with a teacher LLM and write the label table atomically;
    ``deid``: the de-identifier the text goes through before it is sent anywhere (None: the raw text).

    Also writes ``<out stem>.teacher.json`` beside ``out``: model, prompt version, the stats and the ids of
    the cases left without labels (no report text). The URL is checked before any file is read.
    """

    labeler = TeacherLabeler(
        vocab, base_url, model, api_key=api_key, allow_remote=allow_remote, cache_dir=cache_dir, use_cache=use_cache,
        max_concurrency=max_concurrency, timeout_s=timeout_s, max_retries=max_retries,
        max_invalid_retries=max_invalid_retries, progress=progress,
    )  # fmt: skip
    cohort = read_cohort(input_path, column_map, empty_reports, deid=deid)
    table = labeler.label(cohort)
    stats = labeler.last_stats
    assert stats is not None
    out = Path(out)
    write_table(table.frame, out)
    write_json(
        {
            "label_source": labeler.label_source,
            "model": labeler.model,
            "base_url": labeler.base_url,
            "vocab": vocab,
            "prompt_version": PROMPT_VERSION,
            "stats": stats.to_dict(),
            "deid": cohort.deid,  # what was scrubbed before the reports went to the server (None: --deid off)
        },
        sidecar_path(out),
    )
    return table, stats


def sidecar_path(out: str | Path) -> Path:
    """``<out stem>.teacher.json`` beside a teacher label file."""
    out = Path(out)
    return out.with_name(f"{out.stem}.teacher.json")
