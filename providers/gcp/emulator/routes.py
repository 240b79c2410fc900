"""The served surface of the Compute Engine v1 emulator: paths, query parameters and the
bounds read from the vendored discovery document."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any, Final

from portsync.providers.gcp import discovery

Json = dict[str, Any]
Observer = Callable[[str, list[Json]], None]
"""Called as ``observer(project, firewalls)`` after every state change."""

API_ROOT: Final = "https://www.googleapis.com/compute/v1/"
"""Prefix of every ``selfLink`` and ``targetLink``, as the real API returns them."""

SERVICE_PATH: Final = "/compute/v1/"
"""Path prefix the google-cloud-compute REST transport puts before each method path."""

# Read from the compute v1 discovery document (vendored subset, see providers/gcp/discovery.py).
SPEC: Final = discovery.load()
_NAME_PATTERN_TEXT: Final = f"(?:{SPEC.pattern('Firewall', 'name')})"
NAME_PATTERN: Final = re.compile(_NAME_PATTERN_TEXT)
MIN_PRIORITY, MAX_PRIORITY = SPEC.integer_bounds("Firewall", "priority")

MAX_PAGE_SIZE: Final = 500
DEFAULT_PRIORITY: Final = 1000
# Per-rule limits from https://cloud.google.com/firewall/docs/quotas (VPC firewall rules).
MAX_SOURCE_TAGS: Final = 30
MAX_TARGET_TAGS: Final = 70
MAX_SOURCE_SERVICE_ACCOUNTS: Final = 10
MAX_TARGET_SERVICE_ACCOUNTS: Final = 10

_PROTOCOL_NAMES: Final = ("ah", "all", "esp", "icmp", "ipip", "sctp", "tcp", "udp")
_PORTED_PROTOCOLS: Final = frozenset({"tcp", "udp", "sctp", "6", "17", "132"})
_SERVICE_ACCOUNT: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_NETWORK_REF: Final = re.compile(
    r"(?:(?:https?://(?:www|compute)\.googleapis\.com/compute/v1/)?"
    r"projects/(?P<project>[^/]+)/)?global/networks/(?P<name>[^/]+)"
)
_UINT64_BASE: Final = 1_736_000_000_000_000_000

# Query parameters every method accepts (discovery document, top-level "parameters"),
# plus "$alt" which the generated clients send when numeric enums are enabled.
STANDARD_QUERY: Final = frozenset(
    {
        "$.xgafv",
        "$alt",
        "access_token",
        "alt",
        "callback",
        "fields",
        "key",
        "oauth_token",
        "prettyPrint",
        "quotaUser",
        "uploadType",
        "upload_protocol",
        "userIp",
    }
)
# Accepted and ignored although this discovery revision does not list them.
IGNORED_QUERY: Final = frozenset({"returnPartialSuccess"})


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    """One served REST method, named as in the discovery document.

    Attributes:
        method_id: discovery method id without the ``compute.`` prefix, e.g.
            ``"firewalls.list"``; also the key of :attr:`GcpEmulator.calls`.
        http_method: upper-case HTTP verb.
        path: discovery path template, relative to :data:`SERVICE_PATH`.
        query: method-specific query parameters accepted.
        mutation: whether the method changes state and returns an Operation.
    """

    method_id: str
    http_method: str
    path: str
    query: frozenset[str] = frozenset()
    mutation: bool = False

    @property
    def resource(self) -> str:
        """The discovery resource name, e.g. ``"firewalls"``."""
        return self.method_id.split(".", 1)[0]

    def pattern(self) -> re.Pattern[str]:
        """Regular expression matching the served URL path (without query)."""
        parts = re.split(r"(\{[a-zA-Z]+\})", self.path)
        regex = "".join(
            f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part)
            for part in parts
        )
        return re.compile(re.escape(SERVICE_PATH) + regex)


_FIREWALL_PATH: Final = "projects/{project}/global/firewalls/{firewall}"
_FIREWALLS_PATH: Final = "projects/{project}/global/firewalls"
_OPERATION_PATH: Final = "projects/{project}/global/operations/{operation}"
_LIST_QUERY: Final = frozenset({"filter", "maxResults", "orderBy", "pageToken"})
_REQUEST_ID: Final = frozenset({"requestId"})

ROUTES: Final[tuple[Route, ...]] = (
    Route("firewalls.list", "GET", _FIREWALLS_PATH, _LIST_QUERY),
    Route("firewalls.get", "GET", _FIREWALL_PATH),
    Route("firewalls.insert", "POST", _FIREWALLS_PATH, _REQUEST_ID, mutation=True),
    Route("firewalls.patch", "PATCH", _FIREWALL_PATH, _REQUEST_ID, mutation=True),
    Route("firewalls.update", "PUT", _FIREWALL_PATH, _REQUEST_ID, mutation=True),
    Route("firewalls.delete", "DELETE", _FIREWALL_PATH, _REQUEST_ID, mutation=True),
    Route(
        "firewalls.testIamPermissions",
        "POST",
        "projects/{project}/global/firewalls/{resource}/testIamPermissions",
    ),
    Route("globalOperations.list", "GET", "projects/{project}/global/operations", _LIST_QUERY),
    Route("globalOperations.get", "GET", _OPERATION_PATH),
    Route("globalOperations.wait", "POST", _OPERATION_PATH + "/wait"),
    Route("globalOperations.delete", "DELETE", _OPERATION_PATH),
)
_ROUTE_PATTERNS: Final = tuple((route, route.pattern()) for route in ROUTES)
_ROUTE_IDS: Final = frozenset(route.method_id for route in ROUTES)
_RESOURCES: Final = frozenset(route.resource for route in ROUTES)

FAULT_KINDS: Final = frozenset({"rate_limit", "server_error", "slow", "operation_failed", "reset"})
