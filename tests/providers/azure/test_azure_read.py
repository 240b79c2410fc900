"""The Azure read, pure (no I/O): which live security rules are portsync's and what each one
expands to. Owned rules are the ones a plan may remove, so every decision here is pinned: the
owner digest in the name, the marks of an earlier release, the shape that makes a rule
portsync's, and each field a live rule is read from."""

from __future__ import annotations

from typing import Any

import pytest

from portsync.model import Direction, Endpoint, PortRange, Protocol, TargetRule
from portsync.owners import NamedOwners, owner_hash
from portsync.providers.azure import translate
from portsync.providers.azure.peers import ASG, MARKER, SERVICE_TAG
from portsync.providers.azure.translate import Binding

OWNERS = NamedOwners(
    prefix="portsync",
    owner="prod-azure",
    known={owner_hash("prod-azure"): "prod-azure", owner_hash("staging"): "staging"},
    fold_case=True,
)
MINE = f"portsync-{owner_hash('prod-azure')}"
STAGING = f"portsync-{owner_hash('staging')}"
BAND = (1000, 1999)
CP = Binding("control-plane", "cp-nsg", "cp-nsg", ("10.0.1.0/24",))


def _raw(name: str = f"{MINE}-cp-tcp-22-abcd1234", **props: Any) -> dict[str, Any]:
    """A security rule as ARM lists it: one Allow, one peer, one port (portsync's shape)."""
    body = {
        "description": "[portsync] ssh",
        "protocol": "Tcp",
        "sourcePortRange": "*",
        "destinationPortRange": "22",
        "sourceAddressPrefix": "10.9.0.0/16",
        "destinationAddressPrefix": "10.0.1.0/24",
        "access": "Allow",
        "priority": 1000,
        "direction": "Inbound",
        "sourcePortRanges": [],
        "destinationPortRanges": [],
        "sourceAddressPrefixes": [],
        "destinationAddressPrefixes": [],
    }
    body.update(props)
    return {"name": name, "properties": {k: v for k, v in body.items() if v is not None}}


def _expand(raw: dict[str, Any], **kw: Any) -> list[TargetRule]:
    options: dict[str, Any] = {"binding": CP, "owners": OWNERS, "band": BAND}
    options.update(kw)
    return translate.expand(raw, **options)


def _one(raw: dict[str, Any], **kw: Any) -> TargetRule:
    (rule,) = _expand(raw, **kw)
    return rule


# --------------------------------------------------------------------------- ownership


def test_a_rule_named_with_the_owners_digest_is_owned() -> None:
    rule = _one(_raw())
    assert (rule.owned, rule.owner, rule.legacy) == (True, "prod-azure", False)


def test_a_rule_of_another_known_owner_is_theirs_by_name() -> None:
    rule = _one(_raw(f"{STAGING}-cp-tcp-22-abcd1234"))
    assert (rule.owned, rule.owner, rule.legacy) == (False, "staging", False)


def test_a_rule_of_an_owner_the_run_does_not_know_shows_its_digest() -> None:
    rule = _one(_raw("portsync-0a1b2c-cp-tcp-22-abcd1234"))
    assert (rule.owned, rule.owner, rule.legacy) == (False, "#0a1b2c", False)


def test_the_digest_is_read_without_case_as_azure_compares_names() -> None:
    rule = _one(_raw(f"{MINE.upper()}-CP-TCP-22-ABCD1234"))
    assert (rule.owned, rule.owner) == (True, "prod-azure")


@pytest.mark.parametrize(
    "props",
    [
        {"sourceAddressPrefix": None, "sourceAddressPrefixes": ["10.1.0.0/16", "10.2.0.0/16"]},
        {"destinationPortRange": None, "destinationPortRanges": ["22", "23"]},
        {"protocol": "*"},  # tcp and udp on port 22: two rules
        {"sourceAddressPrefix": "*"},  # every IPv4 and every IPv6 address: two rules
    ],
    ids=["two-sources", "two-ports", "tcp-and-udp", "both-families"],
)
def test_a_rule_edited_out_of_portsyncs_shape_is_nobodys(props: dict[str, Any]) -> None:
    rules = _expand(_raw(**props), adopt_legacy=True)
    assert len(rules) == 2
    assert all((r.owned, r.owner, r.legacy) == (False, None, False) for r in rules)


def test_an_owned_name_on_a_deny_rule_is_nobodys() -> None:
    assert _expand(_raw(access="Deny")) == []
    rule = _one(_raw(access="Deny"), denied=True)
    assert (rule.owned, rule.owner, rule.legacy) == (False, None, False)
    assert dict(rule.extra)[translate.ACCESS] == "deny"


def test_an_allow_rule_is_not_read_as_a_deny_rule() -> None:
    assert _expand(_raw(), denied=True) == []
    assert _expand(_raw(access="allow")) != []  # ARM's spelling aside, case does not matter


@pytest.mark.parametrize("adopt", [False, True])
def test_an_earlier_releases_rule_is_legacy_and_owned_only_when_adopted(adopt: bool) -> None:
    rule = _one(_raw("portsync-cp-tcp-22"), adopt_legacy=adopt)
    assert (rule.owned, rule.owner, rule.legacy) == (adopt, None, True)


@pytest.mark.parametrize(
    ("name", "description", "legacy"),
    [
        ("portsync-cp-tcp-22", f"{MARKER} ssh", True),
        ("PortSync-cp-tcp-22", f"{MARKER} ssh", True),  # names compare without case
        ("portsync-cp-tcp-22", "ssh", False),  # the marker is missing
        ("portsync-cp-tcp-22", f"ssh {MARKER}", False),  # the marker must lead
        ("portsync-cp-tcp-22", None, False),
        ("portsynccp-tcp-22", f"{MARKER} ssh", False),  # not the prefix and its dash
        ("other-cp-tcp-22", f"{MARKER} ssh", False),  # a description alone proves nothing
        ("", f"{MARKER} ssh", False),
    ],
)
def test_legacy_marks_are_the_prefix_and_the_leading_marker(
    name: str, description: str | None, legacy: bool
) -> None:
    raw = _raw(name, description=description)
    assert translate.has_legacy_marks(raw, "portsync") is legacy
    assert translate.has_legacy_marks(raw, "PORTSYNC") is legacy
    rule = _one(raw, adopt_legacy=True)
    assert (rule.owned, rule.legacy) == (legacy, legacy)


def test_a_rule_with_a_digest_is_never_legacy_even_with_the_marks() -> None:
    rule = _one(_raw(f"{STAGING}-cp-tcp-22-abcd1234"), adopt_legacy=True)
    assert (rule.owned, rule.owner, rule.legacy) == (False, "staging", False)


def test_ownership_alone_reads_the_shape_the_caller_gives() -> None:
    raw = _raw()
    assert translate.ownership(raw, OWNERS, shaped=True) == (True, "prod-azure", False)
    assert translate.ownership(raw, OWNERS, shaped=False) == (False, None, False)
    legacy = _raw("portsync-x")
    assert translate.ownership(legacy, OWNERS, shaped=True) == (False, None, True)
    assert translate.ownership(legacy, OWNERS, shaped=True, adopt_legacy=True) == (
        True,
        None,
        True,
    )
    assert translate.ownership(legacy, OWNERS, shaped=False, adopt_legacy=True) == (
        False,
        None,
        False,
    )
    assert translate.ownership({}, OWNERS, shaped=True) == (False, None, False)


# --------------------------------------------------------------------------- what a rule expands to


def test_a_rule_of_portsyncs_shape_is_read_field_by_field() -> None:
    rule = _one(_raw(priority=1234))
    assert rule.target == "cp-nsg" and rule.role == "control-plane"
    assert rule.direction is Direction.INGRESS
    assert rule.protocol is Protocol.TCP and rule.ports == PortRange(22, 22)
    assert rule.peer == Endpoint.cidr("10.9.0.0/16")
    assert rule.description == "[portsync] ssh"
    assert rule.native_id == f"{MINE}-cp-tcp-22-abcd1234"
    assert rule.origin is None
    assert dict(rule.extra) == {
        translate.ROLE_ADDRESSES: "10.0.1.0/24",
        translate.LIVE_PRIORITY: "1234",
    }


def test_an_outbound_rule_reads_its_peer_from_the_destination() -> None:
    raw = _raw(
        direction="Outbound",
        sourceAddressPrefix="10.0.1.0/24",
        destinationAddressPrefix="192.0.2.0/24",
    )
    rule = _one(raw)
    assert rule.direction is Direction.EGRESS
    assert rule.peer == Endpoint.cidr("192.0.2.0/24")
    assert dict(rule.extra)[translate.ROLE_ADDRESSES] == "10.0.1.0/24"
    assert translate.role_items(raw) == ["10.0.1.0/24"]


@pytest.mark.parametrize("direction", ["", "Sideways", None])
def test_a_rule_of_no_known_direction_expands_to_nothing(direction: str | None) -> None:
    raw = _raw(direction=direction)
    assert _expand(raw) == []
    assert translate.role_items(raw) == []


def test_direction_is_read_without_case() -> None:
    assert _one(_raw(direction="inbound")).direction is Direction.INGRESS
    assert _one(_raw(direction="OUTBOUND")).direction is Direction.EGRESS


def test_a_rule_without_properties_expands_to_nothing() -> None:
    assert _expand({"name": f"{MINE}-x"}) == []
    assert _expand({"name": f"{MINE}-x", "properties": ["not", "an", "object"]}) == []


@pytest.mark.parametrize(
    ("protocol", "port", "expected"),
    [
        ("Tcp", "22", [("tcp", "22")]),
        ("udp", "53", [("udp", "53")]),
        (" TCP ", "22", [("tcp", "22")]),
        ("Icmp", "*", [("icmp", "all")]),
        ("Icmp", "22", [("icmp", "all")]),  # ICMP has no ports, whatever the rule says
        ("Esp", "22", [("esp", "all")]),
        ("Ah", "*", [("ah", "all")]),
        ("*", "*", [("all", "all")]),
        ("*", "0-65535", [("all", "all")]),
        ("*", "22", [("tcp", "22"), ("udp", "22")]),
        ("Tcp", "*", [("tcp", "0-65535")]),
        ("Gre", "22", []),  # no protocol NSGs have: nothing to compare
        ("", "22", []),
    ],
)
def test_each_protocol_reads_as_portsync_compares_it(
    protocol: str, port: str, expected: list[tuple[str, str]]
) -> None:
    rules = _expand(_raw(protocol=protocol, destinationPortRange=port))
    assert sorted((r.protocol.value, r.ports_text) for r in rules) == expected


def test_ports_are_read_from_the_range_and_the_list_trimmed_and_unparsable_ones_skipped() -> None:
    raw = _raw(
        name="hand",
        destinationPortRange=" 80 ",
        destinationPortRanges=["443", "", "8000-8080", "x-y"],
    )
    assert sorted(r.ports_text for r in _expand(raw)) == ["443", "80", "8000-8080"]


def test_a_rule_with_only_unparsable_ports_covers_every_port() -> None:
    (rule,) = _expand(_raw(destinationPortRange="nonsense"))
    assert rule.ports == PortRange(0, 65535)
    (rule,) = _expand(_raw(destinationPortRange=None))
    assert rule.ports == PortRange(0, 65535)


def test_peers_are_read_from_the_prefix_the_prefixes_and_the_asgs_once_each() -> None:
    asg = (
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/applicationSecurityGroups/a"
    )
    raw = _raw(
        name="hand",
        sourceAddressPrefix="10.1.0.0/16",
        sourceAddressPrefixes=["10.2.0.0/16", "", "10.1.0.0/16", "10.3.0.1/16"],
        sourceApplicationSecurityGroups=[{"id": asg}, {"id": ""}, {}, "not-an-object", {"id": asg}],
    )
    assert [r.peer for r in _expand(raw)] == [
        Endpoint.cidr("10.1.0.0/16"),
        Endpoint.cidr("10.2.0.0/16"),
        Endpoint.cidr("10.3.0.0/16"),  # canonical: host bits cleared
        Endpoint(ASG, asg),
    ]


@pytest.mark.parametrize(
    ("source", "peer"),
    [
        ("internet", Endpoint(SERVICE_TAG, "Internet")),
        ("VIRTUALNETWORK", Endpoint(SERVICE_TAG, "VirtualNetwork")),
        ("azureloadbalancer", Endpoint(SERVICE_TAG, "AzureLoadBalancer")),
        ("Storage.WestEurope", Endpoint(SERVICE_TAG, "Storage.WestEurope")),
        ("10.9.0.1", Endpoint.cidr("10.9.0.1/32")),
        ("2001:DB8::/32", Endpoint.cidr("2001:db8::/32")),
    ],
)
def test_service_tags_and_addresses_are_read_in_their_canonical_spelling(
    source: str, peer: Endpoint
) -> None:
    assert _one(_raw(sourceAddressPrefix=source)).peer == peer


def test_the_load_balancer_tag_is_the_load_balancers_peer() -> None:
    rule = _one(_raw(sourceAddressPrefix="AzureLoadBalancer"))
    assert rule.origin == "load-balancers"


def test_a_peer_standing_for_a_role_says_which() -> None:
    origins = {"cidr:10.0.1.0/24": "control-plane", "cidr:10.0.2.0/24": "worker"}
    assert _one(_raw(sourceAddressPrefix="10.0.1.0/24"), origins=origins).origin == "self"
    assert _one(_raw(sourceAddressPrefix="10.0.2.0/24"), origins=origins).origin == "role:worker"
    assert _one(_raw(sourceAddressPrefix="10.0.3.0/24"), origins=origins).origin is None


def test_the_role_side_is_canonical_sorted_and_without_repeats() -> None:
    asg = (
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/applicationSecurityGroups/B"
    )
    raw = _raw(
        destinationAddressPrefix="virtualnetwork",
        destinationAddressPrefixes=["10.0.1.7/24", "10.0.1.0/24", "*"],
        destinationApplicationSecurityGroups=[{"id": asg.lower()}],
    )
    expected = ["*", asg, "10.0.1.0/24", "VirtualNetwork"]
    names = {asg.lower(): asg}
    assert dict(_one(raw, asg_names=names).extra)[translate.ROLE_ADDRESSES] == ",".join(
        sorted(expected)
    )
    assert translate.role_items(raw, names) == sorted(expected)
    assert translate.role_items(raw)[1] == asg.lower()  # an ASG the config does not name


@pytest.mark.parametrize(
    ("source_ports", "extra"),
    [
        ({"sourcePortRange": "*"}, None),
        ({"sourcePortRange": "0-65535"}, None),
        ({"sourcePortRange": "1024-65535"}, "1024-65535"),
        ({"sourcePortRange": None, "sourcePortRanges": ["80", "1024-2047"]}, "1024-2047,80"),
        ({"sourcePortRange": None, "sourcePortRanges": ["*", "80"]}, "80"),
    ],
)
def test_source_ports_other_than_every_port_are_carried(
    source_ports: dict[str, Any], extra: str | None
) -> None:
    rule = _one(_raw(**source_ports))
    assert dict(rule.extra).get(translate.SOURCE_PORTS) == extra


@pytest.mark.parametrize(
    ("priority", "outside"),
    [(999, True), (1000, False), (1999, False), (2000, True), (None, True), ("1500", True)],
)
def test_an_owned_rule_outside_the_band_says_so(priority: Any, outside: bool) -> None:
    rule = _one(_raw(priority=priority))
    assert rule.owned
    expected = f"{priority} (outside priority_band 1000-1999)" if outside else None
    assert dict(rule.extra).get(translate.PRIORITY) == expected


def test_a_rule_of_others_outside_the_band_is_not_moved() -> None:
    rule = _one(_raw(f"{STAGING}-x", priority=3000))
    assert translate.PRIORITY not in dict(rule.extra)
    assert dict(rule.extra)[translate.LIVE_PRIORITY] == "3000"


@pytest.mark.parametrize(("priority", "live"), [(100, "100"), (True, None), ("100", None)])
def test_the_live_priority_is_carried_only_when_it_is_a_number(
    priority: Any, live: str | None
) -> None:
    rule = _one(_raw(f"{STAGING}-x", priority=priority))
    assert dict(rule.extra).get(translate.LIVE_PRIORITY) == live


# --------------------------------------------------------------------------- which roles a rule holds


def test_a_rule_says_which_roles_its_role_side_holds_per_peer_family() -> None:
    from portsync.evaluate import MAY_REACH, REACHES

    machines = (
        translate.Machines("control-plane", ("10.0.1.0/24",)),
        translate.Machines("worker", ("10.0.2.0/24", "fd00:2::/64")),
        translate.Machines("etcd", ("10.1.3.0/24",)),
    )
    raw = _raw(
        name="hand",
        sourceAddressPrefix=None,
        sourceAddressPrefixes=["192.0.2.0/24", "2001:db8::/32"],
        destinationAddressPrefix=None,
        destinationAddressPrefixes=["10.0.0.0/16", "10.1.3.0/25", "fd00::/8"],
    )
    by_peer = {r.peer.value: dict(r.extra) for r in _expand(raw, machines=machines)}
    assert by_peer["192.0.2.0/24"][REACHES] == "control-plane,worker"
    assert by_peer["192.0.2.0/24"][MAY_REACH] == "etcd"
    assert by_peer["2001:db8::/32"][REACHES] == "worker"
    assert MAY_REACH not in by_peer["2001:db8::/32"]
    assert translate.reach_extra((), ["*"], 4) == ()
    assert translate.reach_extra(machines[:1], ["10.9.0.0/16"], 4) == ((REACHES, ""),)


# --------------------------------------------------------------------------- a layout's read


WORKER = Binding("worker", "shared-nsg", "shared-nsg/worker", ("10.0.2.0/24",))
ETCD = Binding("etcd", "shared-nsg", "shared-nsg/etcd", ("10.0.3.0/24", "10.0.4.0/24"))
ASG_ID = (
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/applicationSecurityGroups/x"
)
EXTRA_ASG = Binding("worker", "shared-nsg", "shared-nsg/asg:x", asg=ASG_ID)


def _shared(*bindings: Binding, **kw: Any) -> translate.NsgLayout:
    return translate.NsgLayout(
        nsg="shared-nsg",
        where="NSG shared-nsg",
        owners=OWNERS,
        bindings=bindings or (WORKER, ETCD),
        **{"band": BAND, **kw},
    )


@pytest.mark.parametrize(
    ("destination", "target"),
    [
        (["10.0.2.0/24"], "shared-nsg/worker"),
        (["10.0.3.0/24"], "shared-nsg/etcd"),
        (["10.0.4.0/24", "10.0.3.0/24"], "shared-nsg/etcd"),  # every item is the role's
        (["10.0.2.0/24", "10.0.3.0/24"], "shared-nsg/worker"),  # no role's alone: the first
        (["10.0.9.0/24"], "shared-nsg/worker"),
        (["10.0.3.0/24", "10.0.9.0/24"], "shared-nsg/worker"),
        ([], "shared-nsg/worker"),
    ],
)
def test_a_rule_is_listed_under_the_role_its_role_side_names(
    destination: list[str], target: str
) -> None:
    layout = _shared()
    raw = _raw(f"{STAGING}-x", destinationAddressPrefix=None)
    raw["properties"]["destinationAddressPrefixes"] = destination
    assert layout.attribute(raw).target == target
    assert [r.target for r in layout.expand(raw)] == [target]


def test_an_outbound_rule_is_listed_by_its_source() -> None:
    raw = _raw(
        f"{STAGING}-x",
        direction="Outbound",
        sourceAddressPrefix="10.0.3.0/24",
        destinationAddressPrefix="10.0.2.0/24",
    )
    assert _shared().attribute(raw).target == "shared-nsg/etcd"


def test_a_rule_naming_a_read_only_asg_is_listed_under_it() -> None:
    layout = _shared(WORKER, readonly=(EXTRA_ASG,), asg_names={ASG_ID.lower(): ASG_ID})
    raw = _raw(f"{STAGING}-x", destinationAddressPrefix=None)
    raw["properties"]["destinationApplicationSecurityGroups"] = [{"id": ASG_ID.upper()}]
    assert layout.attribute(raw) is EXTRA_ASG
    live = layout.live([raw, _raw(f"{STAGING}-y")])
    assert [r.native_id for r in live["shared-nsg/asg:x"]] == [f"{STAGING}-x"]
    assert [r.native_id for r in live["shared-nsg/worker"]] == [f"{STAGING}-y"]


def test_an_asg_binding_covers_only_its_own_asg() -> None:
    assert EXTRA_ASG.covers([ASG_ID.upper()])
    assert not EXTRA_ASG.covers([ASG_ID, "10.0.2.0/24"])
    assert not EXTRA_ASG.covers([])
    assert not WORKER.covers([])
    assert WORKER.covers(["10.0.2.0/24"])
    assert not WORKER.covers(["10.0.2.0/24", "10.0.3.0/24"])


def test_a_layout_reads_its_own_settings_into_every_rule() -> None:
    layout = _shared(WORKER, adopt_legacy=True, band=(100, 199))
    (adopted,) = layout.expand(_raw("portsync-x", priority=150))
    assert (adopted.owned, adopted.legacy) == (True, True)
    assert translate.PRIORITY not in dict(adopted.extra)
    (moved,) = layout.expand(_raw(priority=1000))
    assert dict(moved.extra)[translate.PRIORITY] == "1000 (outside priority_band 100-199)"
    from portsync.evaluate import REACHES

    assert dict(moved.extra)[REACHES] == ""  # 10.0.1.0/24 holds none of the worker's machines


def test_live_lists_every_target_in_nsg_order_allow_and_deny_apart() -> None:
    layout = _shared()
    rules = [
        _raw(f"{STAGING}-a", destinationAddressPrefix="10.0.3.0/24"),
        _raw(f"{STAGING}-b", destinationAddressPrefix="10.0.2.0/24", access="Deny"),
        _raw(f"{STAGING}-c", destinationAddressPrefix="10.0.3.0/24", destinationPortRange="23"),
    ]
    allowed = layout.live(rules)
    assert {t: [r.native_id for r in found] for t, found in allowed.items()} == {
        "shared-nsg/worker": [],
        "shared-nsg/etcd": [f"{STAGING}-a", f"{STAGING}-c"],
    }
    denied = layout.live(rules, denied=True)
    assert {t: [r.native_id for r in found] for t, found in denied.items()} == {
        "shared-nsg/worker": [f"{STAGING}-b"],
        "shared-nsg/etcd": [],
    }


# --------------------------------------------------------------------------- default security rules


def _default(name: str, access: str, priority: int, **props: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "description": "Azure's own",
        "protocol": "*",
        "destinationPortRange": "*",
        "sourceAddressPrefix": "VirtualNetwork",
        "destinationAddressPrefix": "VirtualNetwork",
        "access": access,
        "priority": priority,
    }
    fields.update(props)
    return _raw(name, **fields)


DEFAULTS = [
    _default("AllowVnetInBound", "Allow", 65000),
    _default("DenyAllInBound", "Deny", 65500, sourceAddressPrefix="*"),
    _default("AllowLbOut", "Allow", 65001, direction="Outbound", destinationAddressPrefix="*"),
]


def test_default_rules_are_read_for_every_role_and_never_owned() -> None:
    origins = {"cidr:10.0.2.0/24": "worker"}
    layout = _shared(origins=origins)
    out = translate.expand_defaults(DEFAULTS, layout)
    assert list(out) == ["shared-nsg/worker", "shared-nsg/etcd"]
    for binding in (WORKER, ETCD):
        rules = out[binding.target]
        assert [(r.native_id, r.direction) for r in rules] == [
            ("AllowVnetInBound", Direction.INGRESS),
            ("AllowLbOut", Direction.EGRESS),
            ("AllowLbOut", Direction.EGRESS),
        ]
        assert all(r.target == binding.target and r.role == binding.role for r in rules)
        assert all((r.owned, r.owner, r.legacy) == (False, None, False) for r in rules)
        assert [dict(r.extra)[translate.CLOUD_DEFAULT] for r in rules] == [
            "65000",
            "65001",
            "65001",
        ]
        assert rules[0].protocol is Protocol.ALL
        assert rules[0].peer == Endpoint(SERVICE_TAG, "VirtualNetwork")
        assert [r.peer.value for r in rules[1:]] == ["0.0.0.0/0", "::/0"]
        assert rules[0].description == "Azure's own"
    assert [r.origin for r in out["shared-nsg/worker"]] == [None, None, None]


def test_a_default_rule_named_like_portsyncs_is_still_nobodys() -> None:
    named = _default(f"{MINE}-cp-all-all-abcd1234", "Allow", 65000)
    (rule,) = translate.expand_defaults([named], _shared(WORKER, adopt_legacy=True))[
        "shared-nsg/worker"
    ]
    assert (rule.owned, rule.owner, rule.legacy) == (False, None, False)


def test_default_rules_keep_each_peers_origin_per_role() -> None:
    lb = _default(
        "AllowAzureLoadBalancerInBound", "Allow", 65001, sourceAddressPrefix="AzureLoadBalancer"
    )
    vnet_of_etcd = _default("x", "Allow", 65002, sourceAddressPrefix="10.0.3.0/24")
    layout = _shared(origins={"cidr:10.0.3.0/24": "etcd"})
    out = translate.expand_defaults([lb, vnet_of_etcd], layout)
    assert [r.origin for r in out["shared-nsg/worker"]] == ["load-balancers", "role:etcd"]
    assert [r.origin for r in out["shared-nsg/etcd"]] == ["load-balancers", "self"]


def test_the_default_rules_expansion_is_shared_only_between_equal_rules() -> None:
    cache: dict[tuple[Any, ...], list[TargetRule]] = {}
    layout = _shared(WORKER)
    first = translate.expand_defaults(DEFAULTS[:1], layout, cache)
    assert len(cache) == 1
    again = translate.expand_defaults(DEFAULTS[:1], layout, cache)
    assert again == first and len(cache) == 1
    # Another priority, another name, other machines: each expands afresh.
    other = _default("AllowVnetInBound", "Allow", 65100)
    (moved,) = translate.expand_defaults([other], layout, cache)["shared-nsg/worker"]
    assert dict(moved.extra)[translate.CLOUD_DEFAULT] == "65100"
    renamed = _default("AllowVnetInBound2", "Allow", 65000)
    (named,) = translate.expand_defaults([renamed], layout, cache)["shared-nsg/worker"]
    assert named.native_id == "AllowVnetInBound2"
    from portsync.evaluate import REACHES

    aimed = _default("AllowAimed", "Allow", 65002, destinationAddressPrefix="10.0.2.0/24")
    (held,) = translate.expand_defaults([aimed], layout, cache)["shared-nsg/worker"]
    assert dict(held.extra)[REACHES] == "worker"
    elsewhere = translate.Machines("worker", ("192.0.2.0/24",))
    other_machines = _shared(WORKER, machines=(elsewhere,), origins=layout.origins)
    (missed,) = translate.expand_defaults([aimed], other_machines, cache)["shared-nsg/worker"]
    assert dict(missed.extra)[REACHES] == ""
    assert len(cache) == 5


def test_a_path_nsg_is_read_whole_allow_deny_and_defaults() -> None:
    body = {
        "name": "subnet-nsg",
        "properties": {
            "securityRules": [
                _raw(f"{STAGING}-deny", access="Deny"),
                _raw(f"{MINE}-allow"),
            ],
            "defaultSecurityRules": DEFAULTS[:2],
        },
    }
    raw = translate.RawNsg.of(body)
    layout = _shared(WORKER)
    rules = translate.path_rules(layout, raw)
    assert [(r.native_id, dict(r.extra).get(translate.ACCESS)) for r in rules] == [
        (f"{MINE}-allow", None),
        (f"{STAGING}-deny", "deny"),
        ("AllowVnetInBound", None),
    ]
    assert translate.path_rules(layout, translate.RawNsg.of({"name": "empty"})) == []


# --------------------------------------------------------------------------- the snapshot of a listing


def _cluster(name: str, owner: str, *bindings: Binding, **kw: Any) -> translate.ClusterLayout:
    owners = NamedOwners(
        prefix="portsync",
        owner=owner,
        known={owner_hash(o): o for o in ("prod-azure", "staging")},
        fold_case=True,
    )
    return translate.ClusterLayout(
        cluster=name,
        resource_group="rg",
        owners=owners,
        band=BAND,
        bindings=bindings or (CP,),
        **kw,
    )


def _nsg(name: str, rules: list[dict[str, Any]], **body: Any) -> dict[str, Any]:
    return {
        "name": name,
        "id": f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/nsg/{name}",
        "etag": f'W/"{name}"',
        "properties": {"securityRules": rules, "defaultSecurityRules": DEFAULTS[:1]},
        **body,
    }


def test_the_snapshot_holds_the_bound_nsgs_rules_allow_deny_then_defaults() -> None:
    from portsync.providers.azure.snapshot import NsgReader

    prod = _cluster("prod", "prod-azure")
    reader = NsgReader({"cp-nsg": [(prod, "cp-nsg")]})
    reader.add(_nsg("other-nsg", [_raw()]))  # nobody binds it
    reader.add(_nsg("CP-NSG", [_raw(f"{STAGING}-deny", access="Deny"), _raw()]))
    snapshot = reader.snapshot()
    assert snapshot.provider == "azure"
    assert list(snapshot.rules) == ["cp-nsg"]
    rules = snapshot.rules["cp-nsg"]
    assert [(r.native_id, r.owned, dict(r.extra).get(translate.ACCESS)) for r in rules] == [
        (f"{MINE}-cp-tcp-22-abcd1234", True, None),
        (f"{STAGING}-deny", False, "deny"),
        ("AllowVnetInBound", False, None),
    ]
    assert dict(snapshot.native) == {"cp-nsg": snapshot.native["cp-nsg"]}
    assert snapshot.native["cp-nsg"].name == "CP-NSG"
    assert dict(snapshot.fingerprints) == {
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/nsg/CP-NSG": 'W/"CP-NSG"'
    }
    assert reader.missing() == [] and reader.missing_nsgs() == []


def test_an_nsg_without_an_id_is_fingerprinted_by_name_and_one_without_rules_is_empty() -> None:
    from portsync.providers.azure.snapshot import NsgReader

    prod = _cluster("prod", "prod-azure")
    reader = NsgReader({"cp-nsg": [(prod, "cp-nsg")]})
    reader.add({"name": "cp-nsg", "etag": "e1", "properties": "not an object"})
    snapshot = reader.snapshot()
    assert dict(snapshot.fingerprints) == {"cp-nsg": "e1"}
    assert dict(snapshot.rules) == {"cp-nsg": ()}


def test_each_cluster_reads_a_shared_nsg_with_its_own_owner() -> None:
    from portsync.providers.azure.snapshot import NsgReader

    prod = _cluster("prod", "prod-azure", Binding("control-plane", "cp-nsg", "cp-nsg/prod"))
    staging = _cluster("staging", "staging", Binding("control-plane", "cp-nsg", "cp-nsg/staging"))
    reader = NsgReader({"cp-nsg": [(prod, "cp-nsg/prod"), (staging, "cp-nsg/staging")]})
    reader.add(_nsg("cp-nsg", [_raw(), _raw(f"{STAGING}-cp-tcp-22-abcd1234")]))
    rules = reader.snapshot().rules
    assert [(r.owned, r.owner) for r in rules["cp-nsg/prod"][:2]] == [
        (True, "prod-azure"),
        (False, "staging"),
    ]
    assert [(r.owned, r.owner) for r in rules["cp-nsg/staging"][:2]] == [
        (False, "prod-azure"),
        (True, "staging"),
    ]


def test_a_target_two_clusters_bind_is_kept_as_the_first_read_it() -> None:
    from portsync.providers.azure.snapshot import NsgReader

    prod = _cluster("prod", "prod-azure")
    staging = _cluster("staging", "staging")
    reader = NsgReader({"cp-nsg": [(prod, "cp-nsg"), (staging, "cp-nsg")]})
    reader.add(_nsg("cp-nsg", [_raw()]))
    (mine, default) = reader.snapshot().rules["cp-nsg"]
    assert (mine.owned, mine.owner) == (True, "prod-azure")
    assert default.native_id == "AllowVnetInBound"


def test_nsgs_the_listing_lacks_are_named() -> None:
    from portsync.providers.azure.snapshot import NsgReader

    prod = _cluster(
        "prod",
        "prod-azure",
        *(Binding(r, f"{n}-nsg", r) for r, n in (("b", "b"), ("a1", "a"), ("a2", "a"), ("c", "C"))),
    )
    wants = {"b-nsg": [(prod, "b")], "a-nsg": [(prod, "a1"), (prod, "a2")], "c-nsg": [(prod, "c")]}
    reader = NsgReader(wants)
    reader.add(_nsg("C-nsg", []))
    assert reader.missing() == [(prod, "b"), (prod, "a1"), (prod, "a2")]
    assert reader.missing_nsgs() == ["a-nsg", "b-nsg"]


# --------------------------------------------------------------------------- edges of the read


def test_a_rule_without_a_description_reads_as_one_without() -> None:
    assert _one(_raw(description=None)).description == ""


def test_an_earlier_releases_rule_is_not_adopted_unless_asked() -> None:
    rule = translate.expand(_raw("portsync-cp-tcp-22"), binding=CP, owners=OWNERS, band=BAND)
    assert [(r.owned, r.legacy) for r in rule] == [(False, True)]


def test_a_port_listed_twice_is_one_rule() -> None:
    raw = _raw(destinationPortRange=None, destinationPortRanges=["22", "22"])
    assert [r.ports_text for r in _expand(raw)] == ["22"]


def test_every_role_a_rule_may_reach_is_named() -> None:
    from portsync.evaluate import MAY_REACH

    machines = (
        translate.Machines("a", ("10.0.1.0/24",)),
        translate.Machines("b", ("10.0.2.0/24",)),
    )
    assert dict(translate.reach_extra(machines, ["Storage"], 4))[MAY_REACH] == "a,b"


def test_a_role_of_both_families_is_reached_through_a_tag_by_its_ipv4_machines() -> None:
    machines = translate.Machines("worker", ("10.0.2.0/24", "fd00:2::/64"))
    assert machines.reach(["10.0.2.0/24"], None).value == "yes"
    assert machines.reach(["fd00:2::/64"], None).value == "no"
    v6 = translate.Machines("worker", ("fd00:2::/64",))
    assert v6.reach(["fd00:2::/64"], None).value == "yes"


def test_an_asg_binding_stands_for_its_machines() -> None:
    machines = translate.Machines.of(EXTRA_ASG)
    assert machines.asgs == (ASG_ID,) and machines.prefixes == ()
    assert translate.Machines.of(WORKER).asgs == ()
    assert machines.reach([ASG_ID], None).value == "yes"


def test_an_ipv6_role_side_names_its_role() -> None:
    v6 = Binding("worker", "shared-nsg", "shared-nsg/v6", ("fd00:2::/64",))
    layout = _shared(WORKER, v6)
    raw = _raw(f"{STAGING}-x", destinationAddressPrefix="FD00:2::/64")
    assert v6.covers(["fd00:2::/64"])
    assert layout.attribute(raw) is v6


def test_a_layout_spells_asgs_and_origins_as_configured() -> None:
    asg_binding = Binding("worker", "shared-nsg", "shared-nsg/asg", asg=ASG_ID)
    layout = _shared(
        asg_binding,
        asg_names={ASG_ID.lower(): ASG_ID},
        origins={f"asg:{ASG_ID}": "worker"},
    )
    raw = _raw(f"{STAGING}-x", sourceAddressPrefix=None)
    raw["properties"]["sourceApplicationSecurityGroups"] = [{"id": ASG_ID.upper()}]
    (rule,) = layout.expand(raw)
    assert rule.peer == Endpoint(ASG, ASG_ID)
    assert rule.origin == "self"
    (default,) = translate.expand_defaults([raw], layout)["shared-nsg/asg"]
    assert default.peer == Endpoint(ASG, ASG_ID)


def test_a_default_rule_with_ports_keeps_them() -> None:
    narrow = _default("AllowDns", "Allow", 65002, protocol="Udp", destinationPortRange="53")
    (rule,) = translate.expand_defaults([narrow], _shared(WORKER))["shared-nsg/worker"]
    assert (rule.protocol, rule.ports) == (Protocol.UDP, PortRange(53, 53))


def test_default_rules_of_another_clusters_layout_are_expanded_afresh() -> None:
    cache: dict[tuple[Any, ...], list[TargetRule]] = {}
    raw = _default("AllowAsg", "Allow", 65002, sourceAddressPrefix=None)
    raw["properties"]["sourceApplicationSecurityGroups"] = [{"id": ASG_ID.lower()}]
    first = _shared(WORKER, asg_names={ASG_ID.lower(): ASG_ID}, origins={})
    second = _shared(WORKER, asg_names={}, origins={})
    (one,) = translate.expand_defaults([raw], first, cache)["shared-nsg/worker"]
    (two,) = translate.expand_defaults([raw], second, cache)["shared-nsg/worker"]
    assert (one.peer.value, two.peer.value) == (ASG_ID, ASG_ID.lower())


@pytest.mark.parametrize(
    ("field", "a", "b"),
    [
        ("sourceAddressPrefixes", ["10.1.0.0/16"], ["10.2.0.0/16"]),
        ("sourceApplicationSecurityGroups", [{"id": ASG_ID}], [{"id": ASG_ID + "2"}]),
    ],
)
def test_default_rules_differing_only_in_a_list_are_told_apart(
    field: str, a: list[Any], b: list[Any]
) -> None:
    cache: dict[tuple[Any, ...], list[TargetRule]] = {}
    layout = _shared(WORKER)
    peers = []
    for items in (a, b):
        raw = _default("AllowX", "Allow", 65002, sourceAddressPrefix=None)
        raw["properties"][field] = items
        (rule,) = translate.expand_defaults([raw], layout, cache)["shared-nsg/worker"]
        peers.append(rule.peer.value)
    assert peers[0] != peers[1]


def test_default_rules_differing_only_in_a_field_name_are_told_apart() -> None:
    cache: dict[tuple[Any, ...], list[TargetRule]] = {}
    layout = _shared(WORKER)
    counts = []
    for key in ("id", "name"):  # an ASG is named by its id; an entry without one names nothing
        raw = _default("AllowX", "Allow", 65002, sourceAddressPrefix=None)
        raw["properties"]["sourceApplicationSecurityGroups"] = [{key: ASG_ID}]
        counts.append(len(translate.expand_defaults([raw], layout, cache)["shared-nsg/worker"]))
    assert counts == [1, 0]


def test_each_peer_family_says_which_roles_it_reaches_for_itself() -> None:
    from portsync.evaluate import REACHES

    machines = (translate.Machines("worker", ("10.0.2.0/24", "fd00:2::/64")),)
    raw = _raw(
        name="hand",
        sourceAddressPrefix="Internet",
        sourceAddressPrefixes=["2001:db8::/32", "192.0.2.0/24"],
        destinationAddressPrefix="10.0.2.0/24",
    )
    reaches = {r.peer.value: dict(r.extra)[REACHES] for r in _expand(raw, machines=machines)}
    # Through a tag the IPv4 machines count; an IPv6 peer's packets reach no IPv4 prefix.
    assert reaches == {"Internet": "worker", "2001:db8::/32": "", "192.0.2.0/24": "worker"}


def test_a_cluster_binding_an_nsg_twice_reads_it_once_and_the_next_cluster_still_reads_it() -> None:
    from portsync.providers.azure.snapshot import NsgReader

    prod = _cluster(
        "prod",
        "prod-azure",
        Binding("control-plane", "cp-nsg", "cp-nsg/cp", ("10.0.1.0/24",)),
        Binding("etcd", "cp-nsg", "cp-nsg/etcd", ("10.0.3.0/24",)),
    )
    staging = _cluster("staging", "staging", Binding("control-plane", "cp-nsg", "cp-nsg/s"))
    wants = {"cp-nsg": [(prod, "cp-nsg/cp"), (prod, "cp-nsg/etcd"), (staging, "cp-nsg/s")]}
    reader = NsgReader(wants)
    reader.add(_nsg("cp-nsg", [_raw()]))
    rules = reader.snapshot().rules
    assert sorted(rules) == ["cp-nsg/cp", "cp-nsg/etcd", "cp-nsg/s"]
    assert [(r.native_id, r.owned) for r in rules["cp-nsg/s"]] == [
        (f"{MINE}-cp-tcp-22-abcd1234", False),
        ("AllowVnetInBound", False),
    ]
    assert [r.native_id for r in rules["cp-nsg/cp"]] == [
        f"{MINE}-cp-tcp-22-abcd1234",
        "AllowVnetInBound",
    ]
    assert [r.native_id for r in rules["cp-nsg/etcd"]] == ["AllowVnetInBound"]
