"""Roles whose machines are in several groups: what is read, and what counts, beyond the targets
portsync writes to.

A role's binding may list every group its machines belong to (Cluster API AWS puts every machine
in its ``node`` and ``lb`` groups, and control-plane machines in ``controlplane`` as well). Rules
are written to one of them; the others are read only, and their rules count too:

* coverage — a desired rule is satisfied by live rules on *any* of the role's groups, and a live
  rule from a group the peer role's machines are in admits that role;
* ``explain`` — a flow is allowed when any of the role's groups admits it;
* ``audit`` — every group is audited.

A provider that supports this defines the optional hook ``memberships() -> Memberships``;
without it a role is its one target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from portsync.model import Endpoint, TargetRule
from portsync.provider import Target

__all__ = ["Memberships", "check_listed", "memberships"]


@dataclass(frozen=True)
class Memberships:
    """The other groups of each written target's machines, and of each role endpoint."""

    #: Written target id → the targets (read only) its role's machines are also in.
    also: Mapping[str, tuple[Target, ...]] = field(default_factory=dict)
    #: An endpoint standing for a role's machines → the other endpoints they carry.
    members: Mapping[Endpoint, frozenset[Endpoint]] = field(default_factory=dict)

    def read_targets(self, targets: Sequence[Target]) -> list[Target]:
        """``targets``, then every read-only target of theirs not among them, once each."""
        out = list(targets)
        seen = {t.id for t in out}
        for target in targets:
            for other in self.also.get(target.id, ()):
                if other.id not in seen:
                    seen.add(other.id)
                    out.append(other)
        return out

    def extra_targets(self, targets: Sequence[Target]) -> list[Target]:
        """The read-only targets :meth:`read_targets` adds to ``targets``."""
        return self.read_targets(targets)[len(targets) :]

    def also_rules(
        self, target: Target, live: Mapping[str, Sequence[TargetRule]]
    ) -> list[TargetRule]:
        """The live rules of the other groups ``target``'s machines are in."""
        return [
            rule
            for other in self.also.get(target.id, ())
            if other.id != target.id
            for rule in live.get(other.id, ())
        ]


def memberships(provider: object) -> Memberships:
    """The provider's memberships, or none when it has no such hook."""
    hook = getattr(provider, "memberships", None)
    if hook is None:
        return Memberships()
    found = hook()
    return found if isinstance(found, Memberships) else Memberships()


def check_listed(
    key: str,
    listed: Sequence[str] | None,
    write_to: str | None,
    *,
    noun: str,
    plural: str,
    fold_case: bool = False,
    write_key: str = "write_to",
) -> None:
    """Check a binding that lists every group (tag, ASG) of a role's machines under ``key``,
    with an optional ``write_to`` among them: at least one, none twice, ``write_to`` listed, and
    no ``write_to`` without the list. ``fold_case`` compares names the cloud treats as
    case-insensitive (Azure resource ids). ``write_key``: the config key that names the one
    written to (Azure's ``nsgs`` take it from ``nsg``).

    Raises:
        ValueError: the binding breaks one of these, said in the config's own words.
    """
    if listed is None:
        if write_to is not None:
            raise ValueError(f"{write_key} goes with {key} (a list of the role's {plural})")
        return
    names = [n.lower() for n in listed] if fold_case else list(listed)
    if not names:
        raise ValueError(f"{key} needs at least one {noun}")
    if len(set(names)) != len(names):
        raise ValueError(f"{key} lists a{'n' if noun[0] in 'aeiou' else ''} {noun} twice")
    if write_to is not None and (write_to.lower() if fold_case else write_to) not in names:
        raise ValueError(f"{write_key} {write_to} is not one of {key}; list it there too")
