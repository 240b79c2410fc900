"""The commented ``portsync.yaml`` that ``portsync init`` writes.

Values go through ``yaml.safe_dump``, so names read from a cloud (group names, tags) can never
break out of their string; comments quoting them are cut to one printable line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

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

_LB_COMMENT = """\
  # AWS: the load balancers' security groups (sg-...), prefix lists or CIDRs, for the health
  # checks of kube-proxy and the API server.
"""

_EXAMPLES = """\
clusters: []
# Bind each role to the group its machines use, for example (see docs/providers/):
#  - name: prod-aws
#    provider: aws
#    region: eu-west-1
#    roles:
#      control-plane: {security_group: sg-0aaa}
#      worker: {security_group: sg-0bbb}
#  - name: prod-gcp
#    provider: gcp
#    project: my-project
#    network: default
#    roles:
#      control-plane: {target_tag: prod-control-plane}
#      worker: {target_tag: prod-node}
#  - name: prod-azure
#    provider: azure
#    subscription_id: 00000000-0000-0000-0000-000000000000
#    resource_group: prod
#    roles:
#      control-plane: {nsg: prod-controlplane-nsg, address_prefixes: [10.0.0.0/16]}
#      worker: {nsg: prod-node-nsg, address_prefixes: [10.1.0.0/16]}
# `portsync init --discover aws|gcp|azure` finds the groups of an existing cluster.
"""


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
    lines.append(_LB_COMMENT.rstrip("\n"))
    if found is not None and found.load_balancers:
        lines.append("  load_balancers:")
        lines.extend(_dump(list(found.load_balancers), 2))
    else:
        lines.append("  load_balancers: []")
    lines.append("")
    if found is None:
        lines.append(_EXAMPLES.rstrip("\n"))
        return "\n".join(lines) + "\n"
    lines.append(f"# Found by `portsync init --discover` ({_comment(found.tool)}):")
    for role, why in found.evidence.items():
        lines.append(f"#   {_comment(role)}: {_comment(why)}")
    for note in found.notes:
        lines.append(f"# Note: {_comment(note)}")
    lines.append("clusters:")
    lines.extend(_dump([found.entry], 2))
    return "\n".join(lines) + "\n"
