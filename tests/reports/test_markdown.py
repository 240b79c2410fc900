"""Markdown reports (pull-request comments, job summaries), checked against golden files.

A mismatch writes ``tests/reports/golden/<name>.md.actual`` (git-ignored) next to the golden file
and fails. No test ever writes a golden file itself: after a deliberate change to a report, run
``make golden`` (``python -m tests.reports.update_golden``), which renders :data:`RENDERINGS`
into the golden files, and review ``git diff``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from portsync.audit import AuditReport, ClusterAudit, audit_target, component_ports
from portsync.config import parse_config
from portsync.model import Endpoint, PortRange, Protocol, TargetRule
from portsync.ops import CreateRuleOp, DeleteRuleOp, GroupOps, Plan, UpdateRuleOp
from portsync.provider import Target
from portsync.render.markdown import render_audit_markdown, render_plan_markdown

GOLDEN = Path(__file__).parent / "golden"


def _check_golden(name: str, text: str) -> None:
    golden = GOLDEN / f"{name}.md"
    actual = golden.with_name(golden.name + ".actual")
    expected = golden.read_text(encoding="utf-8") if golden.is_file() else None
    if text != expected:
        actual.write_text(text, encoding="utf-8")
        pytest.fail(f"{golden.name} differs from the rendering; see {actual}")
    actual.unlink(missing_ok=True)


def _rule(
    target: str,
    role: str,
    peer: str,
    ports: tuple[int, int] | None,
    description: str = "",
    *,
    owned: bool = True,
    origin: str | None = None,
    direction: str = "ingress",
) -> TargetRule:
    return TargetRule(
        target=target,
        role=role,
        direction=direction,  # type: ignore[arg-type]
        protocol=Protocol.TCP if ports else Protocol.ALL,
        ports=PortRange(*ports) if ports else None,
        peer=Endpoint.parse(peer),
        description=description,
        owned=owned,
        origin=origin,
    )


def _drift_plan() -> Plan:
    cp, node = "sg-0aaa", "sg-0bbb"
    stale = _rule(
        cp, "control-plane", "sg:sg-0aaa", (10259, 10259), "portsync: old words", origin="self"
    )
    return Plan(
        groups=(
            GroupOps(
                cluster="prod-aws",
                provider="aws",
                target=cp,
                role="control-plane",
                label=f"{cp} (control-plane)",
                live_count=4,
                ops=(
                    CreateRuleOp(
                        _rule(
                            cp,
                            "control-plane",
                            "cidr:203.0.113.0/24",
                            (6443, 6443),
                            "portsync: Kubernetes API server",
                            origin="any",
                        ),
                        "missing: Kubernetes API server (from any)",
                    ),
                    UpdateRuleOp(
                        stale,
                        stale.replace(description="portsync: kube-scheduler"),
                        "description is 'portsync: old words', wanted 'portsync: kube-scheduler'",
                    ),
                    DeleteRuleOp(
                        _rule(
                            cp,
                            "control-plane",
                            "cidr:10.0.0.0/8",
                            (9999, 9999),
                            "portsync: stale rule",
                        ),
                        "owned by portsync but no longer wanted",
                    ),
                ),
                unmanaged=(
                    _rule(
                        cp,
                        "control-plane",
                        "cidr:10.9.0.0/16",
                        (22, 22),
                        "ssh | bastion @ops-team <b>",
                        owned=False,
                    ),
                    _rule(
                        cp,
                        "control-plane",
                        "cidr:0.0.0.0/0",
                        (10250, 10250),
                        "debugging the kubelet",
                        owned=False,
                    ),
                ),
                # what AWS puts on every group: left alone, never reported
                cloud_defaults=(
                    _rule(
                        cp, "control-plane", "cidr:0.0.0.0/0", None, owned=False, direction="egress"
                    ),
                ),
            ),
            GroupOps(
                cluster="prod-aws",
                provider="aws",
                target=node,
                role="worker",
                label=f"{node} (worker)",
                live_count=6,
            ),
            GroupOps(
                cluster="prod-gcp",
                provider="gcp",
                target="k8s-node",
                role="worker",
                label="k8s-node (worker)",
                live_count=7,
            ),
        ),
        mode="owned",
        created_at="2024-05-01T02:00:00Z",
    )


def _plan_drift() -> str:
    return render_plan_markdown(_drift_plan(), show_unmanaged=True)


def _plan_drift_summary() -> str:
    return render_plan_markdown(_drift_plan())


def test_render_plan_markdown_counts_unmanaged_rules_per_target_by_default() -> None:
    text = _plan_drift_summary()
    assert (
        "`sg-0aaa (control-plane)`: 2 unmanaged rules left alone; `--show-unmanaged` lists them."
        in text
    )
    assert "debugging the kubelet" not in text and "10.9.0.0/16" not in text


def _plan_in_sync() -> str:
    plan = _drift_plan()
    clean = Plan(
        groups=tuple(
            GroupOps(
                cluster=g.cluster,
                provider=g.provider,
                target=g.target,
                role=g.role,
                label=g.label,
                live_count=g.live_count,
            )
            for g in plan.groups
        ),
        created_at=plan.created_at,
    )
    return render_plan_markdown(clean)


def test_render_plan_markdown_escapes_live_text() -> None:
    text = render_plan_markdown(_drift_plan(), show_unmanaged=True)
    assert "@ops-team" not in text and "<b>" not in text
    assert "ssh \\| bastion" in text


def _audit() -> str:
    ports = component_ports(parse_config("catalog: kubernetes\n"))
    cp = Target(id="sg-0aaa", role="control-plane", label="sg-0aaa (control-plane)")
    live = [
        _rule(
            "sg-0aaa", "control-plane", "cidr:0.0.0.0/0", (2379, 2380), "etcd for all", owned=False
        ),
        _rule("sg-0aaa", "control-plane", "cidr:0.0.0.0/0", (6443, 6443), owned=False),
        _rule("sg-0aaa", "control-plane", "cidr:10.9.0.0/16", (22, 22), "ssh", owned=False),
    ]
    findings = audit_target(
        cluster="prod-aws", provider="aws", target=cp, live=live, ports=ports, desired=[]
    )
    report = AuditReport(
        findings=tuple(sorted(findings, key=lambda f: (-f.severity.rank, f.id))),
        clusters=(
            ClusterAudit(cluster="prod-aws", provider="aws", targets=((cp, 3),)),
            ClusterAudit(
                cluster="prod-gcp",
                provider="gcp",
                declared_peers_checked=False,
                notes=("peers not named by the port tables were not checked",),
            ),
        ),
        created_at="2024-05-01T02:00:00Z",
    )
    return render_audit_markdown(report)


#: Golden file name → the rendering it holds.
RENDERINGS: dict[str, Callable[[], str]] = {
    "plan-drift": _plan_drift,
    "plan-drift-summary": _plan_drift_summary,
    "plan-in-sync": _plan_in_sync,
    "audit": _audit,
}


@pytest.mark.parametrize("name", list(RENDERINGS))
def test_markdown_matches_golden(name: str) -> None:
    _check_golden(name, RENDERINGS[name]())


def test_a_mismatch_fails_and_never_rewrites_the_golden_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "GOLDEN", tmp_path)
    monkeypatch.setenv("PORTSYNC_UPDATE_GOLDEN", "1")  # the old escape hatch does nothing now
    golden = tmp_path / "report.md"
    golden.write_text("expected\n", encoding="utf-8")
    with pytest.raises(pytest.fail.Exception, match=r"report\.md differs"):
        _check_golden("report", "rendered\n")
    assert golden.read_text(encoding="utf-8") == "expected\n"
    assert (tmp_path / "report.md.actual").read_text(encoding="utf-8") == "rendered\n"
    _check_golden("report", "expected\n")
    assert not (tmp_path / "report.md.actual").exists()


def test_update_golden_writes_every_rendering_and_says_which_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.reports import update_golden

    monkeypatch.setattr(sys.modules[__name__], "GOLDEN", tmp_path)
    (tmp_path / "audit.md").write_text(_audit(), encoding="utf-8")
    (tmp_path / "plan-drift.md").write_text("old\n", encoding="utf-8")
    (tmp_path / "plan-drift.md.actual").write_text("left over\n", encoding="utf-8")
    assert update_golden.main() == 0
    for name, render in RENDERINGS.items():
        assert (tmp_path / f"{name}.md").read_text(encoding="utf-8") == render()
    assert not (tmp_path / "plan-drift.md.actual").exists()
    out = capsys.readouterr().out
    assert "plan-drift.md: rewritten" in out and "plan-in-sync.md: written" in out
    assert "audit.md: unchanged" in out
