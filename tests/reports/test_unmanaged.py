"""Unmanaged rules: counted per target by default, listed with --show-unmanaged, and the AWS
default egress (the cloud's own rule on every group) recognised and never reported."""

from __future__ import annotations

import json

import jsonschema
import pytest
from typer.testing import CliRunner

from portsync.cli import app
from portsync.model import Direction, Endpoint, Protocol, TargetRule
from portsync.ops import Plan
from portsync.provider import split_cloud_defaults
from portsync.providers.aws.provider import AwsProvider

from .conftest import REPO, AwsWorld, open_to

runner = CliRunner()


def _plan(world: AwsWorld, *args: str) -> str:
    result = runner.invoke(app, ["-c", str(world.config_path), "--quiet", "plan", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _egress(peer: str, description: str = "", *, owned: bool = False) -> TargetRule:
    return TargetRule(
        target="sg-1",
        direction=Direction.EGRESS,
        protocol=Protocol.ALL,
        peer=Endpoint.cidr(peer),
        description=description,
        owned=owned,
    )


def test_the_aws_provider_recognises_exactly_the_egress_ec2_creates() -> None:
    assert AwsProvider.is_cloud_default(_egress("0.0.0.0/0"))
    assert AwsProvider.is_cloud_default(_egress("::/0"))
    # someone wrote these: they stay unmanaged rules
    assert not AwsProvider.is_cloud_default(_egress("0.0.0.0/0", "egress to anywhere"))
    assert not AwsProvider.is_cloud_default(_egress("10.0.0.0/8"))
    ingress = TargetRule(target="sg-1", protocol=Protocol.ALL, peer=Endpoint.cidr("0.0.0.0/0"))
    assert not AwsProvider.is_cloud_default(ingress)


def test_a_provider_without_the_hook_reports_every_rule() -> None:
    rules = [_egress("0.0.0.0/0")]
    assert split_cloud_defaults(object(), rules) == (rules, [])
    assert split_cloud_defaults(AwsProvider, rules) == ([], rules)


def test_default_egress_is_not_reported_in_text_markdown_or_sarif(aws_world: AwsWorld) -> None:
    open_to(aws_world, aws_world.worker, "tcp", (22, 22), "10.9.0.0/16", "ssh from the bastion")
    for listed in ([], ["--show-unmanaged"]):
        text = _plan(aws_world, *listed)
        markdown = _plan(aws_world, "-o", "markdown", *listed)
        assert "to cidr:0.0.0.0/0" not in text
        assert "| egress | all |" not in markdown
        assert "1 unmanaged rules left alone." in text  # the run's total: the ssh rule only
        assert "1 unmanaged rule left alone" in markdown
    sarif = json.loads(_plan(aws_world, "-o", "sarif"))
    names = [r["locations"][0]["logicalLocations"][0]["name"] for r in sarif["runs"][0]["results"]]
    assert names and not any(n.startswith("egress-") for n in names)


def test_json_keeps_every_rule_and_marks_the_cloud_defaults(aws_world: AwsWorld) -> None:
    open_to(aws_world, aws_world.worker, "tcp", (22, 22), "10.9.0.0/16", "ssh from the bastion")
    data = json.loads(_plan(aws_world, "-o", "json"))
    schema = json.loads((REPO / "portsync" / "schemas" / "plan.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(data)
    defaults = [u for u in data["unmanaged"] if u.get("cloud_default")]
    others = [u for u in data["unmanaged"] if "cloud_default" not in u]
    assert sorted(u["target"] for u in defaults) == sorted([aws_world.cp, aws_world.worker])
    assert all(u["rule"]["direction"] == "egress" for u in defaults)
    assert [u["rule"]["purpose"] for u in others] == ["ssh from the bastion"]
    assert data["summary"]["unmanaged"] == 1
    # a saved plan keeps the distinction
    again = Plan.from_dict(data)
    assert [len(g.cloud_defaults) for g in again] == [1, 1]
    assert again.to_json() == json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _summary_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if "unmanaged rule" in line]


def test_unmanaged_rules_are_counted_per_target_and_listed_on_request(
    aws_world: AwsWorld,
) -> None:
    open_to(aws_world, aws_world.worker, "tcp", (22, 22), "10.9.0.0/16", "ssh from the bastion")
    open_to(aws_world, aws_world.worker, "tcp", (8080, 8080), "10.8.0.0/16", "app debug")
    open_to(aws_world, aws_world.cp, "tcp", (22, 22), "10.9.0.0/16", "ssh from the bastion")
    text = _plan(aws_world)
    *per_target, total = _summary_lines(text)
    assert per_target == [
        "? 1 unmanaged rule left alone; --show-unmanaged lists them",  # control plane
        "? 2 unmanaged rules left alone; --show-unmanaged lists them",  # worker
    ]
    assert total.startswith("Plan: ") and total.endswith(" 3 unmanaged rules left alone.")
    assert "app debug" not in text and "10.9.0.0/16" not in text
    listed = _plan(aws_world, "--show-unmanaged")
    assert listed.count("ssh from the bastion") == 2 and "app debug" in listed
    assert "--show-unmanaged lists them" not in listed

    markdown = _plan(aws_world, "-o", "markdown")
    assert f"`{aws_world.worker} (worker)`: 2 unmanaged rules left alone" in markdown
    assert "app debug" not in markdown
    assert "app debug" in _plan(aws_world, "-o", "markdown", "--show-unmanaged")


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_unmanaged_text_from_the_cloud_is_printed_literally(aws_world: AwsWorld, fmt: str) -> None:
    open_to(aws_world, aws_world.worker, "tcp", (22, 22), "10.9.0.0/16", "[red]x[/red]")
    out = _plan(aws_world, "-o", fmt, "--show-unmanaged")
    assert ("[red]x[/red]" in out) if fmt == "text" else ("\\[red\\]x\\[/red\\]" in out)
