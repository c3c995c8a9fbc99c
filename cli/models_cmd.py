"""`recadmin models list|activate|publish`: the registered ranker versions, which one the service uses, and its
learned item vectors in the index."""

from __future__ import annotations

import typer
from rich.table import Table

from cli.console import err, out, progress_bar
from core.settings import get_settings
from core.store import open_store

app = typer.Typer(help="The registered ranker versions and which one is active.")


@app.command("list")
def list_models() -> None:
    """Every ranker version with its validation metrics; * marks the active one."""
    from ranker.model import list_versions

    settings = get_settings()
    versions = list_versions(open_store(settings.store))
    if not versions:
        out.print("no ranker versions yet; train one with `recadmin train`")
        return
    table = Table("", "version", "created (UTC)", "val ndcg@10", "val hr@10", "popularity ndcg@10", "checkpoint")
    for v in versions:
        m = v.metrics
        table.add_row(
            "*" if v.active else "",
            v.version,
            v.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{m.get('val_ndcg@10', float('nan')):.4f}",
            f"{m.get('val_hr@10', float('nan')):.4f}",
            f"{m.get('val_popularity_ndcg@10', float('nan')):.4f}",
            str(v.path),
        )
    out.print(table)


@app.command("activate")
def activate(version: str = typer.Argument(..., help="The version to serve, e.g. v3.")) -> None:
    """Make VERSION the active ranker (every worker of the service serves it from its next check,
    RECSEARCH_SERVICE_MODEL_CHECK_S)."""
    from ranker.model import activate_version

    settings = get_settings()
    found = activate_version(open_store(settings.store), version)
    out.print(f"ranker {found.version} is active ({found.path})", highlight=False)
    warn_if_profiles_short(found, settings.events.history_length)
    publish_or_warn(settings)


@app.command("publish")
def publish() -> None:
    """Write the active version's learned item vectors into the live index (done by `train --activate`,
    `models activate` and `index build|update`; run it when one of those could not reach OpenSearch)."""
    settings = get_settings()
    from ranker.model import publish_active

    with progress_bar("publishing learned vectors") as update:
        done = publish_active(settings, update)
    _report_published(done)


def publish_or_warn(settings) -> None:
    """Publish the active version's learned item vectors; a warning line (not an error: the version stays active
    and the service keeps to the text k-NN) when OpenSearch cannot take them."""
    from core.errors import RecSearchError
    from ranker.model import publish_active

    try:
        with progress_bar("publishing learned vectors") as update:
            done = publish_active(settings, update)
    except RecSearchError as e:
        warn_unpublished(str(e))
        return
    _report_published(done)


def active_learned_or_warn(settings):
    """The active version's learned vectors for a build to write with its documents; None with a warning line when
    they cannot be loaded (the build goes on; publishing after it says what is wrong)."""
    from core.errors import RecSearchError
    from ranker.model import active_learned_vectors

    try:
        return active_learned_vectors(settings)
    except RecSearchError as e:
        err.print(f"[yellow]warning:[/] the build writes no learned item vectors: {e}", highlight=False)
        return None


def warn_unpublished(reason: str) -> None:
    err.print(
        f"[yellow]warning:[/] the learned item vectors were not written to the index: {reason}\n"
        "the service recommends from the text k-NN until `recadmin models publish` succeeds",
        highlight=False,
    )


def _report_published(done) -> None:
    if done is None:
        out.print("no learned item vectors to publish (no active version, or one without a sequence model)")
    elif not done.written:
        out.print(f"{done.index} already holds the learned vectors of ranker {done.model} ({done.items:,} items)",
                  highlight=False)  # fmt: skip
    else:
        out.print(f"wrote the learned vectors of ranker {done.model} for {done.items:,} items into {done.index}",
                  highlight=False)  # fmt: skip


def warn_if_profiles_short(found, profile_length: int) -> None:
    """A warning line when profiles are shorter than the history the model reads (a train/serve skew)."""
    from ranker.model import profile_shortfall

    shortfall = profile_shortfall(found.history_needed, profile_length) if found.history_needed else None
    if shortfall:
        err.print(f"[yellow]warning:[/] ranker {found.version}: {shortfall}", highlight=False)
