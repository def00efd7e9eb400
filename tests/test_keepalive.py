"""Kept connections: the pool's rules (pure, on socket pairs) and the fetcher reusing
connections against real keep-alive servers, each exchange still recording only its own
bytes."""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from servers import TestServer, TLSMaterial, local_policy
from warcio.archiveiterator import ArchiveIterator

from archive.http.fetch import Fetcher
from archive.http.keepalive import ConnectionPool, IdleConnection, has_input
from archive.http.models import Exchange

ORIGIN = ("http", "127.0.0.1", 80)
OTHER = ("http", "127.0.0.1", 81)


# --------------------------------------------------------------------------- the pool

class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Pairs:
    """Idle connections over socket pairs; ``peers[i]`` is the far end of the i-th."""

    def __init__(self) -> None:
        self.peers: list[socket.socket] = []
        self.made: list[IdleConnection] = []

    def idle(self, origin: tuple[str, str, int] = ORIGIN) -> IdleConnection:
        ours, theirs = socket.socketpair()
        self.peers.append(theirs)
        conn = IdleConnection(origin, ours, ours.dup(), ("127.0.0.1", origin[2]), None)
        self.made.append(conn)
        return conn


@pytest.fixture
def pairs() -> Iterator[Pairs]:
    made = Pairs()
    yield made
    for conn in made.made:
        conn.close()
    for peer in made.peers:
        peer.close()


def test_take_returns_the_most_recent_connection_of_that_origin(pairs: Pairs
                                                                ) -> None:
    pool = ConnectionPool()
    first, second, other = pairs.idle(), pairs.idle(), pairs.idle(OTHER)
    for conn in (first, second, other):
        pool.put(conn)
    assert pool.take(ORIGIN) is second
    assert pool.take(ORIGIN) is first
    assert pool.take(ORIGIN) is None
    assert pool.take(OTHER) is other


def test_connections_idle_past_the_limit_are_closed_not_taken(pairs: Pairs
                                                              ) -> None:
    clock = _Clock()
    pool = ConnectionPool(idle_limit=2.0, clock=clock)
    old = pairs.idle()
    pool.put(old)
    clock.now += 2.5
    assert pool.take(ORIGIN) is None
    assert old.sock.fileno() == -1 and len(pool) == 0


def test_past_max_idle_the_oldest_is_closed(pairs: Pairs) -> None:
    pool = ConnectionPool(max_idle=2)
    conns = [pairs.idle() for _ in range(3)]
    for conn in conns:
        pool.put(conn)
    assert len(pool) == 2 and conns[0].sock.fileno() == -1
    assert conns[1].sock.fileno() != -1 and conns[2].sock.fileno() != -1


def test_a_connection_the_peer_closed_or_wrote_to_is_not_taken(pairs: Pairs
                                                               ) -> None:
    pool = ConnectionPool()
    closed, chatty, quiet = pairs.idle(), pairs.idle(), pairs.idle()
    assert not has_input(quiet.sock)
    pairs.peers[0].close()          # the server hung up
    pairs.peers[1].sendall(b"HTTP/1.1 408 Request Timeout\r\n\r\n")  # unasked-for bytes
    pool.put(quiet)
    pool.put(closed)
    pool.put(chatty)
    assert pool.take(ORIGIN) is None  # chatty: closed, not handed out
    assert chatty.sock.fileno() == -1
    assert pool.take(ORIGIN) is None  # closed by the peer
    assert pool.take(ORIGIN) is quiet


def test_a_closed_pool_closes_what_it_held_and_what_comes_back(pairs: Pairs
                                                               ) -> None:
    pool = ConnectionPool()
    held, late = pairs.idle(), pairs.idle()
    pool.put(held)
    pool.close()
    pool.put(late)
    assert held.sock.fileno() == -1 and held.kill.fileno() == -1
    assert late.sock.fileno() == -1 and len(pool) == 0


def test_connections_of_another_process_are_never_handed_out(pairs: Pairs
                                                             ) -> None:
    pool = ConnectionPool()
    pool.put(pairs.idle())
    pool._pid = -1  # as in a child forked after the connection was made
    assert pool.take(ORIGIN) is None


# --------------------------------------------------------------------------- the fetcher

@pytest.fixture
def keep_server() -> Iterator[TestServer]:
    with TestServer(keep_alive=True) as server:
        for i in range(3):
            server.add_page(f"/p{i}", f"<html><body>page {i}</body></html>")
        yield server


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def raw_of(exchange: Exchange) -> bytes:
    with exchange.open_response() as raw:
        return raw.read()


def test_pages_of_one_host_share_one_connection_and_keep_their_own_bytes(
        keep_server: TestServer) -> None:
    with Fetcher(local_policy()) as fetcher:
        results = [fetcher.fetch(keep_server.url(f"/p{i}")) for i in range(3)]
        assert keep_server.connections == 1
        for i, (result, sent) in enumerate(zip(results, keep_server.requests, strict=True)):
            ex = result.final
            raw = raw_of(ex)
            body = f"<html><body>page {i}</body></html>".encode()
            assert raw.startswith(b"HTTP/1.1 200 OK\r\n") and raw.endswith(body)
            assert len(raw) == ex.header_length + len(body) == ex.response_length
            assert ex.response_sha256 == sha(raw) and ex.body_sha256 == sha(body)
            assert ex.request_bytes == sent.raw and ex.remote_ip == "127.0.0.1"
            result.close()
        assert len(fetcher.pool or ()) == 1
    assert fetcher.pool is not None and len(fetcher.pool) == 0


def test_close_hangs_up_the_kept_connections(keep_server: TestServer) -> None:
    fetcher = Fetcher(local_policy())
    fetcher.fetch(keep_server.url("/p0")).close()
    assert keep_server.open_connections == 1
    fetcher.close()
    deadline = time.monotonic() + 3
    while keep_server.open_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    assert keep_server.open_connections == 0


def test_a_request_the_server_drops_on_a_kept_connection_is_sent_again_fresh(
        keep_server: TestServer) -> None:
    def drop_when_reused(request: Any, conn: Any) -> None:
        if conn.served:  # a kept connection: hang up without answering
            conn.keep = False
            return
        conn.respond(200, b"<html><body>fresh</body></html>")

    keep_server.route("/drop-when-reused", drop_when_reused)
    with Fetcher(local_policy()) as fetcher:
        fetcher.fetch(keep_server.url("/p0")).close()
        with fetcher.fetch(keep_server.url("/drop-when-reused")) as result:
            assert result.status == 200 and len(result.exchanges) == 1
            assert raw_of(result.final).endswith(b"fresh</body></html>")
            assert result.final.request_bytes == keep_server.requests[-1].raw
    assert keep_server.connections == 2
    assert [r.path for r in keep_server.requests] == ["/p0", "/drop-when-reused",
                                                      "/drop-when-reused"]


def test_bytes_past_the_content_length_end_the_connection(keep_server: TestServer) -> None:
    def overlong(request: Any, conn: Any) -> None:
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\n"
                  b"hello HTTP/1.1 200 OK\r\n")  # a second, unasked-for response

    keep_server.route("/overlong", overlong)
    with Fetcher(local_policy()) as fetcher:
        with fetcher.fetch(keep_server.url("/overlong")) as result:
            assert result.final.body_length == 5
        assert fetcher.pool is not None and len(fetcher.pool) == 0
        with fetcher.fetch(keep_server.url("/p1")) as result:
            assert raw_of(result.final).endswith(b"page 1</body></html>")
    assert keep_server.connections == 2


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n",
    # a 304 may give the length of the 200 it stands for: still no body follows
    b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 1234\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\n\r\n",
], ids=["304", "304-with-length", "204"])
def test_an_answer_without_a_body_leaves_its_connection_for_the_next(
        keep_server: TestServer, head: bytes) -> None:
    """A revalidated requisite's 304 (no Content-Length: it has no body by HTTP's
    framing) used to close its connection: page mode opened one for almost every
    shared stylesheet and logo."""
    keep_server.route("/empty", lambda request, conn: conn.send(head))
    with Fetcher(local_policy()) as fetcher:
        with fetcher.fetch(keep_server.url("/empty"),
                           headers={"If-None-Match": '"v1"'}) as result:
            assert result.final.status == int(head[9:12])
            assert result.final.body_length == 0 and raw_of(result.final) == head
        assert fetcher.pool is not None and len(fetcher.pool) == 1
        with fetcher.fetch(keep_server.url("/p1")) as result:
            assert raw_of(result.final).endswith(b"page 1</body></html>")
    assert keep_server.connections == 1


_CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(("body", "kept"), [
    (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", True),
    (b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n", True),
    # a byte past the message would be read as the start of the next response
    (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n", False),
    # http.client reads a size written 0x5, a lenient reading: not trusted further
    (b"0x5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", False),
], ids=["plain", "extension-and-trailer", "bytes-past-the-end", "lenient-size"])
def test_a_chunked_answer_read_to_its_end_leaves_its_connection_for_the_next(
        keep_server: TestServer, body: bytes, kept: bool) -> None:
    """Dynamic pages are often chunked: their connection used to be closed every time."""
    keep_server.route("/chunked", lambda request, conn: conn.send(_CHUNKED + body))
    with Fetcher(local_policy()) as fetcher:
        with fetcher.fetch(keep_server.url("/chunked")) as result:
            with result.final.open_body() as got:
                assert got.read() == b"hello world"
            assert result.final.truncated is None
        with fetcher.fetch(keep_server.url("/p1")) as result:
            assert raw_of(result.final).endswith(b"page 1</body></html>")
    # the next page came over the same connection only when the first ended cleanly
    assert keep_server.connections == (1 if kept else 2)


def test_a_close_response_is_not_kept(http_server: TestServer) -> None:
    before = http_server.connections
    with Fetcher(local_policy()) as fetcher:
        for _ in range(2):
            fetcher.fetch(http_server.url("/article")).close()
        assert fetcher.pool is not None and len(fetcher.pool) == 0
    assert http_server.connections - before == 2


def test_the_deadline_holds_on_a_kept_connection(keep_server: TestServer) -> None:
    def trickle(request: Any, conn: Any) -> None:
        conn.head(200, [("Content-Type", "text/html"), ("Content-Length", "1000")])
        for _ in range(100):
            conn.send(b"x")
            if not conn.sleep(0.1):
                return

    keep_server.route("/trickle-kept", trickle)
    with Fetcher(local_policy(deadline=1.0)) as fetcher:
        fetcher.fetch(keep_server.url("/p0")).close()
        started = time.monotonic()
        with fetcher.fetch(keep_server.url("/trickle-kept")) as result:
            assert result.truncated == "time"
        assert time.monotonic() - started < 2.0
        assert fetcher.pool is not None and len(fetcher.pool) == 0
    assert keep_server.connections == 1


def test_tls_connections_are_kept_with_their_certificate_facts(
        tls_material: TLSMaterial) -> None:
    with TestServer(tls=tls_material.good.server_context(), keep_alive=True) as server:
        server.add_page("/a", "<html>a</html>")
        server.add_page("/b", "<html>b</html>")
        with Fetcher(local_policy(), ca_bundle=tls_material.ca_path) as fetcher:
            first, second = (fetcher.fetch(server.url(p)) for p in ("/a", "/b"))
            assert server.connections == 1
            assert first.final.tls is not None and first.final.tls.verified
            assert second.final.tls == first.final.tls
            assert raw_of(second.final).endswith(b"<html>b</html>")
            first.close()
            second.close()


# --------------------------------------------------------------------------- a capture

def test_a_capture_over_kept_connections_verifies(arc: Any, keep_server: TestServer) -> None:
    """Three pages, one connection (robots.txt is fetched on its own): each response
    record holds exactly its page's response, and the archive verifies."""
    urls = [keep_server.url(f"/p{i}") for i in range(3)]
    results = arc.capture(urls, concurrency=1)
    assert all(r.ok for r in results)
    assert keep_server.connections == 2  # robots.txt, then the three pages
    payloads: dict[str, bytes] = {}
    for path in {res.warc_path for res in results}:
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f, check_digests="raise"):
                if rec.rec_type == "response":
                    uri = rec.rec_headers.get_header("WARC-Target-URI")
                    payloads[uri] = rec.content_stream().read()
    assert payloads == {url: f"<html><body>page {i}</body></html>".encode()
                        for i, url in enumerate(urls)}
    assert arc.verify(deep=True).ok
