"""The fast model → dict conversion gives exactly what the SDK's own ``as_dict`` gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

models = pytest.importorskip("azure.mgmt.network.models")

from portsync.providers.azure.convert import model_to_dict  # noqa: E402

SPECS = Path(__file__).resolve().parents[2] / "data" / "azure-rest-api-specs"


def _response_bodies() -> list[tuple[str, dict[str, Any]]]:
    """Every NSG body in the published spec examples (single responses and list values)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(SPECS.glob("NetworkSecurityGroup*.json")):
        example = json.loads(path.read_text(encoding="utf-8"))
        for status, response in (example.get("responses") or {}).items():
            body = response.get("body") if isinstance(response, dict) else None
            if not isinstance(body, dict):
                continue
            for index, item in enumerate(body.get("value") or [body]):
                if isinstance(item, dict) and "properties" in item:
                    out.append((f"{path.stem}:{status}:{index}", item))
    return out


BODIES = _response_bodies()


def test_the_spec_examples_hold_nsgs_with_rules() -> None:
    assert len(BODIES) >= 4
    assert any((b["properties"].get("securityRules") or []) for _name, b in BODIES)


@pytest.mark.parametrize(("name", "body"), BODIES, ids=[name for name, _ in BODIES])
def test_spec_example_converts_like_the_sdk(name: str, body: dict[str, Any]) -> None:
    model = models.NetworkSecurityGroup(body)
    assert model_to_dict(model) == model.as_dict()


def test_explicit_nulls_and_nested_rules_convert_like_the_sdk() -> None:
    body = {
        "name": "nsg",
        "etag": 'W/"1"',
        "properties": {
            "securityRules": [
                {
                    "name": "r1",
                    "properties": {
                        "priority": 100,
                        "direction": "Inbound",
                        "sourceAddressPrefix": None,
                        "sourceAddressPrefixes": ["10.0.0.0/8", "192.168.0.0/16"],
                        "sourceApplicationSecurityGroups": [{"id": "/subscriptions/x/asg"}],
                        "destinationPortRanges": ["443", "8000-9000"],
                    },
                }
            ],
            "defaultSecurityRules": [],
        },
        "tags": {"team": "k8s"},
    }
    model = models.NetworkSecurityGroup(body)
    converted = model_to_dict(model)
    assert converted == model.as_dict()
    rule = converted["properties"]["securityRules"][0]
    assert type(rule) is dict and type(rule["properties"]) is dict  # plain data, not models
    assert rule["properties"]["sourceAddressPrefix"] is None
