"""``archive demo``: serve the bundled example news site on 127.0.0.1 and archive it.

This is the smallest end-to-end run: capture every source in examples/sources.yaml,
print a citation line per capture, then verify the whole archive.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from archive.core.packagedata import examples_dir
from archive.errors import ConfigError

DEMO_PORT = 8765
REDIRECTS = {"/latest": "/news/latest", "/news/latest": "/2024/03/04/harbour-lighthouse-vote.html"}


class _SiteHandler(SimpleHTTPRequestHandler):
    # the base class declares this an instance attribute; a class-level override is its API
    extensions_map = {  # noqa: RUF012
        **SimpleHTTPRequestHandler.extensions_map,
        ".html": "text/html; charset=utf-8", ".txt": "text/plain; charset=utf-8"}

    def do_GET(self) -> None:
        target = REDIRECTS.get(self.path)
        if target:
            self.send_response(301)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:  # keep the demo output clean
        pass


@contextmanager
def serve_site(port: int = DEMO_PORT, root: Path | None = None, *,
               host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``root`` (default: the bundled example site) on ``host``:``port`` (a loopback
    address; tests use 127.0.0.2... to stand for several hosts)."""
    root = root or examples_dir() / "site"
    try:
        server = ThreadingHTTPServer((host, port),
                                     partial(_SiteHandler, directory=str(root)))
    except OSError as exc:
        raise ConfigError(f"cannot serve the demo site on {host}:{port}: {exc.strerror}; "
                          "stop whatever uses that port and run again") from exc
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_demo(*, json_output: bool = False) -> int:
    from archive.api import Archive
    from archive.cli.output import attach_metadata, citation_line
    from archive.core.config import Settings
    from archive.core.sources import load_sources

    sources = load_sources(examples_dir() / "sources.yaml")
    settings = Settings.from_env().with_fetch(allow_private_networks=True)
    with serve_site(), Archive.open(settings) as arc:
        outcomes = arc.capture([s.url for s in sources])
        items = [o.to_json() for o in outcomes]
        attach_metadata(arc, items)
        ckpt = arc.checkpoint()
        report = arc.verify()
    if json_output:
        print(json.dumps({"captures": items, "checkpoint": ckpt.to_json(),
                          "verify": report.to_json()}, indent=1))
    else:
        print(f"archive home: {settings.home}")
        for o, data in zip(outcomes, items, strict=True):
            print(citation_line(data) if o.ok else f"FAILED {data['url']}: {data}")
        print(f"checkpoint: {ckpt.size} custody events, root {ckpt.root_hash}")
        for p in report.problems:
            print(f"MISMATCH {p.message}")
        print(("verify: OK" if report.ok else "verify: FAILED") +
              f" ({report.files} files, {report.captures} captures, {report.events} events)")
    return 0 if report.ok and all(o.ok for o in outcomes) else 5
