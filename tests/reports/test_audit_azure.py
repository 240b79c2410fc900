"""Audit and explain on Azure: crafted NSGs in the local ARM emulator, read by the real
NetworkManagementClient through the Azure provider (service tags included)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from portsync.audit import Reach, audit
from portsync.cli import app
from portsync.config import load_config
from portsync.explain import Answer, explain, parse_destination, parse_source
from portsync.providers.azure.emulator import AzureEmulator

pytest.importorskip("azure.mgmt.network", reason="needs portsync[azure]")

runner = CliRunner()
SUB = "00000000-0000-0000-0000-000000000000"
GROUP = "k8s"


def _rule(
    name: str, source: str, ports: str, priority: int, access: str = "Allow"
) -> dict[str, Any]:
    return {
        "name": name,
        "protocol": "Tcp",
        "sourceAddressPrefix": source,
        "sourcePortRange": "*",
        "destinationAddressPrefix": "*",
        "destinationPortRange": ports,
        "access": access,
        "priority": priority,
        "direction": "Inbound",
    }


@pytest.fixture
def config(azure_emulator: AzureEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    data = {
        "sources": {"all": ["203.0.113.0/24"]},
        "clusters": [
            {
                "name": "prod-azure",
                "provider": "azure",
                "subscription_id": SUB,
                "resource_group": GROUP,
                "endpoint": azure_emulator.base_url,
                "ca_bundle": azure_emulator.ca_bundle_path,
                "credentials": "anonymous",
                "polling_interval": 0.01,
                "roles": {
                    "control-plane": {"nsg": "cp-nsg", "address_prefixes": ["10.0.1.0/24"]},
                    "worker": {"nsg": "node-nsg", "address_prefixes": ["10.0.2.0/24"]},
                },
            }
        ],
    }
    path = tmp_path / "portsync.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _seed(emulator: AzureEmulator, cp: list[dict[str, Any]], node: list[dict[str, Any]]) -> None:
    emulator.seed_nsg(SUB, GROUP, "cp-nsg", rules=cp)
    emulator.seed_nsg(SUB, GROUP, "node-nsg", rules=node)


def test_audit_azure_service_tags_get_expected_severities(
    azure_emulator: AzureEmulator, config: Path
) -> None:
    _seed(
        azure_emulator,
        cp=[
            _rule("etcd-internet", "Internet", "2379-2380", 300),
            _rule("api-any", "*", "6443", 310),
            _rule("kubelet-vnet", "VirtualNetwork", "10250", 320),
            _rule("scheduler-cloud", "AzureCloud", "10259", 330),
        ],
        node=[
            _rule("wide", "0.0.0.0/0", "10000-11000", 300),
            _rule("kubelet-private", "10.0.0.0/8", "10250", 310),
        ],
    )
    report = audit(load_config(config))
    got = sorted((f.id, f.target, str(f.rule.peer), f.reach.value) for f in report.findings)
    assert got == [
        # The provider reads source "*" as both address families.
        ("PS-EXPOSED-APISERVER", "cp-nsg", "cidr:0.0.0.0/0", "world"),
        ("PS-EXPOSED-APISERVER", "cp-nsg", "cidr:::/0", "world"),
        # 10000-11000 on the nodes reaches the floor's 10257 and 10259 too (every role)
        ("PS-EXPOSED-CONTROLLER-MANAGER", "node-nsg", "cidr:0.0.0.0/0", "world"),
        ("PS-EXPOSED-ETCD", "cp-nsg", "service-tag:Internet", "world"),
        ("PS-EXPOSED-KUBE-PROXY", "node-nsg", "cidr:0.0.0.0/0", "world"),
        ("PS-EXPOSED-KUBELET", "node-nsg", "cidr:0.0.0.0/0", "world"),
        ("PS-EXPOSED-RETIRED-PORT", "node-nsg", "cidr:0.0.0.0/0", "world"),
        ("PS-EXPOSED-SCHEDULER", "node-nsg", "cidr:0.0.0.0/0", "world"),
        # Azure's default AllowAzureLoadBalancerInBound (the control plane names no load
        # balancer) and AllowVnetInBound of both NSGs, besides the kubelet-vnet rule.
        ("PS-UNDECLARED-PEER", "cp-nsg", "service-tag:AzureLoadBalancer", "internal"),
        ("PS-UNDECLARED-PEER", "cp-nsg", "service-tag:VirtualNetwork", "internal"),
        ("PS-UNDECLARED-PEER", "cp-nsg", "service-tag:VirtualNetwork", "internal"),
        ("PS-UNDECLARED-PEER", "node-nsg", "cidr:10.0.0.0/8", "internal"),
        ("PS-UNDECLARED-PEER", "node-nsg", "service-tag:VirtualNetwork", "internal"),
        ("PS-UNKNOWN-REACH", "cp-nsg", "service-tag:AzureCloud", "unknown"),
    ]
    defaults = sorted(
        (f.target, f.rule.native_id)
        for f in report.findings
        if "the cloud's default rule" in f.message
    )
    assert defaults == [
        ("cp-nsg", "AllowAzureLoadBalancerInBound"),
        ("cp-nsg", "AllowVnetInBound"),
        ("node-nsg", "AllowVnetInBound"),
    ]
    etcd = next(f for f in report.findings if f.id == "PS-EXPOSED-ETCD")
    assert etcd.reach is Reach.WORLD
    assert etcd.location == "azure/prod-azure/cp-nsg/tcp-2379-2380-service-tag:Internet"


def test_audit_azure_cli_sarif_valid_and_exits_2(
    azure_emulator: AzureEmulator, config: Path, sarif_validator: Any
) -> None:
    _seed(azure_emulator, cp=[_rule("etcd-internet", "Internet", "2379", 300)], node=[])
    result = runner.invoke(
        app, ["--config", str(config), "audit", "-o", "sarif", "--detailed-exitcode"]
    )
    assert result.exit_code == 2, result.output
    log = json.loads(result.stdout)
    sarif_validator.validate(log)
    results = [(r["ruleId"], r["level"]) for r in log["runs"][0]["results"]]
    # The info results are Azure's default rules (AllowVnetInBound on both NSGs, and
    # AllowAzureLoadBalancerInBound on the control plane's).
    assert sorted(results) == [
        ("portsync/exposure/etcd", "error"),
        *[("portsync/exposure/undeclared-peer", "note")] * 3,
    ]


def test_explain_azure_service_tag_rules_decide(
    azure_emulator: AzureEmulator, config: Path
) -> None:
    _seed(
        azure_emulator,
        cp=[
            _rule("etcd-internet", "Internet", "2379-2380", 300),
            _rule("kubelet-vnet", "VirtualNetwork", "10250", 310),
        ],
        node=[],
    )
    loaded = load_config(config)

    def ask(source: str, destination: str) -> Answer:
        return explain(loaded, parse_source(source), parse_destination(destination)).answer

    assert ask("internet", "control-plane:2379") is Answer.ALLOWED
    assert ask("8.8.8.8", "control-plane:2379") is Answer.ALLOWED
    # Private is not Internet, but may be in the virtual network Azure's default
    # AllowVnetInBound admits; an address of a role's prefixes is.
    assert ask("10.0.0.5", "control-plane:2379") is Answer.UNKNOWN
    assert ask("10.0.2.7", "control-plane:2379") is Answer.ALLOWED
    assert ask("10.0.0.5", "control-plane:10250") is Answer.UNKNOWN  # VirtualNetwork's extent
    assert ask("internet", "worker:10250") is Answer.DENIED
