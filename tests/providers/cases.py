"""Golden cases for every provider's ``compile``: settings, a snapshot and operations in, the
exact writes (or the refusal) out.

Each cloud keeps its cases in ``tests/providers/<cloud>/cases/*.yaml``, all on one schema, which
tests/providers/README.md describes for people writing a case. In short::

    description: what the case shows and why the API wants it so
    mode: owned                          # optional: owned (default), additive or exclusive
    adopt_legacy: false                  # optional: --adopt-legacy
    sources: {load_balancers: [...]}     # optional: the config's sources
    clusters: [{...}]                    # optional: config cluster entries, each merged over
                                         # the cloud's DEFAULT_CLUSTERS entry
    snapshot: {...}                      # the cloud's own listing, as its API answers
    operations:                          # the neutral operations, per target
      - target: <target id>
        cluster: <name>                  # optional: the first cluster
        add: [<rule>]                    # a neutral rule, translated by the provider
        remove: [<match>]                # fields picking exactly one live rule of the target
        update: [{rule: <match>, to: <rule>}]
    expect:
      writes: [...]                      # as the plan JSON's ``writes``, in execution order
      # or
      error: {type: ProviderLimitError, match: <regular expression>, hint: <exact hint>}

The snapshot is built by the provider's own read code from the listing (ownership, roles and
the firewall or NSG holding each rule come from the read, not from the case), the operations are
built the way the engine builds them (a rule the provider translates, an update keeping the live
rule's id), and the writes are the provider's own ``compile``. Nothing is computed from the
expected values: the harness builds the inputs, compiles, and compares the whole answer.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from portsync import errors
from portsync.config import ClusterConfig, LoadedConfig, parse_config
from portsync.evaluate import access_of
from portsync.model import PortRange, Rule, RuleSet, TargetRule
from portsync.ops import CreateRuleOp, DeleteRuleOp, GroupOps, Op, UpdateRuleOp, fingerprint
from portsync.provider import Settings
from portsync.registry import get_provider_class
from portsync.writes import Snapshot, Write, writes_from_json

__all__ = [
    "CLOUDS",
    "DEFAULT_CLUSTERS",
    "Case",
    "all_case_files",
    "case_files",
    "check_case",
    "load_case",
]

ROOT = Path(__file__).parent
CLOUDS = ("aws", "gcp", "azure")

#: The cluster a case's ``clusters`` entries are merged over (a case without ``clusters`` gets
#: this one). Endpoints are never called: compile is pure.
DEFAULT_CLUSTERS: Mapping[str, Mapping[str, Any]] = {
    "aws": {
        "name": "prod",
        "provider": "aws",
        "region": "eu-west-1",
        "endpoint": "http://127.0.0.1:9",
        "credentials": "anonymous",
        "roles": {"worker": {"security_group": "sg-0a"}},
    },
    "gcp": {
        "name": "prod-gcp",
        "provider": "gcp",
        "project": "golden",
        "endpoint": "http://127.0.0.1:9",
        "credentials": "anonymous",
        "roles": {"control-plane": {"target_tag": "k8s-cp"}, "worker": {"target_tag": "k8s-node"}},
    },
    "azure": {
        "name": "prod-azure",
        "provider": "azure",
        "subscription_id": "00000000-0000-0000-0000-000000000001",
        "resource_group": "rg-k8s",
        "roles": {"control-plane": {"nsg": "cp-nsg"}},
    },
}

#: The six default rules of the published NSG example, which every NSG listing carries.
_AZURE_DEFAULTS = ROOT.parent / "data" / "azure-rest-api-specs" / "DefaultSecurityRuleList.json"


def case_files(cloud: str) -> list[Path]:
    """The case files of ``cloud``, sorted (a parametrisation's ids are their stems)."""
    return sorted((ROOT / cloud / "cases").glob("*.yaml"))


def all_case_files() -> list[Path]:
    """Every cloud's case files."""
    return [path for cloud in CLOUDS for path in case_files(cloud)]


# -- snapshots: each cloud's listing through the provider's own read code ----------------------


def _aws_snapshot(case: Case, listing: Mapping[str, Any]) -> Snapshot:
    from portsync.providers.aws import translate

    groups = {str(g["GroupId"]): dict(g) for g in listing.get("groups") or ()}
    items = list(listing.get("rules") or ())
    rules: dict[str, list[TargetRule]] = {}
    owners: dict[str, str] = {}
    for provider in case.providers.values():
        roles = {t.id: t.role for t in provider.targets()}
        owners[provider.cluster.name] = provider.cluster.owner_id
        for gid in roles:
            # A group the listing does not show is a bare group: no name, no tags, no rules.
            group = groups.setdefault(gid, {"GroupId": gid})
            rules[gid] = translate.live_rules(
                group,
                items,
                roles,
                owner=provider.cluster.owner_id,
                cluster=provider.cluster.name,
                adopt_legacy=case.settings.adopt_legacy,
            )
    weights = {
        str(pl): (str(item["AddressFamily"]), int(item["MaxEntries"]))
        for pl, item in (listing.get("prefix_lists") or {}).items()
    }
    first = case.first
    return Snapshot(
        provider="aws",
        rules=rules,
        native=translate.AwsNative(
            region=str(first.config.region), groups=groups, weights=weights, owners=owners
        ),
        quotas={"rules_per_group": int(first.config.rules_per_group)},
    )


def _gcp_snapshot(case: Case, listing: Mapping[str, Any]) -> Snapshot:
    from portsync.providers.gcp import translate

    network = translate.network_url(str(case.first.config.project), "default")
    firewalls = [
        {"network": network, "priority": 1000, "direction": "INGRESS", **fw}
        for fw in listing.get("firewalls") or ()
    ]
    # As the read: with firewall_quota set the list is not filtered to the network (the quota
    # counts every network's firewalls) and each cluster picks its network's out of it.
    everywhere = case.first.config.firewall_quota is not None
    rules: dict[str, list[TargetRule]] = {}
    for provider in case.providers.values():
        ids = {t.id for t in provider.targets()}
        for target in ids:
            rules.setdefault(target, [])
        for firewall in firewalls:
            if everywhere and not provider.writer.on_network(firewall):
                continue
            for rule in provider.writer.expand(firewall):
                if rule.target in ids:
                    rules[rule.target].append(rule)
    found = translate.listing(firewalls, count=listing.get("count"), one_network=not everywhere)
    return Snapshot(provider="gcp", rules=rules, native=found, quotas={"firewalls": found.count})


def _azure_snapshot(case: Case, listing: Mapping[str, Any]) -> Snapshot:
    from portsync.providers.azure.provider import cluster_layout
    from portsync.providers.azure.snapshot import NsgReader

    first = case.first.config
    prefix = (
        f"/subscriptions/{first.subscription_id}/resourceGroups/{first.resource_group}"
        "/providers/Microsoft.Network/networkSecurityGroups/"
    )
    example = json.loads(_AZURE_DEFAULTS.read_text(encoding="utf-8"))
    wants: dict[str, list[Any]] = {}
    for provider in case.providers.values():
        layout = cluster_layout(provider.cluster, case.settings)
        for binding in layout.bindings:
            wants.setdefault(binding.nsg.lower(), []).append((layout, binding.target))
        for _role, nsgs in layout.paths:
            for nsg in nsgs:
                wants.setdefault(nsg.lower(), [])  # read, with no target of its own
    reader = NsgReader(wants)
    for spec in listing.get("nsgs") or ():
        nsg = copy.deepcopy(dict(spec))
        nsg.setdefault("id", prefix + nsg["name"])
        nsg.setdefault("type", "Microsoft.Network/networkSecurityGroups")
        props = nsg.setdefault("properties", {})
        props.setdefault("securityRules", [])
        if "defaultSecurityRules" not in props:
            defaults = copy.deepcopy(example["responses"]["200"]["body"]["value"])
            for rule in defaults:
                rule["id"] = f"{nsg['id']}/defaultSecurityRules/{rule['name']}"
            props["defaultSecurityRules"] = defaults
        reader.add(nsg)
    assert not reader.missing(), f"{case.path.name}: the listing lacks {reader.missing()}"
    snapshot: Snapshot = reader.snapshot()
    return snapshot


_SNAPSHOTS: Mapping[str, Callable[[Case, Mapping[str, Any]], Snapshot]] = {
    "aws": _aws_snapshot,
    "gcp": _gcp_snapshot,
    "azure": _azure_snapshot,
}


# -- the case ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One golden case, loaded: its providers (one per cluster) and the run's settings."""

    path: Path
    cloud: str
    data: Mapping[str, Any]
    loaded: LoadedConfig
    settings: Settings
    providers: Mapping[str, Any]

    @property
    def first(self) -> Any:
        """The first cluster's provider: the one whose ``compile`` the case runs."""
        return next(iter(self.providers.values()))

    @property
    def expect(self) -> Mapping[str, Any]:
        expect: Mapping[str, Any] = self.data["expect"]
        return expect

    def snapshot(self) -> Snapshot:
        """The snapshot the provider's read code makes of the case's listing."""
        return _SNAPSHOTS[self.cloud](self, self.data.get("snapshot") or {})

    def groups(self, snapshot: Snapshot) -> list[GroupOps]:
        """The case's operations as the engine hands them to ``compile``."""
        out = []
        for item in self.data.get("operations") or ():
            cluster = str(item.get("cluster") or self.first.cluster.name)
            provider = self.providers[cluster]
            target = str(item["target"])
            bound = {t.id: t for t in provider.targets()}
            assert target in bound, f"{self.path.name}: {cluster} binds no target {target}"
            role = bound[target].role
            # As the engine: deny rules are read for the evaluator, never diffed or written.
            live = [r for r in snapshot.live(target) if access_of(r) != "deny"]
            ops: list[Op] = [
                CreateRuleOp(self._desired(provider, role, target, spec))
                for spec in item.get("add") or ()
            ]
            ops += [
                DeleteRuleOp(_match(live, spec, self.path)) for spec in item.get("remove") or ()
            ]
            for spec in item.get("update") or ():
                before = _match(live, spec["rule"], self.path)
                after = self._desired(provider, role, target, spec["to"])
                # As the engine's diff: the live rule's id, owned by this cluster's owner.
                ops.append(
                    UpdateRuleOp(
                        before,
                        after.replace(
                            native_id=before.native_id, owned=True, owner=provider.cluster.owner_id
                        ),
                    )
                )
            out.append(
                GroupOps(
                    cluster=cluster,
                    provider=self.cloud,
                    target=target,
                    role=role,
                    label=bound[target].label,
                    fingerprint=fingerprint(live),
                    ops=tuple(ops),
                )
            )
        return out

    def _desired(
        self, provider: Any, role: str, target: str, spec: Mapping[str, Any]
    ) -> TargetRule:
        data: dict[str, Any] = {"role": role, **spec}
        if data.get("ports") is not None:
            ports = PortRange.parse(str(data.pop("ports")))
            data["from_port"], data["to_port"] = ports.from_port, ports.to_port
        data.pop("ports", None)
        sources = self.loaded.config.sources
        rules = provider.translate(RuleSet((Rule.from_dict(data),)), sources)
        found = [r for r in rules if r.target == target]
        assert len(found) == 1, f"{self.path.name}: {spec} gives {len(found)} rules on {target}"
        rule: TargetRule = found[0]
        return rule

    def compile(self) -> tuple[Write, ...]:
        """The first cluster's provider compiling every operation of the case on its snapshot."""
        snapshot = self.snapshot()
        writes: tuple[Write, ...] = self.first.compile(self.groups(snapshot), snapshot)
        return writes


def _match(live: Sequence[TargetRule], spec: Mapping[str, Any], path: Path) -> TargetRule:
    """The one live rule whose fields are those ``spec`` gives: ``name`` (the rule id, firewall
    or NSG rule name), ``direction``, ``protocol``, ``ports`` and ``peer``."""
    wanted = {str(k): str(v) for k, v in spec.items()}

    def fields(rule: TargetRule) -> dict[str, str]:
        return {
            "name": (rule.native_id or "").lower(),
            "direction": rule.direction.value,
            "protocol": rule.protocol.value,
            "ports": rule.ports_text,
            "peer": str(rule.peer),
        }

    unknown = set(wanted) - set(fields(live[0]) if live else wanted)
    assert not unknown, f"{path.name}: a match takes name, direction, protocol, ports, peer"
    if "name" in wanted:
        wanted["name"] = wanted["name"].lower()
    found = [r for r in live if all(fields(r)[k] == v for k, v in wanted.items())]
    assert len(found) == 1, f"{path.name}: {spec} matches {len(found)} live rules"
    return found[0]


def load_case(path: Path) -> Case:
    """The case in ``path`` (its cloud is the folder above ``cases``)."""
    cloud = path.parent.parent.name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: a case is a mapping"
    unknown = set(data) - {
        "description",
        "mode",
        "adopt_legacy",
        "sources",
        "clusters",
        "snapshot",
        "operations",
        "expect",
    }
    assert not unknown, f"{path.name}: unknown keys {sorted(unknown)}"
    assert str(data.get("description", "")).strip(), f"{path.name}: a case needs a description"
    expect = data.get("expect") or {}
    assert ("writes" in expect) != ("error" in expect), f"{path.name}: expect writes or error"
    default = DEFAULT_CLUSTERS[cloud]
    clusters = [{**default, **entry} for entry in data.get("clusters") or [{}]]
    mode = str(data.get("mode", "owned"))
    config: dict[str, Any] = {"mode": mode, "clusters": clusters}
    if data.get("sources"):
        config["sources"] = data["sources"]
    loaded = parse_config(yaml.safe_dump(config))
    fleet: tuple[ClusterConfig, ...] = tuple(loaded.config.clusters)
    settings = Settings(
        mode=mode,
        adopt_legacy=bool(data.get("adopt_legacy", False)),
        fleet=fleet,
        sources=loaded.config.sources,
    )
    providers = {
        c.name: get_provider_class(c.provider)(c, settings=settings) for c in loaded.config.clusters
    }
    return Case(path, cloud, data, loaded, settings, providers)


def check_case(path: Path) -> None:
    """Run one case: compile it and compare with ``expect``.

    Raises:
        AssertionError: the writes (or the refusal) differ from the expected ones.
    """
    case = load_case(path)
    if "error" in case.expect:
        kind = getattr(errors, case.expect["error"]["type"])
        try:
            case.compile()
        except kind as exc:
            # The message alone (``str`` adds the hint in parentheses): ``hint`` is its own key.
            message = str(getattr(exc, "message", exc))
            pattern = str(case.expect["error"].get("match", ""))
            assert re.search(pattern, message), f"{path.name}: {message} does not match {pattern!r}"
            if "hint" in case.expect["error"]:
                # What the person is told to do, compared exactly: they act on it.
                assert getattr(exc, "hint", None) == case.expect["error"]["hint"], path.name
            return
        raise AssertionError(f"{path.name}: compile did not raise {kind.__name__}")
    want = case.expect["writes"]
    writes_from_json(want)  # the plan schema's shape, or a ValueError naming the bad item
    assert all("fingerprint" not in item for item in want), f"{path.name}: no fingerprint"
    # Compared with the case's own text, not with a copy read back through Write: a bug in the
    # plan form of a write must not be on both sides.
    got = [_comparable(w) for w in case.compile()]
    assert got == want, f"{path.name}: writes differ"


def _comparable(write: Write) -> dict[str, Any]:
    """A write as the plan JSON holds it, without its ``fingerprint``: a digest of the state it
    was compiled from, which no one writes by hand (test_golden_cases checks it apart)."""
    out = write.to_dict()
    out.pop("fingerprint", None)
    return out
