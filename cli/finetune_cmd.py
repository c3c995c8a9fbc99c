"""`recadmin finetune`: fine-tune the embedding model on purchase histories (or pairs); saves a new version."""

from __future__ import annotations

import typer

from cli.console import err, out, progress_bar
from cli.options import EventsFile, EventsFormat, EventsMapping
from core.settings import get_settings


def finetune(
    events: EventsFile = None,
    fmt: EventsFormat = None,
    mapping: EventsMapping = None,
    index: str = typer.Option(
        None,
        "--index",
        help="Alias whose item texts to train on (enriched text when "
        "the index has it); default RECSEARCH_OPENSEARCH_INDEX_ALIAS.",
    ),
    until: str = typer.Option(
        None,
        "--until",
        help="Use events before this ISO date only; default: the "
        "evaluation's time-split cutoff, so `recadmin evaluate` stays honest.",
    ),
    all_events: bool = typer.Option(
        False, "--all-events", help="Train on every event (for production, not for a model you will evaluate)."
    ),
    max_steps: int = typer.Option(None, "--max-steps", min=1, help="Step budget (RECSEARCH_FINETUNE_MAX_STEPS)."),
    max_minutes: float = typer.Option(
        None, "--max-minutes", min=0.01, help="Time budget (RECSEARCH_FINETUNE_MAX_MINUTES)."
    ),
    list_: bool = typer.Option(False, "--list", help="List the fine-tuned versions and exit."),
) -> None:
    """Fine-tune the sentence-transformers model for k-NN on the history mean (RECSEARCH_FINETUNE_OBJECTIVE)."""
    from ranker.finetune import describe_validation, finetune_from_settings, list_versions

    settings = get_settings()
    if list_:
        for meta in list_versions(settings):
            out.print(
                f"{meta['version']}  base={meta['base_model']}  until={meta['until']}  steps={meta['steps']}  "
                f"{describe_validation(meta['validation'])}",
                highlight=False,
            )
        return
    with progress_bar("fine-tuning (steps)") as progress:
        result = finetune_from_settings(
            settings, events_path=events, events_format=fmt, events_mapping=mapping, alias=index, until=until,
            all_events=all_events, max_steps=max_steps, max_minutes=max_minutes,
            on_step=lambda s, n, _loss: progress(s, n),
        )  # fmt: skip
    err.print(
        f"trained on {result.pairs:,} {result.recipe.get('objective', 'pairs')} examples from {result.text_source}, "
        f"events before {result.until}"
    )
    out.print(
        f"saved {result.version} to {result.path} ({result.steps} steps in {result.seconds:.0f} s, "
        f"stopped by {result.stopped_by}; loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f}; "
        f"weights of step {result.selected_step} kept)",
        highlight=False,
    )
    out.print(f"held-out, base -> fine-tuned: {describe_validation(result.validation)}", highlight=False)
    out.print(f"re-embed the catalog with it: recadmin index build --catalog PATH --model {result.path}")
