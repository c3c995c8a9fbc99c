"""The items index: its mapping, versioned names behind an alias, and the atomic alias swap.

Every build writes a new concrete index ``<alias>-v<UTC timestamp>``; searches go through the alias, which moves
to the new version in one ``_aliases`` call once the build is complete, so search keeps working during a rebuild.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.errors import IndexMissing, InputError, OpenSearchError
from core.opensearch.client import translate_errors
from core.redact import without_userinfo

if TYPE_CHECKING:
    from opensearchpy import OpenSearch

#: 3: ``recommendable``; 4: ``attributes.size``/``pattern`` and ``enrichment.dropped_fields``. A live version of
#: an older schema keeps serving (a missing ``recommendable`` reads as true everywhere); ``index build`` writes a
#: new version of this one, ``index update`` refuses until it has.
SCHEMA_VERSION = 4

#: ``_meta.build_state`` of a version still being written (a killed build leaves it; the next build resumes it).
BUILDING, COMPLETE = "building", "complete"


def index_body(
    dimension: int, meta: dict[str, Any], shards: int = 1, replicas: int = 0, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Settings and mappings of one items index version (Lucene HNSW, cosine); ``extra``: more fields' mappings
    (the learned vectors' when the build writes them)."""
    text_with_keyword = {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 512}}}
    return {
        "settings": {
            "index": {
                "knn": True,
                # k-NN 3.5 rebuilds `vector` in _source from the vector files ("derived source"); reading it from a
                # segment written before a refresh that was followed by more writes (a resumed or updated
                # version) fails with AlreadyClosedException. Storing the vector in _source avoids that.
                "knn.derived_source.enabled": False,
                "number_of_shards": shards,
                "number_of_replicas": replicas,
                # Off during the bulk load, switched on by finish_build().
                "refresh_interval": "-1",
            }
        },
        "mappings": {
            "_meta": {"schema_version": SCHEMA_VERSION, **meta},
            "dynamic": "strict",
            "properties": {
                "item_id": {"type": "keyword"},
                "title": text_with_keyword,
                "description": {"type": "text"},
                "category": text_with_keyword,
                "price": {"type": "float"},
                # false: searchable, never recommended (postage, fees); filtered as must_not false, so documents
                # of an older schema without the field count as recommendable
                "recommendable": {"type": "boolean"},
                "text": {"type": "text"},  # the original item text, always kept
                "enriched_description": {"type": "text"},
                "enriched_text": {"type": "text"},  # original + enrichment: what the vector embeds
                "attributes": {
                    "type": "object",
                    "dynamic": "strict",
                    "properties": {
                        **{
                            k: text_with_keyword
                            for k in ("category", "material", "colour", "style", "occasion", "size", "pattern")
                        },
                        "keywords": text_with_keyword,
                    },
                },
                "enrichment": {
                    "type": "object",
                    "dynamic": "strict",
                    "properties": {
                        "status": {"type": "keyword"},  # enriched | rejected | none
                        "model": {"type": "keyword"},
                        "prompt_version": {"type": "keyword"},
                        "similarity": {"type": "float"},
                        "reason": {"type": "keyword", "ignore_above": 256},
                        # the fields of an accepted enrichment that grounding dropped, "field 'value': why"
                        "dropped_fields": {"type": "keyword", "ignore_above": 256},
                    },
                },
                "content_hash": {"type": "keyword"},
                "doc_hash": {"type": "keyword"},  # hash of the whole document but the vector: unchanged = reusable
                "vector": {
                    "type": "knn_vector",
                    "dimension": dimension,
                    "method": {
                        "name": "hnsw",
                        "engine": "lucene",  # the Maven k-NN zip has no native faiss/nmslib libraries
                        "space_type": "cosinesimil",
                        "parameters": {"m": 16, "ef_construction": 128},
                    },
                },
                **(extra or {}),
            },
        },
    }


def new_version_name(alias: str, now: datetime | None = None) -> str:
    """``items-v20261127t210305123456``: sortable, unique per microsecond."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dt%H%M%S%f")
    return f"{alias}-v{stamp}"


@dataclass(frozen=True)
class IndexVersion:
    """One concrete index behind the alias."""

    name: str
    docs: int
    live: bool
    meta: dict[str, Any]

    @property
    def created(self) -> datetime | None:
        """When the build of this version started, from its name (:func:`new_version_name`); None for a name
        of another form."""
        stamp = self.name.rpartition("-v")[2]
        try:
            return datetime.strptime(stamp, "%Y%m%dt%H%M%S%f").replace(tzinfo=UTC)
        except ValueError:
            return None

    @property
    def build_state(self) -> str:
        """``building`` (being written, or left half-written) or ``complete`` (also a version built before the
        state was recorded)."""
        return str(self.meta.get("build_state", COMPLETE))


class ItemsIndex:
    """Operations on the versioned items index of one alias."""

    def __init__(self, client: OpenSearch, alias: str, url: str = "", delete_timeout_s: float = 600.0):
        self.client = client
        self.alias = alias
        self.url = without_userinfo(url)  # only for messages: no user:password@
        self.delete_timeout_s = delete_timeout_s  # RECSEARCH_OPENSEARCH_DELETE_TIMEOUT_S

    def _errors(self, index: str | None = None):
        return translate_errors(self.url, index or self.alias)

    def create_version(
        self, dimension: int, meta: dict[str, Any], shards: int = 1, replicas: int = 0,
        extra: dict[str, Any] | None = None,
    ) -> str:  # fmt: skip
        """Create a new, empty version (not yet live) and return its name (``extra``: more fields' mappings)."""
        name = new_version_name(self.alias)
        with self._errors(name):
            if self.client.indices.exists(index=self.alias) and not self.client.indices.exists_alias(name=self.alias):
                raise OpenSearchError(
                    f"'{self.alias}' is a concrete index, not an alias; choose another RECSEARCH_OPENSEARCH_INDEX_ALIAS"
                )
            self.client.indices.create(index=name, body=index_body(dimension, meta, shards, replicas, extra))
        return name

    def finish_build(self, name: str, meta: dict[str, Any] | None = None) -> None:
        """Make a freshly loaded version searchable (refresh on) and mark it complete (with ``meta`` merged in)."""
        with self._errors(name):
            self.client.indices.put_settings(index=name, body={"index": {"refresh_interval": "1s"}})
            self.client.indices.refresh(index=name)
        self.update_meta(name, {**(meta or {}), "build_state": COMPLETE})

    def meta(self, name: str) -> dict[str, Any]:
        """The ``_meta`` of one version."""
        with self._errors(name):
            body = self.client.indices.get_mapping(index=name)
        return (next(iter(body.values())).get("mappings") or {}).get("_meta") or {}

    def update_meta(self, name: str, changes: dict[str, Any]) -> None:
        """Merge ``changes`` into a version's ``_meta`` (the mapping API replaces ``_meta`` as a whole)."""
        meta = {**self.meta(name), **changes}
        with self._errors(name):
            self.client.indices.put_mapping(index=name, body={"_meta": meta})

    def unfinished_version(self, meta_match: dict[str, Any]) -> str | None:
        """The newest version left half-built (newer than the live one) whose ``_meta`` matches ``meta_match``:
        a build killed half-way resumes there instead of starting over."""
        live = self.live_version()
        for v in reversed(self.versions()):
            if live and v.name <= live:
                break
            if v.meta.get("build_state") == BUILDING and all(v.meta.get(k) == val for k, val in meta_match.items()):
                return v.name
        return None

    def rollback(self) -> tuple[str, str]:
        """Point the alias back at the newest complete version older than the live one; returns (from, to)."""
        live = self.require_live()
        older = [v for v in self.versions() if v.name < live and v.meta.get("build_state", COMPLETE) == COMPLETE]
        if not older:
            raise OpenSearchError(f"no earlier version of '{self.alias}' to roll back to (only {live} exists)")
        target = older[-1].name
        self.swap_alias(target)
        return live, target

    def swap_alias(self, name: str) -> str | None:
        """Point the alias at ``name`` atomically; returns the version it pointed at before."""
        previous = self.live_version()
        actions: list[dict] = [{"add": {"index": name, "alias": self.alias}}]
        if previous and previous != name:
            actions.insert(0, {"remove": {"index": previous, "alias": self.alias}})
        with self._errors(name):
            self.client.indices.update_aliases(body={"actions": actions})
        return previous

    def live_version(self) -> str | None:
        """The concrete index the alias points at, or None when there is no alias yet."""
        with self._errors():
            if not self.client.indices.exists_alias(name=self.alias):
                return None
            names = list(self.client.indices.get_alias(name=self.alias))
        return sorted(names)[-1] if names else None

    def versions(self) -> list[IndexVersion]:
        """All versions of this alias, oldest first."""
        live = self.live_version()
        pattern = re.compile(re.escape(self.alias) + r"-v\d{8}t\d{12}$")
        with self._errors():
            found = self.client.indices.get(index=f"{self.alias}-v*", allow_no_indices=True, ignore_unavailable=True)
            counts = {
                row["index"]: int(row["docs.count"] or 0)
                for row in self.client.cat.indices(index=f"{self.alias}-v*", format="json", h="index,docs.count")
            } if found else {}  # fmt: skip
        out = [
            IndexVersion(name, counts.get(name, 0), name == live, (body.get("mappings") or {}).get("_meta") or {})
            for name, body in found.items()
            if pattern.match(name)
        ]
        return sorted(out, key=lambda v: v.name)

    def delete_version(self, name: str) -> None:
        """Delete a version that is not live."""
        if name == self.live_version():
            raise OpenSearchError(f"refusing to delete '{name}': the alias '{self.alias}' points at it")
        self.drop(name)

    def drop(self, name: str) -> None:
        """Delete a version, live or not, and nothing when it does not exist. A just-loaded large k-NN index answers
        the delete only after its merges (``delete_timeout_s``, not the client's request timeout: a timed-out
        delete would be retried, or reported as failed while it goes on)."""
        with self._errors(name):
            self.client.indices.delete(index=name, ignore_unavailable=True, request_timeout=self.delete_timeout_s)

    def prune(self, keep: int, previous: str | None = None) -> list[str]:
        """Delete old versions, keeping ``keep`` complete ones: the live one, ``previous`` (the version the alias
        just moved away from: after a rollback it is the known-good one, whatever its age), then the newest.
        A half-built (``building``) version never counts toward ``keep``: one older than the live version is
        deleted (no build resumes it), a newer one is left alone (a build may be writing it)."""
        versions = self.versions()
        live = next((v.name for v in versions if v.live), None)
        complete = [v for v in versions if v.meta.get("build_state", COMPLETE) == COMPLETE]
        kept = {name for name in (live, previous) if name}
        for v in reversed(complete):
            if len(kept) >= keep:
                break
            kept.add(v.name)
        doomed = [
            v for v in versions
            if v.name not in kept and (v in complete or (live is not None and v.name < live))
        ]  # fmt: skip
        for v in doomed:
            self.delete_version(v.name)
        return [v.name for v in doomed]

    def doc_count(self, name: str) -> int:
        """Documents in one version."""
        with self._errors(name):
            return int(self.client.count(index=name)["count"])

    def check_shrink(self, count: int, max_shrink: float | None) -> None:
        """Refuse (:class:`InputError`) to replace the live version by ``count`` documents when that drops more than
        ``max_shrink`` of its documents: a wrong file or mapping must not silently empty the catalog the shop serves.
        ``max_shrink`` None (``--allow-shrink``) or 1 checks nothing."""
        live = self.live_version()
        if max_shrink is None or max_shrink >= 1 or live is None:
            return
        before = self.doc_count(live)
        if before and count < before * (1 - max_shrink):
            raise InputError(
                f"the catalog has {count:,} items, {1 - count / before:.0%} fewer than the {before:,} documents of "
                f"the live version {live} (RECSEARCH_OPENSEARCH_MAX_SHRINK={max_shrink:g}); nothing was changed: "
                "check --catalog and --mapping, or re-run with --allow-shrink to replace it anyway"
            )

    def require_live(self) -> str:
        """The live version, or :class:`IndexMissing` with a hint to build one."""
        live = self.live_version()
        if live is None:
            raise IndexMissing(
                f"index '{self.alias}' does not exist on {self.url}; "
                "build it with `recadmin index build --catalog PATH`"
            )
        return live
