"""Peer resolution shared by every provider."""

from __future__ import annotations

import pytest

from portsync.errors import ProviderLimitError, TranslationError, UnsupportedFeatureError
from portsync.model import Endpoint, EndpointKind, Peer, PortRange, Protocol, Rule
from portsync.providers.aws.peers import GROUP
from portsync.providers.azure.peers import SERVICE_TAG
from portsync.resolve import TranslationProblems, resolve_peer, source_endpoint

GROUPS = {
    "control-plane": [Endpoint(GROUP, "sg-cp")],
    "worker": [Endpoint(GROUP, "sg-w")],
}


def _rule(peer: str, role: str = "worker") -> Rule:
    return Rule(
        role=role, protocol=Protocol.TCP, ports=PortRange(1, 1), peer=Peer.parse(peer), purpose="p"
    )


def _resolve(peer: str, **kwargs: object) -> list[str]:
    args: dict[str, object] = {
        "cluster": "c",
        "bindings": GROUPS,
        "sources_all": ["203.0.113.0/24"],
        "load_balancers": [Endpoint(SERVICE_TAG, "AzureLoadBalancer")],
    }
    args.update(kwargs)
    return [str(e) for e in resolve_peer(_rule(peer), **args)]  # type: ignore[arg-type]


def test_resolve_self_and_role_use_bindings() -> None:
    assert _resolve("self") == ["sg:sg-w"]
    assert _resolve("role:control-plane") == ["sg:sg-cp"]


def test_resolve_any_uses_sources_all_and_cidr_passes_through() -> None:
    assert _resolve("any") == ["cidr:203.0.113.0/24"]
    assert _resolve("cidr:10.1.2.3/8") == ["cidr:10.0.0.0/8"]


def test_resolve_load_balancers_uses_provider_meaning() -> None:
    assert _resolve("load-balancers") == ["service-tag:AzureLoadBalancer"]


def test_resolve_any_without_sources_never_means_the_world() -> None:
    with pytest.raises(TranslationError, match=r"sources\.all is not set"):
        _resolve("any", sources_all=[])


def test_resolve_unbound_role_names_it_and_how_to_bind() -> None:
    with pytest.raises(TranslationError, match="'etcd'") as info:
        _resolve("role:etcd", binding_keys="security_group")
    assert "security_group" in str(info.value)
    assert "roles.etcd" in str(info.value)


def test_resolve_missing_load_balancers_gives_provider_hint() -> None:
    with pytest.raises(TranslationError, match="load balancers") as info:
        _resolve("load-balancers", load_balancers=[], load_balancers_hint="set X")
    assert "set X" in str(info.value)


def test_translation_problems_name_every_rule_once_in_one_error() -> None:
    problems = TranslationProblems()
    problems.raise_if_any()  # nothing noted: nothing raised
    problems.add(UnsupportedFeatureError("rule a", hint="fix a"))
    problems.add(UnsupportedFeatureError("rule a", hint="fix a"))
    problems.add(UnsupportedFeatureError("rule b"))
    with pytest.raises(UnsupportedFeatureError) as info:
        problems.raise_if_any()
    assert str(info.value) == "rule a (fix a)\nrule b"


def test_translation_problems_of_mixed_kinds_raise_the_common_base() -> None:
    problems = TranslationProblems()
    problems.add(UnsupportedFeatureError("rule a"))
    problems.add(ProviderLimitError("rule b"))
    with pytest.raises(TranslationError) as info:
        problems.raise_if_any()
    assert type(info.value) is TranslationError


def test_resolve_errors_name_the_cluster_the_rule_and_the_fix() -> None:
    with pytest.raises(TranslationError) as exc:
        _resolve("any", sources_all=[])
    assert str(exc.value) == (
        "cluster c: rule worker tcp 1 (p) is open to 'All', but sources.all is not set "
        "(set sources.all to the CIDRs 'All' means (0.0.0.0/0 only if you mean it))"
    )
    with pytest.raises(TranslationError) as exc:
        _resolve("role:etcd")
    assert str(exc.value) == (
        "cluster c: rule worker tcp 1 needs peer role 'etcd', which has no binding in this "
        "cluster (bind it under clusters[c].roles.etcd)"
    )
    with pytest.raises(TranslationError) as exc:
        _resolve("load-balancers", load_balancers=[])
    assert str(exc.value) == (
        "cluster c: rule worker tcp 1 (p) names load balancers, which this cluster does not "
        "define (set sources.load_balancers)"
    )


def test_role_peer_of_all_is_skipped_where_the_role_is_not_bound() -> None:
    rule = Rule(
        role="worker",
        protocol=Protocol.TCP,
        ports=PortRange(6443, 6443),
        peer=Peer.parse("role:etcd"),
        via_all=True,
    )
    args = {"cluster": "c", "bindings": GROUPS, "sources_all": [], "load_balancers": []}
    assert resolve_peer(rule, **args) == []  # type: ignore[arg-type]
    explicit = Rule(
        role="worker",
        protocol=Protocol.TCP,
        ports=PortRange(6443, 6443),
        peer=Peer.parse("role:etcd"),
    )
    with pytest.raises(TranslationError, match="'etcd'"):
        resolve_peer(explicit, **args)  # type: ignore[arg-type]


def test_a_native_source_the_cloud_cannot_write_is_refused_where_it_is_named() -> None:
    """An AWS group in sources.all, after a CIDR the cloud can write, on a cloud that writes
    service tags only: the refusal names the rule, the sources entry, what it is and the fix."""
    with pytest.raises(UnsupportedFeatureError) as exc:
        _resolve(
            "any",
            sources_all=["203.0.113.0/24", "sg-0123"],
            cloud="Azure",
            native={SERVICE_TAG},
        )
    assert str(exc.value) == (
        "cluster c: rule worker tcp 1: sources.all entry sg-0123 is an AWS security group (only "
        "AWS security group rules can name one); Azure cannot write it (give this Azure cluster "
        "CIDRs instead (cidr: peers, or CIDRs in sources), or leave the rule to the roles of "
        "clusters on that cloud)"
    )


def test_a_load_balancer_the_cloud_cannot_write_is_refused_where_it_is_named() -> None:
    """A load balancer endpoint of a kind no provider declares (a provider's own, such as a
    network tag) is named by its text and its kind."""
    tag = Endpoint(EndpointKind("net-tag"), "lb")
    lbs = [Endpoint.cidr("10.0.0.0/8"), tag]
    with pytest.raises(UnsupportedFeatureError) as exc:
        _resolve("load-balancers", load_balancers=lbs, native=set(), cloud="GCP")
    assert str(exc.value) == (
        "cluster c: rule worker tcp 1: sources.load_balancers entry net-tag:lb is a peer of kind "
        "net-tag; GCP cannot write it (give this GCP cluster CIDRs instead (cidr: peers, or "
        "CIDRs in sources), or leave the rule to the roles of clusters on that cloud)"
    )
    # A caller that does not name its cloud gets a neutral wording.
    with pytest.raises(UnsupportedFeatureError) as exc:
        _resolve("load-balancers", load_balancers=lbs, native=set())
    assert str(exc.value).endswith(
        "; this cloud cannot write it (give this cluster CIDRs instead (cidr: peers, or CIDRs "
        "in sources), or leave the rule to the roles of clusters on that cloud)"
    )


def test_native_sources_the_cloud_writes_pass_through() -> None:
    assert _resolve("any", sources_all=["sg-0123"], native={GROUP}) == ["sg:sg-0123"]
    lbs = [Endpoint(SERVICE_TAG, "AzureLoadBalancer")]
    assert _resolve("load-balancers", load_balancers=lbs, native={SERVICE_TAG}) == [
        "service-tag:AzureLoadBalancer"
    ]


def test_pod_ranges_follow_a_roles_endpoints_once() -> None:
    pods = [Endpoint.cidr("10.244.0.0/16"), Endpoint(GROUP, "sg-w")]
    assert _resolve("self", pods=pods) == ["sg:sg-w", "cidr:10.244.0.0/16"]
    assert _resolve("role:control-plane", pods=pods) == [
        "sg:sg-cp",
        "cidr:10.244.0.0/16",
        "sg:sg-w",
    ]


def test_a_sources_entry_that_is_neither_a_cidr_nor_a_native_peer_is_refused() -> None:
    # A neutral peer parses, but names no address or native peer.
    with pytest.raises(ValueError, match=r"^'any' is not a CIDR or a native peer$"):
        source_endpoint("any")
