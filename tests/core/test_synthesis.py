"""Synthesis: what "All" means once clusters bind roles."""

from __future__ import annotations

from pathlib import Path

from portsync.config import load_config
from portsync.model import Peer, PortRange, Protocol, Rule, RuleSet
from portsync.provider import Settings
from portsync.providers.aws.provider import AwsProvider
from portsync.synthesis import expand_all, synthesize

FLEET = """\
catalog: kubernetes
etcd: external
sources:
  all: [203.0.113.0/24]
  load_balancers: [sg-0fff]
extra_rules:
  - role: control-plane
    protocol: tcp
    ports: 6443
    peer: role:worker
    purpose: workers reach the API server
clusters:
  - name: no-etcd-role
    provider: aws
    region: eu-west-1
    roles:
      control-plane: {security_group: sg-0aaa}
      worker: {security_group: sg-0bbb}
  - name: external-etcd
    provider: aws
    region: eu-west-1
    roles:
      control-plane: {security_group: sg-0ccc}
      worker: {security_group: sg-0ddd}
      etcd: {security_group: sg-0eee}
"""


def _api_rules(ruleset: RuleSet) -> dict[str, Rule]:
    return {
        str(r.peer): r
        for r in ruleset
        if r.role == "control-plane" and r.ports == PortRange(6443, 6443)
    }


def test_all_adds_every_bound_role_as_a_role_peer(tmp_path: Path) -> None:
    path = tmp_path / "portsync.yaml"
    path.write_text(FLEET)
    rules = _api_rules(synthesize(load_config(path)))
    assert set(rules) == {"any", "self", "role:worker", "role:etcd"}
    assert rules["role:etcd"].via_all and rules["self"].via_all
    # Asked for in its own right (extra_rules): required, even though "All" implies it too.
    assert not rules["role:worker"].via_all
    assert rules["role:worker"].purpose == "workers reach the API server; Kubernetes API server"


def test_cluster_without_a_role_of_all_skips_it_and_others_write_it(tmp_path: Path) -> None:
    path = tmp_path / "portsync.yaml"
    path.write_text(FLEET)
    loaded = load_config(path)
    ruleset = synthesize(loaded)
    peers = {}
    for cluster in loaded.config.clusters:
        provider = AwsProvider(cluster, settings=Settings())
        wanted = provider.translate(ruleset, loaded.config.sources)
        peers[cluster.name] = {r.peer.value for r in wanted if r.ports == PortRange(6443, 6443)}
    assert peers == {
        "no-etcd-role": {"203.0.113.0/24", "sg-0aaa", "sg-0bbb"},
        "external-etcd": {"203.0.113.0/24", "sg-0ccc", "sg-0ddd", "sg-0eee"},
    }


def test_expand_all_leaves_egress_and_other_peers_alone() -> None:
    ruleset = RuleSet(
        (
            Rule(
                role="worker",
                protocol=Protocol.TCP,
                ports=PortRange(443, 443),
                peer=Peer.parse("any"),
                direction="egress",
            ),  # type: ignore[arg-type]
            Rule(
                role="worker",
                protocol=Protocol.TCP,
                ports=PortRange(22, 22),
                peer=Peer.parse("cidr:10.0.0.0/8"),
            ),
        )
    )
    assert expand_all(ruleset, ["worker", "control-plane"]) == ruleset
