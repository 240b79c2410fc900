"""Local emulator of the Compute Engine v1 REST API for VPC firewall rules.

The emulator speaks the real wire format (paths, JSON bodies, Google error
bodies, global operations) over plain HTTP on loopback, so the real
``google.cloud.compute_v1.FirewallsClient`` and ``GlobalOperationsClient``
(REST transport) can be pointed at it with ``ClientOptions(api_endpoint=url)``
and ``AnonymousCredentials()``.

Served methods (paths as in the compute v1 discovery document, below the
``/compute/v1/`` service path): ``firewalls.{list,get,insert,patch,update,
delete,testIamPermissions}`` and ``globalOperations.{get,wait,list,delete}``.

Besides the API, the emulator offers instrumentation for tests and
benchmarks: per-method call counters (:attr:`GcpEmulator.calls`), an added
per-request ``latency``, an ``operation_delay`` before mutations take effect,
observers called with a snapshot after every state change, and scripted
faults (:meth:`GcpEmulator.inject`).

The HTTP server, counters, fault queue and observers are the cloud-neutral
scaffolding of :mod:`portsync.providers.emulation`. Only the standard library is
used. The package's modules: :mod:`.routes` (the served surface), :mod:`.validation`
(request bodies and parameters), :mod:`.filters` (the list filter language),
:mod:`.errors` (Google's error shapes), :mod:`.state` (the emulator and its state) and
:mod:`.server` (the HTTP handler). Run it in the foreground with::

    python -m portsync.providers.gcp.emulator --port 8085

See ``docs/providers/gcp-emulator.md``.
"""

from .routes import (
    API_ROOT,
    FAULT_KINDS,
    IGNORED_QUERY,
    MAX_PRIORITY,
    MIN_PRIORITY,
    ROUTES,
    SERVICE_PATH,
    STANDARD_QUERY,
    Observer,
    Route,
)
from .state import GcpEmulator
from .validation import check_request

__all__ = [
    "API_ROOT",
    "FAULT_KINDS",
    "IGNORED_QUERY",
    "MAX_PRIORITY",
    "MIN_PRIORITY",
    "ROUTES",
    "SERVICE_PATH",
    "STANDARD_QUERY",
    "GcpEmulator",
    "Observer",
    "Route",
    "check_request",
]
