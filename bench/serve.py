"""``archive serve`` at 10⁴ captures: capture page, memento and search latency, RSS.

``python -m bench.serve [--captures N] [--requests R] [--keep DIR]`` (not in
``python -m bench``): builds an archive of N small generated articles (ingested as
documents with an http URL through the recorder's own commit path, 500 a transaction,
then metadata extraction on two processes and a signed checkpoint), starts
``archive serve`` on loopback as its own process, and times R requests of each kind
over one kept connection: the capture page ``/c/<id>`` of random captures (each
first view re-hashes the capture: ``verify`` is cached, not pre-computed), the memento
``/web/<ts>/<url>`` on the replay origin, and searches (home page, a title word, an
outlet, a URL fragment, a hash prefix, a word no capture has). Prints JSON: median and
p99 in ms, and the server's RSS (VmRSS, VmHWM) after the requests; then the
catalogue of every capture (``write_catalog`` of ``Archive.catalog_batches`` into a
scratch folder: what the pipeline's ``catalog`` asset does each run), timed 3 times in
this process after one warm run, and the most memory one build held (tracemalloc's
peak, in a fourth build). ``--keep DIR`` builds once into DIR and reuses it.
Figures, never assertions.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.common import PYTHON, env_for_children, free_port_pair, scratch

WORDS = ["harbour", "council", "storm", "election", "railway", "festival", "budget",
         "hospital", "bridge", "school", "museum", "forest", "river", "market", "airport",
         "library", "stadium", "factory", "theatre", "ferry"]
OUTLETS = ["Harbour Gazette", "The Northern Ledger", "Valley Courier", "Coast Herald"]


def article(i: int) -> bytes:
    """A small news article (~1.5 KB): its title has two words of ``WORDS``."""
    a, b = WORDS[i % len(WORDS)], WORDS[(i // len(WORDS)) % len(WORDS)]
    title = f"The {a} and the {b}: report number {i}"
    outlet = OUTLETS[i % len(OUTLETS)]
    day = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}"
    paras = "".join(
        f"<p>Paragraph {k} of report {i} says the {a} near the {b} was discussed at "
        f"length by residents on {day}, and that a decision is expected soon.</p>"
        for k in range(6))
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title>"
            f'<meta property="og:site_name" content="{outlet}">'
            f'<meta property="article:published_time" content="{day}T08:00:00Z">'
            f"</head><body><article><h1>{title}</h1><p class=byline>By Anna Berg</p>"
            f"{paras}</article></body></html>").encode()


def url_of(i: int) -> str:
    return f"https://news.example.org/{2026}/{i % 12 + 1:02d}/report-{i}.html"


def build(home: Path, n: int) -> dict[str, Any]:
    from archive.api import Archive
    from archive.core.config import Settings

    settings = Settings.from_env({"ARCHIVE_HOME": str(home), "ARCHIVE_OPERATOR": "bench"})
    started = time.perf_counter()
    with Archive.open(settings) as arc:
        agent = arc.agent()
        ids: list[str] = []
        for start in range(0, n, 500):
            prepared = [arc.recorder.prepare_document(
                article(i), name=f"report-{i}.html", url=url_of(i),
                content_type="text/html; charset=utf-8", agent=agent)
                for i in range(start, min(n, start + 500))]
            ids += [r.capture_id for r in arc.recorder.record(prepared, agent)]
        ingested = time.perf_counter() - started
        arc.extract_metadata_many(ids, processes=2)
        extracted = time.perf_counter() - started - ingested
        arc.checkpoint()
    return {"captures": n, "ingest_s": round(ingested, 1), "extract_s": round(extracted, 1)}


def _rss(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":")
            out[key + "_MiB"] = int(value.split()[0]) // 1024
    return out


def _timed(conn: http.client.HTTPConnection, path: str) -> float:
    start = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    if resp.status not in (200, 302):
        raise RuntimeError(f"GET {path}: HTTP {resp.status}")
    return (time.perf_counter() - start) * 1000


def _figures(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 2),
            "p99_ms": round(p99, 2), "max_ms": round(ordered[-1], 2)}


def measure(home: Path, requests: int, searches: int) -> dict[str, Any]:
    from archive.api import Archive
    from archive.core.config import Settings
    from archive.serve.memento import timestamp

    settings = Settings.from_env({"ARCHIVE_HOME": str(home)})
    with Archive.open_read_only(settings) as arc:
        caps = arc.list_captures()
    rng = random.Random(7)
    port = free_port_pair()
    env = {**env_for_children(), "ARCHIVE_HOME": str(home)}
    proc = subprocess.Popen([PYTHON, "-m", "archive.cli", "serve", "--port", str(port)],
                            env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port + 1), 0.5).close()
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("archive serve did not start") from None
                time.sleep(0.1)
        app = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        replay = http.client.HTTPConnection("127.0.0.1", port + 1, timeout=120)
        out: dict[str, Any] = {"rss_idle": _rss(proc.pid)}
        _timed(app, "/c/" + caps[0].capture_id)  # warm-up: templates, statements
        picks = [rng.choice(caps) for _ in range(requests)]
        out["capture_page"] = _figures([_timed(app, "/c/" + c.capture_id) for c in picks])
        out["capture_page_again"] = _figures(
            [_timed(app, "/c/" + c.capture_id) for c in picks])
        out["memento"] = _figures([_timed(replay, f"/web/{timestamp(c.captured_at)}/"
                                           f"{c.url}") for c in picks])
        queries = {"home": "/", "title word": "/search?q=festival",
                   "two words": "/search?q=" + quote("storm ferry"),
                   "outlet": "/search?q=" + quote("Valley Courier"),
                   "url fragment": "/search?q=" + quote("report-4242.html"),
                   "hash prefix": "/search?q=" + caps[len(caps) // 2].capture_id[7:19],
                   "no match": "/search?q=zeppelin",
                   "page 50": "/search?q=&page=50"}
        out["search"] = {name: _figures([_timed(app, path) for _ in range(searches)])
                         for name, path in queries.items()}
        out["rss_after"] = _rss(proc.pid)
        return out
    finally:
        proc.terminate()
        proc.wait(10)


def catalogue(home: Path, runs: int = 3) -> dict[str, Any]:
    """Seconds to write the catalogue of every capture, and a build's traced peak."""
    import tempfile
    import tracemalloc

    from archive.api import Archive
    from archive.catalog import write_catalog
    from archive.core.config import Settings

    settings = Settings.from_env({"ARCHIVE_HOME": str(home), "ARCHIVE_OPERATOR": "bench"})
    seconds = []
    with Archive.open(settings) as arc, tempfile.TemporaryDirectory() as out:
        for i in range(runs + 1):
            start = time.perf_counter()
            written = write_catalog(Path(out), arc.catalog_batches())
            if i:  # the first run warms the page cache and the statement cache
                seconds.append(time.perf_counter() - start)
        tracemalloc.start()
        write_catalog(Path(out), arc.catalog_batches())
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {"rows": written.rows, "median_s": round(statistics.median(seconds), 3),
            "min_s": round(min(seconds), 3), "max_s": round(max(seconds), 3),
            "traced_peak_mb": round(peak / 2**20, 1)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.serve")
    p.add_argument("--captures", type=int, default=10_000)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--searches", type=int, default=20)
    p.add_argument("--keep", type=Path, help="build into (or reuse) this directory")
    args = p.parse_args(argv)
    result: dict[str, Any] = {}
    if args.keep is not None:
        if not args.keep.exists() or not any(args.keep.iterdir()):
            args.keep.mkdir(parents=True, exist_ok=True)
            result["build"] = build(args.keep, args.captures)
        result.update(measure(args.keep, args.requests, args.searches))
        result["catalogue"] = catalogue(args.keep)
    else:
        with scratch("bench-serve-") as home:
            result["build"] = build(home, args.captures)
            result.update(measure(home, args.requests, args.searches))
            result["catalogue"] = catalogue(home)
    result["cpus"] = os.cpu_count()
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
