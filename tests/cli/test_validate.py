"""``portsync validate``: config, port tables, translation and plan-time limits, offline."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from portsync.cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]

AZURE_SUB = "00000000-0000-0000-0000-000000000000"


def _refuse(self: socket.socket, address: object) -> None:
    raise ConnectionRefusedError(f"validate must not connect anywhere (tried {address})")


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No network at all, and no credentials in the environment (the sandbox removes them)."""
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.chdir(tmp_path)


def _clusters(**tweaks: dict[str, Any]) -> list[dict[str, Any]]:
    clusters: list[dict[str, Any]] = [
        {
            "name": "prod-aws",
            "provider": "aws",
            "region": "eu-west-1",
            "roles": {
                "control-plane": {"security_group": "sg-0aaa"},
                "worker": {"security_group": "sg-0bbb"},
            },
        },
        {
            "name": "prod-gcp",
            "provider": "gcp",
            "project": "my-project",
            "network": "default",
            "roles": {"control-plane": {"target_tag": "cp"}, "worker": {"target_tag": "node"}},
        },
        {
            "name": "prod-azure",
            "provider": "azure",
            "subscription_id": AZURE_SUB,
            "resource_group": "rg",
            "roles": {
                "control-plane": {"nsg": "cp-nsg", "address_prefixes": ["10.0.0.0/24"]},
                "worker": {"nsg": "node-nsg", "address_prefixes": ["10.0.1.0/24"]},
            },
        },
    ]
    for cluster in clusters:
        cluster.update(tweaks.get(cluster["provider"], {}))
    return clusters


def _write(tmp_path: Path, **data: Any) -> str:
    body = {"sources": {"all": ["203.0.113.0/24"], "load_balancers": ["sg-0lb"]}, **data}
    path = tmp_path / "portsync.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return str(path)


def test_a_good_config_of_three_clouds_is_valid_offline(tmp_path: Path) -> None:
    config = _write(tmp_path, clusters=_clusters())
    result = runner.invoke(app, ["validate", "-c", config])
    assert result.exit_code == 0, result.output
    assert "Valid: 3 clusters checked offline" in result.stdout
    for name in ("prod-aws (aws)", "prod-gcp (gcp)", "prod-azure (azure)"):
        assert f"ok     {name}: 2 targets" in result.stdout


def test_each_clouds_plan_time_limit_is_checked_and_every_problem_listed(tmp_path: Path) -> None:
    config = _write(
        tmp_path,
        clusters=_clusters(
            aws={"rules_per_group": 2},
            gcp={"firewall_quota": 1},
            azure={"priority_band": [100, 102]},
        ),
    )
    result = runner.invoke(app, ["validate", "-c", config, "-o", "json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is False
    problems = {c["cluster"]: " ".join(c["problems"]) for c in report["clusters"]}
    assert "over the AWS quota of 2 per group" in problems["prod-aws"]
    assert "firewall_quota 1" in problems["prod-gcp"]
    assert "priority" in problems["prod-azure"] and "100" in problems["prod-azure"]


def test_a_translation_error_names_the_cluster_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "portsync.yaml"
    body = {"sources": {"all": ["203.0.113.0/24"]}, "clusters": _clusters()[:1]}
    path.write_text(yaml.safe_dump(body))
    result = runner.invoke(app, ["validate", "-c", str(path)])
    assert result.exit_code == 1
    assert "FAILED prod-aws (aws)" in result.stdout
    assert "load_balancers" in result.stdout
    assert "plan would refuse this config" in result.stdout


def test_a_config_error_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "portsync.yaml"
    path.write_text("sources:\n  all: [nonsense]\n")
    result = runner.invoke(app, ["validate", "-c", str(path)])
    assert result.exit_code == 1
    assert f"{path}:2" in result.stderr
    assert "Traceback" not in result.output


def test_a_bad_catalog_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "ports.md").write_text("# no table here\n")
    config = _write(tmp_path, catalog="ports.md", clusters=_clusters())
    result = runner.invoke(app, ["validate", "-c", config])
    assert result.exit_code == 1
    assert "ports.md" in result.output


def test_no_clusters_is_invalid(tmp_path: Path) -> None:
    config = _write(tmp_path)
    result = runner.invoke(app, ["validate", "-c", config])
    assert result.exit_code == 1
    assert "no clusters configured" in result.stdout


def test_pre_commit_hook_runs_validate() -> None:
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["entry"] == "portsync validate"
    assert hook["pass_filenames"] is False
    assert hook["language"] == "python"
    import re

    assert re.search(hook["files"], "deploy/portsync.yaml")
    assert not re.search(hook["files"], "README.md")
