"""The OpenSearch connection: a client built from settings, and one place that turns the client's
exceptions into the project's one-line errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from core.errors import AuthenticationFailed, ClusterUnreachable, IndexMissing, OpenSearchError, ResourceMissing
from core.redact import without_userinfo
from core.settings import OpenSearchSettings

if TYPE_CHECKING:
    from opensearchpy import OpenSearch


def make_client(settings: OpenSearchSettings) -> OpenSearch:
    """A client for the configured cluster (one node URL or several, comma-separated). Nothing is sent until the
    first request."""
    from opensearchpy import OpenSearch

    auth = None
    if settings.user:
        auth = (settings.user, settings.password.get_secret_value() if settings.password else "")
    use_ssl = settings.url.startswith("https://")
    kwargs: dict = dict(
        # Several nodes: opensearch-py sends each request to the next live one and, on a connection error, marks
        # that node dead for a while and retries the request on another (up to max_retries).
        hosts=settings.hosts,
        http_auth=auth,
        timeout=settings.timeout_s,
        max_retries=settings.max_retries,
        retry_on_timeout=True,
        http_compress=True,
    )
    if use_ssl:
        kwargs.update(use_ssl=True, verify_certs=settings.verify_certs, ssl_show_warn=settings.verify_certs)
        if settings.ca_certs:
            kwargs["ca_certs"] = str(settings.ca_certs)
    return OpenSearch(**kwargs)


@contextmanager
def translate_errors(url: str, index: str | None = None) -> Iterator[None]:
    """Re-raise opensearch-py exceptions as :mod:`core.errors` with a message naming the cause (and the cluster,
    without any ``user:password@`` the URL carries)."""
    from opensearchpy import exceptions as ex

    url = without_userinfo(url)

    try:
        yield
    except (ex.ConnectionTimeout, ex.ConnectionError) as e:
        raise ClusterUnreachable(
            f"cannot reach OpenSearch at {url} ({_reason(e)}); is the node running? try `recadmin opensearch start`"
        ) from None
    except (ex.AuthenticationException, ex.AuthorizationException) as e:
        raise AuthenticationFailed(
            f"OpenSearch at {url} rejected the credentials (HTTP {e.status_code}); "
            "check RECSEARCH_OPENSEARCH_USER and RECSEARCH_OPENSEARCH_PASSWORD"
        ) from None
    except ex.NotFoundError as e:
        if _error_type(e) == "index_not_found_exception":
            name = index or "the index"
            raise IndexMissing(
                f"index '{name}' does not exist on {url}; build it with `recadmin index build --catalog PATH`"
            ) from None
        raise ResourceMissing(f"OpenSearch at {url}: not found ({_error_type(e) or e.error})") from None
    except ex.TransportError as e:
        reason = _reason(e)
        if not reason and e.status_code == 503:  # a HEAD request's 503 has no body to say why
            reason = "the cluster is unavailable (too few nodes, or no elected cluster manager; see _cluster/health)"
        raise OpenSearchError(
            f"OpenSearch at {url} answered HTTP {e.status_code}: {reason or 'no reason given'}"
        ) from None


def _error_type(e: Exception) -> str | None:
    info = getattr(e, "info", None)
    if isinstance(info, dict):
        err = info.get("error")
        if isinstance(err, dict):
            return err.get("type")
    return None


def _reason(e: Exception) -> str:
    info = getattr(e, "info", None)
    if isinstance(info, dict) and isinstance(info.get("error"), dict):
        err = info["error"]
        return str(err.get("reason") or err.get("type"))
    if isinstance(info, Exception):
        return type(info).__name__
    return str(getattr(e, "error", e))
