"""Test-wide safety: no real cloud credentials, no network beyond 127.0.0.1; under CI=true a
test that cannot run fails (tests/strict_ci.py)."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Iterator

import pytest

from tests import strict_ci

_CLOUD_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
    "CLOUDSDK_CONFIG",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "AZURE_SUBSCRIPTION_ID",
    "PORTSYNC_CONFIG",
    # A developer's signing key would make every test that writes an unsigned plan fail.
    "PORTSYNC_PLAN_KEY",
    "NO_COLOR",
)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(strict_ci, "portsync-strict-ci")
    _interruptible()


def _interruptible() -> None:
    """Make SIGINT interrupt again when the run was started with it ignored.

    A non-interactive shell starts a background command (``.ci/run &``) with SIGINT ignored, and
    every process the tests start inherits that: a test that stops a child (or itself) with
    SIGINT, as a user's Ctrl-C would, then waits for an interrupt that never comes. A handler
    set here is reset to the default in each child at exec, so the children hear SIGINT too.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


_real_connect = socket.socket.connect
_LOCAL = ("127.0.0.1", "::1", "localhost")


def _guarded_connect(self: socket.socket, address: object) -> None:
    host = address[0] if isinstance(address, tuple) else None
    if host is not None and host not in _LOCAL and self.family in (socket.AF_INET, socket.AF_INET6):
        raise ConnectionRefusedError(f"tests may only connect to 127.0.0.1, not {host}")
    _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _sandbox(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    for name in _CLOUD_ENV:
        monkeypatch.delenv(name, raising=False)
    # pytest-xdist workers inherit COLUMNS=80 from their launcher: tables would be rendered at the
    # width of whichever worker runs the test. Tests that care about a width set it themselves.
    for name in ("COLUMNS", "LINES"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(home / "gcloud"))
    # Crash logs and the apply history go to the state folder: a fresh one per test.
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    yield
