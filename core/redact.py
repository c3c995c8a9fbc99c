"""URLs made safe to show: settings tables, error messages, names written into documents.

A URL may carry credentials (``https://user:pass@host``, ``postgresql+psycopg://USER:PASS@HOST/DB``);
:func:`mask_password` keeps the user and hides the password (what ``recadmin settings`` prints),
:func:`without_userinfo` drops both (what error messages and callers of the service see)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def _split(url: str):
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    return parts if parts.netloc else None


def _host(parts) -> str:
    return parts.netloc.rpartition("@")[2]


def _is_list(url: str) -> bool:
    """Several URLs separated by commas, each a URL of its own (a comma inside one URL's password is not a list)."""
    parts = url.split(",")
    return len(parts) > 1 and all(_split(p) is not None for p in parts)


def without_userinfo(url: str) -> str:
    """``url`` without ``user:password@`` (unchanged when it has none or does not parse as a URL); each URL of a
    comma-separated list of nodes alike."""
    if _is_list(url):
        return ",".join(without_userinfo(u) for u in url.split(","))
    parts = _split(url)
    if parts is None or "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=_host(parts)))


def mask_password(url: str) -> str:
    """``url`` with its password replaced by ``****``; the user name stays, so the URL is recognisable. A user
    without a password (``https://TOKEN@host``) may itself be the token: it is masked too. Each URL of a
    comma-separated list of nodes alike."""
    if _is_list(url):
        return ",".join(mask_password(u) for u in url.split(","))
    parts = _split(url)
    if parts is None or "@" not in parts.netloc:
        return url
    user, colon, _ = parts.netloc.rpartition("@")[0].partition(":")
    shown = f"{user}:****" if colon else "****"
    return urlunsplit(parts._replace(netloc=f"{shown}@{_host(parts)}"))
