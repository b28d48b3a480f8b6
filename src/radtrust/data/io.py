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

from radtrust.errors import InputError


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


#: Suffixes :func:`write_table` writes, each in its own format.
TABLE_SUFFIXES = (".csv", ".parquet", ".pq", ".jsonl", ".ndjson")


def check_output(out: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str] | None] = (), suffixes: Iterable[str] | None = None, what: str = "`out`") -> Path:
    """Refuse an output path before any work is done or any budget charged, with one line naming it:

    - the same file as one of ``inputs`` by any path (a symlink, a hard link, ``./x`` for ``x``): ``label X
      --out X`` would otherwise turn the reports into labels, so an input is never replaced;
    - a name whose suffix is not one of ``suffixes`` (``predict --out p.json`` would get CSV bytes under a
      JSON name): each output is written in the format its name asks for, or refused;
    - an existing folder where a file is meant, a parent that is a file, or a folder this user cannot write
      (found by creating and removing a probe file there, which also catches read-only mounts).
    """

    target = Path(out)
    if target.exists():
        for src in inputs:
            if src is None or not Path(src).exists():
                continue
            try:
                same = os.path.samefile(target, src)
            except OSError:
                same = False
            if same:
                raise InputError(f"{target}: the output is the input {Path(src)}; write it elsewhere (inputs are never replaced)")
        if target.is_dir():
            raise InputError(f"{target}: is a folder; {what} must name a file")
    if suffixes is not None:
        allowed = tuple(suffixes)
        if target.suffix.lower() not in allowed:
            raise InputError(f"{target}: {what} must end in {', '.join(allowed)} (the file is written in the format its name asks for)")
    check_writable_folder(target.parent, what)
    return target


def check_writable_folder(folder: str | os.PathLike[str], what: str = "--out") -> None:
    """Raise :class:`~radtrust.errors.InputError` unless files can be created in ``folder`` (or, when it does
    not exist yet, in its nearest existing ancestor, where it would be created)."""

    folder = Path(folder)
    probe_dir = folder
    while not probe_dir.exists():
        if probe_dir.parent == probe_dir:
            break
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise InputError(f"{probe_dir}: is a file, so {what} cannot be written below it")
    try:
        fd, probe = tempfile.mkstemp(prefix=".radtrust-write-check.", dir=probe_dir)
    except OSError as e:
        raise InputError(f"{probe_dir}: cannot write here ({e.strerror or type(e).__name__}); choose another {what}") from None
    os.close(fd)
    os.unlink(probe)


def write_files(contents: dict[Path, bytes]) -> None:
    """Write several files all or none: every one goes to a temporary file beside its target first, and
    only when all are written are they renamed into place (a failed write removes the others' temporaries,
    so a command never leaves, say, its JSON without the plot it promised)."""
    temps: list[tuple[Path, Path]] = []
    try:
        umask = os.umask(0)
        os.umask(umask)
        for target, data in contents.items():
            target = Path(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            temps.append((Path(tmp), target))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o666 & ~umask)
        for written, final in temps:
            os.replace(written, final)
    finally:
        for written, _ in temps:
            if written.exists():
                written.unlink()


def write_json(obj: Any, target: str | os.PathLike[str]) -> None:
    """Write JSON atomically; a target named for another format (``m.csv``) is refused, not filled with JSON."""

    if Path(target).suffix.lower() != ".json":
        raise InputError(f"{target}: this output is JSON; name it .json")
    with atomic_path(target) as tmp:
        tmp.write_bytes(json_bytes(obj))


def json_bytes(obj: Any) -> bytes:
    """The bytes :func:`write_json` writes (indented UTF-8 JSON; numpy numbers and paths as plain values)."""
    return (json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n").encode("utf-8")


def write_table(frame: pd.DataFrame, target: str | os.PathLike[str]) -> None:
    """Write CSV, Parquet or JSON Lines, as the suffix says (:data:`TABLE_SUFFIXES`), atomically; any other
    name is refused rather than given CSV bytes it does not announce."""

    target = Path(target)
    suffix = target.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InputError(f"{target}: a table is written as {', '.join(TABLE_SUFFIXES)}; name the output with one of them")
    with atomic_path(target) as tmp:
        if suffix in (".parquet", ".pq"):
            frame.to_parquet(tmp, index=False)
        elif suffix in (".jsonl", ".ndjson"):
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
