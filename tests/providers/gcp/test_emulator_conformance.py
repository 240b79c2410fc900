"""The GCP emulator checked against the compute v1 discovery document.

The discovery document ships inside google-api-python-client
(``googleapiclient/discovery_cache/documents/compute.v1.json``). Every route
the emulator serves must be a discovery method with the same HTTP verb and
path, and every field it emits must exist in the discovery schema, with the
declared JSON type and enum values.
"""

from __future__ import annotations

import importlib
import json
import re
from importlib import resources
from typing import Any

import pytest

from portsync.providers.gcp.emulator import (
    IGNORED_QUERY,
    ROUTES,
    SERVICE_PATH,
    STANDARD_QUERY,
    GcpEmulator,
    Route,
)

pytest.importorskip("googleapiclient", reason="needs google-api-python-client (dev extra)")

RESOURCES = ("firewalls", "globalOperations")
# Discovery methods of those resources the emulator does not serve (a documented gap).
UNSERVED = {"globalOperations.aggregatedList"}
_UUID = "3f1c2b9e-5d4a-4c8e-9b7f-0a1b2c3d4e5f"


@pytest.fixture(scope="module")
def discovery() -> dict[str, Any]:
    document = resources.files("googleapiclient") / "discovery_cache/documents/compute.v1.json"
    loaded: dict[str, Any] = json.loads(document.read_text(encoding="utf-8"))
    return loaded


def discovery_method(discovery: dict[str, Any], route: Route) -> dict[str, Any]:
    resource, method = route.method_id.split(".")
    methods: dict[str, Any] = discovery["resources"][resource]["methods"]
    assert method in methods, f"{route.method_id} is not a discovery method"
    found: dict[str, Any] = methods[method]
    return found


class SchemaViolation(AssertionError):
    pass


def check(value: Any, schema: dict[str, Any], where: str, schemas: dict[str, Any]) -> None:
    """Fail when ``value`` has a field, type or enum value ``schema`` does not declare."""
    if "$ref" in schema:
        schema = schemas[schema["$ref"]]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if not isinstance(value, dict):
            raise SchemaViolation(f"{where}: expected an object, got {value!r}")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                check(item, properties[key], f"{where}.{key}", schemas)
            elif extra is not None:
                check(item, extra, f"{where}[{key!r}]", schemas)
            else:
                raise SchemaViolation(f"{where}.{key} is not in the discovery schema")
    elif kind == "array":
        if not isinstance(value, list):
            raise SchemaViolation(f"{where}: expected an array, got {value!r}")
        for i, item in enumerate(value):
            check(item, schema["items"], f"{where}[{i}]", schemas)
    elif kind == "string":
        if not isinstance(value, str):
            raise SchemaViolation(f"{where}: expected a string, got {value!r}")
        if "enum" in schema and value not in schema["enum"]:
            raise SchemaViolation(f"{where}: {value!r} is not one of {schema['enum']}")
        if schema.get("format") in ("uint64", "int64") and not re.fullmatch(r"-?\d+", value):
            raise SchemaViolation(f"{where}: {value!r} is not a {schema['format']} string")
    elif kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            raise SchemaViolation(f"{where}: expected an integer, got {value!r}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise SchemaViolation(f"{where}: expected a boolean, got {value!r}")
    else:
        raise SchemaViolation(f"{where}: schema type {kind!r} not handled by this test")


# --------------------------------------------------------------------------- routes


@pytest.mark.parametrize("route", ROUTES, ids=[r.method_id for r in ROUTES])
def test_route_method_and_path_match_discovery(discovery: dict[str, Any], route: Route) -> None:
    method = discovery_method(discovery, route)

    assert method["httpMethod"] == route.http_method
    assert method["path"] == route.path
    assert "/" + discovery["servicePath"] == SERVICE_PATH


@pytest.mark.parametrize("route", ROUTES, ids=[r.method_id for r in ROUTES])
def test_route_query_parameters_declared_in_discovery(
    discovery: dict[str, Any], route: Route
) -> None:
    declared = {
        name
        for name, spec in discovery_method(discovery, route).get("parameters", {}).items()
        if spec["location"] == "query"
    }

    assert route.query <= declared
    assert route.query == declared - IGNORED_QUERY
    assert STANDARD_QUERY - {"$alt"} == set(discovery["parameters"])


@pytest.mark.parametrize("route", ROUTES, ids=[r.method_id for r in ROUTES])
def test_route_path_parameters_match_discovery(discovery: dict[str, Any], route: Route) -> None:
    method = discovery_method(discovery, route)
    in_path = set(re.findall(r"\{(\w+)\}", route.path))

    declared = {n for n, s in method.get("parameters", {}).items() if s["location"] == "path"}

    assert in_path == declared == set(method["parameterOrder"])


def test_routes_cover_discovery_methods_except_known_gaps(discovery: dict[str, Any]) -> None:
    available = {
        f"{resource}.{method}"
        for resource in RESOURCES
        for method in discovery["resources"][resource]["methods"]
    }

    served = {route.method_id for route in ROUTES}

    assert served <= available
    assert available - served == UNSERVED


@pytest.mark.parametrize("route", ROUTES, ids=[r.method_id for r in ROUTES])
def test_route_served_over_http(gcp_raw: Any, route: Route) -> None:
    values = {"project": "conformance", "firewall": "x", "resource": "x", "operation": "x"}
    path = route.path.format(**values)
    body: dict[str, Any] | None
    body = {"permissions": []} if route.method_id == "firewalls.testIamPermissions" else None
    if route.method_id in ("firewalls.insert", "firewalls.patch", "firewalls.update"):
        body = {"name": "x", "allowed": [{"IPProtocol": "tcp"}]}

    _, payload = gcp_raw(route.http_method, path, body)

    message = payload.get("error", {}).get("message", "")
    assert "requested URL" not in message, f"{route.method_id} is not routed"


@pytest.mark.parametrize("route", ROUTES, ids=[r.method_id for r in ROUTES])
def test_route_matches_google_cloud_compute_transport(route: Route) -> None:
    pytest.importorskip("google.cloud.compute_v1", reason="needs portsync[gcp]")
    resource, method = route.method_id.split(".")
    module_name = {"firewalls": "firewalls", "globalOperations": "global_operations"}[resource]
    transport_name = {"firewalls": "Firewalls", "globalOperations": "GlobalOperations"}[resource]
    module = importlib.import_module(
        f"google.cloud.compute_v1.services.{module_name}.transports.rest_base"
    )
    base = getattr(module, f"_Base{transport_name}RestTransport")
    options = getattr(base, f"_Base{method[0].upper()}{method[1:]}")._get_http_options()

    assert [(o["method"].upper(), o["uri"]) for o in options] == [
        (route.http_method, SERVICE_PATH + route.path)
    ]


# --------------------------------------------------------------------------- emitted fields


@pytest.fixture
def emitted(gcp_emulator: GcpEmulator, gcp_raw: Any) -> dict[str, list[Any]]:
    """Every kind of body the emulator answers with, produced over HTTP."""
    project = "conformance"
    gcp_emulator.add_network(project, "k8s")
    base = f"projects/{project}/global"
    account = "nodes@conformance.iam.gserviceaccount.com"
    bodies: list[dict[str, Any]] = [
        {
            "name": "ingress-all-fields",
            "description": "every field",
            "network": "global/networks/k8s",
            "priority": 100,
            "sourceRanges": ["10.0.0.0/8"],
            "destinationRanges": ["10.1.0.0/16"],
            "sourceTags": ["k8s-cp"],
            "targetTags": ["k8s-node"],
            "denied": [{"IPProtocol": "tcp", "ports": ["10255", "10251-10252"]}],
            "direction": "INGRESS",
            "logConfig": {"enable": True, "metadata": "INCLUDE_ALL_METADATA"},
            "disabled": True,
        },
        {
            "name": "egress-accounts",
            "direction": "EGRESS",
            "destinationRanges": ["2001:db8::/32"],
            "targetServiceAccounts": [account],
            "allowed": [{"IPProtocol": "udp", "ports": ["53"]}, {"IPProtocol": "icmp"}],
        },
        {
            "name": "source-accounts",
            "sourceServiceAccounts": [account],
            "allowed": [{"IPProtocol": "all"}],
        },
        {"name": "minimal", "allowed": [{"IPProtocol": "tcp"}]},
    ]
    out: dict[str, list[Any]] = {"Firewall": [], "Operation": [], "FirewallList": []}
    for body in bodies:
        status, operation = gcp_raw("POST", f"{base}/firewalls", body)
        assert status == 200, operation
        out["Operation"].append(operation)
        out["Operation"].append(gcp_raw("POST", f"{base}/operations/{operation['name']}/wait")[1])
    for body in bodies:
        out["Firewall"].append(gcp_raw("GET", f"{base}/firewalls/{body['name']}")[1])
    out["Operation"].append(
        gcp_raw(
            "PATCH",
            f"{base}/firewalls/minimal",
            {"name": "minimal", "priority": 10},
            {"requestId": _UUID},
        )[1]
    )
    gcp_emulator.inject("operation_failed")
    failed = gcp_raw("DELETE", f"{base}/firewalls/minimal")[1]
    out["Operation"].append(gcp_raw("GET", f"{base}/operations/{failed['name']}")[1])
    assert "error" in out["Operation"][-1]
    out["FirewallList"].append(gcp_raw("GET", f"{base}/firewalls", query={"maxResults": "2"})[1])
    out["FirewallList"].append(gcp_raw("GET", f"{base}/firewalls", query={"filter": "name = x"})[1])
    out["OperationList"] = [gcp_raw("GET", f"{base}/operations", query={"maxResults": "3"})[1]]
    status, permissions = gcp_raw(
        "POST",
        f"{base}/firewalls/minimal/testIamPermissions",
        {"permissions": ["compute.firewalls.get"]},
    )
    assert status == 200
    out["TestPermissionsResponse"] = [permissions]
    return out


@pytest.mark.parametrize(
    "schema", ["Firewall", "Operation", "FirewallList", "OperationList", "TestPermissionsResponse"]
)
def test_emitted_fields_exist_in_discovery_schema(
    discovery: dict[str, Any], emitted: dict[str, list[Any]], schema: str
) -> None:
    schemas = discovery["schemas"]
    assert emitted[schema], f"no {schema} emitted"

    for i, body in enumerate(emitted[schema]):
        check(body, schemas[schema], f"{schema}#{i}", schemas)


def test_emitted_firewall_covers_every_discovery_field(
    discovery: dict[str, Any], emitted: dict[str, list[Any]]
) -> None:
    seen = {key for body in emitted["Firewall"] for key in body}

    declared = set(discovery["schemas"]["Firewall"]["properties"])

    assert declared - seen == {"params"}  # input only, never returned


def test_emitted_failed_operation_has_error_fields(emitted: dict[str, list[Any]]) -> None:
    failed = emitted["Operation"][-1]

    assert failed["status"] == "DONE"
    assert failed["error"]["errors"][0]["code"]
    assert failed["httpErrorStatusCode"] == 500
    assert failed["httpErrorMessage"] == "INTERNAL SERVER ERROR"


def test_schema_checker_unknown_field_detected(discovery: dict[str, Any]) -> None:
    schemas = discovery["schemas"]

    with pytest.raises(SchemaViolation):
        check({"name": "x", "sourceRange": []}, schemas["Firewall"], "Firewall", schemas)
    with pytest.raises(SchemaViolation):
        check({"logConfig": {"enabled": True}}, schemas["Firewall"], "Firewall", schemas)
    with pytest.raises(SchemaViolation):
        check({"direction": "SIDEWAYS"}, schemas["Firewall"], "Firewall", schemas)
    with pytest.raises(SchemaViolation):
        check({"priority": "1000"}, schemas["Firewall"], "Firewall", schemas)


def test_error_body_google_shape(gcp_raw: Any) -> None:
    status, payload = gcp_raw("GET", "projects/conformance/global/firewalls/missing")

    assert status == 404
    assert set(payload) == {"error"}
    assert set(payload["error"]) == {"code", "message", "errors"}
    assert payload["error"]["code"] == 404
    assert payload["error"]["errors"] == [
        {"message": payload["error"]["message"], "domain": "global", "reason": "notFound"}
    ]


# --------------------------------------------------------------------------- vendored subset


def test_vendored_discovery_subset_is_the_installed_document(discovery: dict[str, Any]) -> None:
    """The emulator's rules come from Google's document, never restated by hand.

    On failure, refresh the copy: ``python -m portsync.providers.gcp.discovery --refresh``.
    """
    from portsync.providers.gcp import discovery as vendored

    assert vendored.load().document == vendored.extract(discovery)


def test_provider_limits_agree_with_the_discovery_document() -> None:
    from portsync.providers.gcp import discovery as vendored
    from portsync.providers.gcp import limits

    spec = vendored.load()
    assert limits.NAME_PATTERN.pattern == spec.pattern("Firewall", "name")
    assert spec.integer_bounds("Firewall", "priority") == (limits.MIN_PRIORITY, limits.MAX_PRIORITY)
