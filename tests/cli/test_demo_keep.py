"""``portsync demo --keep``: the printed instructions work as printed, from another process."""

from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import pytest

pytestmark = pytest.mark.slow

# Bounds on waiting for a child process, so a broken demo fails the test instead of hanging it.
_PATIENCE = 600


def _lines(stream: object, into: queue.Queue[str | None]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put(line)
    into.put(None)


def _portsync(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portsync", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=_PATIENCE,
        check=False,
    )


def test_demo_keep_prints_an_export_line_that_points_portsync_at_the_running_emulators(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path), "NO_COLOR": "1"}
    env.pop("PYTHONUNBUFFERED", None)  # the instructions must arrive through a pipe as they are
    demo = subprocess.Popen(
        [sys.executable, "-m", "portsync", "demo", "--keep"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_lines, args=(demo.stdout, lines), daemon=True).start()
    try:
        seen: list[str] = []
        while not any("AWS_ENDPOINT_URL=" in line for line in seen):
            line = lines.get(timeout=_PATIENCE)
            assert line is not None, "demo --keep ended early:\n" + "".join(seen)
            seen.append(line)
        text = "".join(seen)
        assert "Ctrl-C" in text
        # The demo's lifeline (one per cloud) is re-checked after every write of the apply.
        flat = " ".join(text.split())  # however the console wrapped it
        held = re.search(r"; 3 lifelines held after every write \((\d+) read back\)", flat)
        assert held is not None and int(held[1]) >= 3, text
        (export,) = [x.strip() for x in seen if x.strip().startswith("export PORTSYNC_CONFIG=")]
        config = shlex.split(export.removeprefix("export "))[0].partition("=")[2]
        assert Path(config).is_file()

        # another terminal: only the exported variable
        other = {**env, "PORTSYNC_CONFIG": config}
        plan = _portsync("plan", "--detailed-exitcode", env=other)
        assert plan.returncode == 0, plan.stderr  # the demo left every cloud in sync
        assert "No changes" in plan.stdout
        assert {"demo-aws", "demo-gcp", "demo-azure"} <= set(plan.stdout.split())
        audit = _portsync("audit", "-o", "json", env=other)
        assert audit.returncode == 0, audit.stderr
        explain = _portsync("explain", "203.0.113.7", "control-plane:6443/tcp", env=other)
        assert explain.returncode == 0, explain.stderr
        assert "allowed" in explain.stdout.lower()

        # the AWS variables reach moto with boto3 as printed
        (aws_line,) = [x for x in seen if "AWS_ENDPOINT_URL=" in x]
        aws_env = dict(item.split("=", 1) for item in shlex.split(aws_line)[1:])
        ec2 = boto3.client(
            "ec2",
            endpoint_url=aws_env["AWS_ENDPOINT_URL"],
            region_name=aws_env["AWS_DEFAULT_REGION"],
            aws_access_key_id=aws_env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=aws_env["AWS_SECRET_ACCESS_KEY"],
        )
        names = {g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]}
        assert "k8s-worker" in names
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            code = demo.wait(timeout=_PATIENCE)
        except subprocess.TimeoutExpired:
            demo.kill()
            raise
    assert code == 130
    assert not Path(config).exists()  # Ctrl-C removed the demo config, as printed
