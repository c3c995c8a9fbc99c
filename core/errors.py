"""The project's exception tree. The CLI catches :class:`RecSearchError` once and prints one line;
the service maps each class to an HTTP status.

    RecSearchError                   user-facing problem, one clear line
    ├── ConfigError                  a setting is wrong or missing
    ├── InputError                   a file, line and field the user gave is bad
    │   └── CatalogError             the catalog file is missing, unreadable or empty
    ├── OpenSearchError              anything the cluster said or did not say
    │   ├── ClusterUnreachable       no connection / timeout
    │   ├── AuthenticationFailed     401/403
    │   ├── IndexMissing             the alias or index does not exist
    │   └── ResourceMissing          another named resource (a search pipeline, ...) does not exist
    ├── NodeError                    the local node could not be fetched, started or stopped
    ├── ModelError                   a model could not be loaded or run
    │   └── GroundingFailure         an LLM answer cannot become an enrichment (the enricher records why)
    └── ComponentUnavailable         a part of the ranking service could not be loaded (it degrades, never crashes)

Code raises and catches these by type; no caller reads an error's message to decide what happened.
"""

from __future__ import annotations


class RecSearchError(Exception):
    """Base of every error meant for the user (no traceback, one line)."""

    exit_code = 1


class ConfigError(RecSearchError):
    """A setting is missing or has a bad value."""


class InputError(RecSearchError):
    """Bad user input; the message names the file, line and field."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None, field: str | None = None):
        where = ":".join(str(p) for p in (path, line) if p is not None)
        detail = f"{where}: " if where else ""
        detail += f"field '{field}': " if field else ""
        super().__init__(f"{detail}{message}")
        self.path, self.line, self.field = path, line, field


class CatalogError(InputError):
    """The catalog file cannot be used at all."""


class OpenSearchError(RecSearchError):
    """The cluster refused or failed a request."""


class ClusterUnreachable(OpenSearchError):
    """No connection to the cluster."""


class AuthenticationFailed(OpenSearchError):
    """The cluster rejected the credentials."""


class IndexMissing(OpenSearchError):
    """The index or alias does not exist."""


class ResourceMissing(OpenSearchError):
    """A named resource other than an index (a search pipeline, ...) does not exist (HTTP 404)."""


class NodeError(RecSearchError):
    """The local OpenSearch node could not be managed."""


class ModelError(RecSearchError):
    """A model could not be loaded or run."""


class GroundingFailure(ModelError):
    """An LLM answer that cannot become an enrichment; ``args[0]`` says why (recorded, never shown as an error)."""


class ComponentUnavailable(RecSearchError):
    """A part of the ranking service (model, profile store, OpenSearch, ...) could not be loaded; ``reason`` is the
    one-line cause. The service answers without the part (retrieval order, popularity) instead of failing."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name} unavailable: {reason}")
        self.name, self.reason = name, reason
