"""The AWS part of ``portsync demo``: moto server with two groups seeded with drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .emulator import MotoServer
from .translate import owner_tags

__all__ = ["AwsDemo", "seed_drift"]


def seed_drift(ec2: Any, owner: str = "demo-aws") -> tuple[str, str, str]:
    """Create a VPC with control-plane, worker and load-balancer groups, seeded with drift.

    The owned rules carry ``owner``'s ``portsync:owner`` tag, as if a run of that owner had
    written them.

    * etcd (2379-2380, self) is present and owned — in sync;
    * the API server rule (6443 from 203.0.113.0/24) is owned but has a stale description;
    * an owned rule for the retired read-only kubelet port is no longer wanted;
    * ``bastion ssh`` (22 from 10.9.0.0/16) is someone else's: listed, left alone;
    * every other wanted rule is missing.

    Returns:
        The ids of the control-plane, worker and load-balancer groups.
    """
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    cp, worker, lb = (
        ec2.create_security_group(GroupName=n, Description=f"demo {n}", VpcId=vpc)["GroupId"]
        for n in ("k8s-control-plane", "k8s-worker", "k8s-lb")
    )
    ec2.authorize_security_group_ingress(
        GroupId=cp,
        IpPermissions=[
            # correct and owned
            {
                "IpProtocol": "tcp",
                "FromPort": 2379,
                "ToPort": 2380,
                "UserIdGroupPairs": [
                    {"GroupId": cp, "Description": "portsync: etcd server client API"}
                ],
            },
            # stale description
            {
                "IpProtocol": "tcp",
                "FromPort": 6443,
                "ToPort": 6443,
                "IpRanges": [{"CidrIp": "203.0.113.0/24", "Description": "portsync: API (old)"}],
            },
            # owned but no longer wanted
            {
                "IpProtocol": "tcp",
                "FromPort": 10255,
                "ToPort": 10255,
                "IpRanges": [
                    {"CidrIp": "10.0.0.0/8", "Description": "portsync: read-only kubelet"}
                ],
            },
        ],
        TagSpecifications=[
            {
                "ResourceType": "security-group-rule",
                "Tags": [
                    {"Key": key, "Value": value} for key, value in owner_tags(owner, owner).items()
                ],
            }
        ],
    )
    ec2.authorize_security_group_ingress(
        GroupId=cp,
        IpPermissions=[
            # unmanaged: left alone
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "10.9.0.0/16", "Description": "bastion ssh"}],
            },
        ],
    )
    return cp, worker, lb


class AwsDemo:
    """moto server seeded with a missing rule, an extra owned rule, a stale description and an
    unmanaged rule."""

    def __init__(self) -> None:
        self.server = MotoServer()

    def start(self, workdir: Path) -> dict[str, Any]:
        """Start moto, create the VPC and groups, seed drift, return the cluster entry."""
        from .adapter import make_client

        url = self.server.start()
        ec2 = make_client(region="eu-west-1", endpoint=url, anonymous=True)
        cp, worker, lb = seed_drift(ec2)
        return {
            "name": "demo-aws",
            "provider": "aws",
            "region": "eu-west-1",
            "endpoint": url,
            "credentials": "anonymous",
            "roles": {
                "control-plane": {"security_group": cp},
                "worker": {"security_group": worker},
            },
            "sources": {"load_balancers": [lb]},
        }

    def stop(self) -> None:
        """Stop moto."""
        self.server.stop()
