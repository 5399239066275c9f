"""Progress bars for the long commands (``evidence verify``, ``wim replay`` over many files, ``calibrate
dynamic``), drawn by rich on stderr: stdout stays what scripts read.

Drawn only when stderr is a terminal and ``--quiet`` was not given, so a pipe, a log file or a
systemd journal never sees control characters.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

__all__ = ["progress_bar", "wanted"]


def wanted(quiet: bool) -> bool:
    """A bar only for a person watching: stderr is a terminal and --quiet was not given."""
    return not quiet and sys.stderr.isatty()


@contextmanager
def progress_bar(
    description: str, total: int | None, quiet: bool
) -> Iterator[Callable[[int, int | None], None]]:
    """Yields ``update(done, total)``; a no-op when no bar is :func:`wanted`."""
    if not wanted(quiet):

        def nothing(done: int, new_total: int | None = None) -> None:
            return None

        yield nothing
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,  # gone when done: the results stay readable
        # (stdout written meanwhile is printed above the bar: rich's default redirect)
    )
    with progress:
        task = progress.add_task(description, total=total)

        def update(done: int, new_total: int | None = None) -> None:
            progress.update(task, completed=done, total=new_total if new_total is not None else total)

        yield update
