"""``portsync catalog list`` / ``show --option`` and ``catalog:`` entries with options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from portsync.cli import app
from portsync.config import parse_config
from portsync.errors import ConfigError
from portsync.synthesis import synthesize

runner = CliRunner()


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_catalog_list_shows_each_catalog_with_its_upstream_version_and_options() -> None:
    result = runner.invoke(app, ["catalog", "list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    cilium = next(line for line in lines if line.startswith("cilium"))
    assert "Cilium" in cilium and "fee7215" in cilium
    k3s = next(line for line in lines if line.startswith("k3s"))
    assert "k3s-io/docs@005d295" in k3s
    assert "  option tunnel: vxlan|geneve|disabled (default vxlan)" in lines
    assert "  option encapsulation: ipip|vxlan|none (default ipip)" in lines


def test_catalog_show_with_an_option_shows_the_resulting_rules() -> None:
    result = runner.invoke(
        app, ["catalog", "show", "cilium", "--option", "tunnel=geneve", "--output", "json"]
    )
    assert result.exit_code == 0, result.output
    rules = json.loads(result.stdout)
    ports = {(r["protocol"], r["from_port"]) for r in rules}
    assert ("udp", 6081) in ports
    assert ("udp", 8472) not in ports
    table = runner.invoke(app, ["catalog", "show", "cilium", "--option", "tunnel=geneve"])
    assert "tunnel=geneve" in table.stdout
    assert "Cilium Geneve overlay" in table.stdout
    assert "4240 (cilium-health)" in table.stdout.replace("tcp/", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--option", "tunnel"], "is not NAME=VALUE"),
        (["--option", "tunnel=gre"], "vxlan|geneve|disabled"),
        (["--option", "colour=blue"], "has no option 'colour'"),
    ],
)
def test_catalog_show_bad_option_is_one_error_exit_1(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["catalog", "show", "cilium", *args])
    assert result.exit_code == 1
    assert message in result.output


CONFIG = """\
catalog:
  - kubernetes
  - calico: {encapsulation: vxlan, typha: true}
clusters: []
"""


def test_config_catalog_entries_carry_options_and_compose() -> None:
    rules = synthesize(parse_config(CONFIG, path=Path("portsync.yaml")))
    got = {(r.role, r.protocol.value, str(r.ports), str(r.peer)) for r in rules}
    assert ("worker", "udp", "4789", "role:control-plane") in got
    assert ("control-plane", "tcp", "5473", "role:worker") in got
    assert not any(port == "179" for _r, _p, port, _peer in got)  # VXLAN: no BGP
    assert ("control-plane", "tcp", "6443", "any") in got  # the kubernetes catalog is still there


def test_a_rule_in_two_catalogs_is_one_rule_with_both_purposes() -> None:
    config = "catalog: [kubernetes, k3s]\nclusters: []\n"
    rules = synthesize(parse_config(config, path=Path("portsync.yaml")))
    kubelet = [
        r
        for r in rules
        if r.role == "worker" and str(r.ports) == "10250" and str(r.peer) == "role:control-plane"
    ]
    assert len(kubelet) == 1
    assert kubelet[0].purpose == "kubelet API; kubelet metrics and API"


@pytest.mark.parametrize(
    ("entry", "line", "message"),
    [
        ("  - calico: {encapsulation: gre}", 3, "ipip|vxlan|none"),
        ("  - calico:\n      encapsulaton: vxlan", 4, "has no option 'encapsulaton'"),
        ("  - {calico: {}, cilium: {}}", 3, "one name mapped to its options"),
        ("  - calico: {typha: maybe}", 3, "typha='maybe' is not one of false|true"),
    ],
)
def test_bad_catalog_options_name_the_config_line(entry: str, line: int, message: str) -> None:
    text = f"catalog:\n  - kubernetes\n{entry}\nclusters: []\n"
    with pytest.raises(ConfigError) as caught:
        synthesize(parse_config(text, path=Path("portsync.yaml")))
    assert f"portsync.yaml:{line}:" in str(caught.value)
    assert message in str(caught.value)


def test_option_advice_names_the_option_that_avoids_a_refused_protocol() -> None:
    from portsync.model import Protocol
    from portsync.synthesis import option_advice

    loaded = parse_config("catalog: [kubernetes, calico, cilium]\n", path=Path("portsync.yaml"))
    assert option_advice(loaded, Protocol.IPIP) == [
        "ipip comes from catalog calico (encapsulation: ipip): choose encapsulation: vxlan or "
        "none instead, e.g. catalog: [..., {calico: {encapsulation: vxlan}}]"
    ]
    assert option_advice(loaded, Protocol.ICMP) == [
        "icmp comes from catalog cilium (health_icmp: true): choose health_icmp: false instead, "
        "e.g. catalog: [..., {cilium: {health_icmp: false}}]"
    ]
    vxlan = parse_config("catalog: [{calico: {encapsulation: vxlan}}]\n")
    assert option_advice(vxlan, Protocol.IPIP) == []  # nothing asks for ipip any more


def test_validate_offline_names_the_calico_option_azure_needs(tmp_path: Path) -> None:
    import yaml

    azure = {
        "name": "prod-azure",
        "provider": "azure",
        "subscription_id": "00000000-0000-0000-0000-000000000000",
        "resource_group": "rg",
        "roles": {
            "control-plane": {"nsg": "cp-nsg", "address_prefixes": ["10.0.0.0/24"]},
            "worker": {"nsg": "node-nsg", "address_prefixes": ["10.0.1.0/24"]},
        },
    }
    body = {"catalog": ["kubernetes", "calico"], "sources": {"all": ["203.0.113.0/24"]}}
    path = tmp_path / "portsync.yaml"
    path.write_text(yaml.safe_dump({**body, "clusters": [azure]}))
    result = runner.invoke(app, ["validate", "-c", str(path), "-o", "json"])
    assert result.exit_code == 1, result.output
    (cluster,) = json.loads(result.stdout)["clusters"]
    problems = " ".join(cluster["problems"])
    assert "not ipip" in problems
    assert "choose encapsulation: vxlan or none instead" in problems
    body["catalog"] = ["kubernetes", {"calico": {"encapsulation": "vxlan"}}]
    path.write_text(yaml.safe_dump({**body, "clusters": [azure]}))
    assert runner.invoke(app, ["validate", "-c", str(path)]).exit_code == 0
