"""GCP's read, pure (no I/O): which live firewalls are portsync's, and what each one expands to.

Owned rules are the ones a plan may change and remove, so every way a firewall could be read as
the current owner's (or not) is pinned here: the owner digest in the name, one target, an earlier
release's marks only when adopted, and denying firewalls never. The golden cases
(``tests/providers/gcp/cases``) cover the read as compile uses it.
"""

from __future__ import annotations

from typing import Any

import pytest

from portsync.evaluate import access_of
from portsync.model import Direction, PortRange, Protocol, TargetRule
from portsync.owners import NamedOwners
from portsync.providers.gcp import translate
from portsync.providers.gcp.translate import ReadMemo, Writer

PROJECT = "proj-1234"
NETWORK = translate.network_url(PROJECT, "default")
OWNERS = NamedOwners(
    prefix="portsync", owner="prod-gcp", known={NamedOwners("p", "team-b").token: "team-b"}
)
#: The name stem of the current owner's firewalls, and of team-b's.
STEM = OWNERS.stem
TEAM_B = NamedOwners("portsync", "team-b").stem
ROLES = {"tag:k8s-cp": "control-plane", "tag:k8s-node": "worker"}


def _writer(*, adopt_legacy: bool = False) -> Writer:
    return Writer(
        cluster="prod-gcp",
        project=PROJECT,
        network_name="default",
        network=NETWORK,
        owners=OWNERS,
        roles_by_target=ROLES,
        adopt_legacy=adopt_legacy,
    )


def _fw(name: str, **fields: Any) -> dict[str, Any]:
    """A firewall as the API lists it: ingress on the worker tag, tcp 10250 from 10.0.0.0/8."""
    body: dict[str, Any] = {
        "name": name,
        "description": "[portsync] 10250 kubelet API",
        "network": NETWORK,
        "priority": 1000,
        "direction": "INGRESS",
        "allowed": [{"IPProtocol": "tcp", "ports": ["10250"]}],
        "sourceRanges": ["10.0.0.0/8"],
        "targetTags": ["k8s-node"],
    }
    body.update(fields)
    return body


def _expand(firewall: dict[str, Any], **kw: Any) -> list[TargetRule]:
    return translate.expand(firewall, owners=OWNERS, roles_by_target=ROLES, **kw)


def _marks(rules: list[TargetRule]) -> set[tuple[bool, str | None, bool]]:
    return {(r.owned, r.owner, r.legacy) for r in rules}


# A firewall an earlier release wrote: the prefix and the description marker, no owner digest.
LEGACY = _fw(
    "portsync-node-kubelet",
    description="[portsync] 10250 kubelet API; 10255 kubelet read-only",
    allowed=[{"IPProtocol": "tcp", "ports": ["10250", "10255"]}],
)
SPLIT = {"10250": "[portsync] kubelet API", "10255": "[portsync] kubelet read-only"}


# --------------------------------------------------------------------------- ownership


def test_ownership_leaves_a_legacy_firewall_alone_unless_adopting() -> None:
    assert translate.ownership(LEGACY, OWNERS) == (False, None, True)
    assert translate.ownership(LEGACY, OWNERS, adopt_legacy=True) == (True, None, True)


@pytest.mark.parametrize("targets", [["k8s-node", "k8s-cp"], []])
def test_a_firewall_with_the_owners_digest_but_not_one_target_is_no_ones(
    targets: list[str],
) -> None:
    """portsync only writes single-target firewalls: one with several targets (or none) was
    edited by someone else, and even the owner digest in its name claims nothing."""
    firewall = _fw(f"{STEM}-worker-tcp-1", targetTags=targets)
    assert translate.ownership(firewall, OWNERS, adopt_legacy=True) == (False, None, False)
    assert not translate.is_owned(firewall, OWNERS)
    rules = _expand(firewall, adopt_legacy=True)
    assert rules and _marks(rules) == {(False, None, False)}
    assert _marks(_writer().expand_view(translate.view_of(firewall), ReadMemo())) == {
        (False, None, False)
    }


def test_expand_adopts_a_legacy_firewall_only_when_asked() -> None:
    for rules in (_expand(LEGACY), _writer().expand(LEGACY)):
        assert _marks(rules) == {(False, None, True)}
        assert {r.ports_text: r.description for r in rules} == SPLIT
    for rules in (
        _expand(LEGACY, adopt_legacy=True),
        _writer(adopt_legacy=True).expand(LEGACY),
        _writer(adopt_legacy=True).expand_view(translate.view_of(LEGACY), ReadMemo()),
    ):
        assert _marks(rules) == {(True, None, True)}
        # Its packed description is split back per port, as for the owner's own firewalls.
        assert {r.ports_text: r.description for r in rules} == SPLIT


def test_expand_reads_another_owners_firewall_as_theirs() -> None:
    firewall = dict(LEGACY, name=f"{TEAM_B}-worker-tcp-1")
    rules = _expand(firewall, adopt_legacy=True)
    assert _marks(rules) == {(False, "team-b", False)}
    assert {r.ports_text: r.description for r in rules} == SPLIT
    unknown = _expand(dict(LEGACY, name="portsync-abcdef-worker-tcp-1"))
    assert _marks(unknown) == {(False, "#abcdef", False)}


def test_expand_reads_the_owners_firewall_as_owned_by_either_path() -> None:
    firewall = dict(LEGACY, name=f"{STEM}-worker-tcp-1")
    for rules in (
        _expand(firewall),
        _writer().expand_view(translate.view_of(firewall), ReadMemo()),
    ):
        assert _marks(rules) == {(True, "prod-gcp", False)}
        assert {r.ports_text: r.description for r in rules} == SPLIT


def test_an_unmanaged_firewall_keeps_its_whole_description() -> None:
    """Only portsync's firewalls (and other owners' and earlier releases') are packed by
    portsync; someone else's text is not split, even when it looks packed."""
    firewall = dict(LEGACY, name="team-kubelet")
    rules = _expand(firewall, adopt_legacy=True)
    assert _marks(rules) == {(False, None, False)}
    assert {r.description for r in rules} == {LEGACY["description"]}


def test_denied_rules_are_never_owned_and_deny() -> None:
    """The rules of a denying firewall are for the evaluator: never portsync's, whatever the
    name says, and each one denies at the firewall's priority."""
    for name in (f"{STEM}-worker-tcp-1", "portsync-node-kubelet"):
        denying = {k: v for k, v in LEGACY.items() if k != "allowed"}
        denying.update(name=name, priority=900, denied=LEGACY["allowed"])
        assert _expand(denying, adopt_legacy=True) == []
        rules = translate.expand_denied(denying, roles_by_target=ROLES)
        assert len(rules) == 2
        assert _marks(rules) == {(False, None, False)}
        assert {access_of(r) for r in rules} == {"deny"}
        assert {dict(r.extra)[translate.PRIORITY] for r in rules} == {"900"}
        assert {r.description for r in rules} == {LEGACY["description"]}
    assert translate.expand_denied(LEGACY, roles_by_target=ROLES) == []


def test_allowed_rules_do_not_deny() -> None:
    assert {access_of(r) for r in _expand(LEGACY)} == {"allow"}


def test_writer_binds_a_firewall_of_its_targets_or_of_every_instance() -> None:
    writer = _writer()
    assert writer.binds(["tag:k8s-node"])
    assert writer.binds(["tag:someone-else", "tag:k8s-cp"])
    assert writer.binds([])  # no target: every instance of the network
    assert not writer.binds(["tag:someone-else"])


# --------------------------------------------------------------------------- what a firewall gives


def test_expand_collapses_a_repeated_port() -> None:
    firewall = _fw("team-web", allowed=[{"IPProtocol": "tcp", "ports": ["80", "80", "443"]}])
    assert sorted(r.ports_text for r in _expand(firewall)) == ["443", "80"]


def test_expand_skips_a_port_it_cannot_read_and_reads_the_rest() -> None:
    firewall = _fw("team-web", allowed=[{"IPProtocol": "tcp", "ports": ["80", "http", "443"]}])
    assert sorted(r.ports_text for r in _expand(firewall)) == ["443", "80"]


def test_a_portsync_firewall_without_ports_gets_the_purpose_of_every_port() -> None:
    firewall = _fw(
        f"{STEM}-worker-tcp-1",
        description="[portsync] 0-65535 every tcp port",
        allowed=[{"IPProtocol": "tcp"}],
    )
    (rule,) = _expand(firewall)
    assert rule.ports == PortRange(0, 65535)
    assert rule.description == "[portsync] every tcp port"


def test_each_peer_says_which_neutral_peer_it_came_from() -> None:
    """A source tag that is the target's own is ``self``; one a role binds is that role; any
    other is from no peer portsync writes."""
    several = _fw("team-mesh", sourceRanges=[], sourceTags=["k8s-node", "k8s-cp", "other"])
    assert {str(r.peer): r.origin for r in _expand(several)} == {
        "tag:k8s-node": "self",
        "tag:k8s-cp": "role:control-plane",
        "tag:other": None,
    }
    for tag, origin in (("k8s-cp", "role:control-plane"), ("k8s-node", "self"), ("x", None)):
        (rule,) = _expand(_fw("team-one", sourceRanges=[], sourceTags=[tag]))
        assert rule.origin == origin
    (rule,) = _expand(_fw("team-cidr"))
    assert rule.origin is None


@pytest.mark.parametrize(
    ("spelling", "protocol"),
    [("tcp", Protocol.TCP), ("TCP", Protocol.TCP), (" Udp ", Protocol.UDP), ("06", Protocol.TCP)],
)
def test_expand_reads_a_protocol_in_any_spelling(spelling: str, protocol: Protocol) -> None:
    (rule,) = _expand(_fw("team-web", allowed=[{"IPProtocol": spelling, "ports": ["80"]}]))
    assert rule.protocol is protocol and rule.ports == PortRange(80, 80)


def test_expand_reads_values_that_cannot_be_remembered() -> None:
    """A firewall given as bare JSON may hold values no API answer has (lists where text is):
    an entry whose protocol is not text, or a port that is not text, gives no rule, and the
    rest of the firewall is read as usual."""
    firewall = _fw(
        "team-odd",
        allowed=[
            {"IPProtocol": ["tcp"], "ports": ["22"]},
            {"IPProtocol": "tcp", "ports": [["23"], "80"]},
        ],
        sourceRanges=[],
        sourceTags=[["k8s-cp"]],
    )
    memo = ReadMemo()
    for _ in range(2):
        rules = translate.expand(firewall, owners=OWNERS, roles_by_target=ROLES, memo=memo)
        assert [(r.protocol, r.ports_text) for r in rules] == [(Protocol.TCP, "80")]
        assert translate.APPLIES_TO not in dict(rules[0].extra)
        # Without a target it applies to every instance, and says so on each bound target.
        everywhere = translate.expand(
            dict(firewall, targetTags=[]), owners=OWNERS, roles_by_target=ROLES, memo=memo
        )
        assert sorted(r.target for r in everywhere) == sorted(ROLES)
        assert {dict(r.extra)[translate.APPLIES_TO] for r in everywhere} == {
            translate.ALL_INSTANCES
        }


@pytest.mark.parametrize(
    ("direction", "peers"),
    [
        ("EGRESS", ["cidr:192.0.2.0/24"]),
        ("egress", ["cidr:192.0.2.0/24"]),
        ("INGRESS", ["cidr:10.0.0.0/8"]),
        ("ingress", ["cidr:10.0.0.0/8"]),
        (None, ["cidr:10.0.0.0/8"]),
    ],
)
def test_a_firewall_s_peers_follow_its_direction_in_any_case(
    direction: str | None, peers: list[str]
) -> None:
    firewall = _fw("team-web", direction=direction, destinationRanges=["192.0.2.0/24"])
    rules = _expand(firewall)
    assert [str(r.peer) for r in rules] == peers
    egress = direction is not None and direction.lower() == "egress"
    assert {r.direction for r in rules} == {Direction.EGRESS if egress else Direction.INGRESS}
    assert translate.is_egress(direction or "INGRESS") is egress


def test_view_of_keeps_the_network_as_listed() -> None:
    partial = "projects/proj-1234/global/networks/default"
    assert translate.view_of(_fw("a", network=partial)).network == partial
    assert translate.view_of({"name": "a"}).network == ""


@pytest.mark.parametrize(
    ("source", "peer"),
    [
        ({"sourceTags": ["k8s-cp"]}, "tag:k8s-cp"),
        (
            {"sourceServiceAccounts": ["cp@p.iam.gserviceaccount.com"]},
            "sa:cp@p.iam.gserviceaccount.com",
        ),
        ({"sourceRanges": ["10.0.0.0/8"]}, "cidr:10.0.0.0/8"),
    ],
)
def test_group_of_reads_the_peer_from_each_source_field(
    source: dict[str, list[str]], peer: str
) -> None:
    firewall = {k: v for k, v in _fw("a").items() if k != "sourceRanges"}
    firewall.update(source)
    assert translate.group_of(firewall) == ("tag:k8s-node", "ingress", "tcp", peer)


def test_pack_keeps_the_text_of_a_rule_described_without_the_marker() -> None:
    """A live rule of portsync's whose description someone rewrote keeps that text whole when it
    is packed again (only the marker is taken off)."""
    (rule,) = _expand(_fw(f"{STEM}-worker-tcp-1", description="kubelet, by hand"))
    assert rule.owned
    (body,) = translate.pack([rule], prefix=STEM, network=NETWORK).values()
    assert body["description"] == "[portsync] 10250 kubelet, by hand"


def test_parse_description_splits_only_text_with_the_marker() -> None:
    # Ten characters, as long as the marker, before a packed-looking entry.
    assert translate.parse_description("Opened by 22 ssh", ["22"]) == {}
    assert translate.parse_description("[portsync] 22 ssh", []) == {}
    assert translate.parse_description("[portsync] 22 ssh", ["22"]) == {"22": "[portsync] ssh"}


# --------------------------------------------------------------------------- networks and listings


@pytest.mark.parametrize(
    ("value", "matches"),
    [
        (NETWORK, True),
        ("projects/proj-1234/global/networks/default", True),
        (
            "https://compute.googleapis.com/compute/v1/projects/proj-1234/global/networks/default",
            True,
        ),
        ("projects/other/global/networks/default", False),
        ("projects/proj-1234/global/networks/other", False),
        ("projects/proj-1234/global/networks/default/extra", False),
        ("default", False),
        ("", False),
        (None, False),
    ],
)
def test_a_network_is_matched_by_project_and_name(value: str | None, matches: bool) -> None:
    assert translate.network_matches(value, PROJECT, "default") is matches
    assert _writer().has_network(value) is matches
    assert _writer().on_network({"network": value}) is matches


def test_listing_of_indexes_firewalls_by_target() -> None:
    whole = {"a": _fw("a"), "b": _fw("b", targetTags=[]), "c": _fw("c")}
    targets = [("a", ["tag:k8s-node"]), ("b", []), ("c", ["tag:k8s-cp", "tag:k8s-node"])]
    found = translate.listing_of(targets, whole)
    assert dict(found.by_target) == {
        "tag:k8s-node": ("a", "c"),
        "": ("b",),
        "tag:k8s-cp": ("c",),
    }
    assert found.firewalls is whole
    assert found.count == 3 and found.one_network is True
    counted = translate.listing_of(targets, whole, count=7, one_network=False)
    assert counted.count == 7 and counted.one_network is False


def test_listing_holds_read_only_firewalls() -> None:
    found = translate.listing([_fw("a"), _fw("b", targetTags=["k8s-cp"])])
    assert found.count == 2 and found.one_network is True
    assert dict(found.by_target) == {"tag:k8s-node": ("a",), "tag:k8s-cp": ("b",)}
    with pytest.raises(TypeError):
        found.firewalls["a"]["name"] = "x"  # type: ignore[index]
    assert dict(found.firewalls["a"]) == _fw("a")
    counted = translate.listing([_fw("a")], count=40, one_network=False)
    assert counted.count == 40 and counted.one_network is False
