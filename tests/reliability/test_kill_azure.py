"""Azure: the apply process killed right after each NSG write, then run again.

The emulator's observer sees every committed NSG. After each kill: no wanted rule that was present
before went missing at any moment, the unmanaged allow rule and the policy deny rule stayed exactly
as they were, and a second apply converges to a clean plan.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from portsync import api
from portsync.config import load_config
from portsync.providers.azure.demo import RESOURCE_GROUP, SUBSCRIPTION, AzureDemo, drift
from portsync.providers.azure.emulator import AzureEmulator

Key = tuple[str, str, str, str, str]
FOREIGN = ("allow-ssh", "policy-deny-telnet")


def _allow_keys(nsg: dict[str, Any]) -> set[Key]:
    keys: set[Key] = set()
    for rule in nsg["properties"].get("securityRules", []):
        props = rule["properties"]
        if props["access"] != "Allow" or props["direction"] != "Inbound":
            continue
        ports = props.get("destinationPortRanges") or [props.get("destinationPortRange")]
        sources = props.get("sourceAddressPrefixes") or [props.get("sourceAddressPrefix")]
        targets = props.get("destinationAddressPrefixes") or [props.get("destinationAddressPrefix")]
        for port in ports:
            for source in sources:
                for target in targets:
                    keys.add((nsg["name"], props["protocol"], str(port), str(source), str(target)))
    return keys


def _foreign(nsg: dict[str, Any]) -> dict[str, Any]:
    return {
        r["name"]: r["properties"]
        for r in nsg["properties"].get("securityRules", [])
        if r["name"] in FOREIGN
    }


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[AzureEmulator, Path, dict[str, Any]]]:
    demo = AzureDemo()
    cluster = demo.start(tmp_path)
    assert demo.emulator is not None
    config = tmp_path / "portsync.yaml"
    config.write_text(
        yaml.safe_dump({"sources": {"all": ["203.0.113.0/24"]}, "clusters": [cluster]})
    )
    yield demo.emulator, config, cluster
    demo.stop()


def _reseed(emu: AzureEmulator) -> None:
    emu.clear()
    for nsg, rules in drift().items():
        emu.seed_nsg(SUBSCRIPTION, RESOURCE_GROUP, nsg, rules=rules)


def _state(emu: AzureEmulator) -> dict[str, dict[str, Any]]:
    return {n["name"]: n for n in emu.nsgs()}


def _run_killed_after(emu: AzureEmulator, config: Path, k: int) -> tuple[int, list[dict[str, Any]]]:
    """Run apply in a child process and SIGKILL it right after the ``k``-th committed NSG."""
    snapshots: list[dict[str, Any]] = []
    child: dict[str, subprocess.Popen[bytes]] = {}
    started = threading.Event()
    lock = threading.Lock()
    count = 0

    def observe(nsg: dict[str, Any]) -> None:
        nonlocal count
        with lock:
            count += 1
            mine = count
        snapshots.append(nsg)
        if mine == k:
            started.wait(10)
            os.kill(child["p"].pid, signal.SIGKILL)

    emu.add_observer(observe)
    try:
        child["p"] = subprocess.Popen(
            [sys.executable, "-m", "portsync", "--config", str(config), "apply", "--auto-approve"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.set()
        code = child["p"].wait(timeout=120)
    finally:
        emu.remove_observer(observe)
    return code, snapshots


def test_apply_killed_after_each_nsg_write_never_breaks_and_converges(
    world: tuple[AzureEmulator, Path, dict[str, Any]],
) -> None:
    emu, config, _cluster = world
    foreign_before = {name: _foreign(nsg) for name, nsg in _state(emu).items()}
    api.apply(load_config(config))
    wanted = {name: _allow_keys(nsg) for name, nsg in _state(emu).items()}
    assert all(wanted.values())
    total = len(wanted)  # one PUT per NSG

    for k in range(1, total + 1):
        _reseed(emu)
        before = {name: _allow_keys(nsg) & wanted[name] for name, nsg in _state(emu).items()}
        code, snapshots = _run_killed_after(emu, config, k)
        assert code == -signal.SIGKILL, f"apply was not killed after NSG write {k}"
        assert emu.observer_errors == []
        assert len(snapshots) >= k
        for nsg in snapshots:
            name = nsg["name"]
            present = _allow_keys(nsg)
            assert before[name] <= present, f"kill after {k}: {name} lost {before[name] - present}"
            assert _foreign(nsg) == foreign_before[name]
        api.apply(load_config(config))
        assert api.plan(load_config(config)).is_empty()
        state = _state(emu)
        assert {name: _allow_keys(nsg) for name, nsg in state.items()} == wanted
        assert {name: _foreign(nsg) for name, nsg in state.items()} == foreign_before
