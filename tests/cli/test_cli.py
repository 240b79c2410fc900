"""The CLI contract: outputs, exit codes, one-line errors (docs/reports.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from portsync.cli import app

runner = CliRunner()
REFERENCE = Path(__file__).resolve().parents[1] / "core" / "data" / "kubernetes-website"


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_rules_without_config_prints_the_ten_default_rules_as_json() -> None:
    result = runner.invoke(app, ["rules", "--output", "json"])
    assert result.exit_code == 0, result.output
    rules = json.loads(result.stdout)
    assert len(rules) == 10
    assert set(rules[0]) == {
        "role",
        "direction",
        "protocol",
        "from_port",
        "to_port",
        "icmp_type",
        "icmp_code",
        "peer",
        "purpose",
    }
    assert rules[0]["icmp_type"] is None and rules[0]["icmp_code"] is None
    got = {(r["role"], r["from_port"], r["to_port"], r["peer"]) for r in rules}
    assert got == {
        ("control-plane", 6443, 6443, "any"),
        ("control-plane", 2379, 2380, "self"),
        ("control-plane", 10250, 10250, "self"),
        ("control-plane", 10259, 10259, "self"),
        ("control-plane", 10257, 10257, "self"),
        ("worker", 10250, 10250, "self"),
        ("worker", 10250, 10250, "role:control-plane"),
        ("worker", 10256, 10256, "self"),
        ("worker", 10256, 10256, "load-balancers"),
        ("worker", 30000, 32767, "any"),
    }


def test_rules_role_filter_keeps_only_that_role() -> None:
    result = runner.invoke(app, ["rules", "--role", "worker", "--output", "json"])
    assert result.exit_code == 0
    assert {r["role"] for r in json.loads(result.stdout)} == {"worker"}


def test_rules_unknown_role_is_one_error_line() -> None:
    result = runner.invoke(app, ["rules", "--role", "database"])
    assert result.exit_code == 1
    assert "no rules for role database" in result.stderr
    assert "Traceback" not in result.output


def test_rules_table_output_is_readable() -> None:
    result = runner.invoke(app, ["rules"])
    assert result.exit_code == 0
    assert "6443" in result.stdout and "control-plane" in result.stdout


def test_catalog_list_and_show_kubernetes() -> None:
    listing = runner.invoke(app, ["catalog", "list"])
    assert listing.exit_code == 0
    assert "kubernetes" in listing.stdout
    show = runner.invoke(app, ["catalog", "show", "kubernetes"])
    assert show.exit_code == 0
    assert "10255" in show.stdout  # retired ports are listed


def test_catalog_parse_translated_page_as_json() -> None:
    path = next(REFERENCE.glob("zh-cn__reference_networking_*.md"))
    result = runner.invoke(app, ["catalog", "parse", str(path), "--output", "json"])
    assert result.exit_code == 0, result.output
    rules = json.loads(result.stdout)
    assert any(r["protocol"] == "udp" and r["from_port"] == 30000 for r in rules)


def test_catalog_parse_unreadable_file_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.md"
    path.write_text("# nothing here\n")
    result = runner.invoke(app, ["catalog", "parse", str(path)])
    assert result.exit_code == 1
    assert str(path) in result.stderr
    assert "Traceback" not in result.output


def test_bad_config_is_one_error_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "portsync.yaml").write_text("mode: owned\nsources:\n  all: [nonsense]\n")
    result = runner.invoke(app, ["rules"])
    assert result.exit_code == 1
    assert "portsync.yaml:3" in result.stderr
    assert "Traceback" not in result.output


def test_plan_without_clusters_explains_what_to_add() -> None:
    result = runner.invoke(app, ["plan"])
    assert result.exit_code == 1
    assert "no clusters configured" in result.stderr


def test_apply_missing_plan_file_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "portsync.yaml").write_text(
        "clusters:\n  - {name: a, provider: aws, region: r, roles: {worker: {security_group: sg-1}}}\n"
    )
    result = runner.invoke(app, ["apply", str(tmp_path / "missing.json"), "--auto-approve"])
    assert result.exit_code == 1
    assert "cannot read plan file" in result.stderr


def test_help_and_rules_import_no_cloud_sdk() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from portsync.cli import app\n"
        "r = CliRunner()\n"
        "assert r.invoke(app, ['--help']).exit_code == 0\n"
        "assert r.invoke(app, ['rules', '--output', 'json']).exit_code == 0\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('boto3', 'botocore', 'google', 'azure', 'moto'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_python_dash_m_runs_the_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "portsync", "--help"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0
    assert "plan" in out.stdout


def test_rules_all_holds_every_bound_role_so_nodes_reach_the_api_server(tmp_path: Path) -> None:
    config = tmp_path / "portsync.yaml"
    config.write_text(
        "catalog: [kubernetes]\n"
        "sources: {all: [198.51.100.0/24]}\n"
        "clusters:\n"
        "  - name: prod\n"
        "    provider: aws\n"
        "    region: eu-west-1\n"
        "    roles:\n"
        "      control-plane: {security_group: sg-1}\n"
        "      worker: {security_group: sg-2}\n"
    )
    result = runner.invoke(app, ["--config", str(config), "rules", "--output", "json"])
    assert result.exit_code == 0, result.output
    api_server = {r["peer"] for r in json.loads(result.stdout) if r["from_port"] == 6443}
    # "All" is sources.all and the cluster's own machines, as role peers (no CIDR needed).
    assert api_server == {"any", "self", "role:worker"}
    table = runner.invoke(app, ["--config", str(config), "rules", "--role", "control-plane"])
    assert table.exit_code == 0, table.output
    assert [line for line in table.stdout.splitlines() if "6443" in line and "role:worker" in line]
