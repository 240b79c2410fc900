"""The lifeline scenario every cloud runs (tests/providers/*/test_*_lifelines.py).

A CI range reaches the API server because ``sources.all`` holds it. The lifeline names that
flow. Dropping the range from ``sources.all`` would make the plan remove the rule that carries the
lifeline, so the plan is refused, naming the write that cuts it, and nothing is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from portsync import api
from portsync.config import load_config
from portsync.lifelines import LifelineCut

OTHER = "203.0.113.0/24"
CI = "198.51.100.0/24"
NEW = "192.0.2.128/25"
#: A second rule from "All" on the control plane, so the CI range's removals are two writes.
EXTRA = [{"role": "control-plane", "protocol": "tcp", "ports": 9443, "peer": "any"}]
LIFELINES = [
    {"name": "ci -> api", "from": f"cidr:{CI}", "to": "control-plane", "port": 6443},
    {"name": "bastion -> ssh", "from": "cidr:192.0.2.0/24", "to": "worker", "port": 22},
]


def _statuses(config: Path) -> dict[tuple[str, str], str]:
    plan = api.plan(load_config(config))
    return {(g.role, s.name): s.status for g in plan.groups for s in g.lifelines}


def _fingerprints(config: Path) -> dict[str, str]:
    return {g.target: g.fingerprint for g in api.plan(load_config(config)).groups}


def run(write_config: Callable[..., Path], sources: Callable[[list[str]], dict[str, Any]]) -> None:
    """``write_config(**top)`` writes the world's config; ``sources(all)`` the sources key."""
    config = write_config(extra_rules=EXTRA, sources=sources([OTHER, CI]), lifelines=LIFELINES)
    assert _statuses(config) == {
        ("control-plane", "ci -> api"): "opened",
        ("worker", "bastion -> ssh"): "closed",
    }
    api.apply(load_config(config))
    assert _statuses(config) == {
        ("control-plane", "ci -> api"): "held",
        ("worker", "bastion -> ssh"): "closed",
    }
    before = _fingerprints(write_config(extra_rules=EXTRA, sources=sources([OTHER])))

    # The CI range swapped for another: additions first, then removals, and the first removal
    # (6443 from the CI range) cuts the lifeline although later writes follow.
    config = write_config(extra_rules=EXTRA, sources=sources([OTHER, NEW]), lifelines=LIFELINES)
    with pytest.raises(LifelineCut) as caught:
        api.plan(load_config(config))
    found = re.search(
        r"lifeline 'ci -> api' is cut after write (\d+) of (\d+) on", str(caught.value)
    )
    assert found is not None, caught.value
    step, total = int(found[1]), int(found[2])
    assert 1 < step < total, caught.value
    assert f"remove tcp 6443 from cidr:{CI}" in str(caught.value)

    config = write_config(extra_rules=EXTRA, sources=sources([OTHER]), lifelines=LIFELINES)
    with pytest.raises(LifelineCut, match=r"lifeline 'ci -> api' is cut after write \d+ of \d+ on"):
        api.plan(load_config(config))
    with pytest.raises(LifelineCut):
        api.apply(load_config(config), max_deletes=100)

    # Nothing was written; without the lifeline the same change is planned.
    config = write_config(extra_rules=EXTRA, sources=sources([OTHER]))
    assert _fingerprints(config) == before
    assert not api.plan(load_config(config)).is_empty()
