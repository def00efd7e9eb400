"""Shared pytest fixtures. Group new fixtures by topic under a comment header."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import TestServer, TLSMaterial, make_tls_material

from archive.http.netguard import set_resolver

# Database fixtures (SQLite and PostgreSQL) and archive fixtures live in their own modules.
pytest_plugins = ["dbfixtures", "archfixtures", "storefixtures"]

# --------------------------------------------------------------------------- test servers
# Real servers on 127.0.0.1 (see tests/servers.py). Session-scoped: routes that count
# requests take a ``key`` query parameter so tests do not see each other's state.


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> TLSMaterial:
    """A test CA (``.ca_path``) and good / wrong-host / expired / self-signed leaves."""
    return make_tls_material(Path(tmp_path_factory.mktemp("tls")))


@pytest.fixture(scope="session")
def http_server() -> Iterator[TestServer]:
    with TestServer() as server:
        yield server


@pytest.fixture(scope="session")
def https_server(tls_material: TLSMaterial) -> Iterator[TestServer]:
    """HTTPS with a certificate for 127.0.0.1/localhost signed by ``tls_material.ca_path``."""
    with TestServer(tls=tls_material.good.server_context()) as server:
        yield server


@pytest.fixture(scope="session")
def bad_tls_servers(tls_material: TLSMaterial) -> Iterator[dict[str, TestServer]]:
    """HTTPS servers whose certificate must be rejected: self-signed, wrong-host, expired."""
    certs = {"self-signed": tls_material.self_signed, "wrong-host": tls_material.wrong_host,
             "expired": tls_material.expired}
    servers = {name: TestServer(tls=cert.server_context()).start()
               for name, cert in certs.items()}
    yield servers
    for server in servers.values():
        server.stop()


# --------------------------------------------------------------------------- name resolution
# Tests never ask DNS about a name /etc/hosts does not hold: a DNS failure comes from
# this resolver, injected through archive.http.netguard.set_resolver.


@pytest.fixture
def looked_up() -> Iterator[list[str]]:
    """Names the fetcher asks to resolve; answers IP literals and ``localhost`` and says
    'Name or service not known' to anything else (the system resolver's words)."""
    names: list[str] = []

    def hosts_only(host: str, port: int) -> list[tuple[int, str]]:
        names.append(host)
        try:
            return [(socket.AF_INET, str(ipaddress.IPv4Address(host)))]
        except ValueError:
            pass
        if host == "localhost":
            return [(socket.AF_INET, "127.0.0.1")]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    previous = set_resolver(hosts_only)
    yield names
    set_resolver(previous)
