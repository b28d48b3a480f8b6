"""Rich progress bars for long steps, on stderr so that stdout stays machine-readable.

Library functions take ``progress: bool``; the CLI turns it on. Descriptions never contain report text.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

_console = Console(stderr=True)


class _NullBar:
    def advance(self, n: float = 1) -> None:  # noqa: D102 - trivial
        pass

    def update(self, **_: object) -> None:  # noqa: D102 - trivial
        pass


class _Bar:
    def __init__(self, progress: Progress, task) -> None:
        self._p, self._t = progress, task

    def advance(self, n: float = 1) -> None:
        self._p.advance(self._t, n)

    def update(self, **fields: Any) -> None:
        self._p.update(self._t, **fields)


@contextmanager
def progress_bar(description: str, total: float | None, enabled: bool = True) -> Iterator[_Bar | _NullBar]:
    """A bar with M/N, elapsed and remaining time; a no-op object when ``enabled`` is False."""
    if not enabled:
        yield _NullBar()
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_console,
        transient=False,
    )
    try:
        with bar as p:
            task = p.add_task(description, total=total, status="")
            try:
                yield _Bar(p, task)
            except BaseException:
                # A failed step leaves no bar behind, so a user error stays the one line the CLI prints.
                p.live.transient = True
                _console.quiet = True
                raise
    finally:
        _console.quiet = False


def console() -> Console:
    return _console
