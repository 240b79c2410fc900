"""The upstream requirement pages parse, and give the rules of the built-in catalogs.

The saved pages are in ``tests/core/data/upstream`` (see its README for provenance). Rules are
compared by identity (role, direction, protocol, ports, peer): the built-in catalogs are written
in portsync's own words, so purposes differ on purpose.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from portsync.catalog import load_catalog
from portsync.catalog.parser import parse_document, parse_file
from portsync.errors import PortTableError
from portsync.model import RuleSet
from portsync.synthesis import rows_to_rules

UPSTREAM = Path(__file__).parent / "data" / "upstream"


def _ids(rules: RuleSet) -> set[tuple[object, ...]]:
    return {rule.identity for rule in rules}


def _all_rows(name: str) -> RuleSet:
    """The built-in catalog under every option at once: each row, whatever its condition."""
    return rows_to_rules(load_catalog(name).all_rows)


def test_k3s_inbound_rules_page_gives_the_k3s_catalog() -> None:
    page = rows_to_rules(parse_file(UPSTREAM / "k3s__docs_installation_requirements__005d295.md"))
    assert _ids(page) == _ids(_all_rows("k3s"))
    assert len(page) == 25


def test_cilium_firewall_rules_page_gives_the_cilium_catalog_with_an_etcd_kvstore() -> None:
    # The page's example assumes etcd on the master nodes, reached by the agents: kvstore=etcd.
    page = rows_to_rules(
        parse_file(UPSTREAM / "cilium__system_requirements_firewall-rules__fee7215.md")
    )
    built_in = rows_to_rules(load_catalog("cilium", options={"kvstore": "etcd"}).rows)
    assert _ids(page) == _ids(built_in)
    assert len(page) == 26
    icmp = [r for r in page if r.protocol.value == "icmp"]
    assert {(r.icmp_type, r.icmp_code) for r in icmp} == {(8, 0)}
    assert {r.direction.value for r in icmp} == {"ingress", "egress"}


#: What Calico's table lists that the calico catalog leaves to others, and why.
CALICO_LEFT_OUT = {
    # "All | kube-apiserver host | Often TCP 443 or 6443": Calico calls the API server as a
    # client; the kubernetes (or k3s, rke2) catalog opens it, and overrides move it.
    ("control-plane", "ingress", "tcp", 443, 443, "self"),
    ("control-plane", "ingress", "tcp", 443, 443, "role:worker"),
    ("control-plane", "ingress", "tcp", 6443, 6443, "self"),
    ("control-plane", "ingress", "tcp", 6443, 6443, "role:worker"),
    # "etcd datastore | etcd hosts | Officially TCP 2379": only when Calico keeps its state in
    # etcd rather than in Kubernetes; the kubernetes catalog's etcd row covers the control plane.
    ("control-plane", "ingress", "tcp", 2379, 2379, "self"),
    ("control-plane", "ingress", "tcp", 2379, 2379, "role:worker"),
}


def test_calico_network_requirements_page_gives_the_calico_catalog() -> None:
    page = rows_to_rules(
        parse_file(UPSTREAM / "calico__network-requirements__tigera-docs-d6bc329.md")
    )
    built_in = _all_rows("calico")
    assert _ids(page) - _ids(built_in) == CALICO_LEFT_OUT
    assert _ids(built_in) <= _ids(page)
    ipip = [r for r in page if r.protocol.value == "ipip"]
    assert len(ipip) == 4 and all(r.ports is None for r in ipip)
    # "flannel networking (VXLAN)" on 4789 is the same rule as Calico's VXLAN: one rule, two
    # purposes.
    vxlan = next(r for r in page if r.ports is not None and r.ports.from_port == 4789)
    assert "; flannel networking (VXLAN)" in vxlan.purpose


def test_k3s_page_reads_servers_agents_and_all_nodes() -> None:
    rows = parse_file(UPSTREAM / "k3s__docs_installation_requirements__005d295.md")
    supervisor = [r for r in rows if str(r.ports) == "6443" and "supervisor" in r.purpose]
    assert [(r.role, r.used_by) for r in supervisor] == [("control-plane", ("role:worker",))]
    etcd = [r for r in rows if str(r.ports) == "2379-2380"]
    assert [(r.role, r.used_by, r.component) for r in etcd] == [
        ("control-plane", ("role:control-plane",), "etcd")
    ]
    vxlan = {(r.role, r.used_by) for r in rows if str(r.ports) == "8472"}
    assert vxlan == {
        ("control-plane", ("role:control-plane", "role:worker")),
        ("worker", ("role:control-plane", "role:worker")),
    }
    # The three-column "Local Ports" table (loopback only) is not a port table.
    assert not any(str(r.ports) == "6444" for r in rows)


RKE2_STYLE = """\
## Inbound Network Rules

| Port        | Protocol | Source            | Destination       | Description
|-------------|----------|-------------------|-------------------|------------
| 9345        | TCP      | All RKE2 nodes    | RKE2 server nodes | RKE2 supervisor API
| 2380        | TCP      | RKE2 server nodes | RKE2 server nodes | etcd peer port
"""


def test_columns_are_read_by_header_in_any_order() -> None:
    rows = parse_document(RKE2_STYLE, source="rke2.md")
    got = {(r.role, r.protocol.value, str(r.ports), r.used_by) for r in rows}
    assert got == {
        ("control-plane", "tcp", "9345", ("role:control-plane", "role:worker")),
        ("control-plane", "tcp", "2380", ("role:control-plane",)),
    }


def test_a_header_table_with_an_unknown_host_names_the_cell_and_line() -> None:
    text = RKE2_STYLE.replace("RKE2 server nodes | etcd", "Bastion hosts     | etcd")
    with pytest.raises(PortTableError) as caught:
        parse_document(text, source="rke2.md")
    assert "rke2.md:6: 'Bastion hosts' in Host(s)/Destination does not name machines" in str(
        caught.value
    )


def test_the_kubernetes_header_order_is_still_read_by_position() -> None:
    # Same header words, Kubernetes order: the translated-page behaviour must not change.
    text = (
        "## Worker nodes\n\n| Protocol | Direction | Port Range | Purpose | Used By |\n"
        "|---|---|---|---|---|\n| TCP | Inbound | 10250 | Kubelet API | Self, Control plane |\n"
    )
    (row,) = parse_document(text)
    assert (row.role, str(row.ports), row.used_by) == (
        "worker",
        "10250",
        ("self", "role:control-plane"),
    )


PORTLESS = """\
## Nodes

| Protocol | Direction | Port range | Purpose   | Used by |
|----------|-----------|------------|-----------|---------|
| IPIP     | Inbound   | -          | tunnel    | Self    |
| 4        | Inbound   |            | tunnel    | Self    |
| ICMP     | Inbound   | 8/0        | ping      | Self    |
| ICMP     | Inbound   | 3          | unreach   | Self    |
| ESP      | Inbound   | -          | IPsec     | Self    |
"""


def test_kubernetes_shaped_tables_take_protocols_without_ports() -> None:
    rows = parse_document(PORTLESS)
    got = [(r.protocol.value, r.ports, r.icmp_type, r.icmp_code) for r in rows]
    assert got == [
        ("ipip", None, None, None),
        ("ipip", None, None, None),
        ("icmp", None, 8, 0),
        ("icmp", None, 3, None),
        ("esp", None, None, None),
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("| GRE | Inbound | 47 | x | Self |", "protocol 'gre' carries no ports, not '47'"),
        ("| ICMP | Inbound | 300 | x | Self |", "'300' is not an ICMP type or type/code"),
        ("| ICMP | Inbound | 8-9 | x | Self |", "'8-9' is not an ICMP type or type/code"),
        ("| ANY | Inbound | - | x | Self |", "protocol 'ANY' is not supported"),
    ],
)
def test_protocols_without_ports_refuse_a_port_cell(row: str, message: str) -> None:
    with pytest.raises(PortTableError) as caught:
        parse_document(PORTLESS + row + "\n", source="p.md")
    assert f"p.md:10: {message}" in str(caught.value)
