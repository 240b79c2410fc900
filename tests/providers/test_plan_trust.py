"""A saved plan is applied only when it holds exactly what the config and the live state call for.

Each test makes a real plan on one cloud (boto3 → counting proxy → moto server; the GCP and Azure
SDKs against the project's emulators), edits the saved file the way an attacker with write access
to the artifact store would — and recomputes its checksum, which anyone can — then runs
``portsync apply PLAN.json``. Every edit must be refused with exit 1 and no write call reaching
the cloud (counted at the proxy or the emulator). The untouched plan then applies, which shows the
counters do count writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from typer.testing import CliRunner

from portsync.cli import app
from portsync.ops import _checksum
from portsync.testing.ec2proxy import EC2Proxy
from tests.providers.aws.conftest import moto_server, moto_url
from tests.providers.azure.conftest import azure_emulator, azure_emulator_server
from tests.providers.gcp.conftest import gcp_emulator, gcp_emulator_session

__all__ = [
    "azure_emulator",
    "azure_emulator_server",
    "gcp_emulator",
    "gcp_emulator_session",
    "moto_server",
    "moto_url",
]

runner = CliRunner()

SOURCES = {"all": ["203.0.113.0/24", "2001:db8::/32"]}
AWS_WRITES = (
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupRules",
)
GCP_WRITES = ("firewalls.insert", "firewalls.patch", "firewalls.update", "firewalls.delete")
AZURE_WRITES = ("nsg.put", "nsg.delete", "nsg.update_tags", "rule.put", "rule.delete")
GCP_PROJECT = "portsync-test"
AZ_SUB, AZ_RG = "00000000-0000-0000-0000-000000000000", "k8s"


@dataclass
class Cloud:
    """One cloud with a control-plane and a worker target, a foreign rule on the worker, and a
    config binding both."""

    name: str
    config: Path
    writes: Callable[[], int]


def _write_config(path: Path, cluster: dict[str, Any], **top: Any) -> Path:
    data: dict[str, Any] = {"sources": SOURCES, "clusters": [cluster], **top}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def aws_cloud(moto_url: str, tmp_path: Path) -> Iterator[Cloud]:
    ec2 = boto3.client("ec2", region_name="eu-west-1", endpoint_url=moto_url)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    cp, worker, lb = (
        ec2.create_security_group(GroupName=n, Description=n, VpcId=vpc)["GroupId"]
        for n in ("cp", "worker", "lb")
    )
    ec2.authorize_security_group_ingress(
        GroupId=worker,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "10.9.0.0/16", "Description": "bastion ssh"}],
            }
        ],
    )
    with EC2Proxy(moto_url) as proxy:
        cluster = {
            "name": "prod-aws",
            "provider": "aws",
            "region": "eu-west-1",
            "endpoint": proxy.url,
            "roles": {
                "control-plane": {"security_group": cp},
                "worker": {"security_group": worker},
            },
        }
        config = _write_config(
            tmp_path / "portsync.yaml",
            cluster,
            sources={**SOURCES, "load_balancers": [lb]},
        )
        yield Cloud("aws", config, lambda: sum(proxy.calls[a] for a in AWS_WRITES))


@pytest.fixture
def gcp_cloud(gcp_emulator: Any, tmp_path: Path) -> Cloud:
    pytest.importorskip("google.cloud.compute_v1", reason="needs portsync[gcp]")
    from portsync.providers.gcp import translate

    gcp_emulator.seed(
        GCP_PROJECT,
        [
            {
                "name": "allow-ssh",
                "network": translate.network_url(GCP_PROJECT, "default"),
                "description": "bastion ssh",
                "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}],
                "sourceRanges": ["10.9.0.0/16"],
                "targetTags": ["k8s-node"],
            }
        ],
    )
    cluster = {
        "name": "prod-gcp",
        "provider": "gcp",
        "project": GCP_PROJECT,
        "endpoint": gcp_emulator.url,
        "credentials": "anonymous",
        "roles": {
            "control-plane": {"target_tag": "k8s-cp"},
            "worker": {"target_tag": "k8s-node"},
        },
    }
    config = _write_config(tmp_path / "portsync.yaml", cluster)
    return Cloud("gcp", config, lambda: sum(gcp_emulator.calls[m] for m in GCP_WRITES))


@pytest.fixture
def azure_cloud(azure_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cloud:
    pytest.importorskip("azure.mgmt.network", reason="needs portsync[azure]")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    azure_emulator.seed_nsg(AZ_SUB, AZ_RG, "cp-nsg")
    ssh = {
        "name": "allow-ssh",
        "description": "bastion ssh",
        "protocol": "Tcp",
        "sourcePortRange": "*",
        "destinationPortRange": "22",
        "sourceAddressPrefix": "10.9.0.0/16",
        "destinationAddressPrefix": "*",
        "access": "Allow",
        "priority": 300,
        "direction": "Inbound",
    }
    azure_emulator.seed_nsg(AZ_SUB, AZ_RG, "node-nsg", rules=[ssh])
    cluster = {
        "name": "prod-azure",
        "provider": "azure",
        "subscription_id": AZ_SUB,
        "resource_group": AZ_RG,
        "endpoint": azure_emulator.base_url,
        "ca_bundle": azure_emulator.ca_bundle_path,
        "credentials": "anonymous",
        "polling_interval": 0.01,
        "roles": {
            "control-plane": {"nsg": "cp-nsg", "address_prefixes": ["10.0.1.0/24"]},
            "worker": {"nsg": "node-nsg", "address_prefixes": ["10.0.2.0/24"]},
        },
    }
    config = _write_config(tmp_path / "portsync.yaml", cluster)
    return Cloud("azure", config, lambda: sum(azure_emulator.calls[o] for o in AZURE_WRITES))


@pytest.fixture(params=["aws", "gcp", "azure"])
def cloud(request: pytest.FixtureRequest) -> Cloud:
    return request.getfixturevalue(f"{request.param}_cloud")  # type: ignore[no-any-return]


# -- edits an attacker makes (each followed by a recomputed checksum) ----------------------------


def _target(data: dict[str, Any], role: str) -> dict[str, Any]:
    return next(t for t in data["targets"] if t["role"] == role)


def _change(data: dict[str, Any], role: str, *, action: str = "add") -> dict[str, Any]:
    target = _target(data, role)["target"]
    return next(c for c in data["changes"] if c["target"] == target and c["action"] == action)


def _added(data: dict[str, Any], role: str, rule_role: str, ports: int | str, peer: str) -> None:
    target = _target(data, role)
    low, _, high = str(ports).partition("-")
    data["changes"].append(
        {
            "cluster": target["cluster"],
            "provider": target["provider"],
            "target": target["target"],
            "action": "add",
            "rule": {
                "role": rule_role,
                "direction": "ingress",
                "protocol": "tcp",
                "from_port": int(low),
                "to_port": int(high or low),
                "icmp_type": None,
                "icmp_code": None,
                "peer": peer,
                "purpose": "",
                "target": target["target"],
                "owned": True,
            },
            "reason": "missing: wanted rule",
        }
    )


def add_world_ssh(data: dict[str, Any]) -> None:
    _added(data, "worker", "worker", 22, "cidr:0.0.0.0/0")


def open_etcd_as_worker(data: dict[str, Any]) -> None:
    # The rule claims role worker, where no exposure check would look for etcd.
    _added(data, "control-plane", "worker", "2379-2380", "cidr:0.0.0.0/0")


def drop_a_change(data: dict[str, Any]) -> None:
    data["changes"].remove(_change(data, "worker"))


def flip_ownership_and_remove(data: dict[str, Any]) -> None:
    item = next(u for u in data["unmanaged"] if u["rule"]["from_port"] == 22)
    data["changes"].append(
        {
            **{k: item[k] for k in ("cluster", "provider", "target")},
            "action": "remove",
            "rule": {**item["rule"], "owned": True},
            "reason": "owned by portsync but no longer wanted",
        }
    )


def change_a_rule_role(data: dict[str, Any]) -> None:
    _change(data, "control-plane")["rule"]["role"] = "worker"


def change_a_target_role(data: dict[str, Any]) -> None:
    _target(data, "control-plane")["role"] = "worker"


def move_a_change_to_another_target(data: dict[str, Any]) -> None:
    change = _change(data, "control-plane")
    worker = _target(data, "worker")["target"]
    change["target"] = worker
    change["rule"]["target"] = worker


TAMPERS = [
    add_world_ssh,
    open_etcd_as_worker,
    drop_a_change,
    flip_ownership_and_remove,
    change_a_rule_role,
    change_a_target_role,
    move_a_change_to_another_target,
]


def _plan_file(cloud: Cloud, path: Path) -> dict[str, Any]:
    result = runner.invoke(app, ["--config", str(cloud.config), "plan", "--out", str(path)])
    assert result.exit_code == 0, result.output
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _apply(cloud: Cloud, path: Path) -> Any:
    return runner.invoke(app, ["--config", str(cloud.config), "apply", str(path), "--auto-approve"])


def test_tampered_plans_are_refused_with_no_write(cloud: Cloud, tmp_path: Path) -> None:
    # One plan per cloud, edited seven ways (moto makes a plan cost seconds).
    reviewed = tmp_path / "plan.json"
    data = _plan_file(cloud, reviewed)
    before = cloud.writes()
    for tamper in TAMPERS:
        edited_data = json.loads(json.dumps(data))
        tamper(edited_data)
        edited_data["checksum"] = _checksum(edited_data)
        edited = tmp_path / f"{tamper.__name__}.json"
        edited.write_text(json.dumps(edited_data), encoding="utf-8")
        result = _apply(cloud, edited)
        assert result.exit_code == 1, (tamper.__name__, result.output)
        assert "does not match what the config and the live rules call for" in result.stderr, (
            tamper.__name__
        )
        assert cloud.writes() == before, tamper.__name__

    # The plan as reviewed still applies: the counter sees its writes.
    result = _apply(cloud, reviewed)
    assert result.exit_code == 0, result.output
    assert cloud.writes() > before


def test_refusal_names_the_added_operation(aws_cloud: Cloud, tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    data = _plan_file(aws_cloud, path)
    add_world_ssh(data)
    data["checksum"] = _checksum(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    result = _apply(aws_cloud, path)
    assert result.exit_code == 1
    assert "in the file, not called for by the config and live rules" in result.stderr
    assert "add ingress tcp 22 from cidr:0.0.0.0/0" in result.stderr
