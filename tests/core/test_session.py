"""The session's part in ownership: clusters of one read scope share one snapshot, and a target
two selected clusters bind holds rules each of them sees with its own eyes — a rule carrying an
owner identity is owned by the cluster whose owner it names, and by no other.

No cloud: each cluster gets a provider whose read hands back prebuilt rules, so what is tested is
the session alone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from portsync.config import LoadedConfig, parse_config
from portsync.model import Direction, Endpoint, PortRange, Protocol, TargetRule
from portsync.provider import Settings, Target
from portsync.session import Session
from portsync.testing.stub import StubProvider

_OWNERS = {"b": "team-b"}
_CONFIG = yaml.safe_dump(
    {
        "catalog": [],
        "clusters": [
            {
                "name": name,
                "provider": "gcp",
                "project": "proj-one",
                "credentials": "anonymous",
                "roles": {"web": {"target_tag": "web"}},
                **({"owner": _OWNERS[name]} if name in _OWNERS else {}),
            }
            for name in "abcdef"
        ],
    }
)

SHARED, ONLY_A, ONLY_B = "shared", "only-a", "only-b"
SCOPE = ("stub", "scope-1")


def _rule(port: int, *, target: str = SHARED, owner: str | None, owned: bool) -> TargetRule:
    return TargetRule(
        target=target,
        role="web",
        direction=Direction.INGRESS,
        protocol=Protocol.TCP,
        ports=PortRange(port, port),
        peer=Endpoint.cidr("10.0.0.0/8"),
        owner=owner,
        owned=owned,
    )


#: As read: ``a``'s rule marked owned, ``team-b``'s not, one without owner, and on the targets
#: only one cluster binds, rules whose marks the session must leave alone.
READ = {
    SHARED: [
        _rule(1, owner="a", owned=True),
        _rule(2, owner="team-b", owned=False),
        _rule(3, owner=None, owned=False),
        _rule(4, owner=None, owned=True),  # an adopted legacy rule: no owner identity
        _rule(5, owner="someone-else", owned=False),
    ],
    ONLY_A: [_rule(6, target=ONLY_A, owner="team-b", owned=True)],
    ONLY_B: [_rule(7, target=ONLY_B, owner="a", owned=True)],
}


#: What clusters d and e read: a rule their reads mark owned although it names owner a.
OTHER_SCOPE = {SHARED: [_rule(8, owner="a", owned=True)]}


def _session(
    selected: Sequence[str] = (),
) -> tuple[Session, dict[str, list[list[Target]]]]:
    """A session over the six clusters, each with a stub provider; returns the reads each
    provider made."""
    loaded: LoadedConfig = parse_config(_CONFIG)
    session = Session(loaded, Settings())
    # Cluster a and b share one read scope (c binds nothing in it); d has another, and e and f
    # name none, so each is a scope of its own. d, e and f each bind the shared target's id
    # alone, and read it as their own.
    bindings: dict[str, tuple[list[str], Mapping[str, list[TargetRule]], Any]] = {
        "a": ([SHARED, ONLY_A], READ, SCOPE),
        "b": ([SHARED, ONLY_B], READ, SCOPE),
        "c": ([], READ, SCOPE),
        "d": ([SHARED], OTHER_SCOPE, ("stub", "scope-2")),
        "e": ([SHARED], OTHER_SCOPE, None),
        "f": ([SHARED], OTHER_SCOPE, None),
    }
    reads: dict[str, list[list[Target]]] = {}
    for name, (ids, rules, scope) in bindings.items():
        reads[name] = []
        session.providers[name] = StubProvider(
            [Target(id=i, role="web") for i in ids], rules, read_scope=scope, reads=reads[name]
        )
    if selected:
        session.select(selected)
    return session, reads


def _owned(rules: list[TargetRule]) -> list[tuple[int, bool]]:
    return [(r.ports.from_port if r.ports else -1, r.owned) for r in rules]


def test_each_cluster_owns_the_rules_its_owner_names_on_a_shared_target() -> None:
    session, _stubs = _session()
    a = session.live(session.loaded.cluster("a"))
    b = session.live(session.loaded.cluster("b"))
    assert _owned(a[SHARED]) == [(1, True), (2, False), (3, False), (4, True), (5, False)]
    assert _owned(b[SHARED]) == [(1, False), (2, True), (3, False), (4, True), (5, False)]


def test_rules_change_only_their_ownership_and_unchanged_ones_are_the_very_rules_read() -> None:
    session, _stubs = _session()
    b = session.live(session.loaded.cluster("b"))[SHARED]
    assert [r.replace(owned=False) for r in b] == [r.replace(owned=False) for r in READ[SHARED]]
    # Rules whose marks already fit are passed on as read, not copied.
    assert all(seen is read for seen, read in zip(b[2:], READ[SHARED][2:], strict=True))


def test_a_target_only_one_cluster_binds_keeps_the_read_s_marks() -> None:
    session, _stubs = _session()
    assert _owned(session.live(session.loaded.cluster("a"))[ONLY_A]) == [(6, True)]
    assert _owned(session.live(session.loaded.cluster("b"))[ONLY_B]) == [(7, True)]


def test_a_target_is_shared_only_with_selected_clusters() -> None:
    session, _stubs = _session(["b"])
    b = session.live(session.loaded.cluster("b"))
    # Cluster a is not selected: b is the only binder, and the read's marks stand.
    assert _owned(b[SHARED]) == [(1, True), (2, False), (3, False), (4, True), (5, False)]


def test_the_clusters_of_one_scope_share_one_read_of_every_target() -> None:
    session, stubs = _session()
    for name in ("a", "b", "c"):
        session.live(session.loaded.cluster(name))
    assert session.reads == 1
    reads = [read for name in ("a", "b", "c") for read in stubs[name]]
    assert len(reads) == 1
    ids = sorted(t.id for t in reads[0])
    assert ids == sorted([SHARED, ONLY_A, SHARED, ONLY_B])
    # Each target is read as the cluster binding it (its name and owner identity).
    assert {(t.id, t.cluster, t.owner) for t in reads[0]} == {
        (SHARED, "a", "a"),
        (ONLY_A, "a", "a"),
        (SHARED, "b", "team-b"),
        (ONLY_B, "b", "team-b"),
    }


def test_live_of_chosen_targets_only() -> None:
    session, _stubs = _session()
    cluster = session.loaded.cluster("b")
    only = [t for t in session.targets(cluster) if t.id == SHARED]
    got: dict[str, Any] = session.live(cluster, only)
    assert list(got) == [SHARED]
    assert _owned(got[SHARED])[1] == (2, True)


def test_a_target_id_bound_in_another_scope_is_not_shared() -> None:
    """Clusters d, e and f bind a target of the same id, but in scopes of their own (another
    read_scope, and none named): each reads alone and its marks stand."""
    session, stubs = _session()
    session.live(session.loaded.cluster("a"))
    for name in ("d", "e", "f"):
        got = session.live(session.loaded.cluster(name))
        assert _owned(got[SHARED]) == [(8, True)]
        assert [[t.id for t in read] for read in stubs[name]] == [[SHARED]]
    assert session.reads == 4
    assert len({session.scope(session.loaded.cluster(n)) for n in ("a", "b", "d", "e", "f")}) == 4
