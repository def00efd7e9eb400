"""A real RFC 3161 time-stamping authority on 127.0.0.1 for tests: OpenSSL's own
``openssl ts -reply`` behind a small threaded HTTP handler.

:func:`make_tsa_ca` writes, with the ``openssl`` command, a root CA and a TSA
certificate it issues (extendedKeyUsage critical timeStamping) plus the ``openssl ts``
configuration. :class:`TsaServer` answers every POST at ``/tsa`` by piping the query to
``openssl ts -reply``; ``/garbage`` answers 200 with bytes that are no token, ``/huge``
400 KiB of them, ``/hang``
accepts the request and never answers (until the server stops).
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_CONFIG = """\
[ tsa ]
default_tsa = tsa_config

[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256

[ tsa_ext ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping

[ ca_ext ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""


@dataclass(frozen=True)
class TsaCA:
    """One test TSA's files: ``root`` (PEM to trust), ``cert``/``key`` (the signer),
    ``config`` (what ``openssl ts -reply -config`` reads)."""

    dir: Path
    root: Path
    cert: Path
    key: Path
    config: Path


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


def make_tsa_ca(directory: Path, name: str) -> TsaCA:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "tsa.cnf"
    config.write_text(_CONFIG.format(dir=directory))
    (directory / "serial").write_text("01\n")
    root, root_key = directory / "root.pem", directory / "root.key"
    cert, key, csr = directory / "tsa.pem", directory / "tsa.key", directory / "tsa.csr"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", root_key, "-out", root, "-days", "3650",
             "-subj", f"/CN={name} Test Root", "-config", config, "-extensions", "ca_ext")
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", f"/CN={name} Test TSA", "-config", config)
    _openssl("x509", "-req", "-in", csr, "-CA", root, "-CAkey", root_key,
             "-CAcreateserial", "-out", cert, "-days", "3650", "-extfile", config,
             "-extensions", "tsa_ext")
    return TsaCA(directory, root, cert, key, config)


class TsaServer:
    """A threaded HTTP server on 127.0.0.1 in front of ``openssl ts -reply``."""

    def __init__(self, ca: TsaCA) -> None:
        self.ca = ca
        self.queries: list[bytes] = []
        self.release = threading.Event()  # frees /hang handlers when the server stops
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                query = self.rfile.read(length)
                server.queries.append(query)
                if self.path == "/hang":
                    server.release.wait(60)
                    return
                if self.path == "/huge":  # over the reply size limit
                    self._send(b"0" * (400 * 1024))
                    return
                if self.path == "/garbage":
                    self._send(b"this is not a timestamp reply")
                    return
                self._send(server.reply(query))

            def _send(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/tsa") -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def reply(self, query: bytes) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            q, r = Path(tmp) / "q.tsq", Path(tmp) / "r.tsr"
            q.write_bytes(query)
            _openssl("ts", "-reply", "-queryfile", q, "-signer", self.ca.cert,
                     "-inkey", self.ca.key, "-config", self.ca.config, "-out", r)
            return r.read_bytes()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
