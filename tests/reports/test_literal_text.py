"""Text is text: names, paths, descriptions and messages print as written, never as rich markup.

Every message path is driven with ``[``, ``]``, ``[/x]`` and ``[bold]``: error lines, progress
lines (plain and live), plan text, audit text, explain text, rule tables and catalog listings.
Before, ``a[/b]`` raised ``rich.errors.MarkupError`` and ``[bold]…`` vanished.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from rich.text import Text
from typer.testing import CliRunner

from portsync.cli import app
from portsync.output import LiveStatus, Output

from .conftest import AwsWorld, open_to

runner = CliRunner()

#: Every bracket shape rich would read: an opening, a closing, a closing tag, a style tag.
HOSTILE = "[bold]x[/x]][/]["
#: AWS rule descriptions take brackets (and a limited character set).
DESCRIPTION = "ops [bold]hand[/bold] [/x] ]["
CLUSTER = "prod[/x][bold]"


def _err(output: Output) -> str:
    return output.err.file.getvalue()  # type: ignore[attr-defined,no-any-return]


def _captured() -> Output:
    out = Output(color=False)
    out._consoles["out"] = Console(
        file=io.StringIO(), markup=False, emoji=False, highlight=False, width=200
    )
    out._consoles["err"] = Console(
        file=io.StringIO(), markup=False, emoji=False, highlight=False, width=200
    )
    return out


@pytest.mark.parametrize(
    "message",
    [
        HOSTILE,
        "a[/b]",
        "[/x]",
        "pip install 'portsync[emulators]'",
        "project must match ^[a-z][-a-z0-9]{4,28}[a-z0-9]$",
        "name :smile: here",
    ],
)
def test_output_error_and_info_print_brackets_literally(message: str) -> None:
    out = Output(color=False)
    console = out.err
    with console.capture() as capture:
        out.error(message)
        out.info(message)
    lines = capture.get().splitlines()
    assert lines == [f"error: {message}", message]


def test_output_print_str_is_literal() -> None:
    out = Output(color=False)
    with out.out.capture() as capture:
        out.print(HOSTILE)
    assert capture.get() == HOSTILE + "\n"


def test_live_status_updates_are_literal_text() -> None:
    shown: list[Any] = []

    class FakeStatus:
        def update(self, renderable: Any) -> None:
            shown.append(renderable)

    LiveStatus(FakeStatus()).update(f"reading {CLUSTER} (aws)")
    assert isinstance(shown[0], Text)
    assert shown[0].plain == f"reading {CLUSTER} (aws)"


@pytest.mark.parametrize(
    ("config", "args", "expected"),
    [
        # A catalog path of brackets.
        ({"catalog": "[/]x.md"}, ["rules"], "[/]x.md"),
        # An unknown key of brackets.
        ({HOSTILE: 1}, ["rules"], f"unknown key {HOSTILE!r}"),
        # A GCP project that does not match its pattern: the pattern's [a-z] prints.
        (
            {
                "clusters": [
                    {
                        "name": "a[/b]",
                        "provider": "gcp",
                        "project": "[bold]BAD",
                        "roles": {"worker": {"target_tag": "w"}},
                    }
                ]
            },
            ["rules"],
            "[a-z]",
        ),
        # A role of brackets, asked for on the command line.
        ({}, ["rules", "--role", "[/x]"], "no rules for role [/x]"),
        # A cluster name of brackets, asked for on the command line.
        (
            {
                "clusters": [
                    {
                        "name": "[bold]x",
                        "provider": "aws",
                        "region": "eu-west-1",
                        "roles": {"worker": {"security_group": "sg-1"}},
                    }
                ]
            },
            ["plan", "--cluster", "a[/b]"],
            "a[/b]",
        ),
    ],
)
def test_error_lines_print_brackets_literally(
    tmp_path: Path, config: dict[str, Any], args: list[str], expected: str
) -> None:
    path = tmp_path / "portsync.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = runner.invoke(app, ["--no-color", "--config", str(path), *args])
    assert result.exit_code == 1, result.output
    assert "MarkupError" not in result.output
    assert "internal error" not in result.stderr
    assert expected in result.stderr


def _hostile_world(world: AwsWorld) -> None:
    # etcd open to the world with a description of brackets: an unmanaged rule in the plan, a
    # finding in the audit and a deciding rule in explain.
    open_to(world, world.cp, "tcp", (2379, 2380), "0.0.0.0/0", description=DESCRIPTION)
    data = yaml.safe_load(world.config_path.read_text())
    data["clusters"][0]["name"] = CLUSTER
    world.config_path.write_text(yaml.safe_dump(data), encoding="utf-8")


@pytest.mark.parametrize(
    "args",
    [
        ["plan", "--show-unmanaged"],
        ["audit"],
        ["explain", "0.0.0.0/0", "control-plane:2379/tcp"],
    ],
    ids=["plan", "audit", "explain"],
)
def test_plan_audit_explain_print_cloud_text_and_names_literally(
    aws_world: AwsWorld, args: list[str]
) -> None:
    _hostile_world(aws_world)
    result = runner.invoke(app, ["--no-color", "--config", str(aws_world.config_path), *args])
    assert result.exit_code == 0, result.output
    assert DESCRIPTION in result.stdout
    assert CLUSTER in result.stdout
    # Progress lines name the cluster, brackets and all.
    assert f"reading {CLUSTER} (aws)" in result.stderr or f"auditing {CLUSTER}" in result.stderr


def test_rules_table_and_catalog_listing_print_brackets_literally(tmp_path: Path) -> None:
    purpose = "metrics [bold]scrape[/bold] [/x]"
    path = tmp_path / "portsync.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "extra_rules": [
                    {
                        "role": "worker",
                        "protocol": "tcp",
                        "ports": 9100,
                        "peer": "cidr:10.0.0.0/8",
                        "purpose": purpose,
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    result = runner.invoke(
        app,
        ["--no-color", "--config", str(path), "rules", "--role", "worker"],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == 0, result.output
    assert purpose in result.stdout
    assert "\\[" not in result.stdout  # no markup escapes leak into the output either
