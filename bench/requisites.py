"""``python -m bench.requisites [CORPUS]``: requisite discovery over real pages.

Prints, per corpus source and overall: pages, requisites per page (median, p90, max),
the kinds and where they were found, pages that would meet the per-page limit, and
parse time per page (decode + parse + resolve; median, p95, max), then the CSS
tokenizer's throughput on a generated style sheet. Figures only, no assertions.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import time
from pathlib import Path

from archive.page.cssurls import css_urls
from archive.page.requisites import DEFAULT_MAX_REQUISITES, html_requisites, plan

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "html"


def _pages(root: Path) -> list[tuple[str, Path, str]]:
    out = []
    for truth in sorted(root.glob("*/truth.jsonl")):
        rows = [json.loads(line) for line in truth.read_text().splitlines() if line.strip()]
        urls = {row["file"]: row.get("url") for row in rows}
        for path in sorted(truth.parent.glob("*.html")):
            url = urls.get(path.name) or ""
            if not url.startswith(("http://", "https://")):
                url = f"https://{truth.parent.name}.example/{path.name}"
            out.append((truth.parent.name, path, url))
    return out


def _q(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _css_sample(rules: int = 5000) -> str:
    parts = ["@import url(base.css);", "@font-face{font-family:F;src:url(f.woff2) format('woff2')}"]
    for n in range(rules):
        parts.append(f".c{n} > a:hover, .c{n}::before {{ color: #{n % 4096:03x}; margin: 0 {n}px; "
                     f"font: 12px/1.5 'Helvetica Neue', sans-serif; transition: all .2s ease; }}")
        if n % 10 == 0:
            parts.append(f".i{n} {{ background: url(\"/img/{n}.png\") no-repeat }}")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.requisites", description=__doc__)
    parser.add_argument("corpus", nargs="?", type=Path, default=CORPUS)
    args = parser.parse_args(argv)
    pages = _pages(args.corpus)
    if not pages:
        print(f"no pages under {args.corpus}")
        return 2
    by_source: dict[str, list[tuple[int, float]]] = collections.defaultdict(list)
    kinds: collections.Counter[str] = collections.Counter()
    where: collections.Counter[str] = collections.Counter()
    over_limit = 0
    for source, path, url in pages:
        data = path.read_bytes()
        start = time.perf_counter()
        reqs = html_requisites(data, url)
        elapsed = time.perf_counter() - start
        by_source[source].append((len(reqs), elapsed))
        kinds.update(r.kind for r in reqs)
        where.update(r.found_at for r in reqs)
        over_limit += bool(plan(reqs, page_url=url).skipped)
    print(f"{'source':<12} {'pages':>5} {'req med':>7} {'p90':>5} {'max':>5} "
          f"{'ms med':>7} {'p95':>7} {'max':>7}")
    rows = [*sorted(by_source.items()), ("all", [x for v in by_source.values() for x in v])]
    for source, values in rows:
        counts = [float(c) for c, _ in values]
        times = [t * 1000 for _, t in values]
        print(f"{source:<12} {len(values):>5} {statistics.median(counts):>7.0f} "
              f"{_q(counts, 0.9):>5.0f} {max(counts):>5.0f} {statistics.median(times):>7.1f} "
              f"{_q(times, 0.95):>7.1f} {max(times):>7.1f}")
    print(f"pages over the limit of {DEFAULT_MAX_REQUISITES}: {over_limit}")
    print("kinds:", ", ".join(f"{k} {n}" for k, n in kinds.most_common()))
    print("found at:", ", ".join(f"{k} {n}" for k, n in where.most_common(15)))
    css = _css_sample()
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        found = css_urls(css)
        runs.append(time.perf_counter() - start)
    best = min(runs)
    print(f"CSS tokenizer: {len(css) / 1024:.0f} KiB, {len(found)} URLs, "
          f"{statistics.median(runs) * 1000:.1f} ms median, {len(css) / best / 1e6:.1f} MB/s best")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
