"""Terraform for the NSG security rules portsync owns (pure: no SDK, no I/O).

One ``azurerm_network_security_rule`` per owned rule, imported by its full resource id
(``/subscriptions/…/resourceGroups/…/providers/Microsoft.Network/networkSecurityGroups/<nsg>/
securityRules/<name>``). Its attributes are those of the rule as portsync writes it (the same
rendering apply uses: protocol, ports, the peer side and the role side, access, direction) with
the priority the rule holds in the NSG now, so the import changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from portsync.config import ClusterConfig
from portsync.errors import UnsupportedFeatureError
from portsync.export.hcl import Attribute, Block
from portsync.export.model import OwnedTarget, TerraformResource
from portsync.model import TargetRule

from .provider import AzureClusterConfig
from .translate import LIVE_PRIORITY, SOURCE_PORTS, render

__all__ = ["terraform"]

#: ARM property → Terraform attribute, in the order the attributes are written.
_FIELDS = (
    ("priority", "priority"),
    ("direction", "direction"),
    ("access", "access"),
    ("protocol", "protocol"),
    ("sourcePortRange", "source_port_range"),
    ("sourcePortRanges", "source_port_ranges"),
    ("destinationPortRange", "destination_port_range"),
    ("sourceAddressPrefix", "source_address_prefix"),
    ("sourceAddressPrefixes", "source_address_prefixes"),
    ("sourceApplicationSecurityGroups", "source_application_security_group_ids"),
    ("destinationAddressPrefix", "destination_address_prefix"),
    ("destinationAddressPrefixes", "destination_address_prefixes"),
    ("destinationApplicationSecurityGroups", "destination_application_security_group_ids"),
    ("description", "description"),
)


def _value(key: str, value: Any) -> Any:
    if key.endswith("ApplicationSecurityGroups"):
        return [str(item["id"]) for item in value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return value


def _props(rule: TargetRule, name: str) -> Mapping[str, Any]:
    extra = dict(rule.extra)
    priority = extra.get(LIVE_PRIORITY, "")
    if not priority.isdigit():
        raise UnsupportedFeatureError(f"security rule {name} has no priority")
    props = dict(render(rule, name=name, priority=int(priority))["properties"])
    ports = [p for p in extra.get(SOURCE_PORTS, "").split(",") if p]
    if ports:
        del props["sourcePortRange"]
        props["sourcePortRanges"] = ports
    return props


def resource(
    rule: TargetRule, *, subscription: str, resource_group: str, nsg: str
) -> TerraformResource:
    """The resource of one owned live rule.

    Raises:
        UnsupportedFeatureError: the rule has no name or priority, or cannot be rendered.
    """
    name = rule.native_id
    if not name:
        raise UnsupportedFeatureError(f"a rule of NSG {nsg} has no name")
    props = _props(rule, name)
    body: list[Attribute | Block] = [
        Attribute("name", name),
        Attribute("resource_group_name", resource_group),
        Attribute("network_security_group_name", nsg),
    ]
    for key, attribute in _FIELDS:
        if key in props and props[key] != "":
            body.append(Attribute(attribute, _value(key, props[key])))
    rule_id = (
        f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
        f"Microsoft.Network/networkSecurityGroups/{nsg}/securityRules/{name}"
    )
    return TerraformResource(
        type="azurerm_network_security_rule", hint=name, import_id=rule_id, body=tuple(body)
    )


def terraform(cluster: ClusterConfig, owned: Sequence[OwnedTarget]) -> list[TerraformResource]:
    """One resource per owned rule, in target order then rule order (a rule of an NSG shared by
    several roles is written once)."""
    config = AzureClusterConfig.model_validate(cluster.settings)
    out: list[TerraformResource] = []
    seen: set[str] = set()
    for target in owned:
        binding = config.roles.get(target.target.role)
        if binding is None:
            continue
        for rule in target.rules:
            made = resource(
                rule,
                subscription=config.subscription_id,
                resource_group=config.resource_group,
                nsg=binding.written_nsg,
            )
            if made.import_id not in seen:
                seen.add(made.import_id)
                out.append(made)
    return out
