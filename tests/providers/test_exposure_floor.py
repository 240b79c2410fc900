"""The exposure floor on every cloud: etcd, the kubelet, the controller manager, the scheduler and
the retired read-only kubelet port are never opened to the world, whatever the catalogs,
``overrides`` or ``etcd`` topology, unless ``allow_exposure`` names them; the audit reports them
as high whatever the catalogs say.

The reproduction: a config with no catalog, ``extra_rules`` opening 2379-2380 and 10250 from
``any`` and ``sources.all: [0.0.0.0/0]`` was applied (exit 0) and audited with no high finding.
"""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from portsync.cli import app
from tests.providers.clouds import Cloud

runner = CliRunner()

WORLD = {"all": ["0.0.0.0/0"]}


def _run(world: Cloud, *args: str) -> Any:
    return runner.invoke(app, ["--config", str(world.config), *args])


def _sources(world: Cloud, sources: dict[str, Any]) -> dict[str, Any]:
    # AWS worlds also name the load balancers' group; keep it.
    return {**world.top.get("sources", {}), **sources}


def _high(world: Cloud) -> set[str]:
    result = _run(world, "audit", "--output", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    return {f["id"] for f in report["findings"] if f["severity"] == "high" and not f["suppressed"]}


def test_no_catalog_cannot_lower_the_floor(cloud: Cloud) -> None:
    extra = [
        {"role": "control-plane", "protocol": "tcp", "ports": "2379-2380", "peer": "any"},
        {"role": "worker", "protocol": "tcp", "ports": 10250, "peer": "any"},
    ]
    cloud.write_config(catalog=[], extra_rules=extra, sources=_sources(cloud, WORLD))
    writes = cloud.writes()
    result = _run(cloud, "plan")
    assert result.exit_code == 0, result.output
    assert "warning: sources.all holds 0.0.0.0/0" in result.stderr
    result = _run(cloud, "apply", "--auto-approve")
    assert result.exit_code == 1, result.output
    assert "apply would open sensitive ports to the internet" in result.stderr
    assert "(etcd)" in result.stderr and "(kubelet)" in result.stderr
    assert cloud.writes() == writes

    # Accepted by name, the rules are written; the audit still reports them (suppressed).
    cloud.write_config(
        catalog=[],
        extra_rules=extra,
        sources=_sources(cloud, WORLD),
        allow_exposure=["etcd", "kubelet"],
    )
    result = _run(cloud, "apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert cloud.writes() > writes
    assert _high(cloud) == set()
    cloud.write_config(catalog=[], extra_rules=extra, sources=_sources(cloud, WORLD))
    assert _high(cloud) == {"PS-EXPOSED-ETCD", "PS-EXPOSED-KUBELET"}
    result = _run(cloud, "audit", "--detailed-exitcode")
    assert result.exit_code == 2, result.output


def test_roles_overrides_and_etcd_mode_cannot_lower_the_floor(cloud: Cloud) -> None:
    world = {"peer": "cidr:0.0.0.0/0", "protocol": "tcp"}
    configs: dict[str, dict[str, Any]] = {
        "etcd on worker": {"extra_rules": [{"role": "worker", "ports": 2379, **world}]},
        "etcd: external": {
            "etcd": "external",
            "extra_rules": [{"role": "control-plane", "ports": "2379-2380", **world}],
        },
        "kubelet moved by overrides": {
            "overrides": {"kubelet": 10350},
            "extra_rules": [{"role": "worker", "ports": 10250, **world}],
        },
        "scheduler on worker": {"extra_rules": [{"role": "worker", "ports": 10259, **world}]},
    }
    writes = cloud.writes()
    for name, top in configs.items():
        cloud.write_config(**top)
        result = _run(cloud, "apply", "--auto-approve")
        assert result.exit_code == 1, (name, result.output)
        assert "apply would open sensitive ports to the internet" in result.stderr, name
        assert cloud.writes() == writes, name
