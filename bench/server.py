"""A fast loopback HTTP/1.1 server for the bench: every contender fetches from it.

Run as its own process (``python -m bench.server [--host 127.0.0.N] PAGES``); it prints
its port on the first line of stdout, then serves ``/a/NNNNNNN.html`` (page N of
:mod:`bench.corpus`, for N < PAGES) from memory with ``Content-Length``, keep-alive when
the client allows it, ``Connection: close`` when the client asks for it, and 404 for
anything else.
A fixed pool of threads serves accepted connections; bodies are built once and kept.

``python -m bench.server --files DIR PAGES`` writes the same pages as files for nginx
(in its own process, so the bench's main process stays small: a child's peak RSS on
Linux starts from its parent's at exec).
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import sys
import threading
from pathlib import Path

from bench import corpus

WORKERS = 64
_NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nnot found\n"
)


def _responses(pages: int) -> list[tuple[bytes, bytes]]:
    """(headers without the Connection line, body) for every page."""
    out = []
    for i in range(pages):
        body = corpus.page(i)
        head = (
            f"HTTP/1.1 200 OK\r\nServer: bench\r\nDate: Mon, 04 Mar 2024 10:00:00 GMT\r\n"
            f"Content-Type: text/html; charset=utf-8\r\n"
            f"Last-Modified: Mon, 04 Mar 2024 09:00:00 GMT\r\n"
            f"Content-Length: {len(body)}\r\n"
        ).encode()
        out.append((head, body))
    return out


def _serve(conn: socket.socket, pages: list[tuple[bytes, bytes]]) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            head, _, buf = buf.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            parts = lines[0].split(b" ")
            method, target = parts[0], parts[1] if len(parts) > 1 else b"/"
            lower = head.lower()
            close = b"connection: close" in lower or (
                len(parts) > 2 and parts[2] == b"HTTP/1.0" and b"keep-alive" not in lower
            )
            conn_line = b"Connection: close\r\n\r\n" if close else b"Connection: keep-alive\r\n\r\n"
            resp = None
            if target.startswith(b"/a/") and target.endswith(b".html"):
                try:
                    n = int(target[3:-5])
                except ValueError:
                    n = -1
                if 0 <= n < len(pages):
                    h, body = pages[n]
                    resp = h + conn_line + (body if method != b"HEAD" else b"")
            if resp is None:
                resp = _NOT_FOUND
                close = True
            conn.sendall(resp)
            if close:
                return
    except OSError:
        return
    finally:
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)
        conn.close()


def write_files(root: Path, pages: int) -> None:
    """The pages as static files under ``root`` (for nginx), with a fixed mtime."""
    (root / "a").mkdir(parents=True, exist_ok=True)
    for i in range(pages):
        path = root / corpus.path(i).lstrip("/")
        path.write_bytes(corpus.page(i))
        os.utime(path, (1709542800, 1709542800))  # Last-Modified: 2024-03-04 09:00 UTC


def main(argv: list[str]) -> None:
    if argv[:1] == ["--files"]:
        write_files(Path(argv[1]), int(argv[2]))
        return
    host = "127.0.0.1"
    if argv[:1] == ["--host"]:  # another loopback address: another host for politeness
        host, argv = argv[1], argv[2:]
    pages = _responses(int(argv[0]) if argv else 1000)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, 0))
    listener.listen(1024)
    work: queue.SimpleQueue[socket.socket] = queue.SimpleQueue()

    def worker() -> None:
        while True:
            _serve(work.get(), pages)

    for _ in range(WORKERS):
        threading.Thread(target=worker, daemon=True).start()
    print(listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        work.put(conn)


if __name__ == "__main__":
    main(sys.argv[1:])
