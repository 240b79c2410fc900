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
scaffolding of :mod:`portsync.testing.emulation`. Only the standard library is
used. Run it in the foreground with::

    python -m portsync.providers.gcp.emulator --port 8085

See ``docs/providers/gcp-emulator.md``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import dataclasses
import hashlib
import ipaddress
import itertools
import json
import re
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Final

from portsync.providers.gcp import discovery
from portsync.testing import emulation
from portsync.testing.emulation import Fault, StaleRequest

__all__ = [
    "API_ROOT",
    "FAULT_KINDS",
    "ROUTES",
    "SERVICE_PATH",
    "GcpEmulator",
    "Observer",
    "Route",
]

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


# --------------------------------------------------------------------------- routes


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


# --------------------------------------------------------------------------- errors


class _ApiError(Exception):
    """An error answered in Google's JSON error shape."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        status: str | None = None,
        details: list[Json] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.domain = domain
        self.status = status
        self.details = details

    def body(self) -> Json:
        error: Json = {
            "code": self.code,
            "message": self.message,
            "errors": [{"message": self.message, "domain": self.domain, "reason": self.reason}],
        }
        if self.status is not None:
            error["status"] = self.status
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


def _invalid(field: str, value: Any, must: str) -> _ApiError:
    shown = value if isinstance(value, str) else json.dumps(value)
    return _ApiError(400, "invalid", f"Invalid value for field '{field}': '{shown}'. {must}")


def _bad_request(message: str, reason: str = "invalid") -> _ApiError:
    return _ApiError(400, reason, message)


def _required(field: str) -> _ApiError:
    return _ApiError(400, "required", f"Required field '{field}' not specified")


def _type_error(location: str, type_name: str, value: Any) -> _ApiError:
    return _ApiError(
        400, "invalid", f"Invalid value at '{location}' ({type_name}), {json.dumps(value)}"
    )


def _unknown_field(name: str, location: str) -> _ApiError:
    return _ApiError(
        400,
        "invalid",
        f"Invalid JSON payload received. Unknown name \"{name}\" at '{location}': "
        "Cannot find field.",
    )


def _not_found(path: str) -> _ApiError:
    return _ApiError(404, "notFound", f"The resource '{path}' was not found")


def _already_exists(path: str) -> _ApiError:
    return _ApiError(409, "alreadyExists", f"The resource '{path}' already exists")


def _not_ready(path: str) -> _ApiError:
    return _ApiError(400, "resourceNotReady", f"The resource '{path}' is not ready")


def _rate_limited(status_code: int, project: str) -> _ApiError:
    message = (
        "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service "
        f"'compute.googleapis.com' for consumer 'project:{project}'."
    )
    detail: Json = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "RATE_LIMIT_EXCEEDED",
        "domain": "googleapis.com",
        "metadata": {
            "service": "compute.googleapis.com",
            "consumer": f"projects/{project}",
            "quota_metric": "compute.googleapis.com/default",
            "quota_limit": "defaultPerMinutePerProject",
        },
    }
    return _ApiError(
        status_code,
        "rateLimitExceeded",
        message,
        domain="usageLimits",
        status="PERMISSION_DENIED" if status_code == 403 else "RESOURCE_EXHAUSTED",
        details=[detail],
    )


def _server_error(status_code: int) -> _ApiError:
    if status_code == 503:
        return _ApiError(503, "backendError", "The service is currently unavailable.")
    return _ApiError(
        500, "backendError", "Internal error. Please try again or contact Google Support."
    )


# --------------------------------------------------------------------------- helpers


def _now() -> str:
    """RFC 3339 timestamp with milliseconds, as the API writes them."""
    stamp = datetime.now(UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}+00:00"


def _link(project: str, collection: str, name: str | None = None) -> str:
    tail = f"/{name}" if name is not None else ""
    return f"{API_ROOT}projects/{project}/global/{collection}{tail}"


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge, lists and scalars replace, null deletes."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _as_int(value: Any, location: str) -> int:
    if isinstance(value, bool):
        raise _type_error(location, "TYPE_INT32", value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise _type_error(location, "TYPE_INT32", value)


def _as_str(value: Any, location: str) -> str:
    if not isinstance(value, str):
        raise _type_error(location, "TYPE_STRING", value)
    return value


def _as_bool(value: Any, location: str) -> bool:
    if not isinstance(value, bool):
        raise _type_error(location, "TYPE_BOOL", value)
    return value


def _as_str_list(value: Any, location: str) -> list[str]:
    if not isinstance(value, list):
        raise _type_error(location, "TYPE_STRING", value)
    return [_as_str(item, f"{location}[{i}]") for i, item in enumerate(value)]


# --------------------------------------------------------------------------- validation

_FIREWALL_INPUT: Final = frozenset(
    {
        "allowed",
        "denied",
        "description",
        "destinationRanges",
        "direction",
        "disabled",
        "logConfig",
        "name",
        "network",
        "priority",
        "sourceRanges",
        "sourceServiceAccounts",
        "sourceTags",
        "targetServiceAccounts",
        "targetTags",
    }
)
_FIREWALL_OUTPUT_ONLY: Final = frozenset({"creationTimestamp", "id", "kind", "selfLink"})
_FIREWALL_INPUT_ONLY: Final = frozenset({"params"})
_FIREWALL_ACCEPTED: Final = _FIREWALL_INPUT | _FIREWALL_OUTPUT_ONLY | _FIREWALL_INPUT_ONLY


def _spec_error(violation: discovery.SpecViolation) -> _ApiError:
    """A discovery-document breach in the error shape Compute Engine answers it with."""
    where, value = violation.location, violation.value
    if violation.kind == "required":
        return _required(where)
    if violation.kind == "unknown":
        return _unknown_field(str(value), where)
    if violation.kind == "type":
        return _type_error(where, violation.expected, value)
    if violation.kind == "enum":
        return _invalid(where, value, f"Must be one of [{violation.expected}].")
    if violation.kind == "pattern":
        return _invalid(where, value, f"Must be a match of regex '(?:{violation.expected})'")
    return _invalid(where, str(value), f"Must be {violation.expected}.")


def check_request(method_id: str, body: Mapping[str, Any]) -> None:
    """Refuse a request body the discovery document refuses (see :mod:`discovery`).

    Raises:
        _ApiError: 400 in Google's error shape.
    """
    try:
        SPEC.check_request(method_id, body)
    except discovery.SpecViolation as violation:
        raise _spec_error(violation) from None


def _check_fields(body: Mapping[str, Any], allowed: Iterable[str], location: str) -> None:
    known = set(allowed)
    for key in body:
        if key not in known:
            raise _unknown_field(key, location)


def _validate_name(value: Any, field: str = "resource.name") -> str:
    name = _as_str(value, field)
    if not NAME_PATTERN.fullmatch(name):
        raise _invalid(field, name, f"Must be a match of regex '{_NAME_PATTERN_TEXT}'")
    return name


def _validate_rules(value: Any, field: str) -> list[Json]:
    if not isinstance(value, list):
        raise _type_error(field, "TYPE_MESSAGE", value)
    rules: list[Json] = []
    for i, entry in enumerate(value):
        loc = f"{field}[{i}]"
        if not isinstance(entry, dict):
            raise _type_error(loc, "TYPE_MESSAGE", entry)
        _check_fields(entry, ("IPProtocol", "ports"), loc)
        if "IPProtocol" not in entry:
            raise _required(f"{loc}.IPProtocol")
        raw = _as_str(entry["IPProtocol"], f"{loc}.IPProtocol")
        protocol = raw.strip().lower()
        numeric = protocol.isdigit() and 0 <= int(protocol) <= 255
        if protocol not in _PROTOCOL_NAMES and not numeric:
            names = ", ".join(f'"{p}"' for p in _PROTOCOL_NAMES)
            raise _invalid(
                f"{loc}.IPProtocol",
                raw,
                f"Must be one of [{names}] or an IP protocol number between 0 and 255.",
            )
        rule: Json = {"IPProtocol": protocol}
        if "ports" in entry:
            ports = _as_str_list(entry["ports"], f"{loc}.ports")
            if ports and protocol not in _PORTED_PROTOCOLS:
                raise _invalid(
                    f"{loc}.ports[0]",
                    ports[0],
                    "Ports may only be specified for the TCP, UDP or SCTP protocol.",
                )
            for j, port in enumerate(ports):
                _validate_port(port, f"{loc}.ports[{j}]")
            if ports:
                rule["ports"] = ports
        rules.append(rule)
    return rules


def _validate_port(port: str, field: str) -> None:
    match = re.fullmatch(r"(\d{1,5})(?:-(\d{1,5}))?", port)
    if match is None:
        raise _invalid(field, port, "Must be a port number or a port range such as '80-90'.")
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) is not None else low
    if high > 65535:
        raise _invalid(field, port, "Port numbers must be between 0 and 65535.")
    if low > high:
        raise _invalid(field, port, "The first port of a range must not exceed the last.")


def _validate_ranges(value: Any, field: str) -> list[str]:
    ranges = _as_str_list(value, field)
    for i, item in enumerate(ranges):
        try:
            ipaddress.ip_network(item.strip(), strict=False)
        except ValueError:
            raise _invalid(
                f"{field}[{i}]", item, "Must be a valid IPV4 or IPV6 CIDR address range."
            ) from None
    return ranges


def _family(cidr: str) -> int:
    return ipaddress.ip_network(cidr.strip(), strict=False).version


def _validate_tags(value: Any, field: str, limit: int) -> list[str]:
    tags = _as_str_list(value, field)
    for i, tag in enumerate(tags):
        if not NAME_PATTERN.fullmatch(tag):
            raise _invalid(f"{field}[{i}]", tag, f"Must be a match of regex '{_NAME_PATTERN_TEXT}'")
    if len(tags) > limit:
        raise _invalid(field, tags, f"The number of tags must not exceed {limit}.")
    return tags


def _validate_accounts(value: Any, field: str, limit: int) -> list[str]:
    accounts = _as_str_list(value, field)
    for i, account in enumerate(accounts):
        if not _SERVICE_ACCOUNT.fullmatch(account):
            raise _invalid(f"{field}[{i}]", account, "Must be a valid service account email.")
    if len(accounts) > limit:
        raise _invalid(field, accounts, f"The number of service accounts must not exceed {limit}.")
    return accounts


def _validate_log_config(value: Any) -> Json:
    field = "resource.logConfig"
    if not isinstance(value, dict):
        raise _type_error(field, "TYPE_MESSAGE", value)
    _check_fields(value, ("enable", "metadata"), field)
    enable = _as_bool(value.get("enable", False), f"{field}.enable")
    config: Json = {"enable": enable}
    if "metadata" in value:
        metadata = _as_str(value["metadata"], f"{field}.metadata")
        if not enable:
            raise _invalid(
                f"{field}.metadata",
                metadata,
                "Metadata can only be specified when logging is enabled.",
            )
        config["metadata"] = metadata
    return config


# --------------------------------------------------------------------------- filters

_FIREWALL_FILTER_FIELDS: Final[Mapping[str, str]] = {
    "allowed.IPProtocol": "string",
    "allowed.ports": "string",
    "creationTimestamp": "string",
    "denied.IPProtocol": "string",
    "denied.ports": "string",
    "description": "string",
    "destinationRanges": "string",
    "direction": "string",
    "disabled": "boolean",
    "id": "integer",
    "kind": "string",
    "logConfig.enable": "boolean",
    "logConfig.metadata": "string",
    "name": "string",
    "network": "string",
    "priority": "integer",
    "selfLink": "string",
    "sourceRanges": "string",
    "sourceServiceAccounts": "string",
    "sourceTags": "string",
    "targetServiceAccounts": "string",
    "targetTags": "string",
}
_OPERATION_FILTER_FIELDS: Final[Mapping[str, str]] = {
    "clientOperationId": "string",
    "endTime": "string",
    "httpErrorStatusCode": "integer",
    "id": "integer",
    "insertTime": "string",
    "kind": "string",
    "name": "string",
    "operationType": "string",
    "progress": "integer",
    "selfLink": "string",
    "startTime": "string",
    "status": "string",
    "targetId": "integer",
    "targetLink": "string",
    "user": "string",
}

_REGEX_OPS: Final = frozenset({"eq", "ne"})
_FIELD_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_OP_RE: Final = re.compile(r"!=|>=|<=|=|>|<|:|(?:eq|ne)(?=\s)")
_SINGLE_REGEX_RE: Final = re.compile(
    r"\s*(?P<field>[A-Za-z_][A-Za-z0-9_.]*)\s+(?P<op>eq|ne)\s+(?P<value>.*?)\s*", re.DOTALL
)


@dataclasses.dataclass(frozen=True, slots=True)
class _Comparison:
    field: str
    op: str
    value: str


@dataclasses.dataclass(frozen=True, slots=True)
class _Junction:
    kind: str  # "and" | "or" | "not"
    terms: tuple[_Node, ...]


_Node = _Comparison | _Junction


def _filter_error(text: str, why: str) -> _ApiError:
    return _invalid("filter", text, f"Invalid list filter expression: {why}")


class _FilterParser:
    """Parses the subset of Compute list filters the emulator understands.

    Two families, never mixed in one filter: AIP-160 comparisons (``=``,
    ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``:``) joined by ``AND``/``OR``/
    ``NOT``, parentheses and implicit AND (``OR`` binds tighter than ``AND``);
    and regular-expression comparisons (``eq``/``ne``) as one unparenthesised
    expression or several parenthesised ones.
    """

    def __init__(self, text: str, fields: Mapping[str, str]) -> None:
        self.text = text
        self.fields = fields
        self.pos = 0

    def parse(self) -> _Node:
        single = _SINGLE_REGEX_RE.fullmatch(self.text)
        if single is not None and not self.text.lstrip().startswith("("):
            value = _unquote(single.group("value"))
            node: _Node = self._comparison(single.group("field"), single.group("op"), value)
        else:
            node = self._conjunction()
            self._skip()
            if self.pos != len(self.text):
                raise _filter_error(self.text, f"unexpected text at offset {self.pos}")
        ops = {c.op for c in _comparisons(node)}
        if ops & _REGEX_OPS and ops - _REGEX_OPS:
            raise _filter_error(
                self.text, "regular-expression (eq/ne) and AIP-160 comparisons cannot be mixed"
            )
        return node

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _keyword(self, word: str) -> bool:
        self._skip()
        end = self.pos + len(word)
        if self.text.startswith(word, self.pos) and (
            end == len(self.text) or self.text[end].isspace() or self.text[end] == "("
        ):
            self.pos = end
            return True
        return False

    def _conjunction(self) -> _Node:
        terms = [self._disjunction()]
        while True:
            self._skip()
            if self.pos >= len(self.text) or self.text[self.pos] == ")":
                break
            self._keyword("AND")
            terms.append(self._disjunction())
        return terms[0] if len(terms) == 1 else _Junction("and", tuple(terms))

    def _disjunction(self) -> _Node:
        terms = [self._unary()]
        while self._keyword("OR"):
            terms.append(self._unary())
        return terms[0] if len(terms) == 1 else _Junction("or", tuple(terms))

    def _unary(self) -> _Node:
        self._skip()
        if self._keyword("NOT"):
            return _Junction("not", (self._unary(),))
        if self.text.startswith("-", self.pos):
            self.pos += 1
            return _Junction("not", (self._unary(),))
        if self.text.startswith("(", self.pos):
            self.pos += 1
            node = self._conjunction()
            self._skip()
            if not self.text.startswith(")", self.pos):
                raise _filter_error(self.text, "missing ')'")
            self.pos += 1
            return node
        return self._parse_comparison()

    def _parse_comparison(self) -> _Comparison:
        field = _FIELD_RE.match(self.text, self.pos)
        if field is None:
            raise _filter_error(self.text, f"expected a field name at offset {self.pos}")
        self.pos = field.end()
        self._skip()
        op = _OP_RE.match(self.text, self.pos)
        if op is None:
            raise _filter_error(self.text, f"expected an operator after '{field.group()}'")
        self.pos = op.end()
        self._skip()
        return self._comparison(field.group(), op.group(), self._value())

    def _value(self) -> str:
        if self.pos >= len(self.text):
            raise _filter_error(self.text, "missing value")
        quote = self.text[self.pos]
        if quote in "\"'":
            end = self.text.find(quote, self.pos + 1)
            if end < 0:
                raise _filter_error(self.text, "unterminated string")
            value = self.text[self.pos + 1 : end]
            self.pos = end + 1
            return value
        start, depth = self.pos, 0
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char.isspace() and depth == 0:
                break
            if char == "(":
                depth += 1
            elif char == ")":
                if depth == 0:
                    break
                depth -= 1
            self.pos += 1
        if self.pos == start:
            raise _filter_error(self.text, "missing value")
        return self.text[start : self.pos]

    def _comparison(self, field: str, op: str, value: str) -> _Comparison:
        kind = self.fields.get(field)
        if kind is None:
            raise _filter_error(self.text, f"unknown field '{field}'")
        if op in _REGEX_OPS:
            try:
                re.compile(value)
            except re.error as exc:
                raise _filter_error(self.text, f"bad regular expression ({exc})") from None
        elif op == ":" and value == "*":
            pass
        elif "*" in value:
            raise _filter_error(self.text, "wildcards are not supported by the emulator")
        elif kind == "integer" and not re.fullmatch(r"-?\d+", value):
            raise _filter_error(self.text, f"'{field}' takes an integer")
        elif kind == "boolean" and value.lower() not in ("true", "false"):
            raise _filter_error(self.text, f"'{field}' takes true or false")
        return _Comparison(field, op, value)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _comparisons(node: _Node) -> Iterator[_Comparison]:
    if isinstance(node, _Comparison):
        yield node
    else:
        for term in node.terms:
            yield from _comparisons(term)


def _field_values(resource: Json, path: str) -> list[Any]:
    current: list[Any] = [resource]
    for part in path.split("."):
        found: list[Any] = []
        for item in current:
            if isinstance(item, dict) and part in item:
                value = item[part]
                found.extend(value if isinstance(value, list) else [value])
        current = found
    return current


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _compare(kind: str, actual: Any, op: str, wanted: str) -> bool:
    left: Any
    right: Any
    if kind == "integer":
        left, right = int(actual), int(wanted)
    elif kind == "boolean":
        left, right = _text(actual), wanted.lower()
    else:
        left, right = _text(actual), wanted
    if op in ("=", ":"):
        return bool(left == right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _matches(node: _Node, resource: Json, fields: Mapping[str, str]) -> bool:
    if isinstance(node, _Junction):
        if node.kind == "not":
            return not _matches(node.terms[0], resource, fields)
        results = (_matches(term, resource, fields) for term in node.terms)
        return all(results) if node.kind == "and" else any(results)
    values = _field_values(resource, node.field)
    kind = fields[node.field]
    if node.op in _REGEX_OPS:
        candidates = [_text(v) for v in values] or [""]
        hit = any(re.fullmatch(node.value, text) for text in candidates)
        return hit if node.op == "eq" else not hit
    if node.op == ":" and node.value == "*":
        return bool(values)
    if node.op == "!=":
        return not any(_compare(kind, v, "=", node.value) for v in values)
    return any(_compare(kind, v, node.op, node.value) for v in values)


# --------------------------------------------------------------------------- state


@dataclasses.dataclass(slots=True)
class _PendingOp:
    name: str
    target: str
    due: float
    apply: Callable[[], None] | None
    failure: Json | None


@dataclasses.dataclass(slots=True)
class _Project:
    firewalls: dict[str, Json] = dataclasses.field(default_factory=dict)
    created: dict[str, int] = dataclasses.field(default_factory=dict)
    operations: dict[str, Json] = dataclasses.field(default_factory=dict)
    op_seq: dict[str, int] = dataclasses.field(default_factory=dict)
    pending: list[_PendingOp] = dataclasses.field(default_factory=list)
    request_ids: dict[str, str] = dataclasses.field(default_factory=dict)
    networks: set[str] = dataclasses.field(default_factory=set)


@dataclasses.dataclass(frozen=True, slots=True)
class _Response:
    status: int
    body: Json


_RESET: Final = object()


class GcpEmulator:
    """Compute Engine v1 firewall-rules emulator on a loopback HTTP port.

    Args:
        host: interface to bind; keep it on loopback.
        port: TCP port, 0 for a free one.
        latency: seconds added to every request.
        operation_delay: seconds before a mutation takes effect and its
            operation turns ``DONE`` (0: at once, still reported ``RUNNING``
            in the mutation's own response, as the real API does).
        wait_deadline: longest time ``globalOperations.wait`` blocks
            (the real API: about 2 minutes).
        networks: VPC networks that exist in every project.
        firewall_quota: most rules a project may hold (the ``FIREWALLS``
            quota); None for no limit. An insert beyond it is answered 403
            ``quotaExceeded``.
        user: the ``user`` written into operations.
        verbose: log every request to stderr.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency: float = 0.0,
        operation_delay: float = 0.0,
        wait_deadline: float = 120.0,
        networks: Iterable[str] = ("default",),
        firewall_quota: int | None = None,
        user: str = "emulator@portsync.invalid",
        verbose: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.verbose = verbose
        self._defaults = (latency, operation_delay, wait_deadline, firewall_quota)
        self.latency = latency
        self.operation_delay = operation_delay
        self.wait_deadline = wait_deadline
        self.firewall_quota = firewall_quota
        self._default_networks = tuple(networks)
        self._lock = threading.RLock()
        self._projects: dict[str, _Project] = {}
        self._calls = emulation.CallCounter()
        self._faults = emulation.FaultQueue(FAULT_KINDS)
        self._observers: emulation.ObserverList[[str, list[Json]]] = emulation.ObserverList()
        self._epoch = emulation.Epoch()
        self._ids = itertools.count(_UINT64_BASE + 1)
        self._seq = itertools.count(1)
        self._serving = emulation.ServerThread()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        """Start serving in a background thread and return the base URL.

        Raises:
            RuntimeError: the emulator is already running.
        """
        if self._serving.running:
            raise RuntimeError("the GCP emulator is already running")
        server = emulation.EmulatorHTTPServer((self.host, self.port), _Handler, self)
        self.port = self._serving.start(server, "gcp-emulator")
        return self.url

    def stop(self) -> None:
        """Stop serving and release the port; a no-op when not running."""
        self._serving.stop()

    def __enter__(self) -> GcpEmulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL to pass as ``api_endpoint``, e.g. ``http://127.0.0.1:8085``."""
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ instrumentation

    @property
    def calls(self) -> Counter[str]:
        """Copy of the request counters, keyed by route, e.g. ``"firewalls.list"``.

        Every routed request counts, including ones answered by a fault.
        """
        return Counter(self._calls.snapshot())

    def reset_calls(self) -> None:
        """Zero the request counters only."""
        self._calls.clear()

    def reset(self) -> None:
        """Forget every project, operation, counter, fault and observer.

        ``latency``, ``operation_delay``, ``wait_deadline`` and
        ``firewall_quota`` return to the constructor values. The server keeps
        listening on the same port. Requests still in flight (sleeping in
        ``latency``, a ``slow`` fault or ``globalOperations.wait``) belong to
        the run before the reset: they are dropped without an answer and
        neither count, take a fault nor change state.
        """
        with self._lock:
            self._epoch.advance()
            self._projects.clear()
            self._calls.clear()
            self._faults.clear()
            self._observers.clear()
            (
                self.latency,
                self.operation_delay,
                self.wait_deadline,
                self.firewall_quota,
            ) = self._defaults

    def add_observer(self, observer: Observer) -> Callable[[], None]:
        """Call ``observer(project, firewalls)`` after every change of a project's rules.

        ``firewalls`` is a deep copy of the project's rules, sorted by name, as
        ``firewalls.get`` would return them. Observers run on the request thread,
        under the emulator lock, in order of change; they must be quick and must
        not call the emulator over HTTP. Returns a function that removes it.
        """
        return self._observers.add(observer)

    def inject(
        self,
        kind: str,
        *,
        times: int = 1,
        route: str | None = None,
        status: int | None = None,
        seconds: float = 1.0,
        code: str = "INTERNAL_ERROR",
    ) -> None:
        """Queue a fault for the next ``times`` matching requests.

        Faults are consumed in the order queued; a request takes the first
        queued fault that matches it.

        Args:
            kind: ``"rate_limit"`` (403 ``rateLimitExceeded``, or 429 with
                ``status=429``), ``"server_error"`` (500, or 503 with
                ``status=503``), ``"slow"`` (sleep ``seconds``, then answer
                normally), ``"operation_failed"`` (mutations only: the call
                returns an operation that ends ``DONE`` with ``error`` and the
                change is not applied) or ``"reset"`` (the connection is reset
                without a response).
            times: how many requests the fault affects.
            route: a method id (``"firewalls.insert"``) or resource
                (``"firewalls"``, ``"globalOperations"``); None for any.
            status: HTTP status for ``rate_limit``/``server_error``; for
                ``operation_failed``, the operation's ``httpErrorStatusCode``.
            seconds: the delay of a ``slow`` fault.
            code: the ``error.errors[].code`` of an ``operation_failed`` fault.

        Raises:
            ValueError: unknown kind or route, a status the kind cannot
                take, or ``times`` below 1.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {sorted(FAULT_KINDS)}")
        if route is not None and route not in _ROUTE_IDS and route not in _RESOURCES:
            raise ValueError(f"unknown route {route!r}; use one of {sorted(_ROUTE_IDS)}")
        allowed = {"rate_limit": (403, 429), "server_error": (500, 503)}
        default = {"rate_limit": 403, "server_error": 500, "operation_failed": 500}
        chosen = status if status is not None else default.get(kind, 0)
        if kind in allowed and chosen not in allowed[kind]:
            raise ValueError(f"a {kind} fault takes status {allowed[kind]}, not {status}")
        if status is not None and kind not in (*allowed, "operation_failed"):
            raise ValueError(f"a {kind} fault takes no status")
        self._faults.add(kind, times=times, route=route, status=chosen, delay=seconds, code=code)

    # -- waiting for requests (tests wait on events, never on a sleep) --------------------------

    @property
    def requests_seen(self) -> int:
        """Requests that reached the emulator since it was made (resets do not zero this)."""
        return self._epoch.issued

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` requests have reached the emulator (see :attr:`requests_seen`);
        from then on a reset makes them stale. False when ``timeout`` ran out first."""
        return self._epoch.wait_issued(count, timeout)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no request is being served: a stale one has been dropped, a current one
        answered. False when ``timeout`` ran out first."""
        return self._epoch.wait_idle(timeout)

    def pending_faults(self) -> list[tuple[str, str | None, int]]:
        """The queued faults as ``(kind, route, remaining)``."""
        return [(f.kind, f.route, f.remaining) for f in self._faults.pending()]

    # ------------------------------------------------------------------ direct state access

    def add_network(self, project: str, network: str) -> None:
        """Make a VPC network exist in a project (``default`` always exists)."""
        _validate_name(network, "network")
        with self._lock:
            self._project(project).networks.add(network)

    def firewalls(self, project: str) -> list[Json]:
        """Deep copy of a project's rules, sorted by name, as ``get`` returns them."""
        with self._lock:
            state = self._project(project)
            self._settle(project, state)
            return self._snapshot(state)

    def seed(self, project: str, firewalls: Iterable[Mapping[str, Any]]) -> list[Json]:
        """Create rules directly (validated like ``insert``; no counters, no operations).

        Returns:
            The created resources.

        Raises:
            ValueError: a rule is invalid or its name is taken; nothing from that
                rule on is created.
        """
        created: list[Json] = []
        with self._lock:
            state = self._project(project)
            self._settle(project, state)
            for body in firewalls:
                try:
                    check_request("firewalls.insert", body)
                    resource = self._new_firewall(project, state, dict(body))
                    if resource["name"] in state.firewalls:
                        path = f"projects/{project}/global/firewalls/{resource['name']}"
                        raise _already_exists(path)
                except _ApiError as exc:
                    raise ValueError(exc.message) from None
                self._store(state, resource)
                self._notify(project, state)
                created.append(copy.deepcopy(resource))
        return created

    # ------------------------------------------------------------------ request handling

    def _handle(self, method: str, target: str, body: bytes) -> _Response | object:
        """Answer one request; :data:`_RESET` asks the handler to reset the connection."""
        ticket = self._epoch.ticket()
        split = urllib.parse.urlsplit(target)
        route, params = self._route(method, split.path)
        if route is None:
            return _Response(
                404,
                _ApiError(404, "notFound", f"The requested URL {split.path} was not found.").body(),
            )
        project = params["project"]
        try:
            with self._lock:  # reset() advances the epoch and zeroes counters under this lock
                self._epoch.check(ticket)
                self._calls.add(route.method_id)
            self._epoch.sleep(self.latency, ticket)
            fault = self._take_fault(route, ticket)
            failure: Json | None = None
            if fault is not None:
                if fault.kind == "reset":
                    return _RESET
                if fault.kind == "slow":
                    self._epoch.sleep(fault.delay, ticket)
                elif fault.kind == "rate_limit":
                    return self._error(_rate_limited(fault.status, project))
                elif fault.kind == "server_error":
                    return self._error(_server_error(fault.status))
                elif fault.kind == "operation_failed":
                    failure = {
                        "status": fault.status,
                        "code": fault.code,
                        "message": "The operation failed (injected by the emulator).",
                    }
            query = self._query(route, split.query)
            payload = self._body(route, body)
            if payload is not None:
                check_request(route.method_id, payload)
            return self._dispatch(route, params, query, payload, failure, ticket)
        except _ApiError as exc:
            return self._error(exc)
        except StaleRequest:
            return _RESET  # the emulator was reset while this request slept

    @staticmethod
    def _error(exc: _ApiError) -> _Response:
        return _Response(exc.code, exc.body())

    @staticmethod
    def _route(method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route, pattern in _ROUTE_PATTERNS:
            match = pattern.fullmatch(path)
            if match is not None and route.http_method == method:
                params = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
                return route, params
        return None, {}

    def _take_fault(self, route: Route, ticket: int) -> Fault | None:
        """The first queued fault for ``route``, unless a reset made the request stale.

        Raises:
            StaleRequest: the emulator was reset since the request arrived.
        """

        def applies(fault: Fault) -> bool:
            return route.mutation or fault.kind != "operation_failed"

        with self._lock:  # reset() advances the epoch and clears faults under this lock
            self._epoch.check(ticket)
            return self._faults.take((route.method_id, route.resource), applies)

    @staticmethod
    def _query(route: Route, raw: str) -> dict[str, str]:
        query: dict[str, str] = {}
        for key, value in urllib.parse.parse_qsl(raw, keep_blank_values=True):
            if key not in route.query and key not in STANDARD_QUERY | IGNORED_QUERY:
                raise _bad_request(
                    f'Invalid JSON payload received. Unknown name "{key}": Cannot bind query '
                    f"parameter. Field '{key}' could not be found in request message."
                )
            query[key] = value
        return query

    @staticmethod
    def _body(route: Route, raw: bytes) -> Json | None:
        if route.http_method not in ("POST", "PUT", "PATCH") or route.method_id.endswith(".wait"):
            return None
        try:
            payload = json.loads(raw.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _bad_request(f"Invalid JSON payload received. {exc}", "parseError") from None
        if not isinstance(payload, dict):
            raise _bad_request(
                "Invalid JSON payload received. Expected a JSON object as the request body.",
                "parseError",
            )
        return payload

    def _dispatch(
        self,
        route: Route,
        params: Mapping[str, str],
        query: Mapping[str, str],
        body: Json | None,
        failure: Json | None,
        ticket: int,
    ) -> _Response:
        project = params["project"]
        method = route.method_id
        if method in ("firewalls.list", "globalOperations.list"):
            return _Response(200, self._list(route, project, query))
        if method == "firewalls.get":
            with self._lock:
                state = self._project(project)
                self._settle(project, state)
                return _Response(200, copy.deepcopy(self._firewall(project, state, params)))
        if method == "firewalls.testIamPermissions":
            return _Response(200, self._test_permissions(project, params["resource"], body))
        if method == "globalOperations.get":
            with self._lock:
                state = self._project(project)
                self._settle(project, state)
                return _Response(200, copy.deepcopy(self._operation(project, state, params)))
        if method == "globalOperations.wait":
            return _Response(200, self._wait(project, params["operation"], ticket))
        if method == "globalOperations.delete":
            with self._lock:
                state = self._project(project)
                self._operation(project, state, params)
                del state.operations[params["operation"]]
                return _Response(200, {})
        assert route.mutation, method
        return _Response(200, self._mutate(route, project, params, query, body or {}, failure))

    # ------------------------------------------------------------------ reads

    def _project(self, project: str) -> _Project:
        state = self._projects.get(project)
        if state is None:
            state = _Project(networks=set(self._default_networks))
            self._projects[project] = state
        return state

    @staticmethod
    def _firewall(project: str, state: _Project, params: Mapping[str, str]) -> Json:
        name = params["firewall"]
        resource = state.firewalls.get(name)
        if resource is None:
            raise _not_found(f"projects/{project}/global/firewalls/{name}")
        return resource

    @staticmethod
    def _operation(project: str, state: _Project, params: Mapping[str, str]) -> Json:
        name = params["operation"]
        operation = state.operations.get(name)
        if operation is None:
            raise _not_found(f"projects/{project}/global/operations/{name}")
        return operation

    def _list(self, route: Route, project: str, query: Mapping[str, str]) -> Json:
        firewalls = route.resource == "firewalls"
        fields = _FIREWALL_FILTER_FIELDS if firewalls else _OPERATION_FILTER_FIELDS
        size = _page_size(query.get("maxResults"))
        order = query.get("orderBy", "").strip()
        if order not in ("", "name", "creationTimestamp desc"):
            raise _invalid(
                "orderBy", order, "Only 'name' and 'creationTimestamp desc' are supported."
            )
        text = query.get("filter", "").strip()
        node = _FilterParser(text, fields).parse() if text else None
        digest = hashlib.sha256(f"{text}\0{order}".encode()).hexdigest()[:16]
        after = _decode_token(query.get("pageToken", ""), digest)
        with self._lock:
            state = self._project(project)
            self._settle(project, state)
            source = state.firewalls if firewalls else state.operations
            seqs = state.created if firewalls else state.op_seq
            keyed = [
                ((-seqs[name],) if order == "creationTimestamp desc" else (name,), item)
                for name, item in source.items()
            ]
            keyed.sort(key=lambda pair: pair[0])
            selected = [
                (key, item)
                for key, item in keyed
                if (after is None or list(key) > after)
                and (node is None or _matches(node, item, fields))
            ]
            page = selected[:size]
            collection = "firewalls" if firewalls else "operations"
            result: Json = {
                "kind": "compute#firewallList" if firewalls else "compute#operationList",
                "id": f"projects/{project}/global/{collection}",
                "selfLink": _link(project, collection),
            }
            if page:
                result["items"] = [copy.deepcopy(item) for _, item in page]
            if len(selected) > size:
                result["nextPageToken"] = _encode_token(list(page[-1][0]), digest)
            return result

    def _test_permissions(self, project: str, name: str, body: Json | None) -> Json:
        payload = body or {}
        _check_fields(payload, ("permissions",), "resource")
        permissions = _as_str_list(payload.get("permissions", []), "resource.permissions")
        with self._lock:
            state = self._project(project)
            self._settle(project, state)
            self._firewall(project, state, {"firewall": name})
        granted = [p for p in permissions if p.startswith("compute.firewalls.")]
        return {"permissions": granted} if granted else {}

    def _wait(self, project: str, name: str, ticket: int) -> Json:
        deadline = time.monotonic() + self.wait_deadline
        while True:
            with self._lock:
                state = self._project(project)
                self._settle(project, state)
                operation = self._operation(project, state, {"operation": name})
                if operation["status"] == "DONE":
                    return copy.deepcopy(operation)
                due = min(
                    (p.due for p in state.pending if p.name == name), default=time.monotonic()
                )
            now = time.monotonic()
            if now >= deadline:
                return copy.deepcopy(operation)
            self._epoch.sleep(max(0.001, min(due, deadline) - now), ticket)

    # ------------------------------------------------------------------ writes

    def _mutate(
        self,
        route: Route,
        project: str,
        params: Mapping[str, str],
        query: Mapping[str, str],
        body: Json,
        failure: Json | None,
    ) -> Json:
        request_id = query.get("requestId")
        if request_id is not None:
            _validate_request_id(request_id)
        kind = route.method_id.split(".", 1)[1]
        with self._lock:
            state = self._project(project)
            self._settle(project, state)
            if request_id is not None and request_id in state.request_ids:
                return copy.deepcopy(state.operations[state.request_ids[request_id]])
            if kind == "insert":
                resource = self._new_firewall(project, state, body)
                name = resource["name"]
                path = f"projects/{project}/global/firewalls/{name}"
                self._ensure_idle(state, name, path)
                if name in state.firewalls:
                    raise _already_exists(path)
                self._check_quota(state)

                def apply() -> None:
                    self._store(state, resource)

            else:
                name = params["firewall"]
                path = f"projects/{project}/global/firewalls/{name}"
                current = self._firewall(project, state, params)
                self._ensure_idle(state, name, path)
                if kind == "delete":
                    resource = current

                    def apply() -> None:
                        state.firewalls.pop(name, None)
                        state.created.pop(name, None)

                else:
                    resource = self._changed_firewall(project, state, current, body, kind)

                    def apply() -> None:
                        state.firewalls[name] = resource

            operation = self._new_operation(project, kind, resource, request_id)
            op_name = operation["name"]
            state.operations[op_name] = operation
            state.op_seq[op_name] = next(self._seq)
            if request_id is not None:
                state.request_ids[request_id] = op_name
            due = time.monotonic() + max(0.0, self.operation_delay)
            state.pending.append(
                _PendingOp(op_name, name, due, None if failure else apply, failure)
            )
            response = copy.deepcopy(operation)
            self._settle(project, state)
            return response

    def _check_quota(self, state: _Project) -> None:
        quota = self.firewall_quota
        if quota is None:
            return
        inserting = sum(1 for p in state.pending if p.target not in state.firewalls)
        if len(state.firewalls) + inserting >= quota:
            raise _ApiError(
                403,
                "quotaExceeded",
                f"Quota 'FIREWALLS' exceeded.  Limit: {float(quota)} globally.",
                domain="usageLimits",
            )

    @staticmethod
    def _ensure_idle(state: _Project, name: str, path: str) -> None:
        if any(p.target == name for p in state.pending):
            raise _not_ready(path)

    def _new_operation(
        self,
        project: str,
        kind: str,
        resource: Json,
        request_id: str | None,
    ) -> Json:
        stamp = _now()
        token = uuid.uuid4().hex
        name = f"operation-{int(time.time() * 1000)}-{token[:13]}-{token[13:21]}-{token[21:29]}"
        operation: Json = {
            "kind": "compute#operation",
            "id": str(next(self._ids)),
            "name": name,
            "operationType": kind,
            "targetLink": _link(project, "firewalls", resource["name"]),
            "targetId": resource["id"],
            "status": "RUNNING",
            "user": self.user,
            "progress": 0,
            "insertTime": stamp,
            "startTime": stamp,
            "selfLink": _link(project, "operations", name),
        }
        if request_id is not None:
            operation["clientOperationId"] = request_id
        return operation

    def _settle(self, project: str, state: _Project) -> None:
        """Complete every pending operation whose time has come, in order."""
        now = time.monotonic()
        while state.pending and state.pending[0].due <= now:
            pending = state.pending.pop(0)
            operation = state.operations.get(pending.name)
            if pending.failure is not None and operation is not None:
                failure = pending.failure
                status = int(failure["status"])
                operation["error"] = {
                    "errors": [{"code": failure["code"], "message": failure["message"]}]
                }
                operation["httpErrorStatusCode"] = status
                operation["httpErrorMessage"] = HTTPStatus(status).phrase.upper()
            if operation is not None:
                operation.update(status="DONE", progress=100, endTime=_now())
            if pending.failure is None and pending.apply is not None:
                pending.apply()
                self._notify(project, state)

    def _notify(self, project: str, state: _Project) -> None:
        if self._observers:  # each observer gets its own deep copy
            self._observers.notify(project, [state.firewalls[n] for n in sorted(state.firewalls)])

    @staticmethod
    def _snapshot(state: _Project) -> list[Json]:
        return [copy.deepcopy(state.firewalls[name]) for name in sorted(state.firewalls)]

    def _store(self, state: _Project, resource: Json) -> None:
        state.firewalls[resource["name"]] = resource
        state.created[resource["name"]] = next(self._seq)

    def _new_firewall(self, project: str, state: _Project, body: Json) -> Json:
        if "name" not in body:
            raise _required("resource.name")
        resource = self._normalise(project, state, body)
        name = resource["name"]
        return {
            "kind": "compute#firewall",
            "id": str(next(self._ids)),
            "creationTimestamp": _now(),
            **resource,
            "selfLink": _link(project, "firewalls", name),
        }

    def _changed_firewall(
        self, project: str, state: _Project, current: Json, body: Json, kind: str
    ) -> Json:
        name = current["name"]
        if "name" in body and body["name"] != name:
            raise _invalid(
                "resource.name", body["name"], f"Must match the firewall in the URL, '{name}'."
            )
        _check_fields(body, _FIREWALL_ACCEPTED, "resource")
        if kind == "patch":
            editable = {k: v for k, v in current.items() if k in _FIREWALL_INPUT}
            merged = _merge_patch(editable, body)
        else:
            merged = dict(body)
        merged["name"] = name
        resource = self._normalise(project, state, merged)
        for field in ("network", "direction"):
            if resource[field] != current[field]:
                raise _invalid(
                    f"resource.{field}",
                    body.get(field, resource[field]),
                    f"The {field} of an existing firewall rule cannot be changed.",
                )
        return {
            "kind": "compute#firewall",
            "id": current["id"],
            "creationTimestamp": current["creationTimestamp"],
            **resource,
            "selfLink": current["selfLink"],
        }

    def _normalise(self, project: str, state: _Project, body: Json) -> Json:
        """Validate an input Firewall and return its stored form (no output-only fields)."""
        _check_fields(body, _FIREWALL_ACCEPTED, "resource")
        out: Json = {"name": _validate_name(body.get("name"))}
        out["description"] = _as_str(body.get("description", ""), "resource.description")
        out["network"] = self._network(
            project, state, body.get("network", "global/networks/default")
        )
        out["priority"] = _as_int(body.get("priority", DEFAULT_PRIORITY), "resource.priority")
        direction = _as_str(body.get("direction", "INGRESS"), "resource.direction")

        lists: dict[str, list[str]] = {}
        for field in ("sourceRanges", "destinationRanges"):
            if field in body:
                lists[field] = _validate_ranges(body[field], f"resource.{field}")
        limits = {
            "sourceTags": MAX_SOURCE_TAGS,
            "targetTags": MAX_TARGET_TAGS,
        }
        for field, limit in limits.items():
            if field in body:
                lists[field] = _validate_tags(body[field], f"resource.{field}", limit)
        accounts = {
            "sourceServiceAccounts": MAX_SOURCE_SERVICE_ACCOUNTS,
            "targetServiceAccounts": MAX_TARGET_SERVICE_ACCOUNTS,
        }
        for field, limit in accounts.items():
            if field in body:
                lists[field] = _validate_accounts(body[field], f"resource.{field}", limit)
        lists = {k: v for k, v in lists.items() if v}

        allowed = _validate_rules(body["allowed"], "resource.allowed") if "allowed" in body else []
        denied = _validate_rules(body["denied"], "resource.denied") if "denied" in body else []
        if allowed and denied:
            raise _invalid(
                "resource.denied", denied, "A firewall rule cannot have both allowed and denied."
            )
        if not allowed and not denied:
            raise _bad_request(
                "Invalid value for field 'resource': ''. "
                "Exactly one of 'allowed' or 'denied' must be specified."
            )

        self._check_combinations(direction, lists)
        ranges = lists.get("sourceRanges", []) + lists.get("destinationRanges", [])
        families = {_family(cidr) for cidr in ranges}
        any_range = "::/0" if families == {6} else "0.0.0.0/0"
        if direction == "INGRESS" and not (
            {"sourceRanges", "sourceTags", "sourceServiceAccounts"} & lists.keys()
        ):
            lists["sourceRanges"] = [any_range]
        if direction == "EGRESS" and "destinationRanges" not in lists:
            lists["destinationRanges"] = [any_range]

        for field in (
            "sourceRanges",
            "destinationRanges",
            "sourceTags",
            "targetTags",
            "sourceServiceAccounts",
            "targetServiceAccounts",
        ):
            if field in lists:
                out[field] = lists[field]
        if allowed:
            out["allowed"] = allowed
        if denied:
            out["denied"] = denied
        out["direction"] = direction
        out["logConfig"] = _validate_log_config(body.get("logConfig", {"enable": False}))
        out["disabled"] = _as_bool(body.get("disabled", False), "resource.disabled")
        return out

    @staticmethod
    def _check_combinations(direction: str, lists: Mapping[str, list[str]]) -> None:
        ranges = [
            (field, i, cidr)
            for field in ("sourceRanges", "destinationRanges")
            for i, cidr in enumerate(lists.get(field, []))
        ]
        if len({_family(cidr) for _, _, cidr in ranges}) > 1:
            field, i, cidr = next(r for r in ranges if _family(r[2]) != _family(ranges[0][2]))
            raise _invalid(
                f"resource.{field}[{i}]",
                cidr,
                "A firewall rule cannot contain both IPv4 and IPv6 ranges.",
            )
        if direction == "EGRESS":
            for field in ("sourceTags", "sourceServiceAccounts"):
                if field in lists:
                    raise _invalid(
                        f"resource.{field}",
                        lists[field],
                        f"{field} cannot be specified for an EGRESS firewall rule.",
                    )
        if "sourceServiceAccounts" in lists and ({"sourceTags", "targetTags"} & lists.keys()):
            raise _invalid(
                "resource.sourceServiceAccounts",
                lists["sourceServiceAccounts"],
                "Source service accounts cannot be used together with source or target tags.",
            )
        if "targetServiceAccounts" in lists and ({"sourceTags", "targetTags"} & lists.keys()):
            raise _invalid(
                "resource.targetServiceAccounts",
                lists["targetServiceAccounts"],
                "Target service accounts cannot be used together with source or target tags.",
            )

    @staticmethod
    def _network(project: str, state: _Project, value: Any) -> str:
        reference = _as_str(value, "resource.network")
        match = _NETWORK_REF.fullmatch(reference.strip())
        if match is None:
            raise _invalid(
                "resource.network",
                reference,
                "Must be a URL or partial URL such as 'global/networks/default'.",
            )
        owner = match.group("project") or project
        name = match.group("name")
        if owner != project:
            raise _invalid(
                "resource.network",
                reference,
                "Cross-project references for this resource are not allowed.",
            )
        if name not in state.networks:
            raise _not_found(f"projects/{project}/global/networks/{name}")
        return _link(project, "networks", name)


def _page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return MAX_PAGE_SIZE
    if not re.fullmatch(r"\d+", raw.strip()):
        raise _type_error("maxResults", "TYPE_UINT32", raw)
    size = int(raw)
    if size > MAX_PAGE_SIZE:
        raise _invalid("maxResults", raw, f"Must be less than or equal to {MAX_PAGE_SIZE}.")
    return size or MAX_PAGE_SIZE


def _encode_token(key: list[Any], digest: str) -> str:
    raw = json.dumps({"k": key, "q": digest}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, digest: str) -> list[Any] | None:
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        key, owner = data["k"], data["q"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise _invalid("pageToken", token, "The page token is invalid.") from None
    if owner != digest or not isinstance(key, list):
        raise _invalid("pageToken", token, "The page token does not belong to this request.")
    return key


def _validate_request_id(value: str) -> None:
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise _invalid("requestId", value, "Must be a valid UUID.") from None
    if parsed.int == 0:
        raise _invalid("requestId", value, "The zero UUID is not supported.")


# --------------------------------------------------------------------------- HTTP plumbing


class _Handler(emulation.EmulatorRequestHandler):
    server: emulation.EmulatorHTTPServer[GcpEmulator]

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


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """Run the emulator in the foreground until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m portsync.providers.gcp.emulator",
        description="Local emulator of the Compute Engine v1 firewall-rules REST API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (loopback)")
    parser.add_argument("--port", type=int, default=8085, help="TCP port (0: any free port)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument(
        "--operation-delay", type=float, default=0.0, help="seconds before a mutation is DONE"
    )
    parser.add_argument(
        "--network",
        action="append",
        default=[],
        metavar="NAME",
        help="extra VPC network present in every project (repeatable; 'default' always exists)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    emulator = GcpEmulator(
        args.host,
        args.port,
        latency=args.latency,
        operation_delay=args.operation_delay,
        networks=("default", *args.network),
        verbose=not args.quiet,
    )
    url = emulator.start()
    print(f"GCP Compute firewall emulator listening on {url} (Ctrl-C to stop)", flush=True)
    emulation.serve_in_foreground(emulator.stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
