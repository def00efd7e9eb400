"""URL normalisation and keys. A URL is data: it never becomes a path."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from archive.core.hashing import hex_part, sha256_bytes


def normalize_url(url: str) -> str:
    """Lower-case scheme and host, drop the default port and the fragment."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    if parts.username or parts.password:
        userinfo = parts.username or ""
        if parts.password:
            userinfo += f":{parts.password}"
        host = f"{userinfo}@{host}"
    return urlunsplit((scheme, host, parts.path or "/", parts.query, ""))


def host_of(url: str) -> str:
    """The URL's host name, lower-cased: the unit of politeness (fetches per host)."""
    return (urlsplit(url).hostname or "").lower()


def url_key(url: str) -> str:
    """``sha256:`` of the normalised URL: the custody object id of a source."""
    return sha256_bytes(normalize_url(url).encode("utf-8"))


def partition_key(url: str) -> str:
    """Short, path- and Dagster-safe key for a source (16 hex of its url key)."""
    return hex_part(url_key(url))[:16]
