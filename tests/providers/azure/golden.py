"""Golden cases of the Azure compiler: a snapshot and operations in, the exact writes out.

Each ``cases/*.yaml`` holds:

* ``clusters``: Azure cluster entries as in the config (``name``, ``subscription_id``,
  ``resource_group``, ``roles``, optional ``owner`` and ``priority_band``);
* ``snapshot``: NSGs as ``networkSecurityGroups.list`` returns them (``name``, ``etag``,
  ``location``, ``properties.securityRules``); ``id`` is filled in from the first cluster's
  subscription and resource group, and ``properties.defaultSecurityRules`` with the six default
  rules of the published example (tests/data/azure-rest-api-specs) when absent;
* ``operations``: per ``target`` (and ``cluster``, default the first), neutral rules to ``add``
  (the role is the target's), live rule names to ``remove``, and ``update`` items
  ``{name, rule}`` (the live rule of that name becomes ``rule``);
* ``writes``: the expected writes as in the plan JSON, or ``error``: a text the
  :class:`~portsync.errors.ProviderLimitError` must contain.

The compiler is the provider's own (``AzureProvider.compile``), on a snapshot built by the
provider's own reader, so a case is what ``plan`` would save for that state.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from portsync.config import ClusterConfig, Sources
from portsync.model import PortRange, Rule, RuleSet, TargetRule
from portsync.ops import CreateRuleOp, DeleteRuleOp, GroupOps, Op, UpdateRuleOp
from portsync.provider import Settings
from portsync.providers.azure.provider import AzureProvider, cluster_layout
from portsync.providers.azure.snapshot import NsgReader
from portsync.providers.azure.translate import ClusterLayout
from portsync.writes import Snapshot, Write

__all__ = ["CASES", "Case", "load_case"]

CASES = Path(__file__).parent / "cases"
_SPEC_DEFAULTS = (
    Path(__file__).parents[2] / "data" / "azure-rest-api-specs" / "DefaultSecurityRuleList.json"
)


def _defaults(nsg_id: str) -> list[dict[str, Any]]:
    """The six default rules of the published example, with ids under ``nsg_id``."""
    example = json.loads(_SPEC_DEFAULTS.read_text())
    out = []
    for rule in example["responses"]["200"]["body"]["value"]:
        rule = copy.deepcopy(rule)
        rule["id"] = f"{nsg_id}/defaultSecurityRules/{rule['name']}"
        out.append(rule)
    return out


class Case:
    """One golden case, loaded."""

    def __init__(self, path: Path, data: Mapping[str, Any]) -> None:
        self.path = path
        self.data = data
        self.clusters = [
            ClusterConfig.model_validate({"provider": "azure", **c}) for c in data["clusters"]
        ]
        self.settings = Settings(mode=str(data.get("mode", "owned")), fleet=tuple(self.clusters))
        self.providers = {c.name: AzureProvider(c, settings=self.settings) for c in self.clusters}
        first = self.clusters[0].settings
        self.nsgs = [self._nsg(n, first) for n in data.get("snapshot") or ()]

    @staticmethod
    def _nsg(spec: Mapping[str, Any], first: Mapping[str, Any]) -> dict[str, Any]:
        nsg = copy.deepcopy(dict(spec))
        nsg.setdefault(
            "id",
            f"/subscriptions/{first['subscription_id']}/resourceGroups/"
            f"{first['resource_group']}/providers/Microsoft.Network/networkSecurityGroups/"
            f"{nsg['name']}",
        )
        nsg.setdefault("type", "Microsoft.Network/networkSecurityGroups")
        props = nsg.setdefault("properties", {})
        props.setdefault("securityRules", [])
        props.setdefault("defaultSecurityRules", _defaults(nsg["id"]))
        return nsg

    def layout(self, cluster: str) -> ClusterLayout:
        config = next(c for c in self.clusters if c.name == cluster)
        return cluster_layout(config, self.settings)

    def snapshot(self) -> Snapshot:
        """What the provider's reader makes of the case's NSGs, for every cluster's targets."""
        wants: dict[str, list[tuple[ClusterLayout, str]]] = {}
        for cluster in self.clusters:
            layout = self.layout(cluster.name)
            for binding in layout.bindings:
                wants.setdefault(binding.nsg.lower(), []).append((layout, binding.target))
        reader = NsgReader(wants)
        for nsg in self.nsgs:
            reader.add(nsg)
        assert not reader.missing(), f"{self.path.name}: snapshot lacks {reader.missing()}"
        return reader.snapshot()

    def groups(self, snapshot: Snapshot) -> list[GroupOps]:
        """The case's operations as the engine would hand them over."""
        out = []
        for item in self.data.get("operations") or ():
            cluster = str(item.get("cluster") or self.clusters[0].name)
            provider = self.providers[cluster]
            target = str(item["target"])
            binding = provider.layout.by_target[target]
            live = [r for r in snapshot.live(target)]
            ops: list[Op] = []
            for spec in item.get("add") or ():
                ops.append(CreateRuleOp(self._desired(provider, binding.role, target, spec)))
            for name in item.get("remove") or ():
                ops.append(DeleteRuleOp(_named(live, str(name))))
            for spec in item.get("update") or ():
                before = _named(live, str(spec["name"]))
                after = self._desired(provider, binding.role, target, spec["rule"])
                ops.append(
                    UpdateRuleOp(before, after.replace(native_id=before.native_id, owned=True))
                )
            out.append(
                GroupOps(
                    cluster=cluster,
                    provider="azure",
                    target=target,
                    role=binding.role,
                    label=target,
                    ops=tuple(ops),
                )
            )
        return out

    @staticmethod
    def _desired(
        provider: AzureProvider, role: str, target: str, spec: Mapping[str, Any]
    ) -> TargetRule:
        data = {"role": role, **spec}
        if "ports" in data:
            ports = PortRange.parse(str(data.pop("ports")))
            data["from_port"], data["to_port"] = ports.from_port, ports.to_port
        rules = provider.translate(RuleSet((Rule.from_dict(data),)), Sources())
        found = [r for r in rules if r.target == target]
        assert len(found) == 1, f"{spec} translates to {len(found)} rules on {target}"
        return found[0]

    def compile(self) -> tuple[Write, ...]:
        """The writes the first cluster's provider compiles for the whole case."""
        snapshot = self.snapshot()
        provider = self.providers[self.clusters[0].name]
        return provider.compile(self.groups(snapshot), snapshot)


def _named(live: Sequence[TargetRule], name: str) -> TargetRule:
    found = [r for r in live if (r.native_id or "").lower() == name.lower()]
    assert found, f"no live rule named {name}"
    return found[0]


def load_case(path: Path) -> Case:
    """The case in ``path``."""
    return Case(path, yaml.safe_load(path.read_text()))
