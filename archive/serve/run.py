"""Run the resolver and its replay origin under uvicorn, in this process.

The replay origin listens on its own port (by default the resolver's + 1) on the same
host: another origin, so an archived page's script cannot read or act on the resolver.
Both bind to loopback unless the operator names another host.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import uvicorn

from archive.api import Archive
from archive.serve.app import create_apps


@dataclass(frozen=True)
class Origins:
    host: str
    port: int
    replay_port: int

    @property
    def app(self) -> str:
        return f"http://{_host(self.host)}:{self.port}"

    @property
    def replay(self) -> str:
        return f"http://{_host(self.host)}:{self.replay_port}"


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def servers(arc: Archive, origins: Origins) -> tuple[uvicorn.Server, uvicorn.Server]:
    """The two uvicorn servers (not started): resolver and replay."""
    app, replay = create_apps(arc, app_origin=origins.app, replay_origin=origins.replay)
    common = {"host": origins.host, "log_level": "warning", "access_log": False,
              "proxy_headers": False, "server_header": False}
    return (uvicorn.Server(uvicorn.Config(app, port=origins.port, **common)),  # type: ignore[arg-type]
            # an archived response carries its own Date header: uvicorn adds none
            uvicorn.Server(uvicorn.Config(replay, port=origins.replay_port, date_header=False,
                                          **common)))  # type: ignore[arg-type]


async def serve_both(arc: Archive, origins: Origins) -> None:
    """Serve until interrupted (both servers stop together)."""
    a, b = servers(arc, origins)
    await asyncio.gather(a.serve(), b.serve())
