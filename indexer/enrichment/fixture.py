"""Reviewed enrichments shipped as a file: JSON lines, one accepted enrichment per line, keyed like the cache.

    {"content_hash": "...", "model": "...", "prompt_version": "enrich-v1", "item_id": "85123A",
     "title": "...", "description": "...", "attributes": {...}, "similarity": 0.71}

A fixture is named after the prompt version it was made with (``<dir>/<version>.jsonl``), so a changed prompt finds
no fixture and enriches live. Loading one puts its rows into the enrichment cache; the cache then serves them only
to an item whose text hashes the same (an item whose text changed is enriched anew) and only for the same model
and prompt version. ``item_id`` and ``title`` are there for the reviewer; the key is the hash. Rows already in the
cache are left as they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from core.errors import InputError
from core.rows import jsonl_records
from indexer.catalog import Item
from indexer.enrichment.cache import CachedEnrichment, EnrichmentCache

#: Fields every fixture line must have, with their JSON types.
FIELDS: dict[str, type | tuple[type, ...]] = {
    "content_hash": str,
    "model": str,
    "prompt_version": str,
    "description": str,
    "attributes": dict,
    "similarity": (int, float),
}


def fixture_file(directory: Path, prompt_version: str) -> Path:
    """Where the fixture for ``prompt_version`` lives in ``directory`` (it may not exist)."""
    return Path(directory) / f"{prompt_version}.jsonl"


@dataclass(frozen=True)
class FixtureLoad:
    """What loading a fixture did: rows written to the cache, rows the cache already held, and the (model, prompt
    version) pairs the file is keyed by."""

    loaded: int
    present: int
    keys: frozenset[tuple[str, str]]


def read_fixture(path: Path) -> list[dict[str, Any]]:
    """The rows of a fixture file; the first bad line is an :class:`InputError` naming the file, line and field."""
    rows = []
    for line, record in jsonl_records(path, "enrichment fixture"):
        if isinstance(record, str):
            raise InputError(record, path=str(path), line=line)
        for name, kind in FIELDS.items():
            value = record.get(name)
            empty = kind is str and not value and name != "description"  # a description may be dropped alone
            if not isinstance(value, kind) or isinstance(value, bool) or empty:
                raise InputError("missing or of the wrong type", path=str(path), line=line, field=name)
        if not record["description"] and not record["attributes"]:
            raise InputError("an accepted enrichment needs a description or attributes", path=str(path), line=line,
                             field="attributes")  # fmt: skip
        rows.append(record)
    return rows


def load_fixture(engine: Engine, path: Path) -> FixtureLoad:
    """Put the fixture's enrichments into the cache in ``engine`` (the rows it already holds stay)."""
    rows = read_fixture(path)
    groups: dict[tuple[str, str], dict[str, CachedEnrichment]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["prompt_version"]), {})[r["content_hash"]] = CachedEnrichment(
            True, r["description"], r["attributes"], "", float(r["similarity"])
        )
    loaded = present = 0
    for (model, version), outcomes in groups.items():
        cache = EnrichmentCache(engine, model, version)
        held = cache.get_many(outcomes)
        cache.put_many({h: o for h, o in outcomes.items() if h not in held})
        loaded += len(outcomes) - len(held)
        present += len(held)
    return FixtureLoad(loaded, present, frozenset(groups))


def write_fixture(cache: EnrichmentCache, items: Iterable[Item], path: Path) -> int:
    """Write the accepted cached enrichments of ``items`` (for the cache's model and prompt version) to ``path``,
    in item order, for review; returns how many were written."""
    items = list(items)
    hits = cache.get_many(it.content_hash() for it in items)
    lines = []
    for it in items:
        hit = hits.get(it.content_hash())
        if hit is None or not hit.ok:
            continue
        record = {
            "content_hash": it.content_hash(), "model": cache.model, "prompt_version": cache.prompt_version,
            "item_id": it.id, "title": it.title, "description": hit.description, "attributes": hit.attributes,
            "similarity": round(hit.similarity, 4),
        }  # fmt: skip
        lines.append(json.dumps(record, ensure_ascii=False, sort_keys=True))
        hits.pop(it.content_hash())  # an item listed twice is written once
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)
