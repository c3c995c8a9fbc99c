"""What `recadmin serve` runs, worked out once: the settings with the command line's overrides, the checks that
refuse a start, the start-up lines, and with one worker the app itself. This module loads no model code (nor
torch): with several workers it is all the supervisor imports of the service (`ranker/service/workers.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.errors import ConfigError
from core.settings import Settings
from ranker.service.auth import ApiKeys, allowed_hosts, check_bind

if TYPE_CHECKING:
    from fastapi import FastAPI


@dataclass
class Served:
    """What `recadmin serve` runs: the app, where it listens, with how many worker processes, the environment those
    rebuild the app from (the command line's overrides), and the start-up lines to show (auth, Host names)."""

    app: FastAPI | None  # None with several workers: each builds its own
    host: str
    port: int
    notes: list[str]
    warnings: list[str]
    workers: int = 1
    environment: dict[str, str] = field(default_factory=dict)


def serving(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    insecure: bool = False,
    workers: int | None = None,
) -> Served:
    """The service as `recadmin serve` runs it: ``host``/``port``/``workers`` override the settings (the Host check
    includes the bind host); :class:`ConfigError` for an open service (no API keys) on an interface other machines
    reach, unless ``insecure``, and for several workers over an in-memory store (each would have its own)."""
    service = settings.service.model_copy(update={"host": host or settings.service.host,
                                                  "port": port or settings.service.port,
                                                  "workers": workers or settings.service.workers})  # fmt: skip
    if service.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {service.workers}")
    settings = settings.model_copy(update={"service": service})
    keys = ApiKeys(service)
    check_bind(service.host, keys, insecure)
    app = None
    if service.workers == 1:
        from ranker.service.app import create_app  # loads torch: a supervisor of workers does without

        app = create_app(settings, warm=True)
    notes = [f"answering Host names: {', '.join(allowed_hosts(service))}"]
    warnings = [] if keys.enabled else [keys.describe()]
    if keys.enabled:
        notes.insert(0, keys.describe())
    environment: dict[str, str] = {}
    if service.workers > 1:
        warnings += _store_warnings(settings, service.workers)
        notes.append(f"{service.workers} worker processes; each loads the model and checks for a newly activated "
                     f"one every {service.model_check_s:g} s (RECSEARCH_SERVICE_MODEL_CHECK_S)")  # fmt: skip
        environment = {"RECSEARCH_SERVICE_HOST": service.host, "RECSEARCH_SERVICE_PORT": str(service.port),
                       "RECSEARCH_SERVICE_WORKERS": str(service.workers)}  # fmt: skip
    return Served(app, service.host, service.port, notes, warnings, service.workers, environment)


def _store_warnings(settings: Settings, workers: int) -> list[str]:
    """Several workers share the store: refused in memory, said for a SQLite file (writers take turns)."""
    url = settings.store.url
    if not url.startswith("sqlite"):
        return []
    from core.store import is_memory_sqlite  # here: the parent process imports no more than it needs

    if is_memory_sqlite(url):
        raise ConfigError(
            f"--workers {workers} over an in-memory SQLite store ({url}): each worker would have a store of its own; "
            "set RECSEARCH_STORE_URL to a file or to PostgreSQL"
        )
    return [
        f"{workers} workers share a SQLite store: their writes (events) take turns on the file's lock (WAL, up to "
        "30 s each); set RECSEARCH_STORE_URL to PostgreSQL for a shop's traffic"
    ]
