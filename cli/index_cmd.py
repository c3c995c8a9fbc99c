"""`recadmin index ...`: build, update, roll back and inspect the items index."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from cli.console import err, out, progress_stages
from cli.models_cmd import active_learned_or_warn, publish_or_warn
from core.settings import get_settings
from indexer import api
from indexer.catalog import FieldMapping

app = typer.Typer(help="Build, update, roll back and inspect the versioned items index.")

CATALOG = typer.Option(..., "--catalog", help="Items file (CSV, JSONL, Parquet) or Online Retail transactions.")
MAPPING = typer.Option(None, "--mapping", help="Field mapping, e.g. 'id=sku,title=name,price=cost'.")
STRICT = typer.Option(False, "--strict", help="Stop on the first bad row instead of skipping it.")
MODEL = typer.Option(
    None, "--model", help="Embedding model: a folder (e.g. a fine-tuned model) or package:NAME; default "
    "RECSEARCH_MODELS_EMBEDDING. Recorded in the version's _meta.",
)  # fmt: skip
ENRICH = typer.Option(None, "--enrich/--no-enrich", help="LLM-enrich item text (default RECSEARCH_ENRICH_ENABLED).")
ALLOW_SHRINK = typer.Option(
    False, "--allow-shrink", help="Replace the live catalog even when the new one drops more than "
    "RECSEARCH_OPENSEARCH_MAX_SHRINK of its items (a wrong file or mapping is refused without it).",
)  # fmt: skip
ENRICH_LIMIT = typer.Option(
    None, "--enrich-limit", min=0, help="Enrich only the first N catalog items (the rest keep their original "
    "text); cached enrichments make reruns free. Default RECSEARCH_ENRICH_LIMIT (all).",
)  # fmt: skip
VECTOR_FIELD = typer.Option(
    None, "--vector-field", help="Catalog column with each item's own vector: used instead of embedding the text "
    "(default RECSEARCH_MODELS_VECTOR_FIELD). Every vector is checked before anything is written.",
)  # fmt: skip
VECTOR_MODEL = typer.Option(
    None, "--vector-model", help="With --vector-field: the model of that vector space, which embeds queries and "
    "items without a vector (default RECSEARCH_MODELS_VECTOR_MODEL; none: text k-NN is off, search is BM25).",
)  # fmt: skip


def _loaded(read) -> None:
    err.print(f"read {len(read.items):,} items from {escape(read.source)}")
    for reject in read.rejects[:5]:
        err.print(f"[yellow]skipped[/] {escape(str(reject))}", highlight=False)  # file values
    if len(read.rejects) > 5:
        err.print(f"[yellow]... and {len(read.rejects) - 5} more[/]")


def _report(done, alias: str, verb: str) -> None:
    r = done.result
    if done.enrich_stats is not None:
        s = done.enrich_stats
        out.print(
            f"enrichment: {r.enrichment.get('enriched', 0):,} enriched, {r.enrichment.get('rejected', 0):,} dropped "
            f"by grounding; {s.cached:,} from cache, {s.generated:,} generated ({s.llm_calls} LLM batches)"
        )
    out.print(
        f"{verb} {r.indexed:,} items into {r.index} ({r.embedded:,} embedded, "
        + (f"{r.given:,} vectors from the catalog, " if r.given else "")
        + f"{r.reused:,} vectors reused, "
        f"{r.skipped:,} unchanged{', resumed' if r.resumed else ''}; {r.deleted:,} deleted)"
    )
    if r.rejects:
        out.print(f"{len(r.rejects)} rows skipped, listed in {escape(str(done.rejects_file))}")
    if r.pruned:
        out.print(f"deleted old versions: {', '.join(r.pruned)}")


@app.command()
def build(
    catalog: Path = CATALOG,
    mapping: str = MAPPING,
    strict: bool = STRICT,
    model: str = MODEL,
    enrich: bool = ENRICH,
    enrich_limit: int = ENRICH_LIMIT,
    force: bool = typer.Option(False, "--force", help="Write a new version even when the live one is up to date."),
    allow_shrink: bool = ALLOW_SHRINK,
    vector_field: str = VECTOR_FIELD,
    vector_model: str = VECTOR_MODEL,
) -> None:
    """Enrich (when on) and embed every catalog item into a new index version; the alias moves to it at the end.
    A build killed half-way resumes where it stopped; unchanged items reuse their vectors."""
    settings = get_settings()
    with progress_stages("enriching", "indexing") as (enrich_progress, progress):
        done = api.build_from_catalog(
            settings, catalog, mapping=FieldMapping.parse(mapping), strict=strict, model=model, enrich=enrich,
            enrich_limit=enrich_limit, force=force, allow_shrink=allow_shrink, progress=progress,
            enrich_progress=enrich_progress, on_loaded=_loaded, vector_field=vector_field, vector_model=vector_model,
            learned=lambda: active_learned_or_warn(settings),
        )  # fmt: skip
    if done.result.digest_match:
        out.print(f"the live version {done.result.index} was built from this catalog file with these settings "
                  f"({done.result.skipped:,} items): up to date; nothing read, nothing written "
                  "(--force writes a new version)")  # fmt: skip
        return
    if done.result.up_to_date:
        out.print(f"the live version {done.result.index} is up to date ({done.result.skipped:,} items unchanged); "
                  "nothing written (--force writes a new version)")  # fmt: skip
        return
    _report(done, settings.opensearch.index_alias, "indexed")
    out.print(f"alias '{settings.opensearch.index_alias}' now points at {done.result.index}")
    publish_or_warn(settings)  # written with the documents: nothing to do, unless the active model could not be


@app.command()
def update(
    catalog: Path = CATALOG,
    mapping: str = MAPPING,
    strict: bool = STRICT,
    model: str = MODEL,
    enrich: bool = ENRICH,
    enrich_limit: int = ENRICH_LIMIT,
    allow_shrink: bool = ALLOW_SHRINK,
    vector_field: str = VECTOR_FIELD,
    vector_model: str = VECTOR_MODEL,
) -> None:
    """Bring the live version in line with the catalog: re-enrich and re-embed only changed items, delete
    removed ones."""
    settings = get_settings()
    with progress_stages("enriching", "updating") as (enrich_progress, progress):
        done = api.update_from_catalog(
            settings, catalog, mapping=FieldMapping.parse(mapping), strict=strict, model=model, enrich=enrich,
            enrich_limit=enrich_limit, allow_shrink=allow_shrink, progress=progress, enrich_progress=enrich_progress,
            on_loaded=_loaded, vector_field=vector_field, vector_model=vector_model,
            learned=lambda: active_learned_or_warn(settings),
        )  # fmt: skip
    _report(done, settings.opensearch.index_alias, "wrote")
    if done.result.indexed:
        publish_or_warn(settings)  # rewritten items kept theirs, unless the live version held another model's


@app.command()
def rollback() -> None:
    """Point the alias back at the previous complete version."""
    settings = get_settings()
    before, after = api.rollback(settings)
    out.print(f"alias '{settings.opensearch.index_alias}' moved from {before} back to {after}")


@app.command()
def status() -> None:
    """The versions behind the alias: documents, live or not, build state, embedding model, enriched items."""
    versions = api.index_versions(get_settings())
    for v in versions:
        enriched = v.meta.get("enriched_items")
        out.print(
            f"{v.name}  {v.docs:,} documents  {'[bold green]live[/]' if v.live else 'not live'}  "
            f"{v.meta.get('build_state', 'complete')}  model={v.meta.get('embedding_model', '')}"
            + (f"  enriched={enriched}" if enriched is not None else ""),
            highlight=False,
        )
    if not versions:
        out.print("no index versions yet; run `recadmin index build --catalog PATH`")
