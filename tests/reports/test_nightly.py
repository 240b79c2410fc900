"""One nightly reconciliation, end to end on moto server, exactly as the CI recipes run it:
drift → plan exits 2 with a Markdown summary and SARIF → apply the saved plan → plan exits 0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from portsync import api
from portsync.cli import app
from portsync.config import load_config

from .conftest import AwsWorld, open_to

runner = CliRunner()


def test_nightly_drift_plan_exits_2_then_apply_then_plan_exits_0(
    aws_world: AwsWorld, tmp_path: Path, sarif_validator: Any
) -> None:
    cfg = ["--config", str(aws_world.config_path)]
    # Yesterday's run left the cluster in line; then someone changed it by hand.
    api.apply(load_config(aws_world.config_path))
    rules = aws_world.ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [aws_world.worker]}]
    )["SecurityGroupRules"]
    nodeport = next(r for r in rules if r.get("FromPort") == 30000 and r.get("CidrIpv4"))
    aws_world.ec2.revoke_security_group_ingress(
        GroupId=aws_world.worker, SecurityGroupRuleIds=[nodeport["SecurityGroupRuleId"]]
    )
    open_to(aws_world, aws_world.cp, "tcp", (10250, 10250), "0.0.0.0/0", "debugging, remove me")

    summary = tmp_path / "summary.md"
    saved = tmp_path / "plan.json"
    plan = runner.invoke(
        app,
        [*cfg, "plan", "--detailed-exitcode", "--out", str(saved), "--output", "markdown"],
    )
    assert plan.exit_code == 2, plan.output
    summary.write_text(plan.stdout, encoding="utf-8")  # >> $GITHUB_STEP_SUMMARY
    assert "**Plan: 1 to add, 0 to update, 0 to remove.**" in plan.stdout
    assert "| ➕ add | ingress | tcp | 30000-32767 | `cidr:203.0.113.0/24` (any)" in plan.stdout
    # the hand-made rule is counted, left alone; the AWS default egress of each group is not
    assert "1 unmanaged rule left alone; `--show-unmanaged` lists them." in plan.stdout
    assert "debugging, remove me" not in plan.stdout

    drift = runner.invoke(app, [*cfg, "--quiet", "plan", "--output", "sarif"])
    assert drift.exit_code == 0
    drift_log = json.loads(drift.stdout)
    sarif_validator.validate(drift_log)
    assert {r["ruleId"] for r in drift_log["runs"][0]["results"]} == {
        "portsync/drift/missing",
        "portsync/drift/unmanaged",
    }
    exposure = runner.invoke(app, [*cfg, "--quiet", "audit", "--output", "sarif"])
    exposure_log = json.loads(exposure.stdout)
    sarif_validator.validate(exposure_log)
    assert [r["ruleId"] for r in exposure_log["runs"][0]["results"]] == [
        "portsync/exposure/kubelet"
    ]

    applied = runner.invoke(app, [*cfg, "apply", str(saved), "--auto-approve"])
    assert applied.exit_code == 0, applied.output
    assert "Applied: 1 added" in applied.stdout

    again = runner.invoke(app, [*cfg, "plan", "--detailed-exitcode", "--output", "markdown"])
    assert again.exit_code == 0, again.output
    assert "**No changes.**" in again.stdout
