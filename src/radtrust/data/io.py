"""Atomic file output: every artifact is written to a temporary file beside its target, then renamed.

A run that fails half-way (bad input found late, Ctrl-C, SIGKILL) therefore never leaves a truncated
CSV, JSON or weights file where a later stage would pick it up.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``target`` only on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600; give the final file the permissions an ordinary open() would (umask applies).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def refuse_output_over_input(out: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str] | None]) -> None:
    """Raise :class:`~radtrust.errors.InputError` if ``out`` is one of ``inputs``: the same file by any path
    (a symlink, a hard link, ``./x`` for ``x``). Called before anything is read, so an input is never replaced
    by a command's own output (``label X --out X`` would otherwise turn the reports into labels)."""
    from radtrust.errors import InputError

    target = Path(out)
    if not target.exists():
        return  # nothing there yet: it cannot be an input
    for src in inputs:
        if src is None or not Path(src).exists():
            continue
        try:
            same = os.path.samefile(target, src)
        except OSError:
            same = False
        if same:
            raise InputError(f"{target}: the output is the input {Path(src)}; write it elsewhere (inputs are never replaced)")


def write_json(obj: Any, target: str | os.PathLike[str]) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n", encoding="utf-8")


def write_table(frame: pd.DataFrame, target: str | os.PathLike[str]) -> None:
    """Write CSV or Parquet (by suffix) atomically."""
    target = Path(target)
    with atomic_path(target) as tmp:
        if target.suffix.lower() in (".parquet", ".pq"):
            frame.to_parquet(tmp, index=False)
        elif target.suffix.lower() in (".jsonl", ".ndjson"):
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_csv(tmp, index=False)


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
