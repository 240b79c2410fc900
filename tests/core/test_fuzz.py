"""Bad input, fuzzed: the config loader, the port-table parser and the plan loader either accept
the input or raise one InputError — never any other exception, never a cloud call."""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from portsync.catalog.parser import parse_document
from portsync.cli import app
from portsync.config import parse_config
from portsync.errors import InputError
from portsync.ops import Plan

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-70000, 70000),
    st.text(alphabet=string.printable, max_size=20),
    st.sampled_from(["kubernetes", "owned", "aws", "gcp", "0.0.0.0/0", "sg-1", "6443", "1-2"]),
)
_keys = st.sampled_from(
    [
        "catalog",
        "etcd",
        "overrides",
        "sources",
        "mode",
        "clusters",
        "extra_rules",
        "all",
        "load_balancers",
        "name",
        "provider",
        "region",
        "roles",
        "security_group",
        "worker",
        "kube-apiserver",
        "nodeport",
        "role",
        "protocol",
        "ports",
        "peer",
        "max_deletes",
        "x",
    ]
)
_docs = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(_keys, children, max_size=5)
    ),
    max_leaves=25,
)


@FUZZ
@given(_docs)
def test_parse_config_random_structures_accept_or_one_input_error(doc: object) -> None:
    text = yaml.safe_dump(doc)
    try:
        parse_config(text, path=Path("fuzz.yaml"))
    except InputError as exc:
        assert str(exc).strip()
        assert "Traceback" not in str(exc)


@FUZZ
@given(st.text(max_size=300))
def test_parse_config_random_text_accept_or_one_input_error(text: str) -> None:
    try:
        parse_config(text, path=Path("fuzz.yaml"))
    except InputError as exc:
        assert "fuzz.yaml" in str(exc) or "config" in str(exc)


_cells = st.one_of(
    st.sampled_from(
        [
            "TCP",
            "UDP",
            "Inbound",
            "Outbound",
            "6443",
            "2379-2380",
            "70000",
            "All",
            "Self",
            "Control plane",
            "kubelet",
            "x",
            "",
            "10-1",
            "TCP/UDP",
            "†",
            "\\*",
        ]
    ),
    st.text(alphabet=string.ascii_letters + string.digits + " -,、*|", max_size=12),
)
_rows = st.lists(st.lists(_cells, min_size=1, max_size=6), max_size=6)


@FUZZ
@given(st.sampled_from(["## Control plane", "## Worker node(s)", "## Database", "# x", ""]), _rows)
def test_parse_document_random_tables_accept_or_one_input_error(
    heading: str, rows: list[list[str]]
) -> None:
    lines = [
        heading,
        "",
        "| Protocol | Direction | Port Range | Purpose | Used By |",
        "|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    try:
        parse_document("\n".join(lines), source="fuzz.md")
    except InputError as exc:
        assert "fuzz.md" in str(exc)


@FUZZ
@given(st.text(max_size=400))
def test_parse_document_random_text_accept_or_one_input_error(text: str) -> None:
    try:
        parse_document(text, source="fuzz.md")
    except InputError as exc:
        assert "fuzz.md" in str(exc)


_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "format_version",
                    "changes",
                    "targets",
                    "fingerprints",
                    "checksum",
                    "cluster",
                    "target",
                    "rule",
                    "action",
                    "provider",
                    "role",
                ]
            ),
            children,
            max_size=5,
        ),
    ),
    max_leaves=20,
)


@FUZZ
@given(_json)
def test_plan_from_dict_random_json_is_refused_cleanly(data: object) -> None:
    try:
        Plan.from_dict(data, source="fuzz.json")
    except InputError as exc:
        assert "fuzz.json" in str(exc)


@settings(max_examples=40, deadline=None)
@given(_docs)
def test_cli_rules_random_config_exits_0_or_1_without_traceback(doc: object) -> None:
    runner = CliRunner()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "portsync.yaml"
        path.write_text(yaml.safe_dump(doc))
        result = runner.invoke(app, ["--config", str(path), "rules", "--output", "json"])
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    if result.exit_code == 0:
        json.loads(result.stdout)
