"""Strict YAML: the config and catalogs' front matter mean what they show.

Before: duplicate keys kept the last value silently, YAML 1.1 read ``010250`` as port 4264,
``1:47:23`` as 6443 and ``true`` as port 1, Arabic-Indic digits made port 22, and an alias bomb
ran for about 50 s and 4 GB before a MemoryError.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from portsync.catalog import load_catalog
from portsync.config import load_config, parse_config
from portsync.errors import ConfigError, InputError, PortTableError
from portsync.files import read_bounded
from portsync.yamlstrict import MAX_ALIAS_NODES, StrictYamlError, load

CLUSTER = """\
clusters:
  - name: prod
    provider: aws
    region: eu-west-1
    roles:
      worker: {security_group: sg-1}
"""


def _bomb(levels: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_duplicate_keys_are_refused_naming_both_lines() -> None:
    text = "mode: owned\nmax_deletes: 3\nmode: exclusive\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, path=Path("p.yaml"))
    message = str(info.value)
    assert "p.yaml:3" in message
    assert "duplicate key 'mode' on lines 1 and 3" in message


def test_a_second_sources_all_is_refused() -> None:
    text = "sources:\n  all: [10.0.0.0/8]\n  all: [0.0.0.0/0]\n"
    with pytest.raises(ConfigError, match="duplicate key 'all' on lines 2 and 3"):
        parse_config(text, path=Path("p.yaml"))


@pytest.mark.parametrize(
    ("value", "port"),
    [("010250", 10250), ("6443", 6443), ("0x1F90", 8080)],
)
def test_yaml12_integers(value: str, port: int) -> None:
    loaded = parse_config(f"overrides:\n  kubelet: {value}\n")
    assert loaded.config.override_ports()["kubelet"].from_port == port


@pytest.mark.parametrize("value", ["1:47:23", "true", "yes", "on", "٢٢", "２２", "1e3", "22.0"])
def test_ports_that_are_not_ascii_integers_are_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="kubelet"):
        parse_config(f"overrides:\n  kubelet: {value}\n", path=Path("p.yaml"))


@pytest.mark.parametrize("value", ["true", "on", "٢٢"])
def test_extra_rule_ports_and_protocol_take_no_booleans_or_foreign_digits(value: str) -> None:
    rule = "extra_rules:\n  - {role: worker, protocol: tcp, ports: %s, peer: any}\n"
    with pytest.raises(ConfigError, match="ports"):
        parse_config(rule % value, path=Path("p.yaml"))
    rule = "extra_rules:\n  - {role: worker, protocol: %s, ports: 22, peer: any}\n"
    with pytest.raises(ConfigError, match="protocol"):
        parse_config(rule % value, path=Path("p.yaml"))


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "y", "n"])
def test_yes_no_on_off_are_text(word: str) -> None:
    data, _ = load(f"a: {word}\n")
    assert data == {"a": word}


def test_sexagesimal_and_timestamps_are_text() -> None:
    data, _ = load("a: 1:47:23\nb: 2026-01-01\n")
    assert data == {"a": "1:47:23", "b": "2026-01-01"}


@pytest.mark.parametrize(
    "text",
    ["a: !!binary aGVsbG8=", "a: !!set {x}", "a: !!python/name:os.system x", "<<: {a: 1}"],
)
def test_tags_and_merge_keys_are_refused(text: str) -> None:
    with pytest.raises(StrictYamlError):
        load(text)


def test_alias_bomb_is_refused_before_it_expands() -> None:
    started = time.process_time()
    with pytest.raises(ConfigError, match="aliases repeat more than"):
        parse_config(_bomb(), path=Path("bomb.yaml"))
    # 9**10 nodes if expanded: refused after composing a few dozen. (CPU time, not a deadline:
    # the bound is the node count, this only shows nothing was built.)
    assert time.process_time() - started < 5


def test_aliases_within_the_cap_are_fine() -> None:
    text = "x: &rule {role: worker, protocol: tcp, ports: 22, peer: any}\n"
    data, _ = load(text + "y: [" + ", ".join(["*rule"] * 10) + "]\n")
    assert len(data["y"]) == 10
    with pytest.raises(StrictYamlError):
        load(text + "y: [" + ", ".join(["*rule"] * (MAX_ALIAS_NODES // 8)) + "]\n")


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(ConfigError, match="nested more than"):
        parse_config("a: " + "[" * 200 + "]" * 200 + "\n", path=Path("deep.yaml"))


def test_oversized_text_is_refused() -> None:
    with pytest.raises(ConfigError, match="cap"):
        parse_config("# " + "x" * (1024 * 1024) + "\n", path=Path("big.yaml"))


def test_catalog_front_matter_is_strict(tmp_path: Path) -> None:
    table = (
        "## Control plane\n\n| Protocol | Direction | Port Range | Purpose | Used By |\n"
        "|---|---|---|---|---|\n| TCP | Inbound | 6443 | API | All |\n"
    )
    path = tmp_path / "t.md"
    path.write_text("---\ntitle: a\ntitle: b\n---\n" + table)
    with pytest.raises(PortTableError, match="duplicate key 'title' on lines 2 and 3"):
        load_catalog(str(path))
    path.write_text("---\nretired_ports:\n  - {ports: ٢٢, protocol: tcp, why: x}\n---\n" + table)
    with pytest.raises(PortTableError, match="ports"):
        load_catalog(str(path))
    path.write_text("---\n" + _bomb() + "---\n" + table)
    with pytest.raises(PortTableError, match="aliases"):
        load_catalog(str(path))


# --- files that are not regular files, or too large, are refused before they are read ---------


@pytest.mark.parametrize("name", ["/dev/zero", "/dev/null"])
def test_device_files_are_refused(name: str) -> None:
    if not os.path.exists(name):
        pytest.skip(f"{name} does not exist here")
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(name)
    with pytest.raises(PortTableError, match="not a regular file"):
        load_catalog(name)


def test_symlink_to_a_device_fifo_and_directory_are_refused(tmp_path: Path) -> None:
    link = tmp_path / "portsync.yaml"
    link.symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(link)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(fifo)  # no writer: must not hang
    with pytest.raises(InputError, match="a directory"):
        read_bounded(tmp_path, limit=10, what="plan file")


def test_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        with pytest.raises(InputError):
            read_bounded(path, limit=10, what="plan file")
    finally:
        server.close()


def test_oversized_files_are_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "portsync.yaml"
    with path.open("wb") as fh:
        fh.truncate(2 * 1024 * 1024)  # sparse: large, and nothing to read
    with pytest.raises(ConfigError, match="2 MiB, over the 1 MiB cap"):
        load_config(path)


def test_nul_in_a_path_is_one_input_error() -> None:
    with pytest.raises(InputError, match="NUL"):
        read_bounded("a\0b", limit=10, what="config file")
    with pytest.raises(PortTableError, match="NUL"):
        load_catalog("x\0.md")


def test_a_regular_file_under_the_cap_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "portsync.yaml"
    path.write_text(CLUSTER)
    assert read_bounded(path, limit=len(CLUSTER), what="config file") == CLUSTER.encode()
    assert load_config(path).config.clusters[0].name == "prod"
