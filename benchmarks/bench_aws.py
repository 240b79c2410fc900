"""AWS at scale: ``portsync.api.plan`` / ``apply`` against moto server, through the counting proxy.

Setup (not counted): N security groups with the same 10 ingress rules each, all carrying
portsync's marker, and a config binding role ``role-<i>`` to group i whose ``extra_rules`` give
those 10 rules once, for every role (``role: "*"``), so the plan is empty. Then, in the same run:

* **plan**: ``api.plan`` against the bare boto3 reads a perfect tool would make — one
  DescribeSecurityGroups over the same groups without ``MaxResults`` (every item in one answer;
  a group-id filter up to 200 groups, the region's groups above, as the adapter does), then
  their rules with ids and owner tags (DescribeSecurityGroupRules, 200 group ids a filter, 1,000
  rules a page), client creation included on both sides;
* **apply**: one more rule on each of ``apply_groups`` groups, against the perfect tool's one
  read plus one AuthorizeSecurityGroupIngress per group on as many threads.

moto's speed is not AWS's: the seconds say how much portsync adds on top of the same API calls,
the call counts are what AWS would bill against the throttle buckets. Two of moto's lookups are
quadratic in the region's rules; the run makes them direct (:mod:`benchmarks.motoindex`, same
answers), or 2,000 groups would take hours.

    python -m benchmarks.bench_aws             # N=200
    python -m benchmarks.bench_aws --scale 1000
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import ClientError

from benchmarks.common import command_line, emit, make_row, ratio, timed
from benchmarks.motoindex import direct_lookups
from portsync import api
from portsync.config import LoadedConfig, load_config
from portsync.provider import Settings
from portsync.providers.aws.adapter import make_client
from portsync.providers.aws.emulator import MotoServer
from portsync.providers.aws.limits import MAX_FILTER_VALUES, MAX_RESULTS_PER_PAGE
from portsync.providers.aws.translate import owner_tags
from portsync.testing.ec2proxy import EC2Proxy

__all__ = ["DEFAULT_SCALE", "main", "run"]

DEFAULT_SCALE = 200
RULES_PER_GROUP = 10
FLEET_CLUSTER_SIZE = 10  # security groups per cluster in the fleet row (a few roles each)
REGION = "eu-west-1"
WORKERS = Settings().max_workers

DSG = "DescribeSecurityGroups"
DSGR = "DescribeSecurityGroupRules"
WRITES = (
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupRules",
)


#: Seconds a benchmark call may wait for moto's answer, on both sides of every comparison. moto
#: takes seconds to answer for thousands of groups on a loaded machine; a timeout shorter than
#: that would only make the client ask again while the server still works on the first answer.
READ_TIMEOUT = 300.0


def _client(url: str) -> Any:
    return make_client(region=REGION, endpoint=url, anonymous=True, read_timeout=READ_TIMEOUT)


#: The owner of every benchmark cluster, and the tags that make the seeded rules its own.
OWNER = "bench-aws"
OWNED = [
    {
        "ResourceType": "security-group-rule",
        "Tags": [{"Key": k, "Value": v} for k, v in owner_tags(OWNER, OWNER).items()],
    }
]


def _role(i: int) -> str:
    return f"role-{i:05d}"


def _create_groups(url: str, count: int) -> list[str]:
    """``count`` groups in one VPC, each with RULES_PER_GROUP owned ingress rules."""
    ec2 = _client(url)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    permissions = [
        {
            "IpProtocol": "tcp",
            "FromPort": 10000 + j,
            "ToPort": 10000 + j,
            "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": f"portsync: svc {j}"}],
        }
        for j in range(RULES_PER_GROUP)
    ]

    # moto's group creation is not thread-safe (it iterates the VPC's groups); authorizing is.
    groups: list[str] = [
        ec2.create_security_group(
            GroupName=f"bench-{i:05d}", Description="portsync benchmark", VpcId=vpc
        )["GroupId"]
        for i in range(count)
    ]

    def fill(gid: str) -> None:
        try:
            ec2.authorize_security_group_ingress(
                GroupId=gid, IpPermissions=permissions, TagSpecifications=OWNED
            )
        except ClientError as exc:
            # Under load botocore may retry a call moto already applied; the rules are there.
            if exc.response.get("Error", {}).get("Code") != "InvalidPermission.Duplicate":
                raise

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(fill, groups))
    return groups


def _write_config(
    path: Path,
    url: str,
    groups: Sequence[str],
    *,
    extra_for: int = 0,
    per_cluster: int | None = None,
) -> Path:
    """Bind ``role-<i>`` to ``groups[i]``; every role gets the same RULES_PER_GROUP rules, written
    once with ``role: "*"`` as a user would; the first ``extra_for`` roles get one more. With
    ``per_cluster`` the roles are spread over clusters of that many groups each, all in one
    region (a fleet), instead of one cluster."""
    extra_rules: list[dict[str, Any]] = [
        {
            "role": "*",
            "protocol": "tcp",
            "ports": 10000 + j,
            "peer": "cidr:10.0.0.0/8",
            "purpose": f"svc {j}",
        }
        for j in range(RULES_PER_GROUP)
    ]
    if extra_for:
        extra_rules.append(
            {
                "role": [_role(i) for i in range(min(extra_for, len(groups)))],
                "protocol": "tcp",
                "ports": 9999,
                "peer": "cidr:10.0.0.0/8",
                "purpose": "svc added",
            }
        )
    data = {
        "extra_rules": extra_rules,
        "max_deletes": 0,
        "clusters": [
            {
                "name": f"bench-aws-{start:05d}" if per_cluster else "bench-aws",
                "owner": OWNER,
                "provider": "aws",
                "region": REGION,
                "endpoint": url,
                "credentials": "anonymous",
                "timeout": {"connect": 5, "read": READ_TIMEOUT},
                "roles": {
                    _role(i): {"security_group": groups[i]}
                    for i in range(start, min(start + size, len(groups)))
                },
            }
            for size in [per_cluster or len(groups)]
            for start in range(0, len(groups), size)
        ],
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _bare_reads(url: str, groups: Sequence[str]) -> dict[str, Any]:
    """What a perfect tool reads to tell portsync's rules from others' by their tags: one
    DescribeSecurityGroups over ``groups`` without ``MaxResults`` (EC2 then returns every item; a
    ``NextToken`` would still be followed), then the rules with their ids and tags,
    DescribeSecurityGroupRules filtered on up to 200 group ids a call, 1,000 rules a page."""
    ec2 = _client(url)
    kwargs: dict[str, Any] = {}
    if len(groups) <= MAX_FILTER_VALUES:
        kwargs["Filters"] = [{"Name": "group-id", "Values": list(groups)}]
    wanted = set(groups)
    found = {
        g["GroupId"]: g
        for page in ec2.get_paginator("describe_security_groups").paginate(**kwargs)
        for g in page["SecurityGroups"]
        if g["GroupId"] in wanted
    }
    ids = sorted(wanted)
    rules = ec2.get_paginator("describe_security_group_rules")
    for start in range(0, len(ids), MAX_FILTER_VALUES):
        chunk = ids[start : start + MAX_FILTER_VALUES]
        for page in rules.paginate(
            Filters=[{"Name": "group-id", "Values": chunk}],
            PaginationConfig={"PageSize": MAX_RESULTS_PER_PAGE},
        ):
            for rule in page["SecurityGroupRules"]:
                found[rule["GroupId"]].setdefault("Rules", []).append(rule)
    return found


def _bare_apply(url: str, groups: Sequence[str], touched: Sequence[str]) -> None:
    """A perfect tool adding one rule to each of ``touched``: it reads every bound group (to know
    the drift), then makes one authorize call per touched group; it verifies nothing."""
    _bare_reads(url, groups)
    ec2 = _client(url)

    def one(gid: str) -> None:
        ec2.authorize_security_group_ingress(
            GroupId=gid,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 9998,
                    "ToPort": 9998,
                    "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "baseline"}],
                }
            ],
        )

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(one, touched))


def _reads(calls: dict[str, int]) -> int:
    return calls.get(DSG, 0) + calls.get(DSGR, 0)


def _writes(calls: dict[str, int]) -> int:
    return sum(calls.get(name, 0) for name in WRITES)


def run(
    scale: int = DEFAULT_SCALE, *, apply_groups: int = 100, repeats: int | None = None
) -> list[dict[str, Any]]:
    """Run the AWS benchmark at ``scale`` groups and return its result rows.

    ``repeats`` (default 3 up to 200 groups, else 2) times plan and baseline, alternately,
    keeping the fastest of each.
    """
    if scale < 1:
        raise ValueError("scale must be at least 1")
    repeats = repeats or (3 if scale <= 200 else 2)
    apply_groups = min(apply_groups, scale)
    rows: list[dict[str, Any]] = []
    with (
        direct_lookups(),
        MotoServer() as moto,
        EC2Proxy(moto.url) as proxy,
        tempfile.TemporaryDirectory(prefix="portsync-bench-") as tmp,
    ):
        groups, setup_s = timed(lambda: _create_groups(proxy.url, scale))
        config = _write_config(Path(tmp) / "portsync.yaml", proxy.url, groups)
        loaded, load_s = timed(lambda: load_config(config))

        # Alternate baseline and plan so that drifting machine load hits both alike.
        base_s = plan_s = math.inf
        for _ in range(repeats):
            proxy.reset_counts()
            base_s = min(base_s, timed(lambda: _bare_reads(proxy.url, groups))[1])
            base_calls = _reads(proxy.calls)
            proxy.reset_counts()
            plan, seconds = timed(lambda: api.plan(loaded))
            plan_s = min(plan_s, seconds)
            calls = dict(proxy.calls)
        strategy = "group-id filter" if scale <= MAX_FILTER_VALUES else "region listing"
        rows.append(
            make_row(
                cloud="aws",
                scale=scale,
                what="load config",
                seconds=load_s,
                note=f"{len(loaded.config.extra_rules)} extra_rules for {scale} roles; setup "
                f"{setup_s:.1f}s not counted",
            )
        )
        rows.append(
            make_row(
                cloud="aws",
                scale=scale,
                what="plan",
                calls_read=_reads(calls),
                calls_write=0,
                seconds=plan_s,
                baseline_seconds=base_s,
                ratio=ratio(plan_s, base_s),
                note=f"{calls.get(DSG, 0)} DescribeSecurityGroups ({strategy}), "
                f"{calls.get(DSGR, 0)} DescribeSecurityGroupRules; baseline "
                f"{base_calls} calls; plan {'empty' if plan.is_empty() else 'NOT EMPTY'}; "
                f"best of {repeats}",
            )
        )

        # The same groups as a fleet: clusters of FLEET_CLUSTER_SIZE groups in one region,
        # planned concurrently and sharing one DescribeSecurityGroups.
        fleet = load_config(
            _write_config(
                Path(tmp) / "portsync-fleet.yaml",
                proxy.url,
                groups,
                per_cluster=FLEET_CLUSTER_SIZE,
            )
        )
        clusters = len(fleet.config.clusters)
        fleet_s = math.inf
        for _ in range(repeats):
            proxy.reset_counts()
            fleet_plan, seconds = timed(lambda: api.plan(fleet))
            fleet_s = min(fleet_s, seconds)
            fleet_calls = dict(proxy.calls)
        rows.append(
            make_row(
                cloud="aws",
                scale=scale,
                what=f"plan, {clusters} clusters",
                calls_read=_reads(fleet_calls),
                calls_write=0,
                seconds=fleet_s,
                baseline_seconds=plan_s,
                ratio=ratio(fleet_s, plan_s),
                note=f"the same groups as {clusters} clusters of {FLEET_CLUSTER_SIZE} in one "
                f"region, planned concurrently; {fleet_calls.get(DSG, 0)} DescribeSecurityGroups "
                f"shared by all of them; baseline = the one-cluster plan above; plan "
                f"{'empty' if fleet_plan.is_empty() else 'NOT EMPTY'}; best of {repeats}",
            )
        )

        touched = groups[:apply_groups]
        grown = _write_config(
            Path(tmp) / "portsync-apply.yaml", proxy.url, groups, extra_for=apply_groups
        )
        loaded_grown: LoadedConfig = load_config(grown)
        proxy.reset_counts()
        result, apply_s = timed(lambda: api.apply(loaded_grown))
        calls = dict(proxy.calls)
        proxy.reset_counts()
        _, base_apply_s = timed(lambda: _bare_apply(proxy.url, groups, touched))
        base_apply = dict(proxy.calls)
        rows.append(
            make_row(
                cloud="aws",
                scale=scale,
                what=f"apply +1 rule x{apply_groups}",
                calls_read=_reads(calls),
                calls_write=_writes(calls),
                seconds=apply_s,
                baseline_seconds=base_apply_s,
                ratio=ratio(apply_s, base_apply_s),
                note=f"{calls.get(DSG, 0)} DescribeSecurityGroups (plan + verify), "
                f"{calls.get(DSGR, 0)} DescribeSecurityGroupRules; {result.plan.summary()['add']} "
                f"added; baseline {_reads(base_apply)} reads + {_writes(base_apply)} writes, "
                "no verification",
            )
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run and print the table (or JSON rows)."""
    parser = command_line("python -m benchmarks.bench_aws", __doc__)
    parser.add_argument("--scale", type=int, default=DEFAULT_SCALE, help="security groups")
    parser.add_argument("--apply-groups", type=int, default=100, help="groups the apply grows")
    parser.add_argument("--repeat", type=int, default=None, help="timing repeats (best kept)")
    args = parser.parse_args(argv)
    rows = run(args.scale, apply_groups=args.apply_groups, repeats=args.repeat)
    return emit(rows, as_json=args.json)


if __name__ == "__main__":
    raise SystemExit(main())
