"""Property-based: random desired rule sets × random live states on the GCP emulator.

For every example: plan → apply → plan is empty; unmanaged firewalls are untouched; ``additive``
never removes; a second apply writes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portsync import api
from portsync.config import load_config
from portsync.providers.gcp.emulator import GcpEmulator
from portsync.providers.gcp.translate import network_url

PROJECT = "prop-project"
TAGS = {"control-plane": "k8s-cp", "worker": "k8s-node"}
CIDRS = ["10.0.0.0/8", "10.1.0.0/16", "192.0.2.0/24", "2001:db8::/32", "203.0.113.0/24"]
WRITES = ("firewalls.insert", "firewalls.patch", "firewalls.update", "firewalls.delete")

_ports = st.one_of(
    st.integers(1, 65535).map(str),
    st.tuples(st.integers(1, 40000), st.integers(0, 2000)).map(lambda t: f"{t[0]}-{t[0] + t[1]}"),
)
_peer = st.one_of(
    st.sampled_from(["self", "role:control-plane", "role:worker", "any", "load-balancers"]),
    st.sampled_from(CIDRS).map(lambda c: f"cidr:{c}"),
)
_extra_rule = st.fixed_dictionaries(
    {
        "role": st.sampled_from(list(TAGS)),
        "protocol": st.sampled_from(["tcp", "udp"]),
        "ports": _ports,
        "peer": _peer,
        "purpose": st.sampled_from(["app", "metrics", "x y"]),
    }
)


@st.composite
def _live_firewall(draw: st.DrawFn, index: int) -> dict[str, Any]:
    owned = draw(st.booleans())
    ports = draw(st.lists(_ports, min_size=1, max_size=3, unique=True))
    source = draw(st.one_of(st.sampled_from(CIDRS), st.sampled_from(list(TAGS.values()))))
    body: dict[str, Any] = {
        "name": f"portsync-live-{index}" if owned else f"user-rule-{index}",
        "description": "[portsync] " + "; ".join(f"{p} old" for p in ports) if owned else "by hand",
        "network": network_url(PROJECT, "default"),
        "allowed": [{"IPProtocol": draw(st.sampled_from(["tcp", "udp"])), "ports": ports}],
        "targetTags": [draw(st.sampled_from(list(TAGS.values())))],
    }
    if source.startswith("k8s"):
        body["sourceTags"] = [source]
    else:
        body["sourceRanges"] = [source]
    return body


_live = st.integers(0, 6).flatmap(
    lambda n: st.tuples(*[_live_firewall(i) for i in range(n)]).map(list)
)


@pytest.fixture(scope="module")
def emulator() -> Iterator[GcpEmulator]:
    emu = GcpEmulator()
    emu.start()
    yield emu
    emu.stop()


def _write_config(
    path: Path, url: str, extra: list[dict[str, Any]], mode: str, catalog: list[str]
) -> None:
    path.write_text(
        yaml.safe_dump(
            {
                "catalog": catalog,
                "mode": mode,
                "extra_rules": extra,
                "sources": {"all": ["198.51.100.0/24", "2001:db8:1::/48"]},
                "clusters": [
                    {
                        "name": "prop",
                        "provider": "gcp",
                        "project": PROJECT,
                        "endpoint": url,
                        "credentials": "anonymous",
                        "roles": {role: {"target_tag": tag} for role, tag in TAGS.items()},
                    }
                ],
            }
        )
    )


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    extra=st.lists(_extra_rule, max_size=6),
    live=_live,
    mode=st.sampled_from(["owned", "additive"]),
    catalog=st.sampled_from([[], ["kubernetes"]]),
)
def test_apply_random_states_converge_and_respect_ownership(
    emulator: GcpEmulator,
    tmp_path_factory: pytest.TempPathFactory,
    extra: list[dict[str, Any]],
    live: list[dict[str, Any]],
    mode: str,
    catalog: list[str],
) -> None:
    emulator.reset()
    emulator.seed(PROJECT, copy.deepcopy(live))
    path = tmp_path_factory.mktemp("prop") / "portsync.yaml"
    _write_config(path, emulator.url, extra, mode, catalog)
    loaded = load_config(path)
    before = {fw["name"]: fw for fw in emulator.firewalls(PROJECT)}

    api.apply(loaded, max_deletes=1000)
    after = {fw["name"]: fw for fw in emulator.firewalls(PROJECT)}
    assert api.plan(loaded).is_empty()

    for name, fw in before.items():
        if not name.startswith("portsync-"):
            assert after.get(name) == fw, f"unmanaged {name} changed"
        elif mode == "additive":
            assert name in after, f"additive mode removed {name}"

    emulator.reset_calls()
    api.apply(loaded, max_deletes=1000)
    assert sum(emulator.calls[w] for w in WRITES) == 0
