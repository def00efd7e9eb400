"""Inclusion-proof times at 10^6 leaves: the figures of bench/merkle_bench.py, reused."""

from __future__ import annotations

import re
from typing import Any

from bench.common import PYTHON, ROOT, run_child, stats

_LINE = re.compile(
    r"^(?P<name>[a-z][a-z ,.()]+?)\s{2,}(?P<value>[\d,.]+)\s*(?P<unit>µs|s)\b(?P<rest>.*)$"
)


def run(leaves: int, runs: int) -> dict[str, Any]:
    """``runs`` runs of merkle_bench.py; each gives medians of 201 proofs; we report the
    median (min-max) of those medians."""
    results = [_once(leaves) for _ in range(runs)]
    bad = [r for r in results if "error" in r]
    if bad:
        return bad[0]
    keys = (
        "inclusion_generate_us",
        "inclusion_verify_us",
        "consistency_generate_us",
        "consistency_verify_us",
    )
    return {
        "leaves": leaves,
        "runs": runs,
        "source": results[0]["source"],
        **{k: stats([r[k] for r in results if r[k] is not None]) for k in keys},
        "build_bulk_seconds": stats([r["figures"]["build_bulk_extend"]["value"] for r in results]),
        "last_run": results[-1],
    }


def _once(leaves: int) -> dict[str, Any]:
    wall, rss, out, err, code = run_child(
        [PYTHON, str(ROOT / "bench" / "merkle_bench.py"), str(leaves)], timeout=600
    )
    if code != 0:
        return {"error": f"merkle_bench failed ({code}): {err.strip()[-300:]}"}
    figures: dict[str, Any] = {}
    for line in out.splitlines():
        m = _LINE.match(line.strip())
        if m:
            value = float(m["value"].replace(",", ""))
            key = re.sub(r"[^a-z]+", "_", m["name"].strip().rstrip(".")).strip("_")
            figures[key] = {"value": value, "unit": m["unit"], "note": m["rest"].strip()}
    return {
        "leaves": leaves,
        "source": "bench/merkle_bench.py (median of its 201 proofs)",
        "inclusion_generate_us": figures.get("inclusion_proof_generate", {}).get("value"),
        "inclusion_verify_us": figures.get("inclusion_proof_verify", {}).get("value"),
        "consistency_generate_us": figures.get("consistency_proof_gen", {}).get("value"),
        "consistency_verify_us": figures.get("consistency_proof_verify", {}).get("value"),
        "figures": figures,
        "output": out,
        "wall_seconds": wall,
        "peak_rss_mb": rss / 1024,
    }
