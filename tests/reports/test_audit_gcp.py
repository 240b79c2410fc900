"""Audit and explain on GCP: crafted firewall states in the local Compute emulator, read by the
real FirewallsClient through the GCP provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from portsync import api
from portsync.audit import Reach, audit
from portsync.cli import app
from portsync.config import load_config
from portsync.explain import Answer, explain, parse_destination, parse_source
from portsync.ops import Plan
from portsync.providers.gcp.emulator import GcpEmulator
from portsync.providers.gcp.translate import network_url

pytest.importorskip("google.cloud.compute_v1", reason="needs portsync[gcp]")

runner = CliRunner()
CP, NODE = "k8s-cp", "k8s-node"


class World:
    """An emulated project with a config binding control-plane and worker to network tags."""

    def __init__(self, emulator: GcpEmulator, project: str, path: Path) -> None:
        self.emulator, self.project, self.path = emulator, project, path
        data: dict[str, Any] = {
            "sources": {"all": ["203.0.113.0/24"]},
            "clusters": [
                {
                    "name": "prod-gcp",
                    "provider": "gcp",
                    "project": project,
                    "endpoint": emulator.url,
                    "credentials": "anonymous",
                    "roles": {
                        "control-plane": {"target_tag": CP},
                        "worker": {"target_tag": NODE},
                    },
                }
            ],
        }
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    def firewall(self, name: str, ports: list[str] | None, **fields: Any) -> None:
        allowed = {"IPProtocol": "tcp", "ports": ports} if ports else {"IPProtocol": "all"}
        body = {"name": name, "network": network_url(self.project, "default"), **fields}
        body.setdefault("allowed", [allowed])
        self.emulator.seed(self.project, [body])


@pytest.fixture
def world(gcp_emulator: GcpEmulator, gcp_project: str, tmp_path: Path) -> World:
    return World(gcp_emulator, gcp_project, tmp_path / "portsync.yaml")


def test_audit_gcp_crafted_firewalls_get_expected_severities(world: World) -> None:
    world.firewall("etcd-open", ["2379-2380"], sourceRanges=["0.0.0.0/0"], targetTags=[CP])
    world.firewall("wide", ["10000-11000"], sourceRanges=["0.0.0.0/0"], targetTags=[NODE])
    world.firewall("private-kubelet", ["10250"], sourceRanges=["10.0.0.0/8"], targetTags=[NODE])
    world.firewall("api-v6", ["6443"], sourceRanges=["::/0"], targetTags=[CP])
    world.firewall("from-bastion", ["22"], sourceTags=["bastion"], targetTags=[CP])
    # No target: applies to every instance, so to both roles (etcd's ports matter on every role).
    world.firewall("everyone-etcd", ["2379"], sourceRanges=["0.0.0.0/0"])
    report = audit(load_config(world.path))
    got = sorted(
        (f.id, f.target, str(f.rule.peer), str(f.exposed[1]) if f.exposed else "")
        for f in report.findings
    )
    assert got == [
        ("PS-EXPOSED-APISERVER", f"tag:{CP}", "cidr:::/0", "6443"),
        # 10000-11000 on the nodes reaches the floor's 10257 and 10259 too (every role)
        ("PS-EXPOSED-CONTROLLER-MANAGER", f"tag:{NODE}", "cidr:0.0.0.0/0", "10257"),
        ("PS-EXPOSED-ETCD", f"tag:{CP}", "cidr:0.0.0.0/0", "2379-2380"),
        ("PS-EXPOSED-ETCD", f"tag:{CP}", "cidr:0.0.0.0/0", "2379-2380"),
        ("PS-EXPOSED-ETCD", f"tag:{NODE}", "cidr:0.0.0.0/0", "2379-2380"),  # everyone-etcd
        ("PS-EXPOSED-KUBE-PROXY", f"tag:{NODE}", "cidr:0.0.0.0/0", "10256"),
        ("PS-EXPOSED-KUBELET", f"tag:{NODE}", "cidr:0.0.0.0/0", "10250"),
        ("PS-EXPOSED-RETIRED-PORT", f"tag:{NODE}", "cidr:0.0.0.0/0", "10255"),
        ("PS-EXPOSED-SCHEDULER", f"tag:{NODE}", "cidr:0.0.0.0/0", "10259"),
        ("PS-UNDECLARED-PEER", f"tag:{CP}", "tag:bastion", ""),
        ("PS-UNDECLARED-PEER", f"tag:{NODE}", "cidr:10.0.0.0/8", ""),
    ]
    etcd = [f for f in report.findings if f.id == "PS-EXPOSED-ETCD"]
    assert {f.rule.native_id for f in etcd} == {"etcd-open", "everyone-etcd"}
    assert {f.location for f in etcd} >= {
        f"gcp/prod-gcp/tag:{CP}/tcp-2379-2380-cidr:0.0.0.0/0",
        f"gcp/prod-gcp/tag:{CP}/tcp-2379-cidr:0.0.0.0/0",
    }


def test_audit_gcp_converged_health_check_ranges_are_not_the_world(world: World) -> None:
    loaded = load_config(world.path)
    api.apply(loaded)
    report = audit(loaded)
    # 35.191.0.0/16 and 130.211.0.0/22 are public ranges, but the desired rules name them as
    # the load balancers of kube-proxy's health port: not the world.
    assert report.findings == ()
    assert all(c.declared_peers_checked for c in report.clusters)


def test_audit_gcp_cli_sarif_kubelet_exposure_exits_2(world: World, sarif_validator: Any) -> None:
    world.firewall("kubelet-open", ["10250"], sourceRanges=["0.0.0.0/0"], targetTags=[NODE])
    result = runner.invoke(
        app, ["--config", str(world.path), "audit", "-o", "sarif", "--detailed-exitcode"]
    )
    assert result.exit_code == 2, result.output
    log = json.loads(result.stdout)
    sarif_validator.validate(log)
    (kubelet,) = [r for r in log["runs"][0]["results"] if r["level"] == "error"]
    assert kubelet["ruleId"] == "portsync/exposure/kubelet"
    fqn = kubelet["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
    assert fqn == f"gcp/prod-gcp/tag:{NODE}/tcp-10250-cidr:0.0.0.0/0"


def test_explain_gcp_live_and_planned_states_answer_differently(
    world: World, tmp_path: Path
) -> None:
    loaded = load_config(world.path)
    saved = tmp_path / "plan.json"
    saved.write_text(api.plan(loaded).to_json())

    def ask(source: str, destination: str, plan: Plan | None = None) -> Answer:
        return explain(
            loaded, parse_source(source), parse_destination(destination), plan=plan
        ).answer

    plan = Plan.load(str(saved))
    assert ask("role:control-plane", "worker:10250") is Answer.DENIED
    assert ask("role:control-plane", "worker:10250", plan) is Answer.ALLOWED
    assert ask("load-balancers", "worker:10256", plan) is Answer.ALLOWED  # both health-check ranges
    assert ask("internet", "worker:10250", plan) is Answer.DENIED
    assert ask("10.1.2.3", "worker:10250", plan) is Answer.UNKNOWN  # tag membership not visible
    world.firewall("wide", ["10000-11000"], sourceRanges=["0.0.0.0/0"], targetTags=[NODE])
    assert ask("internet", "worker:10250") is Answer.ALLOWED


def test_audit_gcp_reach_of_tag_peer_is_internal(world: World) -> None:
    world.firewall("tagged", ["2379-2380"], sourceTags=["random"], targetTags=[CP])
    (finding,) = audit(load_config(world.path)).findings
    assert (finding.id, finding.reach) == ("PS-UNDECLARED-PEER", Reach.INTERNAL)
