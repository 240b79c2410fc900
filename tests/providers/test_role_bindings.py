"""A mistyped role binding must not wipe a target, on any cloud.

The reproduction: a cluster whose rules portsync wrote is re-bound as ``workers:`` (or ``wоrker``
with a Cyrillic о) instead of ``worker:``. Before, the target's desired set was empty and
``owned`` mode removed every rule portsync owned there (fewer than ``max_deletes``), exit 0.
Now the config is refused before any cloud call. And a plan that would still empty a target
(a binding every rule of which is already present as someone else's) is refused unless
``--allow-empty-target`` says it is meant.
"""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from portsync.cli import app
from tests.providers.clouds import Cloud

runner = CliRunner()


def _run(world: Cloud, *args: str) -> Any:
    return runner.invoke(app, ["--config", str(world.config), *args])


def _converged(world: Cloud) -> None:
    result = _run(world, "apply", "--auto-approve")
    assert result.exit_code == 0, result.output


def _rebound(world: Cloud, name: str) -> dict[str, Any]:
    roles = world.roles
    return {"control-plane": roles["control-plane"], name: roles["worker"]}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("workers", "no port table defines role 'workers' (did you mean 'worker'?)"),
        ("w\u043erker", "'\u043e' (U+043E CYRILLIC SMALL LETTER O) is not one of them"),
    ],
    ids=["plural", "cyrillic-o"],
)
def test_mistyped_binding_is_refused_before_any_cloud_call(
    cloud: Cloud, name: str, message: str
) -> None:
    _converged(cloud)
    before, calls = cloud.snapshot(), cloud.calls()
    cloud.write_config(roles=_rebound(cloud, name))
    for command in (["plan"], ["apply", "--auto-approve"]):
        result = _run(cloud, *command)
        assert result.exit_code == 1, result.output
        assert message in result.stderr
        assert "clusters.0.roles" in result.stderr
    assert cloud.calls() == calls
    assert cloud.snapshot() == before


def test_binding_that_would_empty_a_target_needs_allow_empty_target(cloud: Cloud) -> None:
    _converged(cloud)
    # The worker target re-bound as "bastion", whose only rule (ssh from 10.9.0.0/16) someone
    # else already wrote there: the plan removes every rule portsync owns on it and adds none.
    bastion = [{"role": "bastion", "protocol": "tcp", "ports": 22, "peer": "cidr:10.9.0.0/16"}]
    cloud.write_config(roles=_rebound(cloud, "bastion"), extra_rules=bastion, max_deletes=50)
    before, writes = cloud.snapshot(), cloud.writes()
    for command in (["plan"], ["apply", "--auto-approve"]):
        result = _run(cloud, *command)
        assert result.exit_code == 1, result.output
        assert "would leave targets without any portsync rule" in result.stderr
        assert "bound as clusters.0.roles.bastion" in result.stderr
        assert "--allow-empty-target" in result.stderr
    assert cloud.writes() == writes
    assert cloud.snapshot() == before

    result = _run(cloud, "plan", "--allow-empty-target")
    assert result.exit_code == 0, result.output
    result = _run(cloud, "apply", "--auto-approve", "--allow-empty-target")
    assert result.exit_code == 0, result.output
    assert cloud.writes() > writes
    result = _run(cloud, "plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
