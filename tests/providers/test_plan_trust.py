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
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from portsync.cli import app
from portsync.ops import _checksum
from tests.providers.clouds import Cloud

runner = CliRunner()


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
