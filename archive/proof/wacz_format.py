"""WACZ 1.1.1 packages: the pure parts (SURT keys, CDXJ lines, pages, the datapackage,
a byte-reproducible ZIP, and the signature of ``datapackage.json``).

Layout of an export (specs.webrecorder.net/wacz/1.1.1)::

    archive/<capture-hex>.warc.gz     one per exported capture (and per revisit original):
                                      the capture's gzip members exactly as stored, in
                                      manifest order, so every WARC digest still holds
    indexes/index.cdx                 CDXJ, sorted; provenance metadata records are keyed
                                      by their ``urn:provenance-archive:provenance:`` target,
                                      never by the page's SURT, so they do not shadow it
    pages/pages.jsonl                 URL, capture time (``ts``), title
    proofs/<capture-hex>.bundle.json  the capture's proof bundle (``archive bundle``)
    checkpoints/<name>.note           each signed checkpoint a bundle refers to
    datapackage.json                  path, byte size and ``sha256:`` hash of all the above
    datapackage-digest.json           the hash of datapackage.json, signed (wacz-auth 0.1.0),
                                      and in ``archiveSignatureNote`` our Ed25519 signed note
                                      binding that signature's key and the datapackage hash
                                      to the archive's key

Signing. The WACZ signing spec (wacz-auth 0.1.0) allows two forms of ``signedData``: an
*anonymous* signature with an ECDSA ``publicKey``, or a domain certificate plus an RFC 3161
time signature. Ed25519 is in neither. We use the anonymous form with an ECDSA P-384 key
*derived* from the archive's Ed25519 private key (HKDF-SHA256, fixed label), signing the
UTF-8 text of ``hash`` with SHA-256 deterministically (RFC 6979), the signature as raw
``r||s`` (IEEE P1363, what WebCrypto verifies) in base64, the key as base64 SPKI DER. The
spec names no curve, but its readers do: ReplayWeb.page (wabac.js) imports an anonymous
``publicKey`` as ECDSA P-384 only (what ArchiveWeb.page signs with), so a P-256 key is
silently left unverified there. An
anonymous key proves nothing about who signed, so ``archiveSignatureNote`` (a
c2sp.org signed note by the archive's Ed25519 key, the key verify-bundle trusts) names the
datapackage hash and that ECDSA key: trust flows from the fingerprint a reader holds.

Reproducible: every timestamp inside comes from the archive's records (the newest capture
time), ZIP entries are sorted, stored (no compression, as the spec requires for WARCs),
dated 1980-01-01 and carry fixed attributes; deterministic ECDSA makes the signature
stable too.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from archive.core.hashing import sha256_bytes

WACZ_VERSION = "1.1.1"
DATAPACKAGE = "datapackage.json"
DIGEST = "datapackage-digest.json"
BINDING = "archiveSignatureNote"
"""The field of datapackage-digest.json holding our Ed25519 signed note (WACZ readers
refuse a file datapackage.json does not list, and it cannot list this one)."""
INDEX = "indexes/index.cdx"
PAGES = "pages/pages.jsonl"
PROOFS = "proofs/"
CHECKPOINTS = "checkpoints/"
BUNDLE_SUFFIX = ".bundle.json"
UNLISTED = (DATAPACKAGE, DIGEST)
"""The files datapackage.json cannot list (they name its hash)."""
PROVENANCE_URN = "urn:provenance-archive:provenance:"
BINDING_HEADER = "provenance-archive/wacz-signature v1"
_HKDF_INFO = b"provenance-archive wacz ecdsa-p384 v1"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_P384_N = int("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf"
              "581a0db248b0a77aecec196accc52973", 16)
# the curves check_signed_data accepts (by OpenSSL name), with each one's binding label
# and its coordinate size; P-256 packages were written before ReplayWeb.page was tested
_CURVES = {"secp384r1": ("ecdsa-p384", 48), "secp256r1": ("ecdsa-p256", 32)}
_INDEXED = ("response", "resource", "revisit", "metadata")


# ------------------------------------------------------------------ index and pages

def surt(url: str) -> str:
    """The SURT form of ``url`` that CDXJ indexes sort by: host labels reversed and
    comma-joined (``www.`` dropped, lower case, default ports dropped), ``)``, then the
    path and query (query parameters sorted). A ``urn:`` target is kept whole, so our
    provenance records sort apart from the page they describe."""
    if url.startswith("urn:"):
        return url.lower()
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().strip(".")
    if host.startswith("www."):
        host = host[4:]
    labels = ",".join(reversed(host.split("."))) if host else ""
    port = parts.port
    if port is not None and (parts.scheme, port) not in (("http", 80), ("https", 443)):
        labels += f":{port}"
    path = parts.path or "/"
    query = "&".join(sorted(parts.query.split("&"))) if parts.query else ""
    return f"{labels}){path.lower()}" + (f"?{query.lower()}" if query else "")


def timestamp14(iso: str) -> str:
    """``2026-12-02T05:35:49.7Z`` -> ``20261202053549`` (CDXJ's timestamp)."""
    return "".join(ch for ch in iso if ch.isdigit())[:14]


@dataclass(frozen=True)
class IndexedRecord:
    """One WARC record of an exported file, as the CDXJ index names it."""

    target_uri: str
    date: str
    type: str
    offset: int
    length: int
    filename: str
    mime: str | None = None
    status: int | None = None
    digest: str | None = None


def cdxj_lines(records: Iterable[IndexedRecord]) -> bytes:
    """The sorted CDXJ index of the records that replay or describe a page (warcinfo and
    request records are left out); one ``<surt> <timestamp> <json>`` line each."""
    lines = []
    for r in records:
        if r.type not in _INDEXED:
            continue
        body: dict[str, Any] = {"url": r.target_uri, "offset": r.offset, "length": r.length,
                                "filename": r.filename, "recordType": r.type}
        if r.mime:
            body["mime"] = r.mime
        if r.status is not None:
            body["status"] = str(r.status)
        if r.digest:
            body["digest"] = r.digest
        lines.append(f"{surt(r.target_uri)} {timestamp14(r.date)} "
                     f"{json.dumps(body, sort_keys=True, separators=(',', ':'))}\n")
    return "".join(sorted(lines)).encode("utf-8")


def pages_jsonl(pages: Iterable[Mapping[str, Any]]) -> bytes:
    """``pages/pages.jsonl``: the header line, then one page a line (``id``, ``url``,
    ``ts``, and ``title`` when known), sorted by time then id."""
    head = {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}
    rows = sorted(pages, key=lambda p: (p["ts"], p["id"]))
    return "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n"
                   for r in [head, *rows]).encode("utf-8")


def datapackage(files: Mapping[str, bytes], *, created: str, title: str,
                software: str, main_page: Mapping[str, Any] | None) -> bytes:
    """``datapackage.json``: every file's path, size and ``sha256:`` hash (sorted by
    path), the WACZ version and the package's creation time."""
    resources = [{"name": path.rsplit("/", 1)[-1], "path": path,
                  "hash": sha256_bytes(data), "bytes": len(data)}
                 for path, data in sorted(files.items())]
    doc: dict[str, Any] = {"profile": "data-package", "wacz_version": WACZ_VERSION,
                           "title": title, "created": created, "software": software,
                           "resources": resources}
    if main_page:
        doc["mainPageUrl"] = main_page["url"]
        doc["mainPageDate"] = main_page["ts"]
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")


# -------------------------------------------------------------------------- the ZIP

def write_zip(files: Mapping[str, bytes]) -> bytes:
    """A ZIP of ``files``, byte-reproducible: sorted names, every entry stored, dated
    1980-01-01 with fixed attributes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            z.writestr(info, files[name])
    return out.getvalue()


# --------------------------------------------------------------------- the signature

def wacz_signing_key(ed25519: Ed25519PrivateKey) -> ec.EllipticCurvePrivateKey:
    """The archive's ECDSA P-384 WACZ key, derived from its Ed25519 private key (so there
    is no second secret to keep; HKDF is one-way, so it reveals nothing of the first).
    64 bytes of HKDF output reduced modulo the group order keep the bias negligible."""
    raw = ed25519.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    okm = HKDF(hashes.SHA256(), 64, salt=None, info=_HKDF_INFO).derive(raw)
    scalar = int.from_bytes(okm, "big") % (_P384_N - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP384R1())


def spki_b64(public_key: ec.EllipticCurvePublicKey) -> str:
    return base64.b64encode(public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode("ascii")


def signed_data(dp_hash: str, key: ec.EllipticCurvePrivateKey, *, created: str,
                software: str) -> dict[str, str]:
    """The anonymous ``signedData`` of wacz-auth 0.1.0 over ``dp_hash``."""
    der = key.sign(dp_hash.encode("ascii"), ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    size = _CURVES[key.curve.name][1]
    raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return {"hash": dp_hash, "created": created, "software": software,
            "signature": base64.b64encode(raw).decode("ascii"),
            "publicKey": spki_b64(key.public_key())}


def check_signed_data(sig: Mapping[str, Any]) -> str | None:
    """None when ``signature`` is a valid ECDSA P-384 (or P-256) SHA-256 signature of
    ``hash`` under ``publicKey`` (raw ``r||s`` or DER); otherwise why not."""
    try:
        key = serialization.load_der_public_key(base64.b64decode(sig["publicKey"], validate=True))
        signature = base64.b64decode(sig["signature"], validate=True)
        message = str(sig["hash"]).encode("utf-8")
    except (KeyError, ValueError, TypeError):
        return "signedData has no readable hash, signature and publicKey"
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _CURVES:
        return "signedData.publicKey is not an ECDSA P-384 or P-256 key"
    size = _CURVES[key.curve.name][1]
    if len(signature) == 2 * size:
        signature = encode_dss_signature(int.from_bytes(signature[:size], "big"),
                                         int.from_bytes(signature[size:], "big"))
    try:
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return "signedData.signature does not verify under signedData.publicKey"
    return None


def binding_text(dp_hash: str, public_key_b64: str) -> str:
    """The text our Ed25519 note signs: the datapackage hash and the ECDSA key (its
    label names its curve; an unreadable key gets the P-384 label, and fails elsewhere)."""
    label = "ecdsa-p384"
    try:
        key = serialization.load_der_public_key(base64.b64decode(public_key_b64, validate=True))
        if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _CURVES:
            label = _CURVES[key.curve.name][0]
    except (ValueError, UnsupportedAlgorithm):
        pass
    return f"{BINDING_HEADER}\n{DATAPACKAGE} {dp_hash}\n{label} {public_key_b64}\n"


__all__ = ["BINDING", "CHECKPOINTS", "DATAPACKAGE", "DIGEST", "INDEX", "PAGES",
           "PROVENANCE_URN", "UNLISTED", "IndexedRecord", "binding_text", "cdxj_lines",
           "check_signed_data", "datapackage", "pages_jsonl", "signed_data", "surt",
           "timestamp14", "wacz_signing_key", "write_zip"]
