"""The fast message → dict conversion gives exactly what the SDK's own ``to_dict`` gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

compute_v1 = pytest.importorskip("google.cloud.compute_v1")

from portsync import api  # noqa: E402
from portsync.config import load_config  # noqa: E402
from portsync.owners import NamedOwners  # noqa: E402
from portsync.providers.gcp import translate  # noqa: E402
from portsync.providers.gcp.convert import (  # noqa: E402
    message_to_dict,
    targets_of_message,
    view_of_message,
)
from portsync.providers.gcp.translate import Writer  # noqa: E402


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

OWNER = "c"
STEM = NamedOwners(prefix="portsync", owner=OWNER).stem
OTHER_STEM = NamedOwners(prefix="portsync", owner="other").stem

# Firewalls as a read meets them: portsync's own (named with the owner's digest, described with
# the packed port purposes), another owner's, a legacy one, anyone's; entries, ranges and tags that
# repeat (rules that collapse), a bound tag as a source (origins), entries without a protocol.
_tags = st.sampled_from(["web", "db", "cp", "other"])
_ports = st.lists(st.sampled_from(["22", "80", "80", "1-65535", "8000-9000", "x"]), max_size=4)
_read_entries = st.one_of(
    # A few lists many firewalls of one read share, and any list.
    st.sampled_from(
        [
            [{"IPProtocol": "tcp", "ports": ["22", "80"]}],
            [{"IPProtocol": "tcp", "ports": ["80", "80"]}],
            [{"ports": ["22"]}],
            [{"IPProtocol": "icmp"}],
            [{"IPProtocol": "udp", "ports": ["8000-9000", "x"]}, {"IPProtocol": "6", "ports": []}],
        ]
    ),
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "IPProtocol": st.sampled_from(["tcp", "udp", "icmp", "all", "esp", "6", "TCP"]),
                "ports": _ports,
            },
        ),
        max_size=3,
    ),
)
_read_names = st.one_of(
    _names.map(lambda n: f"{STEM}-{n}"),
    _names,
    _names.map(lambda n: f"{OTHER_STEM}-{n}"),
    _names.map(lambda n: f"portsync-{n}"),
)
_descriptions = st.one_of(
    st.text(max_size=20),
    st.just("[portsync] 22 ssh; 80 web; 80 again"),
    st.just("[portsync] 8000-9000 apps; with a semicolon"),
    st.just("[portsync] one purpose"),
)
_ranges = st.one_of(
    st.sampled_from([["10.0.0.0/8"], ["10.0.0.0/8", "10.0.0.1/8"]]),
    st.lists(
        st.sampled_from(["10.0.0.0/8", "10.0.0.1/8", "2001:db8::/32", "0.0.0.0/0"]), max_size=3
    ),
)
_READ_OPTIONAL: dict[str, st.SearchStrategy[Any]] = {
    "description": _descriptions,
    "network": st.sampled_from(
        [
            "https://www.googleapis.com/compute/v1/projects/p/global/networks/default",
            "projects/p/global/networks/default",
            "https://www.googleapis.com/compute/v1/projects/p/global/networks/other",
        ]
    ),
    "priority": st.sampled_from([0, 1, 1000, 65535]),
    "direction": st.sampled_from(["INGRESS", "EGRESS", "egress"]),
    "disabled": st.booleans(),
    "sourceRanges": _ranges,
    "destinationRanges": _ranges,
    "sourceTags": st.lists(_tags, max_size=2),
    # Mostly one bound target, as portsync's own firewalls have.
    "targetTags": st.one_of(st.just(["web"]), st.lists(_tags, max_size=2)),
    "sourceServiceAccounts": st.lists(st.just("a@p.iam.gserviceaccount.com"), max_size=1),
    "targetServiceAccounts": st.lists(st.just("b@p.iam.gserviceaccount.com"), max_size=1),
    "allowed": _read_entries,
    "denied": _read_entries,
    "logConfig": st.fixed_dictionaries({"enable": st.booleans()}),
}
_read_firewalls = st.fixed_dictionaries({"name": _read_names}, optional=_READ_OPTIONAL)


def _writer(tags: list[str], *, adopt_legacy: bool = False) -> Writer:
    return Writer(
        cluster=OWNER,
        project="p",
        network_name="default",
        network=translate.network_url("p", "default"),
        owners=NamedOwners(prefix="portsync", owner=OWNER, known={}),
        roles_by_target={f"tag:{t}": f"role-{i}" for i, t in enumerate(dict.fromkeys(tags))},
        adopt_legacy=adopt_legacy,
    )


def _message(body: dict[str, Any]) -> Any:
    return compute_v1.Firewall.pb(compute_v1.Firewall.from_json(json.dumps(body)))


@settings(max_examples=300, deadline=None)
@given(_firewalls)
def test_a_message_s_view_is_the_view_of_its_whole_conversion(body: dict[str, Any]) -> None:
    """What a read reads from a message is what the JSON shape of the whole firewall shows."""
    pb = _message(body)
    whole = message_to_dict(compute_v1.Firewall.wrap(pb))
    view = view_of_message(pb)
    assert view == translate.view_of(whole)
    assert view_of_message(pb, translate.targets_of(whole)) == view
    assert targets_of_message(pb) == translate.targets_of(whole) == view.targets


# The fields other firewalls of a read change; the ones the read remembers values of come twice.
_FIELDS = [
    "name",
    *_READ_OPTIONAL,
    *["description", "direction", "priority", "allowed", "sourceRanges", "destinationRanges"],
]
# One read's firewalls: a first one, and others that differ from it in a field or two (so that
# what the read remembers is met again, and met with one value changed).
_reads = st.tuples(
    _read_firewalls,
    st.lists(st.tuples(_read_firewalls, st.sets(st.sampled_from(_FIELDS), max_size=2)), max_size=5),
).map(
    lambda read: [
        read[0],
        *(
            {
                **{k: v for k, v in read[0].items() if k not in changed},
                **{k: v for k, v in other.items() if k in changed},
            }
            for other, changed in read[1]
        ),
    ]
)


@settings(max_examples=300, deadline=None)
@given(_reads, st.lists(_tags, max_size=3).map(lambda tags: ["web", *tags]), st.booleans())
def test_a_read_s_rules_are_the_rules_of_the_whole_firewalls(
    bodies: list[dict[str, Any]], bound: list[str], adopt_legacy: bool
) -> None:
    """Expanding firewalls straight from their messages, with one memo for the whole read,
    gives each firewall the rules expanding its whole JSON shape alone gives: allowed rules,
    denied rules, owners, origins, collapsed repeats; and the same targets and network check."""
    writer = _writer(bound, adopt_legacy=adopt_legacy)
    memo = translate.ReadMemo()
    for body in bodies:
        pb = _message(body)
        whole = message_to_dict(compute_v1.Firewall.wrap(pb))
        view = view_of_message(pb)
        fresh = writer.expand(whole) + translate.expand_denied(
            whole, roles_by_target=writer.roles_by_target
        )
        assert writer.expand_view(view, memo) == fresh
        assert [r.key for r in writer.expand_view(view, memo)] == [r.key for r in fresh]
        # A firewall's repeated ports, peers or targets collapse into one rule each.
        assert len({r.key for r in fresh}) == len(fresh)
        assert writer.binds(view.targets) == bool(writer.binds(translate.targets_of(whole)))
        assert writer.has_network(view.network) == writer.on_network(whole)


_OWNED = {
    "name": f"{STEM}-web-tcp-1",
    "targetTags": ["web"],
    "description": "[portsync] 22 ssh; 80 web",
    "sourceRanges": ["10.0.0.0/8"],
    "destinationRanges": ["10.2.0.0/16"],
    "priority": 1000,
    "allowed": [{"IPProtocol": "tcp", "ports": ["22", "80"]}],
}


_EGRESS = {"direction": "EGRESS"}


@pytest.mark.parametrize(
    ("first", "change"),
    [
        ({}, {"description": "[portsync] 22 other; 80 web"}),
        ({}, {"description": "not packed"}),
        ({}, {"name": f"{OTHER_STEM}-web-tcp-1"}),
        ({}, {"name": "someone-s"}),
        ({}, {"direction": "EGRESS"}),
        ({}, {"priority": 10}),
        ({}, {"targetTags": []}),
        ({}, {"targetTags": ["web", "web"]}),
        ({}, {"denied": [{"IPProtocol": "tcp", "ports": ["22", "80"]}]}),
        ({}, {"allowed": [{"IPProtocol": "tcp", "ports": ["22", "22"]}]}),
        ({}, {"sourceRanges": ["10.0.0.0/8", "10.0.0.1/8"]}),
        ({}, {"sourceRanges": [], "sourceTags": ["db"]}),
        ({}, {"destinationRanges": []}),
        (_EGRESS, {"destinationRanges": ["10.3.0.0/16"]}),
        (_EGRESS, {"destinationRanges": []}),
        (_EGRESS, {"sourceRanges": ["10.3.0.0/16"]}),
    ],
)
def test_a_read_remembers_each_value_by_all_it_depends_on(
    first: dict[str, Any], change: dict[str, Any]
) -> None:
    """Two firewalls of one read that differ in one field, in either order and again: each gets
    the rules expanding it alone gives."""
    one = {**_OWNED, **first}
    other = {**one, **change}
    writer = _writer(["web", "db"])
    for order in ([one, other, one], [other, one, other]):
        memo = translate.ReadMemo()
        for body in order:
            whole = message_to_dict(compute_v1.Firewall.wrap(_message(body)))
            fresh = writer.expand(whole) + translate.expand_denied(
                whole, roles_by_target=writer.roles_by_target
            )
            assert fresh  # every variant has rules on a bound target
            assert len({r.key for r in fresh}) == len(fresh)
            assert writer.expand_view(view_of_message(_message(body)), memo) == fresh


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


def test_each_read_works_its_values_out_again(
    monkeypatch: pytest.MonkeyPatch, gcp_emulator: Any, tmp_path: Path
) -> None:
    """What a read remembers lives for that read: a second plan of the same config parses its
    firewalls' entries again."""
    parsed: list[Any] = []
    real = translate._parsed_entries

    def counting(raw: Any) -> Any:
        parsed.append(raw)
        return real(raw)

    monkeypatch.setattr(translate, "_parsed_entries", counting)
    config = {
        "extra_rules": [
            {"role": "web", "protocol": "tcp", "ports": 443, "peer": "cidr:10.0.0.0/8"},
            {"role": "db", "protocol": "tcp", "ports": 5432, "peer": "cidr:10.0.0.0/8"},
        ],
        "clusters": [
            {
                "name": "c",
                "provider": "gcp",
                "project": "portsync-test",
                "endpoint": gcp_emulator.url,
                "credentials": "anonymous",
                "roles": {"web": {"target_tag": "web"}, "db": {"target_tag": "db"}},
            }
        ],
    }
    path = tmp_path / "portsync.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    loaded = load_config(path)
    api.apply(loaded)
    parsed.clear()
    assert api.plan(loaded).is_empty()
    assert len(parsed) == 2  # the two firewalls' allowed lists differ
    assert api.plan(loaded).is_empty()
    assert len(parsed) == 4
