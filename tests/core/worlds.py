"""Configs the core tests share: one AWS cluster, ``prod``, with a control plane and workers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from portsync.config import LoadedConfig, parse_config

__all__ = ["PROD_CLUSTER", "prod_config"]

#: The cluster entry: roles ``control-plane`` (sg-1) and ``worker`` (sg-2) in eu-west-1.
PROD_CLUSTER: dict[str, Any] = {
    "name": "prod",
    "provider": "aws",
    "region": "eu-west-1",
    "roles": {
        "control-plane": {"security_group": "sg-1"},
        "worker": {"security_group": "sg-2"},
    },
}


def prod_config(**top: Any) -> LoadedConfig:
    """A config of the ``prod`` cluster with ``sources.all`` 203.0.113.0/24 and ``top``'s keys
    (a key given replaces the default, except ``clusters``, always ``prod`` alone)."""
    data = {"sources": {"all": ["203.0.113.0/24"]}, **top, "clusters": [PROD_CLUSTER]}
    return parse_config(yaml.safe_dump(data, sort_keys=False), path=Path("portsync.yaml"))
