"""The teacher labeler's answer cache: validated labels in SQLite under sha256 keys, never report text."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path


def default_cache_dir() -> Path:
    """``$RADTRUST_CACHE_DIR`` or ``$XDG_CACHE_HOME/radtrust`` or ``~/.cache/radtrust``, plus ``teacher``."""
    root = os.environ.get("RADTRUST_CACHE_DIR")
    if root:
        return Path(root) / "teacher"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "radtrust" / "teacher"


class AnswerCache:
    """sha256 key -> validated labels (JSON). Holds no report text; used from one thread only."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            os.chmod(folder, 0o700)
        except OSError:  # pragma: no cover - a folder we do not own
            pass
        self.path = folder / "teacher-labels.sqlite"
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS labels (key TEXT PRIMARY KEY, labels TEXT NOT NULL, created REAL NOT NULL)")

    def get_many(self, keys: Sequence[str]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        keys = list(keys)
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            q = f"SELECT key, labels FROM labels WHERE key IN ({','.join('?' * len(chunk))})"
            for k, v in self._db.execute(q, chunk):
                out[k] = json.loads(v)
        return out

    def put(self, key: str, labels: dict[str, int]) -> None:
        self._db.execute("INSERT OR REPLACE INTO labels (key, labels, created) VALUES (?, ?, ?)", (key, json.dumps(labels, sort_keys=True), time.time()))

    def close(self) -> None:
        self._db.close()
