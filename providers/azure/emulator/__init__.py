"""Local emulator of the Azure Resource Manager API for network security groups.

The emulator speaks the real ARM wire format — paths, ``api-version``, JSON bodies, error
envelopes, ``Azure-AsyncOperation`` long-running operations, paging with ``nextLink`` — over
HTTPS on 127.0.0.1, so that the real ``azure.mgmt.network.NetworkManagementClient`` is what
portsync's tests, benchmarks and offline demo exercise.

The HTTP server, counters, fault queue and observers are the cloud-neutral scaffolding of
:mod:`portsync.providers.emulation`.  It uses only the standard library (``http.server`` +
``ssl``) plus ``cryptography`` (:mod:`.tlscert`, which azure-identity and moto depend on
anyway), which makes a throw-away certificate authority and a server certificate for
``127.0.0.1``/``localhost`` at start.  The CA bundle is written to :attr:`AzureEmulator.ca_bundle_path`; hand that path to the
SDK as ``connection_verify``.  TLS is required because azure-core refuses to send bearer tokens
over plain http.

Quick use::

    with AzureEmulator() as emu:
        client = NetworkManagementClient(
            credential, "00000000-0000-0000-0000-000000000000",
            base_url=emu.base_url, connection_verify=emu.ca_bundle_path,
            polling_interval=0.01,
        )

The package's modules: :mod:`.routes` (the served surface), :mod:`.validation` (requests and
security rules), :mod:`.errors` (ARM's error envelope), :mod:`.state` (the emulator and its
state) and :mod:`.server` (TLS and the HTTP handler).

Run standalone: ``python -m portsync.providers.azure.emulator --port 8443 --ca-out ca.pem``.
See ``docs/providers/azure-emulator.md`` for routes, validation, faults and known gaps.
"""

from ...emulation import CallCounter
from .cli import main
from .routes import (
    DEFAULT_SECURITY_RULES,
    FAULT_KINDS,
    MAX_PRIORITY,
    MAX_RULES_PER_NSG,
    MIN_PRIORITY,
    SDK_DEFAULT_API_VERSION,
)
from .server import RecordedRequest
from .state import AzureEmulator

__all__ = [
    "DEFAULT_SECURITY_RULES",
    "FAULT_KINDS",
    "MAX_PRIORITY",
    "MAX_RULES_PER_NSG",
    "MIN_PRIORITY",
    "SDK_DEFAULT_API_VERSION",
    "AzureEmulator",
    "CallCounter",
    "RecordedRequest",
    "main",
]
