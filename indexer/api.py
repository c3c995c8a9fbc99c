"""The indexer's public operations, one function per user action. The CLI, the service and the tests call these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.embedding import Embedder, embedder_for
from core.errors import InputError
from core.opensearch.client import make_client, translate_errors
from core.paths import rejects_file
from core.progress import ProgressFn
from core.rows import write_rejects
from core.settings import Settings
from indexer.build import BuildResult, build_index
from indexer.catalog import CatalogRead, FieldMapping, Item, read_catalog
from indexer.enrichment import (
    Enricher,
    Enrichment,
    EnrichStats,
    FixtureLoad,
    fixture_file,
    load_fixture,
    write_fixture,
)
from indexer.index import IndexVersion, ItemsIndex
from indexer.search import MODES, Hit, bm25_search, hybrid_search, knn_search


def items_index(settings: Settings) -> ItemsIndex:
    """The versioned items index of the configured alias."""
    os_settings = settings.opensearch
    return ItemsIndex(make_client(os_settings), os_settings.index_alias, os_settings.url)


def ping(settings: Settings) -> dict:
    """Cluster info; raises a clear error when unreachable or when the credentials are wrong."""
    index = items_index(settings)
    with translate_errors(settings.opensearch.url):
        return index.client.info()


def make_enricher(settings: Settings, embedder: Embedder, llm=None) -> Enricher:
    """The enricher the ``RECSEARCH_ENRICH_*`` settings describe, its cache in the SQL store."""
    from core.store import open_store
    from indexer.enrichment import EnrichmentCache, load_llm, load_prompt

    e = settings.enrich
    prompt = load_prompt(e.prompt_file)
    llm = llm or load_llm(e, settings.state_dir)
    cache = EnrichmentCache(open_store(settings.store), llm.name, prompt.version)
    return Enricher(
        llm, embedder, prompt, cache,
        batch_size=e.batch_size, max_new_tokens=e.max_new_tokens, threshold=e.grounding_threshold, attempts=e.attempts,
    )  # fmt: skip


@dataclass
class CatalogBuild:
    """A finished build (or update) and where its rejects went."""

    result: BuildResult
    rejects_file: Path | None
    enrich_stats: EnrichStats | None = None


def _read(
    settings: Settings, catalog: Path, mapping: FieldMapping | None, strict: bool
) -> tuple[CatalogRead, Path | None]:
    read = read_catalog(catalog, mapping)
    target = None
    if read.rejects:
        target = rejects_file(settings, catalog, "catalog")
        write_rejects(read.rejects, target)
        if strict:
            raise InputError(f"{len(read.rejects)} bad rows, first: {read.rejects[0]} (see {target})")
    if not read.items:
        raise InputError("no usable items in the catalog", path=str(catalog))
    return read, target


def _enrich(
    settings: Settings, items: list[Item], embedder: Embedder, enrich: bool | None, limit: int | None, llm,
    progress: ProgressFn | None,
) -> tuple[dict[str, Enrichment], EnrichStats | None]:  # fmt: skip
    on = settings.enrich.enabled if enrich is None else enrich
    if not on or settings.enrich.backend == "none":
        return {}, None
    limit = settings.enrich.limit if limit is None else limit
    chosen = items if limit is None else items[: max(0, limit)]
    enricher = make_enricher(settings, embedder, llm)
    return enricher.enrich(chosen, progress), enricher.stats


def build_from_catalog(
    settings: Settings,
    catalog: Path,
    *,
    mapping: FieldMapping | None = None,
    strict: bool = False,
    embedder: Embedder | None = None,
    model: str | None = None,
    enrich: bool | None = None,
    enrich_limit: int | None = None,
    llm=None,
    force: bool = False,
    allow_shrink: bool = False,
    progress: ProgressFn | None = None,
    enrich_progress: ProgressFn | None = None,
    on_loaded: Callable[[CatalogRead], None] | None = None,
) -> CatalogBuild:
    """Read ``catalog``, enrich (when on) and embed every item, and make a new index version live.

    ``model`` re-embeds with another embedding model (a folder such as a fine-tuned one, or ``package:NAME``);
    it is recorded in the version's ``_meta`` as ``embedding_model``. When the live version already holds exactly
    these documents nothing is written (``result.up_to_date``) unless ``force``. A catalog that would drop more
    than ``RECSEARCH_OPENSEARCH_MAX_SHRINK`` of the live version's documents is refused unless ``allow_shrink``."""
    read, rejects_file = _read(settings, catalog, mapping, strict)
    if on_loaded:
        on_loaded(read)
    index = items_index(settings)
    max_shrink = None if allow_shrink else settings.opensearch.max_shrink
    # fail fast (unreachable cluster, bad credentials, a catalog far smaller than the live one) before any model
    index.check_shrink(len(read.items), max_shrink)
    embedder = embedder or embedder_for(settings, model)
    enrichments, stats = _enrich(settings, read.items, embedder, enrich, enrich_limit, llm, enrich_progress)
    result = build_index(
        index.client,
        index,
        read.items,
        embedder,
        enrichments=enrichments,
        rejects=read.rejects,
        chunk_size=settings.opensearch.bulk_chunk_size,
        progress=progress,
        meta={"catalog": str(catalog), "enriched_items": sum(e.ok for e in enrichments.values())},
        force=force,
        max_shrink=max_shrink,
    )
    result.enrichment = _counts(enrichments)
    return CatalogBuild(result, rejects_file, stats)


def update_from_catalog(
    settings: Settings,
    catalog: Path,
    *,
    mapping: FieldMapping | None = None,
    strict: bool = False,
    embedder: Embedder | None = None,
    model: str | None = None,
    enrich: bool | None = None,
    enrich_limit: int | None = None,
    llm=None,
    allow_shrink: bool = False,
    progress: ProgressFn | None = None,
    enrich_progress: ProgressFn | None = None,
    on_loaded: Callable[[CatalogRead], None] | None = None,
) -> CatalogBuild:
    """Bring the live version in line with ``catalog``: only new and changed items are enriched (cache misses)
    and embedded, removed items are deleted (refused, as for a build, when that would drop more than
    ``RECSEARCH_OPENSEARCH_MAX_SHRINK`` of them, unless ``allow_shrink``)."""
    from indexer.update import update_index

    read, rejects_file = _read(settings, catalog, mapping, strict)
    if on_loaded:
        on_loaded(read)
    index = items_index(settings)
    index.require_live()
    index.check_shrink(len(read.items), None if allow_shrink else settings.opensearch.max_shrink)
    embedder = embedder or embedder_for(settings, model)
    enrichments, stats = _enrich(settings, read.items, embedder, enrich, enrich_limit, llm, enrich_progress)
    result = update_index(
        index.client, index, read.items, embedder, enrichments=enrichments,
        chunk_size=settings.opensearch.bulk_chunk_size, progress=progress, meta={"catalog": str(catalog)},
    )  # fmt: skip
    result.rejects = read.rejects
    result.enrichment = _counts(enrichments)
    return CatalogBuild(result, rejects_file, stats)


def _counts(enrichments: dict[str, Enrichment]) -> dict[str, int]:
    return {
        "enriched": sum(e.ok for e in enrichments.values()),
        "rejected": sum(not e.ok for e in enrichments.values()),
        "cached": sum(e.cached for e in enrichments.values()),
    }


def rollback(settings: Settings) -> tuple[str, str]:
    """Point the alias back at the previous complete version; returns (from, to)."""
    return items_index(settings).rollback()


def search(
    settings: Settings, query: str, k: int = 10, embedder: Embedder | None = None, mode: str | None = None
) -> list[Hit]:
    """Search the live index for the text ``query``: ``knn`` (vector), ``bm25`` (text) or ``hybrid`` (both,
    fused with reciprocal rank fusion). The default mode is ``RECSEARCH_SEARCH_MODE``."""
    if not query.strip():
        raise InputError("the query is empty", field="query")
    mode = mode or settings.search.mode
    if mode not in MODES:
        raise InputError(f"unknown search mode '{mode}' (use {', '.join(MODES)})", field="mode")
    index = items_index(settings)
    live = index.require_live()
    if mode == "bm25":
        return bm25_search(index.client, index.alias, query, k, url=index.url)
    embedder = embedder or embedder_for(settings, index.meta(live).get("embedding_model"))
    vector = embedder.encode([query])[0].tolist()
    if mode == "knn":
        return knn_search(index.client, index.alias, vector, k, url=index.url)
    s = settings.search
    return hybrid_search(index.client, index.alias, query, vector, k, max(k, s.candidates), s.rrf_k, url=index.url)


def index_versions(settings: Settings) -> list[IndexVersion]:
    """All versions behind the alias."""
    return items_index(settings).versions()


def enrich_preview(
    settings: Settings,
    catalog: Path,
    ids: list[str],
    *,
    mapping: FieldMapping | None = None,
    embedder: Embedder | None = None,
    llm=None,
) -> list[tuple[Item, Enrichment]]:
    """The source item and its enrichment (from the cache, else generated and cached) for each id."""
    from core.online_retail import normalize_stock_code

    read = read_catalog(catalog, mapping)
    by_id = {it.id: it for it in read.items}
    chosen: list[Item] = []
    for raw in ids:
        item = by_id.get(raw) or by_id.get(normalize_stock_code(raw))
        if item is None:
            raise InputError(f"no item '{raw}' in the catalog", path=str(catalog), field="id")
        chosen.append(item)
    embedder = embedder or embedder_for(settings)
    enrichments = make_enricher(settings, embedder, llm).enrich(chosen)
    return [(it, enrichments[it.id]) for it in chosen]


@dataclass
class ReviewedLoad:
    """The outcome of :func:`load_reviewed_enrichments`: the fixture looked for, what loading it did (None when
    there is none), and the model and prompt version enrichment runs under now (rows for others are not used)."""

    path: Path
    load: FixtureLoad | None
    model: str
    prompt_version: str

    @property
    def usable(self) -> bool:
        return self.load is not None and (self.model, self.prompt_version) in self.load.keys


def load_reviewed_enrichments(settings: Settings, directory: Path) -> ReviewedLoad:
    """Load the reviewed enrichments for the current prompt version from ``directory`` into the cache (see
    :mod:`indexer.enrichment.fixture`); no file for this prompt version loads nothing (enrichment runs live)."""
    from core.store import open_store
    from indexer.enrichment import llm_name, load_prompt

    version = load_prompt(settings.enrich.prompt_file).version
    path = fixture_file(directory, version)
    model = llm_name(settings.enrich)
    if not path.exists():
        return ReviewedLoad(path, None, model, version)
    return ReviewedLoad(path, load_fixture(open_store(settings.store), path), model, version)


def export_reviewed_enrichments(
    settings: Settings,
    catalog: Path,
    directory: Path,
    *,
    limit: int = 0,
    ids: list[str] | None = None,
    mapping: FieldMapping | None = None,
) -> tuple[Path, int]:
    """Write the cached accepted enrichments of the first ``limit`` catalog items and of ``ids`` (current model
    and prompt version) to the fixture file for review; returns (file, rows written)."""
    from core.online_retail import normalize_stock_code
    from core.store import open_store
    from indexer.enrichment import EnrichmentCache, llm_name, load_prompt

    items = read_catalog(catalog, mapping).items
    by_id = {it.id: it for it in items}
    chosen = items[: max(0, limit)]
    for raw in ids or []:
        item = by_id.get(raw) or by_id.get(normalize_stock_code(raw))
        if item is None:
            raise InputError(f"no item '{raw}' in the catalog", path=str(catalog), field="id")
        chosen.append(item)
    version = load_prompt(settings.enrich.prompt_file).version
    cache = EnrichmentCache(open_store(settings.store), llm_name(settings.enrich), version)
    path = fixture_file(directory, version)
    return path, write_fixture(cache, chosen, path)
