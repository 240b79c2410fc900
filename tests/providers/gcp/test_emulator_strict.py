"""The GCP emulator refuses every request body the compute v1 discovery document refuses.

The cases are generated from the discovery document, not listed by hand: for each method that
takes a body, every field annotated as required for it is left out in turn; every property with
a pattern, an enum, a JSON type or integer bounds gets a value that breaks it.  Each must be
answered 400 in Google's error shape, so a lenient emulator cannot come back unnoticed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from portsync.providers.gcp import discovery
from portsync.providers.gcp.emulator import ROUTES, GcpEmulator
from tests.providers.gcp.conftest import RawCall

SPEC = discovery.load()
BODY_ROUTES = [r for r in ROUTES if SPEC.request_schema(r.method_id) == "Firewall"]
FIREWALL = "strict-fw"
VALID: dict[str, Any] = {
    "name": FIREWALL,
    "network": "global/networks/default",
    "priority": 1000,
    "direction": "INGRESS",
    "sourceRanges": ["10.0.0.0/8"],
    "allowed": [{"IPProtocol": "tcp", "ports": ["6443"]}],
    "logConfig": {"enable": False},
}


def assert_google_error(status: int, body: dict[str, Any], reason: str | None = None) -> None:
    assert status == 400, body
    error = body["error"]
    assert error["code"] == 400
    assert isinstance(error["message"], str) and error["message"]
    assert error["errors"][0]["domain"] == "global"
    if reason is not None:
        assert error["errors"][0]["reason"] == reason, error


def send(raw: RawCall, emulator: GcpEmulator, method_id: str, body: dict[str, Any]) -> Any:
    """Send ``body`` to a Firewall-body method; an existing firewall is seeded first."""
    route = next(r for r in ROUTES if r.method_id == method_id)
    project = "strict"
    if "{firewall}" in route.path:
        emulator.seed(project, [VALID])
    path = route.path.format(project=project, firewall=FIREWALL)
    return raw(route.http_method, path, body=body)


def required_cases() -> Iterator[Any]:
    for route in BODY_ROUTES:
        for field in SPEC.required_fields(route.method_id):
            yield pytest.param(route.method_id, field, id=f"{route.method_id}-{field}")


def test_discovery_marks_name_required_for_insert_and_patch() -> None:
    assert SPEC.required_fields("firewalls.insert") == ["name"]
    assert SPEC.required_fields("firewalls.patch") == ["name"]
    assert len(list(required_cases())) >= 2


@pytest.mark.parametrize(("method_id", "field"), list(required_cases()))
def test_body_missing_a_required_field_is_refused(
    gcp_raw: RawCall, gcp_emulator: GcpEmulator, method_id: str, field: str
) -> None:
    body = {k: v for k, v in VALID.items() if k != field}

    status, answer = send(gcp_raw, gcp_emulator, method_id, body)

    assert_google_error(status, answer, "required")
    assert f"resource.{field}" in answer["error"]["message"]


def test_patch_with_name_is_accepted(gcp_raw: RawCall, gcp_emulator: GcpEmulator) -> None:
    status, answer = send(gcp_raw, gcp_emulator, "firewalls.patch", {"name": FIREWALL})

    assert status == 200, answer
    assert answer["kind"] == "compute#operation"


def _breaking_values(schema_name: str, prefix: str = "") -> Iterator[tuple[str, Any, str]]:
    """(field path, a value that breaks the document, the check) for every checked property."""
    for name, prop in SPEC.schemas[schema_name]["properties"].items():
        if prop.get("readOnly"):
            continue
        path = f"{prefix}{name}"
        if "$ref" in prop:
            yield from _breaking_values(prop["$ref"], f"{path}.")
            continue
        kind = prop.get("type")
        if kind == "string" and "format" not in prop:
            yield path, 7, "type"
            if "enum" in prop:
                yield path, "NOT_AN_ENUM_VALUE", "enum"
            if "pattern" in prop:
                yield path, "Not-A-Match_", "pattern"
        elif kind == "integer":
            yield path, "seven", "type"
            low, high = SPEC.integer_bounds(schema_name, name)
            yield path, high + 1, "range"
            yield path, low - 1, "range"
        elif kind == "boolean":
            yield path, "yes", "type"
        elif kind == "array":
            yield path, "not-a-list", "type"
            if prop["items"].get("type") == "string":
                yield path, [7], "type"
        elif kind == "object":
            yield path, ["not-an-object"], "type"


def _nest(path: str, value: Any) -> dict[str, Any]:
    head, _, rest = path.partition(".")
    return {head: _nest(rest, value) if rest else value}


BREAKING = list(_breaking_values("Firewall"))


def test_breaking_values_cover_every_kind_of_check() -> None:
    kinds = {check for _, _, check in BREAKING}
    assert kinds == {"type", "enum", "pattern", "range"}
    assert ("priority", 65536, "range") in BREAKING


@pytest.mark.parametrize("method_id", [r.method_id for r in BODY_ROUTES])
@pytest.mark.parametrize(("field", "value", "check"), BREAKING, ids=lambda v: json.dumps(v))
def test_body_breaking_the_discovery_schema_is_refused(
    gcp_raw: RawCall,
    gcp_emulator: GcpEmulator,
    method_id: str,
    field: str,
    value: Any,
    check: str,
) -> None:
    body = {**VALID, **_nest(field, value)}
    if field.startswith("logConfig."):
        body["logConfig"] = {**VALID["logConfig"], **body["logConfig"]}

    status, answer = send(gcp_raw, gcp_emulator, method_id, body)

    assert_google_error(status, answer)
    assert f"resource.{field.split('.')[0]}" in answer["error"]["message"]


def test_unknown_field_is_refused(gcp_raw: RawCall, gcp_emulator: GcpEmulator) -> None:
    status, answer = send(gcp_raw, gcp_emulator, "firewalls.insert", {**VALID, "colour": "red"})

    assert_google_error(status, answer, "invalid")
    assert '"colour"' in answer["error"]["message"]


def test_seed_is_held_to_the_same_document(gcp_emulator: GcpEmulator) -> None:
    with pytest.raises(ValueError, match=r"Required field 'resource\.name'"):
        gcp_emulator.seed("strict", [{k: v for k, v in VALID.items() if k != "name"}])
