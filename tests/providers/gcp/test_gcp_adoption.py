"""Adopting a Cluster API GCP (CAPG) cluster on the GCP emulator.

The layout follows CAPG's defaults for a cluster named ``capg`` on the ``default`` network: its
control-plane instances carry the tag ``capg-control-plane`` and its nodes ``capg-node``;
``allow-capg-cluster`` admits every protocol between the two tags and
``allow-capg-healthchecks`` admits the load balancers' health-check ranges to the API server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from portsync import api
from portsync.config import load_config
from portsync.errors import GuardrailError
from portsync.ops import Plan
from portsync.providers.gcp import translate
from portsync.providers.gcp.emulator import GcpEmulator

pytest.importorskip("google.cloud.compute_v1", reason="needs portsync[gcp]")

CP, NODE = "capg-control-plane", "capg-node"
HEALTH_CHECKS = ["35.191.0.0/16", "130.211.0.0/22"]
MUTATIONS = ("firewalls.insert", "firewalls.patch", "firewalls.update", "firewalls.delete")


class CapgLayout:
    def __init__(self, emulator: GcpEmulator, project: str, tmp_path: Path) -> None:
        self.emulator, self.project = emulator, project
        network = translate.network_url(project, "default")
        emulator.seed(
            project,
            [
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
            ],
        )
        self.config = tmp_path / "portsync.yaml"
        self.write()

    def write(self, **top: Any) -> None:
        data: dict[str, Any] = {
            "sources": {"all": ["203.0.113.0/24"], "load_balancers": HEALTH_CHECKS},
            "clusters": [
                {
                    "name": "capg",
                    "provider": "gcp",
                    "project": self.project,
                    "endpoint": self.emulator.url,
                    "credentials": "anonymous",
                    "roles": {
                        "control-plane": {"target_tag": CP},
                        "worker": {"target_tag": NODE},
                    },
                }
            ],
            **top,
        }
        self.config.write_text(yaml.safe_dump(data, sort_keys=False))

    def plan(self) -> Plan:
        return api.plan(load_config(self.config))

    def names(self) -> set[str]:
        return {fw["name"] for fw in self.emulator.firewalls(self.project)}

    def mutations(self) -> int:
        return sum(self.emulator.calls[m] for m in MUTATIONS)


@pytest.fixture
def capg(gcp_emulator: GcpEmulator, gcp_project: str, tmp_path: Path) -> CapgLayout:
    return CapgLayout(gcp_emulator, gcp_project, tmp_path)


def test_capg_tags_are_recognised_by_their_firewalls(capg: CapgLayout) -> None:
    plan = capg.plan()
    tools = {g.role: g.managed_by for g in plan.groups}
    for tool in tools.values():
        assert tool is not None
        assert tool.name == "Cluster API GCP (CAPG)"
        assert "defaultRulesManagement: Unmanaged" in tool.route
    control_plane = tools["control-plane"]
    assert control_plane is not None
    assert "allow-capg-cluster" in control_plane.behaviour
    assert control_plane.marker == f"network tag {CP} with firewall allow-capg-cluster"


def test_capg_owned_plan_adds_only_flows_no_capg_firewall_admits(capg: CapgLayout) -> None:
    plan = capg.plan()
    satisfied = {
        (g.role, s.rule.ports_text, s.rule.origin) for g in plan.groups for s in g.satisfied
    }
    # Everything between the cluster's own machines is admitted by allow-capg-cluster.
    assert ("control-plane", "2379-2380", "self") in satisfied
    assert ("worker", "10250", "role:control-plane") in satisfied
    adds = {(g.role, op.rule.origin) for g in plan.groups for op in g.adds}
    assert all(origin not in ("self", "role:control-plane", "role:worker") for _r, origin in adds)


def test_exclusive_is_refused_on_capg_tags_and_nothing_is_written(capg: CapgLayout) -> None:
    capg.write(mode="exclusive")
    with pytest.raises(GuardrailError, match=r"managed by Cluster API GCP \(CAPG\)"):
        api.apply(load_config(capg.config), allow_exclusive=True, max_deletes=100)
    assert capg.mutations() == 0
    assert {"allow-capg-cluster", "allow-capg-healthchecks"} <= capg.names()


def test_protected_capg_firewalls_survive_exclusive(capg: CapgLayout) -> None:
    capg.write(mode="exclusive", protect=[{"name": "^allow-capg-"}])
    plan = capg.plan()
    assert plan.summary()["protected"] >= 3
    assert all(not g.unmanaged for g in plan.groups)
    api.apply(
        load_config(capg.config),
        allow_exclusive=True,
        max_deletes=100,
        exclusive_on_managed=[f"tag:{CP}", f"tag:{NODE}"],
    )
    assert {"allow-capg-cluster", "allow-capg-healthchecks"} <= capg.names()
    assert capg.plan().is_empty()
