"""Golden cases for GCP's compile: a listing and neutral operations in, the exact writes out.

Each ``cases/*.yaml`` file holds one case:

``cluster``
    keys merged into the cluster of the config (``mode`` goes to the top level);
``firewalls``
    the live firewalls as ``firewalls.list`` returns them (``network`` is filled in);
``operations``
    per target (``tag:…``): ``add`` rules, ``remove`` live rules and ``update`` live rules to a
    new ``purpose`` or ``priority``. A rule is ``{protocol, ports, peer, purpose, direction}``;
    a live rule is found in what the provider reads from ``firewalls`` (so ownership and the
    firewall holding it come from the read, not from the case), by protocol, ports and peer;
``writes``
    the writes expected, in execution order, as the plan's ``writes`` list holds them (without
    ``cluster``); or ``error``: a pattern of the message compile must refuse with.

The cluster is ``prod-gcp`` in project ``golden`` on network ``default``: its firewalls are named
``portsync-<owner hash>-…`` with the hash of ``prod-gcp``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from portsync import api
from portsync.config import parse_config
from portsync.model import Direction, Endpoint, PortRange, TargetRule, parse_protocol
from portsync.ops import CreateRuleOp, DeleteRuleOp, GroupOps, Op, UpdateRuleOp
from portsync.provider import Settings
from portsync.providers.gcp import translate
from portsync.writes import Snapshot, Write

__all__ = ["CASES", "PROJECT", "compile_case", "load_case"]

CASES = Path(__file__).with_name("cases")
PROJECT = "golden"
NETWORK = translate.network_url(PROJECT, "default")
CLUSTER = "prod-gcp"


def load_case(path: Path) -> dict[str, Any]:
    """One case file, parsed."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: a case is a mapping"
    return data


def _provider(case: Mapping[str, Any]) -> Any:
    cluster: dict[str, Any] = {
        "name": CLUSTER,
        "provider": "gcp",
        "project": PROJECT,
        "endpoint": "http://127.0.0.1:9",  # never called: compile is pure
        "credentials": "anonymous",
        "roles": {"control-plane": {"target_tag": "k8s-cp"}, "worker": {"target_tag": "k8s-node"}},
    }
    overrides = dict(case.get("cluster") or {})
    mode = overrides.pop("mode", "owned")
    cluster.update(overrides)
    loaded = parse_config(yaml.safe_dump({"mode": mode, "clusters": [cluster]}))
    settings = Settings(mode=mode, fleet=tuple(loaded.config.clusters))
    return api.Session(loaded, settings).provider(loaded.config.clusters[0])


def _rule(spec: Mapping[str, Any], target: str, role: str, priority: int) -> TargetRule:
    ports = spec.get("ports")
    return TargetRule(
        target=target,
        role=role,
        direction=Direction(str(spec.get("direction", "ingress"))),
        protocol=parse_protocol(str(spec["protocol"])),
        ports=PortRange.parse(str(ports)) if ports is not None else None,
        peer=Endpoint.parse(str(spec["peer"])),
        description=translate.describe(str(spec.get("purpose", ""))),
        owned=True,
        extra=((translate.PRIORITY, str(priority)),),
    )


def _find(live: Sequence[TargetRule], spec: Mapping[str, Any]) -> TargetRule:
    ports = spec.get("ports")
    for rule in live:
        if (
            rule.protocol.value == spec["protocol"]
            and rule.ports_text == ("" if ports is None else str(ports))
            and str(rule.peer) == spec["peer"]
            and (spec.get("firewall") in (None, rule.native_id))
        ):
            return rule
    raise AssertionError(f"no live rule {spec} in {[r.key for r in live]}")


def compile_case(case: Mapping[str, Any]) -> tuple[Write, ...]:
    """The writes GCP's compile makes for ``case``, through the provider's own verbs: the
    snapshot's rules as its read expands them, the operations on them, then ``compile``.

    Raises:
        PortsyncError: whatever compile refuses the case with.
    """
    provider = _provider(case)
    firewalls = [
        {"network": NETWORK, "priority": 1000, "direction": "INGRESS", **fw}
        for fw in case.get("firewalls") or ()
    ]
    found = translate.listing(firewalls)
    roles = {t.id: t.role for t in provider.targets()}
    groups: list[GroupOps] = []
    for target, spec in (case.get("operations") or {}).items():
        live = [r for fw in firewalls for r in provider.writer.expand(fw) if r.target == target]
        priority = int(provider.config.priority)
        ops: list[Op] = [
            CreateRuleOp(_rule(s, target, roles[target], priority)) for s in spec.get("add", ())
        ]
        ops += [DeleteRuleOp(_find(live, s)) for s in spec.get("remove", ())]
        for s in spec.get("update", ()):
            before = _find(live, s)
            extra = before.extra
            if "priority" in s:
                extra = ((translate.PRIORITY, str(s["priority"])),)
            after = before.replace(
                description=translate.describe(str(s.get("purpose", ""))), extra=extra
            )
            ops.append(UpdateRuleOp(before, after))
        groups.append(
            GroupOps(
                cluster=CLUSTER, provider="gcp", target=target, role=roles[target], ops=tuple(ops)
            )
        )
    snapshot = Snapshot(provider="gcp", native=found, quotas={"firewalls": found.count})
    result: tuple[Write, ...] = provider.compile(groups, snapshot)
    return result
