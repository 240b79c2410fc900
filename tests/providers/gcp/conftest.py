"""Fixtures for GCP tests: one local Compute emulator per session, reset per test.

The real google-cloud-compute clients (REST transport) are pointed at the
emulator with a custom ``api_endpoint`` and anonymous credentials.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pytest

from portsync.providers.gcp.emulator import SERVICE_PATH, GcpEmulator

if TYPE_CHECKING:
    from google.cloud.compute_v1 import FirewallsClient, GlobalOperationsClient

RawCall = Callable[..., tuple[int, dict[str, Any]]]

GCP_TEST_PROJECT = "portsync-test"


@pytest.fixture(scope="session")
def gcp_emulator_session() -> Iterator[GcpEmulator]:
    """The emulator shared by the whole session (one per xdist worker)."""
    with GcpEmulator() as emulator:
        yield emulator


@pytest.fixture
def gcp_emulator(gcp_emulator_session: GcpEmulator) -> Iterator[GcpEmulator]:
    """The session emulator, reset before and after the test."""
    gcp_emulator_session.reset()
    yield gcp_emulator_session
    gcp_emulator_session.reset()


@pytest.fixture
def gcp_project() -> str:
    """The project id tests use."""
    return GCP_TEST_PROJECT


def _client_kwargs(url: str) -> dict[str, Any]:
    pytest.importorskip("google.cloud.compute_v1", reason="needs portsync[gcp]")
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return {
        "client_options": ClientOptions(api_endpoint=url),
        "credentials": AnonymousCredentials(),  # type: ignore[no-untyped-call]
        "transport": "rest",
    }


@pytest.fixture
def firewalls_client(gcp_emulator: GcpEmulator) -> FirewallsClient:
    """A real ``FirewallsClient`` (REST) talking to the emulator."""
    kwargs = _client_kwargs(gcp_emulator.url)
    from google.cloud.compute_v1 import FirewallsClient

    return FirewallsClient(**kwargs)


@pytest.fixture
def operations_client(gcp_emulator: GcpEmulator) -> GlobalOperationsClient:
    """A real ``GlobalOperationsClient`` (REST) talking to the emulator."""
    kwargs = _client_kwargs(gcp_emulator.url)
    from google.cloud.compute_v1 import GlobalOperationsClient

    return GlobalOperationsClient(**kwargs)


@pytest.fixture
def gcp_raw(gcp_emulator: GcpEmulator) -> RawCall:
    """Plain-HTTP access to the emulator for wire-level checks.

    ``gcp_raw(method, path, body=None, query=None)`` takes a path relative to
    ``/compute/v1/`` and returns ``(status, json_body)``.
    """

    def call(
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        raw_body: bytes | None = None,
    ) -> tuple[int, dict[str, Any]]:
        url = gcp_emulator.url + SERVICE_PATH + path.lstrip("/")
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = raw_body if raw_body is not None else None
        if body is not None:
            data = json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    return call
