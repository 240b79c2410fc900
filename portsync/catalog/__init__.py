"""Port-table catalogs: the built-in tables and any Markdown port table a user points to.

A catalog is one Markdown document: its port tables (see :mod:`portsync.catalog.parser`) plus,
optionally, in its YAML front matter:

* ``retired_ports`` — ports that older versions of the table listed and that should now be closed
  (an audit finding when open);
* ``sensitive_ports`` — ports of what the catalog describes that must never face the internet
  (Calico's Felix metrics, Cilium's agent health, k3s's embedded etcd …), whether or not a table
  opens them; they feed the audit and the exposure floor;
* ``upstream`` — the page the table was read from and the version read (``catalog list``);
* ``options`` — mode choices that change the ports (see :mod:`portsync.catalog.options`).

Built-in catalogs live in ``portsync/catalog/data/<name>.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from portsync import yamlstrict
from portsync.catalog.options import CatalogOption, matches, option_text, resolve_choices
from portsync.catalog.parser import (
    PortRow,
    front_matter,
    parse_document,
    parse_file,
    read_text,
)
from portsync.errors import PortTableError
from portsync.model import PortRange, Protocol, slugify

__all__ = [
    "Catalog",
    "CatalogOption",
    "PortRow",
    "RetiredPort",
    "SensitivePort",
    "Upstream",
    "builtin_catalogs",
    "load_catalog",
    "parse_document",
    "parse_file",
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
class SensitivePort:
    """A port of what a catalog describes that must never be reachable from the internet."""

    catalog: str
    protocol: Protocol
    ports: PortRange
    component: str | None
    roles: tuple[str, ...]  # empty: every role
    why: str
    location: str  # ``source:line`` of the entry

    def __str__(self) -> str:
        where = f" on {', '.join(self.roles)}" if self.roles else ""
        what = f" ({self.component})" if self.component else ""
        return f"{self.protocol.value}/{self.ports}{what}{where}: {self.why}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Upstream:
    """Where a catalog's facts come from: the upstream page and the version read."""

    project: str
    url: str
    version: str

    def __str__(self) -> str:
        return f"{self.project} {self.version} ({self.url})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Catalog:
    """One loaded port-table document, with its options chosen.

    ``rows`` are the rows that apply under ``choices`` (the options' defaults unless
    :meth:`select` chose others); ``all_rows`` are every row of the document.
    """

    name: str  # built-in name, or the file's stem
    source: str  # the file path, or ``<builtin:NAME>``
    path: Path | None  # the file, when there is one on disk
    rows: tuple[PortRow, ...]
    retired: tuple[RetiredPort, ...] = ()
    description: str = ""  # the front matter's ``title``, if any
    all_rows: tuple[PortRow, ...] = ()
    options: tuple[CatalogOption, ...] = ()
    choices: Mapping[str, str] | None = None
    sensitive: tuple[SensitivePort, ...] = ()
    upstream: Upstream | None = None

    def select(self, chosen: Mapping[str, object]) -> Catalog:
        """This catalog with ``chosen`` options (the others keep their defaults).

        Args:
            chosen: option name → value, e.g. ``{"encapsulation": "vxlan", "typha": True}``.

        Returns:
            A catalog whose ``rows`` are those that apply under the choices.

        Raises:
            PortTableError: an option the catalog does not declare, or a value it does not
                accept; ``problems`` lists each with what is accepted.
        """
        choices, problems = resolve_choices(self.options, chosen, catalog=self.name)
        if problems:
            raise PortTableError(
                f"{self.source}: invalid catalog options:",
                problems=[message for _option, message in problems],
                source=self.source,
            )
        rows = tuple(row for row in self.all_rows if matches(row.when, choices))
        return replace(self, rows=rows, choices=choices)

    @property
    def choice_text(self) -> str:
        """``encapsulation=ipip, typha=false`` (empty without options)."""
        return ", ".join(f"{k}={v}" for k, v in (self.choices or {}).items())

    @property
    def roles(self) -> tuple[str, ...]:
        """Roles that have rows, in document order."""
        return tuple(dict.fromkeys(row.role for row in self.rows))


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


def load_catalog(
    name_or_path: str,
    *,
    base_dir: Path | None = None,
    options: Mapping[str, object] | None = None,
) -> Catalog:
    """Load a built-in catalog by name, or a Markdown port table by path.

    A bare name of a built-in catalog (``kubernetes``) wins; anything else is a path. Relative
    paths are read from ``base_dir`` (the config file's folder) when given, else from the
    current directory.

    Args:
        name_or_path: built-in name or file path.
        base_dir: folder that relative paths are relative to.
        options: catalog options to choose (the others keep their defaults).

    Returns:
        The catalog with its rows (those that apply under the options), retired and sensitive
        ports.

    Raises:
        PortTableError: unknown name, unreadable file, no port table, bad rows, invalid front
            matter, a row condition naming an undeclared option or value (each problem with
            ``file:line``), or an unknown option or value in ``options``.
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
    rows = tuple(parse_document(text, source=source))
    fields = _front_matter_fields(text, source, name)
    _check_conditions(rows, fields.options, source)
    catalog = Catalog(
        name=name,
        source=source,
        path=path,
        rows=rows,
        retired=fields.retired,
        description=fields.description,
        all_rows=rows,
        options=fields.options,
        sensitive=fields.sensitive,
        upstream=fields.upstream,
    )
    return catalog.select(options or {})


def _check_conditions(
    rows: tuple[PortRow, ...], options: tuple[CatalogOption, ...], source: str
) -> None:
    """Every ``When`` condition must name a declared option and values it accepts."""
    declared = {option.name: option for option in options}
    problems: list[str] = []
    for row in rows:
        for name, values in row.when:
            option = declared.get(name)
            if option is None:
                known = ", ".join(declared) or "none declared"
                problems.append(
                    f"{row.location}: condition names option {name!r}, which the front matter "
                    f"does not declare (options: {known}) — declare it under options: or fix "
                    "the spelling"
                )
                continue
            unknown = sorted(values - set(option.values))
            if unknown:
                problems.append(
                    f"{row.location}: {name}={'|'.join(unknown)} is not a value of option "
                    f"{name} ({'|'.join(option.values)}) — use one of those"
                )
    problems = list(dict.fromkeys(problems))
    if problems:
        raise PortTableError(
            f"{source}: {len(problems)} problem(s) in row conditions, nothing loaded:",
            problems=problems,
            source=source,
        )


_PORT_KEYS = frozenset({"ports", "protocol", "component", "roles", "why"})
_OPTION_KEYS = frozenset({"values", "default", "about"})
_UPSTREAM_KEYS = frozenset({"project", "url", "version"})


@dataclass(frozen=True, slots=True)
class _FrontMatterFields:
    retired: tuple[RetiredPort, ...] = ()
    description: str = ""
    options: tuple[CatalogOption, ...] = ()
    sensitive: tuple[SensitivePort, ...] = ()
    upstream: Upstream | None = None


def _front_matter_fields(text: str, source: str, name: str = "") -> _FrontMatterFields:
    """Read ``title``, ``upstream``, ``options``, ``retired_ports`` and ``sensitive_ports`` from
    the front matter, reporting every bad entry with its line."""
    matter = front_matter(text)
    if matter is None:
        return _FrontMatterFields()
    try:
        # Strict YAML, as for the config: no duplicate keys, YAML 1.2 scalars, bounded.
        data, tree = yamlstrict.load(matter.text, line_offset=matter.start)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = matter.start + 1 + (mark.line if mark is not None else 0)
        problem = getattr(exc, "problem", None) or "unreadable"
        fix = getattr(exc, "hint", "") or "fix the YAML between the --- lines"
        raise PortTableError(
            f"{source}:{line}: the front matter is not valid YAML ({problem}) — {fix}",
            source=source,
        ) from None
    if not isinstance(data, dict):
        return _FrontMatterFields()
    title = data.get("title")
    description = " ".join(title.split()) if isinstance(title, str) else ""
    problems: list[str] = []
    first = matter.start + 1

    def ports(key: str) -> list[tuple[dict[str, Any], str]]:
        if data.get(key) is None:
            return []
        entries = data[key]
        lines = _item_lines(tree, first, key)
        if not isinstance(entries, list):
            problems.append(
                f"{source}:{lines[0] if lines else matter.start}: {key} is not a list — "
                "write one '- ports: …' entry per port"
            )
            return []
        out = []
        for index, entry in enumerate(entries):
            location = f"{source}:{lines[index] if index < len(lines) else matter.start}"
            fields, problem = _port_entry(entry, location)
            if fields is None:
                problems.append(f"{location}: {key}: {problem}")
            else:
                out.append((fields, location))
        return out

    retired = tuple(RetiredPort(**f, location=loc) for f, loc in ports("retired_ports"))
    sensitive = tuple(
        SensitivePort(**f, catalog=name, location=loc) for f, loc in ports("sensitive_ports")
    )
    options = _options(data.get("options"), tree, first, source, problems)
    upstream = _upstream(data.get("upstream"), tree, first, source, problems)
    if problems:
        raise PortTableError(
            f"{source}: invalid front matter:",
            problems=problems,
            source=source,
        )
    return _FrontMatterFields(retired, description, options, sensitive, upstream)


def _key_line(tree: yaml.Node | None, first_line: int, key: str) -> int:
    if isinstance(tree, yaml.MappingNode):
        for key_node, _value in tree.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return first_line + key_node.start_mark.line
    return first_line - 1


def _options(
    raw: object, tree: yaml.Node | None, first: int, source: str, problems: list[str]
) -> tuple[CatalogOption, ...]:
    if raw is None:
        return ()
    where = f"{source}:{_key_line(tree, first, 'options')}"
    fix = "write options: {NAME: {values: [a, b], default: a, about: …}} (see docs/port-tables.md)"
    if not isinstance(raw, dict):
        problems.append(f"{where}: options must be a mapping — {fix}")
        return ()
    options = []
    for raw_name, spec in raw.items():
        name = str(raw_name).strip().lower().replace("-", "_")
        if not isinstance(spec, dict) or set(map(str, spec)) - _OPTION_KEYS:
            problems.append(f"{where}: option {raw_name!r} must map values, default, about — {fix}")
            continue
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            problems.append(f"{where}: option {name} needs a list of values — {fix}")
            continue
        texts = tuple(dict.fromkeys(option_text(v) for v in values))
        default = option_text(spec.get("default", values[0]))
        if default not in texts:
            problems.append(
                f"{where}: option {name} default {default!r} is not one of its values — {fix}"
            )
            continue
        about = spec.get("about", "")
        options.append(
            CatalogOption(
                name=name, values=texts, default=default, about=" ".join(str(about).split())
            )
        )
    return tuple(options)


def _upstream(
    raw: object, tree: yaml.Node | None, first: int, source: str, problems: list[str]
) -> Upstream | None:
    if raw is None:
        return None
    where = f"{source}:{_key_line(tree, first, 'upstream')}"
    if (
        not isinstance(raw, dict)
        or set(map(str, raw)) != _UPSTREAM_KEYS
        or not all(isinstance(raw[k], str | int | float) and str(raw[k]).strip() for k in raw)
    ):
        problems.append(
            f"{where}: upstream must give project, url and version — e.g. "
            "upstream: {project: Calico, url: https://…, version: '3.29'}"
        )
        return None
    return Upstream(
        project=str(raw["project"]).strip(),
        url=str(raw["url"]).strip(),
        version=str(raw["version"]).strip(),
    )


def _item_lines(tree: yaml.Node | None, first_line: int, name: str) -> list[int]:
    """1-based document lines of the items of the front matter list ``name``."""
    if not isinstance(tree, yaml.MappingNode):
        return []
    for key, value in tree.value:
        if isinstance(key, yaml.ScalarNode) and key.value == name:
            if isinstance(value, yaml.SequenceNode):
                return [first_line + item.start_mark.line for item in value.value]
            return [first_line + key.start_mark.line]
    return []


def _port_entry(entry: object, location: str) -> tuple[dict[str, Any] | None, str]:
    """The fields of one retired or sensitive port entry, or None and the problem."""
    fix = "write ports, protocol, component, roles and why (see docs/port-tables.md)"
    if not isinstance(entry, dict):
        return None, f"an entry must be a mapping — {fix}"
    unknown = sorted(str(k) for k in entry if k not in _PORT_KEYS)
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
        return None, f"'why' is missing — say in one line why the port is listed; {fix}"
    roles = entry.get("roles", [])
    if isinstance(roles, str):
        roles = [roles]
    if not isinstance(roles, list) or not all(isinstance(r, str) and slugify(r) for r in roles):
        return None, f"roles must be a list of role names — {fix}"
    component = entry.get("component")
    return (
        {
            "protocol": Protocol(protocol_text),
            "ports": ports,
            "component": str(component) if component is not None else None,
            "roles": tuple(slugify(r) for r in roles),
            "why": " ".join(why.split()),
        },
        "",
    )
