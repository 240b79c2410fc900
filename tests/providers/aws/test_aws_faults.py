"""AWS under faults and pagination: boto3 → EC2Proxy → moto server, through the portsync API/CLI.

The proxy (portsync.testing.ec2proxy) counts EC2 calls, injects the faults real EC2 produces
(throttling, 5xx, timeouts, resets, a concurrent writer) and pages describe results, which moto
never does. botocore backs off up to 1 s, 2 s, 4 s between throttled attempts; the throttling
tests shorten that scale (fixture ``fast_throttle_backoff``) to keep the file fast, and all but one
use ``retry_mode: standard``, because adaptive mode (the default, kept in one test) then
rate-limits the client for a few seconds.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from typer.testing import CliRunner

from portsync import api
from portsync.cli import app
from portsync.config import load_config
from portsync.errors import ApplyError, ConfigError, ConflictError, ProviderError, ThrottledError
from portsync.ops import Plan
from portsync.testing.ec2proxy import EC2Proxy

from .conftest import AwsWorld, owned_by

runner = CliRunner()

#: Client read timeout under test, and how long a "timeout" fault holds a request. The timeout
#: stays well above what a moto call takes on a loaded machine, so only injected faults time out.
READ_TIMEOUT = 1.5
HELD_FOR = 4.0

DSG = "DescribeSecurityGroups"
DSGR = "DescribeSecurityGroupRules"
AUTH_IN = "AuthorizeSecurityGroupIngress"
REVOKE_IN = "RevokeSecurityGroupIngress"


# -- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture
def proxy(moto_url: str) -> Iterator[EC2Proxy]:
    with EC2Proxy(moto_url, timeout_delay=HELD_FOR) as running:
        yield running


@pytest.fixture
def paging_proxy(moto_url: str) -> Iterator[EC2Proxy]:
    with EC2Proxy(moto_url, page_size_cap=2) as running:
        yield running


@pytest.fixture
def fast_throttle_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scale botocore's throttling backoff from 1 s to 0.05 s (the non-throttling scale).

    Everything else — which errors retry, the retry quota, max attempts — stays botocore's.
    Without the (private) knob the tests still pass, only slower.
    """
    from botocore.retries.standard import ExponentialBackoff

    scales = getattr(ExponentialBackoff, "_DEFAULT_BACKOFF_CONFIG", None)
    if isinstance(scales, dict) and "throttling_base_scale" in scales:
        monkeypatch.setitem(scales, "throttling_base_scale", 0.05)


def _configure(
    world: AwsWorld,
    url: str,
    *,
    roles: dict[str, str] | None = None,
    cluster: dict[str, Any] | None = None,
    **top: Any,
) -> Path:
    """Write the world's config with ``endpoint: url`` and extra cluster or top-level keys."""
    bound = roles or {"control-plane": world.cp, "worker": world.worker}
    data: dict[str, Any] = {
        "sources": {"all": ["203.0.113.0/24", "2001:db8::/32"], "load_balancers": [world.lb]},
        "clusters": [
            {
                "name": "prod-aws",
                "provider": "aws",
                "region": "eu-west-1",
                "endpoint": url,
                "roles": {role: {"security_group": gid} for role, gid in bound.items()},
                **(cluster or {}),
            }
        ],
    }
    data.update(top)
    world.config_path.write_text(yaml.safe_dump(data, sort_keys=False))
    return world.config_path


def _plan(world: AwsWorld) -> Plan:
    return api.plan(load_config(world.config_path))


def _apply(world: AwsWorld) -> api.ApplyResult:
    return api.apply(load_config(world.config_path))


def _cidr_ingress(world: AwsWorld, group: str) -> set[tuple[int, str, str]]:
    """(from port, cidr, description) of a group's CIDR ingress, read from moto directly."""
    out = set()
    for perm in world.ingress(group):
        for r in perm.get("IpRanges", []):
            out.add((perm.get("FromPort", -1), r["CidrIp"], r.get("Description", "")))
        for r in perm.get("Ipv6Ranges", []):
            out.add((perm.get("FromPort", -1), r["CidrIpv6"], r.get("Description", "")))
    return out


def _add_ingress(
    world: AwsWorld, group: str, port: int, cidr: str, description: str, owner: str = "prod-aws"
) -> None:
    """A rule; one described as portsync's carries the owner tag of ``owner`` (by default the
    config's cluster)."""
    tagged = {"TagSpecifications": owned_by(owner)} if description.startswith("portsync: ") else {}
    world.ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": port,
                "ToPort": port,
                "IpRanges": [{"CidrIp": cidr, "Description": description}],
            }
        ],
        **tagged,
    )


def _stale_owned_rule(world: AwsWorld) -> None:
    """An owned rule on the control plane that the catalog no longer wants."""
    _add_ingress(world, world.cp, 9999, "10.0.0.0/8", "portsync: retired rule")


def _plan_shape(plan: Plan) -> list[tuple[Any, ...]]:
    return [
        (
            g.target,
            g.role,
            tuple((op.action, op.rule.key, op.rule.description) for op in g.ops),
            tuple(sorted((r.key, r.description) for r in g.unmanaged)),
            g.fingerprint,
            g.live_count,
        )
        for g in plan
    ]


# -- call counts ---------------------------------------------------------------------------------


def test_plan_one_cluster_reads_groups_and_rules_once_each(
    aws_world: AwsWorld, proxy: EC2Proxy
) -> None:
    _configure(aws_world, proxy.url)
    _plan(aws_world)
    assert proxy.calls[DSG] == 1
    assert proxy.calls[DSGR] == 1  # rule ids and owner tags, for both groups at once
    assert sum(proxy.calls.values()) == 2


def test_apply_adds_only_reads_nothing_more_than_plan_and_verification(
    aws_world: AwsWorld, proxy: EC2Proxy
) -> None:
    _configure(aws_world, proxy.url)
    _apply(aws_world)
    # plan read + verification read
    assert proxy.calls[DSG] == 2
    assert proxy.calls[DSGR] == 2
    assert proxy.calls[AUTH_IN] == 2  # one call per changed group
    assert _plan(aws_world).is_empty()


def test_apply_updates_and_removals_use_the_rule_ids_plan_read(
    aws_world: AwsWorld, proxy: EC2Proxy
) -> None:
    _configure(aws_world, proxy.url)
    _apply(aws_world)
    # stale description on the control plane, an owned extra on the worker
    aws_world.ec2.update_security_group_rule_descriptions_ingress(
        GroupId=aws_world.cp,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 6443,
                "ToPort": 6443,
                "IpRanges": [{"CidrIp": "203.0.113.0/24", "Description": "portsync: old words"}],
            }
        ],
    )
    _add_ingress(aws_world, aws_world.worker, 9999, "10.0.0.0/8", "portsync: retired rule")
    proxy.reset_counts()
    result = _apply(aws_world)
    assert result.plan.summary()["update"] == 1
    assert result.plan.summary()["remove"] == 1
    assert proxy.calls[DSGR] == 2  # plan and verification; apply reads no ids of its own
    assert proxy.calls[DSG] == 2
    assert proxy.calls["ModifySecurityGroupRules"] == 1
    assert proxy.calls[REVOKE_IN] == 1
    assert _plan(aws_world).is_empty()


# -- throttling ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("fast_throttle_backoff")
def test_plan_throttled_describe_adaptive_mode_equals_clean_plan(
    aws_world: AwsWorld, proxy: EC2Proxy
) -> None:
    _configure(aws_world, proxy.url)  # default retry mode: adaptive
    clean = _plan(aws_world)
    proxy.inject("throttle", action=DSG, times=3)
    throttled = _plan(aws_world)
    assert not proxy.pending_faults()
    assert proxy.calls[DSG] == 1 + 3 + 1
    assert _plan_shape(throttled) == _plan_shape(clean)


@pytest.mark.usefixtures("fast_throttle_backoff")
def test_apply_throttled_describe_and_authorize_converges(
    aws_world: AwsWorld, proxy: EC2Proxy
) -> None:
    _configure(aws_world, proxy.url, cluster={"retry_mode": "standard"})
    proxy.inject("throttle", action=DSG, times=3)
    proxy.inject("throttle", action=AUTH_IN, times=3)
    result = _apply(aws_world)
    assert result.plan.summary()["add"] == 16
    assert not proxy.pending_faults()
    assert proxy.calls[DSG] == 3 + 2
    assert proxy.calls[AUTH_IN] == 2 + 3
    assert _plan(aws_world).is_empty()


@pytest.mark.usefixtures("fast_throttle_backoff")
def test_apply_throttled_revoke_converges(aws_world: AwsWorld, proxy: EC2Proxy) -> None:
    _configure(aws_world, proxy.url, cluster={"retry_mode": "standard"})
    _apply(aws_world)
    _stale_owned_rule(aws_world)
    proxy.inject("throttle", action=REVOKE_IN, times=3)
    result = _apply(aws_world)
    assert result.plan.summary()["remove"] == 1
    assert proxy.calls[REVOKE_IN] == 1 + 3
    assert (9999, "10.0.0.0/8", "portsync: retired rule") not in _cidr_ingress(
        aws_world, aws_world.cp
    )
    assert _plan(aws_world).is_empty()


@pytest.mark.usefixtures("fast_throttle_backoff")
def test_plan_throttled_beyond_budget_raises_throttled_error(
    aws_world: AwsWorld, proxy: EC2Proxy
) -> None:
    _configure(aws_world, proxy.url, cluster={"max_attempts": 2})
    proxy.inject("throttle", action=DSG, times=10)
    with pytest.raises(ThrottledError, match="RequestLimitExceeded") as caught:
        _plan(aws_world)
    assert caught.value.context.get("code") == "RequestLimitExceeded"
    assert proxy.calls[DSG] == 2  # max_attempts counts the first attempt


@pytest.mark.usefixtures("fast_throttle_backoff")
def test_cli_throttled_beyond_budget_exits_1_then_next_apply_converges(
    aws_world: AwsWorld, proxy: EC2Proxy
) -> None:
    cfg = str(_configure(aws_world, proxy.url, cluster={"max_attempts": 2}))
    assert runner.invoke(app, ["--config", cfg, "apply", "--auto-approve"]).exit_code == 0
    before = _cidr_ingress(aws_world, aws_world.cp)
    assert (6443, "203.0.113.0/24", "portsync: Kubernetes API server") in before

    # Moving the API server to 443 adds two rules and removes two on the control plane.
    _configure(aws_world, proxy.url, cluster={"max_attempts": 2}, overrides={"kube-apiserver": 443})
    proxy.inject("throttle", action=AUTH_IN, times=50)
    result = runner.invoke(app, ["--config", cfg, "apply", "--auto-approve"])
    assert result.exit_code == 1, result.output
    assert "\nerror: apply failed" in result.stderr
    assert "RequestLimitExceeded" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    # Make before break: the failed additions came first, so no owned rule was removed.
    assert _cidr_ingress(aws_world, aws_world.cp) == before

    proxy.clear_faults()
    result = runner.invoke(app, ["--config", cfg, "apply", "--auto-approve"])
    assert result.exit_code == 0, result.output
    after = _cidr_ingress(aws_world, aws_world.cp)
    assert (443, "203.0.113.0/24", "portsync: Kubernetes API server") in after
    assert (443, "2001:db8::/32", "portsync: Kubernetes API server") in after
    assert not {r for r in after if r[0] == 6443}
    assert before - after == {r for r in before if r[0] == 6443}
    result = runner.invoke(app, ["--config", cfg, "plan", "--detailed-exitcode"])
    assert result.exit_code == 0, result.output


@pytest.mark.usefixtures("fast_throttle_backoff")
def test_cli_plan_throttled_beyond_budget_exits_1(aws_world: AwsWorld, proxy: EC2Proxy) -> None:
    cfg = str(_configure(aws_world, proxy.url, cluster={"max_attempts": 1}))
    proxy.inject("throttle", action=DSG, times=5)
    result = runner.invoke(app, ["--config", cfg, "plan"])
    assert result.exit_code == 1
    assert "RequestLimitExceeded" in result.stderr
    assert "throttled" in result.stderr
    assert "Traceback" not in result.output + result.stderr


# -- server errors, timeouts, resets -------------------------------------------------------------


def test_apply_server_errors_503_and_500_converge(aws_world: AwsWorld, proxy: EC2Proxy) -> None:
    _configure(aws_world, proxy.url)
    proxy.inject("server_error", action=DSG, status=503, times=2)
    proxy.inject("server_error", action=AUTH_IN, status=500)
    proxy.inject("server_error", action=AUTH_IN, status=503)
    _apply(aws_world)
    assert not proxy.pending_faults()
    assert proxy.calls[AUTH_IN] == 2 + 2
    assert _plan(aws_world).is_empty()


def test_apply_server_error_on_revoke_converges(aws_world: AwsWorld, proxy: EC2Proxy) -> None:
    _configure(aws_world, proxy.url)
    _apply(aws_world)
    _stale_owned_rule(aws_world)
    proxy.inject("server_error", action=DSGR, status=500)
    proxy.inject("server_error", action=REVOKE_IN, status=503)
    result = _apply(aws_world)
    assert result.plan.summary()["remove"] == 1
    assert not proxy.pending_faults()
    assert _plan(aws_world).is_empty()


#: The cluster's ``timeout:`` under test: the client gives up reading after READ_TIMEOUT seconds.
SHORT = {"timeout": {"connect": 1, "read": READ_TIMEOUT}}


def test_apply_read_timeouts_converge(aws_world: AwsWorld, proxy: EC2Proxy) -> None:
    _configure(aws_world, proxy.url, cluster=SHORT)
    proxy.inject("timeout", action=DSG)
    proxy.inject("timeout", action=AUTH_IN)
    _apply(aws_world)
    assert not proxy.pending_faults()
    assert proxy.calls[DSG] == 1 + 2
    assert proxy.calls[AUTH_IN] == 1 + 2
    assert _plan(aws_world).is_empty()


def test_plan_read_timeout_beyond_budget_raises_provider_error(
    aws_world: AwsWorld, proxy: EC2Proxy
) -> None:
    _configure(aws_world, proxy.url, cluster={"max_attempts": 1, **SHORT})
    proxy.inject("timeout", action=DSG)
    with pytest.raises(ProviderError, match=r"cluster prod-aws: .*no answer from http://"):
        _plan(aws_world)
    assert proxy.calls[DSG] == 1


def test_apply_connection_resets_converge(aws_world: AwsWorld, proxy: EC2Proxy) -> None:
    _configure(aws_world, proxy.url)
    proxy.inject("reset", action=DSG)
    proxy.inject("reset", action=AUTH_IN, times=2)
    _apply(aws_world)
    assert not proxy.pending_faults()
    assert proxy.calls[AUTH_IN] == 2 + 2
    assert _plan(aws_world).is_empty()


def test_apply_connection_reset_on_revoke_converges(aws_world: AwsWorld, proxy: EC2Proxy) -> None:
    _configure(aws_world, proxy.url)
    _apply(aws_world)
    _stale_owned_rule(aws_world)
    proxy.inject("reset", action=REVOKE_IN)
    _apply(aws_world)
    assert proxy.calls[REVOKE_IN] == 2
    assert _plan(aws_world).is_empty()


# -- concurrent writers --------------------------------------------------------------------------


def test_apply_duplicate_on_authorize_fails_that_group_and_the_next_run_converges(
    aws_world: AwsWorld, proxy: EC2Proxy
) -> None:
    _configure(aws_world, proxy.url)
    # The write reaches moto, then the answer says another run added the rules first.
    proxy.inject("duplicate", action=AUTH_IN)
    with pytest.raises(ApplyError, match=r"InvalidPermission\.Duplicate") as caught:
        _apply(aws_world)
    assert isinstance(caught.value.__cause__, ConflictError)
    assert not proxy.pending_faults()
    # A write is sent as compiled: no re-read to diff again (the one read is the plan's), and
    # no verification after a failed write.
    assert proxy.calls[DSGR] == 1
    assert proxy.calls[AUTH_IN] == 2
    proxy.reset_counts()
    _apply(aws_world)  # moto holds the rules: nothing left to write
    assert proxy.calls[AUTH_IN] == 0
    assert _plan(aws_world).is_empty()


def test_apply_rule_added_between_plan_and_apply_fails_that_group_and_the_next_run_converges(
    aws_world: AwsWorld, proxy: EC2Proxy
) -> None:
    _configure(aws_world, proxy.url)

    answered: list[object] = []
    lock = threading.Lock()

    def another_run(params: object) -> None:
        # The plan's two listings go out side by side: once both are answered (this callback
        # runs after moto answered, before the client sees it), another portsync run adds one
        # of the planned rules, straight to moto.
        with lock:
            answered.append(params)
            if len(answered) == 2:
                _add_ingress(
                    aws_world,
                    aws_world.cp,
                    6443,
                    "203.0.113.0/24",
                    "portsync: Kubernetes API server",
                )

    proxy.inject("after", action=DSG, callback=another_run)
    proxy.inject("after", action=DSGR, callback=another_run)
    # EC2 refuses the control plane's whole batch as a duplicate (its calls are atomic); the
    # workers' batch goes through.
    with pytest.raises(ApplyError, match=rf"{aws_world.cp}.*InvalidPermission\.Duplicate"):
        _apply(aws_world)
    assert proxy.calls[AUTH_IN] == 2
    proxy.reset_counts()
    result = _apply(aws_world)
    # The control plane's rules but the one the other run added; nothing on the workers.
    added = [(g.target, op.rule) for g, op in result.plan.changes]
    assert added and {target for target, _ in added} == {aws_world.cp}
    assert not any(
        r.ports is not None and r.ports.from_port == 6443 and str(r.peer) == "203.0.113.0/24"
        for _, r in added
    )
    assert proxy.calls[AUTH_IN] == 1
    assert _plan(aws_world).is_empty()
    ipv4_6443 = [
        r for r in _cidr_ingress(aws_world, aws_world.cp) if r[:2] == (6443, "203.0.113.0/24")
    ]
    assert len(ipv4_6443) == 1


# -- pagination ----------------------------------------------------------------------------------


def _seven_roles(world: AwsWorld) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Seven bound roles (the catalog's two plus five of our own) and the extra roles' rules."""
    roles = {"control-plane": world.cp, "worker": world.worker}
    extra: list[dict[str, Any]] = []
    for i in range(3, 8):
        role = f"role-{i}"
        roles[role] = world.ec2.create_security_group(
            GroupName=role, Description=role, VpcId=world.vpc
        )["GroupId"]
        extra.append(
            {
                "role": role,
                "protocol": "tcp",
                "ports": 8000 + i,
                "peer": "cidr:10.0.0.0/8",
                "purpose": f"app {i}",
            }
        )
        extra.append(
            {"role": role, "protocol": "udp", "ports": 53, "peer": "role:worker", "purpose": "dns"}
        )
    # Drift worth planning: an owned leftover, a stale description, an unmanaged rule.
    _add_ingress(world, roles["role-3"], 9999, "10.0.0.0/8", "portsync: retired rule")
    _add_ingress(world, roles["role-3"], 22, "10.9.0.0/16", "bastion ssh")
    _add_ingress(world, roles["role-4"], 8004, "10.0.0.0/8", "portsync: stale words")
    _add_ingress(world, roles["role-5"], 22, "10.9.0.0/16", "bastion ssh")
    return roles, extra


def test_plan_paged_two_per_page_equals_unpaged_plan(
    aws_world: AwsWorld, proxy: EC2Proxy, paging_proxy: EC2Proxy
) -> None:
    roles, extra = _seven_roles(aws_world)
    _configure(aws_world, proxy.url, roles=roles, extra_rules=extra)
    unpaged = _plan(aws_world)
    _configure(aws_world, paging_proxy.url, roles=roles, extra_rules=extra)
    paged = _plan(aws_world)

    assert proxy.calls[DSG] == 1
    assert paging_proxy.calls[DSG] == math.ceil(len(roles) / 2)
    assert _plan_shape(paged) == _plan_shape(unpaged)
    summary = paged.summary()
    assert (summary["update"], summary["remove"]) == (1, 1)
    assert summary["unmanaged"] >= 2


def test_plan_reads_the_groups_in_one_request_without_max_results(
    aws_world: AwsWorld, proxy: EC2Proxy
) -> None:
    # EC2 documents that leaving MaxResults out returns every item: one request, not one per
    # 1,000 groups.
    roles, extra = _seven_roles(aws_world)
    _configure(aws_world, proxy.url, roles=roles, extra_rules=extra)
    _plan(aws_world)
    (request,) = proxy.requests(DSG)
    assert "MaxResults" not in request and "NextToken" not in request


def test_page_size_key_reads_in_pages_of_that_size(aws_world: AwsWorld, proxy: EC2Proxy) -> None:
    roles, extra = _seven_roles(aws_world)
    _configure(aws_world, proxy.url, roles=roles, extra_rules=extra)
    whole = _plan(aws_world)
    proxy.reset_counts()
    _configure(aws_world, proxy.url, roles=roles, extra_rules=extra, cluster={"page_size": 5})
    paged = _plan(aws_world)
    sent = proxy.requests(DSG)
    assert [r.get("MaxResults") for r in sent] == ["5"] * math.ceil(len(roles) / 5)
    assert "NextToken" in sent[-1]
    assert _plan_shape(paged) == _plan_shape(whole)


def test_page_size_key_out_of_range_is_a_config_error(aws_world: AwsWorld, proxy: EC2Proxy) -> None:
    _configure(aws_world, proxy.url, cluster={"page_size": 2000})
    with pytest.raises(ConfigError, match="page_size"):
        _plan(aws_world)
    assert proxy.calls[DSG] == 0


def _two_clusters(world: AwsWorld, url: str) -> dict[str, str]:
    """Four groups in one region, bound by two clusters (two roles each), one owned rule drifted."""
    groups = {
        f"app-{i}": world.ec2.create_security_group(
            GroupName=f"app-{i}", Description="app", VpcId=world.vpc
        )["GroupId"]
        for i in range(1, 5)
    }
    _add_ingress(world, groups["app-2"], 9999, "10.0.0.0/8", "portsync: retired rule", "blue")
    data = {
        "extra_rules": [
            {
                "role": "*",
                "protocol": "tcp",
                "ports": 8080,
                "peer": "cidr:10.0.0.0/8",
                "purpose": "app",
            },
        ],
        "clusters": [
            {
                "name": name,
                "provider": "aws",
                "region": "eu-west-1",
                "endpoint": url,
                "roles": {role: {"security_group": groups[role]} for role in roles},
            }
            for name, roles in (("blue", ["app-1", "app-2"]), ("green", ["app-3", "app-4"]))
        ],
    }
    world.config_path.write_text(yaml.safe_dump(data, sort_keys=False))
    return groups


def test_clusters_in_one_region_share_one_describe_per_plan(
    aws_world: AwsWorld, proxy: EC2Proxy
) -> None:
    groups = _two_clusters(aws_world, proxy.url)
    plan = _plan(aws_world)
    (request,) = proxy.requests(DSG)
    asked = {v for k, v in request.items() if k.startswith("Filter.1.Value.")}
    assert asked == set(groups.values())
    summary = plan.summary()
    assert (summary["add"], summary["remove"]) == (4, 1)
    assert {g.cluster for g in plan.groups} == {"blue", "green"}
    # Each cluster alone plans exactly what it planned as part of the fleet.
    for name in ("blue", "green"):
        alone = [g for g in plan.groups if g.cluster == name]
        assert _plan_shape(api.plan(load_config(aws_world.config_path), clusters=[name])) == (
            _plan_shape(Plan(groups=tuple(alone), mode=plan.mode))
        )


def test_apply_over_clusters_in_one_region_rereads_after_writing(
    aws_world: AwsWorld, proxy: EC2Proxy
) -> None:
    _two_clusters(aws_world, proxy.url)
    _apply(aws_world)
    # One shared read to plan, one to verify: the verification never sees the plan's listing.
    assert proxy.calls[DSG] == 2
    proxy.reset_counts()
    assert _plan(aws_world).is_empty()
    assert proxy.calls[DSG] == 1


def test_apply_paged_rule_ids_and_verification_converge(
    aws_world: AwsWorld, paging_proxy: EC2Proxy
) -> None:
    roles, extra = _seven_roles(aws_world)
    _configure(aws_world, paging_proxy.url, roles=roles, extra_rules=extra)

    def rule_items() -> int:
        return len(
            aws_world.ec2.describe_security_group_rules(
                Filters=[{"Name": "group-id", "Values": sorted(roles.values())}]
            )["SecurityGroupRules"]
        )

    before = rule_items()
    assert before > 2
    _apply(aws_world)
    after = rule_items()
    pages = math.ceil(len(roles) / 2)
    assert paging_proxy.calls[DSG] == 2 * pages  # plan and verification, every page
    # Rule ids and owner tags of every bound group, every page: at plan and at verification.
    assert paging_proxy.calls[DSGR] == math.ceil(before / 2) + math.ceil(after / 2)
    assert _plan(aws_world).is_empty()
    assert (8004, "10.0.0.0/8", "portsync: app 4") in _cidr_ingress(aws_world, roles["role-4"])
    assert (22, "10.9.0.0/16", "bastion ssh") in _cidr_ingress(aws_world, roles["role-3"])


def test_proxy_paging_botocore_paginator_follows_next_token(
    aws_world: AwsWorld, paging_proxy: EC2Proxy
) -> None:
    for i in range(5):
        aws_world.ec2.create_security_group(GroupName=f"x{i}", Description="x", VpcId=aws_world.vpc)
    client = boto3.client("ec2", region_name="eu-west-1", endpoint_url=paging_proxy.url)
    every = aws_world.ec2.describe_security_groups()["SecurityGroups"]
    pages = list(
        client.get_paginator("describe_security_groups").paginate(PaginationConfig={"PageSize": 5})
    )
    assert [len(p["SecurityGroups"]) for p in pages[:-1]] == [2] * (len(pages) - 1)
    assert all("NextToken" in p for p in pages[:-1]) and "NextToken" not in pages[-1]
    assert sorted(g["GroupId"] for p in pages for g in p["SecurityGroups"]) == sorted(
        g["GroupId"] for g in every
    )
    assert paging_proxy.calls[DSG] == math.ceil(len(every) / 2)


def test_proxy_strict_group_ids_with_max_results_is_refused(
    aws_world: AwsWorld, proxy: EC2Proxy
) -> None:
    from botocore.exceptions import ClientError

    client = boto3.client("ec2", region_name="eu-west-1", endpoint_url=proxy.url)
    with pytest.raises(ClientError, match="InvalidParameterCombination"):
        client.describe_security_groups(GroupIds=[aws_world.cp], MaxResults=5)
