"""``explain`` and lifelines see deny rules and priorities on GCP and Azure (emulators, real SDK
clients): a deny rule that comes first blocks the allow rule behind it, a deny rule that comes
after the allow rule does not, and a lifeline through a blocked allow is closed.

Each world starts with a foreign allow rule for SSH from 10.9.0.0/16 on the workers (priority
1000 on GCP, 300 on Azure); the tests add a foreign deny rule for the same flow before or after
it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from portsync.cli import app
from tests.providers.clouds import AZ_RG, AZ_SUB, GCP_PROJECT, Cloud

runner = CliRunner()

SSH = {
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


def _deny(cloud: Cloud, emulator: Any, *, first: bool) -> None:
    if cloud.name == "gcp":
        from portsync.providers.gcp import translate

        emulator.seed(
            GCP_PROJECT,
            [
                {
                    "name": "deny-ssh",
                    "network": translate.network_url(GCP_PROJECT, "default"),
                    "priority": 500 if first else 2000,
                    "denied": [{"IPProtocol": "tcp", "ports": ["22"]}],
                    "sourceRanges": ["10.9.0.0/16"],
                    "targetTags": ["k8s-node"],
                }
            ],
        )
        return
    deny = {**SSH, "name": "deny-ssh", "access": "Deny", "priority": 200 if first else 400}
    emulator.seed_nsg(AZ_SUB, AZ_RG, "node-nsg", rules=[SSH, deny])


def _explain(cloud: Cloud, source: str = "10.9.1.1") -> dict[str, Any]:
    result = runner.invoke(
        app, ["--config", str(cloud.config), "explain", source, "worker:22/tcp", "-o", "json"]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture(params=["gcp", "azure"])
def world(request: pytest.FixtureRequest) -> tuple[Cloud, Any]:
    cloud: Cloud = request.getfixturevalue(f"{request.param}_cloud")
    emulator = request.getfixturevalue(
        "gcp_emulator" if request.param == "gcp" else "azure_emulator"
    )
    return cloud, emulator


def test_allow_without_deny_is_allowed(world: tuple[Cloud, Any]) -> None:
    cloud, _ = world
    assert _explain(cloud)["answer"] == "allowed"


def test_a_deny_rule_before_the_allow_rule_blocks_it(world: tuple[Cloud, Any]) -> None:
    cloud, emulator = world
    _deny(cloud, emulator, first=True)
    answer = _explain(cloud)
    assert answer["answer"] == "denied"
    (target,) = answer["clusters"][0]["targets"]
    (endpoint,) = target["endpoints"]
    assert [r["access"] for r in endpoint["rules"]] == ["deny"]


def test_a_deny_rule_after_the_allow_rule_does_not_block_it(world: tuple[Cloud, Any]) -> None:
    cloud, emulator = world
    _deny(cloud, emulator, first=False)
    assert _explain(cloud)["answer"] == "allowed"


def test_a_lifeline_through_a_blocked_allow_is_closed(world: tuple[Cloud, Any]) -> None:
    cloud, emulator = world
    lifeline = {"name": "bastion -> ssh", "from": "cidr:10.9.0.0/16", "to": "worker", "port": 22}
    config = cloud.write_config(lifelines=[lifeline])
    audit = runner.invoke(app, ["--config", str(config), "audit", "-o", "json"])
    closed = [f for f in json.loads(audit.stdout)["findings"] if f["id"] == "PS-LIFELINE-CLOSED"]
    assert closed == []
    _deny(cloud, emulator, first=True)
    audit = runner.invoke(app, ["--config", str(config), "audit", "-o", "json"])
    closed = [f for f in json.loads(audit.stdout)["findings"] if f["id"] == "PS-LIFELINE-CLOSED"]
    assert [f["role"] for f in closed] == ["worker"]


def test_a_deny_rule_does_not_make_a_saved_plan_look_stale(
    world: tuple[Cloud, Any], tmp_path: Any
) -> None:
    cloud, emulator = world
    _deny(cloud, emulator, first=True)
    path = tmp_path / "plan.json"
    made = runner.invoke(app, ["--config", str(cloud.config), "plan", "--out", str(path)])
    assert made.exit_code == 0, made.output
    result = runner.invoke(
        app,
        [
            "--config",
            str(cloud.config),
            "explain",
            "10.9.1.1",
            "worker:22/tcp",
            "--plan",
            str(path),
            "-o",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["answer"] == "denied"
    assert not [n for n in answer["clusters"][0]["notes"] if "changed since" in n]
