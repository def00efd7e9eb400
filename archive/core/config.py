"""Settings, read from the environment in exactly one place.

| variable | meaning | default |
|---|---|---|
| ARCHIVE_HOME | data directory (WARCs, SQLite DB, keys) | ./data |
| ARCHIVE_DATABASE_URL | SQLAlchemy URL of the custody DB | sqlite:///$ARCHIVE_HOME/custody.sqlite |
| ARCHIVE_ALLOW_PRIVATE_NETWORKS | 1 to allow loopback/private targets | 0 |
| ARCHIVE_USER_AGENT | User-Agent sent with every request | provenance-archive/<v> (+contact) |
| ARCHIVE_CONTACT | contact named in the User-Agent | (none) |
| ARCHIVE_OPERATOR | operator named in warcinfo and events | the login name |
| ARCHIVE_MAX_BYTES | response size limit in bytes | 52428800 |
| ARCHIVE_DEADLINE | total seconds allowed for one capture | 120 |
| ARCHIVE_CA_BUNDLE | PEM file of CA certificates to trust instead of certifi's | (none) |
| ARCHIVE_LOG_ORIGIN | the custody log's name in signed checkpoints | <host>/provenance-archive |
| ARCHIVE_NAME | the archive's name in citations (never the host name) | provenance-archive |
| ARCHIVE_PUBLIC_URL | the archive's public base URL; citations link <url>/c/<id> | (none) |
| ARCHIVE_CHECKPOINT_MIRROR | second directory every signed checkpoint note is written to | (none) |
| ARCHIVE_TRUSTED_KEYS | file of keys verify-bundle trusts (fingerprint or vkey a line) | (none) |
| ARCHIVE_PAGE_MAX_REQUISITES | requisites fetched per page (`page`/`browser` modes) | 300 |
| ARCHIVE_PAGE_MAX_BYTES | bytes of requisites' bodies per page | 104857600 |
| ARCHIVE_PAGE_DEADLINE | seconds for all requisites of one page | 120 |
| ARCHIVE_BROWSER_FALLBACK | `page`: browser mode without a usable Chromium uses page | (fail) |
| ARCHIVE_TSA_URLS | RFC 3161 authorities asked at each checkpoint (comma separated) | (none) |
| ARCHIVE_TSA_ROOTS | PEM file of TSA root certificates verify-bundle trusts | (none) |
| ARCHIVE_TSA_DEADLINE | total seconds one TSA may take to answer | 10 |
| ARCHIVE_STORE_URL | `s3://bucket/prefix`: WARCs in object storage | $ARCHIVE_HOME/warcs |
| AWS_ENDPOINT_URL | the object store's endpoint (credentials: boto3's chain) | AWS |
| AWS_REGION | the object store's region | (boto3's) |
| ARCHIVE_RETENTION | Object Lock retention of stored WARCs (`30d`, `P1Y`) | (none) |
"""

from __future__ import annotations

import getpass
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from archive.core.timeutil import parse_duration
from archive.core.version import SOFTWARE
from archive.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclass(frozen=True)
class FetchPolicy:
    """Limits and switches for one fetch. Every field ends up in the capture's provenance."""

    user_agent: str = SOFTWARE
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    deadline: float = 120.0
    max_bytes: int = 50 * 1024 * 1024
    max_redirects: int = 10
    allow_private_networks: bool = False
    verify_tls: bool = True
    max_retries: int = 2
    backoff_base: float = 0.5
    max_retry_after: float = 30.0
    max_decoded_bytes: int = 200 * 1024 * 1024
    max_encoding_depth: int = 2


CAPTURE_MODES = ("html", "page", "browser")
DEFAULT_MODE = "page"


@dataclass(frozen=True)
class PageLimits:
    """Bounds of one ``page``/``browser`` capture beyond its document (which the
    :class:`FetchPolicy` bounds): how many requisites, how many bytes of their bodies,
    how many seconds for all of them. What is over a limit is recorded as failed, with
    the limit as its reason; the capture itself stands."""

    max_requisites: int = 300
    max_bytes: int = 100 * 1024 * 1024
    deadline: float = 120.0


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    fetch: FetchPolicy = field(default_factory=FetchPolicy)
    operator: str = "unknown"
    hostname: str = "localhost"
    log_origin_override: str | None = None
    ca_bundle: str | None = None  # extra CA certificates (PEM) to trust, e.g. a corporate CA
    archive_name: str = "provenance-archive"  # named in citations as the archive
    public_url: str | None = None  # where the archive serves captures, if anywhere
    trusted_keys: Path | None = None  # keys verify-bundle trusts without --key
    checkpoint_mirror: Path | None = None  # a second home for signed checkpoint notes
    page: PageLimits = field(default_factory=PageLimits)
    browser_fallback: str | None = None  # "page": browser mode without Chromium uses page
    tsa_urls: tuple[str, ...] = ()  # RFC 3161 authorities asked to timestamp each checkpoint
    tsa_roots: Path | None = None  # PEM roots verify-bundle checks timestamp tokens against
    tsa_deadline: float = 10.0  # seconds one TSA may take, connect to last byte
    store_url: str | None = None  # s3://bucket/prefix, or None for $ARCHIVE_HOME/warcs
    store_endpoint: str | None = None  # the object store's URL (AWS_ENDPOINT_URL)
    store_region: str | None = None  # AWS_REGION
    retention: timedelta | None = None  # Object Lock retention of stored WARCs

    @property
    def log_origin(self) -> str:
        """The custody log's name in checkpoints (C2SP origin; also the signing key name)."""
        return self.log_origin_override or f"{self.hostname}/provenance-archive"

    @property
    def warc_dir(self) -> Path:
        return self.home / "warcs"

    @property
    def staging_dir(self) -> Path:
        """Where an object store's WARC files are written before their upload."""
        return self.home / "staging"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def tmp_dir(self) -> Path:
        """Where fetches spool large bodies: inside the archive, so what a killed
        capture leaves is found and swept (:func:`archive.http.spool.sweep`)."""
        return self.home / "tmp"

    @property
    def key_dir(self) -> Path:
        return self.home / "keys"

    @property
    def note_dirs(self) -> tuple[Path, ...]:
        """Where every signed checkpoint note is filed (see :mod:`archive.proof.notes`)."""
        mirror = (self.checkpoint_mirror,) if self.checkpoint_mirror else ()
        return (self.home / "checkpoints", *mirror)

    def with_fetch(self, **changes: Any) -> Settings:
        return replace(self, fetch=replace(self.fetch, **changes))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("ARCHIVE_HOME") or "data").resolve()
        db_url = env.get("ARCHIVE_DATABASE_URL") or f"sqlite:///{home / 'custody.sqlite'}"
        contact = env.get("ARCHIVE_CONTACT", "").strip()
        default_ua = f"{SOFTWARE} (+{contact})" if contact else SOFTWARE
        try:
            policy = FetchPolicy(
                user_agent=env.get("ARCHIVE_USER_AGENT") or default_ua,
                allow_private_networks=env.get("ARCHIVE_ALLOW_PRIVATE_NETWORKS", "").lower()
                in _TRUE,
                max_bytes=int(env.get("ARCHIVE_MAX_BYTES") or FetchPolicy.max_bytes),
                deadline=float(env.get("ARCHIVE_DEADLINE") or FetchPolicy.deadline),
            )
            page = PageLimits(
                max_requisites=int(env.get("ARCHIVE_PAGE_MAX_REQUISITES")
                                   or PageLimits.max_requisites),
                max_bytes=int(env.get("ARCHIVE_PAGE_MAX_BYTES") or PageLimits.max_bytes),
                deadline=float(env.get("ARCHIVE_PAGE_DEADLINE") or PageLimits.deadline))
            tsa_deadline = float(env.get("ARCHIVE_TSA_DEADLINE") or cls.tsa_deadline)
            if not tsa_deadline > 0:
                raise ValueError(f"ARCHIVE_TSA_DEADLINE must be positive, not {tsa_deadline}")
        except ValueError as exc:
            raise ConfigError(f"bad number in the environment: {exc}") from exc
        if page.max_requisites < 0 or page.max_bytes < 0 or page.deadline <= 0:
            raise ConfigError("ARCHIVE_PAGE_MAX_REQUISITES and ARCHIVE_PAGE_MAX_BYTES must "
                              "be >= 0 and ARCHIVE_PAGE_DEADLINE > 0")
        fallback = (env.get("ARCHIVE_BROWSER_FALLBACK") or "").strip().lower() or None
        if fallback not in (None, "page"):
            raise ConfigError(f"ARCHIVE_BROWSER_FALLBACK must be 'page' or unset, not "
                              f"{fallback!r}")
        settings = cls(
            home=home,
            database_url=db_url,
            fetch=policy,
            operator=env.get("ARCHIVE_OPERATOR") or _login(),
            hostname=socket.gethostname(),
            log_origin_override=env.get("ARCHIVE_LOG_ORIGIN") or None,
            ca_bundle=env.get("ARCHIVE_CA_BUNDLE") or None,
            archive_name=(env.get("ARCHIVE_NAME") or "").strip() or cls.archive_name,
            public_url=_public_url(env.get("ARCHIVE_PUBLIC_URL")),
            trusted_keys=Path(env["ARCHIVE_TRUSTED_KEYS"]).expanduser()
            if env.get("ARCHIVE_TRUSTED_KEYS") else None,
            checkpoint_mirror=Path(env["ARCHIVE_CHECKPOINT_MIRROR"]).expanduser().resolve()
            if env.get("ARCHIVE_CHECKPOINT_MIRROR") else None,
            page=page,
            browser_fallback=fallback,
            tsa_urls=_tsa_urls(env.get("ARCHIVE_TSA_URLS")),
            tsa_roots=Path(env["ARCHIVE_TSA_ROOTS"]).expanduser()
            if env.get("ARCHIVE_TSA_ROOTS") else None,
            tsa_deadline=tsa_deadline,
            store_url=_store_url(env.get("ARCHIVE_STORE_URL")),
            store_endpoint=(env.get("AWS_ENDPOINT_URL") or "").strip() or None,
            store_region=(env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "").strip()
            or None,
            retention=_retention(env.get("ARCHIVE_RETENTION")),
        )
        return replace(settings, **overrides) if overrides else settings


def check_mode(mode: str) -> str:
    """``mode`` if it is a capture mode, else a ConfigError (exit 2)."""
    if mode not in CAPTURE_MODES:
        raise ConfigError(f"capture mode must be one of {', '.join(CAPTURE_MODES)}, "
                          f"not {mode!r}")
    return mode


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


def _public_url(value: str | None) -> str | None:
    """``ARCHIVE_PUBLIC_URL`` without a trailing slash; an http(s) URL or nothing."""
    text = (value or "").strip().rstrip("/")
    if not text:
        return None
    if not text.startswith(("https://", "http://")):
        raise ConfigError(f"ARCHIVE_PUBLIC_URL must be an http(s) URL, not {text!r}")
    return text


def _store_url(value: str | None) -> str | None:
    """``ARCHIVE_STORE_URL``: ``s3://bucket[/prefix]`` or nothing (the local folder)."""
    text = (value or "").strip()
    if not text:
        return None
    bucket = text.removeprefix("s3://").split("/", 1)[0]
    if not text.startswith("s3://") or not _BUCKET.fullmatch(bucket):
        raise ConfigError(f"ARCHIVE_STORE_URL must be s3://bucket/prefix (a bucket name of "
                          f"3-63 lower-case letters, digits, dots and hyphens), not {text!r}")
    return text


def _retention(value: str | None) -> timedelta | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"ARCHIVE_RETENTION: {exc}") from exc


def _tsa_urls(value: str | None) -> tuple[str, ...]:
    """``ARCHIVE_TSA_URLS``: comma-separated http(s) URLs, in order, without repeats."""
    urls: list[str] = []
    for part in (value or "").split(","):
        url = part.strip()
        if not url:
            continue
        if not url.startswith(("https://", "http://")):
            raise ConfigError(f"ARCHIVE_TSA_URLS must list http(s) URLs, not {url!r}")
        if url not in urls:
            urls.append(url)
    return tuple(urls)
