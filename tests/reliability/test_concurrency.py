"""Two applies at once on the same targets: on GCP both converge; on Azure the etags let each NSG
be written by one of them only, and the other is refused for that NSG, never overwriting it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from portsync import api
from portsync.config import load_config
from portsync.errors import ApplyError, ConflictError, StalePlanError
from portsync.ops import Plan
from portsync.providers.azure.demo import AzureDemo
from portsync.providers.gcp.demo import GcpDemo


def _both_apply(config: Path) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        try:
            api.apply(load_config(config))
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def _config(tmp_path: Path, cluster: dict[str, Any]) -> Path:
    path = tmp_path / "portsync.yaml"
    path.write_text(yaml.safe_dump({"sources": {"all": ["203.0.113.0/24"]}, "clusters": [cluster]}))
    return path


def test_two_concurrent_applies_on_azure_never_overwrite_each_other(tmp_path: Path) -> None:
    demo = AzureDemo()
    try:
        config = _config(tmp_path, demo.start(tmp_path))
        errors = _both_apply(config)
        # Whichever PUT of an NSG comes second carries a stale If-Match: refused (412), never
        # composed again over the other apply's rules.
        for error in errors:
            assert isinstance(error, ApplyError), error
            assert isinstance(error.__cause__, ConflictError), error
            assert "plan" in (error.__cause__.hint or "")
        assert api.plan(load_config(config)).is_empty()
    finally:
        demo.stop()


def test_two_concurrent_applies_on_gcp_both_converge(tmp_path: Path) -> None:
    demo = GcpDemo()
    try:
        config = _config(tmp_path, demo.start(tmp_path))
        assert _both_apply(config) == []
        assert api.plan(load_config(config)).is_empty()
    finally:
        demo.stop()


def test_plan_made_before_another_apply_is_refused_as_stale(tmp_path: Path) -> None:
    demo = AzureDemo()
    try:
        config = _config(tmp_path, demo.start(tmp_path))
        saved = tmp_path / "plan.json"
        saved.write_text(api.plan(load_config(config)).to_json())
        api.apply(load_config(config))  # someone else's apply lands first
        with pytest.raises(StalePlanError, match="stale"):
            api.apply(load_config(config), saved=Plan.load(str(saved)))
    finally:
        demo.stop()
