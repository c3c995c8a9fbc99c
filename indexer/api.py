"""The indexer's public operations, one function per user action. The CLI, the service and the tests call these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from core.embedding import Embedder, embedder_for
from core.errors import ClusterUnreachable, ConfigError, InputError
from core.opensearch.client import make_client, translate_errors
from core.paths import rejects_file
from core.progress import ProgressFn
from core.rows import write_rejects
from core.settings import Settings
from indexer.build import BuildResult, build_index
from indexer.catalog import CatalogRead, FieldMapping, Item, VectorColumn, read_catalog
from indexer.catalog_stream import CatalogStream
from indexer.digest import META_DIGEST, META_DOCUMENTS, build_digest
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
from indexer.learned_field import LearnedSource
from indexer.search import MODES, Hit, bm25_search, hybrid_search, knn_search
from indexer.vectors import CatalogVectors, is_catalog_space


def items_index(settings: Settings) -> ItemsIndex:
    """The versioned items index of the configured alias."""
    os_settings = settings.opensearch
    return ItemsIndex(make_client(os_settings), os_settings.index_alias, os_settings.url, os_settings.delete_timeout_s)


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
        taxonomy_file=e.taxonomy_file, constrained=e.constrained,
    )  # fmt: skip


@dataclass
class CatalogBuild:
    """A finished build (or update) and where its rejects went."""

    result: BuildResult
    rejects_file: Path | None
    enrich_stats: EnrichStats | None = None


def _read(
    settings: Settings, catalog: Path, mapping: FieldMapping | None, strict: bool, vectors: VectorColumn | None = None,
    stream: bool = False,
) -> tuple[CatalogRead | CatalogStream, Path | None]:  # fmt: skip
    """The catalog read and checked whole (``stream``: scanned, its items re-read in chunks when iterated)."""
    read: CatalogRead | CatalogStream
    if stream:
        read = CatalogStream(catalog, mapping, vectors).scan()
    else:
        read = read_catalog(catalog, mapping, vectors=vectors)
    target = None
    if read.rejects:
        target = rejects_file(settings, catalog, "catalog")
        write_rejects(read.rejects, target)
        if strict:
            raise InputError(f"{len(read.rejects)} bad rows, first: {read.rejects[0]} (see {target})")
    if not len(read.items):
        raise InputError("no usable items in the catalog", path=str(catalog))
    return read, target


def _enrichment_on(settings: Settings, enrich: bool | None) -> bool:
    on = settings.enrich.enabled if enrich is None else enrich
    return on and settings.enrich.backend != "none"


def _enrich(
    settings: Settings, items: list[Item], embedder: Embedder | None, enrich: bool | None, limit: int | None, llm,
    progress: ProgressFn | None,
) -> tuple[dict[str, Enrichment], EnrichStats | None]:  # fmt: skip
    if not _enrichment_on(settings, enrich):
        return {}, None
    # grounding compares texts: with the catalog's own vectors and no vector model, the text model does it
    embedder = embedder or embedder_for(settings)
    limit = settings.enrich.limit if limit is None else limit
    chosen = items if limit is None else items[: max(0, limit)]
    enricher = make_enricher(settings, embedder, llm)
    return enricher.enrich(chosen, progress), enricher.stats


@dataclass(frozen=True)
class VectorOptions:
    """Bring your own vectors (:mod:`indexer.vectors`): the catalog column, and the model of that space if any."""

    field: str
    model: Embedder | None = None


def vector_options(
    settings: Settings, vector_field: str | None, vector_model: str | None, embedder: Embedder | None
) -> VectorOptions | None:
    """The vector column to read (``vector_field``, else ``RECSEARCH_MODELS_VECTOR_FIELD``; None: embed the text) and
    the model that embeds into its space: ``embedder`` when given, else the one ``vector_model`` or
    ``RECSEARCH_MODELS_VECTOR_MODEL`` names (loaded), else none."""
    name = vector_field or settings.models.vector_field
    if not name:
        return None
    spec = vector_model or settings.models.vector_model
    return VectorOptions(name, embedder or (embedder_for(settings, spec) if spec else None))


def _vector_column(options: VectorOptions | None, dimension: int | None = None, of: str = "") -> VectorColumn | None:
    if options is None:
        return None
    if dimension is None and options.model is not None:
        dimension, of = options.model.dimension, f"the vector model {options.model.name}'s"
    return VectorColumn(options.field, dimension, of, required=options.model is None)


def _catalog_vectors(options: VectorOptions, read: CatalogRead | CatalogStream) -> CatalogVectors:
    dimension = options.model.dimension if options.model is not None else read.dimension
    return CatalogVectors(options.field, int(dimension or 0), options.model)


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
    on_loaded: Callable[[CatalogRead | CatalogStream], None] | None = None,
    vector_field: str | None = None,
    vector_model: str | None = None,
    learned: LearnedSource | None = None,
) -> CatalogBuild:
    """Read ``catalog``, enrich (when on) and embed every item, and make a new index version live.

    ``vector_field`` (default ``RECSEARCH_MODELS_VECTOR_FIELD``): the items' own vectors are in that column and
    nothing is embedded (:mod:`indexer.vectors`); ``vector_model`` (or ``embedder``) is the model of that space,
    which embeds queries and items without a vector. Every vector is checked before anything is written.

    ``model`` re-embeds with another embedding model (a folder such as a fine-tuned one, or ``package:NAME``);
    it is recorded in the version's ``_meta`` as ``embedding_model``. When the live version already holds exactly
    these documents nothing is written (``result.up_to_date``) unless ``force``: known at once, without reading
    the catalog, when its build digest (:mod:`indexer.digest`: the file's bytes and the settings that decide the
    documents; not with enrichment on) is the live version's, else by comparing every document's hash. A catalog
    that would drop more than ``RECSEARCH_OPENSEARCH_MAX_SHRINK`` of the live version's documents is refused
    unless ``allow_shrink``.

    With enrichment off the catalog is streamed (:class:`~indexer.catalog_stream.CatalogStream`: checked and
    counted in a first pass, then read again in chunks), so memory does not grow with its vectors; with enrichment
    on it is read whole (the enrichment's taxonomy is made from all items).

    ``learned`` (:mod:`indexer.learned_field`; called only when a version will be written): the active model's
    learned item vectors, written in the build's own bulk; the version then already holds them."""
    index = items_index(settings)
    enriching = _enrichment_on(settings, enrich)
    digest = None
    if not enriching and catalog.is_file():
        digest = build_digest(catalog, _decides(settings, mapping, strict, embedder, model, vector_field, vector_model))
        if not force:
            skipped = _same_digest(index, digest)
            if skipped is not None:
                return CatalogBuild(skipped, None)
    vectors = vector_options(settings, vector_field, vector_model or model, embedder)
    read, rejects_file = _read(settings, catalog, mapping, strict, _vector_column(vectors), stream=not enriching)
    if on_loaded:
        on_loaded(read)
    max_shrink = None if allow_shrink else settings.opensearch.max_shrink
    # fail fast (unreachable cluster, bad credentials, a catalog far smaller than the live one) before any model
    index.check_shrink(len(read.items), max_shrink)
    meta = {"catalog": str(catalog)}
    if vectors is not None:
        embedder = _catalog_vectors(vectors, read)
        meta.update(vector_source="catalog", vector_field=vectors.field)
    else:
        embedder = embedder or embedder_for(settings, model)
    grounding = embedder if vectors is None else vectors.model
    enrichments, stats = _enrich(settings, read.items, grounding, enrich, enrich_limit, llm, enrich_progress)
    result = build_index(
        index.client,
        index,
        read.items,
        embedder,
        enrichments=enrichments,
        rejects=read.rejects,
        chunk_size=settings.opensearch.bulk_chunk_size,
        progress=progress,
        meta={**meta, "enriched_items": sum(e.ok for e in enrichments.values())},
        force=force,
        max_shrink=max_shrink,
        digest=digest,
        shards=settings.opensearch.shards,
        replicas=settings.opensearch.replicas,
        learned=learned,
    )
    result.enrichment = _counts(enrichments)
    return CatalogBuild(result, rejects_file, stats)


def _decides(
    settings: Settings, mapping: FieldMapping | None, strict: bool, embedder: Embedder | None, model: str | None,
    vector_field: str | None, vector_model: str | None,
) -> dict:  # fmt: skip
    """What, besides the catalog file, decides a build's documents (as named: no model is loaded for this)."""
    field = vector_field or settings.models.vector_field
    named = embedder.name if embedder is not None else None
    if field:
        space = named or vector_model or model or settings.models.vector_model
    else:
        space = named or model or settings.models.embedding
    return {"mapping": asdict(mapping or FieldMapping()), "strict": strict, "vector_field": field, "model": space}


def _same_digest(index: ItemsIndex, digest: str) -> BuildResult | None:
    """The up-to-date result when the live version was built with ``digest`` and still holds its documents (None
    also when the cluster cannot be reached: the build reads the catalog, then fails at its shrink check before any
    model loads)."""
    try:
        live = index.live_version()
    except ClusterUnreachable:  # the catalog is read first, so its own errors come before the cluster's
        return None
    if live is None:
        return None
    meta = index.meta(live)
    if meta.get(META_DIGEST) != digest or meta.get(META_DOCUMENTS) is None:
        return None
    count = index.doc_count(live)
    if count != meta[META_DOCUMENTS]:  # documents deleted (or added) behind the build's back: check them all
        return None
    return BuildResult(live, live, count, skipped=count, up_to_date=True, digest_match=True)


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
    vector_field: str | None = None,
    vector_model: str | None = None,
    learned: LearnedSource | None = None,
) -> CatalogBuild:
    """Bring the live version in line with ``catalog``: only new and changed items are enriched (cache misses)
    and embedded, removed items are deleted (refused, as for a build, when that would drop more than
    ``RECSEARCH_OPENSEARCH_MAX_SHRINK`` of them, unless ``allow_shrink``). With ``vector_field`` every vector must
    have the live version's dimension (its mapping's). ``learned``: as for a build; the rewritten documents keep
    the live version's learned vectors when it holds that model's (:func:`indexer.update.update_index`)."""
    from indexer.update import update_index

    vectors = vector_options(settings, vector_field, vector_model or model, embedder)
    index = items_index(settings)
    column = None
    if vectors is not None:
        live = index.require_live()
        column = _vector_column(vectors, index.meta(live).get("dimension"), f"the live version {live}'s")
    read, rejects_file = _read(settings, catalog, mapping, strict, column)
    if on_loaded:
        on_loaded(read)
    index.require_live()
    index.check_shrink(len(read.items), None if allow_shrink else settings.opensearch.max_shrink)
    embedder = _catalog_vectors(vectors, read) if vectors is not None else embedder or embedder_for(settings, model)
    grounding = embedder if vectors is None else vectors.model
    enrichments, stats = _enrich(settings, read.items, grounding, enrich, enrich_limit, llm, enrich_progress)
    result = update_index(
        index.client, index, read.items, embedder, enrichments=enrichments,
        chunk_size=settings.opensearch.bulk_chunk_size, progress=progress, meta={"catalog": str(catalog)},
        learned=learned,
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
    fused with reciprocal rank fusion). The default mode is ``RECSEARCH_SEARCH_MODE``. An index whose vectors came
    from the catalog without a vector model (:mod:`indexer.vectors`) has no query vector: hybrid is BM25 alone, and
    knn an :class:`InputError`."""
    if not query.strip():
        raise InputError("the query is empty", field="query")
    mode = mode or settings.search.mode
    if mode not in MODES:
        raise InputError(f"unknown search mode '{mode}' (use {', '.join(MODES)})", field="mode")
    index = items_index(settings)
    live = index.require_live()
    space = index.meta(live).get("embedding_model")
    if is_catalog_space(space) and embedder is None:
        # the shop's own vectors and no model of their space: a text query has no vector, only BM25 answers
        if mode == "knn":
            raise InputError(
                f"the live index's vectors come from the catalog ({space}) and no model embeds a query into their "
                "space: search with --mode bm25, or build with --vector-model", field="mode",
            )  # fmt: skip
        mode = "bm25"
    if mode == "bm25":
        return bm25_search(index.client, index.alias, query, k, url=index.url)
    embedder = embedder or embedder_for(settings, space)
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


def enrich_audit(
    settings: Settings,
    truth: Path,
    *,
    backend: str | None = None,
    limit: int | None = None,
    embedder: Embedder | None = None,
    llm=None,
    progress: ProgressFn | None = None,
):
    """Enrich the labelled items of ``truth`` with the configured backend (or ``backend``), through the normal
    enricher, grounding and cache, and score the run (:class:`indexer.enrichment.audit.AuditReport`)."""
    from indexer.enrichment import load_truth, run_audit

    labelled = load_truth(truth)
    if limit is not None:
        labelled = labelled[: max(0, limit)]
    if backend is not None:
        settings = settings.model_copy(update={"enrich": settings.enrich.model_copy(update={"backend": backend})})
    if llm is None and settings.enrich.backend == "none":
        raise ConfigError("the audit needs an LLM: use --backend local or openai (RECSEARCH_ENRICH_BACKEND)")
    embedder = embedder or embedder_for(settings)
    return run_audit(make_enricher(settings, embedder, llm), labelled, progress)


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
