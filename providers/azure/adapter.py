"""The only module that talks to Azure: azure-mgmt-network NSG calls, imported lazily (the
listing's pages are asked by :mod:`.listing`, with this module's client).

azure-core's retry policy already retries 429, 5xx and dropped connections (honouring
``Retry-After``); this adapter adds what it does not: a bounded, jittered retry of writes refused
with 409 ``AnotherOperationInProgress`` (and of throttling that outlasts the SDK's retries).
Every NSG write carries ``If-Match: <etag>``; a 412 comes back as a
:class:`~portsync.errors.ConflictError` (the provider reports it: plan again).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from portsync.control import RunControl
from portsync.errors import ConfigError, ConflictError, ProviderError, ThrottledError
from portsync.ratelimit import TokenBucket, take
from portsync.readahead import read_ahead

from .errors import is_busy, map_sdk_errors
from .limits import DEFAULT_ENDPOINT
from .listing import nsg_pages

__all__ = ["NO_ANSWER_BACKOFF", "AzureAdapter", "make_client"]

log = logging.getLogger(__name__)

#: Seconds one HTTP attempt may wait to connect and to read (a cluster's ``timeout:`` overrides).
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
#: Longest total backoff between the attempts of a call that gets no answer: azure-core retries
#: the first time at once, then after ``0.2 × 2`` s (see .retries).
NO_ANSWER_BACKOFF = 0.2 * 2
#: The Azure RBAC actions of portsync's calls (named when one is denied).
_READ = "Microsoft.Network/networkSecurityGroups/read"
_WRITE = "Microsoft.Network/networkSecurityGroups/write"
#: portsync's own retries of a write refused because the NSG is busy or throttled.
BUSY_RETRIES = 6
BUSY_BACKOFF = 0.25
BUSY_BACKOFF_MAX = 8.0


def _import_network() -> Any:
    try:
        from azure.mgmt import network
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ProviderError(
            "the Azure provider needs azure-mgmt-network and azure-identity",
            hint="pip install 'portsync[azure]'",
        ) from exc
    return network


class _NoCredential:
    """Placeholder credential for anonymous access (emulators): never asked for a token because
    the bearer-token policy is replaced by a no-op policy."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:  # pragma: no cover - never called
        raise RuntimeError("anonymous Azure access has no token")


def make_client(
    *,
    subscription_id: str,
    endpoint: str | None = None,
    ca_bundle: str | None = None,
    anonymous: bool = False,
    polling_interval: float = 1.0,
    credential: Any = None,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    cluster: str = "",
    control: RunControl | None = None,
) -> Any:
    """A ``NetworkManagementClient`` for one subscription.

    ``endpoint`` defaults to the public ARM endpoint; the token scope follows it
    (``<endpoint>/.default``), so sovereign clouds work. ``ca_bundle`` (a PEM file, relative to
    the working directory) verifies a private endpoint or an emulator. ``anonymous`` sends no
    credentials (emulators only); otherwise ``credential`` or azure-identity's
    ``DefaultAzureCredential`` is used.

    Raises:
        ProviderError: azure-mgmt-network or azure-identity is not installed.
        ConfigError: ``ca_bundle`` names no file.
    """
    network = _import_network()
    from .retries import NoticeRetryPolicy

    control = control or RunControl()
    base_url = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
    kwargs: dict[str, Any] = {
        "base_url": base_url,
        "credential_scopes": [f"{base_url}/.default"],
        "polling_interval": polling_interval,
        # azure-core's transport defaults (300 s a read) would keep a hung endpoint for minutes.
        "connection_timeout": control.clip(connect_timeout),
        "read_timeout": control.clip(read_timeout),
        "retry_policy": NoticeRetryPolicy(cluster=cluster, control=control),
    }
    if ca_bundle:
        path = Path(ca_bundle).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(
                f"ca_bundle {ca_bundle} does not exist (resolved to {path})",
                hint="give the path of a PEM file, relative to the working directory",
            )
        kwargs["connection_verify"] = str(path)
    if anonymous:
        from azure.core.pipeline.policies import SansIOHTTPPolicy

        credential = _NoCredential()
        kwargs["authentication_policy"] = SansIOHTTPPolicy()
    elif credential is None:
        try:
            from azure.identity import DefaultAzureCredential
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ProviderError(
                "the Azure provider needs azure-identity", hint="pip install 'portsync[azure]'"
            ) from exc
        # DefaultAzureCredential logs its whole chain of failures as a WARNING before raising;
        # portsync reports one clear AuthError instead (the chain stays in the cause, --debug).
        identity_log = logging.getLogger("azure.identity")
        if identity_log.level == logging.NOTSET and not logging.getLogger().isEnabledFor(
            logging.DEBUG
        ):
            identity_log.setLevel(logging.ERROR)
        credential = DefaultAzureCredential()
    return network.NetworkManagementClient(credential, subscription_id, **kwargs)


def _as_dict(model: Any) -> dict[str, Any]:
    """An SDK model as its REST JSON (camelCase keys, read-only fields included)."""
    from .convert import model_to_dict

    return model_to_dict(model)


class AzureAdapter:
    """NSG reads and writes in one resource group. The client is injectable for tests.

    NSGs cross this boundary as plain dicts in the REST JSON shape.
    """

    def __init__(
        self,
        client: Any,
        *,
        subscription_id: str,
        resource_group: str,
        polling_interval: float = 1.0,
        busy_retries: int = BUSY_RETRIES,
        backoff: float = BUSY_BACKOFF,
        backoff_max: float = BUSY_BACKOFF_MAX,
        sleep: Callable[[float], None] = time.sleep,
        read_bucket: TokenBucket | None = None,
        write_bucket: TokenBucket | None = None,
        cluster: str = "",
        endpoint: str | None = None,
        control: RunControl | None = None,
    ) -> None:
        self.cluster = cluster
        self.endpoint = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
        self.control = control or RunControl()
        self.read_bucket = read_bucket
        self.write_bucket = write_bucket
        self.client = client
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.polling_interval = polling_interval
        self.busy_retries = busy_retries
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.sleep = sleep

    @contextmanager
    def _errors(self, what: str, permission: str = _READ) -> Iterator[None]:
        with (
            self.control.bounded(),
            map_sdk_errors(
                what, cluster=self.cluster, endpoint=self.endpoint, permission=permission
            ),
        ):
            yield

    def nsg_pages(self) -> Iterator[list[dict[str, Any]]]:
        """The resource group's NSGs page by page (``nextLink``), rules and etag inline, as the
        JSON ARM sent (:func:`.listing.nsg_pages`: the SDK's own request, no models).

        A reader thread walks the pages while the caller works on the ones already here, so on
        a real network the caller's work on page k overlaps the round trip of page k + 1.

        Raises:
            ProviderError: or a subclass, when ARM refuses after retries (raised where the
                failing page would have been).
        """
        rg = self.resource_group

        def pages() -> Iterator[list[dict[str, Any]]]:
            self.control.check(f"listing the NSGs of resource group {rg} (cluster {self.cluster})")
            take(self.read_bucket)
            for page in nsg_pages(self.client, self.subscription_id, rg):
                yield page.bodies  # parsed here, in the reader thread
                if page.more:
                    take(self.read_bucket)  # the next page is one more request

        stream = read_ahead(pages, name=f"azure-list-{rg}")
        while True:
            with self._errors(f"listing the network security groups of resource group {rg}"):
                page = next(stream, None)
            if page is None:
                return
            yield page

    def get_nsg(self, name: str) -> dict[str, Any]:
        """One NSG (used only to re-read after a 412).

        Raises:
            NotFoundError: the NSG does not exist (any more).
            ProviderError: or another subclass, when ARM refuses after retries.
        """
        self.control.check(f"reading NSG {name} (cluster {self.cluster})")
        take(self.read_bucket)
        with self._errors(f"reading NSG {name} in resource group {self.resource_group}"):
            return _as_dict(self.client.network_security_groups.get(self.resource_group, name))

    def put_nsg(self, name: str, body: bytes, *, etag: str) -> dict[str, Any]:
        """Replace an NSG (its whole rule list) if its etag is still ``etag``; wait for the
        long-running operation; return the NSG as written. ``body`` is the request body's JSON,
        sent as these exact bytes.

        A write refused because another operation runs on the NSG (409
        ``AnotherOperationInProgress``), or still throttled after the SDK's own retries, is
        retried with exponential backoff and jitter, at most ``busy_retries`` times.

        Raises:
            ConflictError: the etag is stale (412, ``context["code"] == "PreconditionFailed"``),
                or the NSG stayed busy.
            ThrottledError: ARM kept throttling.
            ProviderError: or another subclass, when the write or its operation fails.
        """
        attempt = 0
        while True:
            try:
                return self._put_once(name, body, etag=etag)
            except (ConflictError, ThrottledError) as exc:
                retryable = is_busy(exc) or isinstance(exc, ThrottledError)
                if not retryable or attempt >= self.busy_retries:
                    raise
                delay = min(self.backoff_max, self.backoff * 2**attempt)
                delay *= random.uniform(0.5, 1.0)
                attempt += 1
                log.info(
                    "NSG %s: %s; retrying in %.2f s (attempt %d of %d)",
                    name,
                    exc.context.get("code") or type(exc).__name__,
                    delay,
                    attempt,
                    self.busy_retries,
                )
                self.sleep(delay)

    def _put_once(self, name: str, body: bytes, *, etag: str) -> dict[str, Any]:
        rg = self.resource_group
        self.control.check_write(f"the write of NSG {name}")
        take(self.write_bucket)
        with self._errors(f"write of NSG {name} in resource group {rg}", _WRITE):
            poller = self.client.network_security_groups.begin_create_or_update(
                rg,
                name,
                body,
                content_type="application/json",
                headers={"If-Match": etag},
                polling_interval=self.polling_interval,
            )
        with self._errors(
            f"write of NSG {name} in resource group {rg} (long-running operation)", _WRITE
        ):
            return _as_dict(poller.result())
