"""Fixtures for the Azure provider tests: the ARM emulator and real SDK clients pointed at it.

The SDK client is built exactly as portsync's adapter (and the offline demo) must build it::

    NetworkManagementClient(
        credential,                       # anything with get_token(); see StaticTokenCredential
        subscription_id,
        base_url=emulator.base_url,       # https://127.0.0.1:PORT
        connection_verify=emulator.ca_bundle_path,
        polling_interval=0.01,            # LRO polling; the SDK default is 30 s
        credential_scopes=["https://management.azure.com/.default"],
    )

Azure identity variables and proxies are removed from the environment for every test; the
repository-wide ``tests/conftest.py`` refuses connections to anything but 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from portsync.providers.azure.emulator import AzureEmulator
from portsync.providers.azure.translate import _reach

SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
ARM_SCOPE = "https://management.azure.com/.default"
TEST_API_VERSION = "2024-07-01"

_AZURE_ENV_VARS = (
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_TENANT_ID",
    "AZURE_SUBSCRIPTION_ID",
    "AZURE_USERNAME",
    "AZURE_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


class StaticTokenCredential:
    """A TokenCredential that hands out a fixed bearer token (tests only).

    azure-core's BearerTokenCredentialPolicy only needs ``get_token``; the emulator accepts
    any bearer token.
    """

    def __init__(self, token: str = "emulator-token") -> None:
        self.token = token
        self.requested_scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.requested_scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


class ArmHttp:
    """Plain HTTPS access to the emulator for wire-level assertions (``requests`` + CA)."""

    def __init__(self, emulator: AzureEmulator) -> None:
        self.emulator = emulator
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = emulator.ca_bundle_path

    def url(self, path: str) -> str:
        return f"{self.emulator.base_url}{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        api_version: str | None = TEST_API_VERSION,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> requests.Response:
        params = {"api-version": api_version} if api_version is not None else None
        if path.startswith("https://"):
            url, params = path, None
        else:
            url = self.url(path)
        return self.session.request(
            method,
            url,
            params=params,
            json=body if raw is None else None,
            data=raw,
            headers={"Authorization": "Bearer test", **(headers or {})},
            timeout=10,
        )

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, body=body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, body=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture(autouse=True)
def _no_azure_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Strip Azure identity settings and proxies (tests/conftest.py guards the network)."""
    for name in _AZURE_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(autouse=True)
def _fresh_reach_cache() -> Iterator[None]:
    """Each test computes which roles a rule reaches itself: the answers are remembered per
    process, and one remembered by an earlier test (or by the process a mutation run forks
    from) would hide what the code under test says."""
    _reach.cache_clear()
    yield
    _reach.cache_clear()


@pytest.fixture(scope="session")
def azure_emulator_server() -> Iterator[AzureEmulator]:
    """One emulator (and one throw-away CA) per test session."""
    emulator = AzureEmulator()
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def azure_emulator(azure_emulator_server: AzureEmulator) -> Iterator[AzureEmulator]:
    """The session emulator, emptied and back on default settings for each test."""
    emulator = azure_emulator_server
    emulator.clear()
    emulator.page_size = 100
    emulator.latency = 0.0
    emulator.operation_delay = 0.0
    emulator.retry_after = 0
    emulator.require_auth = False
    yield emulator
    emulator.clear()


@pytest.fixture
def subscription_id() -> str:
    return SUBSCRIPTION_ID


@pytest.fixture
def make_network_client(
    azure_emulator: AzureEmulator,
) -> Callable[..., Any]:
    """Build a real ``NetworkManagementClient`` against the emulator; kwargs override."""

    def make(**overrides: Any) -> Any:
        from azure.mgmt.network import NetworkManagementClient

        kwargs: dict[str, Any] = {
            "base_url": azure_emulator.base_url,
            "connection_verify": azure_emulator.ca_bundle_path,
            "polling_interval": 0.01,
            "credential_scopes": [ARM_SCOPE],
            "retry_backoff_factor": 0.01,
            "retry_backoff_max": 0.05,
        }
        kwargs.update(overrides)
        credential = kwargs.pop("credential", StaticTokenCredential())
        subscription = kwargs.pop("subscription_id", SUBSCRIPTION_ID)
        return NetworkManagementClient(credential, subscription, **kwargs)

    return make


@pytest.fixture
def network_client(make_network_client: Callable[..., Any]) -> Any:
    """A real SDK client with fast polling and fast retries."""
    return make_network_client()


@pytest.fixture
def strict_network_client(make_network_client: Callable[..., Any]) -> Any:
    """A real SDK client that never retries, so faults surface as errors."""
    return make_network_client(retry_total=0)


@pytest.fixture
def arm_http(azure_emulator: AzureEmulator) -> Iterator[ArmHttp]:
    http = ArmHttp(azure_emulator)
    yield http
    http.session.close()


@pytest.fixture
def static_credential() -> StaticTokenCredential:
    return StaticTokenCredential()
