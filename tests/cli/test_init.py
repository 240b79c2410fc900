"""``portsync init``: a commented config, and ``--discover`` on each cluster builder's layout.

The layouts are seeded the way each tool creates them (kops, Cluster API AWS, EKS on moto; Cluster
API GCP on the GCP emulator; Cluster API Azure and AKS on the Azure emulator), then read back
through the real SDK clients.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from typer.testing import CliRunner

from portsync.cli import app
from portsync.config import load_config, parse_config
from portsync.discover import Found
from portsync.providers.aws.discover import propose as propose_aws
from portsync.providers.azure.emulator import AzureEmulator
from portsync.providers.gcp.emulator import GcpEmulator
from portsync.providers.gcp.translate import network_url
from portsync.registry import available_providers, get_provider_class
from portsync.scaffold import render_config

runner = CliRunner()
CAPA = "sigs.k8s.io/cluster-api-provider-aws/cluster/"
CAPA_ROLE = "sigs.k8s.io/cluster-api-provider-aws/role"
SUB = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _written(path: Path = Path("portsync.yaml")) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


# --- the template ---------------------------------------------------------------------------


def test_init_writes_a_commented_config_that_loads() -> None:
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    text = Path("portsync.yaml").read_text()
    assert text.count("\n#") >= 10  # commented, for a reader
    loaded = load_config(Path("portsync.yaml"))
    assert loaded.config.mode == "owned" and not loaded.config.clusters
    # and the next step says what is missing
    check = runner.invoke(app, ["validate"])
    assert check.exit_code == 1 and "no clusters configured" in check.stdout


@pytest.mark.parametrize("name", available_providers())
def test_each_providers_example_is_in_the_template_and_is_a_valid_cluster(name: str) -> None:
    # The template knows no cloud: the examples are the providers' own, and each must load.
    example = get_provider_class(name).init_example
    commented = "\n".join(f"#  {line}".rstrip() for line in example.strip("\n").splitlines())
    assert commented in render_config()
    loaded = parse_config(f"clusters:\n{textwrap.indent(example, '  ')}")
    assert [c.provider for c in loaded.config.clusters] == [name]


def test_init_never_overwrites_without_force() -> None:
    Path("portsync.yaml").write_text("mode: additive\n")
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 1
    assert "already exists" in result.stderr
    assert Path("portsync.yaml").read_text() == "mode: additive\n"
    assert runner.invoke(app, ["init", "--force"]).exit_code == 0
    assert "mode: owned" in Path("portsync.yaml").read_text()


def test_init_to_stdout() -> None:
    result = runner.invoke(app, ["init", "--out", "-"])
    assert result.exit_code == 0
    assert yaml.safe_load(result.stdout)["catalog"] == "kubernetes"
    assert not Path("portsync.yaml").exists()


def test_names_from_the_cloud_cannot_break_out_of_the_yaml() -> None:
    hostile = "x\nclusters: []\nmode: exclusive #"
    found = Found(
        name=hostile,
        tool="kops",
        entry={"name": hostile, "provider": "aws", "region": "eu-west-1", "roles": {}},
        evidence={"worker": f"sg-1 ({hostile})"},
        notes=(hostile,),
    )
    data = yaml.safe_load(render_config(found))
    assert data["mode"] == "owned"
    assert data["clusters"][0]["name"] == hostile


# --- AWS: kops, Cluster API AWS, EKS on moto ------------------------------------------------


def _aws_layouts(ec2: Any) -> dict[str, str]:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ids: dict[str, str] = {}

    def group(key: str, name: str, tags: dict[str, str]) -> None:
        gid = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
        ec2.create_tags(Resources=[gid], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        ids[key] = gid

    kops = "k8s.example.com"
    for prefix in ("masters", "nodes", "api-elb", "bastion"):
        group(f"kops-{prefix}", f"{prefix}.{kops}", {"KubernetesCluster": kops})
    for role in ("controlplane", "node", "apiserver-lb", "lb", "bastion"):
        group(
            f"capa-{role}",
            f"capa-prod-{role}",
            {f"{CAPA}capa-prod": "owned", CAPA_ROLE: role, "Name": f"capa-prod-{role}"},
        )
    group("eks", "eks-cluster-sg-eks-prod-1234", {"aws:eks:cluster-name": "eks-prod"})
    group("other", "default-ish", {"team": "web"})
    return ids


def _aws_init(url: str, *more: str) -> Any:
    args = ["init", "--discover", "aws", "--region", "eu-west-1", "--endpoint", url, "--anonymous"]
    return runner.invoke(app, [*args, *more])


def test_discover_aws_lists_every_cluster_and_asks_which(moto_url: str) -> None:
    _aws_layouts(boto3.client("ec2", region_name="eu-west-1", endpoint_url=moto_url))
    result = _aws_init(moto_url)
    assert result.exit_code == 1
    message = result.stderr
    assert "3 clusters found" in message
    for name in ("k8s.example.com (kops)", "capa-prod (cluster-api-aws)", "eks-prod (eks)"):
        assert name in message
    assert "--cluster NAME" in message
    assert not Path("portsync.yaml").exists()


def test_discover_aws_kops_layout(moto_url: str) -> None:
    ids = _aws_layouts(boto3.client("ec2", region_name="eu-west-1", endpoint_url=moto_url))
    result = _aws_init(moto_url, "--cluster", "k8s.example.com")
    assert result.exit_code == 0, result.output
    data = _written()
    (cluster,) = data["clusters"]
    assert cluster["name"] == "k8s.example.com" and cluster["region"] == "eu-west-1"
    assert cluster["roles"] == {
        "control-plane": {"security_group": ids["kops-masters"]},
        "worker": {"security_group": ids["kops-nodes"]},
    }
    assert data["sources"]["load_balancers"] == [ids["kops-api-elb"]]
    assert "kops" in Path("portsync.yaml").read_text()


def test_discover_aws_cluster_api_layout_then_plan_reads_it(moto_url: str) -> None:
    ids = _aws_layouts(boto3.client("ec2", region_name="eu-west-1", endpoint_url=moto_url))
    result = _aws_init(moto_url, "--cluster", "capa-prod")
    assert result.exit_code == 0, result.output
    data = _written()
    (cluster,) = data["clusters"]
    # CAPA puts every machine in its node and lb groups, control-plane machines in controlplane
    # too: each role lists them all and is written to its own.
    cp, node, lb = ids["capa-controlplane"], ids["capa-node"], ids["capa-lb"]
    assert cluster["roles"] == {
        "control-plane": {"security_groups": [cp, node, lb], "write_to": cp},
        "worker": {"security_groups": [node, lb], "write_to": node},
    }
    # lb is on the machines, not on a load balancer: only the API load balancer's group is one.
    assert data["sources"]["load_balancers"] == [ids["capa-apiserver-lb"]]
    assert ids["capa-bastion"] not in Path("portsync.yaml").read_text().split("clusters:")[1]
    written = Path("portsync.yaml").read_text()
    assert f"groups {cp} (controlplane), {node} (node), {lb} (lb); written to {cp}" in written
    assert f"CAPA revokes rules it did not create on {cp} and {node} on each" in result.stderr
    # The proposal works as it stands, once "All" is said: validate, then a real plan.
    data["sources"]["all"] = ["203.0.113.0/24"]
    Path("portsync.yaml").write_text(yaml.safe_dump(data))
    assert runner.invoke(app, ["validate"]).exit_code == 0
    plan = runner.invoke(app, ["plan", "-o", "json"])
    assert plan.exit_code == 0, plan.output
    assert '"action": "add"' in plan.stdout


def _capa_group(gid: str, role: str) -> dict[str, Any]:
    tags = {f"{CAPA}eks-capa": "owned", CAPA_ROLE: role}
    return {
        "GroupId": gid,
        "GroupName": f"eks-capa-{role}",
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }


def test_capa_on_eks_binds_the_nodes_to_their_node_and_eks_additional_groups() -> None:
    # On an EKS-managed CAPA cluster, EKS runs the control plane and CAPA puts its nodes in the
    # node and node-eks-additional groups (no lb group).
    groups = [
        _capa_group("sg-0add", "node-eks-additional"),
        _capa_group("sg-0node", "node"),
        _capa_group("sg-0bast", "bastion"),
    ]
    (found,) = propose_aws(groups, {"region": "eu-west-1"})
    assert found.entry["roles"] == {
        "worker": {"security_groups": ["sg-0node", "sg-0add"], "write_to": "sg-0node"}
    }
    assert "sg-0bast (eks-capa-bastion) is not a Kubernetes role" in " ".join(found.notes)
    # A second group with the role's own tag is named, never merged in.
    (twice,) = propose_aws([*groups, _capa_group("sg-0node2", "node")], {"region": "eu-west-1"})
    assert twice.entry["roles"] == found.entry["roles"]
    assert "sg-0node2 (eks-capa-node) is another worker group" in " ".join(twice.notes)


def test_discover_aws_eks_binds_the_cluster_security_group_as_worker(moto_url: str) -> None:
    ids = _aws_layouts(boto3.client("ec2", region_name="eu-west-1", endpoint_url=moto_url))
    result = _aws_init(moto_url, "--cluster", "eks-prod")
    assert result.exit_code == 0, result.output
    (cluster,) = _written()["clusters"]
    assert cluster["roles"] == {"worker": {"security_group": ids["eks"]}}
    assert "EKS runs the control plane" in result.stderr


def test_discover_aws_needs_a_region() -> None:
    result = runner.invoke(app, ["init", "--discover", "aws"])
    assert result.exit_code == 1
    assert "--region" in result.stderr


# --- GCP: Cluster API GCP on the emulator ---------------------------------------------------


def test_discover_gcp_cluster_api_layout(gcp_emulator: GcpEmulator, gcp_project: str) -> None:
    # CAPG's two firewalls as it creates them: the health checkers to the control plane's 6443,
    # and every protocol between the cluster's role tags.
    network = network_url(gcp_project, "default")
    cluster_tags = ["capg-prod-control-plane", "capg-prod-node"]
    gcp_emulator.seed(
        gcp_project,
        [
            {
                "name": "allow-capg-prod-healthchecks",
                "network": network,
                "allowed": [{"IPProtocol": "tcp", "ports": ["6443"]}],
                "sourceRanges": ["35.191.0.0/16", "130.211.0.0/22"],
                "targetTags": ["capg-prod-control-plane"],
            },
            {
                "name": "allow-capg-prod-cluster",
                "network": network,
                "allowed": [{"IPProtocol": "all"}],
                "sourceTags": cluster_tags,
                "targetTags": cluster_tags,
            },
            {
                "name": "web",
                "network": network,
                "allowed": [{"IPProtocol": "tcp", "ports": ["443"]}],
                "sourceRanges": ["10.0.0.0/8"],
                "targetTags": ["web"],
            },
        ],
    )
    args = ["init", "--discover", "gcp", "--project", gcp_project, "--endpoint", gcp_emulator.url]
    result = runner.invoke(app, [*args, "--anonymous"])
    assert result.exit_code == 0, result.output
    (cluster,) = _written()["clusters"]
    assert cluster["name"] == "capg-prod" and cluster["project"] == gcp_project
    assert cluster["network"] == "default"
    # CAPG tags every instance with its role's tag and the cluster's name: both are bound, and
    # firewalls are written for the role's own tag.
    assert cluster["roles"] == {
        "control-plane": {
            "target_tags": ["capg-prod-control-plane", "capg-prod"],
            "write_to": "capg-prod-control-plane",
        },
        "worker": {"target_tags": ["capg-prod-node", "capg-prod"], "write_to": "capg-prod-node"},
    }
    assert "additionalNetworkTags" in result.stderr
    # The evidence names the firewalls that target each role's tag.
    evidence = {
        line.split(":")[0].strip("# "): line
        for line in Path("portsync.yaml").read_text().splitlines()
        if "Cluster API GCP tags" in line
    }
    assert "allow-capg-prod-cluster, allow-capg-prod-healthchecks" in evidence["control-plane"]
    assert "(targeted by allow-capg-prod-cluster; written to)" in evidence["worker"]
    assert runner.invoke(app, ["validate"]).exit_code == 1  # sources.all is still to be said


# --- Azure: Cluster API Azure and AKS on the emulator ---------------------------------------


def _azure_init(emulator: AzureEmulator, group: str, *more: str) -> Any:
    args = ["init", "--discover", "azure", "--subscription", SUB, "--resource-group", group]
    args += ["--endpoint", emulator.base_url, "--ca-bundle", emulator.ca_bundle_path]
    return runner.invoke(app, [*args, "--anonymous", *more])


def test_discover_azure_cluster_api_layout(azure_emulator: AzureEmulator) -> None:
    for name in ("capz-prod-controlplane-nsg", "capz-prod-node-nsg", "web-nsg"):
        azure_emulator.seed_nsg(SUB, "capz-prod", name)
    result = _azure_init(azure_emulator, "capz-prod")
    assert result.exit_code == 0, result.output
    (cluster,) = _written()["clusters"]
    assert cluster["name"] == "capz-prod" and cluster["resource_group"] == "capz-prod"
    assert {role: b["nsg"] for role, b in cluster["roles"].items()} == {
        "control-plane": "capz-prod-controlplane-nsg",
        "worker": "capz-prod-node-nsg",
    }
    assert "fill in address_prefixes" in result.stderr


def test_discover_azure_aks_layout(azure_emulator: AzureEmulator) -> None:
    group = "MC_platform_aks-prod_westeurope"
    azure_emulator.seed_nsg(SUB, group, "aks-agentpool-12345678-nsg")
    result = _azure_init(azure_emulator, group)
    assert result.exit_code == 0, result.output
    (cluster,) = _written()["clusters"]
    assert cluster["name"] == "aks-prod"
    assert {role: b["nsg"] for role, b in cluster["roles"].items()} == {
        "worker": "aks-agentpool-12345678-nsg"
    }


def test_discover_azure_with_nothing_recognisable_is_one_error(
    azure_emulator: AzureEmulator,
) -> None:
    azure_emulator.seed_nsg(SUB, "empty", "web-nsg")
    result = _azure_init(azure_emulator, "empty")
    assert result.exit_code == 1
    assert "no cluster found" in result.stderr
