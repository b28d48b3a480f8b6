"""Rebuild the warm start that ships with radtrust and compare it byte for byte with the shipped one.

The bundled warm start (``radtrust/train/warm_starts/chest_minilm_l6``) was fitted on synthetic reports only;
its ``pretrain.json`` holds the ``radtrust pretrain`` command that made it. This script runs that command into
a temporary folder and prints the SHA-256 of each shipped file beside the rebuilt one (CPU arithmetic is
exact for one thread count on one machine kind; the command pins the thread count). ``--write`` copies the
rebuilt files into the package instead (``make warm-start``), after a change to the generator or the
training code that is meant to change them.

    python benchmarks/warm_start_rebuild.py [--write] [--json OUT]

Takes about half an hour on one core (20,000 reports, 3 epochs).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="copy the rebuilt files into the package")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    from radtrust.train.warm_start import BUNDLED, WARM_START_FILES

    info = json.loads((BUNDLED / "pretrain.json").read_text(encoding="utf-8"))
    command = shlex.split(info["rebuild"])
    assert command[:2] == ["radtrust", "pretrain"] and command[-1] == "OUT", info["rebuild"]
    with tempfile.TemporaryDirectory(prefix="radtrust_rebuild_") as tmp:
        out = Path(tmp) / "warm"
        exe = Path(sys.executable).with_name("radtrust")
        t0 = time.perf_counter()
        subprocess.run([str(exe), *command[1:-1], str(out), "--quiet"], check=True)
        wall = time.perf_counter() - t0
        rows = [{"file": f, "shipped_sha256": _sha(BUNDLED / f) if (BUNDLED / f).exists() else None, "rebuilt_sha256": _sha(out / f)} for f in WARM_START_FILES]
        if args.write:
            for f in WARM_START_FILES:
                shutil.copyfile(out / f, BUNDLED / f)
    identical = all(r["shipped_sha256"] == r["rebuilt_sha256"] for r in rows)
    table = Table(title=f"bundled warm start rebuilt in {wall:.0f} s: {'identical' if identical else 'DIFFERENT'}{' (written to the package)' if args.write else ''}")
    for col in ("file", "shipped SHA-256", "rebuilt SHA-256", "same"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["file"], (r["shipped_sha256"] or "–")[:16], r["rebuilt_sha256"][:16], "yes" if r["shipped_sha256"] == r["rebuilt_sha256"] else "no")
    Console().print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"command": info["rebuild"], "wall_seconds": round(wall, 1), "identical": identical, "files": rows}, indent=2))
    return 0 if identical or args.write else 1


if __name__ == "__main__":
    raise SystemExit(main())
