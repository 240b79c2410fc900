"""The demo clusters with ``catalog: [kubernetes, calico]`` on all three emulators.

Each cloud's demo emulator is started and seeded with drift as ``portsync demo`` does; the
config composes the Kubernetes table with Calico. AWS and GCP take Calico's default (IP-in-IP,
BGP); Azure NSGs cannot carry IP-in-IP, so the plan refuses it there and names the catalog option
to choose instead, and with ``encapsulation: vxlan`` every cloud converges.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from portsync import api
from portsync.config import load_config
from portsync.demo import DEMO_SOURCES
from portsync.errors import TranslationError
from portsync.providers.aws.demo import AwsDemo
from portsync.providers.azure.demo import AzureDemo
from portsync.providers.gcp.demo import GcpDemo

pytestmark = pytest.mark.slow


@pytest.fixture
def demo_clusters(tmp_path: Path) -> Iterator[dict[str, dict[str, Any]]]:
    clouds = {"aws": AwsDemo(), "gcp": GcpDemo(), "azure": AzureDemo()}
    started = []
    try:
        entries = {}
        for name, cloud in clouds.items():
            entries[name] = cloud.start(tmp_path)
            started.append(cloud)
        yield entries
    finally:
        for cloud in started:
            cloud.stop()


def _config(tmp_path: Path, entries: list[dict[str, Any]], catalog: list[Any]) -> Path:
    sources: dict[str, list[str]] = {k: list(v) for k, v in DEMO_SOURCES.items()}
    clusters = []
    for entry in entries:
        entry = dict(entry)
        for key, values in entry.pop("sources", {}).items():
            sources.setdefault(key, []).extend(values)
        clusters.append(entry)
    path = tmp_path / "portsync.yaml"
    config = {"catalog": catalog, "mode": "owned", "sources": sources, "clusters": clusters}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _calico_ports(plan: Any) -> set[tuple[str, str, str]]:
    return {
        (g.provider, op.rule.protocol.value, op.rule.ports_text)
        for g, op in plan.changes
        if op.action.value == "add" and "Calico" in op.rule.description
    }


def test_kubernetes_and_calico_converge_on_all_three_emulators(
    demo_clusters: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    # Calico's defaults on AWS and GCP.
    path = _config(tmp_path, [demo_clusters["aws"], demo_clusters["gcp"]], ["kubernetes", "calico"])
    loaded = load_config(path)
    first = api.plan(loaded)
    added = _calico_ports(first)
    assert {("aws", "tcp", "179"), ("gcp", "tcp", "179")} <= added
    api.apply(loaded)
    assert api.plan(loaded).is_empty()

    # Azure refuses IP-in-IP and says which option to choose instead.
    path = _config(tmp_path, [demo_clusters["azure"]], ["kubernetes", "calico"])
    with pytest.raises(TranslationError) as caught:
        api.plan(load_config(path))
    message = str(caught.value)
    assert "ipip" in message
    assert (
        "ipip comes from catalog calico (encapsulation: ipip): choose encapsulation: vxlan or "
        "none instead, e.g. catalog: [..., {calico: {encapsulation: vxlan}}]"
    ) in message.splitlines()

    # With VXLAN, every cloud converges, Azure included.
    vxlan = ["kubernetes", {"calico": {"encapsulation": "vxlan"}}]
    path = _config(tmp_path, list(demo_clusters.values()), vxlan)
    loaded = load_config(path)
    added = _calico_ports(api.plan(loaded))
    assert ("azure", "udp", "4789") in added
    assert not any(port == "179" for _provider, _protocol, port in added)
    api.apply(loaded, max_deletes=100)  # the AWS and GCP BGP rules go
    assert api.plan(loaded).is_empty()
