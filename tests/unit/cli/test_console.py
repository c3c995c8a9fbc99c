"""The CLI's progress: a rich bar on a terminal, plain lines where stderr is a file or a pipe."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from cli import console


@pytest.fixture
def stderr(monkeypatch):
    def use(terminal: bool) -> io.StringIO:
        buffer = io.StringIO()
        monkeypatch.setattr(console, "err", Console(file=buffer, force_terminal=terminal, width=120))
        return buffer

    return use


def test_off_a_terminal_each_stage_writes_plain_lines(stderr):
    buffer = stderr(terminal=False)
    with console.progress_stages("enriching", "indexing") as (enriching, indexing):
        enriching(0, 3)
        enriching(3, 3)
        indexing(10, 100)
    lines = buffer.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == ["enriching: 0/3 (0%)", "enriching: 3/3 (100%)",
                                                      "indexing: 10/100 (10%)"]  # fmt: skip
    assert "\x1b" not in buffer.getvalue()  # no terminal control codes in a log file


def test_a_single_progress_bar_off_a_terminal_writes_lines_too(stderr):
    buffer = stderr(terminal=False)
    with console.progress_bar("importing events") as update:
        update(5, 5)
    assert buffer.getvalue().startswith("importing events: 5/5 (100%)")


def test_on_a_terminal_the_rich_bar_draws_instead(stderr):
    buffer = stderr(terminal=True)
    with console.progress_stages("enriching") as (enriching,):
        enriching(3, 3)
    assert "enriching: 3/3" not in buffer.getvalue() and "3/3" in buffer.getvalue()
