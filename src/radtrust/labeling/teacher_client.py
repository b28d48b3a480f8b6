"""The OpenAI-compatible chat-completions client of the teacher labeler (Ollama, vLLM, llama.cpp): the check
that keeps reports on loopback hosts, a client without proxies or redirects, one chat request, the HTTP
statuses worth another try, and the filter that keeps report text out of the client libraries' debug logs."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any
from urllib.parse import urlsplit

from radtrust.errors import ConfigError

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})
#: HTTP statuses worth another try (the server is busy, restarting or overloaded).
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
#: Statuses that will not get better by asking again: wrong key, wrong model, wrong path.
FATAL_STATUS = frozenset({401, 403, 404})


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def check_base_url(base_url: str, allow_remote: bool = False) -> bool:
    """Validate ``base_url``; return whether its host is loopback.

    Raises :class:`ConfigError` for a malformed URL, or for a non-loopback host unless ``allow_remote``:
    reports are patient data and must not leave the machine by accident.
    """
    try:
        parts = urlsplit(str(base_url))
        host = parts.hostname
    except ValueError:
        host, parts = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise ConfigError(f"`base_url` must be an http(s) URL such as http://127.0.0.1:11434/v1, not '{base_url}'")
    loopback = _is_loopback(host)
    if not loopback and not allow_remote:
        raise ConfigError(f"refusing to send reports to non-loopback host '{host}': reports are patient data; pass `allow_remote` only if that server may receive them")
    return loopback


class _DropDebug(logging.Filter):
    """Drops DEBUG records of the client libraries, which may describe requests (report text) in some versions."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


DROP_DEBUG = _DropDebug()
CLIENT_LOGGERS = ("openai", "openai._base_client", "httpx", "httpx2", "httpcore")


def open_client(base_url: str, api_key: str | None, timeout_s: float, loopback: bool):
    """An ``openai.OpenAI`` client for ``base_url`` that follows no redirect and retries nothing itself."""
    try:
        import openai
    except ImportError as e:  # pragma: no cover - a dependency
        raise ConfigError("the teacher labeler needs the 'openai' package: pip install openai") from e
    # No environment proxies for loopback (a proxy would see the reports); no redirects anywhere (a
    # redirect could move the reports to another host after the loopback check).
    http = openai.DefaultHttpxClient(trust_env=not loopback, follow_redirects=False)
    return openai.OpenAI(
        base_url=base_url,
        api_key=api_key or "not-needed",
        timeout=timeout_s,
        max_retries=0,  # our own loop retries, so that invalid answers and transport failures are counted
        http_client=http,
    )


def chat(client, model: str, messages: list[dict[str, str]], temperature: float, use_json: bool) -> str | None:
    """One chat-completions request; the answer's text, or None when the response holds none."""
    kwargs: dict[str, Any] = {"model": model, "messages": messages, "temperature": temperature}
    if use_json:
        kwargs["response_format"] = {"type": "json_object"}
    resp = client.chat.completions.create(**kwargs)
    try:
        return resp.choices[0].message.content
    except (AttributeError, IndexError, TypeError, KeyError):
        return None
