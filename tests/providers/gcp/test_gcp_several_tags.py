"""Roles whose machines carry several network tags, on the GCP emulator.

The layout is CAPG's for a cluster named ``capg`` on the ``default`` network (control-plane
instances tagged ``capg-control-plane``, nodes ``capg-node``; ``allow-capg-cluster`` admits every
protocol between the two tags, ``allow-capg-healthchecks`` the health checkers to 6443), and
each role also carries a tag of the user's own (``ps-control-plane``, ``ps-node``) that portsync
writes to. Every role is bound to both of its tags: ``target_tags: [own, capg], write_to: own``.
The last test binds what ``portsync init --discover gcp`` proposes instead: CAPG's role tag and
the cluster's name, which CAPG puts on every instance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from portsync import api
from portsync.audit import audit
from portsync.cli import app
from portsync.config import load_config, parse_config
from portsync.errors import ConfigError
from portsync.explain import Answer, Explanation, explain, parse_destination, parse_source
from portsync.ops import Plan
from portsync.providers.gcp import translate
from portsync.providers.gcp.emulator import GcpEmulator

pytest.importorskip("google.cloud.compute_v1", reason="needs portsync[gcp]")

CP, NODE = "capg-control-plane", "capg-node"
OWN_CP, OWN_NODE = "ps-control-plane", "ps-node"
HEALTH_CHECKS = ["35.191.0.0/16", "130.211.0.0/22"]
MUTATIONS = ("firewalls.insert", "firewalls.patch", "firewalls.update", "firewalls.delete")
SEVERAL = {
    "control-plane": {"target_tags": [OWN_CP, CP], "write_to": OWN_CP},
    "worker": {"target_tags": [OWN_NODE, NODE]},  # written to the first
}
ONE_EACH = {"control-plane": {"target_tag": OWN_CP}, "worker": {"target_tag": OWN_NODE}}

runner = CliRunner()


def _capg_firewalls(network: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "allow-capg-cluster",
            "network": network,
            "direction": "INGRESS",
            "priority": 1000,
            "allowed": [{"IPProtocol": "all"}],
            "sourceTags": [CP, NODE],
            "targetTags": [CP, NODE],
        },
        {
            "name": "allow-capg-healthchecks",
            "network": network,
            "direction": "INGRESS",
            "priority": 1000,
            "allowed": [{"IPProtocol": "tcp", "ports": ["6443"]}],
            "sourceRanges": HEALTH_CHECKS,
            "targetTags": [CP],
        },
    ]


class Layout:
    def __init__(self, emulator: GcpEmulator, project: str, tmp_path: Path) -> None:
        self.emulator, self.project = emulator, project
        self.network = translate.network_url(project, "default")
        emulator.seed(project, _capg_firewalls(self.network))
        self.config = tmp_path / "portsync.yaml"
        self.write(SEVERAL)

    def write(self, roles: dict[str, Any], **top: Any) -> None:
        data: dict[str, Any] = {
            "sources": {"all": ["203.0.113.0/24"], "load_balancers": HEALTH_CHECKS},
            "clusters": [
                {
                    "name": "capg",
                    "provider": "gcp",
                    "project": self.project,
                    "endpoint": self.emulator.url,
                    "credentials": "anonymous",
                    "roles": roles,
                }
            ],
            **top,
        }
        self.config.write_text(yaml.safe_dump(data, sort_keys=False))

    def plan(self) -> Plan:
        return api.plan(load_config(self.config))

    def firewalls(self) -> dict[str, dict[str, Any]]:
        return {fw["name"]: fw for fw in self.emulator.firewalls(self.project)}

    def mutations(self) -> int:
        return sum(self.emulator.calls[m] for m in MUTATIONS)

    def explain(self, source: str, destination: str) -> Explanation:
        loaded = load_config(self.config)
        return explain(loaded, parse_source(source), parse_destination(destination))


@pytest.fixture
def layout(gcp_emulator: GcpEmulator, gcp_project: str, tmp_path: Path) -> Layout:
    return Layout(gcp_emulator, gcp_project, tmp_path)


def _allowing_firewalls(answer: Explanation) -> set[str]:
    return {
        match.rule.native_id or ""
        for cluster in answer.clusters
        for target in cluster.targets
        for endpoint in target.endpoints
        for match in endpoint.deciding
        if match.access == "allow"
    }


#: Flows only CAPG's ``allow-capg-cluster`` admits: it targets and trusts the CAPG tags, which
#: are not the tags portsync writes to.
CAPG_FLOWS = [
    ("role:worker", "control-plane:6443/tcp"),
    ("role:control-plane", "worker:10250/tcp"),
    ("role:control-plane", "control-plane:2380/tcp"),
    ("role:worker", "worker:10250/tcp"),
]


@pytest.mark.parametrize(("source", "destination"), CAPG_FLOWS)
def test_explain_allows_through_a_tag_that_is_not_written_to(
    layout: Layout, source: str, destination: str
) -> None:
    answer = layout.explain(source, destination)
    assert answer.answer is Answer.ALLOWED
    assert "allow-capg-cluster" in _allowing_firewalls(answer)


def test_bound_to_its_own_tag_alone_a_role_is_denied_what_capg_allows(layout: Layout) -> None:
    layout.write(ONE_EACH)
    assert layout.explain("role:worker", "control-plane:6443/tcp").answer is Answer.DENIED


def test_health_checks_are_allowed_through_the_capg_tag(layout: Layout) -> None:
    answer = layout.explain("35.191.0.10", "control-plane:6443/tcp")
    assert answer.answer is Answer.ALLOWED
    assert _allowing_firewalls(answer) == {"allow-capg-healthchecks"}


def test_plan_targets_only_the_written_tags_and_adds_nothing_capg_covers(layout: Layout) -> None:
    plan = layout.plan()
    assert {g.target for g in plan.groups} == {f"tag:{OWN_CP}", f"tag:{OWN_NODE}"}
    satisfied = {
        (g.role, s.rule.ports_text, s.rule.origin): {r.native_id for r in s.by}
        for g in plan.groups
        for s in g.satisfied
    }
    assert satisfied[("control-plane", "2379-2380", "self")] == {"allow-capg-cluster"}
    assert satisfied[("worker", "10250", "role:control-plane")] == {"allow-capg-cluster"}
    assert satisfied[("control-plane", "6443", "role:worker")] == {"allow-capg-cluster"}
    adds = [op.rule for g in plan.groups for op in g.adds]
    assert adds, "the table's flows from outside the cluster are still added"
    # Nothing between the cluster's machines is added again, no rule twice, and every added
    # rule goes to the written tag of its role.
    assert all(r.origin not in ("self", "role:control-plane", "role:worker") for r in adds)
    assert len({r.key for r in adds}) == len(adds)
    written = {"control-plane": f"tag:{OWN_CP}", "worker": f"tag:{OWN_NODE}"}
    assert all(r.target == written[r.role] for r in adds)


def test_apply_writes_only_for_the_written_tags_and_converges(layout: Layout) -> None:
    before = layout.firewalls()
    api.apply(load_config(layout.config))
    after = layout.firewalls()
    added = {name: fw for name, fw in after.items() if name not in before}
    assert added
    for firewall in added.values():
        assert firewall["targetTags"] in ([OWN_CP], [OWN_NODE]), firewall
    # CAPG's firewalls are as they were.
    for name in ("allow-capg-cluster", "allow-capg-healthchecks"):
        assert translate.canonical(after[name]) == translate.canonical(before[name])
    assert layout.plan().is_empty()


def test_a_firewall_on_a_tag_other_than_write_to_counts_for_coverage(layout: Layout) -> None:
    layout.write(
        SEVERAL,
        extra_rules=[
            {"role": "worker", "protocol": "tcp", "ports": 22, "peer": "cidr:10.1.0.0/16"}
        ],
    )
    plan = layout.plan()
    worker = next(g for g in plan.groups if g.role == "worker")
    assert any(op.rule.ports_text == "22" for op in worker.adds)
    layout.emulator.seed(
        layout.project,
        [
            {
                "name": "ssh-from-office",
                "network": layout.network,
                "direction": "INGRESS",
                "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}],
                "sourceRanges": ["10.0.0.0/8"],
                "targetTags": [NODE],
            }
        ],
    )
    worker = next(g for g in layout.plan().groups if g.role == "worker")
    assert not any(op.rule.ports_text == "22" for op in worker.adds)
    ssh = [s for s in worker.satisfied if s.rule.ports_text == "22"]
    assert [(r.target, r.native_id) for r in ssh[0].by] == [(f"tag:{NODE}", "ssh-from-office")]
    answer = layout.explain("10.1.2.3", "worker:22/tcp")
    assert answer.answer is Answer.ALLOWED
    assert _allowing_firewalls(answer) == {"ssh-from-office"}


def test_audit_reads_every_tag_of_a_role(layout: Layout) -> None:
    layout.emulator.seed(
        layout.project,
        [
            {
                "name": "kubelet-open",
                "network": layout.network,
                "direction": "INGRESS",
                "allowed": [{"IPProtocol": "tcp", "ports": ["10250"]}],
                "sourceRanges": ["0.0.0.0/0"],
                "targetTags": [NODE],
            }
        ],
    )
    report = audit(load_config(layout.config))
    exposed = [f for f in report.findings if f.rule.native_id == "kubelet-open"]
    assert exposed, "the kubelet opened to the world on the CAPG tag is reported"
    assert {f.target for f in exposed} == {f"tag:{NODE}"}


def _bindings(roles: str) -> str:
    return (
        "clusters:\n  - name: c\n    provider: gcp\n    project: my-project\n"
        f"    roles: {{{roles}}}\n"
    )


def test_a_tag_shared_by_two_roles_is_allowed_unless_both_write_to_it() -> None:
    shared = "control-plane: {target_tags: [cp, node], write_to: cp}, worker: {target_tag: node}"
    parse_config(_bindings(shared))
    both_lists = "control-plane: {target_tags: [cp, lb]}, worker: {target_tags: [node, lb]}"
    parse_config(_bindings(both_lists))
    both = "control-plane: {target_tags: [node, cp]}, worker: {target_tag: node}"
    with pytest.raises(ConfigError, match=r"both write to tag:node") as caught:
        parse_config(_bindings(both))
    assert "clusters.0.roles" in str(caught.value)
    stray = "worker: {target_tags: [node], write_to: lb}"
    with pytest.raises(ConfigError, match=r"write_to lb is not one of target_tags"):
        parse_config(_bindings(stray))
    alone = "worker: {target_tag: node, write_to: node}"
    with pytest.raises(ConfigError, match=r"write_to goes with target_tags"):
        parse_config(_bindings(alone))
    mixed = "worker: {target_tag: node, target_tags: [node]}"
    with pytest.raises(ConfigError, match=r"give exactly one of target_tag"):
        parse_config(_bindings(mixed))
    twice = "worker: {target_tags: [node, node]}"
    with pytest.raises(ConfigError, match=r"target_tags lists a network tag twice"):
        parse_config(_bindings(twice))


def test_both_roles_writing_to_one_tag_is_refused_before_any_cloud_call(layout: Layout) -> None:
    layout.write(
        {
            "control-plane": {"target_tags": [NODE, CP]},
            "worker": {"target_tags": [NODE, OWN_NODE], "write_to": NODE},
        }
    )
    before = dict(layout.emulator.calls)
    for command in (["plan"], ["apply", "--auto-approve"], ["explain", "any", "worker:22/tcp"]):
        result = runner.invoke(app, ["--config", str(layout.config), *command])
        assert result.exit_code == 1, result.output
        assert "roles 'control-plane' and 'worker' both write to tag:capg-node" in result.stderr
        assert "write_to" in result.stderr
    assert dict(layout.emulator.calls) == before


# --- coverage across roles: what another role's target will hold after the plan --------------

SSH_FROM = "cidr:10.1.0.0/16"


def _ssh(role: str) -> dict[str, Any]:
    return {"role": role, "protocol": "tcp", "ports": 22, "peer": SSH_FROM}


def test_a_rule_the_same_plan_removes_from_another_roles_tag_covers_nothing(
    layout: Layout,
) -> None:
    # The control plane's machines carry the worker's written tag too, so the worker's ssh rule
    # admits them as well and the control plane's own is satisfied by it.
    roles = {
        "control-plane": {"target_tags": [OWN_CP, OWN_NODE], "write_to": OWN_CP},
        "worker": {"target_tag": OWN_NODE},
    }
    layout.write(roles, extra_rules=[_ssh("worker")])
    api.apply(load_config(layout.config))
    layout.write(roles, extra_rules=[_ssh("worker"), _ssh("control-plane")])
    cp = next(g for g in layout.plan().groups if g.role == "control-plane")
    ssh = [s for s in cp.satisfied if s.rule.ports_text == "22"]
    assert [r.target for s in ssh for r in s.by] == [f"tag:{OWN_NODE}"]
    # The worker's ssh goes: the plan that removes it must add the control plane's own.
    layout.write(roles, extra_rules=[_ssh("control-plane")])
    plan = layout.plan()
    worker = next(g for g in plan.groups if g.role == "worker")
    assert [op.rule.ports_text for op in worker.removes] == ["22"]
    cp = next(g for g in plan.groups if g.role == "control-plane")
    assert [op.rule.ports_text for op in cp.adds] == ["22"]
    assert not [s for s in cp.satisfied if s.rule.ports_text == "22"]
    api.apply(load_config(layout.config))
    assert layout.plan().is_empty()
    assert layout.explain("10.1.0.9", "control-plane:22/tcp").answer is Answer.ALLOWED


def test_a_rule_from_a_tag_the_peer_role_carries_covers_without_any_rule_on_its_own_tag(
    layout: Layout,
) -> None:
    # The control plane writes for ps-control-plane and also carries the tag "lb"; the only
    # rule admitting it anywhere names "lb" as its source, and no rule names its own tag.
    layout.emulator.seed(
        layout.project,
        [
            {
                "name": "kubelet-from-lb",
                "network": layout.network,
                "direction": "INGRESS",
                "allowed": [{"IPProtocol": "tcp", "ports": ["10250"]}],
                "sourceTags": ["lb"],
                "targetTags": [OWN_NODE],
            }
        ],
    )
    layout.write(
        {
            "control-plane": {"target_tags": [OWN_CP, "lb"], "write_to": OWN_CP},
            "worker": {"target_tag": OWN_NODE},
        }
    )
    plan = layout.plan()
    worker = next(g for g in plan.groups if g.role == "worker")
    kubelet = [s for s in worker.satisfied if s.rule.origin == "role:control-plane"]
    assert [s.rule.ports_text for s in kubelet] == ["10250"]
    assert [r.native_id for r in kubelet[0].by] == ["kubelet-from-lb"]
    assert not [
        op
        for op in worker.adds
        if op.rule.origin == "role:control-plane" and op.rule.ports_text == "10250"
    ]
    answer = layout.explain("role:control-plane", "worker:10250/tcp")
    assert answer.answer is Answer.ALLOWED
    assert _allowing_firewalls(answer) == {"kubelet-from-lb"}


def test_a_rehearsal_with_several_tags_converges_and_writes_nothing_live(layout: Layout) -> None:
    from portsync.rehearse import rehearse

    before, writes = layout.firewalls(), layout.mutations()
    result = rehearse(load_config(layout.config))
    assert result.ok, result.problems
    assert result.totals()["writes"] > 0
    assert layout.mutations() == writes
    assert layout.firewalls() == before


def test_text_and_markdown_name_the_tag_a_covering_rule_is_on(layout: Layout) -> None:
    def run(*args: str) -> str:
        result = runner.invoke(app, ["--config", str(layout.config), *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    by = "'all all from tag:capg-control-plane (self)'"
    text = run("plan")
    assert f"tcp 2379-2380 from tag:ps-control-plane (self)  satisfied by {by} on tag:{CP}" in (
        text
    )
    markdown = run("plan", "--output", "markdown")
    assert f"on `tag:{CP}`" in markdown
    explained = run("explain", "role:worker", "control-plane:6443/tcp")
    assert f"all all from tag:capg-node (role:worker) on tag:{CP}" in explained


def test_discovery_binds_each_role_to_its_capg_tag_and_the_clusters_and_it_works(
    layout: Layout,
) -> None:
    # CAPG tags every instance with its role's tag and the cluster's name ("capg"): a firewall
    # of the user's aimed at the cluster's tag is on every machine, so it covers both roles.
    layout.emulator.seed(
        layout.project,
        [
            {
                "name": "ssh-to-the-cluster",
                "network": layout.network,
                "direction": "INGRESS",
                "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}],
                "sourceRanges": ["10.0.0.0/8"],
                "targetTags": ["capg"],
            }
        ],
    )
    args = ["init", "--discover", "gcp", "--project", layout.project]
    args += ["--endpoint", layout.emulator.url, "--anonymous", "--out", str(layout.config)]
    result = runner.invoke(app, [*args, "--force"])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(layout.config.read_text())
    (cluster,) = data["clusters"]
    assert cluster["roles"] == {
        "control-plane": {"target_tags": [CP, "capg"], "write_to": CP},
        "worker": {"target_tags": [NODE, "capg"], "write_to": NODE},
    }
    data["sources"] = {"all": ["203.0.113.0/24"], "load_balancers": HEALTH_CHECKS}
    data["extra_rules"] = [
        {"role": role, "protocol": "tcp", "ports": 22, "peer": "cidr:10.1.0.0/16"}
        for role in ("control-plane", "worker")
    ]
    layout.config.write_text(yaml.safe_dump(data, sort_keys=False))
    for source, destination in CAPG_FLOWS:
        answer = layout.explain(source, destination)
        assert answer.answer is Answer.ALLOWED, (source, destination)
        assert "allow-capg-cluster" in _allowing_firewalls(answer)
    plan = layout.plan()
    assert {g.target for g in plan.groups} == {f"tag:{CP}", f"tag:{NODE}"}
    for group in plan.groups:
        assert not any(op.rule.ports_text == "22" for op in group.adds), group.role
        ssh = [s for s in group.satisfied if s.rule.ports_text == "22"]
        assert [(r.target, r.native_id) for r in ssh[0].by] == [("tag:capg", "ssh-to-the-cluster")]
    before = set(layout.firewalls())
    api.apply(load_config(layout.config))
    added = [fw for name, fw in layout.firewalls().items() if name not in before]
    assert added
    assert all(fw["targetTags"] in ([CP], [NODE]) for fw in added)
    assert layout.plan().is_empty()
