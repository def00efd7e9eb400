"""``archive``: the command line. A thin layer over ``archive.api.Archive``; the exit
codes it promises are :data:`EXIT_CODES` (also the end of ``archive --help``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence

from archive.cli.commands import (
    cmd_capture,
    cmd_delete,
    cmd_demo,
    cmd_diff,
    cmd_extract,
    cmd_fixity,
    cmd_import,
    cmd_ingest,
    cmd_list,
    cmd_metadata,
    cmd_reconcile,
    cmd_screenshot,
    cmd_serve,
    cmd_show,
    cmd_sources_add,
    cmd_verify,
)
from archive.cli.proofs import (
    cmd_bundle,
    cmd_checkpoint,
    cmd_cite,
    cmd_consistency,
    cmd_export,
    cmd_init,
    cmd_key,
    cmd_prove,
    cmd_verify_bundle,
    cmd_verify_wacz,
)
from archive.core.config import CAPTURE_MODES
from archive.core.version import SOFTWARE
from archive.errors import ArchiveError

EXIT_PIPE = 141  # what a shell reports for a command ended by SIGPIPE

EXIT_CODES = """\
exit codes:
  0    success
  1    an unexpected error
  2    bad arguments or settings
  3    a capture failed or is not a complete article (HTTP error, truncated)
  4    storage failure (disk full, fsync error, unreadable store)
  5    verification found a mismatch (hash, record, manifest or custody chain)
  6    no capture matches the hash given (or a prefix is ambiguous)
  7    the custody database failed
  8    verify-bundle, verify-wacz: every check passed, but not against a key you trust (give --key
       or list the archive's key in ARCHIVE_TRUSTED_KEYS)
  141  the reader stopped reading (e.g. piped into head); nothing is changed by it"""


def _trust_arguments(sp: argparse.ArgumentParser, tokens: str) -> None:
    """``--key`` and ``--tsa-root``: what an offline verifier (``verify-bundle``,
    ``verify-wacz``) is told to trust; ``tokens`` names the timestamps it checks."""
    sp.add_argument("--key", metavar="FINGERPRINT_OR_VKEY",
                    help="the archive's key fingerprint (sha256:...) or verifier key, obtained "
                         "independently (default: the keys in ARCHIVE_TRUSTED_KEYS); without "
                         "a trusted key every other check runs and the exit code is 8")
    sp.add_argument("--tsa-root", action="append", metavar="PEM",
                    help="PEM file of time-stamping authority root certificates to check "
                         f"{tokens} against (repeatable; default: the file ARCHIVE_TSA_ROOTS "
                         "names); a token that does not verify exits 5")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="archive", description="Provenance-aware web archive.",
                                epilog=EXIT_CODES, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--version", action="version", version=SOFTWARE)
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Callable[[argparse.Namespace], int], help_: str
            ) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("--json", action="store_true", help="machine-readable output")
        sp.set_defaults(func=fn)
        return sp

    sp = add("capture", cmd_capture, "fetch URLs and store them as WARC under custody")
    sp.add_argument("urls", nargs="*", metavar="URL")
    sp.add_argument("--sources", metavar="FILE", help="also capture every URL in a sources.yaml")
    sp.add_argument("--mode", choices=CAPTURE_MODES, default=None,
                    help="html: the document alone; page (default): with its stylesheets, "
                         "images, scripts and fonts; browser: rendered in Chromium, with the "
                         "DOM and a screenshot (a source's own mode: wins)")
    sp.add_argument("--allow-private-networks", action="store_true",
                    help="permit loopback and private addresses (recorded in provenance)")
    sp.add_argument("--insecure", action="store_true",
                    help="do not verify TLS certificates (recorded as tls_verified: false)")
    sp.add_argument("--concurrency", type=int, default=4, help="fetches at once per process")
    sp.add_argument("--processes", type=int, default=min(os.cpu_count() or 1, 4),
                    help="worker processes for long URL lists (default: CPUs, at most 4); "
                         "one host is still fetched at most once at a time")
    sp.add_argument("--ignore-robots", metavar="REASON",
                    help="capture even where robots.txt disallows; the reason is recorded")

    sp.add_argument("--no-metadata", action="store_true", help="skip metadata extraction")

    sp = add("ingest", cmd_ingest, "store local documents as WARC resource records")
    sp.add_argument("--no-metadata", action="store_true", help="skip metadata extraction")
    sp.add_argument("files", nargs="+", metavar="FILE")
    sp.add_argument("--url", help="the document's original URL, if it had one")
    sp.add_argument("--content-type", help="override the detected media type")

    sp = add("extract", cmd_extract, "extract article metadata from any file (no database)")
    sp.add_argument("file")
    sp.add_argument("--url", help="the page's URL (helps with dates and the outlet)")
    sp.add_argument("--content-type", help="declared media type, e.g. 'text/html; charset=utf-8'")

    sp = add("metadata", cmd_metadata, "show the metadata stored for a capture")
    sp.add_argument("hash")
    sp.add_argument("--all-versions", action="store_true", help="every extractor version")

    sp = add("list", cmd_list, "list captures, newest first (by capture time)")
    sp.add_argument("--limit", type=int, default=None)

    sp = add("show", cmd_show, "show a capture by capture id or content hash (a prefix will do)")
    sp.add_argument("hash")

    sp = add("screenshot", cmd_screenshot, "write a browser capture's full-page screenshot "
                                           "(PNG, checked against its record)")
    sp.add_argument("hash")
    sp.add_argument("-o", "--output", required=True, metavar="FILE")

    sp = add("verify", cmd_verify, "re-hash stored bytes and check them against the database")
    sp.add_argument("hash", nargs="?", help="only this capture (default: everything)")
    sp.add_argument("--deep", action="store_true", help="re-hash every record, not only files")
    sp.add_argument("--no-reconcile", action="store_true",
                    help="do not adopt or quarantine orphaned files first")
    sp = add("import", cmd_import, "bring existing WARC files (or a WACZ's) under custody "
                                   "(digests checked)")
    sp.add_argument("files", nargs="+", metavar="FILE.warc[.gz]|FILE.wacz")
    sp.add_argument("--accept-partial", action="store_true",
                    help="store a file whose later records are broken, marked partial")
    sp = add("delete", cmd_delete, "withdraw a capture with a tombstone event (bytes are kept)")
    sp.add_argument("hash")
    sp.add_argument("--reason", required=True, help="why (recorded in the custody log)")
    sp.add_argument("--person", help="who asked (default: ARCHIVE_OPERATOR)")
    add("reconcile", cmd_reconcile, "adopt complete orphaned WARC files, quarantine the rest")
    add("fixity", cmd_fixity, "re-hash every stored file and record a fixity-check event each")

    sp = add("sources-add", cmd_sources_add, "add a URL to a sources.yaml")
    sp.add_argument("url")
    sp.add_argument("--file", default="sources.yaml")
    sp.add_argument("--label")
    sp.add_argument("--outlet")

    add("init", cmd_init, "create the archive's Ed25519 signing key (once)")
    add("key", cmd_key, "show the public key, its fingerprint and verifier key")
    add("checkpoint", cmd_checkpoint, "sign the custody log's current head")
    sp = add("prove", cmd_prove, "inclusion proofs of a capture's custody events")
    sp.add_argument("hash")
    sp.add_argument("--checkpoint", default="latest", help="checkpoint id, size:N or latest")
    sp = add("consistency", cmd_consistency, "consistency proof between two checkpoints")
    sp.add_argument("old", help="checkpoint id or size:N")
    sp.add_argument("new", nargs="?", default="latest")

    sp = add("cite", cmd_cite, "cite a capture (original URL, capture time, content hash, "
                               "capture id)")
    sp.add_argument("hash")
    sp.add_argument("--format", default="text",
                    choices=["text", "bibtex", "csl-json", "ris", "robust-link"])
    sp = add("bundle", cmd_bundle, "write a capture's self-contained proof bundle (JSON)")
    sp.add_argument("hash")
    sp.add_argument("-o", "--output", required=True, metavar="FILE", help="'-' for stdout")
    sp.add_argument("--checkpoint", default=None,
                    help="checkpoint id, size:N or latest (default: latest, signing a new "
                         "one if the capture's newest event is not in it)")
    sp = add("verify-bundle", cmd_verify_bundle,
             "check a proof bundle offline (no database, no network)")
    sp.add_argument("file", metavar="FILE", help="'-' for stdin")
    _trust_arguments(sp, "the bundle's RFC 3161 tokens")

    sp = add("export", cmd_export, "write captures as one signed WACZ (WARCs, CDXJ index, "
                                   "pages, proof bundles)")
    sp.add_argument("hashes", nargs="*", metavar="HASH",
                    help="capture ids or content hashes (a prefix will do)")
    sp.add_argument("--wacz", required=True, metavar="OUT.wacz", help="the file to write")
    sp.add_argument("--url", help="every capture of this URL")
    sp.add_argument("--since", metavar="TIME", help="captures made at or after (ISO 8601)")
    sp.add_argument("--until", metavar="TIME", help="captures made before (ISO 8601)")
    sp.add_argument("--all", action="store_true", help="every capture")
    sp = add("verify-wacz", cmd_verify_wacz,
             "check a WACZ offline: every file digest, the signature, the proof bundles")
    sp.add_argument("file", metavar="FILE")
    _trust_arguments(sp, "the RFC 3161 tokens of its checkpoints")
    sp = add("diff", cmd_diff, "what changed in the article text between two captures "
                               "(sentence by sentence; older first)")
    sp.add_argument("old", metavar="HASH")
    sp.add_argument("new", metavar="HASH")
    sp = add("serve", cmd_serve, "the read-only web resolver: search, capture pages with "
                                 "proofs, Memento replay (on port + 1), history")
    sp.add_argument("--host", default="127.0.0.1",
                    help="address to bind (default: loopback only)")
    sp.add_argument("--port", type=int, default=8080,
                    help="resolver port (default 8080); replay uses the next one")

    add("demo", cmd_demo, "serve the bundled example news site and archive it end to end")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        # The reader stopped (``archive list | head``): not an error of ours. Point
        # stdout at /dev/null so the interpreter's final flush has nowhere to fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE
    except ArchiveError as exc:
        if getattr(args, "json", False):
            print(json.dumps(exc.to_dict()))
        print(f"archive: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("archive: interrupted", file=sys.stderr)
        return 130
