"""A small archive to serve, and ``archive serve``'s two servers running on free
loopback ports in a thread (real uvicorn, real sockets), for the resolver's tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from servers import TestServer, article_html

from archive.api import Archive
from archive.core.config import Settings
from archive.serve.run import Origins, servers
from bench.common import free_port_pair

HOSTILE_TITLE = "<script>alert('owned')</script><img src=x onerror=alert(2)>"
CHANGED = "The harbour reopened on Saturday morning, a day earlier than forecast."


@dataclass
class Story:
    """What the archive holds: a two-version article, a stylesheet, a hostile title."""

    article_url: str
    css_url: str
    hostile_url: str
    first: str  # capture ids
    second: str
    css: str
    hostile: str


def page_with_css(body: str) -> str:
    return body.replace("</head>", '<link rel="stylesheet" href="/static/site.css"></head>')


def fill(arc: Archive, site: TestServer) -> Story:
    """Capture the article twice (its text edited in between), its stylesheet, and a
    page whose title is markup; extract metadata; sign a checkpoint."""
    base = article_html(url=site.url("/news/storm"))
    article = site.add_page("/news/storm", page_with_css(base))
    css = site.add_page("/static/site.css", "body { background: url(bg.png) }",
                        content_type="text/css")
    hostile = site.add_page("/hostile", article_html(title=HOSTILE_TITLE))
    first, css_cap, bad = arc.capture([article, css, hostile])
    time.sleep(1.1)  # a later second: its own memento timestamp
    site.add_page("/news/storm", page_with_css(base.replace(
        "Local shops reported a quiet day;", CHANGED + " Local shops reported a quiet day;")))
    (second,) = arc.capture([article])
    ids = [r.capture_id for r in (first, second, css_cap, bad)]  # type: ignore[union-attr]
    arc.extract_metadata_many(ids)
    arc.checkpoint()
    return Story(article, css, hostile, *ids)


@dataclass(frozen=True)
class Running:
    app: str
    replay: str


@contextmanager
def serving(settings: Settings) -> Iterator[Running]:
    """``archive serve`` over ``settings``' archive, read-only, until the block ends."""
    arc = Archive.open_read_only(settings)
    port = free_port_pair()
    origins = Origins("127.0.0.1", port, port + 1)
    a, b = servers(arc, origins)
    loop = asyncio.new_event_loop()

    async def both() -> None:
        await asyncio.gather(a.serve(), b.serve())

    thread = threading.Thread(target=loop.run_until_complete, args=(both(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not (a.started and b.started):
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("archive serve did not start")
        time.sleep(0.02)
    try:
        yield Running(origins.app, origins.replay)
    finally:
        a.should_exit = b.should_exit = True
        thread.join(10)
        loop.close()
        arc.close()
