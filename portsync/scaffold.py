"""The commented ``portsync.yaml`` that ``portsync init`` writes.

The examples are the installed providers' own (``init_example``, a cluster entry in YAML), so
the template knows no cloud. Values go through ``yaml.safe_dump``, so names read from a cloud (group names, tags) can never
break out of their string; comments quoting them are cut to one printable line.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

import yaml

from portsync.peers import native_forms
from portsync.registry import available_providers, get_provider_class

if TYPE_CHECKING:
    from portsync.discover import Found

__all__ = ["render_config"]

_HEADER = """\
# portsync.yaml, written by `portsync init`. Reference: docs/configuration.md
# Next: `portsync validate` (offline, no credentials), then `portsync plan`.

# The port tables to enforce: built-in catalogs (kubernetes, calico, cilium, flannel, k3s, rke2,
# konnectivity, kops) or Markdown port tables, e.g. [kubernetes, {calico: {encapsulation: vxlan}}].
catalog: kubernetes

# owned: add, update and remove only the rules portsync created (it marks them).
# additive: only add. exclusive: also remove everything else (apply then needs --exclusive).
mode: owned

# apply refuses a plan that removes more rules than this.
max_deletes: 10

sources:
  # Who the port tables' "All" means (the API server, NodePorts). portsync never opens
  # 0.0.0.0/0 on its own: list the networks that must reach the cluster.
  all: []
"""

#: What the load balancers are, before the list (the clouds' own peers are added after it).
_LB_COMMENT = (
    "The load balancers, for the health checks of kube-proxy and the API server: CIDRs, or a "
    "peer of the cloud's own"
)


def _lb_comment() -> str:
    forms = native_forms()
    text = f"{_LB_COMMENT} ({forms})." if forms else f"{_LB_COMMENT}."
    return "\n".join(f"  # {line}" for line in textwrap.wrap(text, width=94))


def _examples() -> str:
    """Every installed provider's example cluster entry (its ``init_example`` class attribute),
    commented, and the clouds ``--discover`` knows."""
    lines = [
        "clusters: []",
        "# Bind each role to the group its machines use, for example (see docs/providers/):",
    ]
    discoverable = []
    for name in available_providers():
        cls = get_provider_class(name)
        example = getattr(cls, "init_example", None)
        if isinstance(example, str):
            lines.extend(f"#  {line}".rstrip() for line in example.strip("\n").splitlines())
        if getattr(cls, "discover", None):
            discoverable.append(name)
    if discoverable:
        clouds = "|".join(discoverable)
        lines.append(
            f"# `portsync init --discover {clouds}` finds the groups of an existing cluster."
        )
    return "\n".join(lines)


def _comment(text: str) -> str:
    """``text`` as one printable line, safe inside a YAML comment."""
    flat = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(flat.split())[:200]


def _dump(value: Any, indent: int) -> list[str]:
    text = yaml.safe_dump(value, sort_keys=False, default_flow_style=False, allow_unicode=False)
    return [" " * indent + line for line in text.rstrip("\n").splitlines()]


def render_config(found: Found | None = None) -> str:
    """The config text: commented defaults, and the discovered cluster when there is one."""
    lines = [_HEADER.rstrip("\n")]
    lines.append(_lb_comment())
    if found is not None and found.load_balancers:
        lines.append("  load_balancers:")
        lines.extend(_dump(list(found.load_balancers), 2))
    else:
        lines.append("  load_balancers: []")
    lines.append("")
    if found is None:
        lines.append(_examples())
        return "\n".join(lines) + "\n"
    lines.append(f"# Found by `portsync init --discover` ({_comment(found.tool)}):")
    for role, why in found.evidence.items():
        lines.append(f"#   {_comment(role)}: {_comment(why)}")
    for note in found.notes:
        lines.append(f"# Note: {_comment(note)}")
    lines.append("clusters:")
    lines.extend(_dump([found.entry], 2))
    return "\n".join(lines) + "\n"
