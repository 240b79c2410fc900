"""``portsync show PLAN.json``: a saved plan printed offline, exactly as ``plan`` printed it."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from portsync.cli import app
from tests.reports.conftest import open_to

from .conftest import AwsWorld

runner = CliRunner()


def _no_network(self: socket.socket, address: object) -> None:
    raise ConnectionRefusedError(f"show must not connect anywhere (tried {address})")


def _drift(world: AwsWorld) -> None:
    """Drift of every kind: missing rules, unmanaged rules (one risky), a stale portsync rule."""
    open_to(world, world.worker, "tcp", (22, 22), "10.9.0.0/16", "ssh from the bastion")
    open_to(world, world.worker, "tcp", (10250, 10250), "0.0.0.0/0", "kubelet for everyone")
    open_to(world, world.cp, "tcp", (6443, 6443), "203.0.113.0/24", "portsync: old words")


@pytest.mark.parametrize("listed", [[], ["--show-unmanaged"]], ids=["counted", "listed"])
@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "sarif"])
def test_show_prints_what_plan_printed_in_every_format_without_the_cloud(
    aws_world: AwsWorld,
    fmt: str,
    listed: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    _drift(aws_world)
    saved = tmp_path / "plan.json"
    config = str(aws_world.config_path)
    planned = runner.invoke(app, ["-c", config, "plan", "--out", str(saved), "-o", fmt, *listed])
    assert planned.exit_code == 0, planned.output
    assert "6443" in planned.stdout
    # JSON holds every rule; SARIF only the risky unmanaged one; text and Markdown list the
    # unmanaged rules with --show-unmanaged, and count them per target without
    assert ("10.9.0.0/16" in planned.stdout) == (fmt == "json" or (bool(listed) and fmt != "sarif"))
    risky = "kubelet for everyone" in planned.stdout
    assert risky == (fmt in ("json", "sarif") or bool(listed))
    if fmt in ("text", "markdown") and not listed:
        assert "2 unmanaged rules left alone" in planned.stdout

    monkeypatch.setattr(socket.socket, "connect", _no_network)
    shown = runner.invoke(app, ["show", str(saved), "-o", fmt, "-c", config, *listed])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == planned.stdout


def test_show_writes_lists_the_saved_writes_in_apply_order_in_80_columns(
    aws_world: AwsWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _drift(aws_world)
    saved = tmp_path / "plan.json"
    config = str(aws_world.config_path)
    planned = runner.invoke(app, ["-c", config, "plan", "--out", str(saved), "-o", "json"])
    assert planned.exit_code == 0, planned.output
    writes = json.loads(planned.stdout)["writes"]
    assert writes
    verbose = runner.invoke(app, ["-c", config, "plan", "--verbose"])
    assert verbose.exit_code == 0, verbose.output
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    shown = runner.invoke(app, ["show", str(saved), "--writes"])
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    heads = [line.split() for line in lines if line.startswith("  ") and line[2].isdigit()]
    assert len(heads) == len(writes)
    assert {head[3] for head in heads} == {w["method"] for w in writes}
    # Per unit, make before change before break.
    phases = {"make": 0, "change": 1, "break": 2}
    for unit in {(w["cluster"], w["target"]) for w in writes}:
        start = lines.index(f"{unit[0]} {unit[1]}:")
        block = []
        for line in lines[start + 1 :]:
            if not line.startswith(" "):
                break
            if line[2:3].isdigit():
                block.append(phases[line.split()[1]])
        assert block == sorted(block) and block
    # plan --verbose prints the same listing after the plan itself.
    assert shown.stdout in verbose.stdout


def test_show_of_a_damaged_plan_is_one_error(tmp_path: Path) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text('{"format_version": 1, "changes": "x"}')
    result = runner.invoke(app, ["show", str(bad)])
    assert result.exit_code == 1
    assert str(bad) in result.stderr
    assert "Traceback" not in result.output


def test_show_of_a_missing_plan_is_one_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["show", str(tmp_path / "nope.json"), "--writes"])
    assert result.exit_code == 1
    assert "cannot read plan file" in result.stderr


def _undated(markdown: str) -> str:
    return "\n".join(line for line in markdown.splitlines() if "portsync audit, read" not in line)


def test_audit_summary_appends_the_markdown_of_the_same_read(
    aws_world: AwsWorld, tmp_path: Path
) -> None:
    open_to(aws_world, aws_world.cp, "tcp", (2379, 2380), "0.0.0.0/0", "etcd for everyone")
    summary = tmp_path / "summary.md"
    summary.write_text("# before\n")
    config = str(aws_world.config_path)
    sarif = runner.invoke(app, ["-c", config, "audit", "-o", "sarif", "--summary", str(summary)])
    assert sarif.exit_code == 0, sarif.output
    assert json.loads(sarif.stdout)["runs"][0]["results"]
    markdown = runner.invoke(app, ["-c", config, "audit", "-o", "markdown"])
    written = summary.read_text()
    assert written.startswith("# before\n")
    # the same report, bar the time it was read
    assert _undated(written[len("# before\n") :]) == _undated(markdown.stdout)
    assert "etcd" in written
