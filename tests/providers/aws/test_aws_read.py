"""The AWS read without a cloud: what ``live_rules`` makes of one DescribeSecurityGroups item and
the DescribeSecurityGroupRules items of its rules — each rule, its id, and whose it is.

Ownership decides what a plan may remove, so every case compares whole rules (every field),
not one attribute. The answers are shaped as botocore returns them; the emulator tests read the
same shapes from moto."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from portsync.model import Direction, Endpoint, PortRange, Protocol, TargetRule
from portsync.providers.aws.peers import GROUP as GROUP_KIND
from portsync.providers.aws.peers import PREFIX_LIST as PREFIX_KIND
from portsync.providers.aws.translate import (
    group_endpoint,
    is_default_egress,
    is_owned,
    live_rules,
    rules_from_group,
)

GID = "sg-0a"
PEER_GROUP = "sg-0b"
ACCOUNT = "111122223333"
ROLES = {GID: "worker", PEER_GROUP: "lb"}
OWNER = "owner-prod"
CLUSTER = "prod"
TEN = Endpoint.cidr("10.0.0.0/8")


def owner_tags(owner: str = OWNER, cluster: str = CLUSTER) -> list[dict[str, str]]:
    """The tags portsync writes on a rule, as EC2 lists them (unsorted)."""
    return [
        {"Key": "portsync:owner", "Value": owner},
        {"Key": "portsync:managed", "Value": "true"},
        {"Key": "portsync:cluster", "Value": cluster},
    ]


def item(rule_id: str = "sgr-1", **fields: Any) -> dict[str, Any]:
    """One DescribeSecurityGroupRules item of GID: ingress tcp/443 from 10/8, owned by OWNER."""
    base: dict[str, Any] = {
        "SecurityGroupRuleId": rule_id,
        "GroupId": GID,
        "GroupOwnerId": ACCOUNT,
        "IsEgress": False,
        "IpProtocol": "tcp",
        "FromPort": 443,
        "ToPort": 443,
        "CidrIpv4": "10.0.0.0/8",
        "Description": "portsync: web",
        "Tags": owner_tags(),
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not _GONE}


_GONE = object()


def group(ingress: list[Any] | None = None, egress: list[Any] | None = None, **fields: Any) -> Any:
    """One DescribeSecurityGroups item of GID."""
    return {
        "GroupId": GID,
        "OwnerId": ACCOUNT,
        "IpPermissions": ingress or [],
        "IpPermissionsEgress": egress or [],
        **fields,
    }


def read(
    items: list[dict[str, Any]],
    the_group: Any = None,
    *,
    adopt_legacy: bool = False,
) -> list[TargetRule]:
    return live_rules(
        group() if the_group is None else the_group,
        items,
        ROLES,
        owner=OWNER,
        cluster=CLUSTER,
        adopt_legacy=adopt_legacy,
    )


def rule(**fields: Any) -> TargetRule:
    """The rule ``item()`` reads as, with ``fields`` changed."""
    values: dict[str, Any] = {
        "target": GID,
        "role": "worker",
        "direction": Direction.INGRESS,
        "protocol": Protocol.TCP,
        "ports": PortRange(443, 443),
        "peer": TEN,
        "description": "portsync: web",
        "owned": True,
        "owner": OWNER,
        "native_id": "sgr-1",
        "tags": (
            ("portsync:cluster", CLUSTER),
            ("portsync:managed", "true"),
            ("portsync:owner", OWNER),
        ),
    }
    values.update(fields)
    return TargetRule(**values)


def _same(got: list[TargetRule], want: list[TargetRule]) -> None:
    # Dataclass equality compares every field but the key; the key is compared too.
    assert got == want
    assert [r.key for r in got] == [r.key for r in want]


# -- whose a rule is -------------------------------------------------------------------------


def test_a_rule_tagged_with_this_owner_is_owned_with_its_id_and_sorted_tags() -> None:
    _same(read([item()]), [rule()])


def test_a_rule_tagged_with_another_owner_is_that_owner_s() -> None:
    _same(
        read([item(Tags=owner_tags(owner="owner-staging"))]),
        [
            rule(
                owned=False,
                owner="owner-staging",
                tags=(
                    ("portsync:cluster", CLUSTER),
                    ("portsync:managed", "true"),
                    ("portsync:owner", "owner-staging"),
                ),
            )
        ],
    )


def test_the_owner_tag_decides_not_the_cluster_tag() -> None:
    """A rule whose owner tag is this owner's is owned whatever its cluster tag says."""
    tags = owner_tags(cluster="staging")
    got = read([item(Tags=tags)])
    assert got[0].owned is True and got[0].owner == OWNER and got[0].legacy is False


def test_a_described_rule_without_owner_tag_is_legacy_and_unmanaged() -> None:
    _same(read([item(Tags=[])]), [rule(owned=False, owner=None, legacy=True, tags=())])


def test_a_legacy_rule_is_owned_once_adopted() -> None:
    _same(
        read([item(Tags=[])], adopt_legacy=True),
        [rule(owned=True, owner=None, legacy=True, tags=())],
    )


def test_a_legacy_rule_of_this_cluster_is_adopted() -> None:
    tags = [{"Key": "portsync:cluster", "Value": CLUSTER}]
    _same(
        read([item(Tags=tags)], adopt_legacy=True),
        [rule(owned=True, owner=None, legacy=True, tags=(("portsync:cluster", CLUSTER),))],
    )


def test_a_legacy_rule_another_cluster_wrote_is_that_cluster_s_even_when_adopting() -> None:
    tags = [{"Key": "portsync:cluster", "Value": "staging"}]
    _same(
        read([item(Tags=tags)], adopt_legacy=True),
        [rule(owned=False, owner="staging", legacy=False, tags=(("portsync:cluster", "staging"),))],
    )


def test_a_rule_without_tag_or_marker_is_nobody_s() -> None:
    for description in ("ssh from the office", "", "x portsync: web"):
        got = read([item(Tags=[], Description=description)], adopt_legacy=True)
        _same(got, [rule(owned=False, owner=None, tags=(), description=description)])


def test_a_tagged_rule_without_marker_is_still_owned() -> None:
    """Ownership is the tag, not the text a person can type into a description."""
    _same(read([item(Description="edited by hand")]), [rule(description="edited by hand")])


def test_tags_that_are_not_objects_are_ignored() -> None:
    tags: list[Any] = ["portsync:owner", None, *owner_tags()]
    _same(read([item(Tags=tags)]), [rule()])


def test_tags_are_read_from_any_mapping() -> None:
    tags = [MappingProxyType(tag) for tag in owner_tags()]
    _same(read([item(Tags=tags)]), [rule()])


def test_without_adopt_legacy_a_legacy_rule_stays_unmanaged() -> None:
    got = live_rules(group(), [item(Tags=[])], ROLES, owner=OWNER, cluster=CLUSTER)
    _same(got, [rule(owned=False, owner=None, legacy=True, tags=())])


def test_is_owned_is_the_marker_at_the_start() -> None:
    assert is_owned("portsync: web")
    assert is_owned("portsync:web")
    assert not is_owned("web portsync: x")
    assert not is_owned("")
    assert not is_owned(None)


# -- which rules a group has -------------------------------------------------------------------


def test_items_of_other_groups_are_not_this_group_s() -> None:
    _same(read([item(GroupId="sg-other"), item("sgr-2")]), [rule(native_id="sgr-2")])


def test_items_without_an_ip_protocol_or_a_peer_are_left_out() -> None:
    _same(
        read(
            [
                item("sgr-x", IpProtocol="bogus"),
                item("sgr-y", CidrIpv4=_GONE),
                item("sgr-2"),
            ]
        ),
        [rule(native_id="sgr-2")],
    )


def test_every_peer_kind_of_a_rule_item() -> None:
    got = read(
        [
            item("sgr-6", CidrIpv4=_GONE, CidrIpv6="2001:db8::/32"),
            item("sgr-p", CidrIpv4=_GONE, PrefixListId="pl-1"),
            item("sgr-s", CidrIpv4=_GONE, ReferencedGroupInfo={"GroupId": GID, "UserId": ACCOUNT}),
            item("sgr-r", CidrIpv4=_GONE, ReferencedGroupInfo={"GroupId": PEER_GROUP}),
            item("sgr-u", CidrIpv4=_GONE, ReferencedGroupInfo={"GroupId": "sg-0c"}),
            item(
                "sgr-a",
                CidrIpv4=_GONE,
                ReferencedGroupInfo={"GroupId": "sg-0d", "UserId": "999988887777"},
            ),
        ]
    )
    _same(
        got,
        [
            rule(native_id="sgr-6", peer=Endpoint.cidr("2001:db8::/32")),
            rule(native_id="sgr-p", peer=Endpoint(PREFIX_KIND, "pl-1")),
            rule(native_id="sgr-s", peer=Endpoint(GROUP_KIND, GID), origin="self"),
            rule(native_id="sgr-r", peer=Endpoint(GROUP_KIND, PEER_GROUP), origin="role:lb"),
            rule(native_id="sgr-u", peer=Endpoint(GROUP_KIND, "sg-0c")),
            rule(native_id="sgr-a", peer=Endpoint(GROUP_KIND, "999988887777/sg-0d")),
        ],
    )


def test_a_reference_s_account_is_compared_with_the_item_s_when_the_group_has_none() -> None:
    the_group = group()
    del the_group["OwnerId"]
    got = read(
        [
            item(
                "sgr-1", CidrIpv4=_GONE, ReferencedGroupInfo={"GroupId": "sg-0d", "UserId": ACCOUNT}
            ),
            item(
                "sgr-2",
                CidrIpv4=_GONE,
                ReferencedGroupInfo={"GroupId": "sg-0d", "UserId": "999988887777"},
            ),
        ],
        the_group,
    )
    assert [r.peer.value for r in got] == ["sg-0d", "999988887777/sg-0d"]


def test_a_reference_to_another_account_is_named_when_the_item_has_no_group_owner() -> None:
    """The group's own OwnerId is the account compared with, whatever the item leaves out."""
    got = read(
        [
            item(
                "sgr-a",
                CidrIpv4=_GONE,
                GroupOwnerId=_GONE,
                ReferencedGroupInfo={"GroupId": "sg-0d", "UserId": "999988887777"},
            )
        ]
    )
    assert [r.peer.value for r in got] == ["999988887777/sg-0d"]


def test_group_endpoint_names_the_account_only_when_it_differs() -> None:
    assert group_endpoint("sg-1") == Endpoint(GROUP_KIND, "sg-1")
    assert group_endpoint("sg-1", ACCOUNT, ACCOUNT) == Endpoint(GROUP_KIND, "sg-1")
    assert group_endpoint("sg-1", ACCOUNT, None) == Endpoint(GROUP_KIND, "sg-1")
    assert group_endpoint("sg-1", None, ACCOUNT) == Endpoint(GROUP_KIND, "sg-1")
    assert group_endpoint("sg-1", "9", ACCOUNT) == Endpoint(GROUP_KIND, "9/sg-1")


@pytest.mark.parametrize(
    ("fields", "want"),
    [
        ({"IpProtocol": "-1", "FromPort": -1, "ToPort": -1}, {"protocol": Protocol.ALL}),
        ({"IpProtocol": " UDP ", "FromPort": 53, "ToPort": 54}, {"protocol": Protocol.UDP}),
        ({"IpProtocol": "6", "FromPort": 80, "ToPort": 80}, {"ports": PortRange(80, 80)}),
        ({"IpProtocol": "tcp", "FromPort": "80", "ToPort": "81"}, {"ports": PortRange(80, 81)}),
        # EC2 admits every SCTP port whatever the rule says.
        ({"IpProtocol": "132", "FromPort": 5, "ToPort": 6}, {"protocol": Protocol.SCTP}),
        ({"IpProtocol": "icmp", "FromPort": 3, "ToPort": 4}, {"icmp_type": 3, "icmp_code": 4}),
        ({"IpProtocol": "icmp", "FromPort": 3, "ToPort": -1}, {"icmp_type": 3}),
        ({"IpProtocol": "icmp", "FromPort": 3, "ToPort": _GONE}, {"icmp_type": 3}),
        ({"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1}, {}),
        # Type 0 is echo reply, a type like any other.
        ({"IpProtocol": "icmp", "FromPort": 0, "ToPort": -1}, {"icmp_type": 0}),
        # A protocol number portsync has no name for is still that protocol.
        ({"IpProtocol": "99", "FromPort": -1, "ToPort": -1}, {"protocol": Protocol("99")}),
        ({"IpProtocol": "icmp", "FromPort": _GONE, "ToPort": _GONE}, {}),
        ({"IpProtocol": "58", "FromPort": 128, "ToPort": 0}, {"icmp_type": 128, "icmp_code": 0}),
        ({"IpProtocol": "47", "FromPort": -1, "ToPort": -1}, {"protocol": Protocol.GRE}),
        ({"IpProtocol": "tcp", "FromPort": _GONE, "ToPort": _GONE}, {"ports": None}),
    ],
)
def test_protocols_ports_and_icmp_as_ec2_writes_them(
    fields: dict[str, Any], want: dict[str, Any]
) -> None:
    protocol = want.get("protocol") or Protocol(str(fields["IpProtocol"]).strip())
    expected = {
        "protocol": protocol,
        "ports": PortRange(0, 65535) if protocol is Protocol.SCTP else None,
        "icmp_type": None,
        "icmp_code": None,
        **want,
    }
    if "ports" not in want and protocol in (Protocol.TCP, Protocol.UDP):
        expected["ports"] = PortRange(int(fields["FromPort"]), int(fields["ToPort"]))
    _same(read([item(**fields)]), [rule(**expected)])


def test_egress_items_are_egress() -> None:
    _same(read([item(IsEgress=True)]), [rule(direction=Direction.EGRESS)])


def test_a_port_range_ec2_could_not_hold_is_refused() -> None:
    with pytest.raises(ValueError, match="70000"):
        read([item(FromPort=443, ToPort=70000)])


# -- what only the groups' listing shows ---------------------------------------------------------


def test_a_missing_description_comes_from_the_groups_listing() -> None:
    """moto leaves Description out of some rule items; the group's permission has it."""
    the_group = group(
        ingress=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "portsync: from group"}],
            }
        ]
    )
    _same(read([item(Description=_GONE)], the_group), [rule(description="portsync: from group")])
    # Without an owner tag, the marker in that description makes it legacy.
    got = read([item(Description=_GONE, Tags=[])], the_group)
    _same(
        got,
        [rule(description="portsync: from group", owned=False, owner=None, legacy=True, tags=())],
    )
    # A description the item states, even empty, is the item's.
    _same(read([item(Description="")], the_group), [rule(description="")])


def test_a_missing_description_with_no_permission_to_match_is_empty() -> None:
    _same(
        read([item(Description=_GONE, Tags=[])]),
        [rule(description="", owned=False, owner=None, tags=())],
    )


def test_a_permission_the_rules_listing_missed_is_kept_unmanaged_without_id() -> None:
    """Listed side by side, the two reads can disagree for a moment; the rule is then kept as
    nobody's (never removed), and never counted twice when both show it."""
    the_group = group(
        ingress=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [
                    {"CidrIp": "10.0.0.0/8", "Description": "portsync: web"},
                    {"CidrIp": "192.168.0.0/16", "Description": "portsync: late"},
                ],
            }
        ]
    )
    _same(
        read([item()], the_group),
        [
            rule(),
            rule(
                peer=Endpoint.cidr("192.168.0.0/16"),
                description="portsync: late",
                owned=False,
                owner=None,
                native_id=None,
                tags=(),
            ),
        ],
    )


def test_rules_from_group_reads_every_source_kind_in_both_directions() -> None:
    described = {"Description": "said"}
    the_group = group(
        ingress=[
            # Not an IP protocol: skipped, and the permissions after it are still read.
            {"IpProtocol": "bogus", "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 23,
                "IpRanges": [{"CidrIp": "10.0.0.0/8", **described}],
                "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32", **described}],
                "UserIdGroupPairs": [
                    {"GroupId": PEER_GROUP, "UserId": ACCOUNT, **described},
                    {"GroupId": "sg-0d", "UserId": "999988887777", **described},
                ],
                "PrefixListIds": [{"PrefixListId": "pl-1", **described}],
            },
            # The same sources without descriptions, and a permission naming groups only.
            {
                "IpProtocol": "udp",
                "FromPort": 53,
                "ToPort": 53,
                "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
                "Ipv6Ranges": [{"CidrIpv6": "2001:db8::/32"}],
                "UserIdGroupPairs": [{"GroupId": GID, "UserId": ACCOUNT}],
                "PrefixListIds": [{"PrefixListId": "pl-1"}],
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 80,
                "ToPort": 80,
                "UserIdGroupPairs": [{"GroupId": GID}],
            },
        ],
        egress=[
            {
                "IpProtocol": "icmp",
                "FromPort": 3,
                "ToPort": 4,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    bare = {"owned": False, "owner": None, "native_id": None, "tags": (), "description": ""}
    tcp = {**bare, "ports": PortRange(22, 23), "description": "said"}
    udp = {**bare, "protocol": Protocol.UDP, "ports": PortRange(53, 53)}
    _same(
        rules_from_group(the_group, ROLES),
        [
            rule(**tcp),
            rule(**tcp, peer=Endpoint.cidr("2001:db8::/32")),
            rule(**tcp, peer=Endpoint(GROUP_KIND, PEER_GROUP), origin="role:lb"),
            rule(**tcp, peer=Endpoint(GROUP_KIND, "999988887777/sg-0d")),
            rule(**tcp, peer=Endpoint(PREFIX_KIND, "pl-1")),
            rule(**udp),
            rule(**udp, peer=Endpoint.cidr("2001:db8::/32")),
            rule(**udp, peer=Endpoint(GROUP_KIND, GID), origin="self"),
            rule(**udp, peer=Endpoint(PREFIX_KIND, "pl-1")),
            rule(**bare, ports=PortRange(80, 80), peer=Endpoint(GROUP_KIND, GID), origin="self"),
            rule(
                **bare,
                direction=Direction.EGRESS,
                protocol=Protocol.ICMP,
                ports=None,
                icmp_type=3,
                icmp_code=4,
                peer=Endpoint.cidr("0.0.0.0/0"),
            ),
        ],
    )


def test_a_group_bound_to_no_role_reads_without_role() -> None:
    got = live_rules(group(), [item()], {}, owner=OWNER, cluster=CLUSTER)
    _same(got, [rule(role=None)])


# -- the egress rule EC2 gives every group -------------------------------------------------------


def test_the_default_egress_is_recognised_by_its_exact_shape() -> None:
    default = rule(
        direction=Direction.EGRESS,
        protocol=Protocol.ALL,
        ports=None,
        peer=Endpoint.cidr("0.0.0.0/0"),
        description="",
        owned=False,
        owner=None,
        tags=(),
    )
    assert is_default_egress(default)
    assert is_default_egress(default.replace(peer=Endpoint.cidr("::/0")))
    assert not is_default_egress(default.replace(direction=Direction.INGRESS))
    assert not is_default_egress(default.replace(protocol=Protocol.TCP))
    assert not is_default_egress(default.replace(peer=Endpoint.cidr("10.0.0.0/8")))
    assert not is_default_egress(default.replace(peer=Endpoint(PREFIX_KIND, "0.0.0.0/0")))
    assert not is_default_egress(default.replace(description="kept on purpose"))
    assert not is_default_egress(default.replace(owned=True))
