"""Terraform for the security group rules portsync owns (pure: no SDK, no I/O).

One ``aws_vpc_security_group_ingress_rule`` or ``aws_vpc_security_group_egress_rule`` per live
rule, imported by its ``sgr-…`` id, with the attributes the rule has in EC2: its group, protocol
(``-1`` for every protocol, the number for protocols EC2 does not name), ports or ICMP type and
code (``-1`` for all), the one peer (``cidr_ipv4``, ``cidr_ipv6``, ``prefix_list_id`` or
``referenced_security_group_id``), description and tags — the owner tag included, so the import
changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from portsync.config import ClusterConfig
from portsync.errors import UnsupportedFeatureError
from portsync.export.hcl import Attribute, Block
from portsync.export.model import OwnedTarget, TerraformResource
from portsync.model import Direction, EndpointKind, Protocol, TargetRule

from .peers import GROUP, PREFIX_LIST

__all__ = ["terraform"]

_NAMED = frozenset({Protocol.TCP, Protocol.UDP, Protocol.ICMP, Protocol.ICMPV6})


def _protocol(protocol: Protocol) -> str:
    if protocol is Protocol.ALL:
        return "-1"
    return protocol.value if protocol in _NAMED else str(protocol.number)


def _ports(rule: TargetRule) -> list[Attribute]:
    if rule.protocol not in _NAMED:
        return []  # EC2 and Terraform take no ports for these protocols
    if rule.protocol.is_icmp:
        low = -1 if rule.icmp_type is None else rule.icmp_type
        high = -1 if rule.icmp_code is None else rule.icmp_code
    elif rule.ports is not None:
        low, high = rule.ports.from_port, rule.ports.to_port
    else:
        low, high = 0, 65535
    return [Attribute("from_port", low), Attribute("to_port", high)]


def _peer(rule: TargetRule) -> Attribute:
    peer = rule.peer
    if peer.kind is EndpointKind.CIDR:
        return Attribute("cidr_ipv4" if peer.ip_version == 4 else "cidr_ipv6", peer.value)
    if peer.kind is PREFIX_LIST:
        return Attribute("prefix_list_id", peer.value)
    if peer.kind is GROUP:
        return Attribute("referenced_security_group_id", peer.value)
    raise UnsupportedFeatureError(f"security group rule {rule.native_id} has peer {peer}")


def resource(rule: TargetRule) -> TerraformResource:
    """The resource of one live rule.

    Raises:
        UnsupportedFeatureError: the rule has no id or a peer EC2 does not have.
    """
    if not rule.native_id:
        raise UnsupportedFeatureError(f"a rule of {rule.target} has no security group rule id")
    kind = "ingress" if rule.direction is Direction.INGRESS else "egress"
    body: list[Attribute | Block] = [
        Attribute("security_group_id", rule.target),
        Attribute("ip_protocol", _protocol(rule.protocol)),
        *_ports(rule),
        _peer(rule),
    ]
    if rule.description:
        body.append(Attribute("description", rule.description))
    if rule.tags:
        body.append(Attribute("tags", dict(rule.tags)))
    hint = f"{rule.role or rule.target}_{kind}_{rule.protocol.value}_{rule.ports_text}"
    return TerraformResource(
        type=f"aws_vpc_security_group_{kind}_rule",
        hint=hint,
        import_id=rule.native_id,
        body=tuple(body),
    )


def terraform(cluster: ClusterConfig, owned: Sequence[OwnedTarget]) -> list[TerraformResource]:
    """One resource per owned live rule, in target order then rule order."""
    return [resource(rule) for target in owned for rule in target.rules]
