"""HTTP plumbing: the request handler that hands each request to the emulator."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Protocol

from ... import emulation
from .routes import Json


@dataclasses.dataclass(frozen=True, slots=True)
class _Response:
    status: int
    body: Json


class _App(Protocol):
    """What the handler needs of the emulator (:class:`.state.GcpEmulator`)."""

    verbose: bool
    _epoch: emulation.Epoch

    def _handle(self, method: str, target: str, body: bytes) -> _Response | object: ...


class _Handler(emulation.EmulatorRequestHandler):
    server: emulation.EmulatorHTTPServer[_App]

    def serve(self) -> None:
        with self.server.app._epoch.serving():
            self._serve()

    def _serve(self) -> None:
        outcome = self.server.app._handle(self.command, self.path, self.read_body())
        if not isinstance(outcome, _Response):
            self.reset_connection()
            return
        data = json.dumps(outcome.body, separators=(",", ":")).encode()
        self.write_response(
            outcome.status, data, [("Content-Type", "application/json; charset=UTF-8")]
        )

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.app.verbose:
            super().log_message(format, *args)
