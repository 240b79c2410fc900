"""Rule tables on an 80-column terminal: nothing squeezed to a sliver, every purpose whole."""

from __future__ import annotations

import json

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from portsync.cli import app

runner = CliRunner()

_COMMANDS = [
    ["rules"],
    ["rules", "--role", "worker"],
    ["catalog", "show", "kubernetes"],
    ["catalog", "show", "cilium"],
    ["catalog", "show", "calico", "--option", "typha=true"],
    ["catalog", "show", "rke2", "--option", "cni=cilium"],
    ["catalog", "show", "k3s", "--option", "embedded_etcd=true"],
]


def _tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Each table printed in ``text``: its header cells and its body lines' cells."""
    tables: list[tuple[list[str], list[list[str]]]] = []
    for line in text.splitlines():
        if line.startswith("┃"):
            tables.append(([c.strip() for c in line.strip("┃").split("┃")], []))
        elif line.startswith("│") and tables:
            tables[-1][1].append([c.strip() for c in line.strip("│").split("│")])
    return tables


def _purposes_in_table_order(rules: list[dict[str, object]], roles_split: bool) -> str:
    if roles_split:
        order = list(dict.fromkeys(str(r["role"]) for r in rules))
        rules = sorted(rules, key=lambda r: order.index(str(r["role"])))
    return " ".join(" ".join(str(r["purpose"]).split()) for r in rules)


@pytest.mark.parametrize("argv", _COMMANDS, ids=" ".join)
def test_rule_tables_fit_80_columns_with_every_purpose_whole(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    shown = runner.invoke(app, argv)
    assert shown.exit_code == 0, shown.output
    rules = json.loads(runner.invoke(app, [*argv, "-o", "json"]).stdout)
    tables = _tables(shown.stdout)
    assert tables, shown.stdout
    for line in shown.stdout.splitlines():
        if line[:1] in "┏┃┡│└":
            assert cell_len(line) <= 80, line
    purpose_cells: list[str] = []
    for header, body in tables:
        # every column keeps its whole name: none is squeezed to "p…" or a single character
        assert "purpose" in header and all(len(name) > 1 for name in header), header
        assert not any("…" in name for name in header), header
        for cells in body:
            assert all("…" not in cell for cell in cells), cells
            purpose_cells.append(cells[header.index("purpose")])
    text = " ".join(" ".join(purpose_cells).split())
    assert text == _purposes_in_table_order(rules, roles_split=len(tables) > 1)


def test_a_column_that_never_changes_is_named_once_in_the_title(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    kubernetes = runner.invoke(app, ["rules"]).stdout
    header = _tables(kubernetes)[0][0]
    assert "direction" not in header and "role" in header
    assert "every rule: direction ingress" in kubernetes
    # cilium has egress rules too: the column stays
    cilium = runner.invoke(app, ["catalog", "show", "cilium"]).stdout
    assert all("direction" in header for header, _ in _tables(cilium))
    assert "every rule:" not in cilium


def test_a_wide_terminal_keeps_one_table_with_the_role_column(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    cilium = runner.invoke(app, ["catalog", "show", "cilium"]).stdout
    tables = _tables(cilium)
    assert len(tables) == 1
    assert tables[0][0][:2] == ["role", "direction"]


def test_table_cells_are_printed_literally() -> None:
    from rich.console import Console

    from portsync.model import Peer, PortRange, Protocol, Rule
    from portsync.render.text import render_rules_table

    rule = Rule(
        role="worker",
        protocol=Protocol.TCP,
        ports=PortRange(80, 80),
        peer=Peer.parse("cidr:10.0.0.0/8"),
        purpose="[bold red]not markup[/] [link=https://x.invalid]x[/link]",
    )
    console = Console(width=80, record=True, color_system=None)
    console.print(render_rules_table([rule], title="[red]title[/red]"))
    text = console.export_text()
    assert "[red]title[/red]" in text
    assert "[bold red]not markup[/]" in " ".join(text.split())
