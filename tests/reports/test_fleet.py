"""Fleets: ``--shard i/n`` splits clusters deterministically across CI jobs."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from typer.testing import CliRunner

from portsync.cli import app
from portsync.errors import InputError
from portsync.fleet import Shard, parse_shard, select_shard, shard_index

from .conftest import AwsWorld

runner = CliRunner()

NAMES = [f"cluster-{i:03d}" for i in range(200)]


def test_parse_shard_valid_values_parsed() -> None:
    assert parse_shard("1/1") == Shard(1, 1)
    assert parse_shard(" 3 / 8 ") == Shard(3, 8)


@pytest.mark.parametrize("text", ["", "1", "0/4", "5/4", "1/0", "a/b", "-1/4", "1/4/2", "1.5/4"])
def test_parse_shard_bad_values_are_one_input_error(text: str) -> None:
    with pytest.raises(InputError, match="--shard"):
        parse_shard(text)


def test_select_shard_partitions_every_cluster_exactly_once() -> None:
    shards = [select_shard(NAMES, Shard(i, 7)) for i in range(1, 8)]
    flat = [name for shard in shards for name in shard]
    assert sorted(flat) == NAMES
    assert all(10 <= len(s) <= 50 for s in shards)  # roughly even


def test_shard_index_ignores_order_and_other_clusters() -> None:
    before = {name: shard_index(name, 5) for name in NAMES}
    after = {name: shard_index(name, 5) for name in [*reversed(NAMES), "new-cluster"]}
    assert all(after[name] == index for name, index in before.items())


def test_shard_index_same_in_another_interpreter() -> None:
    code = "from portsync.fleet import shard_index; print(shard_index('prod-eu-1', 16))"
    env = {"PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert int(out.stdout) == shard_index("prod-eu-1", 16)


def _fleet_config(world: AwsWorld, count: int) -> None:
    base: dict[str, Any] = {
        "provider": "aws",
        "region": "eu-west-1",
        "endpoint": world.url,
        "roles": {"control-plane": {"security_group": world.cp}},
    }
    world.write_config(clusters=[{"name": f"c{i}", **base} for i in range(count)])


def test_cli_plan_shard_runs_only_its_clusters(aws_world: AwsWorld) -> None:
    _fleet_config(aws_world, 6)
    cfg = str(aws_world.config_path)
    seen: list[str] = []
    for index in (1, 2, 3):
        result = runner.invoke(
            app, ["--config", cfg, "plan", "-o", "json", "--shard", f"{index}/3"]
        )
        assert result.exit_code == 0, result.output
        clusters = {t["cluster"] for t in json.loads(result.stdout)["targets"]}
        assert clusters == set(select_shard([f"c{i}" for i in range(6)], Shard(index, 3)))
        seen.extend(clusters)
    assert sorted(seen) == [f"c{i}" for i in range(6)]


def test_cli_shard_combined_with_cluster_filters_the_named_ones(aws_world: AwsWorld) -> None:
    _fleet_config(aws_world, 4)
    names = ["c0", "c1", "c2"]
    empty = next(i for i in range(1, 5) if not select_shard(names, Shard(i, 4)))
    args = ["--config", str(aws_world.config_path), "audit", "-o", "json"]
    for name in names:
        args += ["--cluster", name]
    result = runner.invoke(app, [*args, "--shard", f"{empty}/4", "--detailed-exitcode"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["clusters"] == []
    apply = runner.invoke(
        app,
        [
            "--config",
            str(aws_world.config_path),
            "apply",
            "--auto-approve",
            *[x for n in names for x in ("--cluster", n)],
            "--shard",
            f"{empty}/4",
        ],
    )
    assert apply.exit_code == 0, apply.output
    assert "no cluster" in apply.stdout


@pytest.mark.parametrize("command", ["plan", "apply", "audit"])
def test_cli_bad_shard_is_one_error_exit_1(
    command: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [command, "--shard", "4/3"])
    assert result.exit_code == 1
    assert "--shard '4/3': i must be between 1 and 3" in result.stderr
    assert "Traceback" not in result.output


def test_cli_apply_shard_with_saved_plan_is_refused(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    plan = tmp_path / "plan.json"
    plan.write_text("{}")
    result = runner.invoke(app, ["apply", str(plan), "--shard", "1/2"])
    assert result.exit_code == 1
    assert "--shard cannot be combined with a saved plan" in result.stderr
