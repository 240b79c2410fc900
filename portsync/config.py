"""Loading and validating ``portsync.yaml`` (docs/configuration.md).

The file is parsed with PyYAML's composer so every value keeps its line number; pydantic validates
the shape; every problem becomes one :class:`~portsync.errors.ConfigError` naming ``file:line``
and the fix. Provider-specific cluster keys are validated by the provider's own model, found
through the registry, so the core knows nothing about any cloud.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from portsync import yamlstrict
from portsync.errors import ConfigError
from portsync.files import CONFIG_CAP, read_bounded
from portsync.model import Direction, Peer, PortRange, Protocol, Rule, slugify, strict_cidr
from portsync.peers import native_kind
from portsync.protect import Protector
from portsync.roles import role_name_problem

__all__ = [
    "COMPONENTS",
    "DEFAULT_CONFIG_NAMES",
    "CatalogRef",
    "ClusterConfig",
    "Config",
    "Lifeline",
    "LoadedConfig",
    "ProtectEntry",
    "Sources",
    "Timeouts",
    "find_config",
    "load_config",
    "parse_config",
]

DEFAULT_CONFIG_NAMES = ("portsync.yaml", "portsync.yml")

#: Components whose ports the Kubernetes docs say may be changed, by override key.
COMPONENTS = (
    "kube-apiserver",
    "etcd",
    "kubelet",
    "kube-scheduler",
    "kube-controller-manager",
    "kube-proxy",
    "nodeport",
)

Mode = Literal["additive", "owned", "exclusive"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _source(item: str) -> str:
    """A ``sources`` entry: a CIDR, or a native peer an installed provider declares (see
    :mod:`portsync.peers`), spelled right; which cloud can write it is checked per cluster, when
    rules are resolved."""
    item = str(item).strip()
    if native_kind(item) is not None:
        Peer.parse(item)
        return item
    return strict_cidr(item)


def _port_range(value: int | str) -> int | str:
    PortRange.parse(value)
    return value


Cidr = Annotated[str, AfterValidator(strict_cidr)]
SourceItem = Annotated[str, AfterValidator(_source)]
# StrictInt: a YAML ``true`` is not port 1, nor ``22.0`` port 22.
PortsValue = Annotated[StrictInt | str, AfterValidator(_port_range)]
Component = Literal[
    "kube-apiserver",
    "etcd",
    "kubelet",
    "kube-scheduler",
    "kube-controller-manager",
    "kube-proxy",
    "nodeport",
]


class Sources(_Strict):
    """Who the abstract peers ``any`` and ``load-balancers`` mean: CIDRs, or native peers of
    the cloud (declared by its provider, see :mod:`portsync.peers`)."""

    all: tuple[SourceItem, ...] = ()
    load_balancers: tuple[SourceItem, ...] = ()


#: An extra rule's ``direction`` (validated as one of these) as the enum member.
_DIRECTIONS = {d.value: d for d in Direction}

#: ``role: "*"`` in an extra rule: every role a cluster of the config binds.
EVERY_ROLE = "*"


class ExtraRule(_Strict):
    """A rule added in neutral form, for one role, a list of roles, or ``*`` (every bound role)."""

    role: str | list[str]
    direction: Literal["ingress", "egress"] = "ingress"
    protocol: str | StrictInt
    ports: str | StrictInt | None = None
    icmp_type: int | None = Field(default=None, ge=0, le=255, strict=True)
    icmp_code: int | None = Field(default=None, ge=0, le=255, strict=True)
    peer: str
    purpose: str = ""

    def roles(self, bound: Sequence[str]) -> list[str]:
        """The roles this rule is for; ``bound`` (every role the clusters bind) stands for ``*``."""
        if isinstance(self.role, str):
            return list(bound) if self.role == EVERY_ROLE else [self.role]
        if EVERY_ROLE in self.role:
            return list(bound)
        return list(dict.fromkeys(self.role))

    def to_rules(self, bound: Sequence[str] = ()) -> list[Rule]:
        """The neutral rules, one per role (see :meth:`roles`).

        Raises:
            ValueError: the rule is impossible for a role (``peer: role:X`` on role X is fine;
                ports on protocol ``all`` are not).
        """
        ports = PortRange.parse(self.ports) if self.ports is not None else None
        peer = Peer.parse(self.peer)
        # Converted once for every role, not by each rule.
        direction = _DIRECTIONS[self.direction]
        protocol = Protocol(self.protocol)
        return Rule.for_each_role(
            self.roles(bound),
            direction=direction,
            protocol=protocol,
            ports=ports,
            peer=peer,
            purpose=self.purpose,
            icmp_type=self.icmp_type,
            icmp_code=self.icmp_code,
        )

    @field_validator("role")
    @classmethod
    def _role(cls, value: str | list[str]) -> str | list[str]:
        names = [value] if isinstance(value, str) else value
        if not names:
            raise ValueError("name at least one role, or '*' for every role")
        for name in names:
            problem = None if name == EVERY_ROLE else role_name_problem(name)
            if problem is not None and slugify(name) == name:
                raise ValueError(problem)
            if name != EVERY_ROLE and slugify(name) != name:
                raise ValueError(
                    f"role {name!r} must be a lowercase slug such as {slugify(name)!r}, "
                    "or '*' for every role"
                )
        return value

    @field_validator("protocol")
    @classmethod
    def _protocol(cls, value: str | int) -> str:
        return Protocol(value).value

    @field_validator("ports")
    @classmethod
    def _ports(cls, value: str | int | None) -> str | int | None:
        if value is not None:
            PortRange.parse(value)
        return value

    @field_validator("peer")
    @classmethod
    def _peer(cls, value: str) -> str:
        kind, sep, rest = str(value).strip().partition(":")
        if sep and kind == "cidr":
            strict_cidr(rest)  # a typed prefix with host bits is a mistake, never widened
        Peer.parse(value)
        return value


def check_endpoint(value: str) -> str:
    """An endpoint is an absolute http(s) URL, written out: the SDKs take anything else for a
    host name, a path or a region, and fail much later with an error that names none of it.

    Raises:
        ValueError: naming the mistake and the fix.
    """
    import re
    from urllib.parse import urlsplit

    if re.search(r"\$\{?\w", value) or value.startswith("~"):
        raise ValueError(
            f"endpoint {value!r}: portsync does not expand environment variables or ~ in the "
            "config; write the URL itself"
        )
    if any(ch.isspace() for ch in value):
        raise ValueError(f"endpoint {value!r} contains white space; write the URL alone")
    parts = urlsplit(value)
    if not parts.scheme or not value.lower().startswith(f"{parts.scheme.lower()}://"):
        raise ValueError(
            f"endpoint {value!r} has no scheme: write http://{value} (a local emulator) or "
            f"https://{value}"
        )
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"endpoint {value!r} must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError(
            f"endpoint {value!r} names no host, e.g. https://ec2.eu-west-1.amazonaws.com"
        )
    return value


class Timeouts(_Strict):
    """Seconds one HTTP attempt may wait: to connect, and for each read of the answer.

    A call that gets no answer is tried at most three times (see docs/configuration.md), so the
    defaults report a hung endpoint within 3 × (5 + 20) s plus a little backoff.
    """

    connect: float = Field(default=5.0, gt=0, le=300, allow_inf_nan=False)
    read: float = Field(default=20.0, gt=0, le=3600, allow_inf_nan=False)


def _timeouts(value: Any) -> Any:
    # ``timeout: 10`` is shorthand for the same limit on connect and read. A bool is not a number
    # here (YAML's ``true`` would otherwise read as one second).
    if isinstance(value, bool):
        raise ValueError("timeout must be seconds, or {connect: SECONDS, read: SECONDS}")
    if isinstance(value, int | float):
        return {"connect": value, "read": value}
    return value


#: An explicit ``owner``: short, and spelled so every cloud can store it (an AWS tag value) and
#: nobody confuses two owners by case or look-alike characters.
OWNER_PATTERN = r"^[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?$"


class ClusterConfig(BaseModel):
    """One cluster: which cloud, where, and which native object each role is bound to.

    Keys beyond the common ones are the provider's and are validated by its own model.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(min_length=1)
    provider: str = Field(min_length=1)
    endpoint: str | None = None
    credentials: Literal["default", "anonymous"] = "default"
    #: ``satisfy``: a desired rule that live rules already cover is not added (shown as
    #: satisfied); ``add``: portsync writes its own rule regardless.
    covered: Literal["satisfy", "add"] = "satisfy"
    #: Per-attempt HTTP timeouts of this cluster's cloud calls.
    timeout: Annotated[Timeouts, BeforeValidator(_timeouts)] = Field(default_factory=Timeouts)
    #: The identity written on every rule this cluster's runs create, and the only rules they
    #: change or remove; defaults to the cluster name (see :attr:`owner_id`).
    owner: str | None = Field(default=None, pattern=OWNER_PATTERN)
    roles: dict[str, dict[str, Any]]

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return None if value is None else check_endpoint(value)

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        if not value:
            raise ValueError("bind at least one role, e.g. control-plane: {...}")
        for role in value:
            problem = role_name_problem(role)
            if problem is not None and slugify(role) == role:
                raise ValueError(problem)
            if slugify(role) != role:
                raise ValueError(
                    f"role {role!r} must be a lowercase slug such as {slugify(role)!r}"
                )
        return value

    @property
    def owner_id(self) -> str:
        """The owner identity of this cluster's rules: ``owner``, else the cluster name."""
        return self.owner or self.name

    @property
    def settings(self) -> dict[str, Any]:
        """Every key of the cluster entry a provider validates: the provider-specific ones and
        the common connection keys, without the keys only the core reads."""
        return dict(self.model_dump(exclude=set(_CORE_ONLY_KEYS)))


#: Cluster keys the core handles itself; providers never see them.
_CORE_ONLY_KEYS = ("covered", "timeout", "owner")


OptionValue = str | bool | int


def _one_catalog(
    value: str | dict[str, dict[str, OptionValue] | None],
) -> str | dict[str, dict[str, OptionValue] | None]:
    if isinstance(value, dict) and len(value) != 1:
        raise ValueError(
            "a catalog with options is one name mapped to its options, e.g. "
            "{calico: {encapsulation: vxlan}} — write one entry per catalog"
        )
    return value


CatalogEntry = Annotated[
    str | dict[str, dict[str, OptionValue] | None], AfterValidator(_one_catalog)
]


def _pattern(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > 200:
        raise ValueError("a protect pattern is at most 200 characters")
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a regular expression ({exc})") from None
    return value


class Lifeline(_Strict):
    """A flow that must never break: ``from`` a peer ``to`` a role, on one protocol and port."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1, max_length=100)
    source: str = Field(alias="from")
    to: str = Field(min_length=1)
    protocol: str | int = "tcp"
    port: str | int | None = None

    @field_validator("source")
    @classmethod
    def _peer(cls, value: str) -> str:
        Peer.parse(value)
        return value

    @model_validator(mode="after")
    def _expressible(self) -> Lifeline:
        self.to_rule()
        return self

    def to_rule(self) -> Rule:
        """The lifeline as a neutral rule on its role (what must stay admitted).

        Raises:
            ValueError: an impossible protocol and port.
        """
        return Rule(
            role=self.to,
            protocol=Protocol(self.protocol),
            ports=PortRange.parse(self.port) if self.port is not None else None,
            peer=Peer.parse(self.source),
            purpose=f"lifeline {self.name}",
        )


class ProtectEntry(_Strict):
    """One ``protect:`` matcher: live rules it matches are never removed or changed."""

    #: A rule tag key, or ``key=value`` (AWS security group rules).
    tag: str | None = Field(default=None, min_length=1, max_length=256)
    #: A regular expression searched in the rule's description.
    description: Annotated[str | None, AfterValidator(_pattern)] = None
    #: A regular expression searched in the native name (GCP firewall, Azure rule, AWS rule id).
    name: Annotated[str | None, AfterValidator(_pattern)] = None

    @model_validator(mode="after")
    def _something(self) -> ProtectEntry:
        if self.tag is None and self.description is None and self.name is None:
            raise ValueError("give at least one of tag, description or name")
        return self

    def protector(self) -> Protector:
        """The compiled matcher."""
        key: str | None = None
        value: str | None = None
        if self.tag is not None:
            key, sep, rest = self.tag.partition("=")
            value = rest if sep else None
        return Protector(
            tag_key=key,
            tag_value=value,
            description=re.compile(self.description) if self.description else None,
            name=re.compile(self.name) if self.name else None,
        )


@dataclass(frozen=True)
class CatalogRef:
    """One entry of ``catalog:``: a built-in name or a path, with the options chosen for it."""

    name: str
    options: dict[str, OptionValue]
    index: int | None  # position in the ``catalog:`` list (None: ``catalog:`` is one name)


class Config(_Strict):
    """The whole configuration file."""

    catalog: str | list[CatalogEntry] = "kubernetes"
    etcd: Literal["stacked", "external"] = "stacked"
    overrides: dict[Component, PortsValue] = Field(default_factory=dict)
    extra_rules: list[ExtraRule] = Field(default_factory=list)
    sources: Sources = Field(default_factory=Sources)
    mode: Mode = "owned"
    max_deletes: int = Field(default=10, ge=0, strict=True)
    allow_exposure: list[
        Literal[
            "etcd",
            "kubelet",
            "kube-scheduler",
            "kube-controller-manager",
            "retired",
            "catalog-sensitive",
            "kube-apiserver",
            "nodeport",
        ]
    ] = Field(default_factory=list)
    protect: list[ProtectEntry] = Field(default_factory=list)
    lifelines: list[Lifeline] = Field(default_factory=list)
    clusters: list[ClusterConfig] = Field(default_factory=list)

    @field_validator("clusters")
    @classmethod
    def _unique(cls, value: list[ClusterConfig]) -> list[ClusterConfig]:
        seen: set[str] = set()
        for cluster in value:
            if cluster.name in seen:
                raise ValueError(
                    f"cluster name {cluster.name!r} is used twice; names must be unique"
                )
            seen.add(cluster.name)
        return value

    @property
    def catalogs(self) -> list[str]:
        """The names (or paths) of the catalogs, in order."""
        return [ref.name for ref in self.catalog_refs]

    @property
    def catalog_refs(self) -> list[CatalogRef]:
        """Every catalog entry with its chosen options, in order."""
        if isinstance(self.catalog, str):
            return [CatalogRef(self.catalog, {}, None)]
        refs = []
        for index, item in enumerate(self.catalog):
            if isinstance(item, str):
                refs.append(CatalogRef(item, {}, index))
            else:
                ((name, options),) = item.items()
                refs.append(CatalogRef(str(name), dict(options or {}), index))
        return refs

    def protectors(self) -> list[Protector]:
        """The ``protect:`` matchers, compiled."""
        return [entry.protector() for entry in self.protect]

    def override_ports(self) -> dict[str, PortRange]:
        """Overrides as port ranges, by component."""
        return {k: PortRange.parse(v) for k, v in self.overrides.items()}


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config with where it came from (``path`` is None for built-in defaults)."""

    config: Config
    path: Path | None = None
    text: str = ""
    #: The composed YAML document; its line numbers are indexed only when first asked for.
    node: Any = field(default=None, repr=False, compare=False)
    _lines: dict[tuple[str | int, ...], int] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def lines(self) -> dict[tuple[str | int, ...], int]:
        """Line number of every config path (``("clusters", 0, "roles")`` → 12).

        Built on first use: error messages and SARIF locations need it, a clean run does not,
        and indexing a config of tens of thousands of entries costs a noticeable part of loading
        it.
        """
        lines = self._lines
        if lines is None:
            lines = {}
            if self.node is not None:
                _index_lines(self.node, (), lines)
            object.__setattr__(self, "_lines", lines)
        return lines

    @property
    def base_dir(self) -> Path:
        """Directory relative paths in the config are resolved against."""
        return self.path.parent if self.path else Path.cwd()

    def where(self, *loc: str | int) -> str:
        """``file:line`` of a config path such as ``("clusters", 0, "roles")``."""
        name = str(self.path) if self.path else "<defaults>"
        for depth in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:depth]))
            if line is not None:
                return f"{name}:{line}"
        return name

    def cluster(self, name: str) -> ClusterConfig:
        """The cluster named ``name``.

        Raises:
            ConfigError: no such cluster.
        """
        for cluster in self.config.clusters:
            if cluster.name == name:
                return cluster
        known = ", ".join(c.name for c in self.config.clusters) or "none configured"
        raise ConfigError(
            f"no cluster named {name!r} in {self.where('clusters')}", hint=f"clusters: {known}"
        )

    def cluster_index(self, name: str) -> int:
        """Position of the cluster in the file (for error locations)."""
        for i, cluster in enumerate(self.config.clusters):
            if cluster.name == name:
                return i
        return -1


def find_config(explicit: str | Path | None = None) -> Path | None:
    """The config path: ``--config``, else ``$PORTSYNC_CONFIG``, else ``./portsync.yaml``.

    Raises:
        ConfigError: an explicitly named file does not exist.
    """
    named = explicit or os.environ.get("PORTSYNC_CONFIG")
    if named:
        path = Path(named)
        if "\0" not in str(named) and not path.exists():
            source = "--config" if explicit else "PORTSYNC_CONFIG"
            raise ConfigError(
                f"config file {path} (from {source}) does not exist",
                hint="check the path, or run without it to use the built-in defaults",
            )
        return path
    for candidate in DEFAULT_CONFIG_NAMES:
        path = Path(candidate)
        if path.is_file():
            return path
    return None


def load_config(explicit: str | Path | None = None) -> LoadedConfig:
    """Find and load the config; with no file at all, the built-in defaults.

    Raises:
        ConfigError: the file is unreadable or invalid.
    """
    path = find_config(explicit)
    if path is None:
        return LoadedConfig(Config())
    data = read_bounded(path, limit=CONFIG_CAP, what="config file", error=ConfigError)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{line}: the config file is not UTF-8 text", hint="save it as UTF-8"
        ) from None
    return parse_config(text, path=path)


def parse_config(text: str, *, path: Path | None = None) -> LoadedConfig:
    """Parse and validate config text.

    Raises:
        ConfigError: invalid YAML or values; the message names ``file:line`` and the fix.
    """
    name = str(path) if path else "<config>"
    try:
        # Strict YAML (portsync.yamlstrict): duplicate keys refused, YAML 1.2 scalars, aliases,
        # depth and size bounded. The node tree keeps every value's line number.
        data, node = yamlstrict.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"{name}{line}: invalid YAML: {problem}",
            hint=getattr(exc, "hint", "") or "fix the YAML syntax (indentation, quotes, colons)",
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{name}:1: the config must be a mapping of keys such as catalog, clusters"
        )
    loaded = LoadedConfig(Config(), path=path, text=text, node=node)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, loaded, data=data)) from None
    loaded = LoadedConfig(config, path=path, text=text, node=node)
    _validate_clusters(loaded)
    return loaded


def _validate_clusters(loaded: LoadedConfig) -> None:
    # Imported here: the registry pulls provider metadata, never an SDK.
    from portsync.registry import get_provider_class

    problems = []
    for index, cluster in enumerate(loaded.config.clusters):
        try:
            provider_cls = get_provider_class(cluster.provider)
        except ConfigError as exc:
            problems.append(f"{loaded.where('clusters', index, 'provider')}: {exc}")
            continue
        try:
            provider_cls.config_model.model_validate(cluster.settings)
        except ValidationError as exc:
            problems.append(
                _describe(exc, loaded, prefix=("clusters", index), data=cluster.settings)
            )
    if problems:
        raise ConfigError("\n".join(problems))


def _index_lines(
    node: yaml.Node, loc: tuple[str | int, ...], out: dict[tuple[str | int, ...], int]
) -> None:
    out.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*loc, key)] = key_node.start_mark.line + 1
            _index_lines(value_node, (*loc, key), out)
            out[(*loc, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*loc, i), out)


_FIXES = {
    "extra_forbidden": "remove it or check its spelling",
    "missing": "add it",
    "literal_error": "use one of the values listed",
    "enum": "use one of the values listed",
}


_ABSENT = object()


def _child(node: Any, part: str | int) -> Any:
    """``node[part]`` when ``node`` is a mapping or list holding it, else ``_ABSENT``."""
    if isinstance(node, dict):
        return node.get(part, _ABSENT)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return _ABSENT


def _data_loc(data: Any, loc: Sequence[str | int]) -> tuple[str | int, ...]:
    """The parts of a pydantic error location that are keys or indexes of ``data``.

    pydantic inserts the names of union members (``str``, ``function-after[…]``) between them;
    a user's key may hold brackets too, so a part is kept when the data has it, not by its look.
    """
    kept: list[str | int] = []
    node = data
    for part in loc:
        child = _child(node, part)
        if child is not _ABSENT:
            kept.append(part)
            node = child
        elif isinstance(node, dict | list) and not isinstance(part, str):
            kept.append(part)
        # else: a union member's name, or a location inside a scalar
    return tuple(kept)


def _describe(
    exc: ValidationError,
    loaded: LoadedConfig,
    prefix: Sequence[str | int] = (),
    *,
    data: Any = None,
) -> str:
    messages = []
    for error in exc.errors():
        loc = (*prefix, *_data_loc(data, error["loc"]))
        if error["type"] in ("extra_forbidden", "missing") and error["loc"]:
            # The offending key itself is not in the data's path when missing; name it anyway.
            last = error["loc"][-1]
            if not loc or loc[-1] != last:
                loc = (*loc, last)
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        msg = str(error["msg"]).removeprefix("Value error, ")
        fix = _FIXES.get(error["type"], "")
        if error["type"] == "extra_forbidden":
            msg = f"unknown key {loc[-1]!r}"
        elif error["type"] == "missing":
            msg = f"required key {loc[-1]!r} is missing"
        text = f"{loaded.where(*loc)}: {dotted}: {msg}"
        if fix:
            text += f" ({fix})"
        messages.append(text)
    return "\n".join(messages)
