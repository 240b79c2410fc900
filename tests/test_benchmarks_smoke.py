"""Smoke test of the benchmarks: each ``run()`` works at a tiny scale and counts the calls it
should. Times are never asserted (docs/performance.md): the benchmarks measure speed, tests do not."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks import __main__ as runner
from benchmarks import bench_aws, bench_c7n, bench_diff, bench_gcp, bench_startup
from benchmarks.common import COLUMNS
from portsync.config import load_config
from portsync.files import CONFIG_CAP
from portsync.providers.gcp.limits import MAX_RESULTS_PER_PAGE
from portsync.synthesis import synthesize


def _check(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every row has exactly the table's columns and non-negative numbers; rows by ``what``."""
    assert rows
    for row in rows:
        assert tuple(row) == COLUMNS
        for key in ("calls_read", "calls_write", "seconds", "baseline_seconds", "ratio"):
            assert row[key] is None or row[key] >= 0, (key, row)
    return {str(row["what"]): row for row in rows}


def test_gcp_plan_and_apply_count_the_minimum_calls() -> None:
    rows = _check(bench_gcp.run(12, changes=4, latency=0.0, repeats=1, plan_repeats=2))
    plan = rows["plan"]
    assert plan["calls_read"] == math.ceil(12 / MAX_RESULTS_PER_PAGE) == 1
    assert "CPU time (every thread)" in plan["note"] and "best of 2" in plan["note"]
    assert plan["calls_write"] == 0
    assert "plan empty" in plan["note"]
    parallel = rows[f"apply 4 changes, {bench_gcp.WORKERS} workers"]
    sequential = rows["apply 4 changes, 1 worker"]
    # 2 inserts, 1 patch, 1 delete: one write each, whatever the parallelism.
    assert parallel["calls_write"] == sequential["calls_write"] == 4
    assert parallel["calls_read"] == sequential["calls_read"]


def test_gcp_plan_pages_at_500_firewalls() -> None:
    scale = MAX_RESULTS_PER_PAGE + 1
    rows = _check(bench_gcp.run(scale, latency=0.0, repeats=1, apply=False, plan_repeats=1))
    assert rows["plan"]["calls_read"] == math.ceil(scale / MAX_RESULTS_PER_PAGE) == 2


def test_gcp_changes_are_distinct_and_as_many_as_asked() -> None:
    layout = bench_gcp._layout(40)
    before = bench_gcp._extra_rules(layout)
    after, what = bench_gcp._changes(layout, 10)
    assert what == "5 inserts, 2 patches, 3 deletes"
    assert len(after) == len(before) - 3 * bench_gcp.PORTS_PER_FIREWALL + 2 + 5


def test_gcp_config_groups_roles_and_means_the_same_rules(tmp_path: Path) -> None:
    layout = bench_gcp._layout(25)  # roles 0-1 hold ten firewalls, role 2 five
    roles = layout[-1][0] + 1
    rules = bench_gcp._extra_rules(layout)
    grouped = bench_gcp._grouped(rules, roles)
    assert len(grouped) == 2 * bench_gcp.FIREWALLS_PER_ROLE
    assert sum(r["role"] == "*" for r in grouped) == 2 * 5  # the peers every role has
    path = bench_gcp._write_config(tmp_path / "a.yaml", "http://127.0.0.1:1", rules, roles)
    loaded = load_config(path)
    assert len(loaded.config.extra_rules) == len(grouped)
    data = yaml.safe_load(path.read_text())
    data["extra_rules"] = rules  # one rule per role, as before grouping
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(data))
    one_each = load_config(tmp_path / "b.yaml")
    assert len(one_each.config.extra_rules) == len(rules)
    assert synthesize(loaded).rules == synthesize(one_each).rules


def test_gcp_config_at_5000_firewalls_is_under_the_config_cap(tmp_path: Path) -> None:
    layout = bench_gcp._layout(5000)
    path = bench_gcp._write_config(
        tmp_path / "p.yaml", "http://127.0.0.1:1", bench_gcp._extra_rules(layout), 500
    )
    assert path.stat().st_size < CONFIG_CAP
    assert len(load_config(path).config.clusters[0].roles) == 500


def test_diff_finds_exactly_the_drift() -> None:
    rows = bench_diff.run([200, 400], repeats=1)
    by_what = _check(rows)
    assert [(r["scale"], r["what"]) for r in rows] == [
        (200, "diff_target, 1 target"),
        (200, "plan engine, 20 targets"),
        (400, "diff_target, 1 target"),
        (400, "plan engine, 40 targets"),
    ]
    assert all(r["calls_read"] == r["calls_write"] == 0 for r in rows)
    # The larger runs are compared with the smaller ones scaled linearly.
    assert by_what["plan engine, 40 targets"]["baseline_seconds"] is not None
    assert rows[0]["baseline_seconds"] is None


def test_diff_drift_is_about_one_percent() -> None:
    desired, live, drift = bench_diff.make_rules(10_000)
    assert len(desired) == 10_000
    assert 0.008 * 10_000 <= drift.total <= 0.012 * 10_000
    assert len({r.key for r in desired}) == len(desired)
    assert len(live) == len(desired) - drift.missing + drift.unwanted + drift.unmanaged


def test_aws_plan_reads_groups_and_rules_once() -> None:
    rows = _check(bench_aws.run(12, apply_groups=2, repeats=1))
    # One DescribeSecurityGroups and one DescribeSecurityGroupRules (rule ids and owner tags).
    assert rows["plan"]["calls_read"] == 2
    assert "baseline 2 calls" in rows["plan"]["note"]  # the bare side makes the same reads
    assert rows["plan, 2 clusters"]["calls_read"] == 2  # both shared by the fleet
    assert rows["apply +1 rule x2"]["calls_write"] == 2


def test_c7n_side_by_side_reads_once_each_and_portsync_its_rules() -> None:
    """Cloud Custodian comes with the dev extra (through ``bench``): the benchmark runs it."""
    pytest.importorskip("c7n", reason="needs portsync[bench] (Cloud Custodian)")
    assert bench_c7n.available()
    by_what = _check(bench_c7n.run(3, repeats=1, cli=False))
    assert by_what["c7n audit (in-process)"]["calls_read"] == 1
    # portsync also reads the rules' owner tags (DescribeSecurityGroupRules).
    assert by_what["plan vs c7n (in-process)"]["calls_read"] == 2


def test_c7n_without_custodian_says_it_was_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_c7n, "available", lambda: False)
    rows = bench_c7n.run(3, repeats=1, cli=False)
    assert [(r["what"], r["note"]) for r in rows] == [("c7n audit vs plan", bench_c7n.SKIP_NOTE)]


def test_startup_rows_fit_the_table() -> None:
    raw = bench_startup.run(1)
    rows = _check(runner._startup_rows(raw, 1))
    assert (
        rows["portsync --help"]["baseline_seconds"] == rows["python -c 'import typer'"]["seconds"]
    )


def test_runner_plans_every_benchmark_and_rejects_unknown_names() -> None:
    for name in runner.NAMES:
        planned = runner.jobs(name, quick=True)
        assert isinstance(planned, str) or all(callable(job) for _label, job in planned)
    with pytest.raises(SystemExit) as exc:
        runner.main(["--only", "nope"])
    assert exc.value.code == 2


def test_azure_plan_lists_once_and_apply_puts_once_per_nsg() -> None:
    pytest.importorskip("azure.mgmt.network", reason="needs portsync[azure]")
    from benchmarks import bench_azure

    rows = _check(bench_azure.run(3, apply_nsgs=2, latency=0.0, repeats=1))
    plan = rows["plan"]
    # One list of the resource group (three NSGs fit one page), never a GET per NSG.
    assert plan["calls_read"] == 1 and plan["calls_write"] == 0
    assert "1 nsg.list" in plan["note"] and "0 nsg.get" in plan["note"]
    assert "plan empty" in plan["note"]
    parallel = rows[f"apply +1 rule x2, {bench_azure.WORKERS} workers"]
    sequential = rows["apply +1 rule x2, 1 worker"]
    # One PUT per changed NSG, whatever the parallelism; the same reads either way.
    assert parallel["calls_write"] == sequential["calls_write"] == 2
    assert parallel["calls_read"] == sequential["calls_read"]
    assert "2 nsg.put" in parallel["note"]
    assert rows[f"apply writes x2, {bench_azure.WORKERS} workers"]["calls_write"] == 2

    paged = _check(bench_azure.run(5, repeats=1, apply=False, page_size=2))
    # 5 NSGs at 2 a page: the one list of the resource group plus two nextLink pages.
    assert paged["plan"]["calls_read"] == 3
    assert "3 nsg.list" in paged["plan"]["note"] and "minimum 3" in paged["plan"]["note"]
