"""The writes GCP's compile returns are exactly the calls apply sends: recorded where they
arrive (at the emulator, after the real google-cloud-compute client turned them into HTTP), on a
state that needs an insert, a patch of an existing firewall, a replace and a delete."""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from portsync import api
from portsync.config import load_config
from portsync.demo import DEMO_SOURCES
from portsync.provider import Settings
from portsync.providers.gcp import translate
from portsync.providers.gcp.emulator import GcpEmulator
from portsync.writes import Write

pytest.importorskip("google.cloud.compute_v1", reason="needs portsync[gcp]")

MUTATIONS = ("firewalls.insert", "firewalls.patch", "firewalls.update", "firewalls.delete")
CP_TAG, NODE_TAG = "k8s-cp", "k8s-node"


Call = tuple[str, str, Any]
"""(method id, firewall name, JSON body, or None for a delete): one mutation as received."""


@pytest.fixture
def received(gcp_emulator: GcpEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Call]]:
    """Every mutation the emulator answers, recorded as it arrives (before it is validated)."""
    calls: list[Call] = []
    handle = gcp_emulator._handle

    def recording(method: str, target: str, body: bytes) -> Any:
        route, params = gcp_emulator._route(method, urllib.parse.urlsplit(target).path)
        if route is not None and route.method_id in MUTATIONS:
            name = params.get("firewall") or json.loads(body or b"{}").get("name", "")
            calls.append((route.method_id, name, json.loads(body) if body else None))
        return handle(method, target, body)

    monkeypatch.setattr(gcp_emulator, "_handle", recording)
    yield calls


def _config(path: Path, emulator: GcpEmulator, project: str, **top: Any) -> Path:
    cluster = {
        "name": "prod-gcp",
        "provider": "gcp",
        "project": project,
        "endpoint": emulator.url,
        "credentials": "anonymous",
        "roles": {"control-plane": {"target_tag": CP_TAG}, "worker": {"target_tag": NODE_TAG}},
    }
    data = {"sources": {"all": list(DEMO_SOURCES["all"])}, "clusters": [cluster], **top}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _compiled(path: Path) -> tuple[Write, ...]:
    """The writes of a fresh plan, compiled with the provider's own verbs from its own read."""
    loaded = load_config(path)
    settings = Settings(mode=loaded.config.mode, fleet=tuple(loaded.config.clusters))
    session = api.Session(loaded, settings)
    plan = api.plan(loaded, settings=settings, session=session)
    provider: Any = session.provider(loaded.config.clusters[0])
    snapshot = provider.read(provider.targets())
    writes: tuple[Write, ...] = provider.compile(plan.groups, snapshot)
    return writes


def _as_call(write: Write) -> Call:
    body = None if write.method == "delete" else dict(write.body)
    return (f"firewalls.{write.method}", write.target, body)


def _canonical(calls: list[Call]) -> list[str]:
    return sorted(json.dumps(c, sort_keys=True) for c in calls)


def test_apply_sends_exactly_the_compiled_writes(
    gcp_emulator: GcpEmulator, gcp_project: str, tmp_path: Path, received: list[Call]
) -> None:
    vxlan = {"role": "worker", "protocol": "udp", "ports": 4789, "peer": "self", "purpose": "vx"}
    path = _config(tmp_path / "portsync.yaml", gcp_emulator, gcp_project, extra_rules=[vxlan])
    api.apply(load_config(path))
    live = {fw["name"]: fw for fw in gcp_emulator.firewalls(gcp_project)}
    # Drift on portsync's own firewalls: a port someone removed (a patch puts it back) and a
    # source someone added (a merge patch cannot clear a list: the firewall is replaced).
    packed = sorted(n for n, fw in live.items() if len(fw["allowed"][0].get("ports", ())) > 1)
    ranged = sorted(n for n, fw in live.items() if "sourceRanges" in fw and n not in packed)
    narrowed, widened = packed[0], ranged[0]
    live[narrowed]["allowed"][0]["ports"] = live[narrowed]["allowed"][0]["ports"][1:]
    live[widened]["sourceTags"] = ["jump-hosts"]
    gcp_emulator.reset()
    gcp_emulator.seed(gcp_project, list(live.values()))
    # The VXLAN rule is no longer wanted (a delete) and a new one is (an insert).
    scrape = {"role": "worker", "protocol": "tcp", "ports": 9100, "peer": "cidr:192.0.2.0/24"}
    _config(path, gcp_emulator, gcp_project, extra_rules=[{**scrape, "purpose": "metrics"}])

    writes = _compiled(path)
    received.clear()
    api.apply(load_config(path))

    assert {w.method for w in writes} == {"insert", "patch", "update", "delete"}
    assert {w.target for w in writes if w.method in ("patch", "update")} == {narrowed, widened}
    assert _canonical(received) == _canonical([_as_call(w) for w in writes])
    assert all(w.body["name"] == w.target for w in writes if w.method == "patch")
    assert api.plan(load_config(path)).is_empty()


def test_execute_sends_a_patch_write_as_it_is(
    gcp_emulator: GcpEmulator, gcp_project: str, tmp_path: Path, received: list[Call]
) -> None:
    """A patch write goes out as it is, name included (the strict emulator refuses a patch
    without it: see test_emulator_strict)."""
    path = _config(tmp_path / "portsync.yaml", gcp_emulator, gcp_project)
    api.apply(load_config(path))
    name = gcp_emulator.firewalls(gcp_project)[0]["name"]
    loaded = load_config(path)
    provider: Any = api.Session(loaded, Settings()).provider(loaded.config.clusters[0])
    patch = Write(
        cluster="prod-gcp",
        target=name,
        api=translate.API,
        method="patch",
        body={"name": name, "description": "[portsync] patched"},
    )
    provider.execute(patch)
    assert received[-1] == ("firewalls.patch", name, dict(patch.body))
    (after,) = [fw for fw in gcp_emulator.firewalls(gcp_project) if fw["name"] == name]
    assert after["description"] == "[portsync] patched"


def _state(provider: Any) -> dict[str, Any]:
    """Every attribute of ``provider`` by identity and text (the settings field by field)."""
    out: dict[str, Any] = {}
    for name, value in vars(provider).items():
        if isinstance(value, Settings):
            fields = tuple((f.name, id(getattr(value, f.name))) for f in dataclasses.fields(value))
            out[name] = (id(value), fields)
        else:
            out[name] = (id(value), repr(value))
    return out


def test_no_provider_attribute_changes_after_construction(
    gcp_emulator: GcpEmulator, gcp_project: str, tmp_path: Path
) -> None:
    path = _config(tmp_path / "portsync.yaml", gcp_emulator, gcp_project)
    data = yaml.safe_load(path.read_text())
    other = {**data["clusters"][0], "name": "apps", "roles": {"web": {"target_tag": "web"}}}
    data["clusters"].append(other)
    data["extra_rules"] = [
        {"role": "web", "protocol": "tcp", "ports": 443, "peer": "cidr:10.0.0.0/8"}
    ]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    loaded = load_config(path)
    session = api.Session(loaded, Settings())
    providers = [session.provider(cluster) for cluster in loaded.config.clusters]
    before = [_state(p) for p in providers]

    plan = api.plan(loaded, session=session)
    assert not plan.is_empty()
    # Read, compile and execute through the same providers (one compile for the project).
    first = providers[0]
    targets = [t for p in providers for t in p.targets()]
    writes = first.compile(plan.groups, first.read(targets))
    assert {w.cluster for w in writes} == {"prod-gcp", "apps"}
    for write in writes:
        session.provider(loaded.cluster(write.cluster)).execute(write)
    assert api.plan(loaded, session=session).is_empty()

    assert [_state(p) for p in providers] == before
