"""Which item ids are in the catalog, and keeping events and profiles in step with it.

The catalog is the live OpenSearch items index (the alias). Events that name an item outside it are stored and
flagged (``in_catalog = false``) and left out of profiles; when items leave the catalog, :func:`sync_catalog`
flags their events and rebuilds the profiles that held them (and unflags items that came back).

A sync reads every item the stored events name, so it is skipped when nothing can have changed: the live catalog
reports a state (its version and each shard's last write, :func:`core.opensearch.documents.version_state`), the
store keeps the state of the last sync (``catalog_sync_state``), and a write that stores events unchecked, or
flags one against another view of the catalog, clears it (:func:`mark_unsynced`).

Everything here takes a :class:`CatalogIds`, so unit tests pass a :class:`SetCatalog`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from core.errors import AuthenticationFailed
from core.settings import Settings
from core.store import conflict_insert


class CatalogIds(Protocol):
    """The set of item ids in the catalog, asked about some ids at a time (never listed whole: a catalog may hold
    millions of items, and an import of a thousand events must not read them all)."""

    def known(self, item_ids: Iterable[str]) -> set[str]:
        """Those of ``item_ids`` that are in the catalog."""
        ...

    def state(self) -> str | None:
        """A fingerprint that changes whenever the catalog's ids may have changed; None: unknown (syncs always run)."""
        ...


class SetCatalog:
    """A catalog given as a set of ids (tests, benchmarks, or a caller that already holds the ids); ``state``: what
    :meth:`CatalogIds.state` reports (None: every sync runs)."""

    def __init__(self, ids: Iterable[str], state: str | None = None):
        self._ids = frozenset(ids)
        self._state = state

    def known(self, item_ids: Iterable[str]) -> set[str]:
        return {i for i in item_ids if i in self._ids}

    def state(self) -> str | None:
        return self._state


class LiveCatalogIds:
    """The item ids of the live index version behind the configured alias (resolved once, so one import checks
    every batch against the same version), looked up by id as they are asked about; answers are kept (at most
    ``remember`` ids) so the popular items of the next batch cost nothing."""

    def __init__(self, settings: Settings, remember: int = 200_000):
        from core.opensearch.client import make_client
        from core.opensearch.documents import live_version, version_state

        os_settings = settings.opensearch
        self._client = make_client(os_settings)
        self._url = os_settings.url
        self.index = live_version(self._client, os_settings.index_alias, os_settings.url)
        try:
            self._state: str | None = version_state(self._client, self.index, self._url)
        except AuthenticationFailed:  # a user without the monitor privilege: unknown state, every import syncs
            self._state = None
        self._remember = remember
        self._answers: dict[str, bool] = {}

    def known(self, item_ids: Iterable[str]) -> set[str]:
        from core.opensearch.documents import existing_ids

        wanted = set(item_ids)
        ask = sorted(i for i in wanted if i not in self._answers)
        found = existing_ids(self._client, self.index, ask, self._url) if ask else set()
        known = {i for i in wanted if i in found or self._answers.get(i)}  # before the answers may be forgotten
        if len(self._answers) + len(ask) > self._remember:
            self._answers.clear()
        self._answers.update((i, i in found) for i in ask)
        return known

    def state(self) -> str | None:
        return self._state  # taken before any lookup: a write during the import makes the next one sync


class HeldCatalogIds:
    """The ids of a catalog someone else holds and replaces (the service's in-memory item vectors, reloaded when the
    alias moves): ``source()`` gives the current holder (anything with ``in``), asked on every call, and raises when
    it cannot be had (the service answers 503 then, and the client retries)."""

    def __init__(self, source: Callable[[], object]):
        self._source = source

    def known(self, item_ids: Iterable[str]) -> set[str]:
        held = self._source()
        return {i for i in item_ids if i in held}  # type: ignore[operator]

    def state(self) -> str | None:
        return None


@dataclass
class CatalogSync:
    """What a catalog sync changed (``skipped``: the catalog had not changed since the last sync; nothing read)."""

    items_left: int
    items_back: int
    events_flagged: int
    events_unflagged: int
    profiles_rebuilt: int
    skipped: bool = False


SCOPE = "events"


def sync_catalog(engine: Engine, catalog: CatalogIds, history_length: int, *, force: bool = False) -> CatalogSync:
    """Flag events of items no longer in the catalog (and unflag returned ones); rebuild the touched profiles.
    Skipped when the catalog's state is the one the store was last synced against (``force``: never skipped)."""
    from ranker.feedback.tables import CatalogSyncState, EventRow
    from ranker.feedback.writer import rebuild_profiles

    state = catalog.state()
    e = EventRow.__table__.c
    with engine.begin() as conn:
        if not force and state is not None:
            t = CatalogSyncState.__table__.c
            if conn.execute(select(t.state).where(t.scope == SCOPE)).scalar_one_or_none() == state:
                return CatalogSync(0, 0, 0, 0, 0, skipped=True)
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
        _record_state(conn, state)
    return CatalogSync(len(left), len(back), flagged, unflagged, len(users))


def mark_unsynced(conn) -> None:
    """Clear the recorded sync state (in the caller's transaction): events were stored without a catalog check, or
    checked against a catalog the last sync did not see, so the next import syncs."""
    _record_state(conn, None)


def _record_state(conn, state: str | None) -> None:
    from ranker.feedback.tables import CatalogSyncState

    values = {"scope": SCOPE, "state": state, "synced_at": datetime.now(UTC).replace(tzinfo=None)}
    upsert = conflict_insert(conn, CatalogSyncState.__table__).values(**values)
    conn.execute(upsert.on_conflict_do_update(index_elements=["scope"], set_=values))


def _set_flag(conn, table, items: list[str], value: bool) -> int:
    changed = 0
    for chunk in _chunks(items, 500):
        changed += conn.execute(
            update(table).where(table.c.item_id.in_(chunk), table.c.in_catalog != value).values(in_catalog=value)
        ).rowcount  # only the events whose flag changes: the count says what this sync did
    return changed


def _chunks(values: list[str], size: int):
    for start in range(0, len(values), size):
        yield values[start : start + size]
