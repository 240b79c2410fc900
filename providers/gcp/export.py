"""Terraform for the firewalls portsync owns (pure: no SDK, no I/O).

One ``google_compute_firewall`` per owned firewall, imported as
``projects/{project}/global/firewalls/{name}``. A firewall's live rules (one per allowed entry,
port, peer and target) are put back together: its targets (``target_tags`` or
``target_service_accounts``), its peers (``source_ranges``, ``source_tags``,
``source_service_accounts``, or ``destination_ranges`` for egress), one ``allow`` block per
protocol with its ports, its priority, and its description as portsync writes it (the packed
``[portsync] <port> <purpose>; …`` form, so the import changes nothing).
"""

from __future__ import annotations

from collections.abc import Sequence

from portsync.config import ClusterConfig
from portsync.errors import UnsupportedFeatureError
from portsync.export.hcl import Attribute, Block
from portsync.export.model import OwnedTarget, TerraformResource
from portsync.model import Direction, Endpoint, EndpointKind, PortRange, TargetRule

from .limits import DEFAULT_PRIORITY
from .peers import SERVICE_ACCOUNT, TAG
from .provider import GcpClusterConfig
from .translate import PRIORITY, api_protocol, network_url, pack

__all__ = ["terraform"]


def _unique(values: list[str]) -> list[str]:
    return sorted(dict.fromkeys(values))


def _priority(rules: Sequence[TargetRule]) -> int:
    for rule in rules:
        value = dict(rule.extra).get(PRIORITY, "")
        if value.isdigit():
            return int(value)
    return DEFAULT_PRIORITY


def _description(rules: Sequence[TargetRule], network: str) -> str:
    """The description portsync writes for these rules: its packing gives one firewall for
    rules of one target, protocol and peer; anything else keeps the first rule's text."""
    try:
        bodies = pack(rules, prefix="portsync", network=network)
    except UnsupportedFeatureError:
        bodies = {}
    if len(bodies) == 1:
        return str(next(iter(bodies.values())).get("description") or "")
    return rules[0].description


def _allow_blocks(rules: Sequence[TargetRule]) -> list[Block]:
    ports: dict[str, list[str]] = {}
    for rule in rules:
        entry = ports.setdefault(api_protocol(rule.protocol), [])
        if rule.ports is not None:
            entry.append(str(rule.ports))
    blocks = []
    for protocol in sorted(ports):
        body: list[Attribute | Block] = [Attribute("protocol", protocol)]
        if ports[protocol]:
            # In port order, as portsync writes them (and the firewall lists them).
            texts = sorted(set(ports[protocol]), key=lambda t: PortRange.parse(t).from_port)
            body.append(Attribute("ports", texts))
        blocks.append(Block("allow", body=tuple(body)))
    return blocks


def _peers(rules: Sequence[TargetRule], name: str) -> list[Attribute]:
    direction = rules[0].direction
    by_kind: dict[EndpointKind, list[str]] = {}
    for rule in rules:
        by_kind.setdefault(rule.peer.kind, []).append(rule.peer.value)
    fields = (
        {EndpointKind.CIDR: "destination_ranges"}
        if direction is Direction.EGRESS
        else {
            EndpointKind.CIDR: "source_ranges",
            TAG: "source_tags",
            SERVICE_ACCOUNT: "source_service_accounts",
        }
    )
    out = []
    for kind in by_kind:
        if kind not in fields:
            raise UnsupportedFeatureError(f"firewall {name} has a peer of kind {kind.value}")
    for kind, field in fields.items():
        if kind in by_kind:
            out.append(Attribute(field, _unique(by_kind[kind])))
    return out


def _targets(rules: Sequence[TargetRule]) -> list[Attribute]:
    tags: list[str] = []
    accounts: list[str] = []
    for rule in rules:
        target = Endpoint.parse(rule.target)
        (tags if target.kind is TAG else accounts).append(target.value)
    out = []
    if tags:
        out.append(Attribute("target_tags", _unique(tags)))
    if accounts:
        out.append(Attribute("target_service_accounts", _unique(accounts)))
    return out


def resource(
    name: str, rules: Sequence[TargetRule], *, project: str, network: str
) -> TerraformResource:
    """The resource of the firewall ``name``, from its owned live rules."""
    url = network_url(project, network)
    body: list[Attribute | Block] = [
        Attribute("project", project),
        Attribute("name", name),
        Attribute("network", url),
        Attribute("direction", rules[0].direction.value.upper()),
        Attribute("priority", _priority(rules)),
    ]
    description = _description(rules, url)
    if description:
        body.append(Attribute("description", description))
    body += _peers(rules, name)
    body += _targets(rules)
    body += _allow_blocks(rules)
    return TerraformResource(
        type="google_compute_firewall",
        hint=name,
        import_id=f"projects/{project}/global/firewalls/{name}",
        body=tuple(body),
    )


def terraform(cluster: ClusterConfig, owned: Sequence[OwnedTarget]) -> list[TerraformResource]:
    """One resource per owned firewall, by firewall name."""
    config = GcpClusterConfig.model_validate(cluster.settings)
    by_name: dict[str, list[TargetRule]] = {}
    for target in owned:
        for rule in target.rules:
            if rule.native_id:
                by_name.setdefault(rule.native_id, []).append(rule)
    return [
        resource(
            name, sorted(rules, key=lambda r: r.key), project=config.project, network=config.network
        )
        for name, rules in sorted(by_name.items())
    ]
