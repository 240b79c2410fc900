"""AWS: the apply process killed right after each write, then run again.

A counting proxy in front of moto server snapshots the groups after every write. After each kill:
no wanted rule that was present before went missing at any moment (make before break), the
unmanaged rule was never touched, and a second apply converges to a clean plan.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from portsync import api
from portsync.config import load_config
from portsync.providers.aws.demo import seed_drift
from portsync.providers.aws.emulator import MotoServer
from portsync.testing.ec2proxy import EC2Proxy

WRITES = {
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupRules",
}
Key = tuple[str, str, int, int, str]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[MotoServer, EC2Proxy]]:
    moto = MotoServer()
    moto.start()
    proxy = EC2Proxy(moto.url)
    proxy.start()
    yield moto, proxy
    proxy.stop()
    moto.stop()


def _keys(ec2: Any, groups: list[str]) -> set[Key]:
    """Every (group, protocol, ports, source), group ids written as their role for comparison
    across runs."""
    names = dict(zip(groups, ("cp", "worker"), strict=True))
    out: set[Key] = set()
    for group in ec2.describe_security_groups(GroupIds=groups)["SecurityGroups"]:
        for p in group["IpPermissions"]:
            sources = [r["CidrIp"] for r in p.get("IpRanges", [])]
            sources += [r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])]
            sources += [names.get(r["GroupId"], "lb") for r in p.get("UserIdGroupPairs", [])]
            for source in sources:
                out.add(
                    (
                        names[group["GroupId"]],
                        p["IpProtocol"],
                        p.get("FromPort", -1),
                        p.get("ToPort", -1),
                        source,
                    )
                )
    return out


def _snapshot(ec2: Any, groups: list[str]) -> set[Key]:
    # moto's in-memory store is not safe against a read racing a parallel write: retry.
    for attempt in range(10):
        try:
            return _keys(ec2, groups)
        except Exception:
            if attempt == 9:
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")


def _seed(moto: MotoServer, tmp_path: Path, proxy_url: str) -> tuple[Any, list[str], Path]:
    moto.reset()
    ec2 = boto3.client(
        "ec2",
        region_name="eu-west-1",
        endpoint_url=moto.url,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    cp, worker, lb = seed_drift(ec2, owner="kill-aws")
    config = tmp_path / "portsync.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "sources": {"all": ["203.0.113.0/24"], "load_balancers": [lb]},
                "clusters": [
                    {
                        "name": "kill-aws",
                        "provider": "aws",
                        "region": "eu-west-1",
                        "endpoint": proxy_url,
                        "credentials": "anonymous",
                        "retry_mode": "standard",
                        "roles": {
                            "control-plane": {"security_group": cp},
                            "worker": {"security_group": worker},
                        },
                    }
                ],
            }
        )
    )
    return ec2, [cp, worker], config


def _run_killed_after(
    proxy: EC2Proxy, ec2: Any, groups: list[str], config: Path, k: int
) -> tuple[int, list[set[Key]]]:
    snapshots: list[set[Key]] = []
    child: dict[str, subprocess.Popen[bytes]] = {}
    started = threading.Event()
    writes = 0
    errors: list[BaseException] = []
    lock = threading.Lock()

    def after(params: Mapping[str, str]) -> None:
        nonlocal writes
        if params.get("Action") not in WRITES:
            return
        with lock:
            writes += 1
            mine = writes
        try:
            snapshots.append(_snapshot(ec2, groups))
        except Exception as exc:
            errors.append(exc)
            raise
        finally:
            # Killed only once the snapshot is taken, so the list is complete when wait() returns.
            if mine == k:
                started.wait(10)
                os.kill(child["p"].pid, signal.SIGKILL)

    proxy.clear_faults()
    proxy.inject("after", times=10_000, callback=after)
    child["p"] = subprocess.Popen(
        [sys.executable, "-m", "portsync", "--config", str(config), "apply", "--auto-approve"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true"},
    )
    started.set()
    child["p"].wait(timeout=120)
    proxy.clear_faults()
    assert errors == []
    return child["p"].returncode, snapshots


def test_apply_killed_after_each_write_never_breaks_and_converges(
    servers: tuple[MotoServer, EC2Proxy], tmp_path: Path
) -> None:
    moto, proxy = servers
    ec2, groups, config = _seed(moto, tmp_path, proxy.url)
    proxy.reset_counts()
    api.apply(load_config(config))
    total = sum(proxy.calls[a] for a in WRITES)
    assert total >= 3
    wanted = _keys(ec2, groups)
    ssh = ("cp", "tcp", 22, 22, "10.9.0.0/16")
    assert ssh in wanted

    for k in range(1, total + 1):
        ec2, groups, config = _seed(moto, tmp_path, proxy.url)
        before = _keys(ec2, groups) & wanted
        code, snapshots = _run_killed_after(proxy, ec2, groups, config, k)
        assert code == -signal.SIGKILL, f"apply was not killed after write {k}"
        assert len(snapshots) >= k  # groups are written in parallel: one more may land
        for snapshot in snapshots:
            assert before <= snapshot, f"kill after write {k}: lost {before - snapshot}"
            assert ssh in snapshot
        api.apply(load_config(config))
        assert api.plan(load_config(config)).is_empty()
        assert _keys(ec2, groups) == wanted
