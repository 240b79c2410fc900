"""The native half of a plan: what a provider read (:class:`Snapshot`) and the exact calls it will
send (:class:`Write`). See docs/architecture.md, "The provider contract".

A provider works in three verbs, passing only these values between them:

- ``read(targets) -> Snapshot``: one immutable listing of the live state of a read scope;
- ``compile(groups, snapshot) -> tuple[Write, ...]``: pure; groups the neutral operations by the
  cloud's write unit, packs them, allocates priorities, checks every limit, and returns the
  native calls with their bodies;
- ``execute(write)``: one native call, retried and paced, with no diffing.

The core never looks inside a body: it saves writes in the plan, compares them on apply, counts
them, and executes them in phase order (make before break).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from types import MappingProxyType
from typing import Any

from portsync.model import TargetRule

__all__ = ["Phase", "Snapshot", "Write", "writes_from_json", "writes_to_json"]


class Phase(IntEnum):
    """When a write runs within its write unit: everything that opens access before anything
    that changes it, before anything that closes it (make before break)."""

    MAKE = 0
    CHANGE = 1
    BREAK = 2


def _plain(value: Any) -> Any:
    """``value`` as plain JSON data (dicts, lists, str, int, float, bool, None), a deep copy.

    Raises:
        TypeError: ``value`` holds something JSON cannot carry (a provider bug).
    """
    return json.loads(json.dumps(value, sort_keys=True, allow_nan=False))


@dataclass(frozen=True, slots=True)
class Write:
    """One native call exactly as it will be sent.

    ``target`` is the cloud's write unit (a security group id, a firewall name, an NSG id), not
    necessarily a portsync target: one GCP target's rules may span several firewalls, and one
    Azure NSG may hold the rules of several roles. ``removes`` counts what the call deletes in
    the cloud's own unit (AWS rules, GCP firewalls, Azure rules), for ``--max-deletes``.
    ``headers`` are request headers that are part of the call's meaning, sent exactly as
    recorded: Azure's ``If-Match: <etag>``, which makes the write apply only to the NSG as it was
    read. They are compared and saved like the body (left out of the JSON when empty).
    """

    cluster: str
    target: str
    api: str
    method: str
    body: Mapping[str, Any]
    phase: Phase = Phase.MAKE
    removes: int = 0
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: The state of the write unit the write was compiled from (an etag or a content digest),
    #: never sent: it makes a write compiled from a stale read differ from a fresh one even when
    #: the call itself would not (``""``: the body already names the state, as an ``If-Match``).
    fingerprint: str = ""
    _text: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        plain = _plain(dict(self.body))
        object.__setattr__(self, "body", MappingProxyType(plain))
        object.__setattr__(self, "phase", Phase(self.phase))
        headers = dict(self.headers)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise TypeError("a write's headers must map strings to strings")
        object.__setattr__(self, "headers", MappingProxyType(headers))
        object.__setattr__(self, "_text", json.dumps(self.to_dict(), sort_keys=True))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Write):
            return NotImplemented
        return self._text == other._text

    def __hash__(self) -> int:
        return hash(self._text)

    @property
    def canonical(self) -> str:
        """The write as sorted-key JSON text: what plan comparison and signing see."""
        return self._text

    def to_dict(self) -> dict[str, Any]:
        """The ``writes`` item of the plan JSON (see docs/reports.md)."""
        out: dict[str, Any] = {
            "cluster": self.cluster,
            "target": self.target,
            "api": self.api,
            "method": self.method,
            "body": _plain(dict(self.body)),
            "phase": self.phase.name.lower(),
            "removes": self.removes,
        }
        if self.headers:
            out["headers"] = dict(sorted(self.headers.items()))
        if self.fingerprint:
            out["fingerprint"] = self.fingerprint
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Write:
        """A write read back from a plan file.

        Raises:
            ValueError: ``data`` is not a write object.
        """
        if not isinstance(data, Mapping):
            raise ValueError("a write must be an object")
        strings = ("cluster", "target", "api", "method")
        if not all(isinstance(data.get(key), str) for key in strings):
            raise ValueError(f"a write needs string fields {', '.join(strings)}")
        if not isinstance(data.get("body"), Mapping):
            raise ValueError("a write's body must be an object")
        phase = data.get("phase", "make")
        if not isinstance(phase, str) or phase.upper() not in Phase.__members__:
            raise ValueError(f"unknown write phase {phase!r}")
        removes = data.get("removes", 0)
        if not isinstance(removes, int) or isinstance(removes, bool) or removes < 0:
            raise ValueError("a write's removes must be a non-negative integer")
        headers = data.get("headers", {})
        if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ValueError("a write's headers must be an object of strings")
        fingerprint = data.get("fingerprint", "")
        if not isinstance(fingerprint, str):
            raise ValueError("a write's fingerprint must be a string")
        return cls(
            cluster=data["cluster"],
            target=data["target"],
            api=data["api"],
            method=data["method"],
            body=data["body"],
            phase=Phase[phase.upper()],
            removes=removes,
            headers=headers,
            fingerprint=fingerprint,
        )


def writes_to_json(writes: Iterable[Write]) -> list[dict[str, Any]]:
    """Writes as the plan's ``writes`` list, in execution order."""
    return [w.to_dict() for w in writes]


def writes_from_json(items: Any) -> tuple[Write, ...]:
    """The plan's ``writes`` list read back.

    Raises:
        ValueError: naming the first bad item.
    """
    if not isinstance(items, list):
        raise ValueError("writes must be a list")
    out: list[Write] = []
    for index, item in enumerate(items):
        try:
            out.append(Write.from_dict(item))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"writes[{index}]: {exc}") from None
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """What one read of a read scope saw, immutable, shared by the clusters of that scope.

    ``rules`` is the neutral view per portsync target id (what the core diffs). ``native`` is the
    provider's own immutable view of the raw listing (tuples and read-only mappings), which only
    that provider's ``compile`` looks into. ``fingerprints`` hold an etag or a content digest
    per write unit, so a write compiled from a stale read differs from a fresh one. ``quotas``
    are the limits read from the cloud (for example a project's firewall quota).
    """

    provider: str
    rules: Mapping[str, Sequence[TargetRule]] = field(default_factory=lambda: MappingProxyType({}))
    native: Any = None
    fingerprints: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    quotas: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "rules", MappingProxyType({k: tuple(v) for k, v in self.rules.items()})
        )
        object.__setattr__(self, "fingerprints", MappingProxyType(dict(self.fingerprints)))
        object.__setattr__(self, "quotas", MappingProxyType(dict(self.quotas)))

    def live(self, target: str) -> tuple[TargetRule, ...]:
        """The live rules of ``target`` (empty when the read saw none)."""
        return tuple(self.rules.get(target, ()))
