"""Resources: thin adapters from Dagster to ``archive``, configured from the environment here.

``resources_from_env`` is the one place the pipeline reads environment variables. The
library's own variables (``ARCHIVE_HOME``, ``ARCHIVE_DATABASE_URL``, ...) are parsed by
``archive.core.config.Settings.from_env``; the pipeline adds a few of its own:

| variable | meaning | default |
|---|---|---|
| ARCHIVE_SOURCES | the sources file | ./sources.yaml if it exists, else examples/sources.yaml |
| ARCHIVE_CAPTURE_CONCURRENCY | fetches at once inside one capture step | 4 |
| ARCHIVE_PER_HOST | fetches at once per host inside one capture step | 1 |
| ARCHIVE_RETRY_DELAY | seconds before the first retry of a transient failure | 30 |
| ARCHIVE_CAPTURE_RETRIES | retries of transient failures (doubling the delay) | 3 |
| ARCHIVE_CAPTURE_MODE | capture mode (html, page, browser) of sources without `mode:` | page |
| ARCHIVE_PROCESSES | worker processes for CPU work: captures (> 128), metadata | CPUs, ≤ 4 |
| ARCHIVE_CAPTURE_SHARES | capture steps a run's sources are split into (by host) | 1 |
| ARCHIVE_DAGSTER_EXECUTOR | `multiprocess`, or `celery` (``pipelines.executors``) | multiprocess |

Tests build the same resources from a mapping instead of ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, EnvVar

from archive.api import Archive
from archive.core.config import DEFAULT_MODE, PageLimits, Settings, check_mode
from archive.core.packagedata import examples_dir
from archive.core.sources import Source, load_sources
from archive.errors import ConfigError


class WarcStoreResource(ConfigurableResource):
    """The data directory: WARC files, keys, checkpoints and catalogue exports."""

    home: str
    url: str = ""
    """Where WARC files are stored when not under ``home`` (``ARCHIVE_STORE_URL``, e.g.
    ``s3://bucket/prefix``); passed to the library's settings as it is."""

    @property
    def path(self) -> Path:
        return Path(self.home)

    @property
    def catalog_dir(self) -> Path:
        return self.path / "catalog"


class CustodyDatabaseResource(ConfigurableResource):
    """The custody database (SQLite file or PostgreSQL), as a SQLAlchemy URL."""

    url: str


class FetcherResource(ConfigurableResource):
    """How captures fetch: the library's fetch policy plus in-step concurrency and retries."""

    user_agent: str
    allow_private_networks: bool = False
    max_bytes: int
    deadline: float
    concurrency: int = 4
    per_host: int = 1
    retry_delay: float = 30.0
    max_retries: int = 3
    shares: int = 1
    """Capture steps a run's range is split into (``ARCHIVE_CAPTURE_SHARES``): with a
    distributed executor, as many as there are workers to capture side by side."""
    mode: str = DEFAULT_MODE
    """Capture mode of sources without a ``mode:`` of their own: html, page or browser."""
    page_max_requisites: int = PageLimits.max_requisites
    page_max_bytes: int = PageLimits.max_bytes
    page_deadline: float = PageLimits.deadline
    browser_fallback: str = ""  # "page": browser mode without a usable Chromium uses page


class ArchiveResource(ConfigurableResource):
    """Opens :class:`archive.api.Archive` on the store, database and fetch policy above."""

    store: WarcStoreResource
    database: CustodyDatabaseResource
    fetcher: FetcherResource
    operator: str
    processes: int = 1
    """Worker processes a step may use for CPU work over a range: a capture share of
    more than 128 sources (the per-host limit holds across them, see
    :mod:`archive.capture.processes`), metadata extraction."""
    tsa_urls: str = ""
    """RFC 3161 authorities each checkpoint asks for a timestamp (ARCHIVE_TSA_URLS)."""
    tsa_deadline: float = 10.0
    """Seconds one authority may take (ARCHIVE_TSA_DEADLINE)."""
    public_url: str = ""
    """Where ``archive serve`` is published (ARCHIVE_PUBLIC_URL): capture metadata links
    to ``<public_url>/c/<capture id>``."""

    def settings(self, *, allow_private_networks: bool = False) -> Settings:
        """The library's settings. ``allow_private_networks`` widens (never narrows) the
        fetcher's policy, for sources that say so in the sources file."""
        base = Settings.from_env({"ARCHIVE_HOME": self.store.home,
                                  **({"ARCHIVE_STORE_URL": self.store.url}
                                     if self.store.url else {}),
                                  "ARCHIVE_DATABASE_URL": self.database.url,
                                  "ARCHIVE_OPERATOR": self.operator,
                                  "ARCHIVE_TSA_URLS": self.tsa_urls,
                                  "ARCHIVE_TSA_DEADLINE": str(self.tsa_deadline),
                                  "ARCHIVE_PUBLIC_URL": self.public_url})
        fetcher = self.fetcher
        base = replace(base, page=PageLimits(fetcher.page_max_requisites, fetcher.page_max_bytes,
                                             fetcher.page_deadline),
                       browser_fallback=fetcher.browser_fallback or None)
        return base.with_fetch(
            user_agent=fetcher.user_agent,
            allow_private_networks=fetcher.allow_private_networks or allow_private_networks,
            max_bytes=fetcher.max_bytes, deadline=fetcher.deadline)

    @contextmanager
    def open(self, *, allow_private_networks: bool = False) -> Iterator[Archive]:
        with Archive.open(self.settings(allow_private_networks=allow_private_networks)) as arc:
            yield arc


class SourcesFileResource(ConfigurableResource):
    """The operator's sources file (validated against schemas/sources.schema.json)."""

    path: str

    def load(self) -> list[Source]:
        return load_sources(Path(self.path))

    def by_key(self) -> dict[str, Source]:
        return {s.key: s for s in self.load()}


def default_sources_path(env: Mapping[str, str]) -> Path:
    if env.get("ARCHIVE_SOURCES"):
        return Path(env["ARCHIVE_SOURCES"]).resolve()
    local = Path("sources.yaml")
    return local.resolve() if local.exists() else examples_dir() / "sources.yaml"


def _number(env: Mapping[str, str], name: str, default: float, kind: type = int) -> Any:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number") from exc
    if value < 0:
        raise ConfigError(f"{name}={raw!r} must not be negative")
    return value


def resources_from_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every resource the definitions use, from ``env`` (default: the process environment).

    With the process environment, a database URL from ``ARCHIVE_DATABASE_URL`` is passed
    as an ``EnvVar`` so that the Dagster UI shows the variable's name, not a password.
    """
    from_process = env is None
    env = os.environ if env is None else env
    settings = Settings.from_env(env)
    store = WarcStoreResource(home=str(settings.home), url=env.get("ARCHIVE_STORE_URL", ""))
    db_url: Any = settings.database_url
    if from_process and env.get("ARCHIVE_DATABASE_URL"):
        db_url = EnvVar("ARCHIVE_DATABASE_URL")
    database = CustodyDatabaseResource(url=db_url)
    fetcher = FetcherResource(
        user_agent=settings.fetch.user_agent,
        allow_private_networks=settings.fetch.allow_private_networks,
        max_bytes=settings.fetch.max_bytes, deadline=settings.fetch.deadline,
        concurrency=max(1, _number(env, "ARCHIVE_CAPTURE_CONCURRENCY", 4)),
        per_host=max(1, _number(env, "ARCHIVE_PER_HOST", 1)),
        retry_delay=_number(env, "ARCHIVE_RETRY_DELAY", 30.0, float),
        max_retries=_number(env, "ARCHIVE_CAPTURE_RETRIES", 3),
        shares=max(1, _number(env, "ARCHIVE_CAPTURE_SHARES", 1)),
        mode=check_mode(env.get("ARCHIVE_CAPTURE_MODE") or DEFAULT_MODE),
        page_max_requisites=settings.page.max_requisites, page_max_bytes=settings.page.max_bytes,
        page_deadline=settings.page.deadline, browser_fallback=settings.browser_fallback or "")
    return {
        "store": store,
        "database": database,
        "fetcher": fetcher,
        "archive": ArchiveResource(
            store=store, database=database, fetcher=fetcher, operator=settings.operator,
            tsa_urls=",".join(settings.tsa_urls), tsa_deadline=settings.tsa_deadline,
            public_url=settings.public_url or "",
            processes=max(1, _number(env, "ARCHIVE_PROCESSES", min(os.cpu_count() or 1, 4)))),
        "sources_file": SourcesFileResource(path=str(default_sources_path(env))),
    }
