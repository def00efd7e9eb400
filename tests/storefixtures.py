"""The object store the tests run against: SeaweedFS's S3 gateway, started the way a
developer starts it (``scripts/objectstore start --dir DIR``), once per test session
(per xdist worker), and stopped at the end. Where it cannot be installed or started,
the tests that need it skip with the reason (and fail under CI=true).

``store_settings`` is parametrized over both backends: a store test written with it
runs on the local directory and on the object store, each test in its own prefix."""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from archfixtures import make_settings
from helpers import require

from archive.core.config import Settings

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "objectstore"


@dataclass(frozen=True)
class ObjectStore:
    env: dict[str, str]  # what `scripts/objectstore start` printed
    folder: Path

    @property
    def bucket(self) -> str:
        return self.env["ARCHIVE_STORE_URL"].removeprefix("s3://").split("/", 1)[0]

    def client(self) -> Any:
        from archive.warc.s3io import make_client

        return make_client(self.env["AWS_ENDPOINT_URL"], self.env["AWS_REGION"])

    def settings(self, home: Path, db_url: str | None = None, **fetch: object) -> Settings:
        """Settings of an archive in ``home`` whose WARCs go to a fresh prefix."""
        s = make_settings(home, db_url, **fetch)
        return replace(s, store_url=f"s3://{self.bucket}/t-{secrets.token_hex(6)}",
                       store_endpoint=self.env["AWS_ENDPOINT_URL"],
                       store_region=self.env["AWS_REGION"])


def parse_exports(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            out[name] = shlex.split(value)[0] if value else ""
    return out


@pytest.fixture(scope="session")
def objectstore_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore | str]:
    """The running object store, or why there is none (a string)."""
    folder = tmp_path_factory.mktemp("objectstore")
    proc = subprocess.run([sys.executable, str(SCRIPT), "start", "--dir", str(folder)],
                          capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        yield (f"the object store (SeaweedFS, scripts/objectstore) did not start: "
               f"{proc.stderr.strip().splitlines()[-1:] or proc.returncode}")
        return
    try:
        yield ObjectStore(parse_exports(proc.stdout), folder)
    finally:
        subprocess.run([sys.executable, str(SCRIPT), "stop", "--dir", str(folder)],
                       capture_output=True, timeout=60, check=False)


@pytest.fixture
def objectstore(objectstore_server: ObjectStore | str,
                monkeypatch: pytest.MonkeyPatch) -> ObjectStore:
    """The object store, its credentials in the environment (boto3 reads them there,
    and so do the processes a test starts)."""
    if isinstance(objectstore_server, str):
        require(objectstore_server)
        raise AssertionError("unreachable")
    for name, value in objectstore_server.env.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask a metadata host
    return objectstore_server


@pytest.fixture(params=["local", "s3"])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path, sqlite_url: str
                   ) -> Callable[..., Settings]:
    """Settings for an archive on SQLite, with its WARCs in the local folder or in the
    object store (the test runs once for each)."""
    if request.param == "local":
        return lambda **fetch: make_settings(tmp_path / "home", sqlite_url, **fetch)
    store: ObjectStore = request.getfixturevalue("objectstore")
    return lambda **fetch: store.settings(tmp_path / "home", sqlite_url, **fetch)


def store_env(settings: Settings) -> dict[str, str]:
    """The environment a child process needs to open the same archive."""
    env = {**os.environ, "ARCHIVE_HOME": str(settings.home),
           "ARCHIVE_DATABASE_URL": settings.database_url, "PYTHONWARNINGS": "ignore"}
    if settings.store_url:
        env.update(ARCHIVE_STORE_URL=settings.store_url,
                   AWS_ENDPOINT_URL=settings.store_endpoint or "",
                   AWS_REGION=settings.store_region or "")
    return env
