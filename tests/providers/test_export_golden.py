"""The Terraform each cloud's renderer writes for a fixed set of owned rules, compared with a
golden file per cloud (tests/providers/data/export/). The rules cover every peer kind and
protocol shape the renderers write, and a description holding what HCL must never read raw:
quotes, a backslash, ``${…}`` and ``%{…}`` template sequences, a newline.

The goldens follow ``terraform fmt``'s layout (two-space indentation, ``=`` aligned within a run
of single-line attributes, a blank line before nested blocks and between top-level blocks); the
layout test below checks those rules on every golden line by line, and python-hcl2 parses each.
Regenerate after a deliberate change with ``PORTSYNC_REGOLD=1 pytest tests/providers/
test_export_golden.py`` and review the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import hcl2
import pytest

from portsync.config import parse_config
from portsync.export import OwnedTarget, render_cluster
from portsync.model import Direction, Endpoint, PortRange, Protocol, TargetRule
from portsync.provider import Target

GOLDEN = Path(__file__).parent / "data" / "export"
HOSTILE = 'etcd "peer" \\ ${var.secret} %{ if true }\nsecond line'

CONFIG = """
clusters:
  - name: prod-aws
    provider: aws
    region: eu-west-1
    roles:
      control-plane: {security_group: sg-0cp}
      worker: {security_group: sg-0node}
  - name: prod-gcp
    provider: gcp
    project: portsync-test
    network: vpc-1
    roles:
      control-plane: {target_tag: k8s-cp}
      worker: {service_account: nodes@portsync-test.iam.gserviceaccount.com}
  - name: prod-azure
    provider: azure
    subscription_id: 00000000-0000-0000-0000-000000000000
    resource_group: k8s
    roles:
      control-plane: {nsg: cp-nsg, address_prefixes: [10.0.1.0/24]}
      worker: {nsg: node-nsg, address_prefixes: [10.0.2.0/24, "fd00::/64"]}
"""


def _rule(target: str, role: str, protocol: str, peer: str, **kw: object) -> TargetRule:
    return TargetRule(
        target=target,
        role=role,
        protocol=Protocol(protocol),
        peer=Endpoint.parse(peer),
        owned=True,
        **kw,  # type: ignore[arg-type]
    )


def _aws() -> list[OwnedTarget]:
    tags = (("portsync:owner", "prod-aws"),)
    cp = [
        _rule(
            "sg-0cp",
            "control-plane",
            "tcp",
            "cidr:203.0.113.0/24",
            ports=PortRange(6443, 6443),
            description="[portsync] Kubernetes API server",
            native_id="sgr-0a1",
            tags=tags,
        ),
        _rule(
            "sg-0cp",
            "control-plane",
            "tcp",
            "sg:sg-0node",
            ports=PortRange(2379, 2380),
            description=f"[portsync] {HOSTILE}",
            native_id="sgr-0a2",
            tags=tags,
        ),
        _rule(
            "sg-0cp",
            "control-plane",
            "icmpv6",
            "cidr:2001:db8::/32",
            icmp_type=128,
            description="[portsync] ping",
            native_id="sgr-0a3",
            tags=tags,
        ),
        _rule(
            "sg-0cp",
            "control-plane",
            "all",
            "pl:pl-0123",
            direction=Direction.EGRESS,
            native_id="sgr-0a4",
            tags=tags,
        ),
    ]
    node = [
        _rule("sg-0node", "worker", "esp", "cidr:10.0.0.0/8", native_id="sgr-0b1"),
        _rule(
            "sg-0node",
            "worker",
            "icmp",
            "cidr:10.0.0.0/8",
            native_id="sgr-0b2",
            description="[portsync] every ICMP type",
        ),
    ]
    return [
        OwnedTarget(Target("sg-0cp", "control-plane"), tuple(cp)),
        OwnedTarget(Target("sg-0node", "worker"), tuple(node)),
    ]


def _gcp() -> list[OwnedTarget]:
    prio = (("priority", "900"),)
    name = "portsync-1a2b3c-control-plane-tcp-0aa1"
    cp = [
        _rule(
            "tag:k8s-cp",
            "control-plane",
            "tcp",
            "cidr:203.0.113.0/24",
            ports=PortRange(6443, 6443),
            description="[portsync] Kubernetes API server",
            native_id=name,
            extra=prio,
        ),
        _rule(
            "tag:k8s-cp",
            "control-plane",
            "tcp",
            "cidr:203.0.113.0/24",
            ports=PortRange(2379, 2380),
            description=f"[portsync] {HOSTILE}",
            native_id=name,
            extra=prio,
        ),
        _rule(
            "tag:k8s-cp",
            "control-plane",
            "udp",
            "tag:k8s-node",
            ports=PortRange(4789, 4789),
            description="[portsync] vxlan",
            native_id="portsync-1a2b3c-control-plane-udp-0bb2",
            extra=(("priority", "1000"),),
        ),
    ]
    sa = "sa:nodes@portsync-test.iam.gserviceaccount.com"
    node = [
        _rule(
            sa,
            "worker",
            "all",
            "cidr:10.0.0.0/8",
            direction=Direction.EGRESS,
            description="[portsync] egress",
            native_id="portsync-1a2b3c-worker-all-0cc3",
            extra=(("priority", "1000"),),
        ),
        _rule(
            sa,
            "worker",
            "tcp",
            "sa:lb@portsync-test.iam.gserviceaccount.com",
            ports=PortRange(30000, 32767),
            description="[portsync] node ports",
            native_id="portsync-1a2b3c-worker-tcp-0dd4",
            extra=(("priority", "1000"),),
        ),
    ]
    return [
        OwnedTarget(Target("tag:k8s-cp", "control-plane"), tuple(cp)),
        OwnedTarget(Target(sa, "worker"), tuple(node)),
    ]


def _azure() -> list[OwnedTarget]:
    cp = [
        _rule(
            "cp-nsg",
            "control-plane",
            "tcp",
            "cidr:203.0.113.0/24",
            ports=PortRange(6443, 6443),
            description="[portsync] Kubernetes API server",
            native_id="portsync-1a2b3c-cp-6443",
            extra=(("live.priority", "1000"), ("role_addresses", "10.0.1.0/24")),
        ),
        _rule(
            "cp-nsg",
            "control-plane",
            "tcp",
            "service-tag:AzureLoadBalancer",
            ports=PortRange(2379, 2380),
            description=f"[portsync] {HOSTILE}",
            native_id="portsync-1a2b3c-cp-etcd",
            extra=(
                ("live.priority", "1001"),
                ("role_addresses", "10.0.1.0/24"),
                ("source_ports", "1024-65535"),
            ),
        ),
    ]
    node = [
        _rule(
            "node-nsg",
            "worker",
            "all",
            "cidr:10.0.0.0/8",
            direction=Direction.EGRESS,
            description="[portsync] egress",
            native_id="portsync-1a2b3c-node-out",
            extra=(("live.priority", "1500"), ("role_addresses", "10.0.2.0/24,fd00::/64")),
        ),
        _rule(
            "node-nsg",
            "worker",
            "udp",
            "asg:/subscriptions/0/resourceGroups/k8s/providers/"
            "Microsoft.Network/applicationSecurityGroups/lb",
            ports=PortRange(4789, 4789),
            description="[portsync] vxlan",
            native_id="portsync-1a2b3c-node-vxlan",
            extra=(("live.priority", "1002"), ("role_addresses", "10.0.2.0/24,fd00::/64")),
        ),
    ]
    return [
        OwnedTarget(Target("cp-nsg", "control-plane"), tuple(cp)),
        OwnedTarget(Target("node-nsg", "worker"), tuple(node)),
    ]


WORLDS = {"aws": _aws, "gcp": _gcp, "azure": _azure}


def _text(cloud: str) -> str:
    loaded = parse_config(CONFIG)
    cluster = loaded.cluster(f"prod-{cloud}")
    return render_cluster(cluster, WORLDS[cloud]())


@pytest.mark.parametrize("cloud", sorted(WORLDS))
def test_golden(cloud: str) -> None:
    path = GOLDEN / f"{cloud}.tf"
    text = _text(cloud)
    if os.environ.get("PORTSYNC_REGOLD"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


_ASSIGN = re.compile(r"( *)(\S+) +=( .*)")


def _layout_problems(text: str) -> list[str]:
    """Where ``text`` departs from terraform fmt's layout (see the module docstring)."""
    problems: list[str] = []
    lines = text.split("\n")
    if lines[-1] != "" or lines[-2] == "":
        problems.append("the text must end in exactly one newline")
    depth = 0
    run: list[tuple[int, str]] = []

    def close_run() -> None:
        if run:
            columns = {line.index(" = ") for _n, line in run}
            widest = max(len(m[1]) + len(m[2]) for m in (_ASSIGN.match(x) for _n, x in run) if m)
            if columns != {widest}:
                problems.append(
                    f"lines {run[0][0]}-{run[-1][0]}: '=' not aligned one space "
                    "after the longest name"
                )
        run.clear()

    for number, line in enumerate(lines[:-1], 1):
        stripped = line.strip()
        if stripped == "}":
            depth -= 1
        if stripped and line != "  " * depth + stripped:
            problems.append(f"line {number}: indentation is not two spaces per level")
        if line != line.rstrip():
            problems.append(f"line {number}: trailing whitespace")
        match = _ASSIGN.fullmatch(line)
        if match and not stripped.endswith("{"):
            run.append((number, line))
        else:
            close_run()
        if stripped.endswith("{"):
            nested_block = depth > 0 and not match
            if nested_block and lines[number - 2] != "":
                problems.append(f"line {number}: no blank line before a nested block")
            depth += 1
        if stripped == "}" and depth == 0 and number < len(lines) - 1 and lines[number] != "":
            problems.append(f"line {number}: no blank line after a top-level block")
    close_run()
    if depth != 0:
        problems.append("unbalanced braces")
    return problems


def test_layout_check_finds_what_terraform_fmt_would_change() -> None:
    bad = 'resource "a" "b" {\n  x = 1\n  long = 2\n   y = 3\n  c {\n  }\n}\nimport {\n}\n'
    problems = _layout_problems(bad)
    assert any("not aligned" in p for p in problems)
    assert any("indentation" in p for p in problems)
    assert any("nested block" in p for p in problems)
    assert any("after a top-level block" in p for p in problems)


@pytest.mark.parametrize("cloud", sorted(WORLDS))
def test_golden_follows_terraform_fmt_layout(cloud: str) -> None:
    assert _layout_problems((GOLDEN / f"{cloud}.tf").read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("cloud", sorted(WORLDS))
def test_golden_parses_and_keeps_hostile_text_literal(cloud: str) -> None:
    data = hcl2.loads((GOLDEN / f"{cloud}.tf").read_text(encoding="utf-8"))
    resources = [
        body for item in data["resource"] for named in item.values() for body in named.values()
    ]
    assert len(resources) == len(data["import"])
    descriptions = [str(r.get("description", "")) for r in resources]
    # python-hcl2 returns literals as written: the template sequences stay doubled, the
    # newline and quotes escaped.
    assert any('etcd \\"peer\\" \\\\ $${var.secret} %%{ if true }' in d for d in descriptions)
    assert not any("\n" in d or re.search(r"(?<!\$)\$\{", d[1:]) for d in descriptions)
