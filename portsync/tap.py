"""A recording reverse proxy in front of a rehearsal copy (docs/rehearse.md).

The rehearsal applies a plan to a local emulator through the cloud's own SDK. To prove what the
emulator received, and to look at the copy after every single write, the SDK talks to this tap
instead of the emulator: reads pass straight through; writes pass one at a time, and after each
accepted write the tap calls ``on_write`` before it answers, so the state ``on_write`` reads is
exactly the state after that write and before the next one.

The tap only ever listens on loopback and forwards to one loopback upstream.
"""

from __future__ import annotations

import http.client
import logging
import ssl
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["TappedWrite", "WriteTap"]

log = logging.getLogger(__name__)

#: Headers that belong to one connection, never forwarded.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)

#: The largest request body the tap accepts (a write to a firewall API is a few KiB).
MAX_BODY = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class TappedWrite:
    """One write the upstream received: method, path with query, body, and its answer."""

    method: str
    path: str
    body: bytes
    status: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tap: WriteTap) -> None:
        super().__init__((tap.host, 0), _Handler)
        self.tap = tap


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("tap: " + format, *args)

    def _relay(self) -> None:
        tap = self.server.tap
        length = int(self.headers.get("Content-Length") or 0)
        if (
            length < 0
            or length > MAX_BODY
            or "chunked" in self.headers.get("Transfer-Encoding", "")
        ):
            self.send_error(411 if length >= 0 else 400)
            return
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        if tap.is_write(self.command, self.path, body):
            with tap.write_lock:
                status, reply_headers, data = tap.forward(self.command, self.path, headers, body)
                tap.record(TappedWrite(self.command, self.path, body, status))
                if 200 <= status < 300:
                    tap.after_write()
        else:
            status, reply_headers, data = tap.forward(self.command, self.path, headers, body)
        self.send_response(status)
        for key, value in reply_headers:
            if key.lower() not in _HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _relay


class WriteTap:
    """A reverse proxy on ``127.0.0.1`` (a free port) in front of ``upstream``.

    Args:
        upstream: the emulator's base URL (``http://127.0.0.1:PORT`` or ``https://…``).
        is_write: whether a request (method, path, body) changes state; the cloud's part knows.
        on_write: called after each accepted write, before the client gets the answer; what it
            raises is kept in :attr:`errors` (the write itself still succeeds).
        server_context: TLS for the tap's own listener (an HTTPS cloud SDK insists on it).
        upstream_context: TLS trust for an HTTPS upstream.
        timeout: seconds one forwarded request may take.
    """

    def __init__(
        self,
        upstream: str,
        *,
        is_write: Callable[[str, str, bytes], bool],
        on_write: Callable[[], None] | None = None,
        server_context: ssl.SSLContext | None = None,
        upstream_context: ssl.SSLContext | None = None,
        timeout: float = 60.0,
        host: str = "127.0.0.1",
    ) -> None:
        split = urllib.parse.urlsplit(upstream)
        if split.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the tap forwards to loopback only, not {upstream!r}")
        self.scheme = split.scheme
        self.upstream_host = split.hostname
        self.upstream_port = split.port or (443 if split.scheme == "https" else 80)
        self.is_write = is_write
        self.on_write = on_write
        self.server_context = server_context
        self.upstream_context = upstream_context
        self.timeout = timeout
        self.host = host
        self.write_lock = threading.Lock()
        self.writes: list[TappedWrite] = []
        self.errors: list[BaseException] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The tap's base URL once started."""
        if self._server is None:
            raise RuntimeError("the tap is not running")
        scheme = "https" if self.server_context is not None else "http"
        return f"{scheme}://{self.host}:{self._server.server_address[1]}"

    def start(self) -> str:
        """Listen on a free loopback port; return the base URL."""
        server = _Server(self)
        if self.server_context is not None:
            server.socket = self.server_context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop listening (bounded: the serving thread is joined for at most 5 s)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send one request upstream and read the whole answer."""
        conn: http.client.HTTPConnection
        if self.scheme == "https":
            conn = http.client.HTTPSConnection(
                str(self.upstream_host),
                self.upstream_port,
                timeout=self.timeout,
                context=self.upstream_context,
            )
        else:
            conn = http.client.HTTPConnection(
                str(self.upstream_host), self.upstream_port, timeout=self.timeout
            )
        try:
            conn.request(method, path, body=body or None, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def record(self, write: TappedWrite) -> None:
        """Keep one write the upstream answered."""
        self.writes.append(write)

    def after_write(self) -> None:
        """Run ``on_write``, keeping what it raises."""
        if self.on_write is None:
            return
        try:
            self.on_write()
        except Exception as exc:
            self.errors.append(exc)

    def __enter__(self) -> WriteTap:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
