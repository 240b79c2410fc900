"""Client-side pacing: every GCP and Azure call draws from the run's shared buckets."""

from __future__ import annotations

from pathlib import Path

import yaml

from portsync import api
from portsync.config import load_config
from portsync.provider import Settings
from portsync.providers.azure.demo import AzureDemo
from portsync.providers.gcp.demo import GcpDemo
from portsync.ratelimit import LimiterRegistry


def _config(tmp_path: Path, cluster: dict[str, object]) -> Path:
    path = tmp_path / "portsync.yaml"
    path.write_text(yaml.safe_dump({"sources": {"all": ["203.0.113.0/24"]}, "clusters": [cluster]}))
    return path


def test_gcp_writes_draw_one_token_each_from_the_project_bucket(tmp_path: Path) -> None:
    demo = GcpDemo()
    try:
        cluster = demo.start(tmp_path)
        registry = LimiterRegistry()
        scope = ("gcp", cluster["project"], cluster["endpoint"])
        writes = registry.get((*scope, "write"), rate=0.001, burst=1000)
        api.apply(load_config(_config(tmp_path, cluster)), settings=Settings(limiters=registry))
        calls = demo.emulator.calls
        counted = sum(
            calls[k]
            for k in ("firewalls.insert", "firewalls.patch", "firewalls.update", "firewalls.delete")
        )
        assert counted > 0
        assert round(1000 - writes.available) == counted
    finally:
        demo.stop()


def test_azure_puts_draw_one_token_each_from_the_subscription_bucket(tmp_path: Path) -> None:
    demo = AzureDemo()
    try:
        cluster = demo.start(tmp_path)
        registry = LimiterRegistry()
        scope = ("azure", cluster["subscription_id"], cluster["endpoint"])
        writes = registry.get((*scope, "write"), rate=0.001, burst=1000)
        reads = registry.get((*scope, "read"), rate=0.001, burst=1000)
        api.apply(load_config(_config(tmp_path, cluster)), settings=Settings(limiters=registry))
        assert demo.emulator is not None
        assert round(1000 - writes.available) == demo.emulator.calls["nsg.put"] == 2
        assert round(1000 - reads.available) >= 2  # plan and verification lists
    finally:
        demo.stop()
