"""From catalog rows and config to the desired neutral rule set (docs/port-tables.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from portsync.catalog import Catalog, SensitivePort, load_catalog
from portsync.catalog.options import resolve_choices
from portsync.catalog.parser import EtcdMode, PortRow
from portsync.config import Config, LoadedConfig
from portsync.errors import (
    ConfigError,
    PortTableError,
    TranslationError,
    UnsupportedFeatureError,
)
from portsync.model import (
    Direction,
    Peer,
    PeerKind,
    Protocol,
    Rule,
    RuleSet,
    TargetRule,
)
from portsync.provider import Provider
from portsync.rolecheck import check_roles, unbound_roles_note

__all__ = [
    "apply_overrides",
    "bound_roles",
    "catalog_rows",
    "config_notes",
    "expand_all",
    "load_catalogs",
    "option_advice",
    "rows_to_rules",
    "sensitive_ports",
    "synthesize",
    "translate_with_advice",
]


# --- port rows → neutral rules: what a table means ----------------------------------------------


def _peer(symbol: str, etcd: EtcdMode) -> Peer:
    if symbol == "component:kube-apiserver":
        return Peer(PeerKind.ROLE, "control-plane")
    if symbol == "component:etcd":
        return Peer(PeerKind.ROLE, "etcd" if etcd == "external" else "control-plane")
    try:
        return Peer.parse(symbol)
    except ValueError:
        raise ValueError(f"used_by symbol {symbol!r} is not one portsync knows") from None


def rows_to_rules(rows: Sequence[PortRow], *, etcd: EtcdMode = "stacked") -> RuleSet:
    """Turn port rows into the neutral rule set (one rule per row and peer; duplicates collapse).

    ``component:kube-apiserver`` becomes ``role:control-plane``; ``component:etcd`` becomes
    ``role:control-plane`` when etcd is stacked and ``role:etcd`` when it is external. With
    ``etcd="external"``, rows of the etcd component move to role ``etcd``, reachable from the
    control plane and from etcd itself.

    Args:
        rows: rows from :func:`portsync.catalog.parser.parse_document`.
        etcd: ``stacked`` (etcd runs on the control plane) or ``external``.

    Returns:
        The rule set.

    Raises:
        ValueError: ``etcd`` is neither mode, or a row carries an unknown ``used_by`` symbol.
    """
    if etcd not in ("stacked", "external"):
        raise ValueError(f"etcd must be 'stacked' or 'external', not {etcd!r}")
    rules: list[Rule] = []
    for row in rows:
        role, symbols = row.role, row.used_by
        if etcd == "external" and row.component == "etcd":
            role, symbols = "etcd", ("role:control-plane", "self")
        rules.extend(
            Rule(
                role=role,
                direction=row.direction,
                protocol=row.protocol,
                ports=row.ports,
                peer=_peer(symbol, etcd),
                purpose=row.purpose,
                icmp_type=row.icmp_type,
                icmp_code=row.icmp_code,
            )
            for symbol in symbols
        )
    return RuleSet(tuple(rules))


def load_catalogs(loaded: LoadedConfig) -> list[Catalog]:
    """Every catalog the config names, in order.

    Raises:
        ConfigError: a catalog name or path is unknown.
        PortTableError: a table cannot be read.
    """
    catalogs = []
    for ref in loaded.config.catalog_refs:
        where = loaded.where("catalog") if ref.index is None else loaded.where("catalog", ref.index)
        try:
            catalog = load_catalog(ref.name, base_dir=loaded.base_dir)
        except PortTableError as exc:
            if exc.problems:
                raise  # errors inside a table name their own file:line
            raise ConfigError(f"{where}: catalog {ref.name!r}: {exc}") from None
        _, problems = resolve_choices(catalog.options, ref.options, catalog=catalog.name)
        if problems:
            raise ConfigError(
                "\n".join(
                    f"{loaded.where('catalog', ref.index or 0, ref.name, key)}: {message}"
                    for key, message in problems
                )
            )
        catalog = catalog.select(ref.options)
        catalogs.append(catalog)
    return catalogs


def sensitive_ports(loaded: LoadedConfig) -> list[SensitivePort]:
    """The ports the config's catalogs mark as never to face the internet (Calico's BGP and
    Felix metrics, Cilium's health and Hubble ports, the embedded etcd of K3s and RKE2 …).

    Each names its catalog, protocol, ports, component, the roles it listens on (empty: every
    role) and why. The audit reports them as ``PS-EXPOSED-SENSITIVE-PORT`` (or the check of a
    Kubernetes component they name, such as etcd) and ``apply`` refuses to open them to the
    world unless ``allow_exposure`` accepts them.

    Raises:
        ConfigError: a catalog name, path or option is unknown.
        PortTableError: a table cannot be read.
    """
    return [port for catalog in load_catalogs(loaded) for port in catalog.sensitive]


def option_advice(loaded: LoadedConfig, protocol: Protocol) -> list[str]:
    """How to change the config's catalog options so that no catalog asks for ``protocol``.

    When a cloud cannot express a protocol (Azure and IP-in-IP), the rule usually comes from a
    catalog option (Calico's ``encapsulation: ipip``). For each catalog whose chosen rows use
    the protocol, this names every single option value that would leave it out.

    Args:
        loaded: the config.
        protocol: the protocol a cloud refused.

    Returns:
        One sentence per catalog option that avoids the protocol, e.g. ``ipip comes from catalog
        calico (encapsulation: ipip): choose encapsulation: vxlan or none instead, e.g. catalog:
        [..., {calico: {encapsulation: vxlan}}]``; empty when no option helps.

    Raises:
        ConfigError, PortTableError: as :func:`load_catalogs`.
    """
    advice = []
    for catalog in load_catalogs(loaded):
        if not any(row.protocol == protocol for row in catalog.rows):
            continue
        current = dict(catalog.choices or {})
        for option in catalog.options:
            values = [
                value
                for value in option.values
                if value != current.get(option.name)
                and not any(
                    row.protocol == protocol
                    for row in catalog.select({**current, option.name: value}).rows
                )
            ]
            if values:
                example = f"{{{catalog.name}: {{{option.name}: {values[0]}}}}}"
                advice.append(
                    f"{protocol.value} comes from catalog {catalog.name} ({option.name}: "
                    f"{current.get(option.name)}): choose {option.name}: {' or '.join(values)} "
                    f"instead, e.g. catalog: [..., {example}]"
                )
    return advice


def catalog_rows(loaded: LoadedConfig) -> list[PortRow]:
    """Rows of every catalog the config names, in order.

    Raises:
        ConfigError: a catalog name or path is unknown.
        PortTableError: a table cannot be read.
    """
    return [row for catalog in load_catalogs(loaded) for row in catalog.rows]


def apply_overrides(rows: list[PortRow], config: Config) -> list[PortRow]:
    """Move the ports of overridden components (``kube-apiserver: 443``, ``nodeport: …``)."""
    overrides = config.override_ports()
    if not overrides:
        return rows
    out = []
    for row in rows:
        if row.component in overrides:
            row = dataclasses.replace(row, ports=overrides[row.component])
        out.append(row)
    return out


def bound_roles(config: Config) -> list[str]:
    """Every role some cluster binds, in config order: what ``role: "*"`` stands for."""
    return list(dict.fromkeys(role for cluster in config.clusters for role in cluster.roles))


def synthesize(loaded: LoadedConfig) -> RuleSet:
    """The desired neutral rule set for this config.

    Raises:
        ConfigError, PortTableError: bad catalog or extra rules.
    """
    config = loaded.config
    rows = apply_overrides(catalog_rows(loaded), config)
    ruleset = rows_to_rules(rows, etcd=config.etcd)
    # Before anything is translated or read: a bound role nothing defines would get no rules,
    # and owned mode would then remove every rule portsync owns on its targets.
    check_roles(loaded, ruleset.roles)
    bound = bound_roles(config)
    extra = []
    for index, item in enumerate(config.extra_rules):
        try:
            extra.extend(item.to_rules(bound))
        except ValueError as exc:
            raise ConfigError(
                f"{loaded.where('extra_rules', index)}: extra_rules[{index}]: {exc}"
            ) from None
    return expand_all(ruleset.with_rules(extra), bound)


def expand_all(ruleset: RuleSet, roles: Sequence[str]) -> RuleSet:
    """ "All" is everyone, the cluster's own machines included: next to each inbound ``any``
    rule (which means ``sources.all``) add one rule from each of ``roles``, as a role peer.

    Without them a cluster whose ``sources.all`` is an office range would not admit its own
    workers on 6443 (kops, Cluster API AWS and GCP all open the API server to the cluster's
    machines the same way). The added rules are marked ``via_all``: in a cluster that does not
    bind one of the roles they are skipped, not refused. Egress ``any`` rules are left as they
    are (a destination of "All" is ``sources.all``; GCP egress cannot name tags anyway).
    """
    implied = [
        Rule(
            role=rule.role,
            direction=rule.direction,
            protocol=rule.protocol,
            ports=rule.ports,
            peer=Peer(PeerKind.ROLE, role),
            purpose=rule.purpose,
            icmp_type=rule.icmp_type,
            icmp_code=rule.icmp_code,
            via_all=True,
        )
        for rule in ruleset
        if rule.peer.kind is PeerKind.ANY and rule.direction is Direction.INGRESS
        for role in roles
    ]
    return ruleset.with_rules(implied) if implied else ruleset


def config_notes(loaded: LoadedConfig) -> list[str]:
    """Lines worth printing before every plan: port-table roles no cluster binds.

    Raises:
        ConfigError, PortTableError: as :func:`catalog_rows`.
    """
    config = loaded.config
    if not config.clusters:
        return []
    table = rows_to_rules(apply_overrides(catalog_rows(loaded), config), etcd=config.etcd)
    note = unbound_roles_note(loaded, table.roles)
    return [note] if note else []


def translate_with_advice(
    provider: Provider, loaded: LoadedConfig, ruleset: RuleSet
) -> list[TargetRule]:
    """``provider.translate``, whose refusal of a protocol also names the catalog option that
    avoids it (Calico's IP-in-IP on Azure: choose ``encapsulation: vxlan``).

    Which protocols were refused is found by translating each protocol's rules alone (pure
    translation, no cloud call), so no provider needs to know about catalogs.

    Raises:
        TranslationError: as ``provider.translate``, with one more line per helpful option.
    """
    try:
        return provider.translate(ruleset, loaded.config.sources)
    except TranslationError as error:
        advice: list[str] = []
        ported = {Protocol.TCP, Protocol.UDP}
        for protocol in dict.fromkeys(r.protocol for r in ruleset if r.protocol not in ported):
            alone = RuleSet(tuple(r for r in ruleset if r.protocol == protocol))
            try:
                provider.translate(alone, loaded.config.sources)
            except UnsupportedFeatureError:
                advice.extend(option_advice(loaded, protocol))
            except TranslationError:
                continue  # a problem of its peers, not of the protocol
        if not advice:
            raise
        message = "\n".join([error.message, *dict.fromkeys(advice)])
        raise type(error)(message, hint=error.hint, **error.context) from None
