"""Tools that build clusters and keep rewriting their firewalls: kops, the Cluster API providers,
EKS, AKS.

A provider recognises a target such a tool manages by the marks the tool leaves (tags, names) and
says what the tool will do to rules it did not create, and the durable way to get a rule in. The
core only carries that knowledge to the plan and refuses ``exclusive`` on such targets unless the
user names them (``--exclusive-on-managed``): removing what the tool created breaks the cluster,
and the tool puts it back anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ManagingTool"]


@dataclass(frozen=True, slots=True)
class ManagingTool:
    """The tool that manages a target, and how it treats rules it did not create."""

    #: Short name, e.g. ``"Cluster API AWS (CAPA)"``.
    name: str
    #: The mark it was recognised by, e.g. ``"tag sigs.k8s.io/cluster-api-provider-aws/cluster/prod"``.
    marker: str
    #: What the tool does to portsync's rules on its next reconcile.
    behaviour: str
    #: The durable way to get a rule onto this target with that tool.
    route: str

    def note(self) -> str:
        """One line for the plan."""
        return f"managed by {self.name} ({self.marker}): {self.behaviour}; instead: {self.route}"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "marker": self.marker,
            "behaviour": self.behaviour,
            "route": self.route,
        }

    @classmethod
    def from_dict(cls, data: Any) -> ManagingTool:
        """Inverse of :meth:`to_dict` (plan files).

        Raises:
            TypeError, KeyError: not a managing-tool object.
        """
        if not isinstance(data, dict):
            raise TypeError("managed_by must be an object")
        return cls(
            name=str(data["name"]),
            marker=str(data["marker"]),
            behaviour=str(data["behaviour"]),
            route=str(data["route"]),
        )
