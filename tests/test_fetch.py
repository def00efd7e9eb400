"""archive.http.fetch against real local servers (FAULTS 1-9, 12-14, 28-30; no mocks)."""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import (
    ARTICLE,
    CP1252_BODY,
    XML_BOMB,
    TestServer,
    TLSMaterial,
    gzip_bomb,
    local_policy,
    minimal_pdf,
)
from warcio.bufferedreaders import ChunkedDataReader

from archive.core.content import decode_body, sniff_type
from archive.core.hashing import sha256_bytes
from archive.errors import (
    DNSError,
    FetchError,
    FetchTimeoutError,
    ProtocolError,
    RedirectError,
    RefusedURLError,
    TLSError,
)
from archive.http.fetch import Fetcher
from archive.http.models import Exchange, FetchResult
from archive.metadata import extract


def fetch(url: str, *, ca_bundle: Path | None = None, **policy: Any) -> FetchResult:
    return Fetcher(local_policy(**policy), ca_bundle=ca_bundle).fetch(url)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def stored(exchange: Exchange) -> tuple[bytes, bytes]:
    with exchange.open_response() as raw, exchange.open_body() as body:
        return raw.read(), body.read()


def assert_hashes_cover_stored_bytes(exchange: Exchange) -> None:
    raw, body = stored(exchange)
    assert exchange.response_sha256 == sha(raw) and exchange.response_length == len(raw)
    assert exchange.body_sha256 == sha(body) and exchange.body_length == len(body)


def payload_as_read(exchange: Exchange) -> bytes:
    """The stored raw response's payload as a WARC reader gets it (warcio de-chunks):
    what a bundle or a replay hashes, so it must be the body the fetcher hashed."""
    raw, _ = stored(exchange)
    payload = raw[exchange.header_length:]
    if (exchange.header("Transfer-Encoding") or "").lower() == "chunked":
        reader = ChunkedDataReader(io.BytesIO(payload), decomp_type=None)
        payload = reader.read()
    return payload


# --------------------------------------------------------------------------- the wire

def test_article_request_and_response_are_the_wire_bytes(http_server: TestServer) -> None:
    with fetch(http_server.url("/article")) as result:
        ex = result.final
        assert (result.status, result.attempts, len(result.exchanges)) == (200, 1, 1)
        assert result.requested_url == result.final_url == http_server.url("/article")
        # the request exactly as the server received it
        assert ex.request_bytes == http_server.requests[-1].raw
        assert ex.request_bytes.startswith(b"GET /article HTTP/1.1\r\n")
        assert b"\r\nUser-Agent: provenance-archive/" in ex.request_bytes
        assert b"\r\nAccept-Encoding: gzip, deflate\r\n" in ex.request_bytes
        assert ("User-Agent", result.policy.user_agent) in ex.request_headers
        raw, body = stored(ex)
        assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
        assert raw[ex.header_length:] == body == ARTICLE
        assert raw[:ex.header_length].endswith(b"\r\n\r\n")
        assert ex.body_sha256 == sha(ARTICLE) == ex.payload_digest
        assert_hashes_cover_stored_bytes(ex)
        assert ex.headers[:2] == (("Date", "Sat, 21 Nov 2026 14:02:03 GMT"),
                                  ("Server", "testserver"))
        assert ex.content_type == "text/html; charset=utf-8"
        assert (ex.remote_ip, ex.remote_port) == ("127.0.0.1", http_server.port)
        assert ex.tls is None and result.tls_verified is None and ex.truncated is None
        assert result.started_at <= ex.started_at <= ex.ended_at <= result.ended_at
        assert ex.started_at.utcoffset() is not None and ex.started_at.utcoffset().seconds == 0


def test_chunked_response_keeps_chunk_framing_in_raw(http_server: TestServer) -> None:
    with fetch(http_server.url("/chunked")) as result:
        raw, body = stored(result.final)
        assert b"Transfer-Encoding: chunked" in raw
        assert raw[result.final.header_length:].startswith(b"1f4\r\n<!DOCTYPE html>")
        assert raw.endswith(b"\r\n0\r\n\r\n")
        assert body == ARTICLE  # transfer-coding undone in the body
        assert_hashes_cover_stored_bytes(result.final)


def test_gzip_response_stored_compressed_as_sent(http_server: TestServer) -> None:
    with fetch(http_server.url("/gzip")) as result:
        raw, body = stored(result.final)
        assert body == gzip.compress(ARTICLE, mtime=0)  # content-coding kept
        assert raw.endswith(body)
        assert result.final.content_encoding == "gzip"
        with result.final.open_body() as stream:
            decoded = decode_body(stream, result.final.content_encoding,
                                  max_output=1 << 20, max_depth=2)
        with decoded:
            assert decoded.ok and decoded.read() == ARTICLE


def test_chunked_gzip_keeps_both_codings_in_raw(http_server: TestServer) -> None:
    with fetch(http_server.url("/chunked-gzip")) as result:
        raw, body = stored(result.final)
        assert raw[result.final.header_length:].startswith(b"12c\r\n\x1f\x8b")
        assert gzip.decompress(body) == ARTICLE


def test_body_ended_by_close_is_complete(http_server: TestServer) -> None:
    with fetch(http_server.url("/close-delimited")) as result:
        assert result.truncated is None and result.final.protocol == "HTTP/1.0"
        assert stored(result.final)[1] == ARTICLE


def test_interim_100_continue_is_kept_in_raw(http_server: TestServer) -> None:
    with fetch(http_server.url("/continue")) as result:
        raw, body = stored(result.final)
        assert raw.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
        assert raw[result.final.header_length:] == body == ARTICLE
        assert result.status == 200 and result.final.header("Server") == "testserver"


def test_every_redirect_hop_is_its_own_exchange(http_server: TestServer) -> None:
    with fetch(http_server.url("/chain/1")) as result:
        assert [ex.status for ex in result.exchanges] == [302, 301, 307, 200]
        assert [ex.url for ex in result.exchanges] == [
            http_server.url(p) for p in ("/chain/1", "/chain/2", "/chain/3", "/article")]
        assert result.redirects == tuple(ex.url for ex in result.exchanges[:3])
        assert result.final_url == http_server.url("/article")
        for ex, path in zip(result.exchanges, ["/chain/1", "/chain/2", "/chain/3", "/article"],
                            strict=True):
            assert ex.request_bytes.startswith(f"GET {path} HTTP/1.1\r\n".encode())
            assert_hashes_cover_stored_bytes(ex)
        assert result.exchanges[0].header("Location") == "/chain/2"


def test_cookie_set_on_redirect_then_back_is_not_a_loop(http_server: TestServer) -> None:
    with fetch(http_server.url("/consent")) as result:
        assert [ex.status for ex in result.exchanges] == [302, 302, 200]
        assert b"Cookie: consent=yes" in result.final.request_bytes


def test_request_names_host_and_port(http_server: TestServer) -> None:
    with fetch(http_server.url("/article")) as result:
        sent = http_server.requests[-1]
        assert sent.header("Host") == f"127.0.0.1:{http_server.port}"
        # HTTP/1.1 connections persist unless a side says close: a fetcher that keeps
        # connections (the default) says nothing
        assert [k for k, _ in sent.headers] == ["Host", "User-Agent", "Accept",
                                                "Accept-Encoding"]
        assert result.final.request_bytes == sent.raw


def test_fetcher_without_keep_alive_asks_the_server_to_close(http_server: TestServer) -> None:
    with Fetcher(local_policy(), keep_alive=False) as fetcher, \
            fetcher.fetch(http_server.url("/article")) as result:
        sent = http_server.requests[-1]
        assert sent.header("Connection") == "close"
        assert result.final.request_bytes == sent.raw


def test_utf8_location_is_followed_percent_encoded(http_server: TestServer) -> None:
    def utf8_redirect(request: Any, conn: Any) -> None:
        conn.send(b"HTTP/1.1 302 Found\r\nLocation: /caf\xc3\xa9\r\n"
                  b"Content-Length: 0\r\nConnection: close\r\n\r\n")

    http_server.route("/to-cafe", utf8_redirect)
    http_server.add_page("/caf%C3%A9", "<html><body>café</body></html>")
    with fetch(http_server.url("/to-cafe")) as result:
        assert [ex.status for ex in result.exchanges] == [302, 200]
        assert result.final_url == http_server.url("/caf%C3%A9")
        assert http_server.requests[-1].target == "/caf%C3%A9"


# --------------------------------------------------------------------------- FAULTS 1-2

def test_fault01_trickled_body_is_cut_at_deadline(http_server: TestServer) -> None:
    start = time.monotonic()
    with fetch(http_server.url("/trickle-body?interval=0.5"), deadline=2.0,
               read_timeout=30.0) as result:
        elapsed = time.monotonic() - start
        assert 1.9 <= elapsed < 3.0
        assert result.truncated == "time"
        assert "deadline" in (result.final.truncated_reason or "")
        assert 0 < result.final.body_length < len(ARTICLE)  # what arrived is kept
        assert_hashes_cover_stored_bytes(result.final)


def test_fault01_trickled_headers_are_cut_at_deadline(http_server: TestServer) -> None:
    start = time.monotonic()
    with pytest.raises(FetchTimeoutError, match="deadline") as info:
        fetch(http_server.url("/trickle-head?interval=0.5"), deadline=2.0, read_timeout=30.0)
    assert 1.9 <= time.monotonic() - start < 3.0
    assert http_server.url("/trickle-head") in str(info.value)


def test_fault01_stalled_tls_handshake_is_cut_at_deadline(http_server: TestServer) -> None:
    # an https URL on the plain-HTTP port: TCP connects, the TLS handshake never completes
    start = time.monotonic()
    with pytest.raises(FetchTimeoutError, match="deadline"):
        fetch(f"https://127.0.0.1:{http_server.port}/article", deadline=1.5,
              connect_timeout=30.0, read_timeout=30.0)
    assert time.monotonic() - start < 2.5


def test_fault02_silent_server_is_a_timeout(http_server: TestServer) -> None:
    start = time.monotonic()
    with pytest.raises(FetchTimeoutError, match="no response from") as info:
        fetch(http_server.url("/silent"), read_timeout=1.0)
    assert time.monotonic() - start < 2.0
    assert "\n" not in str(info.value)


def test_fault02_close_without_response_is_protocol_error(http_server: TestServer) -> None:
    with pytest.raises(ProtocolError, match="without sending a response"):
        fetch(http_server.url("/close"))


def test_fault02_non_http_reply_is_protocol_error(http_server: TestServer) -> None:
    with pytest.raises(ProtocolError, match=r"not .*valid HTTP"):
        fetch(http_server.url("/garbage"))


def test_fault02_failed_fetch_leaves_no_spool_files(http_server: TestServer,
                                                     tmp_path: Path) -> None:
    with pytest.raises(ProtocolError):
        Fetcher(local_policy(), spool_dir=tmp_path).fetch(http_server.url("/close"))
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- FAULT 3

def test_fault03_redirect_loop_names_the_hops(http_server: TestServer) -> None:
    with pytest.raises(RedirectError, match="redirect loop") as info:
        fetch(http_server.url("/loop/a"))
    message = str(info.value)
    assert f"{http_server.url('/loop/a')} -> {http_server.url('/loop/b')} -> " \
           f"{http_server.url('/loop/a')}" in message


def test_fault03_too_many_redirects_names_the_hops(http_server: TestServer) -> None:
    with pytest.raises(RedirectError, match=r"too many redirects .*limit 2") as info:
        fetch(http_server.url("/many/5"), max_redirects=2)
    for n in (5, 4, 3, 2):
        assert http_server.url(f"/many/{n}") in str(info.value)


def test_redirects_within_limit_are_followed(http_server: TestServer) -> None:
    with fetch(http_server.url("/many/2"), max_redirects=3) as result:
        assert [ex.status for ex in result.exchanges] == [302, 302, 302, 200]


# --------------------------------------------------------------------------- FAULTS 4-5

def test_fault04_declared_oversize_body_stops_at_limit(http_server: TestServer) -> None:
    limit = 200_000
    with fetch(http_server.url("/large?size=20000000"), max_bytes=limit) as result:
        ex = result.final
        assert ex.truncated == "length" and ex.body_length == limit
        assert ex.header("Content-Length") == "20000000"
        assert ex.response_length < limit + 1024 * 1024
        assert_hashes_cover_stored_bytes(ex)
        # the limit applies to what is stored as much as to what is hashed
        assert ex.response_length == ex.header_length + limit
        assert payload_as_read(ex) == stored(ex)[1]


def test_fault04_endless_chunked_body_stops_at_limit(http_server: TestServer) -> None:
    limit = 300_000
    with fetch(http_server.url("/endless"), max_bytes=limit) as result:
        ex = result.final
        assert ex.truncated == "length" and ex.body_length == limit
        assert "limit of 300000 bytes" in (ex.truncated_reason or "")
        assert_hashes_cover_stored_bytes(ex)
        assert payload_as_read(ex) == stored(ex)[1]


def test_body_exactly_at_limit_is_not_truncated(http_server: TestServer) -> None:
    with fetch(http_server.url("/large?size=100000"), max_bytes=100_000) as result:
        assert result.truncated is None and result.final.body_length == 100_000


def test_fault05_short_content_length_is_a_disconnect(http_server: TestServer) -> None:
    with fetch(http_server.url("/short-body")) as result:
        ex = result.final
        assert ex.truncated == "disconnect" and ex.body_length == 100
        assert ex.header("Content-Length") == "1000"
        _, body = stored(ex)
        assert body == ARTICLE[:100]
        assert_hashes_cover_stored_bytes(ex)


def test_bad_chunk_size_keeps_the_good_chunks_and_names_the_bad_line(
        http_server: TestServer) -> None:
    """The chunks before a chunk-size line that is not a number are the body; the
    stored response ends where they end, and the reason quotes the line."""
    with fetch(http_server.url("/bad-chunk")) as result:
        ex = result.final
        assert ex.truncated == "disconnect"
        assert ex.body_length == 1000 and stored(ex)[1] == ARTICLE[:1000]
        assert "invalid chunk size line 'zz'" in (ex.truncated_reason or "")
        assert_hashes_cover_stored_bytes(ex)
        assert payload_as_read(ex) == ARTICLE[:1000]


def test_chunk_without_its_crlf_is_stored_so_readers_get_the_same_body(
        http_server: TestServer) -> None:
    """A WARC reader (warcio) reads a chunk without its CRLF as not chunked at all (size
    line and data as body): the stored response ends one byte into the chunk instead."""
    with fetch(http_server.url("/chunk-unterminated")) as result:
        ex = result.final
        assert ex.truncated == "disconnect" and stored(ex)[1] == ARTICLE[:599]
        assert_hashes_cover_stored_bytes(ex)
        assert payload_as_read(ex) == ARTICLE[:599]


def test_fault05_reset_mid_body_is_a_disconnect(http_server: TestServer) -> None:
    with fetch(http_server.url("/reset")) as result:
        ex = result.final
        assert ex.truncated == "disconnect"
        assert "reset" in (ex.truncated_reason or "").lower()
        assert ex.body_length == 5000  # every byte that arrived before the reset
        assert_hashes_cover_stored_bytes(ex)


# --------------------------------------------------------------------------- FAULT 6 / TLS

def test_https_records_tls_facts_from_the_socket(https_server: TestServer,
                                                 tls_material: TLSMaterial) -> None:
    with fetch(https_server.url("/article"), ca_bundle=tls_material.ca_path) as result:
        tls = result.final.tls
        assert tls is not None and tls.verified and result.tls_verified is True
        assert tls.version in ("TLSv1.2", "TLSv1.3") and tls.cipher
        assert tls.cert_der == tls_material.good.der
        assert tls.cert_sha256 == sha(tls_material.good.der)
        _, body = stored(result.final)
        assert body == ARTICLE and result.final.remote_ip == "127.0.0.1"
        assert b"Host: 127.0.0.1:" in result.final.request_bytes


@pytest.mark.parametrize(("name", "reason"), [
    ("self-signed", "self-signed certificate"),
    ("expired", "certificate has expired"),
    ("wrong-host", "mismatch"),
])
def test_fault06_bad_certificate_fails(bad_tls_servers: dict[str, TestServer],
                                       tls_material: TLSMaterial, name: str,
                                       reason: str) -> None:
    url = bad_tls_servers[name].url("/article")
    with pytest.raises(TLSError, match=reason) as info:
        fetch(url, ca_bundle=tls_material.ca_path)
    assert url in str(info.value)


@pytest.mark.parametrize("name", ["self-signed", "expired", "wrong-host"])
def test_fault06_operator_override_is_recorded(bad_tls_servers: dict[str, TestServer],
                                               tls_material: TLSMaterial, name: str) -> None:
    with fetch(bad_tls_servers[name].url("/article"), verify_tls=False) as result:
        assert result.status == 200 and result.tls_verified is False
        tls = result.final.tls
        assert tls is not None and tls.verified is False
        expected = {"self-signed": tls_material.self_signed, "expired": tls_material.expired,
                    "wrong-host": tls_material.wrong_host}[name]
        assert tls.cert_sha256 == sha(expected.der)
        assert result.policy.verify_tls is False


def test_default_trust_store_rejects_test_ca(https_server: TestServer) -> None:
    with pytest.raises(TLSError):
        fetch(https_server.url("/article"))


# --------------------------------------------------------------------------- FAULT 7

@pytest.mark.parametrize("code", [404, 410, 400, 403])
def test_fault07_4xx_archived_as_sent_and_never_retried(http_server: TestServer,
                                                        code: int) -> None:
    before = http_server.connections
    with fetch(http_server.url(f"/status/{code}")) as result:
        assert result.status == code and result.attempts == 1 and result.retries == ()
        raw, body = stored(result.final)
        assert raw.startswith(f"HTTP/1.1 {code} ".encode()) and body
    assert http_server.connections - before == 1


def test_fault07_persistent_5xx_is_retried_then_kept(http_server: TestServer) -> None:
    with fetch(http_server.url("/status/500"), max_retries=2) as result:
        assert result.status == 500 and result.attempts == 3
        assert [note.status for note in result.retries] == [500, 500]
        assert len(result.exchanges) == 1  # only the final attempt is kept
        assert_hashes_cover_stored_bytes(result.final)


def test_fault07_503_then_200(http_server: TestServer) -> None:
    with fetch(http_server.url("/flaky?key=t503&fail=1&status=503")) as result:
        assert result.status == 200 and result.attempts == 2
        assert len(result.exchanges) == 1 and result.final.body_length == len(ARTICLE)
        assert result.retries[0].status == 503


def test_fault07_429_honours_retry_after(http_server: TestServer) -> None:
    start = time.monotonic()
    with fetch(http_server.url("/flaky?key=t429&fail=1&status=429&retry_after=1")) as result:
        assert time.monotonic() - start >= 1.0
        assert result.status == 200 and result.attempts == 2
        assert result.retries[0].status == 429 and result.retries[0].waited == 1.0


def test_retry_after_is_capped(http_server: TestServer) -> None:
    start = time.monotonic()
    with fetch(http_server.url("/flaky?key=cap&fail=1&status=503&retry_after=3600"),
               max_retry_after=0.2) as result:
        assert time.monotonic() - start < 1.5
        assert result.status == 200 and result.retries[0].waited == 0.2


def test_retry_that_would_pass_deadline_is_not_made(http_server: TestServer) -> None:
    start = time.monotonic()
    with fetch(http_server.url("/flaky?key=late&fail=1&status=503&retry_after=10"),
               max_retry_after=30.0, deadline=2.0) as result:
        assert time.monotonic() - start < 1.0
        assert result.status == 503 and result.attempts == 1
        assert not result.retries[0].retried and "deadline" in result.retries[0].detail


def test_no_retries_when_policy_says_none(http_server: TestServer) -> None:
    with fetch(http_server.url("/status/503"), max_retries=0) as result:
        assert result.status == 503 and result.attempts == 1


# --------------------------------------------------------------------------- FAULT 8

def test_fault08_dns_failure_is_its_own_error(tmp_path: Path, looked_up: list[str]) -> None:
    fetcher = Fetcher(local_policy(), spool_dir=tmp_path)
    with pytest.raises(DNSError, match=r"no-such-host\.invalid"):
        fetcher.fetch("http://no-such-host.invalid/news")
    assert list(tmp_path.iterdir()) == []  # nothing stored


def test_connection_refused_is_a_fetch_error() -> None:
    server = TestServer()
    url = server.url("/article")
    server.stop()  # never started: the port is closed now
    with pytest.raises(FetchError, match="could not connect"):
        fetch(url)


# --------------------------------------------------------------------------- FAULTS 9-14

def test_fault09_gzip_bomb_raw_stored_decode_capped(http_server: TestServer) -> None:
    with fetch(http_server.url("/gzip-bomb"), max_bytes=4 << 20) as result:
        ex = result.final
        assert ex.truncated is None and ex.body_length == len(gzip_bomb())
        assert ex.body_sha256 == sha(gzip_bomb())  # raw bytes stored as sent
        with ex.open_body() as stream, decode_body(stream, ex.content_encoding,
                                                   max_output=5 << 20, max_depth=2) as out:
            assert out.truncated and out.error == f"decoded size exceeds cap of {5 << 20} bytes"


@pytest.mark.parametrize("path", ["/gzip-10", "/gzip-10-list"])
def test_fault10_repeated_content_encoding_refused(http_server: TestServer, path: str) -> None:
    with fetch(http_server.url(path)) as result:
        ex = result.final
        assert ex.content_encoding is not None and ex.content_encoding.count("gzip") == 10
        assert ex.header("content-encoding") == ex.content_encoding
        with ex.open_body() as stream, decode_body(stream, ex.content_encoding,
                                                   max_output=1 << 20, max_depth=2) as out:
            assert not out.ok and "10 codings" in (out.error or "")


@pytest.mark.parametrize(("path", "expect"), [("/mislabelled-gzip", "not valid gzip"),
                                              ("/corrupt-gzip", "gzip")])
def test_fault11_bad_compression_reported(http_server: TestServer, path: str,
                                          expect: str) -> None:
    with fetch(http_server.url(path)) as result:
        assert result.status == 200 and result.truncated is None  # the capture is fine
        with result.final.open_body() as stream, decode_body(
                stream, result.final.content_encoding, max_output=1 << 20, max_depth=2) as out:
            assert not out.ok and expect in (out.error or "")


def test_fault12_wrong_charset_hash_over_raw_bytes(http_server: TestServer) -> None:
    with fetch(http_server.url("/cp1252-as-utf8")) as result:
        _, body = stored(result.final)
        assert body == CP1252_BODY and result.final.body_sha256 == sha(CP1252_BODY)
        decoding = extract(body, content_type=result.final.content_type).to_json()["decoding"]
        assert decoding["charset"] == "cp1252" and decoding["basis"].startswith("detected")


@pytest.mark.parametrize(("path", "declared"), [("/pdf-as-html", "text/html"),
                                                ("/png-as-html", "text/html; charset=utf-8"),
                                                ("/pdf", "application/pdf")])
def test_fault13_binary_where_html_expected_archived_as_is(http_server: TestServer, path: str,
                                                           declared: str) -> None:
    with fetch(http_server.url(path)) as result:
        _, body = stored(result.final)
        assert result.final.content_type == declared
        kind = sniff_type(body[:4096], result.final.content_type)
        assert kind in ("application/pdf", "image/png")
        if "pdf" in path:
            assert body == minimal_pdf()


def test_fault14_xml_entity_payload_is_stored_not_expanded(http_server: TestServer) -> None:
    with fetch(http_server.url("/xml-bomb")) as result:
        _, body = stored(result.final)
        assert body == XML_BOMB and result.final.body_length == len(XML_BOMB)
        assert sniff_type(body, result.final.content_type) == "application/xml"
        assert extract(body, content_type=result.final.content_type).to_json()[
            "content_kind"] == "not-applicable"


def test_malformed_html_is_archived_byte_for_byte(http_server: TestServer) -> None:
    with fetch(http_server.url("/malformed")) as result:
        _, body = stored(result.final)
        assert result.status == 200 and sniff_type(body, result.final.content_type) == "text/html"


# --------------------------------------------------------------------------- FAULTS 28-30

UNSPECIFIED = "0.0.0.0"  # noqa: S104 (a target to refuse, not a bind address)
LOOPBACK_SPELLINGS = ["127.0.0.1", "127.0.0.2", "localhost", "2130706433", "0177.0.0.1",
                      "0x7f.0.0.1", "127.1", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",
                      "[64:ff9b::7f00:1]", UNSPECIFIED]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_fault28_loopback_spellings_refused_before_connecting(
        http_server: TestServer, host: str, tmp_path: Path) -> None:
    before = http_server.connections
    fetcher = Fetcher(local_policy(allow_private_networks=False), spool_dir=tmp_path)
    with pytest.raises(RefusedURLError) as info:
        fetcher.fetch(f"http://{host}:{http_server.port}/article")
    assert host.strip("[]") in str(info.value) or "127.0.0.1" in str(info.value)
    time.sleep(0.05)
    assert http_server.connections == before  # refused before any connection
    assert list(tmp_path.iterdir()) == []


class _ConnectAttempted(OSError):
    """An OSError, so that the fetcher closes the socket as after any failed connect."""


class _ConnectGuard:
    """Records and stops every socket connect made by the thread it watches.

    A Python audit hook (``socket.connect``): it sees the socket module's own call, so
    nothing in the fetcher is replaced. Stopping the connect means a regression that lets
    a private address through fails the test without a packet leaving loopback."""

    def __init__(self) -> None:
        self.thread: int | None = None
        self.attempts: list[object] = []

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "socket.connect" and threading.get_ident() == self.thread:
            self.attempts.append(args[1])
            raise _ConnectAttempted(f"the test stopped a connect to {args[1]!r}")


_GUARD = _ConnectGuard()
_GUARD_HOOKED = False


@pytest.fixture
def connect_attempts() -> Iterator[list[object]]:
    """The addresses this test's thread tried to connect to (each attempt is stopped)."""
    global _GUARD_HOOKED
    if not _GUARD_HOOKED:  # an audit hook cannot be removed: add it once, arm it per test
        sys.addaudithook(_GUARD.hook)
        _GUARD_HOOKED = True
    _GUARD.attempts = []
    _GUARD.thread = threading.get_ident()
    try:
        yield _GUARD.attempts
    finally:
        _GUARD.thread = None


def test_the_connect_guard_sees_and_stops_a_real_connect(http_server: TestServer,
                                                         connect_attempts: list[object]) -> None:
    """The instrument of the test below: an allowed loopback fetch is seen trying to
    connect, and is stopped before the server accepts anything."""
    before = http_server.connections
    with pytest.raises(FetchError, match="the test stopped a connect to"):
        fetch(http_server.url("/article"), allow_private_networks=True)
    assert connect_attempts == [("127.0.0.1", http_server.port)]
    time.sleep(0.05)
    assert http_server.connections == before


@pytest.mark.parametrize("host", ["10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1",
                                  "169.254.169.254", "[fc00::1]", "[fe80::1]",
                                  "[::ffff:10.0.0.1]", "[::ffff:169.254.169.254]"])
def test_fault28_private_ranges_refused_before_connecting(
        host: str, connect_attempts: list[object]) -> None:
    with pytest.raises(RefusedURLError, match="refused"):
        fetch(f"http://{host}/latest/meta-data/", allow_private_networks=False)
    assert connect_attempts == []  # refused before any connect was tried


def test_fault28_every_hop_is_checked(http_server: TestServer) -> None:
    # private networks allowed (the test server is on 127.0.0.1), but the metadata
    # address stays refused, also when a redirect points at it
    target = "http://169.254.169.254/latest/meta-data/"
    expected = r"metadata address \(redirect from .*/redirect-to"
    with pytest.raises(RefusedURLError, match=expected) as info:
        fetch(http_server.url(f"/redirect-to?url={target}"), allow_private_networks=True)
    assert target in str(info.value)


def test_fault29_redirect_to_file_scheme_refused(http_server: TestServer) -> None:
    with pytest.raises(RefusedURLError, match="scheme file: is not allowed"):
        fetch(http_server.url("/redirect-to?url=file:///etc/passwd"))


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:70/",
                                 "ftp://example.com/", "data:text/plain,hi"])
def test_fault29_schemes_refused(url: str) -> None:
    with pytest.raises(RefusedURLError, match="scheme"):
        fetch(url)


def test_allow_private_networks_permits_loopback(http_server: TestServer) -> None:
    with pytest.raises(RefusedURLError):
        fetch(http_server.url("/article"), allow_private_networks=False)
    with fetch(http_server.url("/article"), allow_private_networks=True) as result:
        assert result.status == 200
    with fetch(http_server.url("/article", host="localhost"),
               allow_private_networks=True) as result:
        assert result.status == 200 and b"Host: localhost:" in result.final.request_bytes


def test_fault28_proxies_from_environment_not_trusted(http_server: TestServer,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with TestServer() as proxy:
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.url("/"))
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        with fetch(http_server.url("/article")) as result:
            assert result.status == 200
        assert proxy.connections == 0


@pytest.mark.parametrize("path", ["/echo/../../etc/passwd", "/echo/%2e%2e%2f%2e%2e%2fetc",
                                  "/echo/" + "n" * 3000, "/echo/..%5c..%5cwin.ini"])
def test_fault30_url_never_becomes_a_path(http_server: TestServer, tmp_path: Path,
                                          path: str) -> None:
    fetcher = Fetcher(local_policy(), spool_dir=tmp_path, spool_memory=0)  # all to disk
    with fetcher.fetch(http_server.url(path)) as result:
        spool = result.spool_dir
        assert spool is not None and spool.parent == tmp_path
        for ex in result.exchanges:
            for file in (ex.response_path, ex.body_path):
                assert file is not None and file.parent == spool and len(file.name) < 30
                assert file.name.split("-", 1)[0].isdigit()
        assert sorted(p.name for p in spool.iterdir()) == ["001-body.bin", "001-response.http"]
    assert not spool.exists()


def test_fault30_nul_and_control_characters_refused() -> None:
    with pytest.raises(RefusedURLError, match="control"):
        fetch("http://example.com/a\x00b")


# --------------------------------------------------------------------------- lifecycle

def test_close_removes_spool_and_is_idempotent(http_server: TestServer) -> None:
    result = Fetcher(local_policy(), spool_memory=0).fetch(http_server.url("/article"))
    spool = result.spool_dir
    assert spool is not None and result.final.body_path is not None
    assert result.final.body_path.exists()
    result.close()
    result.close()
    assert not spool.exists()


def test_small_bodies_stay_in_memory_large_ones_spill(http_server: TestServer,
                                                      tmp_path: Path) -> None:
    fetcher = Fetcher(local_policy(), spool_dir=tmp_path, spool_memory=4096)
    with fetcher.fetch(http_server.url("/article")) as small:
        assert small.spool_dir is None and small.final.body_path is None
        assert not list(tmp_path.iterdir())
        with small.final.open_body() as body:
            assert sha256_bytes(body.read()) == small.final.body_sha256
    with fetcher.fetch(http_server.url("/large?size=50000")) as large:
        assert large.final.body_length > 4096
        assert large.final.body_path is not None and large.final.body_path.exists()
        with large.final.open_body() as body:
            data = body.read()
        assert len(data) == large.final.body_length
        assert sha256_bytes(data) == large.final.body_sha256
        with large.final.open_response() as raw:
            assert sha256_bytes(raw.read()) == large.final.response_sha256
        spool = large.spool_dir
    assert spool is not None and not spool.exists()


def test_fetcher_is_safe_from_many_threads(http_server: TestServer) -> None:
    fetcher = Fetcher(local_policy())
    paths = ["/article", "/chunked", "/gzip", "/chain/1", "/status/404", "/article-2"] * 4
    results: dict[int, tuple[int, str]] = {}
    errors: list[BaseException] = []

    def work(i: int, path: str) -> None:
        try:
            with fetcher.fetch(http_server.url(path)) as result:
                results[i] = (result.status, result.final.body_sha256)
                assert_hashes_cover_stored_bytes(result.final)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, p)) for i, p in enumerate(paths)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert {results[i] for i, p in enumerate(paths) if p == "/article"} == {(200, sha(ARTICLE))}
    assert len(results) == len(paths)


def test_injected_clock_stamps_times(http_server: TestServer) -> None:
    import datetime as dt
    moments = iter(dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=i)
                   for i in range(100))
    fetcher = Fetcher(local_policy(), clock=lambda: next(moments))
    with fetcher.fetch(http_server.url("/article")) as result:
        assert result.started_at == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        assert result.started_at < result.final.started_at < result.final.ended_at \
            < result.ended_at
