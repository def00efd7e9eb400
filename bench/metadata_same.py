"""Do two versions of the metadata extractor give the same records? For changes meant
to be pure speed-ups: dump every corpus page's ``to_json()`` before the change, again
after, and compare.

Usage::

    python bench/metadata_same.py dump FILE [CORPUS_DIR]
    python bench/metadata_same.py compare BEFORE AFTER

Each page is extracted three ways: as ``python -m bench --only metadata`` does (URL,
``text/html``, no capture time, so today bounds dates: dump both on the same day), with
a fixed capture time, and with neither URL nor content type. ``compare`` prints the
first differing fields and exits 1 when any record differs.
"""

from __future__ import annotations

import json
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.metadata_accuracy import load

CORPUS = Path("/work/shared/corpus/html")
FIXED = datetime(2026, 6, 1, 12, tzinfo=UTC)


def dump(out: Path, corpus: Path) -> None:
    from archive.metadata import extract

    records = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for page in load(corpus):
            data, url, key = page["path"].read_bytes(), page.get("url"), str(page["path"])
            records[key] = extract(data, url=url, content_type="text/html").to_json()
            records[key + "#fixed"] = extract(
                data, url=url, content_type="text/html", capture_time=FIXED
            ).to_json()
            records[key + "#nourl"] = extract(data).to_json()
    out.write_text(json.dumps(records, sort_keys=True, ensure_ascii=False, indent=0))
    print(f"{len(records)} records from {len(records) // 3} pages -> {out}")


def compare(before: Path, after: Path) -> int:
    a, b = json.loads(before.read_text()), json.loads(after.read_text())
    if a.keys() != b.keys():
        print("the two dumps cover different pages")
        return 1
    differ = [k for k in a if a[k] != b[k]]
    print(f"{len(a)} records, {len(differ)} differ")
    for key in differ[:10]:
        for name, value in a[key].items():
            if value != b[key].get(name):
                print(f"{key} {name}\n  before {json.dumps(value)[:300]}")
                print(f"  after  {json.dumps(b[key].get(name))[:300]}")
    return 1 if differ else 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "dump":
        dump(Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else CORPUS)
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        sys.exit(__doc__)
