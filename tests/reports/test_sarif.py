"""SARIF 2.1.0 reports: valid against the official schema, stable ids, levels and fingerprints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from portsync.cli import app
from portsync.render.sarif import DRIFT_RULES, SARIF_VERSION, plan_to_sarif

from .conftest import AwsWorld, open_to
from .test_markdown import _drift_plan

runner = CliRunner()


def _results(log: dict[str, Any]) -> list[dict[str, Any]]:
    (run,) = log["runs"]
    return list(run["results"])


def _fqn(result: dict[str, Any]) -> str:
    return str(result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"])


def test_plan_to_sarif_valid_with_stable_drift_rule_ids(sarif_validator: Any) -> None:
    log = plan_to_sarif(_drift_plan())
    sarif_validator.validate(log)
    assert log["version"] == SARIF_VERSION
    got = sorted((r["ruleId"], r["level"], _fqn(r)) for r in _results(log))
    assert got == [
        ("portsync/drift/missing", "warning", "aws/prod-aws/sg-0aaa/tcp-6443-cidr:203.0.113.0/24"),
        ("portsync/drift/stale", "note", "aws/prod-aws/sg-0aaa/tcp-10259-sg:sg-0aaa"),
        # the kubelet open to the world is an alert at the audit's severity; the ssh rule from a
        # private range and the AWS default egress are not alerts at all
        ("portsync/drift/unmanaged", "error", "aws/prod-aws/sg-0aaa/tcp-10250-cidr:0.0.0.0/0"),
        ("portsync/drift/unwanted", "warning", "aws/prod-aws/sg-0aaa/tcp-9999-cidr:10.0.0.0/8"),
    ]
    unmanaged = next(r for r in _results(log) if r["ruleId"] == "portsync/drift/unmanaged")
    assert unmanaged["properties"]["audit"] == ["PS-EXPOSED-KUBELET"]
    assert "kubelet" in unmanaged["message"]["text"]
    driver = log["runs"][0]["tool"]["driver"]
    assert [r["id"] for r in driver["rules"]] == list(DRIFT_RULES)
    for result in _results(log):
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["partialFingerprints"]
    for rule in driver["rules"]:
        assert rule["helpUri"].startswith("https://") and rule["help"]["text"]


def test_plan_to_sarif_fingerprints_stable_across_runs() -> None:
    first = {_fqn(r): r["partialFingerprints"] for r in _results(plan_to_sarif(_drift_plan()))}
    second = {_fqn(r): r["partialFingerprints"] for r in _results(plan_to_sarif(_drift_plan()))}
    assert first == second
    assert len({json.dumps(v) for v in first.values()}) == len(first)


def test_cli_plan_and_audit_sarif_valid_and_point_at_config(
    aws_world: AwsWorld, sarif_validator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(aws_world.config_path.parent)
    open_to(aws_world, aws_world.cp, "tcp", (2379, 2380), "0.0.0.0/0")
    open_to(aws_world, aws_world.worker, "tcp", (10000, 11000), "::/0")
    cfg = aws_world.config_path.name
    plan = runner.invoke(app, ["--config", cfg, "plan", "--output", "sarif", "--detailed-exitcode"])
    assert plan.exit_code == 2, plan.output
    plan_log = json.loads(plan.stdout)
    sarif_validator.validate(plan_log)
    ids = {r["ruleId"] for r in _results(plan_log)}
    assert {"portsync/drift/missing", "portsync/drift/unmanaged"} <= ids

    audit = runner.invoke(app, ["--config", cfg, "audit", "-o", "sarif", "--detailed-exitcode"])
    assert audit.exit_code == 2, audit.output
    audit_log = json.loads(audit.stdout)
    sarif_validator.validate(audit_log)
    results = _results(audit_log)
    etcd = next(r for r in results if r["ruleId"] == "portsync/exposure/etcd")
    assert etcd["level"] == "error"
    assert _fqn(etcd) == f"aws/prod-aws/{aws_world.cp}/tcp-2379-2380-cidr:0.0.0.0/0"
    physical = etcd["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": "portsync.yaml", "uriBaseId": "%SRCROOT%"}
    line = physical["region"]["startLine"]
    assert "control-plane:" in Path(cfg).read_text().splitlines()[line - 1]
    levels = {r["ruleId"]: r["level"] for r in results}
    assert levels["portsync/exposure/kubelet"] == "error"
    assert levels["portsync/exposure/kube-proxy"] == "note"
    again = json.loads(runner.invoke(app, ["--config", cfg, "audit", "-o", "sarif"]).stdout)
    assert [r["partialFingerprints"] for r in _results(again)] == [
        r["partialFingerprints"] for r in results
    ]


def test_plan_sarif_leaves_out_unmanaged_rules_the_config_accepts(sarif_validator: Any) -> None:
    from portsync.config import parse_config

    accepting = parse_config("allow_exposure: [kubelet]\nclusters: []\n")
    log = plan_to_sarif(_drift_plan(), config=accepting)
    sarif_validator.validate(log)
    assert "portsync/drift/unmanaged" not in {r["ruleId"] for r in _results(log)}


def test_exposure_rules_carry_security_severity_and_help_in_the_repository(
    sarif_validator: Any,
) -> None:
    from importlib import metadata

    from portsync.audit import CHECKS, empty_report
    from portsync.render.sarif import audit_to_sarif

    log = audit_to_sarif(empty_report())
    sarif_validator.validate(log)
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert len(rules) == len(CHECKS)
    score = {rid: float(r["properties"]["security-severity"]) for rid, r in rules.items()}
    assert all(0.1 <= s <= 10.0 for s in score.values())
    # critical (9.0 and up) for etcd and the kubelet, high (7.0-8.9) for retired ports
    assert score["portsync/exposure/etcd"] >= 9.0 and score["portsync/exposure/kubelet"] >= 9.0
    assert 7.0 <= score["portsync/exposure/retired-port"] < 9.0
    assert score["portsync/exposure/apiserver"] < 7.0
    assert score["portsync/exposure/undeclared-peer"] < score["portsync/exposure/nodeport"]

    urls = dict(
        str(entry).split(", ", 1) for entry in metadata.metadata("portsync").get_all("Project-URL")
    )
    docs = urls["Documentation"]
    assert set(urls) >= {"Homepage", "Documentation", "Issues", "Source"}
    assert urls["Source"] in docs and "example" not in docs
    drift = plan_to_sarif(_drift_plan())["runs"][0]["tool"]["driver"]["rules"]
    for rule in [*rules.values(), *drift]:
        assert rule["helpUri"].startswith(docs + "/"), rule["helpUri"]
        page, _, anchor = rule["helpUri"][len(docs) + 1 :].partition("#")
        headings = (DOCS / page).read_text(encoding="utf-8")
        assert anchor in {_github_anchor(line) for line in headings.splitlines() if line[:1] == "#"}


DOCS = Path(__file__).resolve().parents[2] / "docs"


def _github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped."""
    import re

    text = heading.lstrip("#").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
