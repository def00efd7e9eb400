"""What the ``archive`` command prints: JSON or text (``--json`` gives the façade's
results as JSON, unchanged), citation lines, metadata fields with their evidence,
and the progress bar.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archive.api import Archive


def emit(args: argparse.Namespace, data: Any, human: Callable[[Any], str]) -> None:
    if args.json:
        print(json.dumps(data, indent=1, ensure_ascii=False, sort_keys=False))
    else:
        text = human(data)
        if text:
            print(text)


def citation_line(c: dict[str, Any]) -> str:
    when = c.get("captured_at", "")
    meta = c.get("metadata") or {}
    head = "; ".join(str(meta[k]) for k in ("outlet", "title", "published") if meta.get(k))
    return ((f"{head}. " if head else "") +
            f"{c['url']} archived {when} content {c.get('content_hash') or 'n/a'} "
            f"capture {c['capture_id']}")


METADATA_FIELDS = ("title", "published", "modified", "authors", "outlet", "tags", "language",
                   "canonical_url", "description", "dateline", "credited_sources")


def value_text(value: Any) -> str:
    """A metadata value as a person reads it: list items joined by "; " (a name may hold
    a comma), a named object by its name, anything else as text."""
    if isinstance(value, list | tuple):
        return "; ".join(value_text(v) for v in value)
    if isinstance(value, dict):
        return str(value.get("name") or json.dumps(value, ensure_ascii=False, sort_keys=True))
    return str(value)


def field_line(name: str, field: Any, width: int) -> str:
    """One stored or extracted field: its value, then its confidence and where it came
    from (the first three pieces of evidence), or ``unknown``."""
    field = field if isinstance(field, dict) else {}
    value = field.get("value")
    if value is None or value == [] or value == "":
        return f"{name:<{width}} unknown"
    evidence = [e for e in field.get("evidence") or [] if isinstance(e, dict)]
    src = ", ".join(str(e.get("source", "?")) for e in evidence[:3]) or "no evidence"
    return f"{name:<{width}} {value_text(value)}  [confidence {field.get('confidence')}; {src}]"


def progress(total: int, args: argparse.Namespace) -> Any:
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: capture forks its worker processes
    return tqdm(total=total, unit="url", disable=args.json or total < 2 or
                not sys.stderr.isatty(), file=sys.stderr)


def attach_metadata(arc: Archive, items: list[dict[str, Any]]) -> None:
    """Extract metadata for stored captures and add the headline fields to each item."""
    stored = [o for o in items if o.get("capture_id")]
    if not stored:
        return
    docs = arc.extract_metadata_many([o["capture_id"] for o in stored])
    for o, doc in zip(stored, docs, strict=True):
        o["metadata"] = {k: (doc.record.get(k) or {}).get("value")
                         for k in ("title", "outlet", "published", "language")}


