"""Options several commands share, declared once: the event file that `train`, `evaluate` and `finetune` may read
instead of the store, with the format and column mapping `feedback import` takes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

EventsFile = Annotated[
    Path | None,
    typer.Option(
        "--events",
        help="Event file, read as `feedback import` reads it (CSV, JSONL, Parquet, Online Retail, UBI); default: "
        "the imported events.",
    ),
]
EventsFormat = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="Format of the --events file: online-retail, ubi, csv, jsonl or parquet (as `feedback import "
        "--format`; default: from the suffix and columns).",
    ),
]
EventsMapping = Annotated[
    str | None,
    typer.Option("--mapping", help="Columns of the --events file, as `feedback import --mapping` takes them."),
]
