"""HTTP plumbing: the TLS server, the request handler, and the requests it records."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import uuid
from collections.abc import Mapping, MutableSequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from ... import emulation

log = logging.getLogger(__package__)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the emulator saw it (kept in :attr:`AzureEmulator.requests`)."""

    method: str
    path: str
    query: Mapping[str, str]
    operation: str
    headers: Mapping[str, str]
    body: Any
    status: int


@dataclass(slots=True)
class _Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    host: str
    operation: str = "unknown"
    params: dict[str, str] = field(default_factory=dict)

    @property
    def api_version(self) -> str:
        return self.query.get("api-version", "")


@dataclass(slots=True)
class _Response:
    status: int
    body: Any = None  # JSON-serialisable, or None for an empty body
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering
    record: bool = True  # keep it in AzureEmulator.requests


class _App(Protocol):
    """What the server needs of the emulator (:class:`.state.AzureEmulator`)."""

    host: str
    port: int

    @property
    def requests(self) -> MutableSequence[RecordedRequest]: ...

    _epoch: emulation.Epoch

    def _handle(self, req: _Request) -> _Response: ...


class _TLSServer(emulation.EmulatorHTTPServer[_App]):
    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        emulator: _App,
        context: ssl.SSLContext,
    ) -> None:
        self._context = context
        super().__init__(address, handler, emulator)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        # Handshake lazily, in the handler thread, so one slow client cannot stall accept().
        return self._context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        ), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("azure emulator connection error from %s", client_address, exc_info=True)


class _Handler(emulation.EmulatorRequestHandler):
    server: _TLSServer
    server_version = "portsync-azure-emulator"
    sys_version = ""
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("azure emulator: " + format, *args)

    def serve(self) -> None:
        with self.server.app._epoch.serving():
            self._serve()

    def _serve(self) -> None:
        emulator = self.server.app
        body = self.read_body()
        split = urlsplit(self.path)
        query = {k: v for k, v in parse_qsl(split.query, keep_blank_values=True)}
        # ARM matches query parameter names case-insensitively for these two.
        for name in ("api-version", "$skiptoken"):
            for k in list(query):
                if k.lower() == name and k != name:
                    query[name] = query.pop(k)
        headers = {k.lower(): v for k, v in self.headers.items()}
        host = headers.get("host") or f"{emulator.host}:{emulator.port}"
        req = _Request(self.command, unquote(split.path), query, headers, body, host)
        try:
            response = emulator._handle(req)
        except Exception:  # a bug in the emulator: answer like ARM would
            log.exception("azure emulator failed on %s %s", self.command, self.path)
            response = _Response(
                500,
                {
                    "error": {
                        "code": "InternalServerError",
                        "message": "Emulator error.",
                        "details": [],
                    }
                },
            )
        if response.record:
            emulator.requests.append(
                RecordedRequest(
                    method=req.method,
                    path=req.path,
                    query=dict(req.query),
                    operation=req.operation,
                    headers=dict(headers),
                    body=_maybe_json(body),
                    status=response.status,
                )
            )
        if response.drop:
            self.reset_connection()
            return
        self._send(response)

    def _send(self, response: _Response) -> None:
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        request_id = str(uuid.uuid4())
        headers = [
            ("x-ms-request-id", request_id),
            ("x-ms-correlation-request-id", request_id),
            ("Cache-Control", "no-cache"),
            *response.headers.items(),
        ]
        if payload:
            headers.append(("Content-Type", "application/json; charset=utf-8"))
        self.write_response(response.status, payload, headers)


def _maybe_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return body.decode("utf-8", "replace")
