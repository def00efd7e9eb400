"""The ``archive`` subcommands, one function each: open the archive from the
environment, call one façade method, print its result (:mod:`archive.cli.output`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive.cli.output import (
    METADATA_FIELDS,
    attach_metadata,
    citation_line,
    emit,
    field_line,
    progress,
)
from archive.core.config import DEFAULT_MODE
from archive.errors import ArchiveError, ConfigError, RefusedURLError, StorageError
from archive.proof import notes

if TYPE_CHECKING:
    from archive.api import Archive
    from archive.capture.results import Outcome

EXIT_CAPTURE = 3
EXIT_MISMATCH = 5
EXIT_UNTRUSTED = 8


def open_archive(args: argparse.Namespace) -> Archive:
    """The archive the environment names, with the fetch options a command's flags set."""
    from archive.api import Archive
    from archive.core.config import Settings

    settings = Settings.from_env()
    if getattr(args, "allow_private_networks", False):
        settings = settings.with_fetch(allow_private_networks=True)
    if getattr(args, "insecure", False):
        settings = settings.with_fetch(verify_tls=False)
    return Archive.open(settings)


def cmd_capture(args: argparse.Namespace) -> int:
    from archive.http.netguard import check_url

    urls = list(args.urls)
    default_mode = args.mode or DEFAULT_MODE
    modes = [default_mode] * len(urls)
    if args.sources:
        from archive.core.sources import load_sources

        for src in load_sources(Path(args.sources)):
            urls.append(src.url)
            modes.append(src.mode or default_mode)
    if not urls:
        raise ConfigError("nothing to capture: give URLs or --sources FILE")
    for url in args.urls:  # text alone (no DNS): a bad argument, nothing is attempted
        try:
            check_url(url)
        except RefusedURLError as exc:
            raise ConfigError(f"not a URL to capture: {exc}", url=url) from None
    with open_archive(args) as arc, progress(len(urls), args) as bar:
        by_position: dict[int, Outcome] = {}
        for mode in dict.fromkeys(modes):  # one run per mode, in order of first use
            positions = [i for i, m in enumerate(modes) if m == mode]
            got = arc.capture([urls[i] for i in positions], concurrency=args.concurrency,
                              processes=args.processes, mode=mode,
                              ignore_robots={"*": args.ignore_robots}
                              if args.ignore_robots else None,
                              on_done=lambda _o: bar.update(1))
            by_position.update(zip(positions, got, strict=True))
        outcomes = [by_position[i] for i in range(len(urls))]
        data = [o.to_json() for o in outcomes]
        if not args.no_metadata:
            attach_metadata(arc, data)

    def human(items: list[dict[str, Any]]) -> str:
        lines = []
        for o in items:
            if o["status"] == "failed":  # one line on stderr, the error's own words
                message = o["message"]
                print(f"FAILED {message}" if o["url"] in message else
                      f"FAILED {o['url']}: {message}", file=sys.stderr)
            else:
                flag = "" if o["status"] in ("complete", "revisit") else f" [{o['status']}]"
                lines.append(citation_line(o) + flag)
        return "\n".join(lines)

    emit(args, data, human)
    return 0 if all(o.ok for o in outcomes) else EXIT_CAPTURE


def cmd_ingest(args: argparse.Namespace) -> int:
    with open_archive(args) as arc:
        results = arc.ingest([Path(p) for p in args.files], url=args.url,
                             content_type=args.content_type)
        data = [r.to_json() for r in results]
        if not args.no_metadata:
            attach_metadata(arc, data)
    emit(args, data, lambda items: "\n".join(citation_line(o) for o in items))
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    from archive.metadata import extract

    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArchiveError(f"cannot read {path}: {exc.strerror}") from exc
    doc = extract(data, url=args.url, content_type=args.content_type).to_json()

    def human(d: dict[str, Any]) -> str:
        lines = [f"{d['content_kind']} · {d['extractor']}/{d['extractor_version']}"]
        lines += [field_line(name, d.get(name), 16) for name in METADATA_FIELDS]
        return "\n".join(lines)

    emit(args, doc, human)
    return 0


def cmd_metadata(args: argparse.Namespace) -> int:
    with open_archive(args) as arc:
        found = [m.to_json() for m in arc.metadata(args.hash, all_versions=args.all_versions)]

    def human(items: list[dict[str, Any]]) -> str:
        lines = []
        for c in items:
            lines.append(f"{c['capture_id']}  {c['url']}")
            if not c["versions"]:
                lines.append("  no metadata extracted yet")
            for v in c["versions"]:
                rec = v["record"]
                lines.append(f"  {v['extractor']}/{v['extractor_version']} at {v['created_at']}")
                lines += ["    " + field_line(name, rec.get(name), 16)
                          for name in METADATA_FIELDS]
        return "\n".join(lines)

    emit(args, found, human)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with open_archive(args) as arc:
        rows = [c.to_json() for c in arc.list_captures(limit=args.limit)]
    emit(args, rows, lambda items: "\n".join(
        f"{c['captured_at']}  {'withdrawn' if c['withdrawn'] else c['status']:<10} "
        f"{c['capture_id'][:19]}…  {c['url']}" for c in items) or "no captures yet")
    return 0


def cmd_screenshot(args: argparse.Namespace) -> int:
    from archive.browser.models import png_size
    from archive.core.files import atomic_write

    with open_archive(args) as arc:
        digest, png = arc.screenshot(args.hash)
    try:
        atomic_write(Path(args.output), png)
    except OSError as exc:
        raise StorageError(f"cannot write {args.output}: {exc.strerror}") from exc
    size = png_size(png)
    emit(args, {"screenshot": digest, "path": args.output,
                "width": size[0] if size else None, "height": size[1] if size else None},
         lambda d: f"{d['screenshot']} written to {d['path']} "
                   f"({d['width']}x{d['height']} PNG, checked against its WARC record)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with open_archive(args) as arc:
        found = [c.to_json() for c in arc.show(args.hash)]

    def human(items: list[dict[str, Any]]) -> str:
        out = []
        for c in items:
            gone = c.get("withdrawal")
            if gone:
                who = f" by {gone['person']}" if gone.get("person") else ""
                out.append(f"WITHDRAWN {gone['time']}{who}: {gone['reason']} (deletion event "
                           f"#{gone['event']} in the custody log; the bytes are kept)")
            how = (f"HTTP {c['http_status']}" if c["http_status"] is not None
                   else "local document" if c["kind"] == "document" else "no HTTP response")
            warc = c["manifest"].get("warc_file") or {}
            out += [f"capture   {c['capture_id']}", f"content   {c['content_hash']}",
                    f"url       {c['url']}", f"final url {c['final_url']}",
                    f"captured  {c['captured_at']}",
                    f"status    {'withdrawn, was ' if gone else ''}{c['status']} ({how})",
                    f"warc      {c['warc_file']}",
                    f"warc hash {warc.get('sha256')} ({warc.get('size')} bytes)"]
            if c.get("mode"):
                out.append(f"mode      {c['mode']}")
            if c.get("screenshot"):
                out.append(f"screenshot {c['screenshot']} (the resource record urn:fullPage:…)")
            reqs = c.get("requisites") or {}
            if reqs.get("list"):
                out.append(f"requisites: {reqs['captured']} captured, {reqs['failed']} failed")
                out += [f"  captured  {r['url']}{' (revisit)' if r.get('revisit') else ''}"
                        if r["status"] == "captured" else f"  failed    {r['url']}: {r['reason']}"
                        for r in reqs["list"]]
            out.append("records:")
            out += [f"  {r['type']:<9} {r['record_id']} @{r['offset']} {r['block_digest']}"
                    for r in c["records"]]
            out.append("custody:")
            out += [f"  #{e['seq']} {e['time']} {e['type']} {e['outcome']}"
                    + ("" if c["capture_id"] in e["objects"] else
                       " (another capture of the same content)") for e in c["events"]]
        return "\n".join(out)

    emit(args, found, human)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    with open_archive(args) as arc:
        recovered = None
        if not args.hash and not args.no_reconcile:
            recovered = arc.reconcile()
            if recovered.changed and not args.json:
                for a in recovered.adopted:
                    print(f"RECOVERED {a['from']}: adopted {len(a['captures'])} capture(s)")
                for q in recovered.quarantined:
                    print(f"QUARANTINED {q['path']}: {q['reason']}")
                for n in recovered.notes_filed:
                    print(_filed_line(n))
            swept = recovered.sweep_line()
            if swept and not args.json:
                print(swept)
        report = arc.verify(args.hash, deep=args.deep)

    def human(r: dict[str, Any]) -> str:
        lines = [f"MISMATCH {p['message']}" for p in r["problems"]]
        summary = (f"checked {r['files']} files ({r['bytes']} bytes), {r['captures']} captures, "
                   f"{r['records']} records re-hashed, {r['events']} custody events")
        lines.append(("OK " if r["ok"] else f"FAILED ({len(r['problems'])} problems) ") +
                     summary)
        return "\n".join(lines)

    emit(args, report.to_json(), human)
    return 0 if report.ok else EXIT_MISMATCH


def cmd_import(args: argparse.Namespace) -> int:
    results = []
    with open_archive(args) as arc:
        for f in args.files:
            got = (arc.import_wacz(Path(f), accept_partial=args.accept_partial)
                   if f.lower().endswith(".wacz") else
                   [arc.import_warc(Path(f), accept_partial=args.accept_partial)])
            for one in got:
                results.append(one.to_json())
                if results[-1]["captures"]:  # its records are captures: their metadata too
                    arc.extract_metadata_many(results[-1]["captures"])

    def human(items: list[dict[str, Any]]) -> str:
        lines = []
        for r in items:
            counts = ", ".join(f"{k}:{v}" for k, v in sorted(r["record_counts"].items()))
            state = "already imported" if r["already_imported"] else f"imported ({r['verdict']})"
            lines.append(f"{state} {r['sha256']} -> {r['stored_path']} [{counts}]")
            lines += [f"  {p['message']}" for p in r["problems"][:20]]
            lines += [f"  capture {c}" for c in r["captures"]]
        return "\n".join(lines)

    emit(args, results, human)
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    with open_archive(args) as arc:
        gone = [c.to_json() for c in arc.delete(args.hash, reason=args.reason,
                                                 person=args.person)]
    emit(args, gone, lambda items: "\n".join(
        f"withdrawn {c['capture_id']} ({c['url']}); its bytes are kept and still verify"
        for c in items))
    return 0


def _filed_line(path: str) -> str:
    what = ("a checkpoint's timestamp token" if path.endswith(notes.STAMP_SUFFIX)
            else "a signed checkpoint's note")
    return f"FILED {path}: {what}, not written out before"


def cmd_reconcile(args: argparse.Namespace) -> int:
    with open_archive(args) as arc:
        rep = arc.reconcile()
    swept = rep.sweep_line()
    emit(args, rep.to_json(), lambda d: "\n".join(
        [f"RECOVERED {a['from']}: adopted {len(a['captures'])} capture(s)" for a in d["adopted"]]
        + [f"QUARANTINED {q['path']} as {q['quarantined_as']}: {q['reason']}"
           for q in d["quarantined"]]
        + [_filed_line(n) for n in d["notes_filed"]] + ([swept] if swept else []))
        or "nothing to reconcile")
    return 0


def cmd_fixity(args: argparse.Namespace) -> int:
    with open_archive(args) as arc:
        rep = arc.fixity()

    def human(d: dict[str, Any]) -> str:
        lines = []
        for f in d["failures"]:
            line = f"{f['state'].upper()} {f['path']}"
            if f.get("expected"):
                line += f" expected {f['expected']} actual {f.get('actual') or 'none'}"
            good = f.get("last_good_checkpoint")
            if good and good.get("checkpoint"):
                line += (f"; last good at checkpoint {good['checkpoint']} (size {good['size']}, "
                         f"{good['created_at']})")
            lines.append(line)
        lines.append(f"fixity: {d['ok']}/{d['checked']} files intact, {d['bytes']} bytes "
                     f"re-hashed, {len(d['failures'])} problem(s)")
        return "\n".join(lines)

    emit(args, rep.to_json(), human)
    return 0 if not rep.failures else EXIT_MISMATCH


def cmd_sources_add(args: argparse.Namespace) -> int:
    from archive.core.sources import add_source

    src = add_source(Path(args.file), args.url, label=args.label, outlet=args.outlet)
    emit(args, {"url": src.url, "key": src.key, "file": args.file},
          lambda d: f"added {d['url']} (partition {d['key']}) to {d['file']}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from archive.cli.demo import run_demo

    return run_demo(json_output=args.json)


def cmd_serve(args: argparse.Namespace) -> int:
    """The read-only web resolver and its replay origin (port + 1), until interrupted."""
    import asyncio

    from archive.api import Archive
    from archive.serve.run import Origins, serve_both

    if not 0 < args.port < 65535:
        raise ConfigError(f"--port must be between 1 and 65534 (the replay origin takes "
                          f"the next one), not {args.port}")
    origins = Origins(args.host, args.port, args.port + 1)
    with Archive.open_read_only() as arc:
        print(f"archive: serving {origins.app} (replay from {origins.replay}); "
              "Ctrl-C stops", file=sys.stderr)
        asyncio.run(serve_both(arc, origins))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    """The sentence-level diff of two captures' article text (what /history shows)."""
    from archive.metadata.textdiff import format_diff

    with open_archive(args) as arc:
        changes = arc.diff(args.old, args.new)
        old, new = (arc.resolve(ref)[0].capture_id for ref in (args.old, args.new))
        rec = arc.comparisons([new]).get(new)
    recorded = rec.to_json() if rec is not None and rec.previous == old else None
    if args.json:
        print(json.dumps({"old": args.old, "new": args.new,
                          "changed": any(c.op != "same" for c in changes),
                          "changes": [c.to_json() for c in changes],
                          "recorded": recorded},
                         indent=1, ensure_ascii=False))
        return 0
    if any(c.op != "same" for c in changes):
        print(format_diff(changes))
    else:
        print("the article text is the same")
    if recorded is not None:
        print(f"custody log: {recorded['verdict']} against {old} "
              f"(metadata extraction event #{recorded['seq']}, {recorded['removed']} removed, "
              f"{recorded['added']} added, diff {recorded['diff_sha256']})")
    return 0
