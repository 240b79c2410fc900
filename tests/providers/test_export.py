"""``portsync export --format terraform`` on all three emulators: the HCL it writes, parsed back
with python-hcl2, describes exactly the rules the cluster's owner identity owns on each target —
never the foreign rule every world starts with, nor the rules another portsync owner wrote there
— and its import blocks name exactly those rules' live ids in the form each Terraform provider
imports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
from typer.testing import CliRunner

from portsync import api
from portsync.cli import app
from portsync.config import load_config
from portsync.model import Direction, Endpoint, EndpointKind, PortRange, Protocol, TargetRule
from portsync.providers.aws.peers import GROUP, PREFIX_LIST
from portsync.providers.azure.peers import ASG, SERVICE_TAG
from portsync.providers.gcp.peers import SERVICE_ACCOUNT, TAG
from tests.providers.clouds import AZ_RG, AZ_SUB, GCP_PROJECT, Cloud

runner = CliRunner()

#: Rules beyond the built-in tables: several ports on one peer (one GCP firewall, several
#: entries), UDP, an egress rule, and a purpose no HCL string may carry raw.
OURS = [
    {
        "role": "worker",
        "protocol": "tcp",
        "ports": 9100,
        "peer": "cidr:10.20.0.0/16",
        "purpose": 'node "exporter" ${var.x} %{if} \\ end',
    },
    {
        "role": "worker",
        "protocol": "tcp",
        "ports": "9200-9201",
        "peer": "cidr:10.20.0.0/16",
        "purpose": "metrics",
    },
    {
        "role": "control-plane",
        "protocol": "udp",
        "ports": 4789,
        "peer": "role:worker",
        "purpose": "vxlan",
    },
]
#: A rule another portsync owner writes on the same targets.
THEIRS = [
    {
        "role": "worker",
        "protocol": "tcp",
        "ports": 7000,
        "peer": "cidr:10.30.0.0/16",
        "purpose": "another owner",
    }
]


def _unquote(value: Any) -> Any:
    """python-hcl2 keeps string literals as written: undo the quoting and escapes."""
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if k != "__is_block__"}
    if not isinstance(value, str) or not (value.startswith('"') and value.endswith('"')):
        return value
    body = value[1:-1].replace("$${", "${").replace("%%{", "%{")
    return json.loads('"' + body + '"')


def _parse(text: str) -> tuple[list[tuple[str, str, dict[str, Any]]], dict[str, str]]:
    """(type, name, attributes) of every resource, and import id by ``type.name``."""
    data = hcl2.loads(text)
    resources = []
    for item in data.get("resource", []):
        for kind, named in item.items():
            for name, body in named.items():
                resources.append((_unquote(kind), _unquote(name), _unquote(body)))
    imports = {}
    for item in data.get("import", []):
        to = re.fullmatch(r"\$\{(.+)\}", item["to"])
        assert to is not None, item
        imports[to[1]] = _unquote(item["id"])
    return resources, imports


def _aws_rules(kind: str, attrs: dict[str, Any]) -> list[TargetRule]:
    protocol = Protocol("all" if attrs["ip_protocol"] == "-1" else attrs["ip_protocol"])
    ports = icmp_type = icmp_code = None
    if protocol.has_ports:
        ports = PortRange(attrs["from_port"], attrs["to_port"])
    elif protocol.is_icmp:
        icmp_type = None if attrs["from_port"] == -1 else attrs["from_port"]
        icmp_code = None if attrs["to_port"] == -1 else attrs["to_port"]
    peers = {
        "cidr_ipv4": EndpointKind.CIDR,
        "cidr_ipv6": EndpointKind.CIDR,
        "prefix_list_id": PREFIX_LIST,
        "referenced_security_group_id": GROUP,
    }
    (peer,) = [Endpoint(k, attrs[a]) for a, k in peers.items() if a in attrs]
    return [
        TargetRule(
            target=attrs["security_group_id"],
            direction=Direction.EGRESS if kind.endswith("egress_rule") else Direction.INGRESS,
            protocol=protocol,
            ports=ports,
            icmp_type=icmp_type,
            icmp_code=icmp_code,
            peer=peer,
            description=attrs.get("description", ""),
        )
    ]


def _gcp_rules(attrs: dict[str, Any]) -> list[TargetRule]:
    direction = Direction(attrs["direction"].lower())
    peers = [Endpoint.cidr(v) for v in attrs.get("source_ranges", [])]
    peers += [Endpoint.cidr(v) for v in attrs.get("destination_ranges", [])]
    peers += [Endpoint(TAG, v) for v in attrs.get("source_tags", [])]
    peers += [Endpoint(SERVICE_ACCOUNT, v) for v in attrs.get("source_service_accounts", [])]
    targets = [f"tag:{t}" for t in attrs.get("target_tags", [])]
    targets += [f"sa:{a}" for a in attrs.get("target_service_accounts", [])]
    out = []
    for block in attrs["allow"]:
        ports = [PortRange.parse(p) for p in block.get("ports", [])] or [None]
        for target in targets:
            for port in ports:
                for peer in peers:
                    out.append(
                        TargetRule(
                            target=target,
                            direction=direction,
                            protocol=Protocol(block["protocol"]),
                            ports=port,
                            peer=peer,
                        )
                    )
    return out


def _azure_rules(attrs: dict[str, Any]) -> list[TargetRule]:
    inbound = attrs["direction"] == "Inbound"
    side = "source" if inbound else "destination"
    items = [attrs[f"{side}_address_prefix"]] if f"{side}_address_prefix" in attrs else []
    items += attrs.get(f"{side}_address_prefixes", [])
    peers = [
        Endpoint.cidr(i) if re.match(r"[0-9a-fA-F:.]+/\d+$", i) else Endpoint(SERVICE_TAG, i)
        for i in items
    ]
    peers += [Endpoint(ASG, i) for i in attrs.get(f"{side}_application_security_group_ids", [])]
    port = attrs["destination_port_range"]
    return [
        TargetRule(
            target=attrs["network_security_group_name"],
            direction=Direction.INGRESS if inbound else Direction.EGRESS,
            protocol=Protocol("all" if attrs["protocol"] == "*" else attrs["protocol"].lower()),
            ports=None if port == "*" else PortRange.parse(port),
            peer=peer,
            description=attrs.get("description", ""),
        )
        for peer in peers
    ]


def _rules(resources: list[tuple[str, str, dict[str, Any]]]) -> list[TargetRule]:
    out: list[TargetRule] = []
    for kind, _name, attrs in resources:
        if kind.startswith("aws_"):
            out += _aws_rules(kind, attrs)
        elif kind == "google_compute_firewall":
            out += _gcp_rules(attrs)
        else:
            out += _azure_rules(attrs)
    return out


def _described(resources: list[tuple[str, str, dict[str, Any]]]) -> set[tuple[Any, ...]]:
    return {r.key for r in _rules(resources)}


def _live(cloud: Cloud) -> list[TargetRule]:
    loaded = load_config(cloud.config)
    session = api.Session(loaded, api.Settings())
    (cluster,) = loaded.config.clusters
    return [r for rules in session.live(cluster).values() for r in rules]


def _import_id(cloud: Cloud, rule: TargetRule) -> str:
    if cloud.name == "aws":
        return str(rule.native_id)
    if cloud.name == "gcp":
        return f"projects/{GCP_PROJECT}/global/firewalls/{rule.native_id}"
    return (
        f"/subscriptions/{AZ_SUB}/resourceGroups/{AZ_RG}/providers/Microsoft.Network/"
        f"networkSecurityGroups/{rule.target}/securityRules/{rule.native_id}"
    )


def test_export_describes_exactly_the_owned_live_rules(cloud: Cloud, tmp_path: Path) -> None:
    cloud.cluster["owner"] = "them"
    api.apply(load_config(cloud.write_config(extra_rules=THEIRS)))
    del cloud.cluster["owner"]
    api.apply(load_config(cloud.write_config(extra_rules=OURS)))
    live = _live(cloud)
    owned = [r for r in live if r.owned]
    others = [r for r in live if not r.owned]
    assert owned and len({r.owner for r in others if r.owner}) == 1, "no rule of the other owner"
    assert any(r.owner is None for r in others), "the foreign rule is missing"

    writes = cloud.writes()
    result = runner.invoke(app, ["--config", str(cloud.config), "export", "--format", "terraform"])
    assert result.exit_code == 0, result.output
    assert cloud.writes() == writes
    text = result.stdout
    resources, imports = _parse(text)

    assert _described(resources) == {r.key for r in owned}
    assert set(imports.values()) == {_import_id(cloud, r) for r in owned}
    assert not {_import_id(cloud, r) for r in others} & set(imports.values())
    assert set(imports) == {f"{kind}.{name}" for kind, name, _ in resources}
    assert len(imports) == len(resources)
    if cloud.name != "gcp":  # a GCP firewall's description packs its rules' purposes
        described = {(r.key, r.description) for r in _rules(resources)}
        assert described == {(r.key, r.description) for r in owned}

    # Deterministic, and the same text per cluster in --out DIR.
    again = runner.invoke(app, ["--config", str(cloud.config), "export"])
    assert again.stdout == text
    out = tmp_path / "tf"
    wrote = runner.invoke(app, ["--config", str(cloud.config), "export", "--out", str(out)])
    assert wrote.exit_code == 0, wrote.output
    (written,) = sorted(out.iterdir())
    assert written.name == f"prod-{cloud.name}.tf".replace("-", "_")
    assert written.read_text() in text


def test_export_to_an_unwritable_place_reads_nothing(aws_cloud: Cloud, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    calls = aws_cloud.calls()
    result = runner.invoke(
        app, ["--config", str(aws_cloud.config), "export", "--out", str(blocker / "tf")]
    )
    assert result.exit_code == 1
    assert "cannot write the export to" in result.output
    assert aws_cloud.calls() == calls


def test_export_of_a_provider_without_one_is_refused_before_any_read(
    aws_cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    import portsync.providers.aws.export as aws_export

    monkeypatch.delattr(aws_export, "terraform")
    calls = aws_cloud.calls()
    result = runner.invoke(app, ["--config", str(aws_cloud.config), "export"])
    assert result.exit_code == 1
    assert "provider aws has no Terraform export" in result.output
    assert aws_cloud.calls() == calls
