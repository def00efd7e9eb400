"""Capture and verify against the object store next to the local disk, in one run.

    python -m bench.objectstore [--pages N] [--rounds R] [--concurrency C]

Starts the loopback page server (nginx when installed) and SeaweedFS's S3 gateway
(``scripts/objectstore start``, data in a scratch folder), then, round after round in
ABBA order (local, S3, S3, local, ...), captures the same N pages into a fresh archive
(``bench.child ours``: fetch, gzip'd WARC, hashes, custody events; html mode) and
verifies it (``bench.child verify``: every file re-hashed, every event checked). Prints
pages/s and verify MB/s for each store, median (min-max), and the S3/local ratios of
each round pair. Print-only: it asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    env_for_children,
    run_json_child,
    scratch,
    start_server,
    stats,
    write_urls,
)

SCRIPT = ROOT / "scripts" / "objectstore"


def start_objectstore(folder: Path) -> dict[str, str]:
    proc = subprocess.run([sys.executable, str(SCRIPT), "start", "--dir", str(folder)],
                          capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"scripts/objectstore did not start: {proc.stderr.strip()[-300:]}")
    env = {}
    for line in proc.stdout.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = value.strip("'")
    return env


def one(kind: str, s3_env: dict[str, str], urls: Path, home: Path, concurrency: int,
        prefix: str) -> dict[str, Any]:
    env = env_for_children()
    for name in ("ARCHIVE_STORE_URL", "AWS_ENDPOINT_URL", "AWS_REGION"):
        env.pop(name, None)
    if kind == "s3":
        env.update(s3_env, ARCHIVE_STORE_URL=s3_env["ARCHIVE_STORE_URL"] + "/" + prefix,
                   AWS_EC2_METADATA_DISABLED="true")
    cap = run_json_child(["ours", "--urls", str(urls), "--home", str(home),
                          "--concurrency", str(concurrency)], env=env)
    ver = run_json_child(["verify", "--home", str(home)], env=env)
    if cap["ok"] != cap["pages"] or not ver["ok"]:
        raise RuntimeError(f"{kind}: {cap['ok']}/{cap['pages']} captured, verify ok={ver['ok']}")
    return {"pages_per_s": cap["pages"] / cap["seconds"],
            "verify_mb_per_s": ver["bytes"] / 1e6 / ver["seconds"],
            "fixity_mb_per_s": ver["bytes"] / 1e6 / ver["fixity_seconds"],
            "warc_bytes": cap["warc_bytes"], "files": ver["files"]}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.objectstore")
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=4, help="even: ABBA pairs")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    results: dict[str, list[dict[str, Any]]] = {"local": [], "s3": []}
    with scratch("bench-objectstore-") as tmp:
        server = start_server(args.pages, tmp)
        s3_env = start_objectstore(tmp / "objectstore")
        try:
            urls = write_urls(tmp / "urls.txt", server.urls(args.pages))
            for r in range(args.rounds):
                order = ("local", "s3") if r % 2 == 0 else ("s3", "local")
                for kind in order:
                    got = one(kind, s3_env, urls, tmp / f"home-{kind}-{r}", args.concurrency,
                              f"round-{r}")
                    results[kind].append(got)
                    print(f"round {r} {kind:5}: {got['pages_per_s']:7.1f} pages/s, verify "
                          f"{got['verify_mb_per_s']:6.1f} MB/s ({got['files']} files, "
                          f"{got['warc_bytes'] / 1e6:.1f} MB)", flush=True)
        finally:
            server.close()
            subprocess.run([sys.executable, str(SCRIPT), "stop", "--dir",
                            str(tmp / "objectstore")], capture_output=True, check=False)
    print(f"\n{args.pages} pages, {args.rounds} rounds (ABBA), concurrency "
          f"{args.concurrency}, {os.cpu_count()} cores; {server.describe}")
    for key, label in (("pages_per_s", "capture pages/s"), ("verify_mb_per_s", "verify MB/s"),
                       ("fixity_mb_per_s", "file re-hash MB/s")):
        line = [label.ljust(18)]
        for kind in ("local", "s3"):
            s = stats([g[key] for g in results[kind]])
            line.append(f"{kind} {s['median']:8.1f} ({s['min']:.1f}-{s['max']:.1f})")
        ratios = [b[key] / a[key] for a, b in zip(results["local"], results["s3"], strict=True)]
        line.append(f"s3/local {statistics.median(ratios):.2f} "
                    f"({min(ratios):.2f}-{max(ratios):.2f})")
        print("  ".join(line))


if __name__ == "__main__":
    main()
