"""Work the bench runs in a fresh process, one JSON line on stdout per call.

``python -m bench.child ours --urls F --home DIR [--concurrency C] [--batch B] [--processes P]
[--mode html|page|browser]``
    our full capture path (fetch, gzip'd WARC, hashes, custody events; no metadata)
    through ``Archive.capture`` on P worker processes of C fetch threads; the per-host
    politeness limit is lifted to C x P for the bench's one loopback host.
``python -m bench.child warcio --urls F --out FILE``
    warcio's ``capture_http`` around a requests Session, one URL after another.
``python -m bench.child verify --home DIR``
    ``Archive.verify()`` over the store (what ``archive verify`` runs).

Times cover the work only (imports and opening the archive excluded; they are paid once
per scheduled run); ``maxrss_kib`` is this process's RSS high-water mark.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path
from typing import Any


def _rss() -> int:
    """The larger high-water mark of this process and its largest worker process."""
    return int(max(resource.getrusage(who).ru_maxrss
                   for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))


def _cpu() -> float:
    return sum(r.ru_utime + r.ru_stime
               for r in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))


def _store_env() -> dict[str, str]:
    """The object store the bench names in this process's environment, if any
    (``bench.objectstore``); credentials reach boto3 through the environment itself."""
    names = ("ARCHIVE_STORE_URL", "AWS_ENDPOINT_URL", "AWS_REGION")
    return {n: os.environ[n] for n in names if os.environ.get(n)}


def ours(args: argparse.Namespace) -> dict[str, Any]:
    from archive.api import Archive
    from archive.core.config import Settings

    urls = Path(args.urls).read_text("utf-8").split()
    settings = Settings.from_env(
        {
            "ARCHIVE_HOME": args.home,
            "ARCHIVE_ALLOW_PRIVATE_NETWORKS": "1",
            "ARCHIVE_OPERATOR": "bench",
            **({"ARCHIVE_DATABASE_URL": args.db} if args.db else {}),
            **_store_env(),
        }
    )
    with Archive.open(settings) as arc:
        before = _rss()
        cpu0 = _cpu()
        start = time.perf_counter()
        outcomes = arc.capture(
            urls,
            concurrency=args.concurrency,
            per_host=args.concurrency * args.processes,
            batch_size=args.batch,
            processes=args.processes,
            mode=args.mode,
        )
        seconds = time.perf_counter() - start
        cpu = _cpu() - cpu0  # this process and its (finished) worker processes
        ok = sum(1 for o in outcomes if o.ok)
        stats = arc.stats()
        warcs = [arc.store.size(rel) for rel in arc.store.iter_files()]
    del outcomes
    return {
        "pages": len(urls),
        "ok": ok,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "rss_before_kib": before,
        "maxrss_kib": _rss(),
        "warc_files": len(warcs),
        "warc_bytes": sum(warcs),
        **stats.to_json(),
    }


def warcio_capture(args: argparse.Namespace) -> dict[str, Any]:
    # warcio's documented order: capture_http first, then requests (it patches http.client)
    from warcio.capture_http import capture_http  # isort: skip
    import requests  # isort: skip

    urls = Path(args.urls).read_text("utf-8").split()
    session = requests.Session()
    session.trust_env = False
    ok = 0
    start = time.perf_counter()
    cpu0 = _cpu()
    with capture_http(args.out):
        for url in urls:
            ok += session.get(url).status_code == 200
    seconds = time.perf_counter() - start
    return {
        "pages": len(urls),
        "ok": ok,
        "seconds": seconds,
        "cpu_seconds": _cpu() - cpu0,
        "maxrss_kib": _rss(),
        "warc_bytes": Path(args.out).stat().st_size,
    }


def verify(args: argparse.Namespace) -> dict[str, Any]:
    from archive.api import Archive
    from archive.core.config import Settings
    from archive.core.hashing import sha256_stream

    settings = Settings.from_env({"ARCHIVE_HOME": args.home, "ARCHIVE_OPERATOR": "bench",
                                  **_store_env()})
    with Archive.open(settings) as arc:
        cpu0 = _cpu()
        start = time.perf_counter()
        report = arc.verify()
        seconds = time.perf_counter() - start
        cpu = _cpu() - cpu0  # this process and its (finished) worker processes
        # the file-fixity part alone: the whole-file SHA-256 verify does for each file
        files = sorted(arc.store.iter_files())
        start = time.perf_counter()
        for rel in files:
            with arc.store.open(rel) as f:
                sha256_stream(f)
        fixity = time.perf_counter() - start
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "fixity_seconds": fixity,
        "bytes": report.bytes,
        "files": report.files,
        "captures": report.captures,
        "events": report.events,
        "ok": report.ok,
        "maxrss_kib": _rss(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ours")
    p.add_argument("--urls", required=True)
    p.add_argument("--home", required=True)
    p.add_argument("--db")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--mode", default="html", choices=("html", "page", "browser"),
                   help="capture mode (html: the document alone, what wget -i fetches)")
    p = sub.add_parser("warcio")
    p.add_argument("--urls", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("verify")
    p.add_argument("--home", required=True)
    args = parser.parse_args()
    fn = {"ours": ours, "warcio": warcio_capture, "verify": verify}[args.cmd]
    print(json.dumps(fn(args)))


if __name__ == "__main__":
    main()
