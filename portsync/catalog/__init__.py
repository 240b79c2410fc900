"""Port-table catalogs: the built-in tables and any Markdown port table a user points to.

A catalog is one Markdown document: its port tables (see :mod:`portsync.catalog.parser`) plus,
optionally, a ``retired_ports`` list in its YAML front matter — ports that older versions of the
table listed and that should now be closed (used by the audit). Built-in catalogs live in
``portsync/catalog/data/<name>.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from portsync.catalog.parser import (
    EtcdMode,
    PortRow,
    front_matter,
    parse_document,
    parse_file,
    read_text,
    rows_to_rules,
)
from portsync.errors import PortTableError
from portsync.model import PortRange, Protocol, RuleSet, slugify

__all__ = [
    "Catalog",
    "PortRow",
    "RetiredPort",
    "builtin_catalogs",
    "load_catalog",
    "parse_document",
    "parse_file",
    "rows_to_rules",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetiredPort:
    """A port an older version of the table listed and that should now be closed."""

    protocol: Protocol
    ports: PortRange
    component: str | None
    roles: tuple[str, ...]
    why: str
    location: str  # ``source:line`` of the entry

    def __str__(self) -> str:
        where = f" on {', '.join(self.roles)}" if self.roles else ""
        what = f" ({self.component})" if self.component else ""
        return f"{self.protocol.value}/{self.ports}{what}{where}: {self.why}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Catalog:
    """One loaded port-table document."""

    name: str  # built-in name, or the file's stem
    source: str  # the file path, or ``<builtin:NAME>``
    path: Path | None  # the file, when there is one on disk
    rows: tuple[PortRow, ...]
    retired: tuple[RetiredPort, ...] = ()
    description: str = ""  # the front matter's ``title``, if any

    @property
    def roles(self) -> tuple[str, ...]:
        """Roles that have rows, in document order."""
        return tuple(dict.fromkeys(row.role for row in self.rows))

    def to_rules(self, *, etcd: EtcdMode = "stacked") -> RuleSet:
        """The neutral rule set of this catalog.

        Args:
            etcd: ``stacked`` or ``external`` (see :func:`rows_to_rules`).

        Returns:
            The rule set.

        Raises:
            ValueError: ``etcd`` is neither mode.
        """
        return rows_to_rules(self.rows, etcd=etcd)


def _data_dir() -> Any:
    return resources.files(__name__).joinpath("data")


def builtin_catalogs() -> list[str]:
    """Names of the built-in catalogs, sorted.

    Returns:
        Names usable as ``catalog:`` in the config, e.g. ``["kubernetes"]``.

    Raises:
        Nothing.
    """
    return sorted(
        entry.name.removesuffix(".md")
        for entry in _data_dir().iterdir()
        if entry.name.endswith(".md")
    )


def load_catalog(name_or_path: str, *, base_dir: Path | None = None) -> Catalog:
    """Load a built-in catalog by name, or a Markdown port table by path.

    A bare name of a built-in catalog (``kubernetes``) wins; anything else is a path. Relative
    paths are read from ``base_dir`` (the config file's folder) when given, else from the
    current directory.

    Args:
        name_or_path: built-in name or file path.
        base_dir: folder that relative paths are relative to.

    Returns:
        The catalog with its rows and retired ports.

    Raises:
        PortTableError: unknown name, unreadable file, no port table, bad rows, or invalid
            ``retired_ports`` front matter (each problem with ``file:line``).
    """
    name = str(name_or_path).strip()
    path: Path | None
    if not name:
        raise PortTableError(
            "the catalog name is empty — use a built-in name "
            f"({', '.join(builtin_catalogs())}) or the path to a Markdown port table"
        )
    if name in builtin_catalogs():
        resource = _data_dir().joinpath(f"{name}.md")
        text = resource.read_text(encoding="utf-8")
        source = f"<builtin:{name}>"
        path = resource if isinstance(resource, Path) else None
    else:
        path = Path(name).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        if not path.exists() and path.suffix == "" and len(path.parts) == 1:
            raise PortTableError(
                f"catalog {name!r} is not a built-in catalog ({', '.join(builtin_catalogs())}) "
                "nor an existing file — check the spelling or give the path to a .md file"
            )
        text = read_text(path)
        source = str(path)
        name = path.stem
    rows = parse_document(text, source=source)
    retired, description = _front_matter_fields(text, source)
    return Catalog(
        name=name,
        source=source,
        path=path,
        rows=tuple(rows),
        retired=retired,
        description=description,
    )


_RETIRED_KEYS = frozenset({"ports", "protocol", "component", "roles", "why"})


def _front_matter_fields(text: str, source: str) -> tuple[tuple[RetiredPort, ...], str]:
    """Read ``retired_ports`` and ``title`` from the front matter, reporting every bad entry."""
    matter = front_matter(text)
    if matter is None:
        return (), ""
    try:
        data = yaml.safe_load(matter.text)
        tree = yaml.compose(matter.text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = matter.start + 1 + (mark.line if mark is not None else 0)
        problem = getattr(exc, "problem", None) or "unreadable"
        raise PortTableError(
            f"{source}:{line}: the front matter is not valid YAML ({problem}) — fix the YAML "
            "between the --- lines",
            source=source,
        ) from exc
    if not isinstance(data, dict):
        return (), ""
    title = data.get("title")
    description = " ".join(title.split()) if isinstance(title, str) else ""
    if data.get("retired_ports") is None:
        return (), description
    entries = data["retired_ports"]
    lines = _item_lines(tree, matter.start + 1)
    problems: list[str] = []
    if not isinstance(entries, list):
        problems.append(
            f"{source}:{lines[0] if lines else matter.start}: retired_ports is not a list — "
            "write one '- ports: …' entry per retired port"
        )
        entries = []
    retired: list[RetiredPort] = []
    for index, entry in enumerate(entries):
        location = f"{source}:{lines[index] if index < len(lines) else matter.start}"
        port, problem = _retired_entry(entry, location)
        if port is not None:
            retired.append(port)
        else:
            problems.append(f"{location}: {problem}")
    if problems:
        raise PortTableError(
            f"{source}: invalid retired_ports in the front matter:",
            problems=problems,
            source=source,
        )
    return tuple(retired), description


def _item_lines(tree: yaml.Node | None, first_line: int) -> list[int]:
    """1-based document lines of the ``retired_ports`` list items."""
    if not isinstance(tree, yaml.MappingNode):
        return []
    for key, value in tree.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "retired_ports":
            if isinstance(value, yaml.SequenceNode):
                return [first_line + item.start_mark.line for item in value.value]
            return [first_line + key.start_mark.line]
    return []


def _retired_entry(entry: object, location: str) -> tuple[RetiredPort | None, str]:
    fix = "write ports, protocol, component, roles and why (see docs/port-tables.md)"
    if not isinstance(entry, dict):
        return None, f"a retired port must be a mapping — {fix}"
    unknown = sorted(str(k) for k in entry if k not in _RETIRED_KEYS)
    if unknown:
        return None, f"unknown key(s) {', '.join(unknown)} — {fix}"
    try:
        ports = PortRange.parse(entry.get("ports", ""))
    except ValueError:
        return None, f"ports {entry.get('ports')!r} is not a port or range — {fix}"
    protocol_text = str(entry.get("protocol", "tcp")).lower()
    if protocol_text not in ("tcp", "udp"):
        return None, f"protocol {entry.get('protocol')!r} is not tcp or udp — {fix}"
    why = entry.get("why")
    if not isinstance(why, str) or not why.strip():
        return None, f"'why' is missing — say in one line why the port is retired; {fix}"
    roles = entry.get("roles", [])
    if isinstance(roles, str):
        roles = [roles]
    if not isinstance(roles, list) or not all(isinstance(r, str) and slugify(r) for r in roles):
        return None, f"roles must be a list of role names — {fix}"
    component = entry.get("component")
    return (
        RetiredPort(
            protocol=Protocol(protocol_text),
            ports=ports,
            component=str(component) if component is not None else None,
            roles=tuple(slugify(r) for r in roles),
            why=" ".join(why.split()),
            location=location,
        ),
        "",
    )
