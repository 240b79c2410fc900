"""``portsync audit``: exposure findings on crafted live states (pure and on moto server)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from portsync import api
from portsync.audit import (
    ALLOW_NAMES,
    CHECKS,
    ComponentPort,
    Reach,
    Severity,
    audit,
    audit_target,
    classify_peer,
    component_ports,
    rule_slug,
)
from portsync.cli import app
from portsync.config import load_config, parse_config
from portsync.model import Endpoint, PortRange, Protocol, TargetRule
from portsync.provider import Target

from .conftest import AwsWorld, open_to

runner = CliRunner()

CP = Target(id="cp-target", role="control-plane", label="cp-target (control-plane)")
WORKER = Target(id="node-target", role="worker", label="node-target (worker)")


def _ports(text: str = "") -> list[ComponentPort]:
    return component_ports(parse_config(text or "catalog: kubernetes\n"))


def _rule(
    target: Target,
    peer: str,
    ports: tuple[int, int] | None = None,
    protocol: str = "tcp",
) -> TargetRule:
    return TargetRule(
        target=target.id,
        role=target.role,
        protocol=Protocol(protocol),
        ports=PortRange(*ports) if ports else None,
        peer=Endpoint.parse(peer),
    )


def _ids(findings: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return sorted((f.id, f.severity.value) for f in findings)


# --- reach -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "reach"),
    [
        ("cidr:0.0.0.0/0", Reach.WORLD),
        ("cidr:::/0", Reach.WORLD),
        ("cidr:8.8.8.0/24", Reach.WORLD),
        ("cidr:10.0.0.0/7", Reach.WORLD),  # holds 11.0.0.0/8
        ("cidr:10.0.0.0/8", Reach.INTERNAL),
        ("cidr:192.168.10.0/24", Reach.INTERNAL),
        ("cidr:203.0.113.0/24", Reach.INTERNAL),
        ("cidr:fd00::/16", Reach.INTERNAL),
        ("cidr:fd00::/8", Reach.WORLD),  # shorter than /16: no set of machines anyone means
        ("service-tag:Internet", Reach.WORLD),
        ("service-tag:*", Reach.WORLD),
        ("service-tag:VirtualNetwork", Reach.INTERNAL),
        ("service-tag:AzureLoadBalancer", Reach.INTERNAL),
        ("service-tag:AzureCloud", Reach.UNKNOWN),
        ("pl:pl-0123", Reach.UNKNOWN),
        ("sg:sg-0123", Reach.INTERNAL),
        ("tag:k8s-node", Reach.INTERNAL),
        ("asg:web", Reach.INTERNAL),
    ],
)
def test_classify_peer_kind_gives_reach(peer: str, reach: Reach) -> None:
    assert classify_peer(Endpoint.parse(peer)) is reach


def test_classify_peer_declared_load_balancer_range_is_internal() -> None:
    health_checks = Endpoint.cidr("35.191.0.0/16")
    assert classify_peer(health_checks) is Reach.WORLD
    assert classify_peer(health_checks, internal=[health_checks]) is Reach.INTERNAL


# --- pure checks -------------------------------------------------------------------------------


def test_audit_target_range_over_kubelet_exposes_every_port_inside() -> None:
    rule = _rule(WORKER, "cidr:0.0.0.0/0", (10000, 11000))
    found = audit_target(
        cluster="c", provider="p", target=WORKER, live=[rule], ports=_ports(), desired=None
    )
    assert _ids(found) == [
        # the exposure floor counts on every role: the control plane's ports too
        ("PS-EXPOSED-CONTROLLER-MANAGER", "high"),
        ("PS-EXPOSED-KUBE-PROXY", "info"),
        ("PS-EXPOSED-KUBELET", "high"),
        ("PS-EXPOSED-RETIRED-PORT", "high"),  # 10255, read-only kubelet
        ("PS-EXPOSED-SCHEDULER", "high"),
    ]


def test_audit_target_protocol_all_from_world_exposes_everything_on_role() -> None:
    rule = _rule(CP, "cidr:::/0", protocol="all")
    found = audit_target(cluster="c", provider="p", target=CP, live=[rule], ports=_ports())
    ids = {f.id for f in found}
    assert ids == {
        "PS-EXPOSED-APISERVER",
        "PS-EXPOSED-ETCD",
        "PS-EXPOSED-KUBELET",
        "PS-EXPOSED-SCHEDULER",
        "PS-EXPOSED-CONTROLLER-MANAGER",
        "PS-EXPOSED-RETIRED-PORT",
    }
    retired = sorted(str(f.exposed[1]) for f in found if f.id == "PS-EXPOSED-RETIRED-PORT")
    assert retired == ["10251", "10252", "10255"]


def test_audit_target_azure_internet_service_tag_on_etcd_is_high() -> None:
    rule = _rule(CP, "service-tag:Internet", (2379, 2380))
    (finding,) = audit_target(cluster="c", provider="azure", target=CP, live=[rule], ports=_ports())
    assert (finding.id, finding.severity) == ("PS-EXPOSED-ETCD", Severity.HIGH)
    assert finding.reach is Reach.WORLD


def test_audit_target_virtual_network_tag_is_not_exposure() -> None:
    rule = _rule(CP, "service-tag:VirtualNetwork", (2379, 2380))
    assert audit_target(cluster="c", provider="azure", target=CP, live=[rule], ports=_ports()) == []


def test_audit_target_prefix_list_on_sensitive_port_is_unknown_reach_info() -> None:
    rule = _rule(CP, "pl:pl-0abc", (2379, 2380))
    (finding,) = audit_target(cluster="c", provider="aws", target=CP, live=[rule], ports=_ports())
    assert (finding.id, finding.severity, finding.reach) == (
        "PS-UNKNOWN-REACH",
        Severity.INFO,
        Reach.UNKNOWN,
    )


def test_audit_target_etcd_port_on_worker_is_etcd_by_the_floor() -> None:
    # The tables put etcd on the control plane, but 2379-2380 open to the world is etcd's
    # exposure on any role (the exposure floor).
    rule = _rule(WORKER, "cidr:0.0.0.0/0", (2379, 2380))
    found = audit_target(cluster="c", provider="p", target=WORKER, live=[rule], ports=_ports())
    assert _ids(found) == [("PS-EXPOSED-ETCD", "high")]


def test_audit_target_role_aware_below_the_floor() -> None:
    # A component port outside the floor still counts only where the tables put it.
    rule = _rule(CP, "cidr:0.0.0.0/0", (30000, 32767))
    assert audit_target(cluster="c", provider="p", target=CP, live=[rule], ports=_ports()) == []


def test_audit_target_unknown_role_gets_every_component_port() -> None:
    bastion = Target(id="b", role="bastion")
    rule = _rule(bastion, "cidr:0.0.0.0/0", (2379, 2379))
    found = audit_target(cluster="c", provider="p", target=bastion, live=[rule], ports=_ports())
    assert [f.id for f in found] == ["PS-EXPOSED-ETCD"]


def test_audit_target_external_etcd_moves_etcd_ports_to_etcd_role() -> None:
    ports = _ports("etcd: external\n")
    etcd_node = Target(id="e", role="etcd")
    rule = _rule(etcd_node, "cidr:0.0.0.0/0", (2379, 2380))
    found = audit_target(cluster="c", provider="p", target=etcd_node, live=[rule], ports=ports)
    assert [f.id for f in found] == ["PS-EXPOSED-ETCD"]
    # still etcd on the control plane: the floor does not move with the topology
    on_cp = audit_target(
        cluster="c",
        provider="p",
        target=CP,
        live=[_rule(CP, "cidr:0.0.0.0/0", (2379, 2380))],
        ports=ports,
    )
    assert [f.id for f in on_cp] == ["PS-EXPOSED-ETCD"]


def test_audit_target_udp_rule_does_not_expose_tcp_port() -> None:
    rule = _rule(CP, "cidr:0.0.0.0/0", (10250, 10250), protocol="udp")
    assert audit_target(cluster="c", provider="p", target=CP, live=[rule], ports=_ports()) == []


def test_audit_target_undeclared_peer_is_info_only_when_desired_known() -> None:
    rule = _rule(CP, "cidr:10.9.0.0/16", (22, 22))
    desired = [_rule(CP, "cidr:10.0.0.0/8", (6443, 6443))]
    found = audit_target(
        cluster="c", provider="p", target=CP, live=[rule], ports=_ports(), desired=desired
    )
    assert _ids(found) == [("PS-UNDECLARED-PEER", "info")]
    assert audit_target(cluster="c", provider="p", target=CP, live=[rule], ports=_ports()) == []


def test_rule_slug_names_protocol_ports_and_peer() -> None:
    assert rule_slug(_rule(CP, "cidr:0.0.0.0/0", (6443, 6443))) == "tcp-6443-cidr:0.0.0.0/0"
    assert rule_slug(_rule(CP, "sg:sg-1", (2379, 2380))) == "tcp-2379-2380-sg:sg-1"
    assert rule_slug(_rule(CP, "cidr:::/0", protocol="all")) == "all-cidr:::/0"


def test_checks_every_id_has_stable_sarif_id_and_text() -> None:
    for check_id, check in CHECKS.items():
        assert check.id == check_id and check_id.startswith("PS-")
        # Exposures under portsync/exposure/, the lifeline check under portsync/lifeline/.
        family = "lifeline" if check_id.startswith("PS-LIFELINE-") else "exposure"
        assert check.sarif_id.startswith(f"portsync/{family}/")
        assert check.why.endswith(".") and check.fix.endswith(".")


# --- live states on moto -----------------------------------------------------------------------


def test_audit_crafted_live_state_on_aws_gets_expected_severities(aws_world: AwsWorld) -> None:
    cp, worker = aws_world.cp, aws_world.worker
    open_to(aws_world, cp, "tcp", (2379, 2380), "0.0.0.0/0")
    open_to(aws_world, cp, "tcp", (10255, 10255), "0.0.0.0/0")
    open_to(aws_world, cp, "tcp", (6443, 6443), "0.0.0.0/0")
    open_to(aws_world, worker, "tcp", (10000, 11000), "0.0.0.0/0")
    open_to(aws_world, worker, "tcp", (10250, 10250), "10.0.0.0/8")
    open_to(aws_world, worker, "tcp", (30000, 32767), "::/0")
    report = audit(load_config(aws_world.config_path))
    got = {
        (f.id, f.target, str(f.rule.peer), str(f.exposed[1]) if f.exposed else "")
        for f in report.findings
    }
    assert ("PS-EXPOSED-ETCD", cp, "cidr:0.0.0.0/0", "2379-2380") in got
    assert ("PS-EXPOSED-RETIRED-PORT", cp, "cidr:0.0.0.0/0", "10255") in got
    assert ("PS-EXPOSED-APISERVER", cp, "cidr:0.0.0.0/0", "6443") in got
    assert ("PS-EXPOSED-KUBELET", worker, "cidr:0.0.0.0/0", "10250") in got
    assert ("PS-EXPOSED-RETIRED-PORT", worker, "cidr:0.0.0.0/0", "10255") in got
    assert ("PS-EXPOSED-NODEPORT", worker, "cidr:::/0", "30000-32767") in got
    # The private 10.0.0.0/8 kubelet rule is not an exposure, only an undeclared peer.
    private = [f for f in report.findings if str(f.rule.peer) == "cidr:10.0.0.0/8"]
    assert [(f.id, f.severity.value) for f in private] == [("PS-UNDECLARED-PEER", "info")]
    # 10000-11000 on the worker also reaches the scheduler and controller-manager ports, which
    # the exposure floor guards on every role.
    assert ("PS-EXPOSED-SCHEDULER", worker, "cidr:0.0.0.0/0", "10259") in got
    assert ("PS-EXPOSED-CONTROLLER-MANAGER", worker, "cidr:0.0.0.0/0", "10257") in got
    assert report.counts() == {"high": 6, "warning": 2, "info": 2, "suppressed": 0}
    assert [f.severity for f in report.findings] == sorted(
        (f.severity for f in report.findings), key=lambda s: -s.rank
    )
    etcd = next(f for f in report.findings if f.id == "PS-EXPOSED-ETCD")
    assert etcd.location == f"aws/prod-aws/{cp}/tcp-2379-2380-cidr:0.0.0.0/0"
    assert etcd.check.fix and etcd.check.why


def test_audit_converged_cluster_has_no_findings(aws_world: AwsWorld) -> None:
    loaded = load_config(aws_world.config_path)
    api.apply(loaded)
    report = audit(loaded)
    assert report.findings == ()
    assert all(c.declared_peers_checked for c in report.clusters)


def test_audit_prefix_list_peer_is_unknown_reach(aws_world: AwsWorld) -> None:
    pl = aws_world.ec2.create_managed_prefix_list(
        PrefixListName="office",
        MaxEntries=5,
        AddressFamily="IPv4",
        Entries=[{"Cidr": "198.51.100.0/24"}],
    )["PrefixList"]["PrefixListId"]
    aws_world.ec2.authorize_security_group_ingress(
        GroupId=aws_world.cp,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 10250,
                "ToPort": 10250,
                "PrefixListIds": [{"PrefixListId": pl}],
            }
        ],
    )
    report = audit(load_config(aws_world.config_path))
    assert [(f.id, f.severity.value, str(f.rule.peer)) for f in report.findings] == [
        ("PS-UNKNOWN-REACH", "info", f"pl:{pl}")
    ]


def test_audit_apiserver_override_moves_the_warning(aws_world: AwsWorld) -> None:
    aws_world.write_config(overrides={"kube-apiserver": 443})
    open_to(aws_world, aws_world.cp, "tcp", (6443, 6443), "0.0.0.0/0")
    open_to(aws_world, aws_world.cp, "tcp", (443, 443), "0.0.0.0/0")
    report = audit(load_config(aws_world.config_path))
    warnings = [f for f in report.findings if f.severity is Severity.WARNING]
    assert [(f.id, str(f.exposed[1])) for f in warnings] == [("PS-EXPOSED-APISERVER", "443")]


def test_audit_without_sources_skips_only_info_and_says_so(aws_world: AwsWorld) -> None:
    aws_world.write_config(sources={})
    open_to(aws_world, aws_world.cp, "tcp", (2379, 2380), "0.0.0.0/0")
    open_to(aws_world, aws_world.cp, "tcp", (22, 22), "10.9.0.0/16")
    report = audit(load_config(aws_world.config_path))
    assert [f.id for f in report.findings] == ["PS-EXPOSED-ETCD"]
    (cluster,) = report.clusters
    assert not cluster.declared_peers_checked
    assert "info findings skipped" in cluster.notes[0]
    assert "sources.all" in cluster.notes[0]


def test_audit_allow_exposure_suppresses_without_failing(aws_world: AwsWorld) -> None:
    aws_world.write_config(allow_exposure=["etcd"])
    open_to(aws_world, aws_world.cp, "tcp", (2379, 2380), "0.0.0.0/0")
    open_to(aws_world, aws_world.cp, "tcp", (10250, 10250), "0.0.0.0/0")
    report = audit(load_config(aws_world.config_path))
    by_id = {f.id: f for f in report.findings}
    assert by_id["PS-EXPOSED-ETCD"].suppressed
    assert not by_id["PS-EXPOSED-KUBELET"].suppressed
    assert [f.id for f in report.failing(Severity.HIGH)] == ["PS-EXPOSED-KUBELET"]
    assert report.counts() == {"high": 1, "warning": 0, "info": 0, "suppressed": 1}


def test_audit_allow_names_match_the_apply_guard_sensitive_components() -> None:
    sensitive = {
        "etcd",
        "kubelet",
        "kube-scheduler",
        "kube-controller-manager",
        "retired",
        "catalog-sensitive",
    }
    high = {c for c, check in CHECKS.items() if check.severity is Severity.HIGH}
    assert {ALLOW_NAMES[c] for c in high} == sensitive
    # The two warnings can be accepted too (a public-by-design API server), never refused.
    others = {c: name for c, name in ALLOW_NAMES.items() if c not in high}
    assert others == {"PS-EXPOSED-APISERVER": "kube-apiserver", "PS-EXPOSED-NODEPORT": "nodeport"}


def test_audit_missing_group_exits_1_with_one_error(aws_world: AwsWorld) -> None:
    aws_world.ec2.delete_security_group(GroupId=aws_world.worker)
    result = runner.invoke(app, ["--config", str(aws_world.config_path), "audit"])
    assert result.exit_code == 1
    assert aws_world.worker in result.stderr
    assert "Traceback" not in result.output


# --- CLI ---------------------------------------------------------------------------------------


def _cli(world: AwsWorld, *args: str) -> object:
    return runner.invoke(app, ["--config", str(world.config_path), "audit", *args])


def test_audit_cli_exit_codes_follow_fail_on(aws_world: AwsWorld) -> None:
    open_to(aws_world, aws_world.cp, "tcp", (6443, 6443), "0.0.0.0/0")  # a warning only
    plain = _cli(aws_world)
    assert plain.exit_code == 0, plain.output
    assert "PS-EXPOSED-APISERVER" in plain.stdout
    assert _cli(aws_world, "--detailed-exitcode").exit_code == 0  # nothing at or above high
    assert _cli(aws_world, "--detailed-exitcode", "--fail-on", "warning").exit_code == 2
    open_to(aws_world, aws_world.cp, "tcp", (10250, 10250), "0.0.0.0/0")
    assert _cli(aws_world, "--detailed-exitcode").exit_code == 2


def test_audit_cli_json_reports_summary_and_findings(aws_world: AwsWorld) -> None:
    open_to(aws_world, aws_world.worker, "all", None, "0.0.0.0/0")
    result = _cli(aws_world, "--output", "json", "--fail-on", "warning")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["fail_on"] == "warning" and data["failed"] is True
    # every floor port on the worker: etcd, kubelet, read-only kubelet, controller manager,
    # scheduler
    assert data["summary"]["high"] == 5
    assert {f["id"] for f in data["findings"]} >= {"PS-EXPOSED-KUBELET", "PS-EXPOSED-NODEPORT"}
    assert data["clusters"][0]["targets"][0]["live_count"] >= 1


def test_audit_cli_bad_fail_on_exits_1_not_2(aws_world: AwsWorld) -> None:
    result = _cli(aws_world, "--fail-on", "critical", "--detailed-exitcode")
    assert result.exit_code == 1  # a usage error must not read as "findings" (2)
    assert "critical" in result.output
