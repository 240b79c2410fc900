"""A hostile cloud endpoint for tests: it counts connections and refuses every request.

One local TCP port answers plain HTTP (the AWS and GCP SDKs pointed at ``http://``) and TLS (the
Azure SDK, which only speaks ``https://``; its CA is in :attr:`RecordingEndpoint.ca_path`). Every
request gets a 403 in the calling cloud's own error format, so each SDK raises its ordinary
access-denied error at once, without retries.

With ``echo=True`` the error message holds the request's headers verbatim — the way some proxies
and misconfigured gateways answer — so any credential an SDK sent comes back in the error text.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from xml.sax.saxutils import escape

__all__ = ["RecordingEndpoint", "recording_endpoint"]


class RecordingEndpoint:
    """Counts TCP connections; answers each HTTP request with a cloud-shaped 403."""

    def __init__(self, ca_dir: Path, *, echo: bool = False) -> None:
        import trustme

        self.echo = echo
        self.connections = 0
        self.requests: list[str] = []
        self._lock = threading.Lock()
        ca = trustme.CA(organization_name="portsync test endpoint")
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        leaf.configure_cert(self._tls)
        self.ca_path = ca_dir / "endpoint-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_path))
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="recording-endpoint", daemon=True)
        self._thread.start()

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._stop.set()
        self._server.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            first = conn.recv(1, socket.MSG_PEEK)
            stream: socket.socket = conn
            if first == b"\x16":  # a TLS ClientHello
                stream = self._tls.wrap_socket(conn, server_side=True)
            while self._answer(stream):
                pass
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def _answer(self, stream: socket.socket) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = stream.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        while len(rest) < length:
            chunk = stream.recv(65536)
            if not chunk:
                break
            rest += chunk
        request = head.decode("latin-1")
        with self._lock:
            self.requests.append(request)
        message = ("denied; you sent: " + request.replace("\r\n", " | ")) if self.echo else "denied"
        body, kind = self._body(lines[0], headers, message)
        reply = (
            f"HTTP/1.1 403 Forbidden\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
            "Connection: keep-alive\r\n\r\n"
        ).encode() + body
        stream.sendall(reply)
        return True

    @staticmethod
    def _body(request_line: str, headers: dict[str, str], message: str) -> tuple[bytes, str]:
        path = request_line.split(" ")[1] if " " in request_line else "/"
        if "/subscriptions/" in path or "api-version=" in path:
            body = {"error": {"code": "AuthorizationFailed", "message": message}}
            return json.dumps(body).encode(), "application/json"
        if "/compute/" in path or "/projects/" in path:
            body = {
                "error": {
                    "code": 403,
                    "message": message,
                    "errors": [{"reason": "forbidden", "message": message}],
                    "status": "PERMISSION_DENIED",
                }
            }
            return json.dumps(body).encode(), "application/json"
        xml = (
            "<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error>"
            f"<Code>UnauthorizedOperation</Code><Message>{escape(message)}</Message>"
            "</Error></Errors><RequestID>fuzz</RequestID></Response>"
        )
        return xml.encode(), "text/xml"


@contextmanager
def recording_endpoint(ca_dir: Path, *, echo: bool = False) -> Iterator[RecordingEndpoint]:
    endpoint = RecordingEndpoint(ca_dir, echo=echo)
    try:
        yield endpoint
    finally:
        endpoint.close()
