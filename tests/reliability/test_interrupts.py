"""Interrupts are clean: a real SIGINT or SIGTERM sent to ``portsync apply`` (a child process)
while it writes to a slowed-down GCP emulator starts no new write, lets the writes in flight
finish, says how much was applied and exits 130; Ctrl-C at the ``[y/N]`` prompt changes nothing
and exits 130. Every wait is on an event (the emulator's observer, the prompt on the terminal),
never a sleep.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from portsync import api
from portsync.config import load_config
from portsync.providers.gcp.demo import PROJECT, drift
from portsync.providers.gcp.emulator import GcpEmulator

WRITES = ("firewalls.insert", "firewalls.patch", "firewalls.update", "firewalls.delete")


@pytest.fixture(scope="module")
def emulator() -> Iterator[GcpEmulator]:
    with GcpEmulator() as emu:
        yield emu


def _config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "portsync.yaml"
    cluster = {
        "name": "int-gcp",
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
    path.write_text(yaml.safe_dump({"sources": {"all": ["203.0.113.0/24"]}, "clusters": [cluster]}))
    return path


def _writes(emu: GcpEmulator) -> int:
    return sum(emu.calls[name] for name in WRITES)


def _fresh(emu: GcpEmulator) -> None:
    emu.reset()
    emu.seed(PROJECT, drift(PROJECT))


def _child(config: Path, *args: str, **kwargs: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
        [sys.executable, "-m", "portsync", "--config", str(config), "apply", *args], **kwargs
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_apply_stops_between_writes_and_reports(
    emulator: GcpEmulator, tmp_path: Path, signum: int
) -> None:
    config = _config(tmp_path, emulator.url)
    _fresh(emulator)
    total = api.plan(load_config(config)).summary()
    changes = total["add"] + total["update"] + total["remove"]
    api.apply(load_config(config))
    all_writes = _writes(emulator)
    assert all_writes >= 4

    _fresh(emulator)
    # Slow enough that the child has writes left to start when the signal lands.
    emulator.latency = 0.2
    child: dict[str, subprocess.Popen[bytes]] = {}
    launched = threading.Event()
    signalled = threading.Event()
    at_signal: list[int] = []

    def observe(project: str, firewalls: object) -> None:
        if not signalled.is_set():
            launched.wait(30)
            at_signal.append(_writes(emulator))
            os.kill(child["p"].pid, signum)
            signalled.set()

    remove = emulator.add_observer(observe)
    try:
        child["p"] = _child(
            config, "--auto-approve", stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        launched.set()
        _out, err = child["p"].communicate(timeout=120)
    finally:
        remove()
        emulator.latency = 0.0
    text = err.decode()
    assert signalled.is_set()
    assert child["p"].returncode == 130, text
    assert "stopping: no new write starts" in text
    found = re.search(
        r"interrupted: (\d+) of (\d+) changes applied \(.*\); run portsync plan", text
    )
    assert found, text
    applied, planned = int(found[1]), int(found[2])
    assert planned == changes
    assert applied < planned
    # No new write started after the signal: at most the ones in flight (one per target) ended.
    assert _writes(emulator) - at_signal[0] <= 2
    assert _writes(emulator) < all_writes
    # What remains is what plan shows; the next apply converges.
    remaining = api.plan(load_config(config)).summary()
    assert 0 < remaining["add"] + remaining["update"] + remaining["remove"] <= planned - applied
    api.apply(load_config(config))
    assert api.plan(load_config(config)).is_empty()


def test_ctrl_c_at_the_prompt_changes_nothing_and_exits_130(
    emulator: GcpEmulator, tmp_path: Path
) -> None:
    config = _config(tmp_path, emulator.url)
    _fresh(emulator)
    before = emulator.firewalls(PROJECT)
    controller, terminal = pty.openpty()
    try:
        proc = _child(config, stdin=terminal, stdout=terminal, stderr=terminal)
        os.close(terminal)
        seen = b""
        while b"[y/N]" not in seen:
            ready, _, _ = select.select([controller], [], [], 60)
            assert ready, f"no prompt: {seen.decode(errors='replace')}"
            chunk = os.read(controller, 4096)
            assert chunk, f"the child closed the terminal: {seen.decode(errors='replace')}"
            seen += chunk
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
        try:
            while select.select([controller], [], [], 1)[0]:
                chunk = os.read(controller, 4096)
                if not chunk:
                    break
                seen += chunk
        except OSError:  # the child's side closed: everything was read
            pass
    finally:
        os.close(controller)
    text = seen.decode(errors="replace")
    assert code == 130, text
    assert "cancelled, nothing changed" in text
    assert _writes(emulator) == 0
    assert emulator.firewalls(PROJECT) == before
