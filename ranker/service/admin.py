"""What the admin page shows (``GET /v1/admin/overview``, write scope): the index versions behind the alias, the
registered ranker versions, the evaluation reports, and every experiment with its win rate as of now.

Each part is read through :class:`AdminSources` (the real one: :class:`LiveAdmin`; tests pass fakes) and becomes a
section of its own: a part that cannot be read (OpenSearch down, ``RECSEARCH_UBI_SINK=none``) gives its section an
``error`` line and leaves the others shown. The overview holds no secrets: no keys, URLs or checkpoint paths, and
of an index version's ``_meta`` only the fields named below. docs/service.md#admin-page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import PurePath
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from pydantic import BaseModel

from core.errors import RecSearchError
from core.reports import ReportFile, find_report, list_reports
from core.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from indexer.index import IndexVersion
    from ranker.experiments import Result
    from ranker.model import ModelVersion

log = logging.getLogger("recsearch.service")
T = TypeVar("T")

#: The validation metrics a ranker version is compared by (``recadmin models list`` shows the same); the overview
#: carries all of them.
HEADLINE_METRICS = ("val_ndcg@10", "val_hr@10", "val_popularity_ndcg@10")

#: How an A/B measure reads: "Δ clicks per answer" is treatment minus control.
PLURAL = {"click": "clicks", "purchase": "purchases", "add_to_cart": "adds to cart", "view": "views"}


class AdminSources(Protocol):
    """Where the admin page's parts come from, each newest first."""

    def index_versions(self) -> Sequence[IndexVersion]: ...
    def models(self) -> Sequence[ModelVersion]: ...
    def reports(self) -> Sequence[ReportFile]: ...
    def report(self, name: str) -> ReportFile | None: ...
    def experiments(self) -> Sequence[Result]: ...


class LiveAdmin:
    """The real parts: the alias's versions on OpenSearch, the registry and experiments in the service's store
    (``engine``: opened on first use, never migrated), the reports folder."""

    def __init__(self, settings: Settings, engine: Callable[[], Engine]):
        self.settings = settings
        self.engine = engine

    def index_versions(self) -> Sequence[IndexVersion]:
        from indexer.api import index_versions

        return index_versions(self.settings)[::-1]

    def models(self) -> Sequence[ModelVersion]:
        from ranker.model import list_versions

        return list_versions(self.engine())[::-1]

    def reports(self) -> Sequence[ReportFile]:
        return list_reports(self.settings.evaluation.reports_dir)

    def report(self, name: str) -> ReportFile | None:
        return find_report(self.settings.evaluation.reports_dir, name)

    def experiments(self) -> Sequence[Result]:
        from ranker.experiments import experiment_results

        return experiment_results(self.settings, self.engine())


# --- the overview's JSON ----------------------------------------------------------------------------------------
class Section(BaseModel, Generic[T]):
    """One part of the page: its rows, or why it could not be read."""

    items: list[T] = []
    error: str | None = None


class IndexVersionRow(BaseModel):
    name: str
    documents: int
    created: datetime | None
    live: bool
    build_state: str
    schema_version: int | None
    embedding_model: str | None
    enriched_items: int | None


class ModelRow(BaseModel):
    version: str
    created: datetime
    active: bool
    headline: dict[str, float]
    metrics: dict[str, float]


class ReportRow(BaseModel):
    name: str
    generated: datetime
    size: int
    url: str


class Comparison(BaseModel):
    """One measure of an experiment: a win rate (interleaving) or a treatment-minus-control difference (A/B)."""

    measure: str
    estimate: float
    low: float
    high: float
    p_value: float
    winner: str | None
    #: Interleaving: answers where one side got more of the events (0: nothing to compare yet); A/B: None.
    decided: int | None = None


class ExperimentRow(BaseModel):
    name: str
    mode: str
    control: str
    treatment: str
    traffic: float
    state: str
    started: datetime
    stopped: datetime | None
    answers: int
    alpha: float
    comparisons: list[Comparison]
    winner_version: str | None
    significant_after: int | None


class AdminOverview(BaseModel):
    alias: str
    generated: datetime
    index_versions: Section[IndexVersionRow]
    models: Section[ModelRow]
    reports: Section[ReportRow]
    experiments: Section[ExperimentRow]


def _utc(moment: datetime | None) -> datetime | None:
    """A stored time as UTC (the store keeps naive UTC times)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _int(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _model_name(value) -> str | None:
    """An embedding model as the page shows it: a folder's own name, not where it lies on the server."""
    if not value:
        return None
    text = str(value)
    return PurePath(text).name if ("/" in text or "\\" in text) else text


def index_row(v: IndexVersion) -> IndexVersionRow:
    return IndexVersionRow(
        name=v.name, documents=v.docs, created=v.created, live=v.live, build_state=v.build_state,
        schema_version=_int(v.meta.get("schema_version")), embedding_model=_model_name(v.meta.get("embedding_model")),
        enriched_items=_int(v.meta.get("enriched_items")),
    )  # fmt: skip


def model_row(m: ModelVersion) -> ModelRow:
    metrics = {k: float(v) for k, v in m.metrics.items() if isinstance(v, int | float)}
    headline = {k: metrics[k] for k in HEADLINE_METRICS if k in metrics}
    return ModelRow(version=m.version, created=_utc(m.created_at), active=m.active, headline=headline,
                    metrics=metrics)  # fmt: skip


def report_row(r: ReportFile, url: Callable[[str], str]) -> ReportRow:
    return ReportRow(name=r.name, generated=r.generated, size=r.size, url=url(r.name))


def experiment_row(result: Result) -> ExperimentRow:
    e, r = result.status.experiment, result.report
    comparisons = [
        Comparison(measure=f"{w.event_type} win rate", estimate=w.win_rate, low=w.low, high=w.high,
                   p_value=w.p_value, winner=w.winner, decided=w.treatment_wins + w.control_wins)
        for w in r.win_rates
    ] + [
        Comparison(measure=f"Δ {PLURAL.get(m.metric, m.metric)} per answer", estimate=m.difference, low=m.low,
                   high=m.high, p_value=m.p_value, winner=m.winner)
        for m in r.ab
    ]  # fmt: skip
    return ExperimentRow(
        name=e.name, mode=e.mode, control=e.control, treatment=e.treatment, traffic=e.traffic, state=e.state,
        started=_utc(e.started_at), stopped=_utc(e.stopped_at), answers=result.status.answers, alpha=r.alpha,
        comparisons=comparisons, winner_version=r.winner_version, significant_after=r.sessions_to_significance,
    )  # fmt: skip


def _section(part: str, read: Callable[[], Sequence], row: Callable) -> Section:
    """The rows of one part, or its error line: a RecSearchError's own message; anything else is logged here and
    named by its type only (a driver's message may quote SQL or hosts)."""
    try:
        return Section(items=[row(x) for x in read()])
    except RecSearchError as e:
        return Section(error=str(e))
    except Exception as e:  # an outside system failed: this section says so, the others are still shown
        log.warning("admin page: cannot read %s: %s: %s", part, type(e).__name__, e)
        return Section(error=f"cannot read {part} ({type(e).__name__}); the service log has the details")


def overview(sources: AdminSources, *, alias: str, report_url: Callable[[str], str]) -> AdminOverview:
    """The admin page's data, read now; ``report_url(name)`` is where the page fetches a report's HTML."""
    return AdminOverview(
        alias=alias,
        generated=datetime.now(UTC),
        index_versions=_section("the index versions", sources.index_versions, index_row),
        models=_section("the ranker versions", sources.models, model_row),
        reports=_section("the evaluation reports", sources.reports, lambda r: report_row(r, report_url)),
        experiments=_section("the experiments", sources.experiments, experiment_row),
    )
