"""GCP compile's checks of a firewall body against the compute v1 limits (name, description,
source), at their boundaries, and the normal form two firewalls are compared in. The usual
paths are the golden cases (tests/providers/gcp/cases)."""

from __future__ import annotations

from typing import Any

import pytest

from portsync.errors import UnsupportedFeatureError
from portsync.model import Direction, Endpoint, PortRange, Protocol, TargetRule
from portsync.providers.gcp.limits import MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH
from portsync.providers.gcp.translate import canonical, check_firewall, pack


def _body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "portsync-abc",
        "description": "[portsync] ssh",
        "direction": "INGRESS",
        "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}],
        "sourceRanges": ["10.0.0.0/8"],
    }
    body.update(fields)
    return body


def test_a_name_of_63_characters_is_valid_and_64_is_not() -> None:
    assert check_firewall(_body(name="a" * MAX_NAME_LENGTH)) == []
    long = "a" * (MAX_NAME_LENGTH + 1)
    assert check_firewall(_body(name=long)) == [
        f"firewall name {long!r} is not a valid RFC 1035 name of 1-63 characters"
    ]


def test_a_name_rfc_1035_refuses_is_refused_whatever_its_length() -> None:
    assert check_firewall(_body(name="Portsync_1")) == [
        "firewall name 'Portsync_1' is not a valid RFC 1035 name of 1-63 characters"
    ]


def test_a_description_of_2048_characters_fits_and_2049_does_not() -> None:
    assert check_firewall(_body(description="d" * MAX_DESCRIPTION_LENGTH)) == []
    assert check_firewall(_body(description="d" * (MAX_DESCRIPTION_LENGTH + 1))) == [
        "firewall portsync-abc would need a description of 2049 characters, over GCP's 2048"
    ]


def test_source_service_accounts_alone_are_a_source() -> None:
    body = _body(sourceRanges=[], sourceServiceAccounts=["cp@golden.iam.gserviceaccount.com"])
    assert check_firewall(body) == []
    assert check_firewall(_body(sourceRanges=[])) == [
        "firewall portsync-abc would have no source (GCP would read it as 0.0.0.0/0)"
    ]


def test_ports_compare_in_numeric_order_with_text_it_cannot_read_last() -> None:
    firewall = _body(allowed=[{"IPProtocol": "TCP", "ports": ["8080", "junk", "443", "1000-2000"]}])
    assert canonical(firewall)["allowed"] == (("tcp", ("443", "1000-2000", "8080", "junk")),)


def test_an_ipv4_source_beside_an_ipv6_destination_is_a_mix() -> None:
    """Both range fields count: compute v1 refuses a firewall whose sources and destinations
    are of two IP versions."""
    body = _body(destinationRanges=["fd00::/8"])
    assert check_firewall(body) == ["firewall portsync-abc would mix IPv4 and IPv6 ranges"]
    assert check_firewall(_body(destinationRanges=["10.1.0.0/16"])) == []


def _rule(port: int, peer: str = "cidr:10.0.0.0/8", **fields: Any) -> TargetRule:
    return TargetRule(
        target=str(fields.pop("target", "tag:k8s-node")),
        role="worker",
        direction=fields.pop("direction", Direction.INGRESS),
        protocol=Protocol.TCP,
        ports=PortRange(port, port),
        peer=Endpoint.parse(peer),
        description=f"[portsync] port {port}",
        owned=True,
        **fields,
    )


def test_pack_collapses_a_repeated_rule_and_packs_every_rule_after_it() -> None:
    """Two live firewalls can hold the same rule: it is packed once, and the rules after the
    repeat are packed too."""
    rules = [_rule(22), _rule(22), _rule(80), _rule(443, "cidr:192.168.0.0/16")]
    bodies = pack(rules, prefix="portsync-2bfa78", network="default")
    ports = sorted(tuple(body["allowed"][0]["ports"]) for body in bodies.values())
    assert ports == [("22", "80"), ("443",)]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            _rule(22, "tag:k8s-cp", direction=Direction.EGRESS),
            "GCP egress firewalls cannot name tag:k8s-cp",
        ),
        (_rule(22, "sg:sg-0a"), "GCP firewalls cannot name peer sg:sg-0a"),
        (_rule(22, target="sg:sg-0a"), "GCP firewalls cannot target sg:sg-0a"),
    ],
)
def test_pack_refuses_what_a_firewall_cannot_express_naming_it(
    rule: TargetRule, message: str
) -> None:
    with pytest.raises(UnsupportedFeatureError) as caught:
        pack([rule], prefix="portsync-2bfa78", network="default")
    assert caught.value.message.startswith(f"{message} (portsync-2bfa78-")
