"""RFC 3161 trusted timestamps over signed checkpoint notes (pure: no network, no DB).

Our own signature says *what* the custody log held; only our clock says *when*, and
whoever holds our key could sign a back-dated checkpoint. A time-stamping authority
(TSA) signs ``(SHA-256 of the note bytes exactly as signed, its own time)``, and since a
checkpoint commits to every custody event before it, each token dates every WARC file
hash logged before that checkpoint.

What we keep of a TSA's answer is the whole DER ``TimeStampResp`` (what ``openssl ts
-reply`` writes and ``openssl ts -verify -in`` reads): a third party can check it
without our code. The ASN.1 is rfc3161-client's (Trail of Bits, Apache-2.0); nothing
here parses DER by hand.

Every failure is an :class:`~archive.errors.IntegrityError` with a one-line reason.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from archive.core.hashing import PREFIX, sha256_bytes
from archive.core.timeutil import iso_utc
from archive.errors import ConfigError, IntegrityError, one_line

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
MAX_REPLY_BYTES = 256 * 1024
"""A TSA's answer over this size is refused (a token with its chain is a few KiB)."""

_SHA256_OID = x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")


@dataclass(frozen=True)
class Timestamp:
    """One TSA's answer to one checkpoint: a token, or why there is none.

    ``response`` is the DER TimeStampResp; ``gen_time`` (UTC ISO 8601) and ``serial``
    (decimal) are read from it. A failure has ``error`` set and no response.
    """

    tsa: str
    requested_at: str
    response: bytes | None = None
    gen_time: str | None = None
    serial: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.response is not None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tsa": self.tsa, "requested_at": self.requested_at}
        if self.response is not None:
            out.update(gen_time=self.gen_time, serial=self.serial,
                       token_sha256=sha256_bytes(self.response))
        else:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class TokenFacts:
    """What a verified or merely parsed token says."""

    gen_time: str  # UTC ISO 8601
    serial: str
    tsa_name: str | None


def note_imprint(note: str) -> bytes:
    """The message imprint of a note: SHA-256 of its UTF-8 bytes exactly as signed."""
    return hashlib.sha256(note.encode("utf-8")).digest()


def build_request(note: str) -> tuple[bytes, int]:
    """The DER TimeStampReq over ``note`` (SHA-256, certReq, a fresh nonce) and its nonce."""
    request = (TimestampRequestBuilder().data(note.encode("utf-8"))
               .hash_algorithm(HashAlgorithm.SHA256).nonce(nonce=True)
               .cert_request(cert_request=True).build())
    nonce = request.nonce
    if nonce is None:  # the builder always sets one when asked; never send without
        raise IntegrityError("the timestamp request has no nonce")
    return request.as_bytes(), int(nonce)


def accept_reply(reply: bytes, note: str, nonce: int) -> TokenFacts:
    """Check a TSA's answer to our request: granted, over this note's SHA-256, with our
    nonce. (Whose signature it is is checked by :func:`verify_token` against roots the
    verifier trusts; the archive keeps whatever the authority it was told to ask signed.)"""
    response = _decode(reply)
    if response.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        why = "; ".join(response.status_string) or "no reason given"
        raise IntegrityError(f"the TSA refused the request (PKIStatus {response.status}: "
                             f"{why[:200]})")
    facts = _facts(response, note)
    if response.tst_info.nonce != nonce:
        raise IntegrityError("the token's nonce is not the one we sent (a replayed answer?)")
    return facts


def token_facts(reply: bytes, note: str) -> TokenFacts:
    """Parse a stored token and check it is over ``note`` (no signature check): what
    ``archive verify`` runs on every stored token."""
    return _facts(_decode(reply), note)


def load_roots(pem: bytes, where: str) -> list[x509.Certificate]:
    """Every certificate of a PEM file; :class:`ConfigError` if there is none."""
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise ConfigError(f"{where}: not a PEM file of certificates ({exc})") from None
    return certs


def verify_token(reply: bytes, note: str, roots: Sequence[x509.Certificate]) -> TokenFacts:
    """Check a token's signature chains to one of ``roots`` (the TSA certificate with
    critical extendedKeyUsage timeStamping, valid at the token's time) and that it is
    over ``note``. Returns what it says; raises :class:`IntegrityError` otherwise."""
    response = _decode(reply)
    facts = _facts(response, note)
    if not roots:
        raise IntegrityError("no TSA root certificates given")
    builder = VerifierBuilder()
    for root in roots:
        builder = builder.add_root_certificate(root)
    try:
        builder.build().verify(response, note_imprint(note))
    except VerificationError as exc:
        raise IntegrityError(f"the token does not verify against the TSA roots given: "
                             f"{_one_line(exc)}") from None
    return facts


def b64encode(reply: bytes) -> str:
    return base64.b64encode(reply).decode("ascii")


def b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise IntegrityError("the token is not valid base64") from None


def _decode(reply: bytes) -> TimeStampResponse:
    if len(reply) > MAX_REPLY_BYTES:
        raise IntegrityError(f"the answer is {len(reply)} bytes, over the "
                             f"{MAX_REPLY_BYTES}-byte limit for a timestamp reply")
    try:
        return decode_timestamp_response(reply)
    except Exception as exc:  # the parser raises ValueError and its own types on bad DER
        raise IntegrityError(f"the answer is not an RFC 3161 TimeStampResp "
                             f"({_one_line(exc)})") from None


def _facts(response: TimeStampResponse, note: str) -> TokenFacts:
    try:
        info = response.tst_info
        imprint = info.message_imprint
        algorithm, message = imprint.hash_algorithm, imprint.message
        gen_time, serial = info.gen_time, info.serial_number
    except Exception as exc:  # a granted status without a readable token
        raise IntegrityError(f"the answer holds no readable token ({_one_line(exc)})") from None
    if algorithm != _SHA256_OID:
        raise IntegrityError(f"the token's imprint uses {algorithm.dotted_string}, not SHA-256")
    if message != note_imprint(note):
        raise IntegrityError(
            f"the token is over {PREFIX}{message.hex()}, not over this checkpoint note "
            f"({PREFIX}{note_imprint(note).hex()})")
    name: str | None
    try:
        general = info.name
        value = getattr(general, "value", general)
        name = (value.rfc4514_string() if isinstance(value, x509.Name)
                else None if value is None else str(value))
    except Exception:  # the tsa field is optional
        name = None
    if gen_time.tzinfo is None:  # GeneralizedTime in a token is UTC (RFC 3161 2.4.2)
        gen_time = gen_time.replace(tzinfo=UTC)
    return TokenFacts(iso_utc(gen_time), str(serial), name)


def _one_line(exc: BaseException) -> str:
    return one_line(exc, 300) or type(exc).__name__
