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

if TYPE_CHECKING:
    from archive.api import Archive
    from archive.capture.results import Outcome

EXIT_CAPTURE = 3
EXIT_MISMATCH = 5
EXIT_UNTRUSTED = 8
def _open(args: argparse.Namespace) -> Archive:
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
    with _open(args) as arc, progress(len(urls), args) as bar:
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
    with _open(args) as arc:
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
    with _open(args) as arc:
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
    with _open(args) as arc:
        rows = [c.to_json() for c in arc.list_captures(limit=args.limit)]
    emit(args, rows, lambda items: "\n".join(
        f"{c['captured_at']}  {'withdrawn' if c['withdrawn'] else c['status']:<10} "
        f"{c['capture_id'][:19]}…  {c['url']}" for c in items) or "no captures yet")
    return 0


def cmd_screenshot(args: argparse.Namespace) -> int:
    from archive.browser.models import png_size
    from archive.core.files import atomic_write

    with _open(args) as arc:
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
    with _open(args) as arc:
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
            out += [f"  #{e['seq']} {e['time']} {e['type']} {e['outcome']}" for e in c["events"]]
        return "\n".join(out)

    emit(args, found, human)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    with _open(args) as arc:
        recovered = None
        if not args.hash and not args.no_reconcile:
            recovered = arc.reconcile()
            if recovered.changed and not args.json:
                for a in recovered.adopted:
                    print(f"RECOVERED {a['from']}: adopted {len(a['captures'])} capture(s)")
                for q in recovered.quarantined:
                    print(f"QUARANTINED {q['path']}: {q['reason']}")
                for n in recovered.notes_filed:
                    print(f"FILED {n}: a signed checkpoint's note, not written out before")
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
    with _open(args) as arc:
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
    with _open(args) as arc:
        gone = [c.to_json() for c in arc.delete(args.hash, reason=args.reason,
                                                 person=args.person)]
    emit(args, gone, lambda items: "\n".join(
        f"withdrawn {c['capture_id']} ({c['url']}); its bytes are kept and still verify"
        for c in items))
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    with _open(args) as arc:
        rep = arc.reconcile()
    swept = rep.sweep_line()
    emit(args, rep.to_json(), lambda d: "\n".join(
        [f"RECOVERED {a['from']}: adopted {len(a['captures'])} capture(s)" for a in d["adopted"]]
        + [f"QUARANTINED {q['path']} as {q['quarantined_as']}: {q['reason']}"
           for q in d["quarantined"]]
        + [f"FILED {n}: a signed checkpoint's note, not written out before"
           for n in d["notes_filed"]] + ([swept] if swept else []))
        or "nothing to reconcile")
    return 0


def cmd_fixity(args: argparse.Namespace) -> int:
    with _open(args) as arc:
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


def cmd_init(args: argparse.Namespace) -> int:
    """Create the signing key, or say that it exists (``archive demo`` and the first
    ``bundle`` create it too): running it again is no error and changes nothing."""
    from archive.errors import ConfigError

    with _open(args) as arc:
        try:
            ident, created = arc.identity(), False
        except ConfigError:  # no key yet (a half-made key makes init() refuse, exit 2)
            ident, created = arc.init(), True
    emit(args, {"origin": ident.origin, "fingerprint": ident.fingerprint, "vkey": ident.vkey,
                 "key_dir": str(arc.settings.key_dir), "created": created},
          lambda d: (f"created the signing key for {d['origin']} in {d['key_dir']}"
                     if d["created"] else
                     f"the signing key for {d['origin']} already exists in {d['key_dir']}; "
                     "nothing changed") +
                    f"\nfingerprint {d['fingerprint']}\nverifier key {d['vkey']}")
    return 0


def cmd_key(args: argparse.Namespace) -> int:
    from archive.proof.keys import public_key_pem

    with _open(args) as arc:
        ident = arc.identity()
    emit(args, {"origin": ident.origin, "fingerprint": ident.fingerprint, "vkey": ident.vkey,
                 "public_key_pem": public_key_pem(ident.public_key)},
          lambda d: f"origin      {d['origin']}\nfingerprint {d['fingerprint']}\n"
                    f"vkey        {d['vkey']}\n{d['public_key_pem'].rstrip()}")
    return 0


def cmd_checkpoint(args: argparse.Namespace) -> int:
    with _open(args) as arc:
        ckpt = arc.checkpoint(create_key=False)
    emit(args, ckpt.to_json(), lambda d: "\n".join([d["note"].rstrip()] + [
        f"timestamp from {t['tsa']}: authority time {t['gen_time']}, serial {t['serial']}"
        if "error" not in t else f"timestamp from {t['tsa']}: FAILED ({t['error']})"
        for t in d["timestamps"]]))
    return 0


def cmd_prove(args: argparse.Namespace) -> int:
    with _open(args) as arc:
        proofs = arc.prove(args.hash, args.checkpoint)

    def human(d: dict[str, Any]) -> str:
        c = d["checkpoint"]
        lines = [f"checkpoint {c['id']}: size {c['size']} root {c['root_hash']}"]
        for p in d["inclusion"]:
            lines.append(f"event #{p['seq']} {p['type']} {p['event_hash']}")
            lines += [f"  {h}" for h in p["proof"]]
        if d["not_yet_checkpointed"]:
            lines.append(f"{d['not_yet_checkpointed']} newer event(s) are not in this "
                         "checkpoint yet; run `archive checkpoint`")
        return "\n".join(lines)

    emit(args, proofs.to_json(), human)
    return 0


def cmd_consistency(args: argparse.Namespace) -> int:
    with _open(args) as arc:
        res = arc.consistency(args.old, args.new)
    emit(args, res.to_json(), lambda d: "\n".join(
        [f"{d['old']['size']} -> {d['new']['size']}: "
         f"{'consistent' if d['verified'] else 'NOT CONSISTENT'}"] + d["proof"]))
    return 0 if res.verified else EXIT_MISMATCH


def cmd_cite(args: argparse.Namespace) -> int:
    with _open(args) as arc:
        text = arc.cite(args.hash, args.format)
        gone = arc.withdrawn(c.capture_id for c in arc.resolve(args.hash))
    for cid, w in gone.items():
        print(f"archive: warning: {cid} was {w.line()}; the citation says so",
              file=sys.stderr)
    if args.json:
        print(json.dumps({"format": args.format, "citation": text}, indent=1,
                         ensure_ascii=False))
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_bundle(args: argparse.Namespace) -> int:
    from archive.core.files import atomic_write
    from archive.core.hashing import sha256_bytes

    with _open(args) as arc:
        data = arc.bundle(args.hash, checkpoint=args.checkpoint, create_key=False)
    if args.output == "-":
        sys.stdout.buffer.write(data)
        return 0
    path = Path(args.output)
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise ArchiveError(f"cannot write the bundle to {path}: {exc.strerror}") from exc
    doc = json.loads(data)
    info = {"file": str(path), "bytes": len(data), "sha256": sha256_bytes(data),
            "capture_id": doc["capture_id"], "events": len(doc["events"]),
            "records": sum(len(c["records"]) for c in doc["captures"]),
            "checkpoint": doc["checkpoint"].split("\n")[1]}
    emit(args, info, lambda d: (
        f"wrote {d['file']} ({d['bytes']} bytes, {d['sha256']}): capture {d['capture_id']}, "
        f"{d['records']} WARC records, {d['events']} custody events, checkpoint at size "
        f"{d['checkpoint']}"))
    return 0


def cmd_verify_bundle(args: argparse.Namespace) -> int:
    from archive.proof.bundle_verify import verify_bundle

    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        raise ArchiveError(f"cannot read {args.file}: {exc.strerror}") from exc
    report = verify_bundle(data, trusted_key=_trusted_keys(args), tsa_roots=_tsa_roots(args))
    emit(args, report.to_json(), lambda d: "\n".join(
        [c.line() for c in report.checks] + [report.summary()]))
    if not report.ok:
        return EXIT_MISMATCH
    return 0 if report.trusted else EXIT_UNTRUSTED


def _trusted_keys(args: argparse.Namespace) -> list[str] | None:
    """``--key``, else the keys listed in ARCHIVE_TRUSTED_KEYS, else None."""
    if args.key:
        return [args.key]
    from archive.core.config import Settings
    from archive.proof.checkpoint import read_trusted_keys

    keys_file = Settings.from_env().trusted_keys
    return read_trusted_keys(keys_file) if keys_file is not None else None


def cmd_export(args: argparse.Namespace) -> int:
    from archive.core.files import atomic_write
    from archive.core.hashing import sha256_bytes
    from archive.core.timeutil import parse_iso

    def moment(text: str | None, flag: str) -> Any:
        try:
            return parse_iso(text) if text else None
        except ValueError:
            raise ConfigError(f"{flag} {text!r} is not an ISO 8601 time") from None

    since, until = moment(args.since, "--since"), moment(args.until, "--until")
    with _open(args) as arc:
        ids = arc.select_captures(args.hashes, url=args.url, since=since, until=until,
                                  everything=args.all)
        data = arc.export_wacz(ids)
    path = Path(args.wacz)
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise StorageError(f"cannot write the WACZ to {path}: {exc.strerror}") from exc
    info = {"file": str(path), "bytes": len(data), "sha256": sha256_bytes(data),
            "captures": ids}
    emit(args, info, lambda d: f"wrote {d['file']} ({d['bytes']} bytes, {d['sha256']}): "
                               f"{len(d['captures'])} captures")
    return 0


def cmd_verify_wacz(args: argparse.Namespace) -> int:
    from archive.proof.wacz_verify import verify_wacz

    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {args.file}: {exc.strerror}") from exc
    report = verify_wacz(data, trusted_key=_trusted_keys(args), tsa_roots=_tsa_roots(args),
                         name=args.file)
    emit(args, report.to_json(), lambda d: "\n".join(
        [c.line() for c in report.checks] + [report.summary()]))
    if not report.ok:
        return EXIT_MISMATCH
    return 0 if report.trusted else EXIT_UNTRUSTED


def _tsa_roots(args: argparse.Namespace) -> list[Any]:
    """The TSA root certificates a user trusts: every ``--tsa-root`` PEM file, else the
    file ``ARCHIVE_TSA_ROOTS`` names, else none (tokens are then reported unchecked)."""
    from archive.core.config import Settings
    from archive.proof.timestamps import load_roots

    paths = [Path(p) for p in args.tsa_root or ()]
    if not paths:
        env_file = Settings.from_env().tsa_roots
        paths = [env_file] if env_file is not None else []
    roots = []
    for path in paths:
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read the TSA roots file {path}: {exc.strerror}",
                              path=path) from None
        roots += load_roots(pem, str(path))
    return roots


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

    with _open(args) as arc:
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
