"""Property-based: random desired rule sets × random live NSGs on the Azure emulator.

For every example: plan → apply → plan is empty; rules portsync does not own (allow and deny,
inside and outside ``priority_band``) stay exactly as they were; ``additive`` never removes; a
second apply writes nothing.
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
from portsync.providers.azure.emulator import AzureEmulator
from tests.reliability.strategies import CIDRS, extra_rules, ports, write_config

#: Name stem of the rules the config's cluster ("prop") owns.
STEM = NamedOwners(prefix="portsync", owner="prop", fold_case=True).stem
SUB = "00000000-0000-0000-0000-0000000000aa"
RG = "prop-rg"
NSGS = {"control-plane": "cp-nsg", "worker": "node-nsg"}
PREFIXES = {
    "control-plane": ["10.0.1.0/24", "fd00:1::/64"],
    "worker": ["10.0.2.0/24", "fd00:2::/64"],
}

_extra_rule = extra_rules(list(NSGS))


@st.composite
def _live_rule(draw: st.DrawFn, index: int) -> tuple[str, dict[str, Any]]:
    """(NSG, security rule): portsync's own (name prefix and marker, inside the band) or someone
    else's (allow or deny, a priority inside or outside the band)."""
    role = draw(st.sampled_from(list(NSGS)))
    source = draw(st.sampled_from(CIDRS))
    v6 = ":" in source
    rule: dict[str, Any] = {
        "protocol": draw(st.sampled_from(["Tcp", "Udp"])),
        "sourcePortRange": "*",
        "destinationPortRange": draw(ports),
        "sourceAddressPrefix": source,
        "destinationAddressPrefix": PREFIXES[role][1 if v6 else 0],
        "direction": "Inbound",
    }
    if draw(st.booleans()):
        rule.update(
            name=f"{STEM}-live-{index}",
            description="[portsync] old",
            access="Allow",
            priority=1000 + 3 * index,
        )
    else:
        inside = draw(st.booleans())
        rule.update(
            name=f"user-rule-{index}",
            description="by hand",
            access=draw(st.sampled_from(["Allow", "Deny"])),
            priority=(1500 if inside else 200) + index,
        )
    return NSGS[role], rule


_live = st.integers(0, 6).flatmap(lambda n: st.tuples(*[_live_rule(i) for i in range(n)]).map(list))


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureEmulator]:
    emu = AzureEmulator(ca_out=tmp_path_factory.mktemp("ca") / "ca.pem")
    emu.start()
    yield emu
    emu.stop()


def _cluster(emu: AzureEmulator) -> dict[str, Any]:
    return {
        "provider": "azure",
        "subscription_id": SUB,
        "resource_group": RG,
        "endpoint": emu.base_url,
        "ca_bundle": emu.ca_bundle_path,
        "credentials": "anonymous",
        "polling_interval": 0.01,
        "roles": {
            role: {"nsg": nsg, "address_prefixes": PREFIXES[role]} for role, nsg in NSGS.items()
        },
    }


def _rules(emu: AzureEmulator) -> dict[str, dict[str, Any]]:
    """Every security rule by name, properties only (ids and etags are the NSG's business)."""
    out: dict[str, dict[str, Any]] = {}
    for nsg in NSGS.values():
        body = emu.get_nsg(SUB, RG, nsg) or {}
        for rule in body.get("properties", {}).get("securityRules", []):
            out[rule["name"]] = rule["properties"]
    return out


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    extra=st.lists(_extra_rule, max_size=6),
    live=_live,
    mode=st.sampled_from(["owned", "additive"]),
    catalog=st.sampled_from([[], ["kubernetes"]]),
)
def test_apply_random_states_converge_and_respect_ownership(
    emulator: AzureEmulator,
    tmp_path_factory: pytest.TempPathFactory,
    extra: list[dict[str, Any]],
    live: list[tuple[str, dict[str, Any]]],
    mode: str,
    catalog: list[str],
) -> None:
    for nsg in NSGS.values():
        emulator.seed_nsg(SUB, RG, nsg, rules=[copy.deepcopy(r) for n, r in live if n == nsg])
    path = tmp_path_factory.mktemp("prop") / "portsync.yaml"
    write_config(path, _cluster(emulator), extra, mode, catalog)
    loaded = load_config(path)
    before = _rules(emulator)

    # A random live state may hold owned rules no drawn rule matches: emptying is expected.
    api.apply(loaded, max_deletes=1000, allow_empty_target=True)
    after = _rules(emulator)
    assert api.plan(loaded).is_empty()

    for name, props in before.items():
        if name.startswith("user-rule-"):
            assert after.get(name) == props, f"unmanaged {name} changed"
        elif mode == "additive":
            assert name in after, f"additive mode removed {name}"

    emulator.calls.clear()
    api.apply(loaded, max_deletes=1000, allow_empty_target=True)
    assert emulator.calls["nsg.put"] == 0
