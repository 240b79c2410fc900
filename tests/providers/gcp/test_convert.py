"""The fast message → dict conversion gives exactly what the SDK's own ``to_dict`` gives."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

compute_v1 = pytest.importorskip("google.cloud.compute_v1")

from portsync.providers.gcp.convert import message_to_dict  # noqa: E402


def _sdk(message: Any) -> dict[str, Any]:
    data: dict[str, Any] = type(message).to_dict(message, preserving_proto_field_name=False)
    return data


FULL = {
    "id": "8124019356701726651",
    "kind": "compute#firewall",
    "creationTimestamp": "2026-11-26T10:00:00.000-08:00",
    "name": "portsync-worker-tcp-1a2b3c4d",
    "description": "[portsync] 10250 kubelet API",
    "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/default",
    "priority": 0,
    "sourceRanges": ["10.0.0.0/8"],
    "sourceTags": ["k8s-cp"],
    "targetTags": ["k8s-node", "k8s-extra"],
    "allowed": [{"IPProtocol": "tcp", "ports": ["10250", "30000-32767"]}, {"IPProtocol": "icmp"}],
    "direction": "INGRESS",
    "logConfig": {"enable": True, "metadata": "INCLUDE_ALL_METADATA"},
    "disabled": False,
    "params": {"resourceManagerTags": {"tagKeys/1": "tagValues/2"}},
    "selfLink": "https://www.googleapis.com/compute/v1/projects/p/global/firewalls/x",
}


def test_a_firewall_using_every_field_converts_like_the_sdk() -> None:
    message = compute_v1.Firewall.from_json(json.dumps(FULL))
    converted = message_to_dict(message)
    assert converted == _sdk(message)
    # Spot checks of the JSON conventions the comparison relies on.
    assert converted["id"] == FULL["id"]  # uint64 as a decimal string
    assert converted["priority"] == 0  # a set zero is kept
    assert converted["denied"] == []  # repeated fields are always present
    assert converted["params"]["resourceManagerTags"] == {"tagKeys/1": "tagValues/2"}


def test_an_empty_firewall_converts_like_the_sdk() -> None:
    message = compute_v1.Firewall()
    assert message_to_dict(message) == _sdk(message)


_names = st.from_regex(r"[a-z][-a-z0-9]{0,20}", fullmatch=True)
_entries = st.lists(
    st.fixed_dictionaries(
        {"IPProtocol": st.sampled_from(["tcp", "udp", "icmp", "all", "esp", "47"])},
        optional={"ports": st.lists(st.sampled_from(["22", "80", "1-65535", "8000-9000"]))},
    ),
    max_size=3,
)
_firewalls = st.fixed_dictionaries(
    {"name": _names},
    optional={
        "id": st.integers(min_value=0, max_value=2**64 - 1).map(str),
        "description": st.text(max_size=30),
        "priority": st.integers(min_value=0, max_value=65535),
        "direction": st.sampled_from(["INGRESS", "EGRESS"]),
        "disabled": st.booleans(),
        "sourceRanges": st.lists(st.sampled_from(["10.0.0.0/8", "2001:db8::/32", "0.0.0.0/0"])),
        "destinationRanges": st.lists(st.sampled_from(["10.1.0.0/16", "::/0"])),
        "sourceTags": st.lists(_names, max_size=3),
        "targetTags": st.lists(_names, max_size=3),
        "sourceServiceAccounts": st.lists(st.just("a@p.iam.gserviceaccount.com"), max_size=1),
        "targetServiceAccounts": st.lists(st.just("b@p.iam.gserviceaccount.com"), max_size=1),
        "allowed": _entries,
        "denied": _entries,
        "logConfig": st.fixed_dictionaries({"enable": st.booleans()}),
    },
)


@settings(max_examples=200, deadline=None)
@given(_firewalls)
def test_any_firewall_converts_like_the_sdk(body: dict[str, Any]) -> None:
    message = compute_v1.Firewall.from_json(json.dumps(body))
    assert message_to_dict(message) == _sdk(message)


# --------------------------------------------------------------------------- what a read converts


def _writer(tags: list[str]) -> Any:
    from portsync.owners import NamedOwners
    from portsync.providers.gcp.translate import Writer, network_url

    return Writer(
        cluster="c",
        project="p",
        network_name="default",
        network=network_url("p", "default"),
        owners=NamedOwners(prefix="portsync", owner="c"),
        roles_by_target={f"tag:{t}": f"role-{i}" for i, t in enumerate(tags)},
    )


@settings(max_examples=200, deadline=None)
@given(_firewalls, st.lists(_names, max_size=3))
def test_a_read_s_fields_give_the_same_rules_as_the_whole_firewall(
    body: dict[str, Any], bound: list[str]
) -> None:
    """A read converts only READ_FIELDS of each firewall: those are the whole firewall's values,
    and expanding, listing and network checks see no difference."""
    from portsync.providers.gcp import translate
    from portsync.providers.gcp.convert import Converted, items_with_fields

    message = compute_v1.Firewall.from_json(json.dumps(body))
    whole = message_to_dict(message)
    page = compute_v1.FirewallList(items=[message])
    [(fields, raw)] = items_with_fields(page, translate.READ_FIELDS)
    assert fields == {k: v for k, v in whole.items() if k in translate.READ_FIELDS}
    assert dict(Converted({"x": raw})["x"]) == whole
    writer = _writer(bound + list(body.get("targetTags") or [])[:1])
    assert writer.expand(fields) == writer.expand(whole)
    assert translate.expand_denied(
        fields, roles_by_target=writer.roles_by_target
    ) == translate.expand_denied(whole, roles_by_target=writer.roles_by_target)
    assert translate.targets_of(fields) == translate.targets_of(whole)
    assert writer.on_network(fields) == writer.on_network(whole)


def test_converted_gives_each_whole_firewall_once_and_read_only() -> None:
    from portsync.providers.gcp.convert import Converted

    first = compute_v1.Firewall.from_json(json.dumps(FULL))
    second = compute_v1.Firewall.from_json(json.dumps({"name": "b", "priority": 10}))
    raw = {"b": compute_v1.Firewall.pb(second), "a": compute_v1.Firewall.pb(first)}
    converted = Converted(raw)
    assert list(converted) == ["b", "a"] and len(converted) == 2
    assert dict(converted["a"]) == message_to_dict(first)
    assert dict(converted["b"]) == message_to_dict(second)
    assert converted["a"] is converted["a"]  # converted once
    with pytest.raises(TypeError):
        converted["a"]["name"] = "x"  # type: ignore[index]
    with pytest.raises(KeyError):
        converted["missing"]
    assert converted.get("missing") is None


def test_a_read_converts_the_named_fields_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """items_with_fields converts each item's named fields, never the whole item (that waits for
    Converted, when a write needs the firewall)."""
    from portsync.providers.gcp import convert

    calls: list[frozenset[str] | None] = []
    real = convert._pb_to_dict

    def counting(pb: Any, only: frozenset[str] | None = None) -> dict[str, Any]:
        calls.append(only)
        return real(pb, only)

    monkeypatch.setattr(convert, "_pb_to_dict", counting)
    listed = convert.items_with_fields(
        compute_v1.FirewallList(items=[compute_v1.Firewall.from_json(json.dumps(FULL))]),
        frozenset({"name", "allowed"}),
    )
    allowed = [
        {"IPProtocol": "tcp", "ports": ["10250", "30000-32767"]},
        {"IPProtocol": "icmp", "ports": []},
    ]
    assert [f for f, _m in listed] == [{"name": FULL["name"], "allowed": allowed}]
    # The item with its field set, then its two allowed entries whole (nested values are whole).
    assert calls == [frozenset({"name", "allowed"}), None, None]
