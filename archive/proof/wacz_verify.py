"""Check a WACZ offline (``archive verify-wacz``, and ``archive import`` before it takes
a WACZ's WARCs into custody). No database, no network.

Trust flows as in a proof bundle: from the key fingerprint the reader holds, to our
Ed25519 note ``archiveSignatureNote`` in ``datapackage-digest.json`` (naming the hash of
``datapackage.json`` and the ECDSA key of the package signature), to the datapackage's
``sha256:`` of every file. Each proof bundle inside is verified as ``verify-bundle`` would, and each
exported WARC must be exactly its capture's bundled gzip members: so the WARCs are
proven by the custody log too, not only by the package signature.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from archive.core.hashing import hex_part, sha256_bytes
from archive.errors import ConfigError, IntegrityError
from archive.proof import checkpoint as cp
from archive.proof import keys as keymod
from archive.proof import notes as notemod
from archive.proof import timestamps as ts
from archive.proof import wacz_format as wf
from archive.proof.bundle_format import Check, Run
from archive.proof.bundle_verify import verify_bundle
from archive.proof.wacz_build import warc_of

MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class WaczReport:
    """Like :class:`~archive.proof.bundle_format.BundleReport`: ``verified`` only when no
    check failed *and* the archive's key is one the caller trusts."""

    checks: tuple[Check, ...]
    trusted: bool = False
    key_fingerprint: str | None = None
    captures: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(c.status in ("ok", "warn") for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    def summary(self) -> str:
        n = len(self.checks)
        if not self.ok:
            return f"FAILED: {len(self.failures)} of {n} checks failed"
        if not self.trusted:
            return (f"NOT VERIFIED: all {n} checks passed, but against the package's own key "
                    f"{self.key_fingerprint}, not one you trust (pass --key or list it in "
                    "ARCHIVE_TRUSTED_KEYS)")
        return f"verified: all {n} checks passed ({len(self.captures)} captures)"

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "trusted": self.trusted, "verified": self.ok and self.trusted,
                "key_fingerprint": self.key_fingerprint, "captures": list(self.captures),
                "checks": [c.to_json() for c in self.checks], "summary": self.summary()}


def read_entries(data: bytes, name: str = "the WACZ") -> dict[str, bytes]:
    """Every file of the ZIP by path; :class:`IntegrityError` when it is not one."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
            if len(infos) > MAX_ENTRIES:
                raise IntegrityError(f"{name}: more than {MAX_ENTRIES} files")
            out: dict[str, bytes] = {}
            for info in infos:
                if info.is_dir():
                    continue
                if info.filename in out:
                    raise IntegrityError(f"{name}: {info.filename} appears twice")
                out[info.filename] = z.read(info)
            return out
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise IntegrityError(f"{name} is not a readable ZIP file ({exc})") from None


def package_checks(files: Mapping[str, bytes]) -> tuple[list[Check], dict[str, Any] | None]:
    """The data-package checks every WACZ reader makes: each listed file present with
    its size and ``sha256:``, nothing unlisted, the digest file's hash of
    ``datapackage.json``, and its signature (when there is one). Returns the checks and
    ``signedData`` (None when absent or unreadable). Every message names the file."""
    run = Run()
    try:
        dp = json.loads(files[wf.DATAPACKAGE])
        resources = dp["resources"]
        listed = {r["path"]: r for r in resources}
    except KeyError:
        run.add("datapackage", "fail", f"{wf.DATAPACKAGE} is missing or has no resources")
        return run.checks, None
    except (ValueError, TypeError):
        run.add("datapackage", "fail", f"{wf.DATAPACKAGE} is not a WACZ data package")
        return run.checks, None
    bad = []
    for path, res in sorted(listed.items()):
        body = files.get(path)
        if body is None:
            bad.append(f"{path} is listed in {wf.DATAPACKAGE} but missing")
        elif str(res.get("hash")) != sha256_bytes(body):
            bad.append(f"{path} does not match its sha256 in {wf.DATAPACKAGE}")
        elif res.get("bytes") is not None and res.get("bytes") != len(body):
            bad.append(f"{path} has {len(body)} bytes, {wf.DATAPACKAGE} says {res['bytes']}")
    bad += [f"{p} is in the package but not listed in {wf.DATAPACKAGE}"
            for p in sorted(set(files) - set(listed) - set(wf.UNLISTED))]
    run.add("files", "fail" if bad else "ok",
            "; ".join(bad[:5]) + (f" (and {len(bad) - 5} more)" if len(bad) > 5 else "")
            if bad else f"all {len(listed)} files match {wf.DATAPACKAGE}")
    dp_hash = sha256_bytes(files[wf.DATAPACKAGE])
    if wf.DIGEST not in files:
        run.add("signature", "warn", f"unsigned: no {wf.DIGEST}")
        return run.checks, None
    try:
        digest = json.loads(files[wf.DIGEST])
        signed = digest.get("signedData")
        declared = digest["hash"]
    except (ValueError, KeyError, AttributeError, TypeError):
        run.add("datapackage-digest", "fail", f"{wf.DIGEST} is not readable")
        return run.checks, None
    if declared != dp_hash:
        run.add("datapackage-digest", "fail",
                f"{wf.DIGEST} gives {declared} for {wf.DATAPACKAGE}, which hashes to {dp_hash}")
        return run.checks, None
    run.add("datapackage-digest", "ok", f"{wf.DATAPACKAGE} is {dp_hash}")
    if not isinstance(signed, dict):
        run.add("signature", "warn", f"{wf.DIGEST} carries no signedData")
        return run.checks, None
    why = (f"signedData.hash is not the hash of {wf.DATAPACKAGE}"
           if signed.get("hash") != dp_hash else wf.check_signed_data(signed))
    run.add("signature", "fail" if why else "ok",
            f"{wf.DIGEST}: {why}" if why else
            f"{wf.DIGEST}: ECDSA signature verifies under its publicKey")
    return run.checks, (signed if why is None else None)


def first_problem(files: Mapping[str, bytes]) -> str | None:
    """The first failed package check's message (what ``import`` refuses with)."""
    checks, _ = package_checks(files)
    return next((c.message for c in checks if c.status == "fail"), None)


def checked_warcs(path: Path) -> dict[str, bytes]:
    """The WARC files of the WACZ at ``path`` (name -> bytes), once every file matches
    its ``sha256`` in ``datapackage.json`` and the package signature (when there is one)
    verifies: what ``archive import`` takes into custody. Otherwise
    :class:`IntegrityError` naming the problem; an unreadable file is a
    :class:`ConfigError`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", path=path) from exc
    files = read_entries(data, str(path))
    problem = first_problem(files)
    if problem is not None:
        raise IntegrityError(f"{path}: refused: {problem}", path=path)
    warcs = {p: files[p] for p in sorted(files) if p.startswith("archive/")
             and p.endswith((".warc", ".warc.gz"))}
    if not warcs:
        raise IntegrityError(f"{path}: refused: no WARC file under archive/", path=path)
    return warcs


def verify_wacz(data: bytes, *, trusted_key: str | Sequence[str] | None = None,
                tsa_roots: Sequence[x509.Certificate] = (),
                name: str = "the WACZ") -> WaczReport:
    """Every check of the package, our key binding, each proof bundle inside and each
    checkpoint's timestamp tokens (against ``tsa_roots``, as ``verify-bundle`` does:
    without roots a token is reported unchecked); never raises for a bad package (every
    problem is a failed check)."""
    try:
        files = read_entries(data, name)
    except IntegrityError as exc:
        return WaczReport((Check("zip", "fail", str(exc)),))
    checks, signed = package_checks(files)
    run = Run(list(checks))
    bundles = {p: b for p, b in files.items()
               if p.startswith(wf.PROOFS) and p.endswith(wf.BUNDLE_SUFFIX)}
    if not bundles:
        run.add("bundles", "fail", f"no proof bundle under {wf.PROOFS}")
        return WaczReport(tuple(run.checks))
    trusted = [trusted_key] if isinstance(trusted_key, str) else trusted_key
    fingerprints, captures = set(), []
    notes = {files[p].decode("utf-8", "replace") for p in files if p.startswith(wf.CHECKPOINTS)}
    vkey = None
    for path in sorted(bundles):
        report = verify_bundle(bundles[path], trusted_key=trusted, tsa_roots=tsa_roots)
        first = report.failures[0] if report.failures else None
        run.add(f"bundle {path}", "fail" if first else "ok",
                f"{first.name}: {first.message}" if first else report.summary())
        if report.key_fingerprint:
            fingerprints.add((report.key_fingerprint, report.trusted))
        if first:
            continue
        doc = json.loads(bundles[path])
        vkey = doc["key"]["vkey"]
        captures.append(doc["capture_id"])
        _check_warcs(run, path, doc, files)
        if doc["checkpoint"] not in notes:
            run.add(f"checkpoint of {path}", "fail",
                    f"the checkpoint it refers to is not under {wf.CHECKPOINTS}")
    if len(fingerprints) > 1:
        run.add("key", "fail", "the bundles are signed by different keys")
    fp, trusted_ok = next(iter(fingerprints)) if len(fingerprints) == 1 else (None, False)
    _check_binding(run, files, signed, vkey)
    _check_tokens(run, files, tsa_roots)
    return WaczReport(tuple(run.checks), trusted=bool(trusted) and trusted_ok,
                      key_fingerprint=fp, captures=tuple(captures))


def _check_warcs(run: Run, path: str, doc: dict[str, Any], files: Mapping[str, bytes]) -> None:
    for part in doc["captures"]:
        warc = f"archive/{hex_part(part['capture_id'])}.warc.gz"
        if files.get(warc) != warc_of(part):
            run.add(warc, "fail", f"is not the gzip members bundled in {path}")
        else:
            run.add(warc, "ok", f"exactly the {len(part['records'])} records bundled in {path}")


def _check_tokens(run: Run, files: Mapping[str, bytes],
                  roots: Sequence[x509.Certificate]) -> None:
    """Each ``checkpoints/*.tsr``: named for its note and its own hash, a token over
    that note, by a TSA under one of ``roots`` (the authority's time is shown)."""
    notes = {p.removeprefix(wf.CHECKPOINTS): files[p].decode("utf-8", "replace")
             for p in files if p.startswith(wf.CHECKPOINTS) and p.endswith(notemod.SUFFIX)}
    for path in sorted(p for p in files if p.startswith(wf.CHECKPOINTS)
                       and p.endswith(notemod.STAMP_SUFFIX)):
        token_name, reply = path.removeprefix(wf.CHECKPOINTS), files[path]
        note_name = notemod.token_note_stem(token_name) + notemod.SUFFIX
        note = notes.get(note_name)
        if note is None:
            run.add(path, "fail", f"no checkpoint {wf.CHECKPOINTS}{note_name} for this token")
            continue
        if not notemod.matches_name(note_name, note):
            run.add(path, "fail", f"its note {note_name} is not named for its content")
            continue
        size = int(note_name.split("-", 1)[0])
        if notemod.token_filename(size, note, reply) != token_name:
            run.add(path, "fail", "its name is not its note's and its own hash")
            continue
        try:
            if not roots:
                facts = ts.token_facts(reply, note)
                run.add(path, "warn", f"authority time {facts.gen_time} (serial "
                                      f"{facts.serial}), NOT CHECKED: no TSA root given "
                                      "(--tsa-root or ARCHIVE_TSA_ROOTS)")
                continue
            facts = ts.verify_token(reply, note, roots)
        except IntegrityError as exc:
            run.add(path, "fail", str(exc))
            continue
        run.add(path, "ok", f"authority time {facts.gen_time} (serial {facts.serial}): "
                            f"{note_name} existed then, signed by a TSA under a root you gave")


def _check_binding(run: Run, files: Mapping[str, bytes], signed: dict[str, Any] | None,
                   vkey: str | None) -> None:
    """Our Ed25519 note names the datapackage hash and the ECDSA key that signed it."""
    if signed is None or vkey is None:
        run.add("archive signature", "skip", "needs a verified signature and a verified bundle")
        return
    try:
        note = json.loads(files[wf.DIGEST]).get(wf.BINDING)
    except (KeyError, ValueError, AttributeError):
        note = None
    if not isinstance(note, str):
        run.add("archive signature", "fail", f"{wf.DIGEST} has no {wf.BINDING}: nothing "
                "ties the package signature to the archive's key")
        return
    try:
        name, public_key = cp.parse_vkey(vkey)
        text = cp.open_note(note, public_key, name)
    except (ConfigError, IntegrityError) as exc:
        run.add("archive signature", "fail",
                f"{wf.DIGEST}: {wf.BINDING} does not verify under the archive's key: {exc}")
        return
    if text != wf.binding_text(signed["hash"], signed["publicKey"]):
        run.add("archive signature", "fail",
                f"{wf.DIGEST}: {wf.BINDING} names another datapackage hash or key")
        return
    run.add("archive signature", "ok",
            f"the archive's key {keymod.fingerprint(public_key)} signed {wf.DATAPACKAGE} "
            f"{signed['hash']} and the package key")


__all__ = ["WaczReport", "first_problem", "package_checks", "read_entries", "verify_wacz"]
