"""Request validation: bodies against the discovery document and the documented per-rule
limits, page sizes, page tokens and request ids."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Final

from portsync.providers.gcp import discovery

from .errors import (
    _ApiError,
    _as_bool,
    _as_str,
    _as_str_list,
    _invalid,
    _required,
    _type_error,
    _unknown_field,
)
from .routes import (
    _NAME_PATTERN_TEXT,
    _PORTED_PROTOCOLS,
    _PROTOCOL_NAMES,
    _SERVICE_ACCOUNT,
    MAX_PAGE_SIZE,
    NAME_PATTERN,
    SPEC,
    Json,
)

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
