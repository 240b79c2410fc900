"""Conformance of the Azure emulator with the published REST API specification.

Every example in the Azure REST API specs reference folder is replayed against the emulator
with plain HTTPS requests: the example's ``parameters`` give the path, ``api-version`` and body;
its ``responses`` give the allowed status codes, the headers that must be present and a body
whose every key must appear in the emulator's answer with the same JSON type (values must be
equal too, except etags and resource GUIDs).  Both bodies are then read through the real
``azure-mgmt-network`` models and the fields portsync relies on are compared.

The swagger itself is checked as well: every operation is routed, long-running operations
answer with ``Azure-AsyncOperation``, pageable operations use its ``nextLinkName``, the
emulator emits only declared keys, and enums, required fields and the priority range agree.

The examples are kept in ``tests/data/azure-rest-api-specs`` and the swagger in
``providers/azure/spec`` (the emulator reads it at start-up); both READMEs give provenance and
licence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from portsync.providers.azure.emulator import MAX_PRIORITY, MIN_PRIORITY, AzureEmulator
from portsync.providers.azure.swagger import SWAGGER_FILE

SPECS = Path(__file__).resolve().parents[2] / "data" / "azure-rest-api-specs"
SWAGGER_PATH = SWAGGER_FILE
SWAGGER: dict[str, Any] = json.loads(SWAGGER_PATH.read_text())
EXAMPLES = sorted(p.name for p in SPECS.glob("*.json"))

# The two application security group examples belong to applicationSecurityGroup.json, which
# is not in the reference folder; their operations are spelled out here.
_ASG_PATH = (
    "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/"
    "Microsoft.Network/applicationSecurityGroups/{applicationSecurityGroupName}"
)
_EXTRA_OPERATIONS = {
    "ApplicationSecurityGroupCreate.json": (
        "put",
        _ASG_PATH,
        "ApplicationSecurityGroups_CreateOrUpdate",
        "parameters",
    ),
    "ApplicationSecurityGroupGet.json": ("get", _ASG_PATH, "ApplicationSecurityGroups_Get", None),
}

# Values that are generated per resource and cannot match an example.
_VOLATILE_KEYS = {"etag", "resourceGuid"}

_NSG_RE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Network/"
    r"networkSecurityGroups/(?P<nsg>[^/]+)(?:/(?P<kind>securityRules|defaultSecurityRules)/"
    r"(?P<rule>[^/]+))?$"
)
_ASG_RE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Network/"
    r"applicationSecurityGroups/(?P<asg>[^/]+)$"
)


def _swagger_operations() -> dict[str, tuple[str, str, str, str | None]]:
    """Example file name -> (method, path template, operationId, body parameter name)."""
    found: dict[str, tuple[str, str, str, str | None]] = dict(_EXTRA_OPERATIONS)
    for path, item in SWAGGER["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            body = next(
                (p["name"] for p in op.get("parameters", []) if p.get("in") == "body"), None
            )
            for ref in op.get("x-ms-examples", {}).values():
                found[Path(ref["$ref"]).name] = (method, path, op["operationId"], body)
    return found


OPERATIONS = _swagger_operations()


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SPECS / name).read_text())
    return loaded


def _fill(template: str, params: dict[str, Any]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: quote(str(params[m.group(1)]), safe=""), template)


# --------------------------------------------------------------------------------------------
# Seeding the emulator so that an example's request meets the state its response describes


def _example_items(example: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for code, response in example["responses"].items():
        body = response.get("body")
        if not code.startswith("2") or not isinstance(body, dict):
            continue
        items.extend(body.get("value", [body]))
    return items


def _stored_rule(rule: dict[str, Any]) -> dict[str, Any]:
    props = {k: v for k, v in rule["properties"].items() if k != "provisioningState"}
    return {"name": rule["name"], "properties": props}


_SAMPLE_RULE: dict[str, Any] = {
    "name": "rule1",
    "properties": {
        "protocol": "*",
        "sourcePortRange": "*",
        "destinationPortRange": "80",
        "sourceAddressPrefix": "*",
        "destinationAddressPrefix": "*",
        "access": "Allow",
        "priority": 130,
        "direction": "Inbound",
    },
}


def _seed(emulator: AzureEmulator, method: str, target_id: str, example: dict[str, Any]) -> None:
    nsgs: dict[str, dict[str, Any]] = {}
    asgs: dict[str, dict[str, Any]] = {}

    def nsg_entry(m: re.Match[str]) -> dict[str, Any]:
        key = f"/subscriptions/{m['sub']}/resourceGroups/{m['rg']}/providers/Microsoft.Network/networkSecurityGroups/{m['nsg']}"
        return nsgs.setdefault(
            key,
            {
                "sub": m["sub"],
                "rg": m["rg"],
                "name": m["nsg"],
                "location": "westus",
                "rules": {},
                "tags": None,
            },
        )

    for item in _example_items(example):
        item_id = item.get("id", "")
        if match := _ASG_RE.match(item_id):
            asgs[item_id] = {
                "sub": match["sub"],
                "rg": match["rg"],
                "name": match["asg"],
                "location": item.get("location", "westus"),
            }
            continue
        match = _NSG_RE.match(item_id)
        assert match, f"example item with unexpected id {item_id!r}"
        entry = nsg_entry(match)
        if match["kind"] is None:
            entry["location"] = item.get("location", entry["location"])
            entry["tags"] = item.get("tags")
            for rule in item.get("properties", {}).get("securityRules", []):
                entry["rules"][rule["name"]] = _stored_rule(rule)
        elif match["kind"] == "securityRules":
            entry["rules"][item["name"]] = _stored_rule(item)

    if method == "delete":  # nothing in the responses: the target itself must exist
        match = _NSG_RE.match(target_id)
        assert match
        entry = nsg_entry(match)
        if match["kind"] == "securityRules":
            entry["rules"][match["rule"]] = dict(_SAMPLE_RULE, name=match["rule"])
    if method == "put":  # a create: the target must not exist yet, its parents must
        asgs.pop(target_id, None)
        nsgs.pop(target_id, None)
        match = _NSG_RE.match(target_id)
        if match and match["kind"] == "securityRules":
            nsg_entry(match)["rules"].pop(match["rule"], None)

    for asg in asgs.values():
        emulator.seed_asg(asg["sub"], asg["rg"], asg["name"], asg["location"])
    for nsg in nsgs.values():
        emulator.seed_nsg(
            nsg["sub"],
            nsg["rg"],
            nsg["name"],
            nsg["location"],
            rules=list(nsg["rules"].values()),
            tags=nsg["tags"],
        )


# --------------------------------------------------------------------------------------------
# Comparisons


def _assert_conforms(expected: Any, actual: Any, where: str, key: str = "") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for name, value in expected.items():
            assert name in actual, f"{where}: key {name!r} missing"
            _assert_conforms(value, actual[name], f"{where}.{name}", name)
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected an array, got {actual!r}"
        assert len(actual) == len(expected), f"{where}: {len(actual)} items, want {len(expected)}"
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            _assert_conforms(want, got, f"{where}[{index}]", key)
    else:
        assert type(actual) is type(expected), f"{where}: {type(actual)} != {type(expected)}"
        if key not in _VOLATILE_KEYS:
            assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def _ids(groups: Any) -> list[str]:
    return [g.id for g in groups or []]


def _rule_view(rule: Any) -> tuple[Any, ...]:
    return (
        rule.name,
        rule.id,
        rule.protocol,
        rule.source_port_range,
        rule.source_port_ranges or [],
        rule.destination_port_range,
        rule.destination_port_ranges or [],
        rule.source_address_prefix,
        rule.source_address_prefixes or [],
        rule.destination_address_prefix,
        rule.destination_address_prefixes or [],
        _ids(rule.source_application_security_groups),
        _ids(rule.destination_application_security_groups),
        rule.access,
        rule.priority,
        rule.direction,
        rule.description,
        rule.provisioning_state,
    )


def _nsg_view(nsg: Any) -> tuple[Any, ...]:
    return (
        nsg.name,
        nsg.id,
        nsg.type,
        nsg.location,
        nsg.tags,
        nsg.provisioning_state,
        [_rule_view(r) for r in nsg.security_rules or []],
        [_rule_view(r) for r in nsg.default_security_rules or []],
    )


def _asg_view(asg: Any) -> tuple[Any, ...]:
    return (asg.name, asg.id, asg.type, asg.location, asg.provisioning_state)


def _sdk_view(operation_id: str, body: dict[str, Any]) -> Any:
    """Read a response body through the SDK's own model classes."""
    from azure.mgmt.network.models import (
        ApplicationSecurityGroup,
        NetworkSecurityGroup,
        SecurityRule,
    )

    model: Any
    view: Callable[[Any], tuple[Any, ...]]
    if operation_id.startswith("NetworkSecurityGroups_"):
        model, view = NetworkSecurityGroup, _nsg_view
    elif operation_id.startswith("ApplicationSecurityGroups_"):
        model, view = ApplicationSecurityGroup, _asg_view
    else:
        model, view = SecurityRule, _rule_view
    if "value" in body:  # list results: the SDK reads body["value"] item by item
        return [view(model(item)) for item in body["value"]]
    return view(model(body))


# --------------------------------------------------------------------------------------------
# Example replay


def test_examples_every_file_maps_to_an_operation():
    assert EXAMPLES, f"no examples in {SPECS}"
    assert sorted(set(EXAMPLES) - set(OPERATIONS)) == []


@pytest.mark.parametrize("example_name", EXAMPLES)
def test_examples_replayed_response_conforms_to_example(azure_emulator, arm_http, example_name):
    method, template, operation_id, body_param = OPERATIONS[example_name]
    example = _load(example_name)
    params = example["parameters"]
    path = _fill(template, params)
    _seed(azure_emulator, method, path, example)

    response = arm_http.request(
        method.upper(),
        path,
        body=params.get(body_param) if body_param else None,
        api_version=params["api-version"],
    )

    expected_codes = set(example["responses"])
    assert str(response.status_code) in expected_codes, response.text
    if method == "put" and "201" in expected_codes:
        assert response.status_code == 201  # a fresh create
    spec = example["responses"][str(response.status_code)]
    for header in spec.get("headers", {}):
        assert header in response.headers, f"{example_name}: header {header} missing"
    expected_body = spec.get("body")
    if expected_body is None:
        assert response.content == b""
        return
    actual_body = response.json()
    _assert_conforms(expected_body, actual_body, example_name)
    assert _sdk_view(operation_id, actual_body) == _sdk_view(operation_id, expected_body)


@pytest.mark.parametrize("example_name", EXAMPLES)
def test_examples_replayed_through_real_sdk_client_succeed(
    azure_emulator, make_network_client, example_name
):
    """The same example, issued by the real SDK operation, returns what the example shows."""
    method, template, operation_id, body_param = OPERATIONS[example_name]
    example = _load(example_name)
    params = example["parameters"]
    _seed(azure_emulator, method, _fill(template, params), example)
    client = make_network_client(subscription_id=params["subscriptionId"])
    group, _, action = operation_id.partition("_")
    operations = getattr(client, re.sub(r"(?<!^)(?=[A-Z])", "_", group).lower())
    names = [params[n] for n in re.findall(r"\{(\w+)\}", template) if n != "subscriptionId"]
    api_version = {"api_version": params["api-version"]}
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()
    if method in {"put", "delete"}:
        result = getattr(operations, f"begin_{snake}")(
            *names, *([params[body_param]] if body_param else []), **api_version
        ).result()
    elif method == "patch":
        result = getattr(operations, snake)(*names, params[body_param], **api_version)
    else:
        result = getattr(operations, snake)(*names, **api_version)
    if snake.startswith("list"):
        result = list(result)
    expected = next(
        (r["body"] for c, r in example["responses"].items() if c.startswith("2") and "body" in r),
        None,
    )
    if expected is None:
        assert result is None
        return
    got: dict[str, Any]
    if isinstance(result, list):
        got = {"value": [item.as_dict() for item in result]}
    else:
        got = result.as_dict()
    assert _sdk_view(operation_id, got) == _sdk_view(operation_id, expected)


# --------------------------------------------------------------------------------------------
# Swagger checks


def _minimal_body(operation_id: str) -> dict[str, Any] | None:
    if operation_id == "NetworkSecurityGroups_CreateOrUpdate":
        return {"location": "westus"}
    if operation_id == "NetworkSecurityGroups_UpdateTags":
        return {"tags": {"a": "b"}}
    if operation_id == "SecurityRules_CreateOrUpdate":
        return {"properties": dict(_SAMPLE_RULE["properties"], priority=200)}
    return None


def _swagger_ops() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in SWAGGER["paths"].items()
        for method, op in item.items()
        if method != "parameters"
    ]


@pytest.mark.parametrize(
    ("method", "template", "op"),
    _swagger_ops(),
    ids=[op["operationId"] for _, _, op in _swagger_ops()],
)
def test_swagger_operation_is_routed_with_declared_status_and_shape(
    azure_emulator, arm_http, method, template, op
):
    params = {
        "subscriptionId": "sub1",
        "resourceGroupName": "rg1",
        "networkSecurityGroupName": "nsg1",
        "securityRuleName": "rule1",
        "defaultSecurityRuleName": "DenyAllOutBound",
    }
    azure_emulator.page_size = 1
    second_rule = {"name": "rule2", "properties": dict(_SAMPLE_RULE["properties"], priority=140)}
    azure_emulator.seed_nsg("sub1", "rg1", "nsg1", "westus", rules=[_SAMPLE_RULE, second_rule])
    azure_emulator.seed_nsg("sub1", "rg1", "nsg2", "westus")
    response = arm_http.request(
        method.upper(), _fill(template, params), body=_minimal_body(op["operationId"])
    )
    declared = {c for c in op["responses"] if c != "default"}
    assert str(response.status_code) in declared, (response.status_code, response.text)
    if op.get("x-ms-long-running-operation"):
        assert "Azure-AsyncOperation" in response.headers
    pageable = op.get("x-ms-pageable")
    if pageable:
        assert pageable["nextLinkName"] in response.json()


def _declared_keys(definition: str) -> set[str]:
    keys = set(SWAGGER["definitions"][definition].get("properties", {}))
    for parent in SWAGGER["definitions"][definition].get("allOf", []):
        ref = parent["$ref"]
        # network.json is not in the reference folder; its two bases are small and stable.
        if ref.endswith("/Resource"):
            keys |= {"id", "name", "type", "location", "tags"}
        elif ref.endswith("/SubResource"):
            keys |= {"id"}
        else:  # pragma: no cover - a new base in a newer swagger
            raise AssertionError(f"unknown base {ref}")
    return keys


def test_swagger_emulator_emits_only_declared_keys(azure_emulator, arm_http):
    asg = azure_emulator.seed_asg("sub1", "rg1", "asg1")
    rich = {
        "name": "rich",
        "properties": {
            "description": "portsync: everything",
            "protocol": "Udp",
            "sourcePortRanges": ["1000-2000", "3000"],
            "destinationPortRanges": ["53"],
            "sourceAddressPrefixes": ["10.0.0.0/8", "fd00::/8"],
            "destinationApplicationSecurityGroups": [{"id": asg["id"]}],
            "access": "Deny",
            "priority": 300,
            "direction": "Outbound",
        },
    }
    azure_emulator.seed_nsg("sub1", "rg1", "nsg1", rules=[_SAMPLE_RULE, rich], tags={"a": "b"})
    nsg = arm_http.get(
        "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Network/"
        "networkSecurityGroups/nsg1"
    ).json()
    assert set(nsg) <= _declared_keys("NetworkSecurityGroup")
    assert set(nsg["properties"]) <= _declared_keys("NetworkSecurityGroupPropertiesFormat")
    rule_keys = _declared_keys("SecurityRule")
    rule_prop_keys = _declared_keys("SecurityRulePropertiesFormat")
    for rule in nsg["properties"]["securityRules"] + nsg["properties"]["defaultSecurityRules"]:
        assert set(rule) <= rule_keys
        assert set(rule["properties"]) <= rule_prop_keys, set(rule["properties"]) - rule_prop_keys


def test_swagger_enums_match_emulator_validation(azure_emulator, arm_http):
    props = SWAGGER["definitions"]["SecurityRulePropertiesFormat"]["properties"]
    enums = {
        "protocol": props["protocol"]["enum"],
        "access": SWAGGER["definitions"]["SecurityRuleAccess"]["enum"],
        "direction": SWAGGER["definitions"]["SecurityRuleDirection"]["enum"],
    }
    azure_emulator.seed_nsg("sub1", "rg1", "nsg1")
    base = "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg1/securityRules"
    priority = 100
    for field, values in enums.items():
        for value in values:
            priority += 1
            body = {
                "properties": dict(_SAMPLE_RULE["properties"], priority=priority, **{field: value})
            }
            response = arm_http.put(f"{base}/r{priority}", body)
            assert response.status_code == 201, (field, value, response.text)
            assert response.json()["properties"][field] == value
        bad = {"properties": dict(_SAMPLE_RULE["properties"], **{field: "Bogus"})}
        assert arm_http.put(f"{base}/bad", bad).status_code == 400


def test_swagger_required_rule_fields_are_enforced(azure_emulator, arm_http):
    required = SWAGGER["definitions"]["SecurityRulePropertiesFormat"]["required"]
    assert sorted(required) == ["access", "direction", "priority", "protocol"]
    azure_emulator.seed_nsg("sub1", "rg1", "nsg1")
    base = "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg1/securityRules"
    for field in required:
        props = {k: v for k, v in _SAMPLE_RULE["properties"].items() if k != field}
        response = arm_http.put(f"{base}/r", {"properties": props})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "SecurityRuleParameterMissing"


def test_swagger_priority_range_matches_emulator_limits():
    text = SWAGGER["definitions"]["SecurityRulePropertiesFormat"]["properties"]["priority"][
        "description"
    ]
    low, high = map(int, re.search(r"between (\d+) and (\d+)", text).groups())  # type: ignore[union-attr]
    assert (low, high) == (MIN_PRIORITY, MAX_PRIORITY)


def test_swagger_description_limit_matches_emulator(azure_emulator, arm_http):
    text = SWAGGER["definitions"]["SecurityRulePropertiesFormat"]["properties"]["description"][
        "description"
    ]
    limit = int(re.search(r"Restricted to (\d+) chars", text).group(1))  # type: ignore[union-attr]
    azure_emulator.seed_nsg("sub1", "rg1", "nsg1")
    base = "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg1/securityRules"
    ok = {"properties": dict(_SAMPLE_RULE["properties"], description="d" * limit)}
    too_long = {"properties": dict(_SAMPLE_RULE["properties"], description="d" * (limit + 1))}
    assert arm_http.put(f"{base}/ok", ok).status_code == 201
    assert arm_http.put(f"{base}/long", too_long).status_code == 400
