"""The ``archive`` subcommands that prove: the signing key, checkpoints, inclusion and
consistency proofs, citations, proof bundles and WACZ packages, and their offline
verifiers (which need no archive: a bundle or a WACZ and the key a user trusts).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from archive.cli.commands import EXIT_MISMATCH, EXIT_UNTRUSTED, open_archive
from archive.cli.output import emit
from archive.core.config import Settings
from archive.core.files import atomic_write
from archive.core.hashing import sha256_bytes
from archive.core.timeutil import parse_iso
from archive.errors import ArchiveError, ConfigError, StorageError


def cmd_init(args: argparse.Namespace) -> int:
    """Create the signing key, or say that it exists (``archive demo`` and the first
    ``bundle`` create it too): running it again is no error and changes nothing."""
    with open_archive(args) as arc:
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

    with open_archive(args) as arc:
        ident = arc.identity()
    emit(args, {"origin": ident.origin, "fingerprint": ident.fingerprint, "vkey": ident.vkey,
                 "public_key_pem": public_key_pem(ident.public_key)},
          lambda d: f"origin      {d['origin']}\nfingerprint {d['fingerprint']}\n"
                    f"vkey        {d['vkey']}\n{d['public_key_pem'].rstrip()}")
    return 0


def cmd_checkpoint(args: argparse.Namespace) -> int:
    with open_archive(args) as arc:
        ckpt = arc.checkpoint(create_key=False)
    emit(args, ckpt.to_json(), lambda d: "\n".join([d["note"].rstrip()] + [
        f"timestamp from {t['tsa']}: authority time {t['gen_time']}, serial {t['serial']}"
        if "error" not in t else f"timestamp from {t['tsa']}: FAILED ({t['error']})"
        for t in d["timestamps"]]))
    return 0


def cmd_prove(args: argparse.Namespace) -> int:
    with open_archive(args) as arc:
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
    with open_archive(args) as arc:
        res = arc.consistency(args.old, args.new)
    emit(args, res.to_json(), lambda d: "\n".join(
        [f"{d['old']['size']} -> {d['new']['size']}: "
         f"{'consistent' if d['verified'] else 'NOT CONSISTENT'}"] + d["proof"]))
    return 0 if res.verified else EXIT_MISMATCH


def cmd_cite(args: argparse.Namespace) -> int:
    with open_archive(args) as arc:
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
    with open_archive(args) as arc:
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
    from archive.proof.checkpoint import read_trusted_keys

    keys_file = Settings.from_env().trusted_keys
    return read_trusted_keys(keys_file) if keys_file is not None else None


def cmd_export(args: argparse.Namespace) -> int:
    def moment(text: str | None, flag: str) -> Any:
        try:
            return parse_iso(text) if text else None
        except ValueError:
            raise ConfigError(f"{flag} {text!r} is not an ISO 8601 time") from None

    since, until = moment(args.since, "--since"), moment(args.until, "--until")
    with open_archive(args) as arc:
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
