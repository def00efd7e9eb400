"""Real HTTP(S) servers on 127.0.0.1 for tests: well-behaved pages and every misbehaviour.

Raw sockets rather than ``http.server`` because most routes misbehave on purpose (send
nothing, trickle, lie about Content-Length, reset mid-body). Each connection serves one
request and is closed, unless the server is made with ``keep_alive=True``: then it
serves requests on a connection until the client closes it or a handler sets
``conn.keep = False``. Routes are plain functions ``handler(request, conn)``; capture
tests add their own with :meth:`TestServer.add_page` or :meth:`TestServer.route`.

TLS material (a test CA, a good leaf, a wrong-host leaf, an expired leaf and a
self-signed leaf) is generated at test time with ``cryptography``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gzip
import json
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from archive.core.config import FetchPolicy

Headers = list[tuple[str, str]]
Handler = Callable[["Request", "Conn"], None]

_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 303: "See Other",
            307: "Temporary Redirect", 308: "Permanent Redirect", 404: "Not Found",
            410: "Gone", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable"}


def local_policy(**changes: Any) -> FetchPolicy:
    """A FetchPolicy for tests against 127.0.0.1: private networks allowed, short limits."""
    base: dict[str, Any] = {"allow_private_networks": True, "deadline": 3.0,
                            "connect_timeout": 2.0, "read_timeout": 2.0, "backoff_base": 0.05,
                            "max_retry_after": 2.0}
    return FetchPolicy(**{**base, **changes})


# --------------------------------------------------------------------------- requests

@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: Headers
    raw: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query))

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


class Conn:
    """The server side of one connection, with helpers for writing responses."""

    def __init__(self, sock: socket.socket, server: TestServer, served: int = 0) -> None:
        self.sock = sock
        self.server = server
        self.served = served  # requests answered on this connection before this one
        self.keep = server.keep_alive  # serve another request on it afterwards

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def sleep(self, seconds: float) -> bool:
        """Wait, unless the server is stopping (then False: the handler should return)."""
        return not self.server.stopping.wait(seconds)

    def head(self, status: int, headers: Iterable[tuple[str, str]] = (),
             reason: str | None = None) -> None:
        lines = [f"HTTP/1.1 {status} {reason or _REASONS.get(status, 'Status')}"]
        lines += [f"{k}: {v}" for k, v in headers]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def respond(self, status: int, body: bytes = b"", headers: Iterable[tuple[str, str]] = (),
                content_type: str | None = "text/html; charset=utf-8") -> None:
        all_headers = [("Date", "Sat, 21 Nov 2026 14:02:03 GMT"), ("Server", "testserver")]
        if content_type:
            all_headers.append(("Content-Type", content_type))
        all_headers += list(headers)
        all_headers.append(("Content-Length", str(len(body))))
        if not self.keep:
            all_headers.append(("Connection", "close"))
        self.head(status, all_headers)
        self.send(body)

    def wait_for_client_close(self) -> None:
        self.sock.settimeout(0.2)
        while not self.server.stopping.is_set():
            try:
                if not self.sock.recv(4096):
                    return
            except TimeoutError:
                continue


@dataclass
class Page:
    """A static response (what :meth:`TestServer.add_page` stores)."""

    body: bytes
    status: int = 200
    content_type: str | None = "text/html; charset=utf-8"
    headers: Headers = field(default_factory=list)

    def __call__(self, request: Request, conn: Conn) -> None:
        conn.respond(self.status, self.body, self.headers, self.content_type)


class Validating:
    """A static file that answers conditions as nginx does; every request's condition
    headers are kept in ``seen``."""

    def __init__(self, body: bytes, ctype: str, *, etag: str | None = None,
                 last_modified: str | None = None,
                 change_after: tuple[int, bytes, str] | None = None) -> None:
        self.body, self.ctype, self.etag, self.last_modified = body, ctype, etag, last_modified
        self.change_after = change_after  # after N requests: a new body and ETag
        self.seen: list[dict[str, str | None]] = []
        self.lock = threading.Lock()

    def __call__(self, request: Request, conn: Conn) -> None:
        with self.lock:
            self.seen.append({"If-None-Match": request.header("If-None-Match"),
                              "If-Modified-Since": request.header("If-Modified-Since")})
            if self.change_after is not None and len(self.seen) > self.change_after[0]:
                _, self.body, self.etag = self.change_after
            body, etag, modified = self.body, self.etag, self.last_modified
        headers = [(k, v) for k, v in (("ETag", etag), ("Last-Modified", modified)) if v]
        inm, ims = request.header("If-None-Match"), request.header("If-Modified-Since")
        if (inm is not None and inm == etag) or (inm is None and ims is not None
                                                  and ims == modified):
            conn.respond(304, b"", headers, content_type=None)
        else:
            conn.respond(200, body, headers, content_type=self.ctype)


# --------------------------------------------------------------------------- server

class TestServer:
    """A threaded one-request-per-connection server on 127.0.0.1 (port chosen by the OS)."""

    __test__ = False  # not a pytest test class

    def __init__(self, tls: ssl.SSLContext | None = None, routes: dict[str, Handler] | None = None,
                 *, keep_alive: bool = False) -> None:
        self.tls = tls
        self.keep_alive = keep_alive
        self.routes: dict[str, Handler] = dict(DEFAULT_ROUTES if routes is None else routes)
        self.stopping = threading.Event()
        self.connections = 0
        self.requests: list[Request] = []
        self.counters: dict[str, int] = {}
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True,
                                          name=f"testserver-{self.port}")

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def route(self, path: str, handler: Handler) -> None:
        """Serve ``path`` with ``handler``; a path ending in ``*`` matches as a prefix."""
        self.routes[path] = handler

    def add_page(self, path: str, body: bytes | str, *, status: int = 200,
                 content_type: str | None = "text/html; charset=utf-8",
                 headers: Headers | None = None) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Page(data, status, content_type, list(headers or []))
        return self.url(path)

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    def count(self, key: str) -> int:
        """Increment and return a per-key counter (for fail-then-succeed routes)."""
        with self._lock:
            self.counters[key] = self.counters.get(key, 0) + 1
            return self.counters[key]

    def start(self) -> TestServer:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._acceptor.is_alive():
            self._acceptor.join(5)
        self._listener.close()
        with self._lock:
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> TestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._open.add(sock)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def _serve(self, raw_sock: socket.socket) -> None:
        sock = raw_sock
        try:
            raw_sock.settimeout(5)
            if self.tls is not None:
                sock = self.tls.wrap_socket(raw_sock, server_side=True)
            served = 0
            while True:
                request = _read_request(sock)
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                conn = Conn(sock, self, served)
                self._handler(request.path)(request, conn)
                if not conn.keep:
                    return
                served += 1
        except (OSError, ssl.SSLError, ValueError):
            pass  # clients hang up on misbehaving routes; that is the point
        finally:
            with self._lock:
                self._open.discard(raw_sock)
            with contextlib.suppress(OSError):
                sock.close()
            with contextlib.suppress(OSError):
                raw_sock.close()

    def _handler(self, path: str) -> Handler:
        if path in self.routes:
            return self.routes[path]
        prefixes = [p for p in self.routes if p.endswith("*") and path.startswith(p[:-1])]
        if prefixes:
            return self.routes[max(prefixes, key=len)]
        return _not_found


def _read_request(sock: socket.socket) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return None
        data += chunk
        if len(data) > 65536:
            raise ValueError("request head too large")
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    return Request(method, target, version, headers, data)


# --------------------------------------------------------------------------- content

def article_html(title: str = "Storm closes the harbour for a second day",
                 published: str = "2026-11-20T08:30:00+01:00",
                 author: str = "Anna Berg", outlet: str = "Harbour Gazette",
                 lang: str = "en", url: str = "https://news.example/2026/11/20/storm") -> str:
    """A realistic news article: JSON-LD NewsArticle, OpenGraph, a dated byline."""
    ld = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": title,
          "datePublished": published, "dateModified": published,
          "author": [{"@type": "Person", "name": author}],
          "publisher": {"@type": "Organization", "name": outlet},
          "mainEntityOfPage": url, "keywords": ["weather", "harbour"]}
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<title>{title} | {outlet}</title>
<link rel="canonical" href="{url}">
<meta name="description" content="Ferries stayed in port as gusts reached 30 m/s.">
<meta property="og:type" content="article">
<meta property="og:title" content="{title}">
<meta property="og:site_name" content="{outlet}">
<meta property="og:url" content="{url}">
<meta property="article:published_time" content="{published}">
<meta property="article:author" content="{author}">
<meta property="article:tag" content="weather">
<script type="application/ld+json">{json.dumps(ld)}</script>
</head>
<body>
<article>
<h1>{title}</h1>
<p class="byline">By <span class="author">{author}</span>,
<time datetime="{published}">20 November 2026</time></p>
<p>Ferries stayed in port on Friday as gusts reached 30 metres per second, the coast
guard said. &ldquo;We will reopen when it is safe,&rdquo; a harbour official told reporters.</p>
<p>Local shops reported a quiet day; the storm is expected to ease by Sunday, according to
the national weather service, as reported by Sky News.</p>
</article>
</body>
</html>
"""


ARTICLE = article_html().encode("utf-8")

_FRENCH = ("<html><head><title>Le café du port</title></head><body><p>« Déjà vu » : la crème "
           "brûlée était très appréciée à Noël, dit-elle. Où est la fenêtre ? Ça coûte cher, "
           "répond le garçon. Les élèves préfèrent le thé à la française.</p></body></html>")
CP1252_BODY = _FRENCH.replace("« ", "\u201c").replace(" »", "\u201d").encode("cp1252")
LATIN1_BODY = _FRENCH.encode("latin-1")

MALFORMED_HTML = (b"<html><head><title>Broken <b>page</title><body><p>Unclosed <div><span>"
                  b"<p>text & more <a href='x>link</a></td></tr><<<>>> \x00 &#xZZ; </html")

XML_BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
 <!ENTITY xxe SYSTEM "file:///etc/passwd">
]>
<lolz><title>&lol9;</title><body>&xxe;</body></lolz>
"""


def minimal_pdf() -> bytes:
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return out


def minimal_png(width: int = 4, height: int = 4) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0,
                                                                0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def png_pixel(data: bytes, x: int, y: int) -> tuple[int, int, int]:
    """The RGB of one pixel of an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium
    writes): enough of a decoder to check what a screenshot shows."""
    pos, idat, width, channels = 8, b"", 0, 0
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + size]
        pos += 12 + size
        if kind == b"IHDR":
            width, _, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and not interlace, "not a PNG we read"
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
    raw, stride = zlib.decompress(idat), width * channels
    prev = bytearray(stride)
    for row in range(y + 1):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], (prev[i - channels] if i >= channels else 0)
            guess = a + b - c
            paeth = min((abs(guess - a), 0, a), (abs(guess - b), 1, b),
                        (abs(guess - c), 2, c))[2]
            line[i] = (line[i] + (0, a, b, (a + b) // 2, paeth)[kind]) & 0xFF
        prev = line
    return prev[x * channels], prev[x * channels + 1], prev[x * channels + 2]


@functools.cache
def gzip_bomb(size: int = 1 << 30) -> bytes:
    """A valid single-member gzip stream of ``size`` zero bytes, about size/1000 long.

    Built without compressing ``size`` bytes: after a full flush the compressed form of
    each further MiB of zeros is the same bytes, so one block is repeated; the trailer's
    CRC is computed over the zeros (0.2 s per GiB).
    """
    block = bytes(1 << 20)
    count = size // len(block)
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    repeat = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    final_empty_block = b"\x03\x00"
    trailer = struct.pack("<II", crc & 0xFFFFFFFF, (count * len(block)) & 0xFFFFFFFF)
    return first + repeat * (count - 1) + final_empty_block + trailer


def gzip_n(data: bytes, times: int) -> bytes:
    for _ in range(times):
        data = gzip.compress(data, mtime=0)
    return data


# --------------------------------------------------------------------------- routes

def _not_found(request: Request, conn: Conn) -> None:
    conn.respond(404, b"<html><body><h1>Not found</h1></body></html>")


def _status(request: Request, conn: Conn) -> None:
    code = int(request.path.rsplit("/", 1)[1])
    conn.respond(code, f"<html><body><h1>{code}</h1></body></html>".encode())


def _redirect(conn: Conn, status: int, location: str, headers: Headers | None = None) -> None:
    conn.respond(status, b"<html><body>moved</body></html>",
                 [("Location", location), *(headers or [])])


def _chain(request: Request, conn: Conn) -> None:
    """/chain/1 -302-> /chain/2 -301-> /chain/3 -307-> /article (three redirect hops)."""
    step = int(request.path.rsplit("/", 1)[1])
    status = {1: 302, 2: 301, 3: 307}.get(step)
    if status is None:
        _not_found(request, conn)
        return
    _redirect(conn, status, "/article" if step == 3 else f"/chain/{step + 1}")


def _many(request: Request, conn: Conn) -> None:
    """/many/N redirects N more times before the article."""
    left = int(request.path.rsplit("/", 1)[1])
    _redirect(conn, 302, f"/many/{left - 1}" if left > 0 else "/article")


def _redirect_to(request: Request, conn: Conn) -> None:
    _redirect(conn, 302, request.query["url"])


def _consent(request: Request, conn: Conn) -> None:
    """/consent redirects to /consent/accept (which sets a cookie) and back: not a loop."""
    if "consent=yes" in (request.header("Cookie") or ""):
        conn.respond(200, ARTICLE)
    else:
        _redirect(conn, 302, "/consent/accept")


def _consent_accept(request: Request, conn: Conn) -> None:
    _redirect(conn, 302, "/consent", [("Set-Cookie", "consent=yes; Path=/")])


def _flaky(request: Request, conn: Conn) -> None:
    """/flaky?key=K&fail=N&status=503[&retry_after=S]: N failures, then the article."""
    q = request.query
    if conn.server.count(f"flaky:{q.get('key', '')}") <= int(q.get("fail", "1")):
        extra = [("Retry-After", q["retry_after"])] if "retry_after" in q else []
        conn.respond(int(q.get("status", "503")), b"<html><body>try later</body></html>", extra)
    else:
        conn.respond(200, ARTICLE)


def _gzip(request: Request, conn: Conn) -> None:
    conn.respond(200, gzip.compress(ARTICLE, mtime=0), [("Content-Encoding", "gzip"),
                                                        ("Vary", "Accept-Encoding")])


def _chunked(request: Request, conn: Conn) -> None:
    conn.head(200, [("Content-Type", "text/html; charset=utf-8"),
                    ("Transfer-Encoding", "chunked"), ("Connection", "close")])
    for start in range(0, len(ARTICLE), 500):
        piece = ARTICLE[start:start + 500]
        conn.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
    conn.send(b"0\r\n\r\n")


def _chunked_gzip(request: Request, conn: Conn) -> None:
    data = gzip.compress(ARTICLE, mtime=0)
    conn.head(200, [("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip"),
                    ("Transfer-Encoding", "chunked"), ("Connection", "close")])
    for start in range(0, len(data), 300):
        piece = data[start:start + 300]
        conn.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
    conn.send(b"0\r\n\r\n")


def _bad_chunk(request: Request, conn: Conn) -> None:
    """Two good chunks (the first 1000 bytes of the article), then a chunk-size line
    that is not hexadecimal, then more bytes, then the close."""
    conn.head(200, [("Content-Type", "text/html; charset=utf-8"),
                    ("Transfer-Encoding", "chunked"), ("Connection", "close")])
    for piece in (ARTICLE[:600], ARTICLE[600:1000]):
        conn.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
    conn.send(b"zz\r\n" + ARTICLE[1000:1500] + b"\r\n0\r\n\r\n")


def _chunk_unterminated(request: Request, conn: Conn) -> None:
    """One whole chunk of 600 bytes, then the close before its CRLF."""
    conn.head(200, [("Content-Type", "text/html; charset=utf-8"),
                    ("Transfer-Encoding", "chunked"), ("Connection", "close")])
    conn.send(b"%x\r\n" % 600 + ARTICLE[:600])


def _large(request: Request, conn: Conn) -> None:
    """/large?size=N: a declared N-byte page sent in full (if the client keeps reading)."""
    size = int(request.query.get("size", str(10 * 1024 * 1024)))
    conn.head(200, [("Content-Type", "text/html"), ("Content-Length", str(size)),
                    ("Connection", "close")])
    block = b"<p>" + b"x" * 65530 + b"</p>"
    sent = 0
    while sent < size:
        piece = block[: size - sent]
        conn.send(piece)
        sent += len(piece)


def _endless(request: Request, conn: Conn) -> None:
    conn.head(200, [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked"),
                    ("Connection", "close")])
    piece = b"<p>" + b"y" * 16377 + b"</p>"
    frame = b"%x\r\n" % len(piece) + piece + b"\r\n"
    while not conn.server.stopping.is_set():
        conn.send(frame)


def _trickle_body(request: Request, conn: Conn) -> None:
    """Headers at once, then one body byte every ``interval`` seconds."""
    interval = float(request.query.get("interval", "0.5"))
    conn.head(200, [("Content-Type", "text/html"), ("Content-Length", str(len(ARTICLE))),
                    ("Connection", "close")])
    for i in range(len(ARTICLE)):
        conn.send(ARTICLE[i:i + 1])
        if not conn.sleep(interval):
            return


def _stall_body(request: Request, conn: Conn) -> None:
    """/stall-body?size=N&send=M: declares N bytes, sends M at once, then nothing more
    until the client hangs up (a client with M bytes spooled, waiting)."""
    size, send = int(request.query.get("size", "4000000")), int(request.query.get("send", "0"))
    conn.head(200, [("Content-Type", "text/html"), ("Content-Length", str(size)),
                    ("Connection", "close")])
    conn.send(b"s" * send)
    conn.wait_for_client_close()


def _trickle_head(request: Request, conn: Conn) -> None:
    """The whole response, status line included, one byte every ``interval`` seconds."""
    interval = float(request.query.get("interval", "0.5"))
    data = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n"
            % len(ARTICLE)) + ARTICLE
    for i in range(len(data)):
        conn.send(data[i:i + 1])
        if not conn.sleep(interval):
            return


def _silent(request: Request, conn: Conn) -> None:
    conn.wait_for_client_close()


def _close(request: Request, conn: Conn) -> None:
    """Reads the request, closes without a byte of response."""


def _garbage(request: Request, conn: Conn) -> None:
    conn.send(b"SSH-2.0-OpenSSH_9.6\r\nthis is not http at all\r\n\r\n")


def _short_body(request: Request, conn: Conn) -> None:
    """Declares 1000 bytes, sends 100, closes."""
    conn.head(200, [("Content-Type", "text/html"), ("Content-Length", "1000"),
                    ("Connection", "close")])
    conn.send(ARTICLE[:100])


def _reset(request: Request, conn: Conn) -> None:
    """Declares 100 000 bytes, sends 5000, then resets the connection (RST)."""
    conn.head(200, [("Content-Type", "text/html"), ("Content-Length", "100000"),
                    ("Connection", "close")])
    conn.send(b"z" * 5000)
    conn.sleep(0.3)
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.sock.close()


def _close_delimited(request: Request, conn: Conn) -> None:
    """HTTP/1.0 style: no Content-Length, no chunking; the close ends the body."""
    conn.send(b"HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + ARTICLE)


def _continue(request: Request, conn: Conn) -> None:
    """An interim 100 Continue, then the real response."""
    conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
    conn.respond(200, ARTICLE)


def _gzip_bomb(request: Request, conn: Conn) -> None:
    conn.respond(200, gzip_bomb(), [("Content-Encoding", "gzip")])


def _gzip_ten(request: Request, conn: Conn) -> None:
    """The article gzipped ten times, announced by ten Content-Encoding lines."""
    conn.respond(200, gzip_n(ARTICLE, 10), [("Content-Encoding", "gzip")] * 10)


def _gzip_ten_list(request: Request, conn: Conn) -> None:
    conn.respond(200, gzip_n(ARTICLE, 10), [("Content-Encoding", ", ".join(["gzip"] * 10))])


def _mislabelled(request: Request, conn: Conn) -> None:
    conn.respond(200, ARTICLE, [("Content-Encoding", "gzip")])


def _corrupt_gzip(request: Request, conn: Conn) -> None:
    data = bytearray(gzip.compress(ARTICLE, mtime=0))
    data[30:60] = b"\xff" * 30
    conn.respond(200, bytes(data), [("Content-Encoding", "gzip")])


DEFAULT_ROUTES: dict[str, Handler] = {
    "/": Page(b"<html><body><a href='/article'>article</a></body></html>"),
    "/article": Page(ARTICLE),
    "/article-2": Page(article_html("Second article", "2026-11-21T10:00:00Z").encode()),
    "/status/*": _status,
    "/chain/*": _chain,
    "/many/*": _many,
    "/loop/a": lambda r, c: _redirect(c, 302, "/loop/b"),
    "/loop/b": lambda r, c: _redirect(c, 302, "/loop/a"),
    "/redirect-to": _redirect_to,
    "/consent": _consent,
    "/consent/accept": _consent_accept,
    "/flaky": _flaky,
    "/gzip": _gzip,
    "/chunked": _chunked,
    "/chunked-gzip": _chunked_gzip,
    "/bad-chunk": _bad_chunk,
    "/chunk-unterminated": _chunk_unterminated,
    "/large": _large,
    "/endless": _endless,
    "/trickle-body": _trickle_body,
    "/trickle-head": _trickle_head,
    "/stall-body": _stall_body,
    "/silent": _silent,
    "/close": _close,
    "/garbage": _garbage,
    "/short-body": _short_body,
    "/close-delimited": _close_delimited,
    "/continue": _continue,
    "/reset": _reset,
    "/gzip-bomb": _gzip_bomb,
    "/gzip-10": _gzip_ten,
    "/gzip-10-list": _gzip_ten_list,
    "/mislabelled-gzip": _mislabelled,
    "/corrupt-gzip": _corrupt_gzip,
    "/cp1252-as-utf8": Page(CP1252_BODY, content_type="text/html; charset=utf-8"),
    "/latin1-undeclared": Page(LATIN1_BODY, content_type="text/html"),
    "/pdf": Page(minimal_pdf(), content_type="application/pdf"),
    "/pdf-as-html": Page(minimal_pdf(), content_type="text/html"),
    "/png": Page(minimal_png(), content_type="image/png"),
    "/png-as-html": Page(minimal_png(), content_type="text/html; charset=utf-8"),
    "/malformed": Page(MALFORMED_HTML),
    "/xml-bomb": Page(XML_BOMB, content_type="application/xml"),
    "/echo/*": lambda r, c: c.respond(200, r.target.encode("latin-1"), content_type="text/plain"),
}


# --------------------------------------------------------------------------- TLS material

@dataclass(frozen=True)
class Cert:
    cert_path: Path
    key_path: Path
    der: bytes

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context


@dataclass(frozen=True)
class TLSMaterial:
    ca_path: Path
    good: Cert          # signed by the CA, for 127.0.0.1 and localhost
    wrong_host: Cert    # signed by the CA, for wrong.example only
    expired: Cert       # signed by the CA, expired yesterday
    self_signed: Cert   # for 127.0.0.1, signed by itself


def make_tls_material(directory: Path) -> TLSMaterial:
    """Generate a CA and four leaf certificates (EC P-256, fast) into ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ipaddr = __import__("ipaddress").ip_address

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def build(cn: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
              signer: ec.EllipticCurvePrivateKey, *, ca: bool = False,
              hosts: tuple[str, ...] = ("localhost",), ips: tuple[str, ...] = ("127.0.0.1",),
              start: dt.datetime = now - dt.timedelta(days=1),
              end: dt.datetime = now + dt.timedelta(days=30)) -> x509.Certificate:
        builder = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(issuer)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(end)
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        else:
            sans: list[x509.GeneralName] = [x509.DNSName(h) for h in hosts]
            sans += [x509.IPAddress(ipaddr(i)) for i in ips]
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(signer, hashes.SHA256())

    def save(stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Cert:
        cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return Cert(cert_path, key_path, cert.public_bytes(serialization.Encoding.DER))

    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = build("Archive Test CA", ca_key, name("Archive Test CA"), ca_key, ca=True)
    ca = save("ca", ca_cert, ca_key)

    def leaf(stem: str, signed_by_ca: bool = True, **kw: Any) -> Cert:
        key = ec.generate_private_key(ec.SECP256R1())
        issuer, signer = ((ca_cert.subject, ca_key) if signed_by_ca
                          else (name(f"{stem} test"), key))
        return save(stem, build(f"{stem} test", key, issuer, signer, **kw), key)

    return TLSMaterial(
        ca_path=ca.cert_path,
        good=leaf("good"),
        wrong_host=leaf("wrong-host", hosts=("wrong.example",), ips=()),
        expired=leaf("expired", start=now - dt.timedelta(days=30),
                     end=now - dt.timedelta(days=1)),
        self_signed=leaf("self-signed", signed_by_ca=False),
    )


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
