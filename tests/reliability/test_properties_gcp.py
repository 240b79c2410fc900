"""Property-based: random desired rule sets × random live states on the GCP emulator.

For every example: plan → apply → plan is empty; unmanaged firewalls are untouched; ``additive``
never removes; a second apply writes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portsync import api
from portsync.config import load_config
from portsync.owners import NamedOwners
from portsync.providers.gcp.emulator import GcpEmulator
from portsync.providers.gcp.translate import network_url
from tests.reliability.strategies import CIDRS, extra_rules, ports, write_config

PROJECT = "prop-project"
#: Name stem of the firewalls the config's cluster ("prop") owns.
STEM = NamedOwners(prefix="portsync", owner="prop").stem
TAGS = {"control-plane": "k8s-cp", "worker": "k8s-node"}
WRITES = ("firewalls.insert", "firewalls.patch", "firewalls.update", "firewalls.delete")

_extra_rule = extra_rules(list(TAGS))


@st.composite
def _live_firewall(draw: st.DrawFn, index: int) -> dict[str, Any]:
    owned = draw(st.booleans())
    texts = draw(st.lists(ports, min_size=1, max_size=3, unique=True))
    source = draw(st.one_of(st.sampled_from(CIDRS), st.sampled_from(list(TAGS.values()))))
    body: dict[str, Any] = {
        "name": f"{STEM}-live-{index}" if owned else f"user-rule-{index}",
        "description": "[portsync] " + "; ".join(f"{p} old" for p in texts) if owned else "by hand",
        "network": network_url(PROJECT, "default"),
        "allowed": [{"IPProtocol": draw(st.sampled_from(["tcp", "udp"])), "ports": texts}],
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


def _cluster(url: str) -> dict[str, Any]:
    return {
        "provider": "gcp",
        "project": PROJECT,
        "endpoint": url,
        "credentials": "anonymous",
        "roles": {role: {"target_tag": tag} for role, tag in TAGS.items()},
    }


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
    write_config(path, _cluster(emulator.url), extra, mode, catalog)
    loaded = load_config(path)
    before = {fw["name"]: fw for fw in emulator.firewalls(PROJECT)}

    # A random live state may hold owned rules no drawn rule matches: emptying is expected.
    api.apply(loaded, max_deletes=1000, allow_empty_target=True)
    after = {fw["name"]: fw for fw in emulator.firewalls(PROJECT)}
    assert api.plan(loaded).is_empty()

    for name, fw in before.items():
        if not name.startswith("portsync-"):
            assert after.get(name) == fw, f"unmanaged {name} changed"
        elif mode == "additive":
            assert name in after, f"additive mode removed {name}"

    emulator.reset_calls()
    api.apply(loaded, max_deletes=1000, allow_empty_target=True)
    assert sum(emulator.calls[w] for w in WRITES) == 0
