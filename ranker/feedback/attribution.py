"""Attribution: events that carry a ``query_id`` joined to the impression they followed, and the UBI report.

An event (a click, an add-to-cart, a purchase; live from ``/v1/events`` or imported with ``feedback import
--format ubi``) that names the ``query_id`` of an answer and an item that answer showed is attributed to that item's
position and to what placed it there (``placed_by``). An item shown on two pages of one query_id counts at its first
position. Events whose query_id is unknown, or whose item the answer did not show, stay unattributed (counted).

:func:`attribute` is the join the experiment report builds on; :func:`ubi_report` is ``recadmin ubi report``:
answers recorded, events attributed, and the click-through rate by position.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine

from ranker.feedback.impression_sinks import ImpressionSink
from ranker.feedback.tables import EventRow


@dataclass(frozen=True)
class AttributedEvent:
    """An event and where the item it names was shown for its query_id."""

    event_id: str
    user_id: str
    type: str
    ts: datetime
    query_id: str
    item_id: str
    position: int
    placed_by: str
    #: The event's money value (a purchase's revenue), None when it has none.
    value: float | None = None


@dataclass
class Attribution:
    """The attributed events, and how many events with a query_id could not be attributed."""

    events: list[AttributedEvent]
    with_query_id: int
    unattributed: int


def events_with_query_id(engine: Engine, types: Iterable[str] | None = None) -> list[tuple]:
    """(event_id, user_id, type, ts, query_id, item_id, value) of the stored events that carry a query_id and an
    item."""
    t = EventRow.__table__.c
    query = select(t.event_id, t.user_id, t.type, t.ts, t.query_id, t.item_id, t.value).where(
        t.query_id.is_not(None), t.item_id != ""
    )
    if types is not None:
        query = query.where(t.type.in_(list(types)))
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query.order_by(t.ts, t.seq, t.event_id))]


def attribute(engine: Engine, sink: ImpressionSink, types: Iterable[str] | None = None) -> Attribution:
    """Join the store's events that carry a query_id (of ``types``; all when None) to the impressions of ``sink``:
    query_id + item id -> position and placed_by."""
    events = events_with_query_id(engine, types)
    places = sink.placements(e[4] for e in events)
    out = []
    for event_id, user_id, type_, ts, query_id, item_id, value in events:
        place = places.get((query_id, item_id))
        if place is not None:
            out.append(AttributedEvent(event_id, user_id, type_, ts, query_id, item_id, place[0], place[1],
                                       None if value is None else float(value)))  # fmt: skip
    return Attribution(out, len(events), len(events) - len(out))


@dataclass
class PositionRow:
    """One position of the report: answers that showed a hit there, attributed events there by type, the CTR."""

    position: int
    shown: int
    events: dict[str, int] = field(default_factory=dict)
    ctr: float = 0.0


@dataclass
class UbiReport:
    """What ``recadmin ubi report`` prints (and writes as JSON)."""

    sink: str
    answers: int
    hits_shown: int
    events_with_query_id: int
    attributed: int
    unattributed: int
    click_type: str
    positions: list[PositionRow]
    placed_by: dict[str, int]


def ubi_report(engine: Engine, sink: ImpressionSink, sink_name: str, *, max_position: int = 20,
               click_type: str = "click") -> UbiReport:  # fmt: skip
    """Answers recorded, events attributed, and per position 1..``max_position``: how many answers showed a hit
    there, the events attributed there by type, and the CTR (``click_type`` events / answers that showed it)."""
    answers, shown = sink.shown_by_position()
    done = attribute(engine, sink)
    by_position: dict[int, Counter] = {}
    for e in done.events:
        by_position.setdefault(e.position, Counter())[e.type] += 1
    rows = []
    for p in range(1, max_position + 1):
        events = dict(sorted(by_position.get(p, Counter()).items()))
        n = shown.get(p, 0)
        rows.append(PositionRow(p, n, events, round(events.get(click_type, 0) / n, 6) if n else 0.0))
    placed = Counter(e.placed_by for e in done.events if e.type == click_type)
    return UbiReport(sink_name, answers, sum(shown.values()), done.with_query_id, len(done.events),
                     done.unattributed, click_type, rows, dict(placed))  # fmt: skip
