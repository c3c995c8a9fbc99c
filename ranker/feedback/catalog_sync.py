"""Which item ids are in the catalog, and keeping events and profiles in step with it.

The catalog is the live OpenSearch items index (the alias). Events that name an item outside it are stored and
flagged (``in_catalog = false``) and left out of profiles; when items leave the catalog, :func:`sync_catalog`
flags their events and rebuilds the profiles that held them (and unflags items that came back).

Everything here takes a :class:`CatalogIds`, so unit tests pass a :class:`SetCatalog`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from core.settings import Settings


class CatalogIds(Protocol):
    """The set of item ids in the catalog, asked about some ids at a time (never listed whole: a catalog may hold
    millions of items, and an import of a thousand events must not read them all)."""

    def known(self, item_ids: Iterable[str]) -> set[str]:
        """Those of ``item_ids`` that are in the catalog."""
        ...


class SetCatalog:
    """A catalog given as a set of ids (tests, benchmarks, or a caller that already holds the ids)."""

    def __init__(self, ids: Iterable[str]):
        self._ids = frozenset(ids)

    def known(self, item_ids: Iterable[str]) -> set[str]:
        return {i for i in item_ids if i in self._ids}


class LiveCatalogIds:
    """The item ids of the live index version behind the configured alias (resolved once, so one import checks
    every batch against the same version), looked up by id as they are asked about; answers are kept (at most
    ``remember`` ids) so the popular items of the next batch cost nothing."""

    def __init__(self, settings: Settings, remember: int = 200_000):
        from core.opensearch.client import make_client
        from core.opensearch.documents import live_version

        os_settings = settings.opensearch
        self._client = make_client(os_settings)
        self._url = os_settings.url
        self.index = live_version(self._client, os_settings.index_alias, os_settings.url)
        self._remember = remember
        self._answers: dict[str, bool] = {}

    def known(self, item_ids: Iterable[str]) -> set[str]:
        from core.opensearch.documents import existing_ids

        wanted = set(item_ids)
        ask = sorted(i for i in wanted if i not in self._answers)
        if ask:
            found = existing_ids(self._client, self.index, ask, self._url)
            if len(self._answers) + len(ask) > self._remember:
                self._answers.clear()
            self._answers.update((i, i in found) for i in ask)
            return {i for i in wanted if i in found or self._answers.get(i)}
        return {i for i in wanted if self._answers[i]}


class HeldCatalogIds:
    """The ids of a catalog someone else holds and replaces (the service's in-memory item vectors, reloaded when the
    alias moves): ``source()`` gives the current holder (anything with ``in``), asked on every call, and raises when
    it cannot be had (the service answers 503 then, and the client retries)."""

    def __init__(self, source: Callable[[], object]):
        self._source = source

    def known(self, item_ids: Iterable[str]) -> set[str]:
        held = self._source()
        return {i for i in item_ids if i in held}  # type: ignore[operator]


@dataclass
class CatalogSync:
    """What a catalog sync changed."""

    items_left: int
    items_back: int
    events_flagged: int
    events_unflagged: int
    profiles_rebuilt: int


def sync_catalog(engine: Engine, catalog: CatalogIds, history_length: int) -> CatalogSync:
    """Flag events of items no longer in the catalog (and unflag returned ones); rebuild the touched profiles."""
    from ranker.feedback.tables import EventRow
    from ranker.feedback.writer import rebuild_profiles

    e = EventRow.__table__.c
    with engine.begin() as conn:
        stored = conn.execute(
            select(e.item_id, e.in_catalog).where(e.item_id != "").group_by(e.item_id, e.in_catalog)
        ).all()
        ids = catalog.known({item for item, _ in stored})  # the stored items only: the catalog may be far larger
        left = sorted({item for item, flag in stored if flag and item not in ids})
        back = sorted({item for item, flag in stored if not flag and item in ids})
        flagged = _set_flag(conn, EventRow.__table__, left, False)
        unflagged = _set_flag(conn, EventRow.__table__, back, True)
        users: set[str] = set()
        for chunk in _chunks(left + back, 500):
            users.update(conn.execute(select(e.user_id).where(e.item_id.in_(chunk)).distinct()).scalars())
        rebuild_profiles(conn, sorted(users), history_length)
    return CatalogSync(len(left), len(back), flagged, unflagged, len(users))


def _set_flag(conn, table, items: list[str], value: bool) -> int:
    changed = 0
    for chunk in _chunks(items, 500):
        changed += conn.execute(update(table).where(table.c.item_id.in_(chunk)).values(in_catalog=value)).rowcount
    return changed


def _chunks(values: list[str], size: int):
    for start in range(0, len(values), size):
        yield values[start : start + size]
