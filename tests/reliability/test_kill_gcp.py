"""GCP: the apply process killed after every single write, then run again.

An observer in the emulator sees every intermediate state. After each kill: no wanted rule that
was present before went missing at any moment (make before break), the unmanaged firewall was
never touched, and a second apply converges to a clean plan.
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
from portsync.providers.gcp.demo import PROJECT, drift
from portsync.providers.gcp.emulator import GcpEmulator

Key = tuple[str, str, str, str]
WRITES = ("firewalls.insert", "firewalls.patch", "firewalls.update", "firewalls.delete")


def _allowed_keys(firewalls: list[dict[str, Any]]) -> set[Key]:
    keys = set()
    for fw in firewalls:
        if fw.get("denied") or fw.get("disabled"):
            continue
        sources = list(fw.get("sourceRanges", [])) + [f"tag:{t}" for t in fw.get("sourceTags", [])]
        for target in fw.get("targetTags", []):
            for allowed in fw.get("allowed", []):
                for port in allowed.get("ports", ["all"]):
                    for source in sources:
                        keys.add((target, allowed["IPProtocol"], port, source))
    return keys


@pytest.fixture(scope="module")
def emulator() -> Iterator[GcpEmulator]:
    emu = GcpEmulator()
    emu.start()
    yield emu
    emu.stop()


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "portsync.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "sources": {"all": ["203.0.113.0/24", "2001:db8::/32"]},
                "clusters": [
                    {
                        "name": "kill-gcp",
                        "provider": "gcp",
                        "project": PROJECT,
                        "endpoint": url,
                        "credentials": "anonymous",
                        "max_workers": 1,
                        "roles": {
                            "control-plane": {"target_tag": "k8s-cp"},
                            "worker": {"target_tag": "k8s-node"},
                        },
                    }
                ],
            }
        )
    )
    return path


def _writes(emu: GcpEmulator) -> int:
    return sum(emu.calls[name] for name in WRITES)


def _run_killed_after(
    emu: GcpEmulator, config: Path, kill_after: int
) -> tuple[int, list[list[dict[str, Any]]]]:
    """Run apply in a child process and SIGKILL it right after its ``kill_after``-th write."""
    snapshots: list[list[dict[str, Any]]] = []
    child: dict[str, subprocess.Popen[bytes]] = {}
    ready = threading.Event()
    changes = 0

    def observe(project: str, rules: list[dict[str, Any]]) -> None:
        nonlocal changes
        snapshots.append(rules)
        changes += 1
        if changes == kill_after:
            ready.wait(10)
            os.kill(child["p"].pid, signal.SIGKILL)

    remove = emu.add_observer(observe)
    try:
        child["p"] = subprocess.Popen(
            [sys.executable, "-m", "portsync", "--config", str(config), "apply", "--auto-approve"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        ready.set()
        child["p"].wait(timeout=120)
    finally:
        remove()
    return child["p"].returncode, snapshots


def test_apply_killed_after_each_write_never_breaks_and_converges(
    emulator: GcpEmulator, tmp_path: Path
) -> None:
    config = _config(tmp_path, emulator.url)
    # A clean run first, to learn how many writes the whole apply takes.
    emulator.reset()
    emulator.seed(PROJECT, drift(PROJECT, owner="kill-gcp"))
    initial = emulator.firewalls(PROJECT)
    loaded = load_config(config)
    api.apply(loaded)
    total_writes = _writes(emulator)
    assert total_writes >= 5
    wanted = _allowed_keys(emulator.firewalls(PROJECT))
    ssh = next(fw for fw in initial if fw["name"] == "allow-ssh")

    outcomes = []
    for kill_after in range(1, total_writes + 1):
        emulator.reset()
        emulator.seed(PROJECT, drift(PROJECT, owner="kill-gcp"))
        before = _allowed_keys(emulator.firewalls(PROJECT)) & wanted
        code, snapshots = _run_killed_after(emulator, config, kill_after)
        assert code == -signal.SIGKILL, f"apply was not killed after write {kill_after}"
        for snapshot in snapshots:
            present = _allowed_keys(snapshot)
            assert before <= present, f"kill after {kill_after}: lost {before - present}"
            assert any(
                fw["name"] == "allow-ssh" and fw["sourceRanges"] == ssh["sourceRanges"]
                for fw in snapshot
            )
        # The next run converges from wherever the killed one stopped.
        api.apply(load_config(config))
        assert api.plan(load_config(config)).is_empty()
        assert _allowed_keys(emulator.firewalls(PROJECT)) >= wanted
        outcomes.append((kill_after, len(snapshots)))
    assert len(outcomes) == total_writes
