"""moto server over real HTTP: one per test session, state reset between tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from portsync.providers.aws.emulator import MotoServer


def owned_by(owner: str = "prod-aws") -> list[dict[str, Any]]:
    """TagSpecifications marking new rules as ``owner``'s, as portsync's own writes do."""
    return [
        {
            "ResourceType": "security-group-rule",
            "Tags": [{"Key": "portsync:owner", "Value": owner}],
        }
    ]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def moto_url(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    moto_server.reset()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return moto_server.url


@dataclass
class AwsWorld:
    """A VPC with a control-plane and a worker group, and a config file pointing at them."""

    url: str
    ec2: Any
    vpc: str
    cp: str
    worker: str
    lb: str
    config_path: Path

    def write_config(self, **overrides: Any) -> Path:
        data: dict[str, Any] = {
            "sources": {"all": ["203.0.113.0/24", "2001:db8::/32"], "load_balancers": [self.lb]},
            "clusters": [
                {
                    "name": "prod-aws",
                    "provider": "aws",
                    "region": "eu-west-1",
                    "endpoint": self.url,
                    "roles": {
                        "control-plane": {"security_group": self.cp},
                        "worker": {"security_group": self.worker},
                    },
                }
            ],
        }
        data.update(overrides)
        self.config_path.write_text(yaml.safe_dump(data, sort_keys=False))
        return self.config_path

    def ingress(self, group: str) -> list[dict[str, Any]]:
        return self.ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0][
            "IpPermissions"
        ]


@pytest.fixture
def aws_world(moto_url: str, tmp_path: Path) -> AwsWorld:
    ec2 = boto3.client("ec2", region_name="eu-west-1", endpoint_url=moto_url)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    groups = {}
    for name in ("cp", "worker", "lb"):
        groups[name] = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)[
            "GroupId"
        ]
    world = AwsWorld(
        moto_url, ec2, vpc, groups["cp"], groups["worker"], groups["lb"], tmp_path / "portsync.yaml"
    )
    world.write_config()
    return world
