"""A write that lands otherwise than planned, caught by apply's re-check (docs/lifelines.md).

The plan swaps the API server's source range for a narrower one inside it: add the new rule
(make), then remove the old one (break). The lifeline from a range inside both holds at every
planned step. The endpoint accepts the addition but drops the part the lifeline needs (the
proxy removes it right after, before apply hears back), so the removal is the write that cuts
the lifeline at the real endpoint: apply finds it after that write and sends nothing more.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pytest
import yaml

from portsync import api
from portsync.config import LoadedConfig, load_config
from portsync.errors import ApplyError, LifelineCutDuringApply
from portsync.provider import Settings
from portsync.testing.ec2proxy import EC2Proxy

from .conftest import AwsWorld

OLD, NEW, CI = "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24"
LIFELINE = {"name": "ci -> api", "from": f"cidr:{CI}", "to": "control-plane", "port": 6443}
WRITES = ("AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress", "ModifySecurityGroupRules")


def test_a_dropped_addition_makes_the_removal_cut_the_lifeline(
    aws_world: AwsWorld, moto_url: str
) -> None:
    world = aws_world
    with EC2Proxy(moto_url) as proxy:

        def config(cidrs: list[str], **top: object) -> LoadedConfig:
            path = world.write_config(
                sources={"all": cidrs, "load_balancers": [world.lb]},
                clusters=[
                    {
                        "name": "prod-aws",
                        "provider": "aws",
                        "region": "eu-west-1",
                        "endpoint": proxy.url,
                        "roles": {
                            "control-plane": {"security_group": world.cp},
                            "worker": {"security_group": world.worker},
                        },
                    }
                ],
                **top,
            )
            return load_config(path)

        api.apply(config([OLD]))
        loaded = config([NEW], lifelines=[LIFELINE])
        plan = api.plan(loaded)
        assert {s.name: s.status for g in plan.groups for s in g.lifelines} == {"ci -> api": "held"}
        total = len(plan.writes)
        # Make, then break, on each of the two groups.
        assert [w.phase.name for w in plan.writes].count("BREAK") == 2, plan.writes
        dropped: list[str] = []

        def drop(params: Mapping[str, str]) -> None:
            if params.get("GroupId") == world.cp and not dropped:
                dropped.append(world.cp)
                world.ec2.revoke_security_group_ingress(
                    GroupId=world.cp,
                    IpPermissions=[
                        {
                            "IpProtocol": "tcp",
                            "FromPort": 6443,
                            "ToPort": 6443,
                            "IpRanges": [{"CidrIp": NEW}],
                        }
                    ],
                )

        proxy.inject("after", action="AuthorizeSecurityGroupIngress", times=2, callback=drop)
        before = sum(proxy.calls[a] for a in WRITES)

        with pytest.raises(LifelineCutDuringApply) as caught:
            api.apply(
                loaded,
                max_deletes=100,
                settings=Settings(mode=loaded.config.mode, max_workers=1),
            )

        assert dropped == [world.cp]
        error = caught.value
        found = re.match(
            rf"lifeline 'ci -> api' is cut after write (\d+) of {total} on "
            rf"prod-aws/{world.cp} \(control-plane\): no live rule admits tcp 6443 from "
            rf"cidr:{re.escape(CI)}",
            str(error),
        )
        assert found is not None, error
        # The cut is the removal on the control plane, found right after it; the worker's
        # removal (the last write) was never sent.
        assert error.method == "RevokeSecurityGroupIngress" and error.unit == world.cp
        sent = sum(proxy.calls[a] for a in WRITES) - before
        assert sent == int(found[1]) == error.sent == total - 1, (sent, total)
        kinds = [a for a, _ in proxy.log if a in WRITES]
        assert kinds[-1] == "RevokeSecurityGroupIngress"
        assert kinds.count("RevokeSecurityGroupIngress") == 1


def test_a_failed_read_back_stops_the_apply_with_its_own_message(
    aws_world: AwsWorld, moto_url: str
) -> None:
    world = aws_world
    with EC2Proxy(moto_url) as proxy:
        path = world.write_config(
            lifelines=[LIFELINE | {"from": "cidr:203.0.113.0/24"}],
            clusters=[
                {
                    "name": "prod-aws",
                    "provider": "aws",
                    "region": "eu-west-1",
                    "endpoint": proxy.url,
                    "max_attempts": 1,  # no retry: the refused read is final
                    "roles": {
                        "control-plane": {"security_group": world.cp},
                        "worker": {"security_group": world.worker},
                    },
                }
            ],
        )
        api.apply(load_config(path))  # opens the lifeline: held from now on
        loaded = load_config(
            world.write_config(
                lifelines=[LIFELINE | {"from": "cidr:203.0.113.0/24"}],
                # One authorize on each group, the control plane's first.
                extra_rules=[
                    {"role": role, "protocol": "tcp", "ports": 9443, "peer": "any"}
                    for role in ("control-plane", "worker")
                ],
                clusters=yaml.safe_load(path.read_text())["clusters"],
            )
        )
        total = len(api.plan(loaded).writes)

        def refuse_reads(_params: Mapping[str, str]) -> None:
            proxy.inject("server_error", action="DescribeSecurityGroups", times=5)

        proxy.inject("after", action="AuthorizeSecurityGroupIngress", callback=refuse_reads)
        before = sum(proxy.calls[a] for a in WRITES)
        with pytest.raises(ApplyError) as caught:
            api.apply(loaded, settings=Settings(mode=loaded.config.mode, max_workers=1))

        message = str(caught.value)
        assert not isinstance(caught.value, LifelineCutDuringApply)
        assert re.search(
            rf"apply stopped after write 1 of {total} \(AuthorizeSecurityGroupIngress on "
            rf"{world.cp}\): reading it back to re-check lifelines failed: AWS "
            r"describe_security_groups failed: Unavailable: .* \(1 of 2 writes sent, none after "
            r"it; fix the cause and run apply again to converge\)$",
            message,
        ), message
        assert sum(proxy.calls[a] for a in WRITES) - before == 1 < total
