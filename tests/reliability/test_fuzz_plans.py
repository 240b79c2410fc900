"""Fuzz: hostile saved plan files through ``apply`` (and ``show``), against a recording endpoint.

The plans start from a valid plan of the config; mutants keep a correct checksum half of the
time (anyone can recompute a SHA-256), so they reach the checks behind it. Either a plan is
applied or one clear line refuses it — never a traceback, never "internal error" — and a refused
plan never opens a connection to the cloud endpoint.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from portsync import api
from portsync.config import load_config
from portsync.errors import InputError
from portsync.model import Endpoint, PortRange, Protocol, TargetRule
from portsync.ops import CreateRuleOp, DeleteRuleOp, GroupOps, Plan, _checksum
from tests.recording import recording_endpoint
from tests.reliability.hostile import (
    Harness,
    config_data,
    dump,
    mutate_data,
    mutate_text,
    seeds,
    special_file,
    write,
)

PLANS = 600


def _base_plan(config: Path) -> dict[str, Any]:
    loaded = load_config(config)
    rule = TargetRule(
        target="sg-0aaa",
        role="control-plane",
        protocol=Protocol("tcp"),
        ports=PortRange(6443, 6443),
        peer=Endpoint.parse("cidr:203.0.113.0/24"),
        description="portsync: kube-apiserver",
        owned=True,
    )
    stale = TargetRule(
        target="sg-0aaa",
        role="control-plane",
        protocol=Protocol("tcp"),
        ports=PortRange(22, 22),
        peer=Endpoint.parse("cidr:0.0.0.0/0"),
        description="portsync: old",
        owned=True,
    )
    group = GroupOps(
        cluster="fuzz-aws",
        provider="aws",
        target="sg-0aaa",
        role="control-plane",
        ops=(CreateRuleOp(rule, "missing"), DeleteRuleOp(stale, "not wanted")),
        fingerprint="0" * 16,
        live_count=1,
    )
    plan = Plan(
        mode=loaded.config.mode,
        config_digest=api.config_digest(loaded, api.synthesize(loaded)),
        created_at="2026-01-01T00:00:00Z",
        groups=(group,),
    )
    return plan.to_dict()


def _offline_refused(path: Path, config: Path) -> bool:
    """Whether apply can refuse the plan without the cloud: unreadable, or another config."""
    try:
        plan = Plan.load(str(path))
        loaded = load_config(config)
        if plan.config_digest != api.config_digest(loaded, api.synthesize(loaded)):
            return True
        api.select_clusters(loaded, plan.clusters())
    except InputError:
        return True
    return False


@pytest.mark.slow
def test_fuzz_hostile_plan_files(tmp_path: Path, fast_cli: None) -> None:
    with recording_endpoint(tmp_path) as endpoint:
        harness = Harness(endpoint)
        data = config_data(endpoint)
        data["clusters"] = [data["clusters"][0]]
        config = write(tmp_path / "portsync.yaml", dump(data))
        base = _base_plan(config)
        inputs = seeds(PLANS, 200_000)
        for seed in inputs:
            rng = random.Random(seed)
            path = tmp_path / f"p{seed}.json"
            roll = rng.random()
            if roll < 0.05:
                path = special_file(rng, tmp_path, f"p{seed}.json")
            elif roll < 0.8:
                body = mutate_data(rng, base, rng.randint(1, 3))
                if isinstance(body, dict) and rng.random() < 0.5:
                    body["checksum"] = _checksum(body)
                write(path, json.dumps(body, ensure_ascii=False))
            else:
                write(path, mutate_text(rng, json.dumps(base, indent=1), rng.randint(1, 3)))
            label = f"seed {seed}"
            harness._run(["show", str(path)], label=label, may_connect=False)
            harness.runs += 1
            args = ["--config", str(config), "apply", str(path), "--auto-approve"]
            if _offline_refused(path, config):
                harness.rejected += 1
                harness._run(args, label=label, may_connect=False)
            else:
                harness.accepted += 1
                if harness.reached_cloud < harness.cloud_sample:
                    harness._run(args, label=label, may_connect=True)
    print(harness.figures())
    assert harness.runs == len(inputs)
    assert not harness.failures, "\n\n".join(harness.failures[:5])
    assert harness.rejected > len(inputs) // 2
    assert harness.accepted > 5
    assert harness.reached_cloud >= 1
