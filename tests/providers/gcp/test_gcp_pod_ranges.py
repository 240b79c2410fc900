"""GCP ``pod_ranges``: on VPC-native clusters pods send from alias IP ranges, which
``sourceTags`` do not match, so ``self`` and ``role:`` peers also get the pod ranges — the real
FirewallsClient against the local Compute emulator."""

from __future__ import annotations

import pytest

from portsync import api
from portsync.config import load_config
from portsync.errors import ConfigError
from portsync.explain import Answer, explain, parse_destination, parse_source

from .test_gcp_engine import NODE_TAG, GcpWorld, gcp_world

__all__ = ["gcp_world"]

pytest.importorskip("google.cloud.compute_v1", reason="needs portsync[gcp]")

PODS = "10.4.0.0/14"
POD = "10.4.1.5"


def _ranges_to(world: GcpWorld, tag: str, port: str) -> set[str]:
    out: set[str] = set()
    for fw in world.firewalls().values():
        if tag not in (fw.get("targetTags") or ()):
            continue
        if any(port in (a.get("ports") or ()) for a in fw.get("allowed") or ()):
            out |= set(fw.get("sourceRanges") or ())
    return out


def _kubelet_from_a_pod(world: GcpWorld) -> Answer:
    loaded = load_config(world.config_path)
    return explain(loaded, parse_source(POD), parse_destination("worker:10250/tcp")).answer


def test_pod_ranges_admit_pods_where_tags_do_not(gcp_world: GcpWorld) -> None:
    api.apply(load_config(gcp_world.config_path))
    assert PODS not in _ranges_to(gcp_world, NODE_TAG, "10250")
    # A tag says nothing about a pod's alias IP: not ALLOWED (metrics-server in a pod is dropped).
    assert _kubelet_from_a_pod(gcp_world) is not Answer.ALLOWED

    gcp_world.write_config(cluster={"pod_ranges": [PODS]})
    plan = api.plan(load_config(gcp_world.config_path))
    added = {(op.rule.ports_text, str(op.rule.peer), op.rule.origin) for g in plan for op in g.adds}
    assert ("10250", f"cidr:{PODS}", "role:control-plane") in added
    # Rules from any, CIDRs or load balancers are not widened.
    assert {origin for _p, _peer, origin in added} <= {"self", "role:control-plane", "role:worker"}
    api.apply(load_config(gcp_world.config_path))
    assert PODS in _ranges_to(gcp_world, NODE_TAG, "10250")
    assert _kubelet_from_a_pod(gcp_world) is Answer.ALLOWED
    assert api.plan(load_config(gcp_world.config_path)).is_empty()


def test_pod_ranges_must_be_networks(gcp_world: GcpWorld) -> None:
    gcp_world.write_config(cluster={"pod_ranges": ["10.4.1.0/14"]})
    with pytest.raises(ConfigError, match=r"pod_ranges.*host bits set"):
        load_config(gcp_world.config_path)
