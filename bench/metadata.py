"""Metadata extraction ms/page: ours (``archive.metadata.extract``, measured as it is)
against htmldate alone and trafilatura's metadata alone, on the shared corpus.

The extractor functions and the corpus loader are bench/metadata_accuracy.py's (the
accuracy bench), so speed and accuracy are measured on the same calls.
"""

from __future__ import annotations

import statistics
import time
import warnings
from pathlib import Path
from typing import Any

from bench.common import stats
from bench.metadata_accuracy import htmldate_runner, load, run_ours, run_trafilatura_meta

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "html"


def run(corpus: Path, passes: int, limit: int | None, log: Any) -> dict[str, Any]:
    pages = load(corpus)
    if limit:
        pages = pages[:limit]
    if not pages:
        return {"error": f"no pages under {corpus}"}
    docs = [(p["path"].read_bytes(), p.get("url")) for p in pages]
    runners = {
        "ours": run_ours,
        "htmldate": htmldate_runner(extensive_search=True, original_date=False),
        "trafilatura_meta": run_trafilatura_meta,
    }
    for fn in runners.values():  # imports and caches outside the timings
        fn(b"<html><body><p>warm up</p></body></html>", None)
    means: dict[str, list[float]] = {k: [] for k in runners}
    per_page: dict[str, list[float]] = {k: [] for k in runners}
    failures: dict[str, int] = dict.fromkeys(runners, 0)
    for p in range(passes):
        totals = dict.fromkeys(runners, 0.0)
        for data, url in docs:
            for name, fn in runners.items():  # interleaved: the same page, each in turn
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    start = time.perf_counter()
                    try:
                        fn(data, url)
                    except Exception:  # a crash is a data point (counted), not a stop
                        failures[name] += 1
                    elapsed = (time.perf_counter() - start) * 1000
                totals[name] += elapsed
                if p == 0:
                    per_page[name].append(elapsed)
        for name in runners:
            means[name].append(totals[name] / len(docs))
        log(
            f"  metadata pass {p + 1}/{passes}: "
            + ", ".join(f"{k} {v[-1]:.1f}" for k, v in means.items())
            + " ms/page"
        )
    ratios = {
        other: [o / t for o, t in zip(means["ours"], means[other], strict=True)]
        for other in ("trafilatura_meta", "htmldate")
    }
    return {
        "corpus": str(corpus),
        "pages": len(docs),
        "passes": passes,
        "mean_bytes_per_page": sum(len(d) for d, _ in docs) / len(docs),
        "ms_per_page": {k: stats(v) for k, v in means.items()},
        "median_page_ms_first_pass": {k: statistics.median(v) for k, v in per_page.items()},
        "failures": failures,
        "ratio_ours_over": {k: stats(v) for k, v in ratios.items()},
    }
