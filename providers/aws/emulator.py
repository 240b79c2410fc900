"""Launcher for moto server, the third-party EC2 emulator used by tests, benchmarks and the demo.

portsync carries no EC2 emulator of its own: moto speaks the real EC2 query protocol over HTTP,
so boto3 is exercised exactly as against AWS.
"""

from __future__ import annotations

import logging
import urllib.request
from typing import Any

__all__ = ["MotoServer"]


class MotoServer:
    """moto server on 127.0.0.1, on a free port, in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._server: Any = None
        self.url = ""

    def start(self) -> str:
        """Start and return the base URL.

        Raises:
            MissingDependencyError: moto[server] is not installed.
        """
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:
            from portsync.errors import MissingDependencyError

            raise MissingDependencyError(
                "the AWS emulator (moto server) is not installed",
                hint="pip install 'portsync[emulators]'",
            ) from exc
        # werkzeug logs every request to stderr; the demo and tests want quiet.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self.url

    def reset(self) -> None:
        """Forget every resource (moto's reset API).

        Bounded at 60 s: a reset rebuilds moto's backends, which takes well under a second on an
        idle machine but several seconds on a loaded one (parallel test workers)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=60):
            pass

    def stop(self) -> None:
        """Stop the server thread."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
