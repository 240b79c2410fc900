"""CLI basics: --version, version -o json, completion, global options anywhere, readable help."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from portsync.cli import app
from portsync.cliargs import hoist_global_options

runner = CliRunner()


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_dash_dash_version_prints_the_installed_version() -> None:
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"portsync {version('portsync')}\n"


def test_version_json_names_python_and_every_sdk_without_importing_one() -> None:
    code = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from portsync.cli import app\n"
        "r = CliRunner().invoke(app, ['version', '--output', 'json'])\n"
        "assert r.exit_code == 0, r.output\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('boto3', 'botocore', 'google', 'azure', 'moto'))\n"
        "print(json.dumps({'report': json.loads(r.stdout), 'imported': bad}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert got["imported"] == []
    report = got["report"]
    assert report["python"] == ".".join(map(str, sys.version_info[:3]))
    from importlib.metadata import version

    assert report["portsync"] == version("portsync")
    for sdk in ("boto3", "google-cloud-compute", "azure-mgmt-network", "azure-identity"):
        assert report["packages"][sdk] == version(sdk)


def test_version_text_is_one_line_per_component() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert re.search(r"^boto3\s+\d+\.\d+", result.stdout, re.M)
    assert re.search(r"^python\s+3\.", result.stdout, re.M)


def test_completion_commands_are_offered() -> None:
    result = runner.invoke(app, ["--help"])
    assert "--install-completion" in result.stdout
    assert "--show-completion" in result.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["-c", "missing.yaml", "rules"],
        ["rules", "-c", "missing.yaml"],
        ["rules", "--config", "missing.yaml"],
        ["rules", "--config=missing.yaml"],
        ["rules", "-cmissing.yaml"],
        ["plan", "-q", "-c", "missing.yaml", "--no-color"],
    ],
)
def test_global_options_work_before_or_after_the_subcommand(argv: list[str]) -> None:
    result = runner.invoke(app, argv)
    assert result.exit_code == 1, result.output
    assert "missing.yaml" in result.stderr and "does not exist" in result.stderr


def test_global_options_after_a_nested_subcommand_are_accepted() -> None:
    result = runner.invoke(app, ["catalog", "show", "kubernetes", "-q", "--no-color"])
    assert result.exit_code == 0, result.output
    assert "10255" in result.stdout


def test_global_flags_after_the_subcommand_take_effect() -> None:
    result = runner.invoke(app, ["rules", "-o", "json", "--compact"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1
    assert len(json.loads(result.stdout)) == 10


def test_an_option_value_that_looks_like_a_global_option_is_left_alone() -> None:
    group = app_group()
    import typer.main

    ctx = typer.main.get_command(app).make_context("portsync", ["rules"], resilient_parsing=True)
    args = ["plan", "--out", "-q", "--cluster", "-c", "-q"]
    assert hoist_global_options(group, ctx, args) == [
        "-q",
        "plan",
        "--out",
        "-q",
        "--cluster",
        "-c",
    ]
    assert hoist_global_options(group, ctx, ["plan", "--", "-q"]) == ["plan", "--", "-q"]


def app_group() -> object:
    import typer.main

    return typer.main.get_command(app)


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["rules", "--help"],
        ["plan", "--help"],
        ["apply", "--help"],
        ["audit", "--help"],
        ["explain", "--help"],
        ["show", "--help"],
        ["catalog", "show", "--help"],
        ["catalog", "parse", "--help"],
    ],
)
def test_help_has_no_python_type_placeholders(argv: list[str]) -> None:
    result = runner.invoke(app, argv)
    assert result.exit_code == 0
    assert not re.search(r"<(list\[|str>|path>|int>)", result.stdout), result.stdout


def test_text_is_the_human_format_everywhere_and_table_still_works() -> None:
    for argv in (["rules"], ["catalog", "show", "kubernetes"]):
        text = runner.invoke(app, [*argv, "-o", "text"])
        table = runner.invoke(app, [*argv, "-o", "table"])
        default = runner.invoke(app, argv)
        assert text.exit_code == table.exit_code == default.exit_code == 0
        assert text.stdout == table.stdout == default.stdout
        assert "6443" in text.stdout
