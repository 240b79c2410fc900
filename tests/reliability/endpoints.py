"""Misbehaving endpoints for the bounded-wait tests, on 127.0.0.1 (standard library only).

- :class:`HungEndpoint` accepts TCP connections and never answers (a firewall that drops
  replies, a wedged proxy): the client can only time out.
- :class:`CannedEndpoint` answers every request with one fixed status and body — a 500 or 429
  whose body is not the cloud's error format, or a 200 web page from something that is not the
  cloud at all (a mistyped region or endpoint).

Both count what they saw, so a test asserts how many attempts the client made, not how long it
took.
"""

from __future__ import annotations

import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["CannedEndpoint", "HungEndpoint"]


class HungEndpoint:
    """Accepts connections and never answers a request. ``accepted`` counts the connections.

    With ``tls`` (a server :class:`ssl.SSLContext`) it completes the TLS handshake first, then
    stays silent; with ``scheme="https"`` and no ``tls`` the handshake itself never completes.
    """

    def __init__(self, *, scheme: str = "http", tls: ssl.SSLContext | None = None) -> None:
        self.scheme = "https" if tls is not None else scheme
        self._tls = tls
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._port = self._sock.getsockname()[1]
        self._sock.settimeout(0.05)  # so the accept loop notices close() promptly
        self._held: list[socket.socket] = []
        self._wrapped: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True, name="hung-endpoint")

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (or https: the TLS handshake never completes either)."""
        return f"{self.scheme}://127.0.0.1:{self._port}"

    @property
    def accepted(self) -> int:
        """How many connections were accepted (one per attempt)."""
        with self._lock:
            return len(self._held)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._tls is not None:
                threading.Thread(target=self._handshake, args=(conn,), daemon=True).start()
            with self._lock:
                self._held.append(conn)  # held open, never read, never answered

    def _handshake(self, conn: socket.socket) -> None:
        assert self._tls is not None
        conn.settimeout(30)
        try:
            wrapped = self._tls.wrap_socket(conn, server_side=True)
        except OSError:
            return
        with self._lock:
            self._wrapped.append(wrapped)

    def __enter__(self) -> HungEndpoint:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed.set()
        self._sock.close()
        with self._lock:
            for conn in self._held + self._wrapped:
                conn.close()
        self._thread.join(5)


class CannedEndpoint:
    """Answers every request with ``status``, ``body`` and ``content_type``; counts requests.

    With ``tls`` (a :class:`ssl.SSLContext` for the server side) it speaks HTTPS.
    """

    def __init__(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "text/plain",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        owner = self
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                with owner._lock:
                    owner.requests.append((self.command, self.path))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name="canned-endpoint"
        )

    @property
    def url(self) -> str:
        """The endpoint's base URL."""
        return f"{self.scheme}://127.0.0.1:{self._server.server_address[1]}"

    @property
    def count(self) -> int:
        """How many requests were answered."""
        with self._lock:
            return len(self.requests)

    def __enter__(self) -> CannedEndpoint:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
