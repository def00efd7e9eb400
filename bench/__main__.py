"""``python -m bench``: every figure of issue 6, side by side with peers, in one run.

Prints a table and writes bench/results/latest.json. Each figure is the median of
several runs with min-max; each comparison is a ratio measured pair by pair in the same
run (ours, then the peer, on the same pages, round after round). Benchmarks print
figures; they never assert timings.

    python -m bench            # full run (N=1000; capture and verify also at 100 and 10,000)
    python -m bench --quick    # a short run (N=200) to see that everything works
    python -m bench --only capture,verify,metadata,custody,merkle,pipeline
    python -m bench --only pipeline --pipeline-pages 100   # a shorter Dagster run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import capture, corpus
from bench.common import PYTHON, ROOT, LoopbackServer, run_child, scratch, start_server, stats
from bench.pipeline import PER_HOST as PIPELINE_PER_HOST

RESULTS = ROOT / "bench" / "results"
SECTIONS = ("capture", "verify", "breakdown", "metadata", "custody", "merkle", "pipeline")
TARGETS = {  # issue 18's (the first three are ratios; the pipeline, seconds)
    "capture_vs_wget": 1.5,
    "verify_vs_openssl": 0.8,
    "metadata_vs_trafilatura": 1.0,
    "pipeline_1000_seconds": 45.0,
    "custody_batched_appends_s": 2000.0,
    "memory_peak_ratio_10n": 1.2,
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _m(fig: dict[str, Any] | None) -> float | None:
    return None if not fig else fig.get("median")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (N=200, fewer runs)")
    parser.add_argument("--pages", "-n", type=int, help="N (default 1000; 200 with --quick)")
    parser.add_argument("--rounds", type=int, help="capture/verify rounds (default 5; 2 quick)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="our fetch threads per process (default 1: on loopback, threads cost more "
        "CPU in hand-offs than they save in waiting; processes make it parallel); the "
        "per-host limit is lifted to threads x processes",
    )
    parser.add_argument("--batch", type=int, default=32, help="Archive.capture batch_size")
    parser.add_argument(
        "--processes",
        type=int,
        default=(os.cpu_count() or 1) + 1,
        help="our capture worker processes (default: one per CPU and one more, to use the "
        "time the others wait for the server and the disk)",
    )
    parser.add_argument(
        "--server",
        choices=("auto", "nginx", "python"),
        default="auto",
        help="the loopback server every contender fetches from (auto: nginx if installed)",
    )
    parser.add_argument("--only", help="comma-separated sections: " + ",".join(SECTIONS))
    parser.add_argument(
        "--pipeline-pages", type=int, help="sources in the Dagster run (default N; 20 quick)"
    )
    parser.add_argument(
        "--pipeline-rounds", type=int, help="Dagster runs, each on a fresh home (default 2)"
    )
    parser.add_argument(
        "--pipeline-prefill", type=int, default=0,
        help="generated captures (with metadata and a checkpoint) in the archive before each "
        "Dagster run: the daily run on an aged archive (pipeline_1000_seconds is then not set)",
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "ARCHIVE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument(
        "--corpus", type=Path, default=None, help="metadata corpus (default ../shared/corpus/html)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    quick = args.quick
    n = args.pages or (200 if quick else 1000)
    rounds = args.rounds or (2 if quick else 5)
    sizes = [n // 10, n, n * 10] if not quick else [n // 4, n, n * 10]
    only = set(args.only.split(",")) if args.only else set(SECTIONS)
    pipeline_pages = args.pipeline_pages or (20 if quick else n)
    pipeline_rounds = args.pipeline_rounds or (1 if quick else 2)
    started = time.perf_counter()
    res: dict[str, Any] = {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python -m bench"
            + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip(),
            "quick": quick,
            "pages": n,
            "rounds": rounds,
            "sizes": sizes,
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "concurrency": args.concurrency,
            "processes": args.processes,
            "batch_size": args.batch,
            "per_host_limit": f"lifted to {args.concurrency * args.processes} for the bench's "
            "one loopback host (127.0.0.1); the default is 1",
            "page_bytes_mean": sum(len(corpus.page(i)) for i in range(min(n, 200))) / min(n, 200),
        },
    }
    log(
        f"bench: N={n}, {rounds} rounds, sizes {sizes}; ours on {args.processes} process(es) "
        f"x {args.concurrency} threads; per-host politeness limit LIFTED to "
        f"{args.concurrency * args.processes} for 127.0.0.1 (bench only)"
    )
    tmp_root = Path(tempfile.mkdtemp(prefix="archive-bench-"))
    server = None
    try:
        if only & {"capture", "verify", "pipeline", "breakdown"}:
            server = start_server(max([*sizes, pipeline_pages]), tmp_root, args.server)
            res["meta"]["server"] = server.describe + "; the same for every contender"
            log(f"server on {server.base} ({server.pages} pages)")
        if only & {"capture", "verify"}:
            res["server_alone"] = capture.server_alone(
                server, _urls(server, n, tmp_root), n, tmp_root, rounds
            )
            log(
                f"  server alone (wget to /dev/null): "
                f"{_m(res['server_alone']['wget_devnull_keepalive_pages_s']):.0f} pages/s "
                f"keep-alive, {_m(res['server_alone']['wget_devnull_new_connection_pages_s']):.0f}"
                " with a connection per page"
            )
            log("capture: pairs")
            pairs = capture.capture_pairs(
                server, n, tmp_root, rounds, args.concurrency, args.batch, args.processes, log
            )
            res["capture"] = pairs
            ratio = pairs["ratio_ours_over"]
            res["capture_vs_wget"] = _m(ratio["wget"])
            res["capture_vs_wget_gzip"] = _m(ratio["wget_gzip"])
            res["capture_vs_warcio"] = _m(ratio["warcio"])
            res["verify"] = pairs["verify"]
            res["verify_vs_openssl"] = _m(pairs["verify"]["ratio"])
            res["verify_fixity_only_vs_openssl"] = _m(pairs["verify"]["fixity_only_ratio"])
            log("capture and verify: growth with N")
            others = [s for s in sizes if s != n]
            runs_for = {s: (3 if s < n else 1) for s in others}
            scale = capture.scaling(
                server,
                others,
                tmp_root,
                runs_for,
                args.concurrency,
                args.batch,
                args.processes,
                log,
            )
            scale[str(n)] = _scale_entry(pairs)
            res["scaling"] = {str(s): scale[str(s)] for s in sizes}
            peak_n = _m(scale[str(n)]["peak_rss_mb"])
            peak_10n = _m(scale[str(n * 10)]["peak_rss_mb"])
            res["memory"] = {
                "peak_rss_mb_n": peak_n,
                "peak_rss_mb_10n": peak_10n,
                "n": n,
                "ten_n": n * 10,
                "peak_ratio_10n_over_n": peak_10n / peak_n if peak_n else None,
                "how": "ru_maxrss of the capture process (imports included)",
            }
        if "breakdown" in only and server is not None:
            log("capture cost by stage (one thread)")
            res["capture_breakdown"] = _breakdown(server, min(n, 300), tmp_root, rounds)
        if "metadata" in only:
            from bench import metadata

            log("metadata")
            corpus_dir = args.corpus or metadata.CORPUS
            res["metadata"] = metadata.run(
                corpus_dir, 1 if quick else 3, 60 if quick else None, log
            )
            r = res["metadata"].get("ratio_ours_over", {})
            res["metadata_vs_trafilatura"] = _m(r.get("trafilatura_meta"))
            res["metadata_vs_htmldate"] = _m(r.get("htmldate"))
        if "custody" in only:
            from bench import custody

            log("custody")
            res["custody"] = custody.run(
                tmp_root,
                1 if quick else 3,
                50 if quick else 200,
                5 if quick else 20,
                100,
                args.pg_url,
                log,
            )
            for db in ("sqlite", "postgresql"):
                d = res["custody"].get(db, {})
                res[f"custody_{db}_single_appends_s"] = _m(d.get("single_appends_s"))
                res[f"custody_{db}_batched_appends_s"] = _m(d.get("batched_appends_s"))
        if "merkle" in only:
            from bench import merkle

            leaves = 100_000 if quick else 1_000_000
            log(f"merkle ({leaves:,} leaves)")
            res["merkle"] = merkle.run(leaves, 1 if quick else 3)
            res["inclusion_proof_generate_us"] = _m(res["merkle"].get("inclusion_generate_us"))
            res["inclusion_proof_verify_us"] = _m(res["merkle"].get("inclusion_verify_us"))
        if "pipeline" in only:
            log(
                f"pipeline ({pipeline_pages} sources, one archive_job run, "
                f"{pipeline_rounds} time(s); the capture step's per-host limit lifted to "
                f"{PIPELINE_PER_HOST} for the one loopback host)"
            )
            res["pipeline"] = p = _pipeline_rounds(
                server, pipeline_pages, tmp_root, pipeline_rounds, args.pipeline_prefill
            )
            if args.pipeline_prefill:
                res["pipeline_1000_seconds"] = None
                res["pipeline_1000_seconds_reason"] = (
                    f"run on an archive prefilled with {args.pipeline_prefill} captures; "
                    "the target is a fresh archive's")
            elif pipeline_pages == 1000 and p.get("seconds") is not None:
                res["pipeline_1000_seconds"] = p["seconds"]
            else:
                res["pipeline_1000_seconds"] = None
                if p.get("seconds") is not None:
                    est = p["seconds"] / pipeline_pages * 1000
                    p["estimate_1000_seconds_linear"] = est
                    res["pipeline_1000_seconds_reason"] = (
                        f"run at {pipeline_pages} sources, not 1,000: {p['seconds']:.1f} s "
                        f"({p['seconds'] / pipeline_pages:.2f} s per source, about {est:.0f} s "
                        "for 1,000 if linear); `python -m bench --only pipeline "
                        "--pipeline-pages 1000` measures it"
                    )
                else:
                    res["pipeline_1000_seconds_reason"] = p.get("error", "not measured")
    finally:
        if server is not None:
            server.close()
        shutil.rmtree(tmp_root, ignore_errors=True)
    res["meta"]["bench_seconds"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n", "utf-8")
    print(render(res))
    print(f"\nwritten {args.out} in {res['meta']['bench_seconds']:.0f} s")
    return 0


def _urls(server: LoopbackServer, n: int, tmp: Path) -> Path:
    from bench.common import write_urls

    return write_urls(tmp / f"urls-{n}.txt", server.urls(n))


def _scale_entry(pairs: dict[str, Any]) -> dict[str, Any]:
    ours = [o for r in pairs["runs"] for o in r["ours"]]  # both runs of each round
    n = pairs["pages"]
    v = pairs["verify"]
    return {
        "pages": n,
        "runs": len(ours),
        "from": "the capture rounds",
        "pages_s": stats([o["pages_s"] for o in ours]),
        "ms_per_page": stats([o["ms_per_page"] for o in ours]),
        "cpu_ms_per_page": stats([o["cpu_ms_per_page"] for o in ours]),
        "peak_rss_mb": stats([o["maxrss_kib"] / 1024 for o in ours]),
        "rss_growth_during_capture_mb": stats(
            [(o["maxrss_kib"] - o["rss_before_kib"]) / 1024 for o in ours]
        ),
        "verify_mb_s": v["ours_mb_s"],
        "verify_ms_per_page": stats(
            [v["bytes"] / 1e6 / x * 1000 / n for x in v["ours_mb_s"]["runs"]]
        ),
        "openssl_mb_s": v["openssl_mb_s"],
        "warc_bytes": ours[-1]["warc_bytes"],
        "warc_files": ours[-1]["warc_files"],
    }


def _breakdown(server: LoopbackServer, n: int, tmp: Path, runs: int) -> dict[str, Any]:
    from bench.common import write_urls

    urls_file = write_urls(tmp / f"urls-breakdown-{n}.txt", server.urls(n, start=0))
    results = []
    for _ in range(runs):
        with scratch("breakdown-", tmp) as home:
            _, _, out, err, code = run_child(
                [
                    PYTHON,
                    "-m",
                    "bench.breakdown",
                    "--urls",
                    str(urls_file),
                    "--home",
                    str(home / "a"),
                ]
            )
        if code != 0:
            return {"error": err.strip()[-300:]}
        results.append(json.loads(out.strip().splitlines()[-1]))
    stages = list(results[0]["cpu_ms_per_page"])
    out = {
        "pages": n,
        "runs": runs,
        "cpu_ms_per_page": {k: stats([r["cpu_ms_per_page"][k] for r in results]) for k in stages},
        "wall_ms_per_page": {k: stats([r["wall_ms_per_page"][k] for r in results]) for k in stages},
        "total_cpu_ms_per_page": stats([r["total_cpu_ms_per_page"] for r in results]),
        "total_wall_ms_per_page": stats([r["total_wall_ms_per_page"] for r in results]),
    }
    log(
        "  "
        + ", ".join(f"{k} {out['cpu_ms_per_page'][k]['median']:.2f}" for k in stages)
        + " CPU ms/page"
    )
    return out


def _pipeline_rounds(
    server: LoopbackServer | None, pages: int, tmp: Path, rounds: int, prefill: int = 0,
) -> dict[str, Any]:
    """Several Dagster runs; the figures of the run nearest the median, with every run's
    seconds (median, min-max) beside them."""
    runs: list[dict[str, Any]] = []
    for r in range(max(1, rounds)):
        runs.append(_pipeline(server, pages, tmp, prefill))
        if runs[-1].get("seconds") is None:
            return runs[-1]
        log(f"  pipeline run {r + 1}/{rounds}: {runs[-1]['seconds']:.1f} s")
    seconds = stats([run["seconds"] for run in runs])
    median = seconds["median"]
    out = dict(min(runs, key=lambda run: abs(run["seconds"] - median)))
    out["seconds"] = median
    out["seconds_runs"] = seconds
    return out


def _pipeline(
    server: LoopbackServer | None, pages: int, tmp: Path, prefill: int = 0
) -> dict[str, Any]:
    if server is None:
        return {"error": "no server"}
    try:
        import pipelines.definitions  # noqa: F401
    except Exception as exc:  # the pipeline is being written by someone else
        return {"error": f"pipelines.definitions does not import: {exc!r}"}
    with scratch("pipeline-", tmp) as home:
        wall, rss, out, err, code = run_child(
            [
                PYTHON,
                "-m",
                "bench.pipeline",
                "--base",
                server.base,
                "--pages",
                str(pages),
                "--home",
                str(home),
                "--prefill",
                str(prefill),
            ],
            timeout=900 + prefill // 50,
        )
    if code != 0:
        return {
            "error": f"the Dagster run failed ({code}): "
            f"{(err.strip().splitlines() or ['?'])[-1][:300]}"
        }
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["process_wall_seconds"] = wall
    result["peak_rss_mb"] = rss / 1024
    result["seconds_per_source"] = result["seconds"] / pages
    return result


# ------------------------------------------------------------------------------ table


def _f(x: float | None, fmt: str = "{:.0f}") -> str:
    return "—" if x is None else fmt.format(x)


def _r(fig: dict[str, Any] | None, fmt: str = "{:.0f}") -> str:
    if not fig or fig.get("median") is None:
        return "—"
    if fig["min"] == fig["max"]:
        return fmt.format(fig["median"])
    return f"{fmt.format(fig['median'])} ({fmt.format(fig['min'])}–{fmt.format(fig['max'])})"


def _met(value: float | None, target: float, higher_is_better: bool = True) -> str:
    if value is None:
        return "n/a"
    ok = value >= target if higher_is_better else value <= target
    return "met" if ok else "NOT met"


def render(res: dict[str, Any]) -> str:
    meta = res["meta"]
    lines = [
        f"\nbench {meta['date']}  N={meta['pages']}  rounds={meta['rounds']}  "
        f"{meta['machine']['cpus']} CPUs  Python {meta['machine']['python']}",
        f"per-host politeness limit: {meta['per_host_limit']}",
        "figures: median (min–max) of the runs; ratios measured pair by pair per round\n",
    ]
    rows: list[tuple[str, str, str, str, str]] = []
    cap = res.get("capture")
    if cap:
        p = cap["pages_s"]
        r = cap["ratio_ours_over"]
        rows += [
            ("capture pages/s (ours, gzip WARC)", _r(p["ours"]), "", "", ""),
            (
                "  vs wget --no-warc-compression",
                _r(p["wget"]),
                _r(r["wget"], "{:.2f}"),
                f"≥ {TARGETS['capture_vs_wget']}",
                _met(res.get("capture_vs_wget"), TARGETS["capture_vs_wget"]),
            ),
            ("  vs wget gzip'd WARC", _r(p["wget_gzip"]), _r(r["wget_gzip"], "{:.2f}"), "", ""),
            (
                "  vs warcio capture_http + requests",
                _r(p["warcio"]),
                _r(r["warcio"], "{:.2f}"),
                "",
                "",
            ),
        ]
        sa = res.get("server_alone", {})
        rows.append(
            (
                "  server alone: wget → /dev/null",
                _r(sa.get("wget_devnull_keepalive_pages_s")),
                "",
                "",
                "",
            )
        )
        rows.append(
            (
                "  server alone, new connection/page",
                _r(sa.get("wget_devnull_new_connection_pages_s")),
                "",
                "",
                "",
            )
        )
    v = res.get("verify")
    if v:
        rows += [
            ("verify MB/s (Archive.verify)", _r(v["ours_mb_s"]), "", "", ""),
            (
                "  vs openssl dgst -sha256",
                _r(v["openssl_mb_s"]),
                _r(v["ratio"], "{:.2f}"),
                f"≥ {TARGETS['verify_vs_openssl']}",
                _met(res.get("verify_vs_openssl"), TARGETS["verify_vs_openssl"]),
            ),
            (
                "  file fixity part only (SHA-256)",
                _r(v["ours_fixity_only_mb_s"]),
                _r(v["fixity_only_ratio"], "{:.2f}"),
                "≥ 0.8",
                _met(res.get("verify_fixity_only_vs_openssl"), 0.8),
            ),
        ]
    md = res.get("metadata")
    if md and "ms_per_page" in md:
        mp = md["ms_per_page"]
        rows += [
            (f"metadata ms/page (ours, {md['pages']} pages)", _r(mp["ours"], "{:.1f}"), "", "", ""),
            (
                "  vs trafilatura metadata alone",
                _r(mp["trafilatura_meta"], "{:.1f}"),
                _r(md["ratio_ours_over"]["trafilatura_meta"], "{:.2f}"),
                f"≤ {TARGETS['metadata_vs_trafilatura']}",
                _met(res.get("metadata_vs_trafilatura"), TARGETS["metadata_vs_trafilatura"],
                     False),
            ),
            (
                "  vs htmldate alone",
                _r(mp["htmldate"], "{:.1f}"),
                _r(md["ratio_ours_over"]["htmldate"], "{:.2f}"),
                "",
                "",
            ),
        ]
    cu = res.get("custody")
    if cu:
        for db in ("sqlite", "postgresql"):
            d = cu.get(db, {})
            if "error" in d:
                rows.append((f"custody appends/s {db}", d["error"][:40], "", "", "n/a"))
                continue
            rows.append((f"custody appends/s {db}, single", _r(d["single_appends_s"]), "", "", ""))
            rows.append(
                (
                    f"custody appends/s {db}, batched ×{d['batch_size']}",
                    _r(d["batched_appends_s"]),
                    "",
                    "≥ 2000",
                    _met(_m(d["batched_appends_s"]), 2000),
                )
            )
    mk = res.get("merkle")
    if mk and "error" not in mk:
        rows += [
            (
                f"inclusion proof generate µs ({mk['leaves']:,} leaves)",
                _r(mk["inclusion_generate_us"], "{:.1f}"),
                "",
                "",
                "",
            ),
            ("inclusion proof verify µs", _r(mk["inclusion_verify_us"], "{:.1f}"), "", "", ""),
        ]
    pl = res.get("pipeline")
    if pl:
        if pl.get("seconds") is not None:
            rows.append(
                (
                    f"Dagster archive_job, {pl['pages']} sources, s",
                    _f(pl["seconds"], "{:.1f}")
                    + (
                        " ({:.1f}–{:.1f})".format(
                            pl["seconds_runs"]["min"], pl["seconds_runs"]["max"]
                        )
                        if pl.get("seconds_runs")
                        else ""
                    ),
                    "",
                    "",
                    "",
                )
            )
        rows.append(
            (
                "pipeline_1000_seconds",
                _f(res.get("pipeline_1000_seconds"), "{:.1f}"),
                "",
                f"≤ {TARGETS['pipeline_1000_seconds']:.0f}",
                _met(res.get("pipeline_1000_seconds"), TARGETS["pipeline_1000_seconds"], False)
                if res.get("pipeline_1000_seconds") is not None
                else "n/a",
            )
        )
    mem = res.get("memory")
    if mem:
        rows.append(
            (
                f"peak RSS MB capture N={mem['n']} / 10N",
                f"{_f(mem['peak_rss_mb_n'])} / {_f(mem['peak_rss_mb_10n'])}",
                _f(mem["peak_ratio_10n_over_n"], "{:.2f}"),
                "≤ 1.2",
                _met(mem["peak_ratio_10n_over_n"], 1.2, False),
            )
        )
    width = max(len(r[0]) for r in rows) if rows else 10
    lines.append(f"{'figure':<{width}}  {'value':>22}  {'ratio':>18}  {'target':>7}  status")
    for name, value, ratio, target, status in rows:
        lines.append(f"{name:<{width}}  {value:>22}  {ratio:>18}  {target:>7}  {status}")
    bd = res.get("capture_breakdown")
    if bd and "error" not in bd:
        lines.append(
            "\ncapture cost by stage, one thread (CPU ms/page; wall ms/page): "
            + ", ".join(
                f"{k} {_r(bd['cpu_ms_per_page'][k], '{:.2f}')}; "
                f"{_r(bd['wall_ms_per_page'][k], '{:.2f}')}"
                for k in bd["cpu_ms_per_page"]
            )
        )
    sc = res.get("scaling")
    if sc:
        lines.append(
            "\ngrowth with N (ours): capture pages/s, ms/page, CPU ms/page; verify "
            "MB/s, ms/page; peak RSS"
        )
        for k, e in sc.items():
            lines.append(
                f"  N={int(k):>6}: {_r(e['pages_s']):>16} pages/s  "
                f"{_r(e['ms_per_page'], '{:.2f}'):>20} ms  "
                f"{_r(e['cpu_ms_per_page'], '{:.2f}'):>20} CPU ms  | verify "
                f"{_r(e['verify_mb_s']):>14} MB/s "
                f"{_r(e['verify_ms_per_page'], '{:.3f}'):>20} ms/page  | "
                f"RSS {_r(e['peak_rss_mb'])} MB  ({e['runs']} run(s))"
            )
    if res.get("pipeline_1000_seconds_reason"):
        lines.append(f"\npipeline_1000_seconds: null — {res['pipeline_1000_seconds_reason']}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
