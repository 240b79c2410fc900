"""Request validation: names, tags, page tokens, and security rules against the vendored swagger
and the documented Azure rules."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from portsync.providers.azure import swagger

from .errors import ArmError, _bad_format
from .routes import (
    _RULE_PROPERTIES,
    JSON,
    MAX_DESCRIPTION_LENGTH,
    MAX_PRIORITY,
    MAX_RULES_PER_NSG,
    MIN_PRIORITY,
    SWAGGER,
)

_PROTOCOLS = {p.lower(): p for p in SWAGGER.enum(_RULE_PROPERTIES, "protocol")}
_ACCESS = {a.lower(): a for a in SWAGGER.enum(_RULE_PROPERTIES, "access")}
_DIRECTIONS = {d.lower(): d for d in SWAGGER.enum(_RULE_PROPERTIES, "direction")}

# Service tags the emulator accepts in a singular address prefix.  Real Azure knows many more
# (and regional forms such as "Storage.WestEurope"); see the docs' known-gaps list.
_SERVICE_TAGS = frozenset(
    t.lower()
    for t in (
        "VirtualNetwork",
        "AzureLoadBalancer",
        "Internet",
        "AzureCloud",
        "Storage",
        "Sql",
        "SqlManagement",
        "AzureActiveDirectory",
        "AzureMonitor",
        "AzureKeyVault",
        "AzureContainerRegistry",
        "AzureTrafficManager",
        "AzureBackup",
        "AzureCosmosDB",
        "AzureFrontDoor.Backend",
        "AzureFrontDoor.Frontend",
        "AzureFrontDoor.FirstParty",
        "ApiManagement",
        "AppService",
        "AppServiceManagement",
        "EventHub",
        "ServiceBus",
        "GatewayManager",
        "GuestAndHybridManagement",
        "MicrosoftContainerRegistry",
        "AzureKubernetesService",
    )
)
# Tag families that may carry a region suffix ("Storage.WestEurope", "AzureCloud.eastus").
_REGIONAL_TAG_FAMILIES = frozenset(
    t.lower()
    for t in (
        "AzureCloud",
        "Storage",
        "Sql",
        "EventHub",
        "ServiceBus",
        "AzureKeyVault",
        "AzureContainerRegistry",
        "AzureCosmosDB",
        "AppService",
        "ApiManagement",
        "AzureMonitor",
        "MicrosoftContainerRegistry",
    )
)

# ARM name rule for Microsoft.Network resources and security rules: 1-80 chars, starts with a
# word character, ends with a word character or '_', may contain '.', '-', '_'.
_NAME_RE = re.compile(r"^\w(?:[\w.-]{0,78}\w)?$")
_PORT_RE = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")
_API_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:-preview)?$")


def _check_name(name: str) -> None:
    if not _NAME_RE.match(name):
        raise ArmError(
            400,
            "InvalidResourceName",
            f"Resource name {name} is invalid. The name can be up to 80 characters long. It "
            "must begin with a word character, and it must end with a word character or with "
            "'_'. The name may contain word characters or '.', '-', '_'.",
        )


def _parse_json(body: bytes) -> JSON:
    if not body.strip():
        raise ArmError(400, "InvalidRequestContent", "The request content was empty.")
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArmError(
            400,
            "InvalidRequestContent",
            f"The request content was invalid and could not be deserialized: '{exc}'.",
        ) from exc
    if not isinstance(value, dict):
        raise _bad_format("", "The request body must be a JSON object.")
    return value


def _parse_tags(value: Any, path: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _bad_format(path, "Tags must be an object of string values.")
    return dict(value)


def _is_ip_prefix(value: str) -> bool:
    try:
        if "/" in value:
            ipaddress.ip_network(value, strict=True)
        else:
            ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_service_tag(value: str) -> bool:
    low = value.lower()
    if low in _SERVICE_TAGS:
        return True
    family, dot, region = low.partition(".")
    return bool(dot) and family in _REGIONAL_TAG_FAMILIES and region.isalnum()


def _valid_port_range(value: str) -> bool:
    if value == "*":
        return True
    match = _PORT_RE.match(value)
    if not match:
        return False
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) is not None else low
    return 0 <= low <= high <= 65535


def _encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _decode_token(token: str) -> str:
    padded = token + "=" * (-len(token) % 4)
    try:
        return base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ArmError(400, "InvalidSkipToken", f"The skip token '{token}' is invalid.") from exc


def _swagger_error(violation: swagger.SwaggerViolation, rule_id: str | None = None) -> ArmError:
    """A swagger breach in the error shape Microsoft.Network answers it with."""
    where = ".".join(p for p in (violation.path, violation.field) if p)
    if violation.kind == "required" and rule_id is not None:
        key = violation.field
        return ArmError(
            400,
            "SecurityRuleParameterMissing",
            f"Required security rule parameter {key[0].upper()}{key[1:]} is missing for "
            f"security rule with Id: {rule_id}.",
        )
    if violation.kind == "required":
        return ArmError(
            400,
            "MissingRequiredProperty",
            f"Required property '{violation.field}' is missing from '{violation.path}'.",
        )
    if violation.kind == "enum":
        return _bad_format(
            violation.path,
            f"Error converting value {json.dumps(violation.value)} to type "
            f"'{violation.field}'; allowed values are {violation.expected}.",
        )
    return _bad_format(
        violation.path or where,
        f"Error converting value {json.dumps(violation.value)} to type '{violation.expected}'.",
    )


def _checked(
    definition: str,
    value: Any,
    path: str,
    *,
    rule_id: str | None = None,
    stop_at: tuple[str, ...] = (),
) -> Any:
    """``value`` checked against the swagger, without its read-only properties.

    Raises:
        ArmError: 400, in Microsoft.Network's shape.
    """
    try:
        return SWAGGER.check(definition, value, path, stop_at=stop_at)
    except swagger.SwaggerViolation as violation:
        raise _swagger_error(violation, rule_id) from None


def _rule_enum(props: JSON, key: str, allowed: Mapping[str, str]) -> str:
    """The canonical spelling of an enum value the swagger check has let through."""
    return allowed[str(props[key]).lower()]


def _string_list(props: JSON, key: str) -> list[str]:
    value = props.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad_format(f"properties.{key}", "Expected an array of strings.")
    return list(value)


def _opt_string(props: JSON, key: str) -> str | None:
    value = props.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _bad_format(f"properties.{key}", "Expected a string.")
    return value


def _check_ports(props: JSON, side: str, rule_id: str) -> JSON:
    single = _opt_string(props, f"{side}PortRange")
    plural = _string_list(props, f"{side}PortRanges")
    cap = side[0].upper() + side[1:]
    if single is None and not plural:
        raise ArmError(
            400,
            "SecurityRuleParametersMissing",
            f"Required security rule parameters are missing for security rule with Id: "
            f"{rule_id}. Security rule must specify {cap}PortRanges or {cap}PortRange.",
        )
    if single is not None and plural:
        raise ArmError(
            400,
            "SecurityRuleParameterContainsUnsupportedValue",
            f"Security rule {rule_id} specifies both {cap}PortRange and {cap}PortRanges; "
            "only one of them may be used.",
        )
    for value in [single] if single is not None else plural:
        if not _valid_port_range(value):
            raise ArmError(
                400,
                "SecurityRuleInvalidPortRange",
                f"Security rule has invalid Port range. Value provided: {value}. Value should "
                "be an integer OR integer range with '-' delimiter. Valid range 0-65535.",
            )
    out: JSON = {f"{side}PortRanges": plural}
    if single is not None:
        out[f"{side}PortRange"] = single
    return out


def _check_addresses(
    props: JSON,
    side: str,
    rule_id: str,
    asg_exists: Callable[[str], bool],
) -> JSON:
    single = _opt_string(props, f"{side}AddressPrefix")
    plural = _string_list(props, f"{side}AddressPrefixes")
    asgs_raw = props.get(f"{side}ApplicationSecurityGroups")
    cap = side[0].upper() + side[1:]
    asgs: list[JSON] = []
    if asgs_raw is not None:
        if not isinstance(asgs_raw, list):
            raise _bad_format(f"properties.{side}ApplicationSecurityGroups", "Expected an array.")
        for item in asgs_raw:
            asg_id = item.get("id") if isinstance(item, dict) else None
            if not isinstance(asg_id, str) or not asg_id:
                raise _bad_format(
                    f"properties.{side}ApplicationSecurityGroups",
                    "Each application security group needs an id.",
                )
            if not asg_exists(asg_id):
                raise ArmError(
                    400,
                    "InvalidResourceReference",
                    f"Resource {asg_id} referenced by resource {rule_id} was not found. Please "
                    "make sure that the referenced resource exists, and that both resources are "
                    "in the same region.",
                )
            asgs.append({"id": asg_id})
    given = sum((single is not None, bool(plural), bool(asgs)))
    if given == 0:
        raise ArmError(
            400,
            "SecurityRuleParametersMissing",
            f"Required security rule parameters are missing for security rule with Id: "
            f"{rule_id}. Security rule must specify {cap}AddressPrefixes, {cap}AddressPrefix, "
            f"or {cap}ApplicationSecurityGroups.",
        )
    if given > 1:
        raise ArmError(
            400,
            "SecurityRuleParameterContainsUnsupportedValue",
            f"Security rule {rule_id} specifies more than one of {cap}AddressPrefix, "
            f"{cap}AddressPrefixes and {cap}ApplicationSecurityGroups; only one may be used.",
        )
    if (
        single is not None
        and single != "*"
        and not _is_ip_prefix(single)
        and not _is_service_tag(single)
    ):
        raise ArmError(
            400,
            "SecurityRuleInvalidAddressPrefix",
            f"Security rule {rule_id} has invalid Address prefix. Value provided: {single}",
        )
    for value in plural:
        if _is_ip_prefix(value):
            continue
        if value == "*" or _is_service_tag(value):
            raise ArmError(
                400,
                "SecurityRuleParameterContainsUnsupportedValue",
                f"Security rule parameter {cap}AddressPrefixes for rule with Id {rule_id} cannot "
                "specify existing VIRTUALNETWORK, INTERNET, AZURELOADBALANCER, '*' or system "
                f"tags. Unsupported value used: {value}.",
            )
        raise ArmError(
            400,
            "SecurityRuleInvalidAddressPrefix",
            f"Security rule {rule_id} has invalid Address prefix. Value provided: {value}",
        )
    out: JSON = {f"{side}AddressPrefixes": plural}
    if single is not None:
        out[f"{side}AddressPrefix"] = single
    if asgs:
        out[f"{side}ApplicationSecurityGroups"] = asgs
    return out


def _validate_rule(
    raw: Any, name: str, rule_id: str, asg_exists: Callable[[str], bool], path: str
) -> JSON:
    """Check one security rule body and return its normalised stored form."""
    _check_name(name)
    if not isinstance(raw, dict):
        raise _bad_format(path, "A security rule must be a JSON object.")
    raw = _checked("SecurityRule", raw, path, rule_id=rule_id, stop_at=(_RULE_PROPERTIES,))
    props = raw.get("properties")
    if props is None:
        props = {}
    props_path = f"{path}.properties" if path else "properties"
    props = _checked(_RULE_PROPERTIES, props, props_path, rule_id=rule_id)
    protocol = _rule_enum(props, "protocol", _PROTOCOLS)
    access = _rule_enum(props, "access", _ACCESS)
    direction = _rule_enum(props, "direction", _DIRECTIONS)
    priority = props["priority"]
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise ArmError(
            400,
            "SecurityRuleInvalidPriority",
            f"Security rule has invalid Priority. Value provided: {priority} Allowed range "
            f"{MIN_PRIORITY}-{MAX_PRIORITY}.",
        )
    description = _opt_string(props, "description")
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        raise ArmError(
            400,
            "SecurityRuleDescriptionTooLong",
            f"Security rule {rule_id} has a description of {len(description)} characters; the "
            f"limit is {MAX_DESCRIPTION_LENGTH}.",
        )
    stored: JSON = {"protocol": protocol}
    if description is not None:
        stored["description"] = description
    stored.update(_check_ports(props, "source", rule_id))
    stored.update(_check_ports(props, "destination", rule_id))
    stored.update(_check_addresses(props, "source", rule_id, asg_exists))
    stored.update(_check_addresses(props, "destination", rule_id, asg_exists))
    stored.update({"access": access, "priority": priority, "direction": direction})
    return {"name": name, "properties": stored}


def _too_many_rules() -> ArmError:
    return ArmError(
        400,
        "SecurityRuleCountLimitReached",
        f"A security group cannot have more than {MAX_RULES_PER_NSG} security rules.",
    )


def _check_rule_set(rules: Sequence[JSON]) -> None:
    """Checks across the rules of one NSG: count, unique names, unique (priority, direction)."""
    if len(rules) > MAX_RULES_PER_NSG:
        raise _too_many_rules()
    seen: dict[tuple[int, str], str] = {}
    names: set[str] = set()
    for rule in rules:
        lowered = rule["name"].lower()
        if lowered in names:
            raise ArmError(
                400,
                "DuplicateResourceName",
                f"Security rule name {rule['name']} is used by more than one rule in the "
                "security group.",
            )
        names.add(lowered)
        props = rule["properties"]
        slot = (props["priority"], props["direction"])
        if slot in seen:
            raise ArmError(
                400,
                "SecurityRuleConflict",
                f"Security rule {rule['name']} conflicts with rule {seen[slot]}. Rules cannot "
                "have the same Priority and Direction. To learn more, see aka.ms/nsgrules.",
            )
        seen[slot] = rule["name"]


def _flat_rule(rule: Mapping[str, Any]) -> JSON:
    """Accept a rule as ``{"name", "properties": {...}}`` or flat ``{"name", "priority", ...}``."""
    if "properties" in rule:
        return dict(rule)
    props = {k: v for k, v in rule.items() if k != "name"}
    return {"name": rule.get("name"), "properties": props}
