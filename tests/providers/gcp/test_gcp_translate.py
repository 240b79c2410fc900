"""GCP translation, golden and pure (no I/O): neutral rules ⇄ firewall bodies, config, errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from portsync.diff import diff_target
from portsync.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    ProviderError,
    ProviderLimitError,
    ThrottledError,
    TranslationError,
    UnsupportedFeatureError,
)
from portsync.model import (
    Direction,
    Endpoint,
    Peer,
    PortRange,
    Protocol,
    Rule,
    RuleSet,
    TargetRule,
)
from portsync.owners import NamedOwners
from portsync.providers.gcp import errors as gcp_errors
from portsync.providers.gcp import translate
from portsync.providers.gcp.limits import MAX_NAME_LENGTH, NAME_PATTERN
from portsync.providers.gcp.peers import SERVICE_ACCOUNT, TAG
from portsync.providers.gcp.provider import GcpClusterConfig

PROJECT = "proj-1234"
OWNERS = NamedOwners(prefix="portsync", owner="prod-gcp")
#: The name stem of the owner's firewalls: ``portsync-<owner hash>``.
STEM = OWNERS.stem
NETWORK = translate.network_url(PROJECT, "default")
CP = Endpoint(TAG, "k8s-cp")
NODE = Endpoint(TAG, "k8s-node")
TAGS = {"control-plane": CP, "worker": NODE}
ROLES_BY_TARGET = {str(ep): role for role, ep in TAGS.items()}
SOURCES = ["203.0.113.0/24", "2001:db8::/32"]


def _rule(role: str, protocol: str, ports: str | None, peer: str, purpose: str, **kw: Any) -> Rule:
    return Rule(
        role=role,
        protocol=Protocol(protocol),
        ports=PortRange.parse(ports) if ports else None,
        peer=Peer.parse(peer),
        purpose=purpose,
        **kw,
    )


NEUTRAL = RuleSet(
    (
        _rule("control-plane", "tcp", "6443", "any", "Kubernetes API server"),
        _rule("control-plane", "tcp", "2379-2380", "self", "etcd server client API"),
        _rule("control-plane", "tcp", "10250", "self", "kubelet API"),
        _rule("worker", "tcp", "10250", "role:control-plane", "kubelet API"),
        _rule("worker", "tcp", "10256", "load-balancers", "kube-proxy"),
        _rule("worker", "udp", "30000-32767", "cidr:10.0.0.0/8", "NodePort; UDP"),
        _rule("worker", "icmp", None, "self", "ping"),
        _rule("worker", "all", None, "cidr:0.0.0.0/0", "anything out", direction=Direction.EGRESS),
    )
)


def _fw(
    name: str,
    description: str,
    protocol: str,
    ports: list[str] | None,
    source: tuple[str, str],
    target: str,
    direction: str = "INGRESS",
) -> dict[str, Any]:
    entry: dict[str, Any] = {"IPProtocol": protocol}
    if ports is not None:
        entry["ports"] = ports
    return {
        "name": name,
        "description": description,
        "network": NETWORK,
        "priority": 1000,
        "direction": direction,
        "allowed": [entry],
        "disabled": False,
        source[0]: [source[1]],
        "targetTags": [target],
    }


GOLDEN = {
    f"{STEM}-control-plane-tcp-202d6331": _fw(
        f"{STEM}-control-plane-tcp-202d6331",
        "[portsync] 2379-2380 etcd server client API; 10250 kubelet API",
        "tcp",
        ["2379-2380", "10250"],
        ("sourceTags", "k8s-cp"),
        "k8s-cp",
    ),
    f"{STEM}-control-plane-tcp-c2f90c0c": _fw(
        f"{STEM}-control-plane-tcp-c2f90c0c",
        "[portsync] 6443 Kubernetes API server",
        "tcp",
        ["6443"],
        ("sourceRanges", "2001:db8::/32"),
        "k8s-cp",
    ),
    f"{STEM}-control-plane-tcp-db136339": _fw(
        f"{STEM}-control-plane-tcp-db136339",
        "[portsync] 6443 Kubernetes API server",
        "tcp",
        ["6443"],
        ("sourceRanges", "203.0.113.0/24"),
        "k8s-cp",
    ),
    f"{STEM}-worker-all-4f972d1c": _fw(
        f"{STEM}-worker-all-4f972d1c",
        "[portsync] anything out",
        "all",
        None,
        ("destinationRanges", "0.0.0.0/0"),
        "k8s-node",
        direction="EGRESS",
    ),
    f"{STEM}-worker-icmp-82d3e9f6": _fw(
        f"{STEM}-worker-icmp-82d3e9f6",
        "[portsync] ping",
        "icmp",
        None,
        ("sourceTags", "k8s-node"),
        "k8s-node",
    ),
    f"{STEM}-worker-tcp-825a89e4": _fw(
        f"{STEM}-worker-tcp-825a89e4",
        "[portsync] 10250 kubelet API",
        "tcp",
        ["10250"],
        ("sourceTags", "k8s-cp"),
        "k8s-node",
    ),
    f"{STEM}-worker-tcp-30fbda2f": _fw(
        f"{STEM}-worker-tcp-30fbda2f",
        "[portsync] 10256 kube-proxy",
        "tcp",
        ["10256"],
        ("sourceRanges", "130.211.0.0/22"),
        "k8s-node",
    ),
    f"{STEM}-worker-tcp-3ff2a773": _fw(
        f"{STEM}-worker-tcp-3ff2a773",
        "[portsync] 10256 kube-proxy",
        "tcp",
        ["10256"],
        ("sourceRanges", "35.191.0.0/16"),
        "k8s-node",
    ),
    f"{STEM}-worker-tcp-58d1d1e5": _fw(
        f"{STEM}-worker-tcp-58d1d1e5",
        "[portsync] 10256 kube-proxy",
        "tcp",
        ["10256"],
        ("sourceRanges", "2600:2d00:1:b029::/64"),
        "k8s-node",
    ),
    f"{STEM}-worker-tcp-61d222e0": _fw(
        f"{STEM}-worker-tcp-61d222e0",
        "[portsync] 10256 kube-proxy",
        "tcp",
        ["10256"],
        ("sourceRanges", "2600:2d00:1:1::/64"),
        "k8s-node",
    ),
    f"{STEM}-worker-tcp-7b307cfc": _fw(
        f"{STEM}-worker-tcp-7b307cfc",
        "[portsync] 10256 kube-proxy",
        "tcp",
        ["10256"],
        ("sourceRanges", "209.85.204.0/22"),
        "k8s-node",
    ),
    f"{STEM}-worker-tcp-cf895fa0": _fw(
        f"{STEM}-worker-tcp-cf895fa0",
        "[portsync] 10256 kube-proxy",
        "tcp",
        ["10256"],
        ("sourceRanges", "209.85.152.0/22"),
        "k8s-node",
    ),
    f"{STEM}-worker-udp-436a22f6": _fw(
        f"{STEM}-worker-udp-436a22f6",
        "[portsync] 30000-32767 NodePort, UDP",
        "udp",
        ["30000-32767"],
        ("sourceRanges", "10.0.0.0/8"),
        "k8s-node",
    ),
}


def _desired(rules: RuleSet = NEUTRAL, **kw: Any) -> list[TargetRule]:
    options: dict[str, Any] = {"cluster": "c", "bindings": TAGS, "sources_all": SOURCES}
    options.update(kw)
    return translate.translate_rules(rules, **options)


def _pack(rules: list[TargetRule]) -> dict[str, dict[str, Any]]:
    return translate.pack(rules, prefix=STEM, network=NETWORK)


def _as_served(body: dict[str, Any]) -> dict[str, Any]:
    """What the API returns for an inserted body: output fields and defaults added."""
    served = {"kind": "compute#firewall", "id": "1", "logConfig": {"enable": False}, **body}
    served["selfLink"] = f"{NETWORK.rsplit('/networks/', 1)[0]}/firewalls/{body['name']}"
    return served


def _read(bodies: dict[str, dict[str, Any]]) -> list[TargetRule]:
    return [
        rule
        for body in bodies.values()
        for rule in translate.expand(
            _as_served(body), owners=OWNERS, roles_by_target=ROLES_BY_TARGET
        )
    ]


# --------------------------------------------------------------------------- neutral → native


def test_pack_kubernetes_rules_on_tags_matches_golden_firewalls() -> None:
    assert _pack(_desired()) == GOLDEN


def test_pack_every_firewall_passes_gcp_checks() -> None:
    for body in _pack(_desired()).values():
        assert translate.check_firewall(body) == []


def test_translate_rules_descriptions_carry_marker_and_priority_in_extra() -> None:
    rules = _desired(priority=900)
    assert {r.description for r in rules} >= {"[portsync] Kubernetes API server"}
    assert all(r.owned and r.extra == (("priority", "900"),) for r in rules)
    assert {r.target for r in rules} == {"tag:k8s-cp", "tag:k8s-node"}


def test_translate_load_balancers_become_health_check_ranges() -> None:
    rules = [r for r in _desired() if r.origin == "load-balancers"]
    # Every health-check range Google publishes: the passthrough Network Load Balancers of
    # Services of type LoadBalancer probe from 209.85.152.0/22 and 209.85.204.0/22 too, and IPv6
    # backends from the two IPv6 ranges.
    assert sorted(r.peer.value for r in rules) == [
        "130.211.0.0/22",
        "209.85.152.0/22",
        "209.85.204.0/22",
        "2600:2d00:1:1::/64",
        "2600:2d00:1:b029::/64",
        "35.191.0.0/16",
    ]


def test_pack_ipv4_and_ipv6_sources_go_to_separate_firewalls() -> None:
    api = [b for b in _pack(_desired()).values() if b["allowed"][0].get("ports") == ["6443"]]
    assert sorted(b["sourceRanges"][0] for b in api) == ["2001:db8::/32", "203.0.113.0/24"]


def test_pack_service_account_bindings_use_service_account_fields() -> None:
    bindings = {
        "control-plane": Endpoint(SERVICE_ACCOUNT, "cp@p.iam.gserviceaccount.com"),
        "worker": Endpoint(SERVICE_ACCOUNT, "node@p.iam.gserviceaccount.com"),
    }
    rules = RuleSet((_rule("worker", "tcp", "10250", "role:control-plane", "kubelet API"),))
    (body,) = _pack(_desired(rules, bindings=bindings)).values()
    assert body["sourceServiceAccounts"] == ["cp@p.iam.gserviceaccount.com"]
    assert body["targetServiceAccounts"] == ["node@p.iam.gserviceaccount.com"]
    assert "sourceTags" not in body and "targetTags" not in body


def test_translate_any_without_sources_all_raises_translation_error() -> None:
    with pytest.raises(TranslationError, match=r"sources\.all"):
        _desired(sources_all=[])


def test_translate_unbound_peer_role_raises_with_binding_hint() -> None:
    rules = RuleSet((_rule("worker", "tcp", "10250", "role:etcd", "etcd"),))
    with pytest.raises(TranslationError, match="'etcd'") as info:
        _desired(rules)
    assert "roles.etcd" in str(info.value)


def test_translate_service_account_target_with_tag_peer_raises_translation_error() -> None:
    bindings = {
        "control-plane": CP,
        "worker": Endpoint(SERVICE_ACCOUNT, "node@p.iam.gserviceaccount.com"),
    }
    rules = RuleSet((_rule("worker", "tcp", "10250", "role:control-plane", "kubelet API"),))
    with pytest.raises(TranslationError, match="cannot combine"):
        _desired(rules, bindings=bindings)


def test_translate_tag_target_with_service_account_peer_raises_translation_error() -> None:
    bindings = {
        "control-plane": Endpoint(SERVICE_ACCOUNT, "cp@p.iam.gserviceaccount.com"),
        "worker": NODE,
    }
    rules = RuleSet((_rule("worker", "tcp", "10250", "role:control-plane", "kubelet API"),))
    with pytest.raises(TranslationError, match="service account cp@"):
        _desired(rules, bindings=bindings)


def test_translate_egress_to_tag_raises_unsupported_feature() -> None:
    rules = RuleSet((_rule("worker", "tcp", "443", "self", "out", direction=Direction.EGRESS),))
    with pytest.raises(UnsupportedFeatureError, match="egress"):
        _desired(rules)


def test_translate_unbound_role_rules_are_skipped() -> None:
    rules = RuleSet((_rule("etcd", "tcp", "2379", "self", "etcd"),))
    assert _desired(rules) == []


def test_check_firewall_mixed_families_and_empty_source_reported() -> None:
    body = dict(GOLDEN[f"{STEM}-control-plane-tcp-db136339"])
    body["sourceRanges"] = ["203.0.113.0/24", "2001:db8::/32"]
    assert any("IPv4 and IPv6" in p for p in translate.check_firewall(body))
    body.pop("sourceRanges")
    assert any("no source" in p for p in translate.check_firewall(body))


def test_check_firewall_long_description_reported() -> None:
    body = dict(GOLDEN[f"{STEM}-control-plane-tcp-db136339"], description="x" * 2049)
    assert any("2048" in p for p in translate.check_firewall(body))


# --------------------------------------------------------------------------- names


def test_firewall_name_is_deterministic_and_rfc1035() -> None:
    args = ("tag:k8s-cp", Direction.INGRESS, Protocol.TCP, Endpoint.cidr("10.0.0.0/8"))
    first = translate.firewall_name(STEM, "control-plane", *args)
    assert first == translate.firewall_name(STEM, "control-plane", *args)
    assert first.startswith(f"{STEM}-control-plane-tcp-")
    assert NAME_PATTERN.fullmatch(first)


def test_firewall_name_long_prefix_and_role_fit_in_63_chars() -> None:
    # The longest name_prefix, followed by an owner digest, as the provider writes names.
    name = translate.firewall_name(
        NamedOwners(prefix="p" * 30, owner="x").stem,
        "a-very-long-role-name-that-goes-on-and-on",
        "tag:t",
        Direction.EGRESS,
        Protocol.ICMP,
        Endpoint.cidr("10.0.0.0/8"),
    )
    assert len(name) <= MAX_NAME_LENGTH
    assert NAME_PATTERN.fullmatch(name)


def test_firewall_name_differs_per_peer_direction_and_target() -> None:
    base = ("tag:a", Direction.INGRESS, Protocol.TCP, Endpoint.cidr("10.0.0.0/8"))
    names = {
        translate.firewall_name("portsync", "r", *base),
        translate.firewall_name("portsync", "r", "tag:b", *base[1:]),
        translate.firewall_name("portsync", "r", base[0], Direction.EGRESS, *base[2:]),
        translate.firewall_name("portsync", "r", *base[:3], Endpoint.cidr("10.1.0.0/16")),
    }
    assert len(names) == 4


# --------------------------------------------------------------------------- native → neutral


def test_expand_golden_firewalls_round_trip_without_diff() -> None:
    desired = _desired()
    live = _read(_pack(desired))
    assert sorted(r.key for r in live) == sorted(r.key for r in desired)
    ops, unmanaged = diff_target(desired, live)
    assert ops == [] and unmanaged == []


def test_expand_packed_description_gives_each_rule_its_own_purpose() -> None:
    live = _read({"x": GOLDEN[f"{STEM}-control-plane-tcp-202d6331"]})
    assert {r.ports_text: r.description for r in live} == {
        "2379-2380": "[portsync] etcd server client API",
        "10250": "[portsync] kubelet API",
    }
    assert all(r.owned and r.native_id == f"{STEM}-control-plane-tcp-202d6331" for r in live)
    assert all(r.origin == "self" for r in live)


def test_expand_purpose_with_semicolons_round_trips_without_diff() -> None:
    rules = RuleSet(
        (
            _rule("worker", "tcp", "10250", "self", "kubelet API; metrics"),
            _rule("worker", "tcp", "10256", "self", "kube-proxy; 10250 health"),
        )
    )
    desired = _desired(rules)
    ops, _ = diff_target(desired, _read(_pack(desired)))
    assert ops == []


def test_expand_changed_priority_is_an_update_not_a_replace() -> None:
    desired = _desired()
    live = _read(_pack(_desired(priority=1000)))
    ops, _ = diff_target(_desired(priority=900), live)
    assert len(ops) == len(desired)
    assert {op.action.value for op in ops} == {"update"}


def test_parse_description_unpacked_text_gives_no_mapping() -> None:
    assert translate.parse_description("[portsync] kubelet API", ["10250"]) == {}
    assert translate.parse_description("kubelet", ["10250"]) == {}


def test_parse_description_keeps_a_semicolon_that_does_not_start_a_port_entry() -> None:
    text = "[portsync] 22 ssh; from bastion; 80 web; 8080"
    assert translate.parse_description(text, ["22", "80", "8080"]) == {
        "22": "[portsync] ssh, from bastion",
        "80": "[portsync] web",
        "8080": f"[portsync] {translate.DEFAULT_PURPOSE}",
    }
    assert translate.parse_description("[portsync] 22 ssh; 23 telnet", ["22"]) == {
        "22": "[portsync] ssh, 23 telnet"
    }


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.one_of(
            st.integers(1, 65535).map(str),
            st.tuples(st.integers(1, 60000), st.integers(1, 5000)).map(
                lambda t: f"{t[0]}-{t[0] + t[1]}"
            ),
        ),
        st.text(
            alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30
        ),
        min_size=1,
        max_size=6,
    )
)
def test_parse_description_reads_back_what_packing_writes(entries: dict[str, str]) -> None:
    text = f"{translate.MARKER} " + "; ".join(
        f"{token} {translate.clean_purpose(purpose)}" for token, purpose in entries.items()
    )
    assert translate.parse_description(text, list(entries)) == {
        token: f"{translate.MARKER} {translate.clean_purpose(purpose)}"
        for token, purpose in entries.items()
    }


def test_expand_owned_single_port_without_port_in_description_keeps_whole_text() -> None:
    body = dict(GOLDEN[f"{STEM}-worker-tcp-825a89e4"], description="[portsync] kubelet API")
    (rule,) = _read({"x": body})
    assert rule.description == "[portsync] kubelet API"
    assert rule.owned


def test_expand_disabled_or_denying_firewall_yields_nothing() -> None:
    body = GOLDEN[f"{STEM}-worker-tcp-825a89e4"]
    assert _read({"x": dict(body, disabled=True)}) == []
    denying = {k: v for k, v in body.items() if k != "allowed"}
    denying["denied"] = [{"IPProtocol": "tcp", "ports": ["10250"]}]
    assert _read({"x": denying}) == []


def test_expand_firewall_without_target_is_unmanaged_on_every_target() -> None:
    body = {
        "name": "default-allow-internal",
        "network": NETWORK,
        "direction": "INGRESS",
        "priority": 65534,
        "allowed": [{"IPProtocol": "tcp", "ports": ["0-65535"]}, {"IPProtocol": "icmp"}],
        "sourceRanges": ["10.128.0.0/9"],
    }
    rules = _read({"x": body})
    assert sorted({r.target for r in rules}) == ["tag:k8s-cp", "tag:k8s-node"]
    assert len(rules) == 4
    assert all(not r.owned for r in rules)
    assert all(dict(r.extra)["applies_to"] == "all-instances" for r in rules)


def test_expand_firewall_of_unbound_tags_is_ignored() -> None:
    body = dict(GOLDEN[f"{STEM}-worker-tcp-825a89e4"], targetTags=["someone-else"])
    assert _read({"x": body}) == []


def test_expand_multiple_sources_and_ports_give_one_rule_each() -> None:
    body = {
        "name": "allow-web",
        "description": "web",
        "network": NETWORK,
        "direction": "INGRESS",
        "allowed": [{"IPProtocol": "tcp", "ports": ["80", "443"]}, {"IPProtocol": "esp"}],
        "sourceRanges": ["10.0.0.1/8", "192.0.2.0/24"],
        "sourceTags": ["k8s-cp"],
        "targetTags": ["k8s-node", "k8s-cp"],
    }
    rules = _read({"x": body})
    # targets × (2 tcp ports + esp) × sources: esp is modelled, so it is compared and counted
    assert len(rules) == 2 * 3 * 3
    assert sum(r.protocol is Protocol.ESP for r in rules) == 2 * 3
    assert {str(r.peer) for r in rules} == {"cidr:10.0.0.0/8", "cidr:192.0.2.0/24", "tag:k8s-cp"}
    assert all(r.description == "web" and not r.owned for r in rules)


def test_expand_tcp_without_ports_means_every_port() -> None:
    body = dict(GOLDEN[f"{STEM}-worker-tcp-825a89e4"], allowed=[{"IPProtocol": "6"}])
    (rule,) = _read({"x": body})
    assert rule.protocol is Protocol.TCP and rule.ports == PortRange(0, 65535)


@pytest.mark.parametrize(
    ("change", "owned"),
    [
        ({}, True),
        ({"name": "manual-rule"}, False),
        # The description is for people; the owner digest in the name is the identity.
        ({"description": "kubelet"}, True),
        ({"targetTags": ["k8s-node", "k8s-cp"]}, False),
        # An earlier release's name, a look-alike, another owner's digest: not this owner's.
        ({"name": "portsync-worker-tcp-825a89e4"}, False),
        ({"name": "portsync-abcdef-worker-tcp-825a89e4"}, False),
        ({"name": STEM.replace("portsync", "other") + "-worker-tcp-825a89e4"}, False),
    ],
)
def test_is_owned_needs_the_owners_name_digest_and_one_target(
    change: dict[str, Any], owned: bool
) -> None:
    body = dict(GOLDEN[f"{STEM}-worker-tcp-825a89e4"], **change)
    assert translate.is_owned(body, OWNERS) is owned


@pytest.mark.parametrize(
    ("name", "description", "adopt", "expected"),
    [
        # look-alike of an earlier release: prefix and marker, no digest → legacy
        ("portsync-worker-tcp-1", "[portsync] x", False, (False, None, True)),
        ("portsync-worker-tcp-1", "[portsync] x", True, (True, None, True)),
        # no marker: plain unmanaged, never adopted
        ("portsync-worker-tcp-1", "by hand", True, (False, None, False)),
        # another owner the run knows, one it does not
        (NamedOwners("portsync", "team-b").stem + "-w-tcp-1", "", True, (False, "team-b", False)),
        ("portsync-abcdef-w-tcp-1", "[portsync] x", True, (False, "#abcdef", False)),
    ],
)
def test_ownership_reads_the_owner_from_the_name(
    name: str, description: str, adopt: bool, expected: tuple[bool, str | None, bool]
) -> None:
    owners = NamedOwners(
        prefix="portsync", owner="prod-gcp", known={NamedOwners("p", "team-b").token: "team-b"}
    )
    body = dict(GOLDEN[f"{STEM}-worker-tcp-825a89e4"], name=name, description=description)
    assert translate.ownership(body, owners, adopt_legacy=adopt) == expected


# --------------------------------------------------------------------------- comparing


def test_patch_for_identical_firewall_is_empty() -> None:
    body = GOLDEN[f"{STEM}-control-plane-tcp-202d6331"]
    assert translate.patch_for(_as_served(body), body) == ({}, False)


def test_patch_for_port_order_and_host_bits_are_not_changes() -> None:
    body = GOLDEN[f"{STEM}-control-plane-tcp-202d6331"]
    live = dict(body, allowed=[{"IPProtocol": "TCP", "ports": ["10250", "2379-2380"]}])
    assert translate.patch_for(live, body) == ({}, False)
    v4 = GOLDEN[f"{STEM}-control-plane-tcp-db136339"]
    assert translate.patch_for(dict(v4, sourceRanges=["203.0.113.9/24"]), v4) == ({}, False)


def test_patch_for_removed_port_sends_allowed_and_description_only() -> None:
    body = GOLDEN[f"{STEM}-control-plane-tcp-202d6331"]
    live = dict(
        body,
        description=body["description"] + "; 10257 kube-controller-manager",
        allowed=[{"IPProtocol": "tcp", "ports": ["2379-2380", "10250", "10257"]}],
    )
    fields, replace = translate.patch_for(live, body)
    assert not replace
    assert fields == {"description": body["description"], "allowed": body["allowed"]}


def test_patch_for_field_to_clear_needs_full_update() -> None:
    body = GOLDEN[f"{STEM}-control-plane-tcp-db136339"]
    live = dict(body, sourceTags=["extra"])
    fields, replace = translate.patch_for(live, body)
    assert replace
    assert fields["sourceRanges"] == ["203.0.113.0/24"] and "sourceTags" not in fields


def test_patch_for_disabled_firewall_enables_it() -> None:
    body = GOLDEN[f"{STEM}-control-plane-tcp-db136339"]
    assert translate.patch_for(dict(body, disabled=True), body) == ({"disabled": False}, False)


# --------------------------------------------------------------------------- config


def _cluster(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "prod",
        "provider": "gcp",
        "project": PROJECT,
        "roles": {"control-plane": {"target_tag": "k8s-cp"}, "worker": {"target_tag": "k8s-node"}},
    }
    data.update(changes)
    return data


def test_config_defaults_are_applied() -> None:
    config = GcpClusterConfig.model_validate(_cluster())
    assert (config.network, config.priority, config.name_prefix) == ("default", 1000, "portsync")
    assert config.max_workers == 8 and config.firewall_quota is None


@pytest.mark.parametrize(
    "change",
    [
        {"roles": {"worker": {"target_tag": "K8s-Node"}}},
        {"roles": {"worker": {}}},
        {
            "roles": {
                "worker": {"target_tag": "a", "service_account": "a@b.iam.gserviceaccount.com"}
            }
        },
        {"roles": {"worker": {"service_account": "not-an-email"}}},
        {"roles": {"a": {"target_tag": "same"}, "b": {"target_tag": "same"}}},
        {"priority": 70000},
        {"name_prefix": "Portsync"},
        {"name_prefix": "p" * 31},
        {"project": "Bad_Project"},
        {"region": "europe-west1"},
    ],
)
def test_config_invalid_values_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        GcpClusterConfig.model_validate(_cluster(**change))


# --------------------------------------------------------------------------- SDK errors

# What each google-api-core exception becomes; every entry of SDK_ERRORS must appear here.
EXPECTED = {
    "BadRequest": ProviderError,
    "InvalidArgument": ProviderError,
    "FailedPrecondition": ProviderError,
    "OutOfRange": ProviderError,
    "Unauthorized": AuthError,
    "Unauthenticated": AuthError,
    "Forbidden": AuthError,
    "PermissionDenied": AuthError,
    "NotFound": NotFoundError,
    "Conflict": ConflictError,
    "AlreadyExists": ConflictError,
    "Aborted": ConflictError,
    "PreconditionFailed": ConflictError,
    "TooManyRequests": ThrottledError,
    "ResourceExhausted": ThrottledError,
    "InternalServerError": ProviderError,
    "BadGateway": ProviderError,
    "ServiceUnavailable": ProviderError,
    "GatewayTimeout": ProviderError,
    "DeadlineExceeded": ProviderError,
}


def test_map_sdk_errors_every_listed_code_has_a_mapping() -> None:
    core = pytest.importorskip("google.api_core.exceptions")
    assert set(gcp_errors.SDK_ERRORS) == set(EXPECTED)
    for name, expected in EXPECTED.items():
        cls = getattr(core, name)
        with pytest.raises(expected) as info, gcp_errors.map_sdk_errors("testing"):
            raise cls("boom")
        assert type(info.value) is expected, name
        assert "GCP testing" in str(info.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 412, 429, 500, 502, 503, 504])
def test_map_sdk_errors_every_http_status_maps_to_a_listed_class(status: int) -> None:
    core = pytest.importorskip("google.api_core.exceptions")
    exc = core.from_http_status(status, "boom")
    assert any(c.__name__ in gcp_errors.SDK_ERRORS for c in type(exc).__mro__), status


def test_map_sdk_errors_rate_limited_403_is_throttled_not_auth() -> None:
    core = pytest.importorskip("google.api_core.exceptions")
    exc = core.Forbidden("quota", errors=[{"reason": "rateLimitExceeded"}])
    assert gcp_errors.is_rate_limited(exc) and gcp_errors.is_retryable(exc)
    with pytest.raises(ThrottledError), gcp_errors.map_sdk_errors("listing"):
        raise exc
    denied = core.Forbidden("no", errors=[{"reason": "forbidden"}])
    assert not gcp_errors.is_retryable(denied)


def test_map_sdk_errors_quota_exceeded_is_provider_limit_error() -> None:
    core = pytest.importorskip("google.api_core.exceptions")
    with pytest.raises(ProviderLimitError), gcp_errors.map_sdk_errors("inserting"):
        raise core.Forbidden("Quota 'FIREWALLS' exceeded", errors=[{"reason": "quotaExceeded"}])


def test_map_sdk_errors_connection_error_names_the_endpoint_hint() -> None:
    requests = pytest.importorskip("requests")
    with (
        pytest.raises(ProviderError, match="cannot reach") as info,
        gcp_errors.map_sdk_errors("listing"),
    ):
        raise requests.exceptions.ConnectionError("reset")
    assert "endpoint" in str(info.value)


def test_map_sdk_errors_retry_exhausted_on_rate_limit_is_throttled() -> None:
    core = pytest.importorskip("google.api_core.exceptions")
    cause = core.TooManyRequests("slow down")
    with pytest.raises(ThrottledError), gcp_errors.map_sdk_errors("listing"):
        raise core.RetryError("Timeout of 60.0s exceeded", cause)


@pytest.mark.parametrize(
    ("status", "retry"),
    [(429, True), (500, True), (502, True), (503, True), (504, True), (400, False), (404, False)],
)
def test_is_retryable_transient_statuses_only(status: int, retry: bool) -> None:
    core = pytest.importorskip("google.api_core.exceptions")
    assert gcp_errors.is_retryable(core.from_http_status(status, "x")) is retry


class _OpError:
    def __init__(self, code: str) -> None:
        self.code = code
        self.message = "it failed"


class _Op:
    def __init__(self, *codes: str) -> None:
        self.name = "operation-1"
        self.http_error_status_code = 500 if codes else 0
        self.error = type("E", (), {"errors": [_OpError(c) for c in codes]})()


def test_operation_error_failed_operation_maps_code() -> None:
    assert gcp_errors.operation_error("inserting", _Op()) is None
    error = gcp_errors.operation_error("inserting", _Op("INTERNAL_ERROR"))
    assert type(error) is ProviderError and "operation-1" in str(error)
    assert isinstance(gcp_errors.operation_error("x", _Op("QUOTA_EXCEEDED")), ProviderLimitError)
