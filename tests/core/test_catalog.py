"""Tests of portsync.catalog: built-in catalogs, loading by path, retired ports."""

from __future__ import annotations

from pathlib import Path

import pytest

import portsync.catalog as catalog
from portsync.catalog import Catalog, builtin_catalogs, load_catalog
from portsync.errors import PortTableError
from portsync.model import Direction, Peer, PeerKind, PortRange, Protocol, Rule
from portsync.synthesis import rows_to_rules

DATA = Path(__file__).parent / "data"

TABLE = """\
| Protocol | Direction | Port range | Purpose | Used by |
|---|---|---|---|---|
| TCP | Inbound | 5432 | PostgreSQL | All |
"""


def _rule(role: str, low: int, high: int, peer: str, purpose: str) -> Rule:
    return Rule(
        role=role,
        direction=Direction.INGRESS,
        protocol=Protocol.TCP,
        ports=PortRange(low, high),
        peer=Peer.parse(peer),
        purpose=purpose,
    )


# The ten rules the built-in Kubernetes table gives, written out.
DESIGN_RULES = [
    _rule("control-plane", 6443, 6443, "any", "Kubernetes API server"),
    _rule("control-plane", 2379, 2380, "self", "etcd server client API"),
    _rule("control-plane", 10250, 10250, "self", "kubelet API"),
    _rule("control-plane", 10259, 10259, "self", "kube-scheduler"),
    _rule("control-plane", 10257, 10257, "self", "kube-controller-manager"),
    _rule("worker", 10250, 10250, "self", "kubelet API"),
    _rule("worker", 10250, 10250, "role:control-plane", "kubelet API"),
    _rule("worker", 10256, 10256, "self", "kube-proxy"),
    _rule("worker", 10256, 10256, "load-balancers", "kube-proxy"),
    _rule("worker", 30000, 32767, "any", "NodePort Services (default range)"),
]


def test_all_is_sorted_and_exported() -> None:
    assert catalog.__all__ == sorted(catalog.__all__)
    for name in catalog.__all__:
        assert hasattr(catalog, name), name


def test_builtin_catalogs_lists_kubernetes_and_what_runs_on_the_nodes() -> None:
    assert builtin_catalogs() == [
        "calico", "cilium", "flannel", "k3s", "konnectivity", "kops", "kubernetes", "rke2"
    ]  # fmt: skip


def test_load_catalog_kubernetes_gives_the_ten_design_rules() -> None:
    rules = rows_to_rules(load_catalog("kubernetes").rows)
    assert sorted(r.identity for r in rules) == sorted(r.identity for r in DESIGN_RULES)
    assert {r.identity: r.purpose for r in rules} == {r.identity: r.purpose for r in DESIGN_RULES}


def test_load_catalog_kubernetes_rows_carry_builtin_location() -> None:
    kube = load_catalog("kubernetes")
    assert kube.name == "kubernetes"
    assert kube.description == "Kubernetes ports and protocols"
    assert kube.source == "<builtin:kubernetes>"
    assert kube.roles == ("control-plane", "worker")
    assert len(kube.rows) == 8
    assert all(r.location.startswith("<builtin:kubernetes>:") for r in kube.rows)
    assert {r.component for r in kube.rows} == {
        "kube-apiserver",
        "etcd",
        "kubelet",
        "kube-scheduler",
        "kube-controller-manager",
        "kube-proxy",
        "nodeport",
    }


def test_load_catalog_kubernetes_external_etcd_moves_etcd_rules() -> None:
    rules = rows_to_rules(load_catalog("kubernetes").rows, etcd="external")
    assert {(r.role, str(r.peer)) for r in rules if r.ports == PortRange(2379, 2380)} == {
        ("etcd", "role:control-plane"),
        ("etcd", "self"),
    }
    assert len(rules) == 11
    assert rules.roles == ("control-plane", "etcd", "worker")


def test_load_catalog_kubernetes_records_retired_ports() -> None:
    kube = load_catalog("kubernetes")
    retired = {r.ports.from_port: r for r in kube.retired}
    assert set(retired) == {10251, 10252, 10255}
    assert retired[10251].component == "kube-scheduler"
    assert retired[10252].component == "kube-controller-manager"
    assert retired[10255].component == "kubelet-read-only"
    assert retired[10255].roles == ("control-plane", "worker")
    assert all(r.why and r.protocol is Protocol.TCP for r in kube.retired)
    assert all(r.location.startswith("<builtin:kubernetes>:") for r in kube.retired)
    assert str(retired[10251]).startswith("tcp/10251 (kube-scheduler) on control-plane: Old")
    open_ports = {row.ports.from_port for row in kube.rows}
    assert not open_ports & set(retired)


def test_load_catalog_relative_path_resolves_from_base_dir(tmp_path: Path) -> None:
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "db.md").write_text(f"## Database nodes\n\n{TABLE}", encoding="utf-8")
    loaded = load_catalog("tables/db.md", base_dir=tmp_path)
    assert isinstance(loaded, Catalog)
    assert loaded.name == "db"
    assert loaded.path == tmp_path / "tables" / "db.md"
    assert loaded.source == str(tmp_path / "tables" / "db.md")
    assert loaded.retired == ()
    (row,) = loaded.rows
    assert row.role == "database-nodes"
    assert row.location == f"{loaded.source}:5"
    assert [str(r.peer) for r in rows_to_rules(loaded.rows)] == ["any"]


def test_load_catalog_reference_page_reads_front_matter_and_rows() -> None:
    path = (
        DATA / "kubernetes-website" / "zh-cn__reference_networking_ports-and-protocols__0ad55a1.md"
    )
    loaded = load_catalog(str(path))
    assert loaded.retired == ()
    assert loaded.description == "端口和协议"
    assert len(rows_to_rules(loaded.rows)) == 11
    assert PeerKind.LOAD_BALANCERS in {r.peer.kind for r in rows_to_rules(loaded.rows)}


def test_load_catalog_unknown_name_raises_listing_builtins() -> None:
    with pytest.raises(
        PortTableError,
        match=r"'kubernets' is not a built-in catalog \(calico, .*kubernetes, rke2\)",
    ):
        load_catalog("kubernets")


def test_load_catalog_missing_path_raises_port_table_error(tmp_path: Path) -> None:
    with pytest.raises(PortTableError, match="cannot read the port table"):
        load_catalog(str(tmp_path / "absent.md"))


def test_load_catalog_empty_name_raises_port_table_error() -> None:
    with pytest.raises(PortTableError, match="catalog name is empty"):
        load_catalog("  ")


def test_load_catalog_user_retired_ports_are_read(tmp_path: Path) -> None:
    path = tmp_path / "db.md"
    path.write_text(
        "---\n"
        "retired_ports:\n"
        "  - ports: 5433-5434\n"
        "    protocol: TCP\n"
        "    roles: Database nodes\n"
        "    why: old  replica ports\n"
        "---\n"
        f"## Database nodes\n\n{TABLE}",
        encoding="utf-8",
    )
    (retired,) = load_catalog(str(path)).retired
    assert retired.ports == PortRange(5433, 5434)
    assert retired.roles == ("database-nodes",)
    assert retired.component is None
    assert retired.why == "old replica ports"
    assert retired.location == f"{path}:3"


def test_load_catalog_bad_retired_ports_lists_each_with_line(tmp_path: Path) -> None:
    path = tmp_path / "db.md"
    path.write_text(
        "---\n"
        "title: x\n"
        "retired_ports:\n"
        "  - ports: 99999\n"
        "    why: too big\n"
        "  - ports: 10\n"
        "    colour: red\n"
        "  - ports: 11\n"
        "---\n"
        f"## Database nodes\n\n{TABLE}",
        encoding="utf-8",
    )
    with pytest.raises(PortTableError) as info:
        load_catalog(str(path))
    assert [p.split(": ", 1)[0] for p in info.value.problems] == [
        f"{path}:4",
        f"{path}:6",
        f"{path}:8",
    ]
    assert "99999" in info.value.problems[0]
    assert "unknown key(s) colour" in info.value.problems[1]
    assert "'why' is missing" in info.value.problems[2]


def test_load_catalog_invalid_front_matter_yaml_raises_with_line(tmp_path: Path) -> None:
    path = tmp_path / "db.md"
    path.write_text(f"---\ntitle: x\nretired_ports: [\n---\n## Database nodes\n\n{TABLE}")
    with pytest.raises(
        PortTableError, match=rf"{path.name}:\d+: the front matter is not valid YAML"
    ):
        load_catalog(str(path))
