"""``python -m bench.pages [--pages N] [--rounds R]``: ``page`` mode against
``wget --page-requisites --no-warc-compression --warc-file`` on one generated site.

The site: N articles sharing a stylesheet (which names a background image), a script
and a logo, each with two images of its own, served as static files by nginx on
127.0.0.1 (one worker, keep-alive, as the html bench; its ``ETag``, ``Last-Modified``
and ``304`` for a matching ``If-None-Match``): a peer server costs both contenders
little CPU, so the figures measure the clients. Without nginx, or with
``--no-validators`` (no ``ETag``/``Last-Modified``, nothing to revalidate), a keep-alive
Python server in its own process serves the same bytes from memory, sending nginx's
validators unless told not to. Ours runs ``--processes`` worker processes (default: one
per CPU and one more, as the html bench); wget has no parallel mode. ABBA rounds
(ours, wget, wget, ours): pages/s of each and their ratio per round; then storage per
page: our WARC bytes (gzip per record, shared requisites stored once and then as
``revisit`` records), the same without requisite dedup (each revisit counted at its
original's size, from the custody database), and wget's WARC. wget's WARC goes to disk
beside our archive; its temporary files and the copies of pages it saves to parse go to
a memory file system (:func:`bench.common.wget_scratch` says why). Figures only, no
assertions (bench/README.md).

Not like for like, and said so in the figures: wget fetches a URL once per run, so the
shared stylesheet, script and logo are fetched once for all pages; each of our captures
is self-contained and proves every requisite of its page at its own time: it asks
again for the shared ones, with their ETag, and records the server's 304 as a
``server-not-modified`` revisit (``archive.capture.revalidate``).
"""

from __future__ import annotations

import argparse
import email.utils
import json
import os
import random
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.common import (
    NGINX,
    PYTHON,
    NginxServer,
    run_child,
    run_json_child,
    scratch,
    stats,
    wget_scratch,
    write_urls,
)

WGET = shutil.which("wget") or "wget"


def site(pages: int) -> dict[str, tuple[bytes, str]]:
    """path -> (body, content type): the articles and what they load."""
    rnd = random.Random(7)

    def blob(n: int) -> bytes:
        return rnd.randbytes(n)

    words = ("harbour storm council vote ferry lighthouse residents trust budget "  # noqa: SIM905
             "weather coast port island school road bridge").split()
    files: dict[str, tuple[bytes, str]] = {
        "/static/site.css": (b"body{font-family:Georgia,serif;max-width:40em}\n"
                             b"header{background:url(bg.png) no-repeat}\n"
                             + b"".join(b".c%d{margin:%dpx}\n" % (i, i % 17)
                                        for i in range(900)), "text/css"),
        "/static/bg.png": (b"\x89PNG\r\n\x1a\n" + blob(6_000), "image/png"),
        "/static/app.js": (b"".join(b"function f%d(a){return a*%d}\n" % (i, i)
                                    for i in range(1200)), "text/javascript"),
        "/static/logo.png": (b"\x89PNG\r\n\x1a\n" + blob(8_000), "image/png"),
    }
    for i in range(pages):
        text = " ".join(rnd.choice(words) for _ in range(1400))
        html = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                f'<title>Article {i}</title><link rel="stylesheet" href="/static/site.css">'
                f'<script src="/static/app.js"></script></head><body><header>'
                f'<img src="/static/logo.png" alt="logo"></header><article><h1>Article {i}'
                f'</h1><img src="/img/{i}-1.jpg" alt=""><p>{text}</p>'
                f'<img src="/img/{i}-2.jpg" alt=""></article>'
                f'<a href="/a/{i + 1}.html">next</a></body></html>').encode()
        files[f"/a/{i}.html"] = (html, "text/html; charset=utf-8")
        for k in (1, 2):
            files[f"/img/{i}-{k}.jpg"] = (b"\xff\xd8\xff\xe0" + blob(20_000 + 97 * k),
                                          "image/jpeg")
    return files


def serve(pages: int, validators: bool = True) -> None:
    """The site's server (run in its own process): prints its port, serves until killed.
    Without ``validators`` it sends no ETag or Last-Modified (every requisite is fetched
    whole on every page: the figure before revalidation)."""
    files = site(pages)
    started = int(time.time())  # the files' "mtime": validators as nginx sends them
    modified = email.utils.formatdate(started, usegmt=True)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # one write per response, sent at once: headers and body in separate segments
        # would meet Nagle and delayed ACKs (40 ms a request for a keep-alive client)
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            found = files.get(self.path.split("?")[0])
            body, ctype = found or (b"not found\n", "text/plain")
            etag = f'"{started:x}-{len(body):x}"'  # nginx's form: mtime-size
            if found and validators and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", modified)
                self.end_headers()
                return
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if found and validators:
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", modified)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


@contextmanager
def _site_server(n: int, tmp: Path, kind: str, validators: bool) -> Iterator[tuple[str, str]]:
    """(base URL, description) of the site's server, stopped on exit: nginx for the
    static files when it is installed and validators are wanted, else the Python one."""
    if kind == "nginx" or (kind == "auto" and NGINX and validators):
        if not validators:
            raise SystemExit("--no-validators needs the Python server (--server python)")
        nginx = NginxServer(n, tmp, {path: body for path, (body, _) in site(n).items()})
        try:
            yield nginx.base, "nginx (one worker, keep-alive), static files"
        finally:
            nginx.close()
        return
    proc = subprocess.Popen([PYTHON, "-m", "bench.pages", "--serve", str(n)]
                            + ([] if validators else ["--no-validators"]),
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        yield f"http://127.0.0.1:{port}", "Python ThreadingHTTPServer, from memory"
    finally:
        proc.kill()
        proc.wait()


def _wget(urls: Path, work: Path) -> dict[str, Any]:
    cpu0 = _children_cpu()
    with wget_scratch() as mem:
        argv = [WGET, "-q", "--no-config", "-e", "robots=off", "--page-requisites",
                "--no-warc-compression", f"--warc-file={work / 'wget'}", "-i", str(urls),
                "-P", str(mem / "files"), f"--warc-tempdir={mem}"]
        wall, rss, _, err, code = run_child(argv, cwd=work)
    cpu = _children_cpu() - cpu0  # wget's, reaped by run_child
    if code not in (0, 8):
        raise RuntimeError(f"wget failed ({code}): {err.strip()[-300:]}")
    size = sum(p.stat().st_size for p in work.glob("wget*.warc"))
    return {"seconds": wall, "cpu_seconds": cpu, "maxrss_kib": rss, "warc_bytes": size}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _ours(urls: Path, home: Path, n: int, processes: int) -> dict[str, Any]:
    r = run_json_child(["ours", "--urls", str(urls), "--home", str(home), "--mode", "page",
                        "--concurrency", "4", "--processes", str(processes)])
    if r["ok"] != n:
        raise RuntimeError(f"page mode stored {r['ok']} of {n} pages completely")
    return r


def _without_dedup(home: Path) -> int:
    """Our WARC bytes had every revisit been stored as its original response."""
    with sqlite3.connect(home / "custody.sqlite") as db:
        extra = db.execute(
            "SELECT COALESCE(SUM(o.length - r.length), 0) FROM records r JOIN records o "
            "ON o.type = 'response' AND o.target_uri = r.target_uri "
            "AND o.payload_digest = r.payload_digest "
            "AND o.id = (SELECT MIN(id) FROM records x WHERE x.type = 'response' "
            "AND x.target_uri = r.target_uri AND x.payload_digest = r.payload_digest) "
            "WHERE r.type = 'revisit'").fetchone()[0]
    return int(extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=(os.cpu_count() or 1) + 1,
                        help="our capture's worker processes (default: one per CPU and one "
                        "more, as the html bench; wget has one)")
    parser.add_argument("--server", choices=("auto", "nginx", "python"), default="auto",
                        help="nginx when installed (auto), or the Python server")
    parser.add_argument("--no-validators", action="store_true",
                        help="the server sends no ETag/Last-Modified (nothing to revalidate)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, validators=not args.no_validators)
        return
    n = args.pages
    with scratch("bench-pages-") as tmp, _site_server(n, tmp, args.server,
                                                      not args.no_validators) as (base, server):
        urls = write_urls(tmp / "urls.txt", [f"{base}/a/{i}.html" for i in range(n)])
        ours_s: list[float] = []
        wget_s: list[float] = []
        ratios: list[float] = []
        cpu_ratios: list[float] = []
        cpu_ms: dict[str, list[float]] = {"ours": [], "wget": []}
        storage: dict[str, Any] = {}
        for r in range(args.rounds):
            runs: dict[str, list[dict[str, Any]]] = {"ours": [], "wget": []}
            for who in ("ours", "wget", "wget", "ours"):
                with scratch(f"{who}-", tmp) as work:
                    if who == "ours":
                        got = _ours(urls, work / "home", n, args.processes)
                        if not storage:
                            storage = {
                                "ours_warc_bytes_per_page": got["warc_bytes"] / n,
                                "ours_without_dedup_bytes_per_page":
                                    (got["warc_bytes"] + _without_dedup(work / "home"))
                                    / n}
                    else:
                        got = _wget(urls, work)
                        storage.setdefault("wget_warc_bytes_per_page",
                                           got["warc_bytes"] / n)
                    runs[who].append(got)
            o = sum(n / x["seconds"] for x in runs["ours"]) / 2
            w = sum(n / x["seconds"] for x in runs["wget"]) / 2
            for who in ("ours", "wget"):
                cpu_ms[who] += [1000 * x["cpu_seconds"] / n for x in runs[who]]
            cpu_ratios.append(sum(x["cpu_seconds"] for x in runs["wget"])
                              / sum(x["cpu_seconds"] for x in runs["ours"]))
            ours_s.append(o)
            wget_s.append(w)
            ratios.append(o / w)
            print(f"round {r + 1}/{args.rounds}: page mode {o:.1f} pages/s, wget "
                  f"--page-requisites {w:.1f} pages/s, ratio {o / w:.2f}; CPU "
                  f"ratio wget/ours {cpu_ratios[-1]:.2f}",
                  file=sys.stderr)
    print(json.dumps({"pages": n, "rounds": args.rounds, "requisites_per_page": 6,
                      "our_processes": args.processes, "server": server,
                      "server_validators": not args.no_validators,
                      "ours_pages_s": stats(ours_s), "wget_pages_s": stats(wget_s),
                      "ratio_ours_over_wget": stats(ratios),
                      "cpu_ms_per_page": {k: stats(v) for k, v in cpu_ms.items()},
                      "cpu_ratio_wget_over_ours": stats(cpu_ratios),
                      "storage": storage}, indent=1))


if __name__ == "__main__":
    main()
