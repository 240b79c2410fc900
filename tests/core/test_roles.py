"""Role names and bindings are checked before any cloud call (no cloud in these tests: the
cluster's endpoint is a closed port, so a check that let the config through would fail
differently)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from portsync.cli import app
from portsync.config import parse_config
from portsync.errors import ConfigError
from portsync.roles import role_name_problem
from portsync.synthesis import config_notes, synthesize

runner = CliRunner()

CLOSED = "http://127.0.0.1:9"


def _config(
    roles: dict[str, Any] | None = None, *, extra: list[dict[str, Any]] | None = None, **top: Any
) -> str:
    data: dict[str, Any] = {
        "sources": {"all": ["203.0.113.0/24"]},
        **top,
        "clusters": [
            {
                "name": "prod",
                "provider": "aws",
                "region": "eu-west-1",
                "endpoint": CLOSED,
                "roles": roles
                or {
                    "control-plane": {"security_group": "sg-1"},
                    "worker": {"security_group": "sg-2"},
                },
            }
        ],
    }
    if extra is not None:
        data["extra_rules"] = extra
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _refused(text: str) -> str:
    with pytest.raises(ConfigError) as exc:
        synthesize(parse_config(text, path=Path("portsync.yaml")))
    return exc.value.message


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("worker", None),
        ("control-plane", None),
        ("gpu-2", None),
        ("w\u043erker", "'\u043e' (U+043E CYRILLIC SMALL LETTER O)"),
        ("wor\u2010ker", "U+2010 HYPHEN"),
        ("\u0435tcd", "U+0435 CYRILLIC SMALL LETTER IE"),
        ("-worker", "joined by single hyphens"),
        ("a--b", "joined by single hyphens"),
    ],
)
def test_role_names_are_ascii_slugs(name: str, expected: str | None) -> None:
    problem = role_name_problem(name)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


def test_lookalike_bound_role_is_a_config_error_naming_the_character() -> None:
    text = _config({"w\u043erker": {"security_group": "sg-2"}})
    with pytest.raises(ConfigError, match=r"U\+043E CYRILLIC SMALL LETTER O"):
        parse_config(text)


def test_lookalike_extra_rule_role_is_a_config_error() -> None:
    extra = [{"role": ["worker", "\u0435tcd"], "protocol": "tcp", "ports": 1, "peer": "self"}]
    with pytest.raises(ConfigError, match=r"extra_rules\.0\.role.*U\+0435"):
        parse_config(_config(extra=extra))


def test_bound_role_no_table_defines_suggests_the_close_one() -> None:
    message = _refused(
        _config(
            {"control-plane": {"security_group": "sg-1"}, "workers": {"security_group": "sg-2"}}
        )
    )
    assert message == (
        "portsync.yaml:12: clusters.0.roles.workers: no port table defines role 'workers' "
        "(did you mean 'worker'?)"
    )


def test_bound_role_far_from_any_lists_the_known_roles() -> None:
    message = _refused(_config({"bastion": {"security_group": "sg-1"}}))
    assert "no port table defines role 'bastion' (known roles: control-plane, worker)" in message


def test_bound_role_defined_by_an_extra_rule_is_fine() -> None:
    roles = {"control-plane": {"security_group": "sg-1"}, "bastion": {"security_group": "sg-3"}}
    extra = [{"role": "bastion", "protocol": "tcp", "ports": 22, "peer": "any"}]
    ruleset = synthesize(parse_config(_config(roles, extra=extra)))
    assert "bastion" in ruleset.roles


def test_every_role_star_does_not_define_a_mistyped_binding() -> None:
    roles = {"control-plane": {"security_group": "sg-1"}, "workers": {"security_group": "sg-2"}}
    extra = [{"role": "*", "protocol": "tcp", "ports": 22, "peer": "any"}]
    assert "clusters.0.roles.workers" in _refused(_config(roles, extra=extra))


def test_extra_rule_for_a_role_no_cluster_binds_is_refused() -> None:
    extra = [
        {"role": "worker", "protocol": "udp", "ports": 4789, "peer": "self"},
        {"role": ["control-plane", "workers"], "protocol": "tcp", "ports": 22, "peer": "any"},
    ]
    message = _refused(_config(extra=extra))
    assert message.endswith(
        "extra_rules.1.role.1: no cluster binds role 'workers', so this rule would be written "
        "nowhere (did you mean 'worker'?)"
    )


def test_extra_rule_roles_are_not_checked_without_clusters() -> None:
    # `portsync rules` previews a rule set before any cluster is configured.
    text = yaml.safe_dump(
        {"extra_rules": [{"role": "bastion", "protocol": "tcp", "ports": 22, "peer": "self"}]}
    )
    assert "bastion" in synthesize(parse_config(text)).roles


def test_every_problem_is_listed_at_once() -> None:
    roles = {"control-plane": {"security_group": "sg-1"}, "workers": {"security_group": "sg-2"}}
    extra = [{"role": "etdc", "protocol": "tcp", "ports": 1, "peer": "self"}]
    message = _refused(_config(roles, extra=extra))
    assert "clusters.0.roles.workers" in message
    assert "extra_rules.0.role: no cluster binds role 'etdc'" in message


def test_unbound_table_role_is_one_note() -> None:
    loaded = parse_config(_config(etcd="external"))
    assert config_notes(loaded) == [
        "note: the port tables define roles no cluster binds: 'etcd'; their rules are not "
        "written anywhere"
    ]
    assert config_notes(parse_config(_config())) == []


def test_cli_plan_refuses_a_mistyped_binding_before_any_cloud_call(tmp_path: Path) -> None:
    path = tmp_path / "portsync.yaml"
    path.write_text(
        _config(
            {"control-plane": {"security_group": "sg-1"}, "workers": {"security_group": "sg-2"}}
        )
    )
    for command in (["plan"], ["apply", "--auto-approve"], ["validate"]):
        result = runner.invoke(app, ["--config", str(path), *command])
        assert result.exit_code == 1, result.output
        assert "no port table defines role 'workers' (did you mean 'worker'?)" in result.output


def test_cli_plan_prints_the_unbound_role_note(tmp_path: Path) -> None:
    path = tmp_path / "portsync.yaml"
    path.write_text(_config(etcd="external"))
    result = runner.invoke(app, ["--config", str(path), "plan"])
    # The closed endpoint fails the read; the note came first, before any cloud call.
    assert result.exit_code == 1
    assert "note: the port tables define roles no cluster binds: 'etcd'" in result.stderr


def test_roles_given_rules_only_by_every_role_are_fine_unless_a_near_miss() -> None:
    roles = {"control-plane": {"security_group": "sg-1"}, "ingress": {"security_group": "sg-2"}}
    extra = [{"role": "*", "protocol": "tcp", "ports": 8080, "peer": "self"}]
    assert "ingress" in synthesize(parse_config(_config(roles, extra=extra))).roles
    roles = {"control-plane": {"security_group": "sg-1"}, "workers": {"security_group": "sg-2"}}
    message = _refused(_config(roles, extra=extra))
    assert message.endswith(
        "clusters.0.roles.workers: no port table defines role 'workers', only rules for role '*' "
        "would apply to it (did you mean 'worker'?)"
    )
