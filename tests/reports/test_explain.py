"""``portsync explain``: who reaches which port, on live and planned states."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from portsync import api
from portsync.cli import app
from portsync.config import load_config
from portsync.errors import InputError
from portsync.explain import (
    Answer,
    Destination,
    evaluate,
    explain,
    match_peer,
    parse_destination,
    parse_source,
)
from portsync.model import Endpoint, PortRange, Protocol, TargetRule
from portsync.provider import Settings, Target

from .conftest import AwsWorld, open_to

runner = CliRunner()

NODE = Target(id="node", role="worker")
KUBELET = Destination("worker", 10250, Protocol.TCP)


def _rule(peer: str, ports: tuple[int, int] | None = (10250, 10250), **extra: str) -> TargetRule:
    return TargetRule(
        target="node",
        role="worker",
        protocol=Protocol.TCP if ports else Protocol.ALL,
        ports=PortRange(*ports) if ports else None,
        peer=Endpoint.parse(peer),
        extra=tuple(sorted(extra.items())),
    )


# --- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "peer"),
    [
        ("any", "cidr:0.0.0.0/0"),
        ("internet", "cidr:0.0.0.0/0"),
        ("203.0.113.7", "cidr:203.0.113.7/32"),
        ("10.1.2.3/8", "cidr:10.0.0.0/8"),
        ("2001:db8::1", "cidr:2001:db8::1/128"),
        ("role:worker", "role:worker"),
        ("load-balancers", "load-balancers"),
    ],
)
def test_parse_source_forms_resolve_to_peers(text: str, peer: str) -> None:
    assert str(parse_source(text).peer) == peer


@pytest.mark.parametrize("text", ["", "role:Bad Name", "sg-123", "300.1.1.1"])
def test_parse_source_garbage_is_input_error(text: str) -> None:
    with pytest.raises(InputError, match="SOURCE is"):
        parse_source(text)


def test_parse_destination_defaults_to_tcp() -> None:
    assert parse_destination("worker:30080") == Destination("worker", 30080, Protocol.TCP)
    assert parse_destination("control-plane:53/udp") == Destination(
        "control-plane", 53, Protocol.UDP
    )


@pytest.mark.parametrize("text", ["6443", "worker:", "worker:1-2/tcp", "worker:1/icmp", "w:x/tcp"])
def test_parse_destination_garbage_is_input_error(text: str) -> None:
    with pytest.raises(InputError, match="ROLE:PORT/PROTO"):
        parse_destination(text)


# --- pure evaluation ---------------------------------------------------------------------------


def test_evaluate_cidr_inside_rule_is_allowed_and_names_rule() -> None:
    rule = _rule("cidr:10.0.0.0/8")
    answer = evaluate(NODE, [rule], [Endpoint.cidr("10.1.0.0/16")], KUBELET)
    assert answer.answer is Answer.ALLOWED
    assert [m.rule for m in answer.endpoints[0].deciding] == [rule]


def test_evaluate_cidr_wider_than_rule_is_partial() -> None:
    answer = evaluate(NODE, [_rule("cidr:10.0.0.0/8")], [Endpoint.cidr("0.0.0.0/0")], KUBELET)
    assert answer.answer is Answer.PARTIAL


def test_evaluate_port_outside_range_or_other_protocol_is_denied() -> None:
    rules = [
        _rule("cidr:0.0.0.0/0", (10255, 10255)),
        TargetRule(
            target="node",
            protocol=Protocol.UDP,
            ports=PortRange(10250, 10250),
            peer=Endpoint.cidr("0.0.0.0/0"),
        ),
    ]
    answer = evaluate(NODE, rules, [Endpoint.cidr("8.8.8.8/32")], KUBELET)
    assert answer.answer is Answer.DENIED
    assert answer.port_rules == ()


def test_evaluate_protocol_all_rule_allows_any_port() -> None:
    answer = evaluate(NODE, [_rule("cidr:0.0.0.0/0", None)], [Endpoint.cidr("8.8.8.8")], KUBELET)
    assert answer.answer is Answer.ALLOWED


def test_evaluate_private_cidr_against_group_peer_is_unknown_and_says_why() -> None:
    answer = evaluate(NODE, [_rule("sg:sg-1")], [Endpoint.cidr("10.0.0.5")], KUBELET)
    assert answer.answer is Answer.UNKNOWN
    assert "not visible" in answer.endpoints[0].deciding[0].note


def test_evaluate_internet_source_against_group_peer_is_denied() -> None:
    rules = [_rule("sg:sg-1"), _rule("tag:k8s-node")]
    public = evaluate(NODE, rules, [Endpoint.cidr("8.8.8.8")], KUBELET)
    assert public.answer is Answer.DENIED
    world = evaluate(NODE, rules, [Endpoint.cidr("0.0.0.0/0")], KUBELET, from_internet=True)
    assert world.answer is Answer.DENIED


def test_evaluate_group_endpoint_matches_exactly() -> None:
    rules = [_rule("sg:sg-cp")]
    assert evaluate(NODE, rules, [Endpoint.parse("sg:sg-cp")], KUBELET).answer is Answer.ALLOWED
    assert evaluate(NODE, rules, [Endpoint.parse("sg:sg-x")], KUBELET).answer is Answer.DENIED


def test_evaluate_deny_rule_with_higher_priority_decides() -> None:
    allow = _rule("cidr:0.0.0.0/0", **{"gcp.priority": "1000"})
    deny = _rule("cidr:0.0.0.0/0", **{"gcp.action": "deny", "gcp.priority": "100"})
    answer = evaluate(NODE, [allow, deny], [Endpoint.cidr("8.8.8.8")], KUBELET)
    assert answer.answer is Answer.DENIED
    assert answer.endpoints[0].deciding[0].rule == deny
    later_deny = _rule("cidr:0.0.0.0/0", **{"gcp.action": "deny", "gcp.priority": "2000"})
    answer = evaluate(NODE, [allow, later_deny], [Endpoint.cidr("8.8.8.8")], KUBELET)
    assert answer.answer is Answer.ALLOWED


def test_match_peer_azure_service_tags_follow_tag_meaning() -> None:
    world = Endpoint.cidr("0.0.0.0/0")
    assert match_peer(world, Endpoint.parse("service-tag:Internet"))[0].value == "yes"
    assert (
        match_peer(Endpoint.cidr("10.0.0.1"), Endpoint.parse("service-tag:Internet"))[0].value
        == "no"
    )
    assert match_peer(world, Endpoint.parse("service-tag:*"))[0].value == "yes"
    assert match_peer(world, Endpoint.parse("service-tag:VirtualNetwork"))[0].value == "unknown"


# --- live and planned states on moto -----------------------------------------------------------


def _ask(world: AwsWorld, source: str, destination: str, **kwargs: Any) -> Any:
    loaded = load_config(world.config_path)
    return explain(loaded, parse_source(source), parse_destination(destination), **kwargs)


def test_explain_live_converged_cluster_answers_per_source(aws_world: AwsWorld) -> None:
    loaded = load_config(aws_world.config_path)
    api.apply(loaded)
    session = api.Session(loaded, Settings())  # one EC2 client for every question
    cases = {
        ("203.0.113.7", "control-plane:6443/tcp"): Answer.ALLOWED,
        ("internet", "control-plane:6443/tcp"): Answer.PARTIAL,  # only 203.0.113.0/24 of it
        ("8.8.8.8", "control-plane:6443/tcp"): Answer.DENIED,
        ("role:control-plane", "worker:10250"): Answer.ALLOWED,
        ("role:worker", "worker:10250"): Answer.ALLOWED,  # self
        ("role:worker", "control-plane:2379"): Answer.DENIED,
        ("load-balancers", "worker:10256"): Answer.ALLOWED,
        ("10.0.0.5", "control-plane:2379"): Answer.UNKNOWN,  # peer is a security group
        ("internet", "control-plane:10250"): Answer.DENIED,  # groups never match the internet
    }
    got = {key: _ask(aws_world, *key, session=session).answer for key in cases}
    assert got == cases


def test_explain_live_names_the_deciding_rule(aws_world: AwsWorld) -> None:
    open_to(aws_world, aws_world.cp, "tcp", (10000, 11000), "0.0.0.0/0", "wide open")
    result = _ask(aws_world, "internet", "control-plane:10250/tcp")
    (cluster,) = result.clusters
    assert cluster.answer is Answer.ALLOWED
    (match,) = cluster.targets[0].endpoints[0].deciding
    assert (match.rule.ports_text, str(match.rule.peer), match.rule.description) == (
        "10000-11000",
        "cidr:0.0.0.0/0",
        "wide open",
    )


def test_explain_plan_answers_on_future_state_and_notes_staleness(
    aws_world: AwsWorld, tmp_path: Path
) -> None:
    cfg = str(aws_world.config_path)
    saved = tmp_path / "plan.json"
    assert runner.invoke(app, ["--config", cfg, "plan", "--out", str(saved)]).exit_code == 0
    ask = ["--config", cfg, "explain", "role:control-plane", "worker:10250/tcp"]
    live = runner.invoke(app, [*ask, "--detailed-exitcode"])
    assert live.exit_code == 2, live.output
    assert "DENIED" in live.stdout
    planned = runner.invoke(app, [*ask, "--plan", str(saved), "--detailed-exitcode", "-o", "json"])
    assert planned.exit_code == 0, planned.output
    data = json.loads(planned.stdout)
    assert (data["state"], data["answer"]) == ("plan", "allowed")
    assert data["clusters"][0]["notes"] == []
    deciding = data["clusters"][0]["targets"][0]["endpoints"][0]["rules"][0]
    assert deciding["match"] == "yes" and deciding["rule"]["peer"] == f"sg:{aws_world.cp}"
    open_to(aws_world, aws_world.worker, "tcp", (22, 22), "10.9.0.0/16")
    aws_world.write_config(mode="additive")
    stale = runner.invoke(app, [*ask, "--plan", str(saved), "-o", "json"])
    notes = json.loads(stale.stdout)["clusters"][0]["notes"]
    assert any("live rules changed since the plan was made" in n for n in notes)
    assert any("made from a different config" in n for n in notes)


def test_explain_unbound_role_exits_1_with_one_error(aws_world: AwsWorld) -> None:
    result = runner.invoke(
        app, ["--config", str(aws_world.config_path), "explain", "any", "etcd:2379/tcp"]
    )
    assert result.exit_code == 1
    assert "no selected cluster binds role 'etcd'" in result.stderr
    assert "Traceback" not in result.output


def test_explain_bad_destination_is_one_error_before_cloud(tmp_path: Path) -> None:
    result = runner.invoke(app, ["explain", "any", "control-plane"])
    assert result.exit_code == 1
    assert "ROLE:PORT/PROTO" in result.stderr
