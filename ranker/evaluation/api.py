"""`recadmin evaluate` as one library call: load events and the catalog from the real index, build the rankers,
run every split and protocol, write the JSON and HTML reports."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import InputError
from core.opensearch.client import make_client
from core.settings import Settings
from ranker.evaluation.baselines import (
    Bm25LastItem,
    BoughtTogether,
    HistoryKnn,
    MostPopular,
    RecentlyPopular,
    Recommender,
    RepeatThenPopular,
)
from ranker.evaluation.catalog import IndexSnapshot, OpenSearchItems, load_catalog
from ranker.evaluation.reembed import cached_embedder
from ranker.evaluation.report import write_reports
from ranker.evaluation.runner import SPLITS, EvalConfig, run_evaluation
from ranker.evaluation.search import QueryBuilder, QueryRetrieval, SearchProtocol
from ranker.feedback import load_events

#: Builds extra rankers (e.g. the attention reranker) from the loaded indexes: {label: (catalog, search)}.
RankerFactory = Callable[[dict[str, tuple[IndexSnapshot, OpenSearchItems]]], list[Recommender]]


@dataclass
class EvaluationRun:
    """The result dict and where the reports went."""

    result: dict
    json_path: Path
    html_path: Path


@dataclass
class EvaluateRequest:
    """What to evaluate: the events (a file read as ``recadmin feedback import`` reads it, with its format and
    mapping; default: the store), the indexes (label -> alias; the first is the primary) and the options."""

    events: Path | None = None
    events_format: str | None = None
    events_mapping: str | None = None
    indexes: dict[str, str] = field(default_factory=dict)
    splits: Sequence[str] = ("time", "leave-last-out")
    #: Train the peer recommenders (``RECSEARCH_EVAL_PEERS``) too; None: when the last-item split is asked for.
    peers: bool | None = None
    max_users: int | None = None
    cutoff: str | None = None
    name: str | None = None
    reports_dir: Path | None = None
    #: Run the personalized-search protocol (:mod:`ranker.evaluation.search`) for the rankers that order a query's
    #: hits (the attention reranker); None: whenever there is one.
    search: bool | None = None


def parse_indexes(specs: Sequence[str], default_alias: str) -> dict[str, str]:
    """``["base=items", "finetuned=items-ft"]`` -> ``{"base": "items", "finetuned": "items-ft"}``."""
    if not specs:
        return {"base": default_alias}
    out: dict[str, str] = {}
    for spec in specs:
        label, sep, alias = spec.partition("=")
        if not sep:
            label, alias = spec, spec
        if not label.strip() or not alias.strip() or label in out:
            raise InputError(f"bad --index '{spec}': use LABEL=ALIAS with a unique LABEL", field="index")
        out[label.strip()] = alias.strip()
    return out


def config_from_settings(settings: Settings, request: EvaluateRequest) -> EvalConfig:
    """The run's configuration: ``RECSEARCH_EVAL_*`` with the request's overrides."""
    e = settings.evaluation
    ks = tuple(sorted(set(e.ks)))
    if not ks or ks[0] < 1:
        raise InputError("RECSEARCH_EVAL_KS must hold positive integers", field="ks")
    unknown = [s for s in request.splits if s not in SPLITS]
    if unknown:
        raise InputError(f"unknown split '{unknown[0]}' (use {', '.join(SPLITS)})", field="split")
    if e.min_interactions < 3:
        raise InputError(
            f"RECSEARCH_EVAL_MIN_INTERACTIONS must be at least 3 (got {e.min_interactions}): a test user needs a "
            "training event besides the validation and test ones",
            field="min_interactions",
        )
    return EvalConfig(
        ks=ks,
        cutoff=request.cutoff if request.cutoff is not None else e.cutoff,
        horizon_days=e.horizon_days,
        max_users=e.max_users if request.max_users is None else request.max_users,
        seed=e.seed,
        sampled_negatives=e.sampled_negatives,
        bootstrap_samples=e.bootstrap_samples,
        splits=tuple(request.splits),
        min_interactions=e.min_interactions,
        ci_metrics=tuple(f"{m}@{10 if 10 in ks else ks[0]}" for m in ("ndcg", "recall", "hr", "mrr")),
        primary=f"ndcg@{10 if 10 in ks else ks[0]}",
    )


def peer_factory(
    settings: Settings, request: EvaluateRequest, log: Callable[[str], None] | None = None
) -> RankerFactory | None:
    """The peer recommenders of ``RECSEARCH_EVAL_PEERS`` on the primary index's catalog when the request wants them
    (``peers``, by default with the last-item split); their settings are checked here, before anything loads."""
    wanted = request.peers if request.peers is not None else "last-item" in request.splits
    if not wanted:
        return None
    from ranker.evaluation.peers import PEERS, PeerOptions, peer_rankers

    names = list(dict.fromkeys(settings.evaluation.peers))
    unknown = [n for n in names if n not in PEERS]
    if unknown or not names:
        raise InputError(f"RECSEARCH_EVAL_PEERS must name peers among {', '.join(PEERS)}"
                         + (f" (unknown: {', '.join(unknown)})" if unknown else ""), field="peers")  # fmt: skip
    options = PeerOptions.from_settings(settings.evaluation)
    return lambda loaded: list(peer_rankers(next(iter(loaded.values()))[0], names, options, log))


def search_protocol(settings: Settings, catalog: IndexSnapshot, search: OpenSearchItems) -> SearchProtocol:
    """The personalized-search protocol on the primary index, retrieving as ``/v1/search`` does (its mode and
    number of candidates), queries embedded with the index's model."""
    model = str(catalog.meta.get("embedding_model") or settings.models.embedding)
    embed = cached_embedder(settings)
    service = settings.service
    retrieval = QueryRetrieval(search, lambda texts: embed(model, texts), service.candidates, service.search_mode)
    return SearchProtocol(QueryBuilder(catalog, settings.evaluation.search_query_words), retrieval,
                          service.search_personal_weight)  # fmt: skip


def evaluate(
    settings: Settings,
    request: EvaluateRequest,
    *,
    extra_rankers: RankerFactory | None = None,
    report: Callable[[str], None] | None = None,
) -> EvaluationRun:
    """Evaluate the baselines (and any extra rankers) and write the reports."""
    report = report or (lambda message: None)
    config = config_from_settings(settings, request)
    peers = peer_factory(settings, request, report)
    indexes = request.indexes or {"base": settings.opensearch.index_alias}
    client = make_client(settings.opensearch)
    loaded: dict[str, tuple[IndexSnapshot, OpenSearchItems]] = {}
    for label, alias in indexes.items():
        report(f"loading catalog '{label}' from index {alias}")
        loaded[label] = (load_catalog(client, alias, settings.opensearch.url, cached_embedder(settings)),
                         OpenSearchItems(client, alias, settings.opensearch.url))  # fmt: skip
    primary_label = next(iter(loaded))
    catalog, search = loaded[primary_label]
    report("loading events")
    # The evaluated interactions: RECSEARCH_EVAL_EVENT_TYPES of items the catalog held when last checked.
    events = load_events(settings, request.events, fmt=request.events_format, mapping=request.events_mapping,
                         types=settings.evaluation.event_types, catalog_only=True)  # fmt: skip
    rankers: list[Recommender] = [
        MostPopular(catalog),
        RecentlyPopular(catalog),
        RepeatThenPopular(catalog),
        RepeatThenPopular(catalog, "repeat-then-recently-popular", RecentlyPopular(catalog)),
        BoughtTogether(catalog),
        Bm25LastItem(catalog, search),
    ]
    for label, (cat, s) in loaded.items():
        rankers.append(HistoryKnn(cat, s, name=f"knn-history-mean[{label}]"))
    if peers:
        rankers += peers(loaded)
    if extra_rankers:
        rankers += extra_rankers(loaded)
    protocol = search_protocol(settings, catalog, search) if request.search is not False else None
    result = run_evaluation(events, catalog, rankers, config, report, search=protocol)
    result["indexes"] = {label: {"alias": alias, "meta": loaded[label][0].meta} for label, alias in indexes.items()}
    result["events"]["source"] = str(request.events) if request.events else settings.store.url
    json_path, html_path = write_reports(result, request.reports_dir or settings.evaluation.reports_dir, request.name)
    return EvaluationRun(result, json_path, html_path)
