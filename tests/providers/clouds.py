"""One small world per cloud, for tests that must hold on all three.

Each world has a control-plane and a worker target, a foreign rule (ssh from 10.9.0.0/16, written
by someone else) on the worker, and a config binding both roles. Writes are counted where they
land: at a counting proxy in front of moto server (AWS), in the GCP and Azure emulators.

Test modules use the ``cloud`` fixture (parametrised over the three) after importing the names of
``__all__`` so pytest sees them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from portsync.testing.ec2proxy import EC2Proxy
from tests.providers.aws.conftest import moto_server, moto_url
from tests.providers.azure.conftest import azure_emulator, azure_emulator_server
from tests.providers.gcp.conftest import gcp_emulator, gcp_emulator_session

__all__ = [
    "Cloud",
    "aws_cloud",
    "azure_cloud",
    "azure_emulator",
    "azure_emulator_server",
    "cloud",
    "gcp_cloud",
    "gcp_emulator",
    "gcp_emulator_session",
    "moto_server",
    "moto_url",
]

SOURCES = {"all": ["203.0.113.0/24", "2001:db8::/32"]}
AWS_WRITES = (
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupRules",
    "UpdateSecurityGroupRuleDescriptionsIngress",
    "UpdateSecurityGroupRuleDescriptionsEgress",
)
GCP_WRITES = ("firewalls.insert", "firewalls.patch", "firewalls.update", "firewalls.delete")
AZURE_WRITES = ("nsg.put", "nsg.delete", "nsg.update_tags", "rule.put", "rule.delete")
GCP_PROJECT = "portsync-test"
AZ_SUB, AZ_RG = "00000000-0000-0000-0000-000000000000", "k8s"


@dataclass
class Cloud:
    """A cloud world: its config file, its write counter and a snapshot of every rule."""

    name: str
    config: Path
    cluster: dict[str, Any]
    writes: Callable[[], int]
    snapshot: Callable[[], str]
    #: Every request the cloud received, reads included.
    calls: Callable[[], int]
    #: The writes received, in arrival order, each as ``make`` (opens access), ``change`` (in
    #: place, or a whole-object write) or ``break`` (removes access).
    order: Callable[[], list[str]]
    #: Someone else's out-of-band change: ssh-alt (tcp 2222 from 10.8.0.0/16) on the worker.
    drift: Callable[[], None]
    top: dict[str, Any] = field(default_factory=dict)
    #: The listings the cloud served (one per portsync read of the scope): DescribeSecurityGroups,
    #: firewalls.list, networkSecurityGroups.list.
    listings: Callable[[], int] = lambda: 0
    #: ``after_first_write(fn)``: run ``fn`` once, on the cloud's side, right after the first
    #: write it accepts and before the writer hears back (another writer racing the apply).
    after_first_write: Callable[[Callable[[], None]], None] = lambda fn: None
    #: Someone else shuts the bastion's ssh to the workers (tcp 22 from 10.9.0.0/16): AWS
    #: revokes the foreign rule; GCP and Azure put a deny rule ahead of it.
    shut_ssh: Callable[[], None] = lambda: None

    def write_config(self, *, roles: dict[str, Any] | None = None, **top: Any) -> Path:
        """Rewrite the config: ``roles`` replaces the cluster's role bindings, ``top`` adds or
        replaces top-level keys."""
        cluster = dict(self.cluster)
        if roles is not None:
            cluster["roles"] = roles
        data: dict[str, Any] = {"sources": SOURCES, **self.top, **top, "clusters": [cluster]}
        self.config.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        return self.config

    @property
    def roles(self) -> dict[str, Any]:
        """The cluster's role bindings, by role."""
        return dict(self.cluster["roles"])


_AWS_KIND = {
    "AuthorizeSecurityGroupIngress": "make",
    "AuthorizeSecurityGroupEgress": "make",
    "ModifySecurityGroupRules": "change",
    "UpdateSecurityGroupRuleDescriptionsIngress": "change",
    "UpdateSecurityGroupRuleDescriptionsEgress": "change",
    "RevokeSecurityGroupIngress": "break",
    "RevokeSecurityGroupEgress": "break",
}
_GCP_KIND = {
    "firewalls.insert": "make",
    "firewalls.patch": "change",
    "firewalls.update": "change",
    "firewalls.delete": "break",
}
_AZURE_KIND = {
    "nsg.put": "change",
    "nsg.update_tags": "change",
    "rule.put": "change",
    "nsg.delete": "break",
    "rule.delete": "break",
}


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


@pytest.fixture
def aws_cloud(moto_url: str, tmp_path: Path) -> Iterator[Cloud]:
    ec2 = boto3.client("ec2", region_name="eu-west-1", endpoint_url=moto_url)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    cp, worker, lb = (
        ec2.create_security_group(GroupName=n, Description=n, VpcId=vpc)["GroupId"]
        for n in ("cp", "worker", "lb")
    )
    ec2.authorize_security_group_ingress(
        GroupId=worker,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "10.9.0.0/16", "Description": "bastion ssh"}],
            }
        ],
    )

    def snapshot() -> str:
        groups = ec2.describe_security_groups(GroupIds=[cp, worker])["SecurityGroups"]
        return _dump(sorted((g["GroupId"], g["IpPermissions"]) for g in groups))

    def drift() -> None:
        ec2.authorize_security_group_ingress(
            GroupId=worker,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 2222,
                    "ToPort": 2222,
                    "IpRanges": [{"CidrIp": "10.8.0.0/16", "Description": "ssh-alt"}],
                }
            ],
        )

    def shut_ssh() -> None:
        # Straight to moto, not through the proxy: the proxy counts portsync's calls only.
        ec2.revoke_security_group_ingress(
            GroupId=worker,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "IpRanges": [{"CidrIp": "10.9.0.0/16"}],
                }
            ],
        )

    with EC2Proxy(moto_url) as proxy:

        def after_first_write(fn: Callable[[], None]) -> None:
            fired: list[bool] = []

            def once(_params: object) -> None:
                if not fired:
                    fired.append(True)
                    fn()

            # Whichever write comes first consumes its action's fault; the others stay queued
            # and do nothing when a later write of their action consumes them.
            for action in AWS_WRITES:
                proxy.inject("after", action=action, callback=once)

        cluster = {
            "name": "prod-aws",
            "provider": "aws",
            "region": "eu-west-1",
            "endpoint": proxy.url,
            "roles": {
                "control-plane": {"security_group": cp},
                "worker": {"security_group": worker},
            },
        }
        world = Cloud(
            "aws",
            tmp_path / "portsync.yaml",
            cluster,
            lambda: sum(proxy.calls[a] for a in AWS_WRITES),
            snapshot,
            lambda: proxy.calls.total(),
            lambda: [_AWS_KIND[a] for a, _ in proxy.log if a in _AWS_KIND],
            drift,
            top={"sources": {**SOURCES, "load_balancers": [lb]}},
            listings=lambda: proxy.calls["DescribeSecurityGroups"],
            after_first_write=after_first_write,
            shut_ssh=shut_ssh,
        )
        world.write_config()
        yield world


@pytest.fixture
def gcp_cloud(gcp_emulator: Any, tmp_path: Path) -> Cloud:
    pytest.importorskip("google.cloud.compute_v1", reason="needs portsync[gcp]")
    from portsync.providers.gcp import translate

    gcp_emulator.seed(
        GCP_PROJECT,
        [
            {
                "name": "allow-ssh",
                "network": translate.network_url(GCP_PROJECT, "default"),
                "description": "bastion ssh",
                "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}],
                "sourceRanges": ["10.9.0.0/16"],
                "targetTags": ["k8s-node"],
            }
        ],
    )
    cluster = {
        "name": "prod-gcp",
        "provider": "gcp",
        "project": GCP_PROJECT,
        "endpoint": gcp_emulator.url,
        "credentials": "anonymous",
        "roles": {
            "control-plane": {"target_tag": "k8s-cp"},
            "worker": {"target_tag": "k8s-node"},
        },
    }

    def snapshot() -> str:
        firewalls = gcp_emulator.firewalls(GCP_PROJECT)
        return _dump(sorted(firewalls, key=lambda fw: str(fw["name"])))

    def drift() -> None:
        gcp_emulator.seed(
            GCP_PROJECT,
            [
                {
                    "name": "allow-ssh-alt",
                    "network": translate.network_url(GCP_PROJECT, "default"),
                    "description": "ssh-alt",
                    "allowed": [{"IPProtocol": "tcp", "ports": ["2222"]}],
                    "sourceRanges": ["10.8.0.0/16"],
                    "targetTags": ["k8s-node"],
                }
            ],
        )

    def order() -> list[str]:
        # The counter keeps arrival order; the emulator's public ``calls`` is a plain copy.
        return [_GCP_KIND[m] for m in gcp_emulator._calls.order() if m in _GCP_KIND]

    def shut_ssh() -> None:
        gcp_emulator.seed(
            GCP_PROJECT,
            [
                {
                    "name": "deny-ssh",
                    "network": translate.network_url(GCP_PROJECT, "default"),
                    "description": "someone else's deny",
                    "priority": 100,
                    "denied": [{"IPProtocol": "tcp", "ports": ["22"]}],
                    "sourceRanges": ["10.9.0.0/16"],
                    "targetTags": ["k8s-node"],
                }
            ],
        )

    def after_first_write(fn: Callable[[], None]) -> None:
        fired: list[bool] = []

        def observer(_project: str, _firewalls: object) -> None:
            # Runs under the emulator's (reentrant) lock once the write took effect, before the
            # operation reports it done; seeding from here notifies again, hence the flag.
            if not fired:
                fired.append(True)
                fn()

        gcp_emulator.add_observer(observer)

    world = Cloud(
        "gcp",
        tmp_path / "portsync.yaml",
        cluster,
        lambda: sum(gcp_emulator.calls[m] for m in GCP_WRITES),
        snapshot,
        lambda: gcp_emulator.calls.total(),
        order,
        drift,
        listings=lambda: gcp_emulator.calls["firewalls.list"],
        after_first_write=after_first_write,
        shut_ssh=shut_ssh,
    )
    world.write_config()
    return world


@pytest.fixture
def azure_cloud(azure_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cloud:
    pytest.importorskip("azure.mgmt.network", reason="needs portsync[azure]")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    azure_emulator.seed_nsg(AZ_SUB, AZ_RG, "cp-nsg")
    ssh = {
        "name": "allow-ssh",
        "description": "bastion ssh",
        "protocol": "Tcp",
        "sourcePortRange": "*",
        "destinationPortRange": "22",
        "sourceAddressPrefix": "10.9.0.0/16",
        "destinationAddressPrefix": "*",
        "access": "Allow",
        "priority": 300,
        "direction": "Inbound",
    }
    azure_emulator.seed_nsg(AZ_SUB, AZ_RG, "node-nsg", rules=[ssh])
    cluster = {
        "name": "prod-azure",
        "provider": "azure",
        "subscription_id": AZ_SUB,
        "resource_group": AZ_RG,
        "endpoint": azure_emulator.base_url,
        "ca_bundle": azure_emulator.ca_bundle_path,
        "credentials": "anonymous",
        "polling_interval": 0.01,
        "roles": {
            "control-plane": {"nsg": "cp-nsg", "address_prefixes": ["10.0.1.0/24"]},
            "worker": {"nsg": "node-nsg", "address_prefixes": ["10.0.2.0/24"]},
        },
    }

    def snapshot() -> str:
        nsgs = [azure_emulator.get_nsg(AZ_SUB, AZ_RG, n) for n in ("cp-nsg", "node-nsg")]
        return _dump([n["properties"]["securityRules"] for n in nsgs])

    def drift() -> None:
        node = azure_emulator.get_nsg(AZ_SUB, AZ_RG, "node-nsg")
        rules = list(node["properties"]["securityRules"])
        alt = {
            **ssh,
            "name": "allow-ssh-alt",
            "description": "ssh-alt",
            "destinationPortRange": "2222",
            "sourceAddressPrefix": "10.8.0.0/16",
            "priority": 310,
        }
        azure_emulator.seed_nsg(AZ_SUB, AZ_RG, "node-nsg", rules=[*rules, alt])

    def shut_ssh() -> None:
        node = azure_emulator.get_nsg(AZ_SUB, AZ_RG, "node-nsg")
        deny = {
            **ssh,
            "name": "deny-ssh",
            "description": "someone else's deny",
            "access": "Deny",
            "priority": 100,
        }
        rules = list(node["properties"]["securityRules"])
        azure_emulator.seed_nsg(AZ_SUB, AZ_RG, "node-nsg", rules=[*rules, deny])

    def after_first_write(fn: Callable[[], None]) -> None:
        fired: list[bool] = []

        def observer(_nsg: object) -> None:
            # Runs under the emulator's (reentrant) lock once the write is committed; seeding
            # notifies no observer.
            if not fired:
                fired.append(True)
                fn()

        azure_emulator.add_observer(observer)

    world = Cloud(
        "azure",
        tmp_path / "portsync.yaml",
        cluster,
        lambda: sum(azure_emulator.calls[o] for o in AZURE_WRITES),
        snapshot,
        lambda: azure_emulator.calls.total(),
        lambda: [_AZURE_KIND[o] for o in azure_emulator.calls.order() if o in _AZURE_KIND],
        drift,
        listings=lambda: azure_emulator.calls["nsg.list"],
        after_first_write=after_first_write,
        shut_ssh=shut_ssh,
    )
    world.write_config()
    return world


@pytest.fixture(params=["aws", "gcp", "azure"])
def cloud(request: pytest.FixtureRequest) -> Cloud:
    """Each of the three worlds in turn."""
    return request.getfixturevalue(f"{request.param}_cloud")  # type: ignore[no-any-return]
