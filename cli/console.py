"""Where the CLI writes: results to stdout, errors and progress to stderr.

Progress is a rich bar on a terminal; elsewhere (a log file, CI, a pipe, where a live bar draws nothing) it is a
plain line at the start, about every ``PLAIN_EVERY_S`` seconds, and at the end of each stage."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from core.progress import ProgressFn, plain_lines

out = Console(soft_wrap=True, emoji=False)  # ":1234:" in "file:1234: field" is no emoji code
err = Console(stderr=True, soft_wrap=True, emoji=False)

#: Seconds between two plain progress lines when stderr is not a terminal.
PLAIN_EVERY_S = 10.0


def _bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
    )


def _plain(description: str) -> ProgressFn:
    return plain_lines(description, lambda line: err.print(line, highlight=False, markup=False), PLAIN_EVERY_S)


@contextmanager
def progress_stages(*names: str) -> Iterator[list[ProgressFn]]:
    """One ``(done, total)`` callback per stage for library code: on a terminal one rich display with a bar
    (items/s) per stage, a bar appearing on its first update (so an error raised before any work prints alone);
    elsewhere plain lines."""
    if not err.is_terminal:
        yield [_plain(n) for n in names]
        return
    bar = _bar()
    tasks: dict[str, int] = {}

    def updater(name: str) -> ProgressFn:
        def update(done: int, total: int) -> None:
            if not bar.live.is_started:
                bar.start()
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total, rate="")
            speed = bar.tasks[tasks[name]].speed
            bar.update(tasks[name], completed=done, total=total, rate=f"{speed:,.0f} items/s" if speed else "")

        return update

    try:
        yield [updater(n) for n in names]
    finally:
        if bar.live.is_started:
            bar.stop()


@contextmanager
def progress_bar(description: str) -> Iterator[ProgressFn]:
    """A single-stage :func:`progress_stages`: a rich bar with items per second, or plain lines off a terminal."""
    with progress_stages(description) as (update,):
        yield update
