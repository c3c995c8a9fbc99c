"""`recadmin train`: fit the attention reranker on the events and register the new model version."""

from __future__ import annotations

import typer
from rich.table import Table

from cli.console import err, out, progress_bar
from cli.models_cmd import warn_if_profiles_short, warn_unpublished
from cli.options import EventsFile, EventsFormat, EventsMapping
from core.settings import get_settings


def train(
    events: EventsFile = None,
    fmt: EventsFormat = None,
    mapping: EventsMapping = None,
    epochs: int = typer.Option(None, "--epochs", min=1, help="Epochs at most (default RECSEARCH_RANKER_EPOCHS)."),
    seed: int = typer.Option(None, "--seed", help="Random seed (default RECSEARCH_RANKER_SEED)."),
    device: str = typer.Option(None, "--device", help="auto, cpu or cuda (default RECSEARCH_RANKER_DEVICE)."),
    activate: bool = typer.Option(
        None, "--activate/--no-activate", help="Make the new version active (default: only when none is active)."
    ),
) -> None:
    """Train the attention reranker (next-item objective, time-based validation) and register a version."""
    from ranker.training import TrainOptions, train_and_register

    settings = get_settings()
    options = TrainOptions.from_settings(settings.ranker, settings.sequence, epochs=epochs, seed=seed, device=device)
    with progress_bar("training") as update:
        run = train_and_register(
            settings,
            events_file=events,
            events_format=fmt,
            events_mapping=mapping,
            options=options,
            activate=activate,
            progress=update,
            log=lambda line: err.print(line, highlight=False),
        )
    reg, info = run.registered, run.fit.info
    out.print(
        f"registered ranker [bold]{reg.version}[/] ({'active' if reg.active else 'not active'}) at {reg.path}; "
        f"{info['train_examples']} training examples on {info['device']} in {info['seconds']} s",
        highlight=False,
    )
    if reg.active:
        warn_if_profiles_short(reg, settings.events.history_length)
    if run.published is not None:
        out.print(f"wrote its learned item vectors for {run.published.items:,} items into {run.published.index}",
                  highlight=False)  # fmt: skip
    if run.publish_error is not None:
        warn_unpublished(run.publish_error)
    table = Table("validation metric", "ranker", "popularity", "repeat+popularity", "random")
    for name in ("ndcg@10", "hr@10", "mrr"):
        m = reg.metrics
        table.add_row(
            name,
            f"{m[f'val_{name}']:.4f}",
            f"{m[f'val_popularity_{name}']:.4f}",
            f"{m[f'val_repeat_popularity_{name}']:.4f}",
            f"{m[f'val_random_{name}']:.4f}",
        )
    out.print(table)
