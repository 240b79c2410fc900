"""The Azure emulator refuses every request body the Microsoft.Network swagger refuses.

The cases come from the swagger kept in ``providers/azure/spec``, not from a hand-made list: for
both operations that write security rules (an NSG PUT carrying rules, and a security rule PUT),
every required property is left out in turn, and every typed or enumerated property gets a value
that breaks it.  Each must be answered 400 in ARM's error shape.  Read-only properties are
ignored on PUT, as ARM ignores them, whatever their value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from portsync.providers.azure import swagger
from portsync.providers.azure.emulator import AzureEmulator
from tests.providers.azure.conftest import ArmHttp

SWAGGER = swagger.load()
RULE_PROPS = "SecurityRulePropertiesFormat"
NSG_PATH = (
    "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg1"
)
RULE: dict[str, Any] = {
    "protocol": "Tcp",
    "sourcePortRange": "*",
    "destinationPortRange": "6443",
    "sourceAddressPrefix": "10.0.0.0/8",
    "destinationAddressPrefix": "*",
    "access": "Allow",
    "priority": 200,
    "direction": "Inbound",
    "description": "api",
}
# The two operations that carry security rules, and how each wraps one rule's properties.
OPERATIONS = ("NetworkSecurityGroups_CreateOrUpdate", "SecurityRules_CreateOrUpdate")


def put_rule(arm: ArmHttp, emulator: AzureEmulator, operation: str, props: Any) -> Any:
    if operation == "SecurityRules_CreateOrUpdate":
        emulator.seed_nsg("sub1", "rg1", "nsg1")
        return arm.put(f"{NSG_PATH}/securityRules/r1", {"properties": props})
    body = {
        "location": "westeurope",
        "properties": {"securityRules": [{"name": "r1", "properties": props}]},
    }
    return arm.put(NSG_PATH, body)


def assert_arm_error(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error: dict[str, Any] = response.json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    return error


def test_operations_write_the_swagger_definitions_checked() -> None:
    assert SWAGGER.body_definition("NetworkSecurityGroups_CreateOrUpdate") == "NetworkSecurityGroup"
    assert SWAGGER.body_definition("SecurityRules_CreateOrUpdate") == "SecurityRule"
    assert sorted(SWAGGER.required(RULE_PROPS)) == ["access", "direction", "priority", "protocol"]


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("field", SWAGGER.required(RULE_PROPS))
def test_rule_missing_a_required_property_is_refused(
    arm_http: ArmHttp, azure_emulator: AzureEmulator, operation: str, field: str
) -> None:
    props = {k: v for k, v in RULE.items() if k != field}

    error = assert_arm_error(put_rule(arm_http, azure_emulator, operation, props))

    assert error["code"] == "SecurityRuleParameterMissing"
    assert f"{field[0].upper()}{field[1:]}" in error["message"]
    assert (
        azure_emulator.nsgs() == [] or azure_emulator.nsgs()[0]["properties"]["securityRules"] == []
    )


@pytest.mark.parametrize("operation", OPERATIONS)
def test_rule_with_every_required_property_is_accepted(
    arm_http: ArmHttp, azure_emulator: AzureEmulator, operation: str
) -> None:
    response = put_rule(arm_http, azure_emulator, operation, RULE)

    assert response.status_code in (200, 201), response.text


def _breaking_values(definition: str) -> Iterator[tuple[str, Any]]:
    """(property, a value the swagger refuses) for every typed or enumerated property."""
    for name in sorted(SWAGGER.properties(definition)):
        prop = SWAGGER.property(definition, name)
        if prop.get("readOnly") or ("$ref" in prop and not prop["$ref"].startswith("#")):
            continue
        kind = prop.get("type")
        if kind == "string":
            yield name, 7
            if "enum" in prop:
                yield name, "NotAnEnumValue"
        elif kind == "integer":
            yield name, "seven"
            yield name, 2**31
        elif kind == "boolean":
            yield name, "yes"
        elif kind == "array":
            yield name, "not-an-array"
            if prop["items"].get("type") == "string":
                yield name, [7]


RULE_BREAKS = list(_breaking_values(RULE_PROPS))


def test_breaking_values_reach_every_checked_rule_property() -> None:
    touched = {name for name, _ in RULE_BREAKS}
    assert {"protocol", "access", "direction", "priority", "description"} <= touched
    assert ("protocol", "NotAnEnumValue") in RULE_BREAKS


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize(("field", "value"), RULE_BREAKS, ids=lambda v: json.dumps(v))
def test_rule_property_breaking_the_swagger_is_refused(
    arm_http: ArmHttp, azure_emulator: AzureEmulator, operation: str, field: str, value: Any
) -> None:
    error = assert_arm_error(put_rule(arm_http, azure_emulator, operation, {**RULE, field: value}))

    assert error["code"] == "InvalidRequestFormat"
    assert field in json.dumps(error["details"])


@pytest.mark.parametrize(
    ("field", "value"), list(_breaking_values("NetworkSecurityGroupPropertiesFormat"))
)
def test_nsg_property_breaking_the_swagger_is_refused(
    arm_http: ArmHttp, field: str, value: Any
) -> None:
    body = {"location": "westeurope", "properties": {field: value}}

    error = assert_arm_error(arm_http.put(NSG_PATH, body))

    assert field in json.dumps(error)


def test_read_only_properties_are_ignored_on_put(
    arm_http: ArmHttp, azure_emulator: AzureEmulator
) -> None:
    rule = {
        "name": "r1",
        "etag": 5,  # read-only on SecurityRule
        "properties": {**RULE, "provisioningState": ["not", "a", "state"]},
    }
    body = {
        "location": "westeurope",
        "etag": {"read": "only"},
        "properties": {
            "securityRules": [rule],
            "defaultSecurityRules": "ignored",
            "resourceGuid": 12,
            "subnets": 3,
        },
    }

    response = arm_http.put(NSG_PATH, body)

    assert response.status_code == 201, response.text
    stored = response.json()
    assert stored["etag"] != {"read": "only"}
    assert len(stored["properties"]["defaultSecurityRules"]) == 6
    assert stored["properties"]["securityRules"][0]["properties"]["provisioningState"] == (
        "Succeeded"
    )


@pytest.mark.parametrize(("field", "value"), list(_breaking_values("SecurityRule")))
def test_rule_envelope_breaking_the_swagger_is_refused(
    arm_http: ArmHttp, field: str, value: Any
) -> None:
    rule = {"name": "r1", "properties": RULE, field: value}
    body = {"location": "westeurope", "properties": {"securityRules": [rule]}}

    error = assert_arm_error(arm_http.put(NSG_PATH, body))

    assert field in json.dumps(error)
