"""Azure translation, golden and pure (no I/O): neutral rules ⇄ security rules, priority
allocation and NSG composition, cluster config, SDK error mapping."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest
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
from portsync.providers.azure import errors as azure_errors
from portsync.providers.azure import translate
from portsync.providers.azure.limits import MAX_NAME_LENGTH, NAME_PATTERN
from portsync.providers.azure.peers import ASG
from portsync.providers.azure.provider import AzureClusterConfig
from portsync.providers.azure.translate import Binding, Change, NsgLayout

CP = Binding("control-plane", "cp-nsg", "cp-nsg", ("10.0.1.0/24",))
NODE = Binding("worker", "node-nsg", "node-nsg", ("10.0.2.0/24", "fd00:2::/64"))
BINDINGS = {"control-plane": CP, "worker": NODE}
SOURCES = ["203.0.113.0/24", "2001:db8::/32"]
BAND = (1000, 1999)
OWNERS = NamedOwners(prefix="portsync", owner="prod-azure", fold_case=True)
#: Names of the owner's rules start with this: ``portsync-<owner hash>``.
STEM = OWNERS.stem
ASG_CP = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/k8s/providers/"
    "Microsoft.Network/applicationSecurityGroups/cp-asg"
)


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
        _rule("worker", "tcp", "10250", "role:control-plane", "kubelet API"),
        _rule("worker", "tcp", "10256", "load-balancers", "kube-proxy"),
        _rule("worker", "udp", "30000-32767", "cidr:10.0.0.0/8", "NodePort UDP"),
        _rule("worker", "icmp", None, "self", "ping"),
        _rule("worker", "all", None, "cidr:0.0.0.0/0", "anything out", direction=Direction.EGRESS),
    )
)


def _native(
    name: str,
    description: str,
    protocol: str,
    port: str,
    source: str,
    destination: str,
    priority: int,
    direction: str = "Inbound",
) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            "description": description,
            "protocol": protocol,
            "sourcePortRange": "*",
            "destinationPortRange": port,
            "sourceAddressPrefix": source,
            "destinationAddressPrefix": destination,
            "access": "Allow",
            "priority": priority,
            "direction": direction,
        },
    }


#: The security rules of NEUTRAL, in key order, rendered with priorities 1000, 1001, …
GOLDEN = [
    _native(
        f"{STEM}-control-plane-tcp-2379-2380-1af80d70",
        "[portsync] etcd server client API",
        "Tcp",
        "2379-2380",
        "10.0.1.0/24",
        "10.0.1.0/24",
        1000,
    ),
    _native(
        f"{STEM}-control-plane-tcp-6443-660adacc",
        "[portsync] Kubernetes API server",
        "Tcp",
        "6443",
        "203.0.113.0/24",
        "10.0.1.0/24",
        1001,
    ),
    _native(
        f"{STEM}-worker-all-all-ac79879c",
        "[portsync] anything out",
        "*",
        "*",
        "10.0.2.0/24",
        "0.0.0.0/0",
        1002,
        direction="Outbound",
    ),
    _native(
        f"{STEM}-worker-icmp-all-c876eda2",
        "[portsync] ping",
        "Icmp",
        "*",
        "10.0.2.0/24",
        "10.0.2.0/24",
        1003,
    ),
    _native(
        f"{STEM}-worker-icmp-all-47923644",
        "[portsync] ping",
        "Icmp",
        "*",
        "fd00:2::/64",
        "fd00:2::/64",
        1004,
    ),
    _native(
        f"{STEM}-worker-tcp-10250-39b4573e",
        "[portsync] kubelet API",
        "Tcp",
        "10250",
        "10.0.1.0/24",
        "10.0.2.0/24",
        1005,
    ),
    _native(
        f"{STEM}-worker-tcp-10256-bcfeeccc",
        "[portsync] kube-proxy",
        "Tcp",
        "10256",
        "AzureLoadBalancer",
        "10.0.2.0/24",
        1006,
    ),
    _native(
        f"{STEM}-worker-udp-30000-32767-29fa3f35",
        "[portsync] NodePort UDP",
        "Udp",
        "30000-32767",
        "10.0.0.0/8",
        "10.0.2.0/24",
        1007,
    ),
]


def _desired(rules: RuleSet = NEUTRAL, **kw: Any) -> list[TargetRule]:
    options: dict[str, Any] = {"cluster": "c", "bindings": BINDINGS, "sources_all": SOURCES}
    options.update(kw)
    return translate.translate_rules(rules, **options)


def _layout(*bindings: Binding, band: tuple[int, int] = BAND, **kw: Any) -> NsgLayout:
    bindings = bindings or (CP,)
    return NsgLayout(
        nsg=bindings[0].nsg,
        where=f"NSG {bindings[0].nsg}",
        owners=OWNERS,
        band=band,
        bindings=bindings,
        **kw,
    )


def _served(rule: dict[str, Any]) -> dict[str, Any]:
    """A written rule as ARM lists it: read-only fields and empty plural lists added."""
    props = {
        "provisioningState": "Succeeded",
        **rule["properties"],
        "sourcePortRanges": [],
        "destinationPortRanges": [],
        "sourceAddressPrefixes": [],
        "destinationAddressPrefixes": [],
        **{k: v for k, v in rule["properties"].items() if k.endswith("es")},
    }
    return {
        "name": rule["name"],
        "id": f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/nsg/x/{rule['name']}",
        "etag": 'W/"1"',
        "type": "Microsoft.Network/networkSecurityGroups/securityRules",
        "properties": props,
    }


def _adds(target: str, rules: list[TargetRule]) -> Change:
    return Change(target, adds=tuple(r for r in rules if r.target == target))


def _foreign(name: str, priority: int, access: str = "Allow", **props: Any) -> dict[str, Any]:
    body = _native(name, "someone else's", "Tcp", "22", "10.9.0.0/16", "*", priority)
    body["properties"]["access"] = access
    body["properties"].update(props)
    return _served(body)


# --------------------------------------------------------------------------- neutral → native


def test_render_kubernetes_rules_match_golden_security_rules() -> None:
    rules = _desired()
    rendered = [
        translate.render(r, name=translate.rule_name(STEM, r), priority=1000 + i)
        for i, r in enumerate(rules)
    ]
    assert rendered == GOLDEN


def test_translate_rules_carry_marker_origin_and_role_side() -> None:
    rules = _desired()
    assert all(r.owned and r.description.startswith("[portsync] ") for r in rules)
    assert all(dict(r.extra).keys() == {"role_addresses"} for r in rules)
    lb = [r for r in rules if r.origin == "load-balancers"]
    assert [str(r.peer) for r in lb] == ["service-tag:AzureLoadBalancer"]


def test_translate_ipv6_source_pairs_with_ipv6_prefix_and_skips_ipv4_only_role() -> None:
    rules = _desired(RuleSet((_rule("worker", "tcp", "443", "any", "web"),)))
    pairs = sorted((r.peer.value, dict(r.extra)["role_addresses"]) for r in rules)
    assert pairs == [("2001:db8::/32", "fd00:2::/64"), ("203.0.113.0/24", "10.0.2.0/24")]
    api = _desired(RuleSet((_rule("control-plane", "tcp", "443", "any", "web"),)))
    assert [r.peer.value for r in api] == ["203.0.113.0/24"]


def test_translate_rule_with_no_peer_of_role_family_raises_translation_error() -> None:
    rules = RuleSet((_rule("control-plane", "tcp", "443", "cidr:2001:db8::/32", "v6 only"),))
    with pytest.raises(TranslationError, match="IP family"):
        _desired(rules)


def test_translate_any_without_sources_all_raises_translation_error() -> None:
    with pytest.raises(TranslationError, match=r"sources\.all") as info:
        _desired(sources_all=[])
    # Each problem carries its own hint: nothing here is about address families.
    assert "address_prefixes" not in str(info.value)


def test_translate_unbound_peer_role_raises_translation_error() -> None:
    rules = RuleSet((_rule("worker", "tcp", "2379", "role:etcd", "etcd"),))
    with pytest.raises(TranslationError, match="'etcd'"):
        _desired(rules)


def test_translate_asg_bindings_use_asg_peer_and_role_side() -> None:
    asg_node = ASG_CP.replace("cp-asg", "node-asg")
    bindings = {
        "control-plane": Binding("control-plane", "cp-nsg", "cp-nsg", asg=ASG_CP),
        "worker": Binding("worker", "node-nsg", "node-nsg", asg=asg_node),
    }
    rules = RuleSet((_rule("worker", "tcp", "10250", "role:control-plane", "kubelet API"),))
    (rule,) = _desired(rules, bindings=bindings)
    assert rule.peer == Endpoint(ASG, ASG_CP)
    body = translate.render(rule, name="n", priority=1000)["properties"]
    assert body["sourceApplicationSecurityGroups"] == [{"id": ASG_CP}]
    assert body["destinationApplicationSecurityGroups"] == [{"id": asg_node}]
    assert "sourceAddressPrefix" not in body and "destinationAddressPrefix" not in body


def test_describe_long_purpose_is_cut_to_140_characters_deterministically() -> None:
    text = translate.describe("x" * 300)
    assert len(text) == 140 and text.startswith("[portsync] x")
    assert translate.describe("x" * 300) == text
    assert translate.describe("") == "[portsync] portsync rule"


def test_rule_name_long_role_is_valid_and_at_most_80_characters() -> None:
    rule = _desired()[0].replace(role="a-very-long-role-name-" * 5)
    # The longest name_prefix (30) and the owner hash after it, as the provider writes names.
    stem = NamedOwners(prefix="portsync-with-a-long-prefix-00", owner="x").stem
    name = translate.rule_name(stem, rule)
    assert len(name) <= MAX_NAME_LENGTH
    assert NAME_PATTERN.fullmatch(name)
    assert name == translate.rule_name(stem, rule)
    assert name.endswith("-2379-2380-" + name.rsplit("-", 1)[1])


def test_unique_name_taken_name_gets_numbered_suffix() -> None:
    assert translate.unique_name("a", set()) == "a"
    assert translate.unique_name("a", {"a", "a-2"}) == "a-3"
    long = "x" * 80
    assert len(translate.unique_name(long, {long})) == 80


# --------------------------------------------------------------------------- native → neutral


def test_expand_written_rules_diff_clean_against_desired() -> None:
    desired = _desired()
    live: list[TargetRule] = []
    for rule in desired:
        binding = BINDINGS[rule.role or ""]
        raw = _served(translate.render(rule, name=translate.rule_name(STEM, rule), priority=1000))
        live += translate.expand(raw, binding=binding, owners=OWNERS, band=BAND)
    for target in ("cp-nsg", "node-nsg"):
        ops, unmanaged = diff_target(
            [r for r in desired if r.target == target], [r for r in live if r.target == target]
        )
        assert ops == [] and unmanaged == []


def test_expand_multi_source_multi_port_rule_is_expanded_and_unmanaged() -> None:
    raw = _served(_native(f"{STEM}-hand-widened", "[portsync] x", "Tcp", "22", "*", "*", 1500))
    props = raw["properties"]
    del props["sourceAddressPrefix"], props["destinationPortRange"]
    props["sourceAddressPrefixes"] = ["10.1.0.0/16", "10.2.0.0/16"]
    props["destinationPortRanges"] = ["22", "2222-2223"]
    rules = translate.expand(raw, binding=CP, owners=OWNERS, band=BAND)
    keys = sorted((r.ports_text, r.peer.value) for r in rules)
    assert keys == [
        ("22", "10.1.0.0/16"),
        ("22", "10.2.0.0/16"),
        ("2222-2223", "10.1.0.0/16"),
        ("2222-2223", "10.2.0.0/16"),
    ]
    assert not any(r.owned for r in rules)
    assert {dict(r.extra)["role_addresses"] for r in rules} == {"*"}


def test_expand_deny_rules_yield_nothing_and_esp_rules_are_modelled() -> None:
    assert (
        translate.expand(
            _foreign("deny", 1000, access="Deny"), binding=CP, owners=OWNERS, band=BAND
        )
        == []
    )
    (esp,) = translate.expand(
        _foreign("esp", 1000, protocol="Esp"), binding=CP, owners=OWNERS, band=BAND
    )
    assert esp.protocol is Protocol.ESP and esp.ports is None and not esp.owned


def test_expand_star_source_means_every_ipv4_and_ipv6_address() -> None:
    raw = _foreign("open", 300, sourceAddressPrefix="*")
    assert sorted(
        r.peer.value for r in translate.expand(raw, binding=CP, owners=OWNERS, band=BAND)
    ) == [
        "0.0.0.0/0",
        "::/0",
    ]


def test_expand_star_protocol_with_ports_is_tcp_and_udp_without_ports_is_all() -> None:
    raw = _foreign("any-proto", 300, protocol="*")
    rules = translate.expand(raw, binding=CP, owners=OWNERS, band=BAND)
    assert sorted((r.protocol.value, r.ports_text) for r in rules) == [("tcp", "22"), ("udp", "22")]
    raw["properties"]["destinationPortRange"] = "*"
    (everything,) = translate.expand(raw, binding=CP, owners=OWNERS, band=BAND)
    assert everything.protocol is Protocol.ALL


def test_expand_restricted_source_ports_show_in_extra() -> None:
    raw = _foreign("from-1024", 300, sourcePortRange="1024-65535")
    (rule,) = translate.expand(raw, binding=CP, owners=OWNERS, band=BAND)
    assert dict(rule.extra)["source_ports"] == "1024-65535"


def test_expand_owned_rule_outside_band_carries_priority_extra() -> None:
    rule = _desired()[0]
    raw = _served(translate.render(rule, name=f"{STEM}-x", priority=3000))
    (live,) = translate.expand(raw, binding=CP, owners=OWNERS, band=BAND)
    assert live.owned
    assert dict(live.extra)["priority"] == "3000 (outside priority_band 1000-1999)"
    (ops, _unmanaged) = diff_target([rule], [live])
    assert [op.action.value for op in ops] == ["update"]


def test_expand_asg_ids_match_configured_spelling_case_insensitively() -> None:
    binding = Binding("control-plane", "cp-nsg", "cp-nsg", asg=ASG_CP)
    raw = _foreign("x", 300)
    raw["properties"].pop("sourceAddressPrefix")
    raw["properties"]["sourceApplicationSecurityGroups"] = [{"id": ASG_CP.upper()}]
    (rule,) = translate.expand(
        raw, binding=binding, owners=OWNERS, band=BAND, asg_names={ASG_CP.lower(): ASG_CP}
    )
    assert rule.peer == Endpoint(ASG, ASG_CP)


# --------------------------------------------------------------------------- composing an NSG


def test_compose_new_rules_take_lowest_free_band_priorities_around_foreign_rules() -> None:
    current = [_foreign("policy-deny-telnet", 1000, access="Deny"), _foreign("mon", 1002)]
    desired = [r for r in _desired() if r.target == "cp-nsg"]
    out = translate.compose(current, [_adds("cp-nsg", desired)], _layout())
    assert out is not None
    assert out[:2] == [translate.strip(r) for r in current]
    assert [r["properties"]["priority"] for r in out[2:]] == [1001, 1003]


def test_compose_priorities_are_per_direction() -> None:
    desired = [r for r in _desired() if r.target == "node-nsg"]
    out = translate.compose([], [_adds("node-nsg", desired)], _layout(NODE))
    assert out is not None
    by_direction: dict[str, list[int]] = {}
    for rule in out:
        props = rule["properties"]
        by_direction.setdefault(props["direction"], []).append(props["priority"])
    assert by_direction == {"Outbound": [1000], "Inbound": [1000, 1001, 1002, 1003, 1004]}


def test_compose_unchanged_state_returns_none() -> None:
    desired = [r for r in _desired() if r.target == "cp-nsg"]
    out = translate.compose([], [_adds("cp-nsg", desired)], _layout())
    assert out is not None
    served = [_served(r) for r in out]
    assert translate.compose(served, [_adds("cp-nsg", desired)], _layout()) is None
    assert translate.compose(served, [Change("cp-nsg")], _layout()) is None


def test_compose_update_keeps_name_and_priority() -> None:
    desired = [r for r in _desired() if r.target == "cp-nsg"]
    served = [
        _served(r) for r in translate.compose([], [_adds("cp-nsg", desired)], _layout()) or []
    ]
    served[0]["properties"]["description"] = "[portsync] old words"
    live = _layout().live(served)["cp-nsg"]
    before = next(r for r in live if r.description == "[portsync] old words")
    after = next(r for r in desired if r.key == before.key)
    out = translate.compose(served, [Change("cp-nsg", updates=((before, after),))], _layout())
    assert out is not None
    assert out[0]["name"] == served[0]["name"]
    assert out[0]["properties"]["priority"] == served[0]["properties"]["priority"]
    assert out[0]["properties"]["description"] == after.description
    assert out[1] == translate.strip(served[1])


def test_compose_full_band_raises_provider_limit_error_naming_what_is_missing() -> None:
    current = [_foreign("policy", 1001, access="Deny")]
    desired = [r for r in _desired(sources_all=["203.0.113.0/24", "198.51.100.0/24"])]
    desired = [r for r in desired if r.target == "cp-nsg"]
    with pytest.raises(ProviderLimitError) as info:
        translate.compose(current, [_adds("cp-nsg", desired)], _layout(band=(1000, 1002)))
    message = str(info.value)
    assert "NSG cp-nsg" in message and "priority_band 1000-1002" in message
    assert "2 free inbound priorities but portsync needs 3 (1 missing)" in message
    assert "1 of the band's priorities are taken by rules portsync does not own" in message


def test_compose_more_than_1000_rules_raises_provider_limit_error() -> None:
    current = [_foreign(f"r{i}", 100 + i) for i in range(999)]
    desired = [r for r in _desired() if r.target == "cp-nsg"]
    with pytest.raises(ProviderLimitError, match="1001 security rules"):
        translate.compose(current, [_adds("cp-nsg", desired)], _layout(band=(3000, 3999)))


def test_compose_partial_removal_of_unmanaged_rule_is_refused() -> None:
    raw = _foreign("two-sources", 300)
    raw["properties"].pop("sourceAddressPrefix")
    raw["properties"]["sourceAddressPrefixes"] = ["10.1.0.0/16", "10.2.0.0/16"]
    live = _layout().live([raw])["cp-nsg"]
    with pytest.raises(ProviderLimitError, match="only some"):
        translate.compose([raw], [Change("cp-nsg", removes=(live[0],))], _layout())
    out = translate.compose([raw], [Change("cp-nsg", removes=tuple(live))], _layout())
    assert out == []


def test_compose_owned_rule_outside_band_moves_into_band() -> None:
    rule = next(r for r in _desired() if r.target == "cp-nsg")
    raw = _served(translate.render(rule, name=f"{STEM}-kept-name", priority=200))
    out = translate.compose([raw], [Change("cp-nsg")], _layout())
    assert out is not None
    assert out[0]["name"] == f"{STEM}-kept-name"
    assert out[0]["properties"]["priority"] == 1000


def test_compose_add_already_present_after_concurrent_write_is_skipped() -> None:
    desired = [r for r in _desired() if r.target == "cp-nsg"]
    served = [
        _served(r) for r in translate.compose([], [_adds("cp-nsg", desired)], _layout()) or []
    ]
    assert translate.compose(served, [_adds("cp-nsg", desired)], _layout()) is None


def test_compose_removed_rule_renamed_meanwhile_is_removed_by_key() -> None:
    rule = _desired(RuleSet((_rule("control-plane", "tcp", "9999", "self", "gone"),)))[0]
    raw = _served(translate.render(rule, name=f"{STEM}-renamed", priority=1000))
    stale = rule.replace(native_id=f"{STEM}-original-name")
    out = translate.compose([raw], [Change("cp-nsg", removes=(stale,))], _layout())
    assert out == []


def test_compose_shared_nsg_attributes_rules_by_role_side() -> None:
    cp = Binding("control-plane", "shared", "shared/control-plane", ("10.0.1.0/24",))
    node = Binding("worker", "shared", "shared/worker", ("10.0.2.0/24",))
    layout = _layout(cp, node)
    bindings = {"control-plane": cp, "worker": node}
    desired = _desired(NEUTRAL, bindings=bindings, sources_all=["203.0.113.0/24"])
    changes = [_adds(b.target, desired) for b in (cp, node)]
    out = translate.compose([], changes, layout)
    assert out is not None
    live = layout.live([_served(r) for r in out])
    for binding in (cp, node):
        wanted = [r for r in desired if r.target == binding.target]
        assert {r.key for r in live[binding.target]} == {r.key for r in wanted}
    priorities = [
        r["properties"]["priority"] for r in out if r["properties"]["direction"] == "Inbound"
    ]
    assert len(set(priorities)) == len(priorities)


def test_compose_keeps_unmanaged_rule_fields_exactly() -> None:
    odd = _foreign("odd", 300, sourcePortRanges=["1-2", "3"], sourcePortRange=None)
    odd["properties"]["x-unknown-field"] = {"kept": True}
    current = [odd]
    desired = [r for r in _desired() if r.target == "cp-nsg"]
    out = translate.compose(copy.deepcopy(current), [_adds("cp-nsg", desired)], _layout())
    assert out is not None
    assert out[0] == translate.strip(odd)
    assert "etag" not in out[0] and "provisioningState" not in out[0]["properties"]


def test_nsg_body_keeps_location_tags_and_flush_connection() -> None:
    nsg = {
        "name": "n",
        "etag": "e",
        "location": "westeurope",
        "tags": {"team": "net"},
        "properties": {"flushConnection": True, "securityRules": [], "resourceGuid": "g"},
    }
    assert translate.nsg_body(nsg, []) == {
        "location": "westeurope",
        "tags": {"team": "net"},
        "properties": {"securityRules": [], "flushConnection": True},
    }


# --------------------------------------------------------------------------- cluster config


def _cluster(**change: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "prod-azure",
        "provider": "azure",
        "subscription_id": "00000000-0000-0000-0000-000000000000",
        "resource_group": "k8s",
        "roles": {
            "control-plane": {"nsg": "cp-nsg", "address_prefixes": ["10.0.1.0/24"]},
            "worker": {"nsg": "node-nsg", "address_prefixes": ["10.0.2.7/24"]},
        },
    }
    data.update(change)
    return data


def test_config_defaults_and_canonical_prefixes() -> None:
    config = AzureClusterConfig.model_validate(_cluster())
    assert config.priority_band == (1000, 1999)
    assert config.polling_interval == 1.0 and config.name_prefix == "portsync"
    assert config.roles["worker"].address_prefixes == ["10.0.2.0/24"]


@pytest.mark.parametrize(
    "change",
    [
        {"priority_band": [99, 200]},
        {"priority_band": [2000, 1000]},
        {"priority_band": [4000, 4097]},
        {"endpoint": "http://127.0.0.1:8443"},
        {"subscription_id": "not-a-guid"},
        {"resource_group": "ends-with-dot."},
        {"name_prefix": "-bad"},
        {"credentials": "secret"},
        {"polling_interval": 0},
        {"unknown": 1},
        {"roles": {"worker": {"nsg": "n"}}},
        {"roles": {"worker": {"nsg": "n", "address_prefixes": []}}},
        {"roles": {"worker": {"nsg": "n", "address_prefixes": ["10.0.0.0/8"], "asg": ASG_CP}}},
        {"roles": {"worker": {"nsg": "n", "asg": "/not/an/asg/id"}}},
        {"roles": {"worker": {"nsg": "bad name!", "address_prefixes": ["10.0.0.0/8"]}}},
        {
            "roles": {
                "control-plane": {"nsg": "shared", "address_prefixes": ["10.0.0.0/8"]},
                "worker": {"nsg": "SHARED", "address_prefixes": ["10.0.0.0/8"]},
            }
        },
    ],
)
def test_config_invalid_values_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AzureClusterConfig.model_validate(_cluster(**change))


# --------------------------------------------------------------------------- SDK errors

#: What every ARM code of CODES becomes; every entry must appear here.
EXPECTED_CODES = {
    "AuthenticationFailed": AuthError,
    "AuthenticationFailedInvalidHeader": AuthError,
    "InvalidAuthenticationToken": AuthError,
    "InvalidAuthenticationTokenTenant": AuthError,
    "ExpiredAuthenticationToken": AuthError,
    "AuthorizationFailed": AuthError,
    "LinkedAuthorizationFailed": AuthError,
    "MissingSubscriptionRegistration": AuthError,
    "ResourceNotFound": NotFoundError,
    "ResourceGroupNotFound": NotFoundError,
    "SubscriptionNotFound": NotFoundError,
    "NotFound": NotFoundError,
    "InvalidResourceReference": NotFoundError,
    "PreconditionFailed": ConflictError,
    "AnotherOperationInProgress": ConflictError,
    "Conflict": ConflictError,
    "SubscriptionRequestsThrottled": ThrottledError,
    "TooManyRequests": ThrottledError,
    "ResourceCollectionRequestsThrottled": ThrottledError,
    "RetryableError": ThrottledError,
    "SecurityRuleCountLimitReached": ProviderLimitError,
    "SecurityRuleInvalidPriority": ProviderLimitError,
    "SecurityRuleDescriptionTooLong": ProviderLimitError,
    "QuotaExceeded": ProviderLimitError,
    "SecurityRuleConflict": ProviderError,
    "SecurityRuleInvalidAddressPrefix": ProviderError,
    "SecurityRuleInvalidPortRange": ProviderError,
    "SecurityRuleParameterContainsUnsupportedValue": ProviderError,
    "SecurityRuleParametersMissing": ProviderError,
    "SecurityRuleParameterMissing": ProviderError,
    "ResourceCannotContainAddressPrefixesFromDifferentAddressFamilies": ProviderError,
    "DuplicateResourceName": ProviderError,
    "InvalidResourceName": ProviderError,
    "InvalidResourceLocation": ProviderError,
    "LocationRequired": ProviderError,
    "InvalidRequestFormat": ProviderError,
    "InvalidRequestContent": ProviderError,
    "MissingApiVersionParameter": ProviderError,
    "InvalidApiVersionParameter": ProviderError,
    "InternalServerError": ProviderError,
    "ServiceUnavailable": ProviderError,
}


def _http_error(code: str, status: int = 400, cls_name: str = "HttpResponseError") -> Exception:
    exceptions = pytest.importorskip("azure.core.exceptions")
    exc = getattr(exceptions, cls_name)(message=f"({code}) something about {code}")
    exc.status_code = status
    exc.error = SimpleNamespace(code=code, message=f"something about {code}")
    return exc  # type: ignore[no-any-return]


def test_map_sdk_errors_every_listed_code_has_a_mapping() -> None:
    assert set(azure_errors.CODES) == set(EXPECTED_CODES)
    for code, expected in EXPECTED_CODES.items():
        with pytest.raises(expected) as info, azure_errors.map_sdk_errors("testing"):
            raise _http_error(code)
        assert type(info.value) is expected, code
        assert "Azure testing failed" in str(info.value)
        assert code in str(info.value)
        assert info.value.context["code"] == code


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, ProviderError),
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (409, ConflictError),
        (412, ConflictError),
        (429, ThrottledError),
        (500, ProviderError),
        (503, ProviderError),
    ],
)
def test_map_sdk_errors_unknown_code_falls_back_to_status(status: int, expected: type) -> None:
    with pytest.raises(expected) as info, azure_errors.map_sdk_errors("testing"):
        raise _http_error("SomethingNew", status)
    assert type(info.value) is expected


def test_map_sdk_errors_every_sdk_class_maps() -> None:
    exceptions = pytest.importorskip("azure.core.exceptions")
    for name, expected in azure_errors.SDK_ERRORS.items():
        cls = getattr(exceptions, name, None)
        if cls is None:
            identity = pytest.importorskip("azure.identity")
            cls = getattr(identity, name)
        with pytest.raises(expected), azure_errors.map_sdk_errors("testing"):
            raise cls("boom")


def test_map_sdk_errors_unreachable_endpoint_hints_at_endpoint_and_ca_bundle() -> None:
    exceptions = pytest.importorskip("azure.core.exceptions")
    with (
        pytest.raises(ProviderError, match="cannot reach") as info,
        azure_errors.map_sdk_errors("listing"),
    ):
        raise exceptions.ServiceRequestError("certificate verify failed")
    assert "ca_bundle" in str(info.value)


def test_map_sdk_errors_precondition_and_busy_are_recognised() -> None:
    with pytest.raises(ConflictError) as info, azure_errors.map_sdk_errors("writing"):
        raise _http_error("PreconditionFailed", 412)
    assert azure_errors.is_precondition_failed(info.value)
    assert not azure_errors.is_busy(info.value)
    with pytest.raises(ConflictError) as busy, azure_errors.map_sdk_errors("writing"):
        raise _http_error("AnotherOperationInProgress", 409, "ResourceExistsError")
    assert azure_errors.is_busy(busy.value)
    assert not azure_errors.is_precondition_failed(busy.value)


def test_map_sdk_errors_other_exceptions_pass_through_unchanged() -> None:
    with pytest.raises(KeyError), azure_errors.map_sdk_errors("testing"):
        raise KeyError("not an SDK error")
    assert not azure_errors.is_sdk_error(KeyError("x"))


# --------------------------------------------------------------------------- role side reach


def _asg_id(name: str) -> str:
    return (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/k8s/providers/"
        f"Microsoft.Network/applicationSecurityGroups/{name}"
    )


@pytest.mark.parametrize(
    ("items", "version", "expected"),
    [
        (["*"], 4, "yes"),
        (["VirtualNetwork"], None, "yes"),
        (["10.0.0.0/8"], 4, "yes"),
        (["10.0.2.0/25", "10.0.2.128/25"], 4, "yes"),
        (["10.0.2.0/25"], 4, "unknown"),
        (["10.0.9.0/24"], 4, "no"),
        (["10.0.0.0/8"], 6, "no"),  # the IPv6 machines are not in an IPv4 prefix
        (["10.0.0.0/8", "fd00::/8"], 6, "yes"),
        (["Internet"], 4, "no"),
        (["AzureLoadBalancer"], 4, "no"),
        (["Storage.WestEurope"], 4, "unknown"),
        ([_asg_id("x")], 4, "unknown"),  # machines by prefix may be in any ASG
        ([], 4, "unknown"),
    ],
)
def test_a_prefix_role_is_reached_only_by_a_side_proven_to_hold_it(
    items: list[str], version: int | None, expected: str
) -> None:
    from portsync.providers.azure.translate import Machines

    machines = Machines("worker", prefixes=("10.0.2.0/24", "fd00:2::/64"))
    assert machines.reach(items, version).value == expected


@pytest.mark.parametrize(
    ("complete", "items", "version", "expected"),
    [
        (False, [_asg_id("node")], None, "yes"),
        (False, [_asg_id("NODE").upper()], None, "yes"),  # ARM compares ids without case
        (False, [_asg_id("other")], None, "unknown"),  # the machines may be in it too
        (True, [_asg_id("other")], None, "no"),  # asgs lists every ASG they are in
        (True, ["0.0.0.0/0"], 4, "yes"),
        (True, ["0.0.0.0/0"], None, "unknown"),  # a peer of either family, IPv6 not held
        (True, ["0.0.0.0/0", "::/0"], None, "yes"),
        (True, ["10.0.0.0/8"], 4, "unknown"),  # the machines' addresses are not configured
    ],
)
def test_an_asg_role_is_reached_by_its_asgs_and_by_every_address(
    complete: bool, items: list[str], version: int | None, expected: str
) -> None:
    from portsync.providers.azure.translate import Machines

    machines = Machines("worker", asgs=(_asg_id("node"),), complete=complete)
    assert machines.reach(items, version).value == expected


def test_a_rule_without_reach_applies_to_its_own_target() -> None:
    from portsync.evaluate import MAY_REACH, REACHES, Match, reach_of
    from portsync.model import Endpoint, Protocol, TargetRule

    plain = TargetRule(target="t", protocol=Protocol.TCP, peer=Endpoint.cidr("10.0.0.0/8"))
    assert reach_of(plain, "worker") is Match.YES  # AWS and GCP rules say nothing
    said = plain.replace(extra=((MAY_REACH, "worker"), (REACHES, "control-plane")))
    assert reach_of(said, "control-plane") is Match.YES
    assert reach_of(said, "worker") is Match.UNKNOWN
    assert reach_of(said, "etcd") is Match.NO
    assert reach_of(said, None) is Match.NO
