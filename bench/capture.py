"""Capture and verify, side by side: ours, GNU wget (uncompressed and gzip'd WARC),
warcio's capture_http; Archive.verify against openssl dgst -sha256; growth with N and
peak memory."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.common import (
    PYTHON,
    LoopbackServer,
    du,
    run_child,
    run_json_child,
    scratch,
    stats,
    wget_scratch,
    write_urls,
)

WGET = shutil.which("wget")
OPENSSL = shutil.which("openssl")


def _wget(
    urls_file: Path, workdir: Path, *, compress: bool, keep_alive: bool = True, warc: bool = True
) -> dict[str, Any]:
    argv = [
        WGET or "wget",
        "-q",
        "--no-config",
        "-e",
        "robots=off",
        "-i",
        str(urls_file),
        "-O",
        "/dev/null",
    ]
    if warc:
        argv += [f"--warc-file={workdir / 'wget'}"]
        if not compress:
            argv.append("--no-warc-compression")
    if not keep_alive:
        argv.append("--no-http-keep-alive")
    with wget_scratch() as mem:
        temp = [f"--warc-tempdir={mem}"] if warc else []
        wall, rss, _, err, code = run_child(argv + temp, cwd=workdir)
    if code not in (0, 8):
        raise RuntimeError(f"wget failed ({code}): {err.strip()[-300:]}")
    _, size = du(workdir, (".warc", ".warc.gz"))
    return {"seconds": wall, "maxrss_kib": rss, "warc_bytes": size}


def server_alone(
    server: LoopbackServer, urls_file: Path, n: int, tmp: Path, runs: int
) -> dict[str, Any]:
    """The server with no archiving client work: wget to /dev/null, with keep-alive (as
    every contender fetches) and with a new connection per page."""
    ka, close = [], []
    for _ in range(runs):
        with scratch("wget-plain-", tmp) as d:
            ka.append(n / _wget(urls_file, d, compress=False, warc=False)["seconds"])
        with scratch("wget-plain-", tmp) as d:
            close.append(
                n / _wget(urls_file, d, compress=False, warc=False, keep_alive=False)["seconds"]
            )
    return {
        "pages": n,
        "wget_devnull_keepalive_pages_s": stats(ka),
        "wget_devnull_new_connection_pages_s": stats(close),
    }


def _openssl(files: list[Path]) -> float:
    start = time.perf_counter()
    subprocess.run(
        [OPENSSL or "openssl", "dgst", "-sha256", *map(str, files)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def verify_pair(home: Path, runs: int) -> dict[str, Any]:
    """Archive.verify() and openssl over the same WARC files, alternating, cache warm."""
    files = sorted((home / "warcs").rglob("*.warc.gz"))
    size = sum(p.stat().st_size for p in files)
    _openssl(files)  # warm the page cache for both
    ours, ours_fix, ssl, ratios, fix_ratios, cpu = [], [], [], [], [], []
    for _ in range(runs):
        v = run_json_child(["verify", "--home", str(home)])
        if not v["ok"]:
            raise RuntimeError(f"verify reported problems in {home}")
        o = _openssl(files)
        mb = size / 1e6
        ours.append(mb / v["seconds"])
        ours_fix.append(mb / v["fixity_seconds"])
        cpu.append(v["cpu_seconds"])  # with its worker processes
        ssl.append(mb / o)
        ratios.append(ours[-1] / ssl[-1])
        fix_ratios.append(ours_fix[-1] / ssl[-1])
    return {
        "files": len(files),
        "bytes": size,
        "ours_mb_s": stats(ours),
        "ours_fixity_only_mb_s": stats(ours_fix),
        "ours_cpu_seconds": stats(cpu),
        "openssl_mb_s": stats(ssl),
        "ratio": stats(ratios),
        "fixity_only_ratio": stats(fix_ratios),
    }


def ours_once(
    urls_file: Path,
    n: int,
    tmp: Path,
    concurrency: int,
    batch: int,
    processes: int,
    keep: bool = False,
) -> tuple[dict[str, Any], Path]:
    home = Path(tmp) / f"ours-{n}-{time.monotonic_ns()}"
    r = run_json_child(
        [
            "ours",
            "--urls",
            str(urls_file),
            "--home",
            str(home),
            "--concurrency",
            str(concurrency),
            "--batch",
            str(batch),
            "--processes",
            str(processes),
        ]
    )
    if r["ok"] != n:
        raise RuntimeError(f"our capture stored {r['ok']} of {n} pages completely")
    r["pages_s"] = n / r["seconds"]
    r["ms_per_page"] = r["seconds"] / n * 1000
    r["cpu_ms_per_page"] = r["cpu_seconds"] / n * 1000
    if not keep:
        shutil.rmtree(home, ignore_errors=True)
    return r, home


def capture_pairs(
    server: LoopbackServer,
    n: int,
    tmp: Path,
    rounds: int,
    concurrency: int,
    batch: int,
    processes: int,
    log: Any,
) -> dict[str, Any]:
    """Rounds of: ours, wget --no-warc-compression, wget --no-warc-compression again, ours
    again (ABBA, so a machine speeding up or slowing down during a round favours neither;
    the round's figure for each is the mean of its two runs), then wget (gzip) and
    warcio; ratios per round."""
    urls_file = write_urls(tmp / f"urls-{n}.txt", server.urls(n))
    figures: dict[str, list[float]] = {k: [] for k in ("ours", "wget", "wget_gzip", "warcio")}
    ratios: dict[str, list[float]] = {k: [] for k in ("wget", "wget_gzip", "warcio")}
    raw: list[dict[str, Any]] = []
    verify_rounds: list[dict[str, Any]] = []
    for r in range(rounds):
        o, home = ours_once(urls_file, n, tmp, concurrency, batch, processes, keep=True)
        wgets = []
        for _ in range(2):
            with scratch("wget-", tmp) as d:
                wgets.append(_wget(urls_file, d, compress=False))
        o2, _ = ours_once(urls_file, n, tmp, concurrency, batch, processes)
        figures["ours"].append((o["pages_s"] + o2["pages_s"]) / 2)
        figures["wget"].append(sum(n / w["seconds"] for w in wgets) / 2)
        with scratch("wgetgz-", tmp) as d:
            wg = _wget(urls_file, d, compress=True)
        figures["wget_gzip"].append(n / wg["seconds"])
        with scratch("warcio-", tmp) as d:
            wi = run_json_child(
                ["warcio", "--urls", str(urls_file), "--out", str(d / "warcio.warc.gz")]
            )
        figures["warcio"].append(n / wi["seconds"])
        for k in ratios:
            ratios[k].append(figures["ours"][-1] / figures[k][-1])
        raw.append({"ours": [o, o2], "wget": wgets, "wget_gzip": wg, "warcio": wi})
        log(
            f"  capture round {r + 1}/{rounds}: ours {figures['ours'][-1]:.0f}, wget "
            f"{figures['wget'][-1]:.0f}, wget gzip {figures['wget_gzip'][-1]:.0f}, warcio "
            f"{figures['warcio'][-1]:.0f} pages/s"
        )
        verify_rounds.append(verify_pair(home, 1))
        shutil.rmtree(home, ignore_errors=True)
    verify = {
        "files": verify_rounds[-1]["files"],
        "bytes": verify_rounds[-1]["bytes"],
        **{
            k: stats([v[k]["runs"][0] for v in verify_rounds])
            for k in (
                "ours_mb_s",
                "ours_fixity_only_mb_s",
                "openssl_mb_s",
                "ratio",
                "fixity_only_ratio",
            )
        },
    }
    return {
        "pages": n,
        "concurrency": concurrency,
        "processes": processes,
        "per_host": concurrency * processes,
        "batch_size": batch,
        "pages_s": {k: stats(v) for k, v in figures.items()},
        "ratio_ours_over": {k: stats(v) for k, v in ratios.items()},
        "runs": raw,
        "verify": verify,
    }


def scaling(
    server: LoopbackServer,
    sizes: list[int],
    tmp: Path,
    runs_for: dict[int, int],
    concurrency: int,
    batch: int,
    processes: int,
    log: Any,
) -> dict[str, Any]:
    """Ours at each N (capture then verify), per-page cost, and peak RSS."""
    out: dict[str, Any] = {}
    for n in sizes:
        urls_file = write_urls(tmp / f"urls-{n}.txt", server.urls(n))
        caps, rss, growth, verifies = [], [], [], []
        for _ in range(runs_for.get(n, 1)):
            o, home = ours_once(urls_file, n, tmp, concurrency, batch, processes, keep=True)
            caps.append(o)
            rss.append(o["maxrss_kib"] / 1024)
            growth.append((o["maxrss_kib"] - o["rss_before_kib"]) / 1024)
            verifies.append(verify_pair(home, 1))
            shutil.rmtree(home, ignore_errors=True)
        out[str(n)] = {
            "pages": n,
            "runs": len(caps),
            "pages_s": stats([c["pages_s"] for c in caps]),
            "ms_per_page": stats([c["ms_per_page"] for c in caps]),
            "cpu_ms_per_page": stats([c["cpu_ms_per_page"] for c in caps]),
            "peak_rss_mb": stats(rss),
            "rss_growth_during_capture_mb": stats(growth),
            "verify_mb_s": stats([v["ours_mb_s"]["median"] for v in verifies]),
            "verify_ms_per_page": stats(
                [v["bytes"] / 1e6 / v["ours_mb_s"]["median"] * 1000 / n for v in verifies]
            ),
            "openssl_mb_s": stats([v["openssl_mb_s"]["median"] for v in verifies]),
            "warc_bytes": caps[-1]["warc_bytes"],
            "warc_files": caps[-1]["warc_files"],
        }
        log(
            f"  N={n}: {out[str(n)]['pages_s']['median']:.0f} pages/s, "
            f"{out[str(n)]['ms_per_page']['median']:.2f} ms/page, peak RSS "
            f"{out[str(n)]['peak_rss_mb']['median']:.0f} MB, verify "
            f"{out[str(n)]['verify_mb_s']['median']:.0f} MB/s"
        )
    return out


__all__ = ["PYTHON", "capture_pairs", "scaling", "server_alone", "verify_pair"]
