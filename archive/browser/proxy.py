"""The browser's only network: a proxy on 127.0.0.1 that answers through the renderer.

Playwright's request interception (``route``) sees the first request of a redirect chain
only: the browser sends the next hop itself, around the interceptor (Playwright issues
#17161, #23301, by design). Chromium is therefore started with this proxy as its proxy
for every host, loopback included, and with a host resolver that resolves nothing, so
nothing it sends can reach a real network. What arrives here (a redirect hop, or
traffic the interceptor did not see) is handed to ``answer``; it returns the response
to send, or None to refuse (the connection is closed without a response, which the
browser treats as a failed request).

HTTPS hops arrive as ``CONNECT``: the tunnel is terminated here with a throw-away
self-signed certificate (the browser context ignores certificate errors: the real TLS
connection, and its checking, belong to the fetcher behind ``answer``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

Answer = tuple[int, list[tuple[str, str]], bytes]
Answerer = Callable[[str, str, list[tuple[str, str]], bytes | None], Answer | None]

_MAX_HEAD = 64 * 1024
_MAX_BODY = 16 * 1024 * 1024
_HOP_HEADERS = {"proxy-connection", "proxy-authorization", "connection", "keep-alive"}
_DROP_OUT = {"content-length", "transfer-encoding", "content-encoding", "connection",
             "keep-alive"}


def _tls_context() -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "archive browser hop proxy")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=7)).sign(key, hashes.SHA256()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="archive-hop-") as tmp:
        pem = Path(tmp) / "hop.pem"
        pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        context.load_cert_chain(pem)
    return context


class HopProxy:
    """A threaded HTTP(S) proxy on 127.0.0.1 (port chosen by the OS) over ``answer``."""

    def __init__(self, answer: Answerer) -> None:
        self._answer = answer
        self._tls = _tls_context()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True,
                                        name=f"archive-hop-proxy-{self.port}")
        self._thread.start()

    @property
    def server(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        conn: socket.socket = sock
        reader: BinaryIO | None = None
        try:
            sock.settimeout(30)
            reader = conn.makefile("rb")
            head = _read_head(reader)
            if head is None:
                return
            method, target, headers = head
            origin = ""
            if method == "CONNECT":
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                reader.close()
                conn = self._tls.wrap_socket(sock, server_side=True)
                reader = conn.makefile("rb")
                origin = "https://" + (target[:-4] if target.endswith(":443") else target)
                head = _read_head(reader)
            while head is not None and not self._stopping.is_set():
                method, target, headers = head
                url = origin + target if origin else target
                length = int(next((v for k, v in headers if k.lower() == "content-length"),
                                  "0") or 0)
                body = reader.read(min(length, _MAX_BODY)) if length else None
                answer = self._answer(method, url,
                                      [(k, v) for k, v in headers
                                       if k.lower() not in _HOP_HEADERS], body)
                if answer is None:
                    return
                status, out_headers, payload = answer
                lines = [f"HTTP/1.1 {status} Status"]
                lines += [f"{k}: {v}" for k, v in out_headers if k.lower() not in _DROP_OUT]
                lines.append(f"Content-Length: {len(payload)}")
                conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
                             + payload)
                head = _read_head(reader)
        except (OSError, ssl.SSLError, ValueError, UnicodeError):
            pass  # the browser hung up or sent nonsense: nothing to answer
        finally:
            # the reader holds a reference to the socket: closing only the socket would
            # leave the connection open, and the browser waiting for an answer to a
            # refused request until the page's deadline
            if reader is not None:
                with contextlib.suppress(OSError):
                    reader.close()
            with contextlib.suppress(OSError):
                conn.close()
            with contextlib.suppress(OSError):
                sock.close()


def _read_head(reader: BinaryIO) -> tuple[str, str, list[tuple[str, str]]] | None:
    readline = reader.readline
    line = readline(_MAX_HEAD)
    if not line.strip():
        return None
    method, target, _version = line.decode("latin-1").split(" ", 2)
    headers: list[tuple[str, str]] = []
    size = len(line)
    while True:
        raw = readline(_MAX_HEAD)
        size += len(raw)
        if size > _MAX_HEAD:
            raise ValueError("request head too long")
        if raw in (b"\r\n", b"\n", b""):
            return method, target, headers
        name, _, value = raw.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
