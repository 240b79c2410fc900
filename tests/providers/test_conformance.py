"""The provider conformance suite: what every cloud must do, run on all three.

Each test drives the CLI against one small world per cloud (boto3 → counting proxy → moto server
for AWS; the GCP and Azure SDKs against the project's emulators; see tests/providers/clouds.py)
and checks the engine's promises in terms a user sees: convergence, idempotence, ownership by
mode, make-before-break order, limits refused before any write, and saved plans refused once
stale. Tampered plans are covered on the same worlds by tests/providers/test_plan_trust.py.

A new provider is conformant when it adds a world to ``clouds.py`` and these pass on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from typer.testing import CliRunner

from portsync.cli import app
from tests.providers.clouds import Cloud

runner = CliRunner()
SCHEMAS = Path(__file__).resolve().parents[2] / "portsync" / "schemas"

#: One rule of the operator's own, on the workers: owned by portsync once applied.
METRICS = {
    "role": "worker",
    "protocol": "tcp",
    "ports": 9100,
    "peer": "cidr:10.1.0.0/16",
    "purpose": "node exporter",
}


def _run(cloud: Cloud, *args: str) -> Any:
    return runner.invoke(app, ["--config", str(cloud.config), *args])


def _apply(cloud: Cloud, *args: str) -> Any:
    result = _run(cloud, "apply", "--auto-approve", *args)
    assert result.exit_code == 0, result.output
    return result


def _converged(cloud: Cloud, *args: str) -> None:
    result = _run(cloud, "plan", "--detailed-exitcode", *args)
    assert result.exit_code == 0, result.output


def test_apply_converges_and_a_second_apply_writes_nothing(cloud: Cloud) -> None:
    result = _run(cloud, "plan", "--detailed-exitcode")
    assert result.exit_code == 2, result.output  # changes pending
    _apply(cloud)
    writes = cloud.writes()
    assert writes > 0
    _converged(cloud)
    _apply(cloud)
    assert cloud.writes() == writes


def test_owned_mode_removes_its_own_rule_and_keeps_someone_elses(cloud: Cloud) -> None:
    cloud.write_config(extra_rules=[METRICS])
    _apply(cloud)
    assert "10.1.0.0/16" in cloud.snapshot()
    cloud.write_config()
    _apply(cloud)
    after = cloud.snapshot()
    assert "10.1.0.0/16" not in after
    assert "10.9.0.0/16" in after  # the bastion's ssh, written by someone else
    _converged(cloud)


def test_additive_mode_never_removes(cloud: Cloud) -> None:
    cloud.write_config(extra_rules=[METRICS])
    _apply(cloud)
    cloud.write_config(mode="additive")
    result = _run(cloud, "plan", "--output", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["remove"] == 0
    _apply(cloud)
    after = cloud.snapshot()
    assert "10.1.0.0/16" in after and "10.9.0.0/16" in after


def test_exclusive_mode_removes_unmanaged_rules_only_with_the_flag(cloud: Cloud) -> None:
    _apply(cloud)
    cloud.write_config(mode="exclusive")
    before, writes = cloud.snapshot(), cloud.writes()
    result = _run(cloud, "apply", "--auto-approve")
    assert result.exit_code == 1, result.output
    assert "--exclusive" in result.stderr
    assert cloud.writes() == writes and cloud.snapshot() == before
    _apply(cloud, "--exclusive")
    assert "10.9.0.0/16" not in cloud.snapshot()
    _converged(cloud)


def test_a_changed_rule_is_made_before_the_old_one_is_broken(cloud: Cloud) -> None:
    cloud.write_config(extra_rules=[METRICS])
    _apply(cloud)
    start = len(cloud.order())
    cloud.write_config(extra_rules=[{**METRICS, "ports": "9100-9101"}])
    _apply(cloud)
    order = cloud.order()[start:]
    assert order, "the change wrote nothing"
    # Nothing that opens access may come after something that removes it.
    if "break" in order:
        assert "make" not in order[order.index("break") :], order
    _converged(cloud)


_TIGHT_LIMIT = {
    "aws": ({"rules_per_group": 3}, "rules"),
    "gcp": ({"firewall_quota": 1}, "quota"),
    "azure": ({"priority_band": [1000, 1002]}, "priority_band"),
}


def test_a_limit_is_refused_at_plan_time_before_any_write(cloud: Cloud) -> None:
    settings, word = _TIGHT_LIMIT[cloud.name]
    cloud.cluster = {**cloud.cluster, **settings}
    cloud.write_config()
    before, writes = cloud.snapshot(), cloud.writes()
    for command in (["plan"], ["apply", "--auto-approve"]):
        result = _run(cloud, *command)
        assert result.exit_code == 1, result.output
        assert word in result.stderr, result.stderr
    assert cloud.writes() == writes and cloud.snapshot() == before


def test_a_saved_plan_is_refused_once_the_live_rules_changed(cloud: Cloud, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    result = _run(cloud, "plan", "--out", str(saved))
    assert result.exit_code == 0, result.output
    cloud.drift()
    writes = cloud.writes()
    result = _run(cloud, "apply", str(saved), "--auto-approve")
    assert result.exit_code == 1, result.output
    assert cloud.writes() == writes
    # A fresh plan of the same config applies and keeps the out-of-band rule.
    result = _run(cloud, "plan", "--out", str(saved))
    assert result.exit_code == 0, result.output
    result = _run(cloud, "apply", str(saved), "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "10.8.0.0/16" in cloud.snapshot()
    _converged(cloud)


def test_a_saved_plan_from_another_config_is_refused(cloud: Cloud, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    result = _run(cloud, "plan", "--out", str(saved))
    assert result.exit_code == 0, result.output
    cloud.write_config(extra_rules=[METRICS])
    writes = cloud.writes()
    result = _run(cloud, "apply", str(saved), "--auto-approve")
    assert result.exit_code == 1, result.output
    assert "different config" in result.stderr
    assert cloud.writes() == writes


def test_plan_json_follows_the_published_schema(cloud: Cloud) -> None:
    schema = json.loads((SCHEMAS / "plan.schema.json").read_text(encoding="utf-8"))
    result = _run(cloud, "plan", "--output", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    jsonschema.validate(document, schema)
    assert document["summary"]["add"] > 0
