"""Progress display for the `aotsnn` command (rich, on stderr): compile stages, targets, run
chunks. Nothing is drawn when stdout or stderr is not a terminal, or with `--quiet`, so piped
output and logs hold only results."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator


def wanted(quiet: bool) -> bool:
    """Whether to draw progress: not quiet, and both stdout and stderr are terminals."""
    return not quiet and sys.stdout.isatty() and sys.stderr.isatty()


@contextmanager
def progress_bar(quiet: bool) -> Iterator[object | None]:
    """A rich Progress (spinner, description, bar, elapsed time) on stderr, or None when quiet."""
    try:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                                   TimeElapsedColumn)
    except ImportError:         # a runtime-only install: rich comes with the [compile] extra
        Progress = None
    if Progress is None or not wanted(quiet):
        yield None
        return

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=False) as progress:
        yield progress


@contextmanager
def task(progress, description: str, total: int | None = None) -> Iterator:
    """A task on `progress` (None: nothing); yields `advance(n=1)` and completes it at the end."""
    if progress is None:
        yield lambda n=1: None
        return
    handle = progress.add_task(description, total=total)
    yield lambda n=1: progress.advance(handle, n)
    progress.update(handle, total=total or 1, completed=total or 1)
