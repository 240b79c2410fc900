"""One read of a resource group's NSGs as an immutable :class:`~portsync.writes.Snapshot` (pure).

The listing arrives page by page; :class:`NsgReader` takes each NSG as it comes (so the work on
one page overlaps the round trip of the next), keeps the NSGs some target binds, and expands
their rules for every cluster binding them. The snapshot holds:

* ``rules``: the live rules per target id, ownership as the target's cluster sees it: the allow
  rules, then the deny rules (``live.access`` ``deny``: for the evaluator of explain and
  lifelines only, never diffed), then the allow rules of the NSG's ``defaultSecurityRules``
  (marked ``azure_default_priority``);
* ``native``: the raw NSGs by lower-cased name, as :class:`~.translate.RawNsg` (read-only);
* ``fingerprints``: each NSG's etag by NSG id, which every write sends as ``If-Match``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from portsync.model import TargetRule
from portsync.writes import Snapshot

from .translate import ClusterLayout, RawNsg, expand_defaults

__all__ = ["NsgReader"]


class NsgReader:
    """Collects the NSGs that ``wants`` names (lower-cased NSG name → the clusters' layouts and
    target ids bound to it) from a listing, then builds the snapshot."""

    def __init__(self, wants: Mapping[str, Sequence[tuple[ClusterLayout, str]]]) -> None:
        self._wants = wants
        self._native: dict[str, RawNsg] = {}
        self._fingerprints: dict[str, str] = {}
        self._rules: dict[str, list[TargetRule]] = {}
        self._defaults: dict[tuple[Any, ...], list[TargetRule]] = {}

    def add(self, body: Mapping[str, Any]) -> None:
        """Take one NSG of the listing (ARM JSON); NSGs nobody binds are skipped."""
        nsg = str(body.get("name") or "").lower()
        wanted = self._wants.get(nsg)
        if wanted is None:
            return  # an NSG with no targets (on the path of a role's machines) is kept as read
        raw = RawNsg.of(body)
        self._native[nsg] = raw
        self._fingerprints[raw.id or raw.name] = raw.etag
        props = body.get("properties")
        props = props if isinstance(props, Mapping) else {}
        rules = list(props.get("securityRules") or ())
        defaults = list(props.get("defaultSecurityRules") or ())
        done: set[str] = set()
        for layout, _target in wanted:
            if layout.cluster in done:
                continue
            done.add(layout.cluster)
            nsg_layout = layout.nsg_layout(nsg)
            live = nsg_layout.live(rules)
            for target, found in nsg_layout.live(rules, denied=True).items():
                live[target].extend(found)
            for target, found in expand_defaults(defaults, nsg_layout, self._defaults).items():
                live[target].extend(found)
            for target, found in live.items():
                # A target id two clusters bind is kept as the first one read it: the session
                # marks ownership per cluster from the owner each rule carries.
                self._rules.setdefault(target, found)

    def missing(self) -> list[tuple[ClusterLayout, str]]:
        """The (layout, target) pairs whose NSG the listing did not hold."""
        return [
            pair for nsg, pairs in self._wants.items() if nsg not in self._native for pair in pairs
        ]

    def missing_nsgs(self) -> list[str]:
        """The NSGs ``wants`` names (lower case) that the listing did not hold."""
        return sorted(nsg for nsg in self._wants if nsg not in self._native)

    def snapshot(self) -> Snapshot:
        """The immutable snapshot of what was read."""
        return Snapshot(
            provider="azure",
            rules={t: tuple(rules) for t, rules in self._rules.items()},
            native=MappingProxyType(dict(self._native)),
            fingerprints=self._fingerprints,
        )
