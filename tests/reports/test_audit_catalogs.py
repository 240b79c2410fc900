"""Ports that the node catalogs mark sensitive feed the audit and the apply-time guard."""

from __future__ import annotations

import pytest

from portsync import api
from portsync.audit import audit, component_ports
from portsync.config import load_config, parse_config
from portsync.errors import GuardrailError
from portsync.synthesis import sensitive_ports

from .conftest import AwsWorld, open_to


def test_sensitive_ports_api_lists_each_catalogs_own() -> None:
    loaded = parse_config("catalog: [kubernetes, calico, {k3s: {embedded_etcd: true}}]\n")
    got = {
        (p.catalog, p.component, p.protocol.value, str(p.ports)) for p in sensitive_ports(loaded)
    }
    assert ("calico", "calico-felix-metrics", "tcp", "9091") in got
    assert ("calico", "calico-bgp", "tcp", "179") in got
    assert ("k3s", "etcd", "tcp", "2379-2380") in got
    assert not any(catalog == "kubernetes" for catalog, *_ in got)


def test_component_ports_give_catalog_sensitive_ports_their_check() -> None:
    ports = component_ports(parse_config("catalog: [kubernetes, cilium, k3s]\n"))
    by_port = {(p.protocol.value, str(p.ports)): p for p in ports}
    assert by_port[("tcp", "4240")].check == "PS-EXPOSED-SENSITIVE-PORT"
    assert "cilium: " in by_port[("tcp", "4240")].purpose
    # A sensitive port that is a Kubernetes component keeps that component's check.
    assert by_port[("tcp", "2379-2380")].check == "PS-EXPOSED-ETCD"


def test_audit_reports_felix_metrics_and_bgp_open_to_the_world(aws_world: AwsWorld) -> None:
    aws_world.write_config(catalog=["kubernetes", "calico"])
    open_to(aws_world, aws_world.worker, "tcp", (9091, 9091), "0.0.0.0/0")
    open_to(aws_world, aws_world.worker, "tcp", (179, 179), "0.0.0.0/0")
    report = audit(load_config(aws_world.config_path))
    high = {(f.id, str(f.exposed[1])) for f in report.findings if f.severity.value == "high"}
    assert high == {("PS-EXPOSED-SENSITIVE-PORT", "9091"), ("PS-EXPOSED-SENSITIVE-PORT", "179")}
    felix = next(f for f in report.findings if f.exposed and str(f.exposed[1]) == "9091")
    assert "calico-felix-metrics tcp/9091" in felix.message
    # Without the calico catalog, 9091 is nobody's sensitive port.
    aws_world.write_config(catalog=["kubernetes"])
    plain = audit(load_config(aws_world.config_path))
    assert not any(f.severity.value == "high" for f in plain.findings)


def test_allow_exposure_catalog_sensitive_suppresses(aws_world: AwsWorld) -> None:
    aws_world.write_config(catalog=["kubernetes", "calico"], allow_exposure=["catalog-sensitive"])
    open_to(aws_world, aws_world.worker, "tcp", (9091, 9091), "0.0.0.0/0")
    report = audit(load_config(aws_world.config_path))
    (finding,) = [f for f in report.findings if f.id == "PS-EXPOSED-SENSITIVE-PORT"]
    assert finding.suppressed


def test_apply_refuses_to_open_a_catalog_sensitive_port_to_the_world(aws_world: AwsWorld) -> None:
    aws_world.write_config(
        catalog=["kubernetes", "calico"],
        extra_rules=[{"role": "worker", "protocol": "tcp", "ports": 179, "peer": "cidr:0.0.0.0/0"}],
    )
    with pytest.raises(GuardrailError) as caught:
        api.apply(load_config(aws_world.config_path))
    assert "tcp/179" in str(caught.value)
    assert "catalog-sensitive" in str(caught.value.hint)
    assert all(p.get("FromPort") != 179 for p in aws_world.ingress(aws_world.worker))
