"""Where the CLI writes: results to stdout, errors and progress to stderr."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from core.progress import ProgressFn

out = Console(soft_wrap=True, emoji=False)  # ":1234:" in "file:1234: field" is no emoji code
err = Console(stderr=True, soft_wrap=True, emoji=False)


@contextmanager
def progress_bar(description: str) -> Iterator[ProgressFn]:
    """A rich progress bar with items per second; yields a ``(done, total)`` callback for library code.

    The bar appears on the first update, so an error raised before any work prints alone."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
    )
    task = bar.add_task(description, total=None, rate="")

    def update(done: int, total: int) -> None:
        if not bar.live.is_started:
            bar.start()
        speed = bar.tasks[task].speed
        bar.update(task, completed=done, total=total, rate=f"{speed:,.0f} items/s" if speed else "")

    try:
        yield update
    finally:
        if bar.live.is_started:
            bar.stop()
