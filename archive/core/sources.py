"""The operator's list of sources (``sources.yaml``), validated against its schema.

All schema errors are collected and reported together, each with its location.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from archive.core.files import atomic_write
from archive.core.packagedata import schema_validator
from archive.core.urls import host_of, normalize_url, partition_key
from archive.errors import ConfigError

SCHEMA_NAME = "sources.schema.json"


@dataclass(frozen=True)
class Source:
    url: str
    label: str | None = None
    outlet: str | None = None
    group: str | None = None
    allow_private_networks: bool = False
    mode: str | None = None  # html | page | browser; None: the run's default

    @property
    def key(self) -> str:
        return partition_key(self.url)


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""PyYAML's safe loader, in C when PyYAML was built with libyaml (ten times faster: a
scheduled run reads a 1,000-source file in several steps)."""


def _safe_load(text: str) -> Any:
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 (a safe loader)


def parse_sources(text: str, *, origin: str = "sources.yaml") -> list[Source]:
    try:
        doc = _safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}".replace("\n", " ")) from exc
    errors = sorted(schema_validator(SCHEMA_NAME).iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        msgs = [f"{'/'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in errors]
        raise ConfigError(f"{origin}: {len(msgs)} problem(s): " + "; ".join(msgs))
    seen: dict[str, str] = {}
    out = []
    for item in doc["sources"]:
        src = Source(url=item["url"], label=item.get("label"), outlet=item.get("outlet"),
                     group=item.get("group"),
                     allow_private_networks=item.get("allow_private_networks", False),
                     mode=item.get("mode"))
        norm = normalize_url(src.url)
        if norm in seen:
            raise ConfigError(f"{origin}: {src.url} is listed twice")
        seen[norm] = src.url
        out.append(src)
    return out


def share_out(items: Sequence[Source], shares: int) -> list[list[Source]]:
    """Split ``items`` into at most ``shares`` non-empty shares, every host in one share.

    Workers capture shares at the same time; politeness (at most ``per_host`` fetches per
    host) holds inside one capture, so a host's sources must never be split across two.
    Hosts go largest first to the share with the fewest sources; within a share the
    sources keep their order in ``items``. Deterministic: the same input gives the same
    shares (a retried run captures the same split).
    """
    if shares < 1:
        raise ValueError(f"shares must be at least 1, not {shares}")
    by_host: dict[str, list[int]] = {}
    for i, src in enumerate(items):
        by_host.setdefault(host_of(src.url), []).append(i)
    loads: list[list[int]] = [[] for _ in range(min(shares, len(by_host)))]
    for host in sorted(by_host, key=lambda h: (-len(by_host[h]), h)):
        min(loads, key=len).extend(by_host[host])
    return [[items[i] for i in sorted(load)] for load in loads]


def load_sources(path: Path) -> list[Source]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read sources file {path}: {exc.strerror}") from exc
    return parse_sources(text, origin=str(path))


def add_source(path: Path, url: str, *, label: str | None = None,
               outlet: str | None = None) -> Source:
    """Append a source to the file (creating it), refusing duplicates."""
    existing = load_sources(path) if path.exists() else []
    if any(normalize_url(s.url) == normalize_url(url) for s in existing):
        raise ConfigError(f"{url} is already in {path}")
    entry: dict[str, Any] = {"url": url}
    if label:
        entry["label"] = label
    if outlet:
        entry["outlet"] = outlet
    doc = _safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    doc = doc or {"sources": []}
    doc["sources"].append(entry)
    parse_sources(yaml.safe_dump(doc), origin=str(path))  # validate before writing
    atomic_write(path, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).encode("utf-8"))
    return Source(url=url, label=label, outlet=outlet)
