"""Hypothesis strategies shared by the property tests of every cloud."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

#: Peer ranges the live states and the desired rules draw from (IPv4 and IPv6).
CIDRS = ["10.0.0.0/8", "10.1.0.0/16", "192.0.2.0/24", "2001:db8::/32", "203.0.113.0/24"]

#: One port or a range, as a port table writes them.
ports = st.one_of(
    st.integers(1, 65535).map(str),
    st.tuples(st.integers(1, 40000), st.integers(0, 2000)).map(lambda t: f"{t[0]}-{t[0] + t[1]}"),
)

#: Every neutral peer kind.
peers = st.one_of(
    st.sampled_from(["self", "role:control-plane", "role:worker", "any", "load-balancers"]),
    st.sampled_from(CIDRS).map(lambda c: f"cidr:{c}"),
)


def extra_rules(roles: Sequence[str]) -> st.SearchStrategy[dict[str, Any]]:
    """One ``extra_rules`` entry for one of ``roles``: tcp or udp, any port or range, any peer."""
    return st.fixed_dictionaries(
        {
            "role": st.sampled_from(list(roles)),
            "protocol": st.sampled_from(["tcp", "udp"]),
            "ports": ports,
            "peer": peers,
            "purpose": st.sampled_from(["app", "metrics", "x y"]),
        }
    )


def write_config(
    path: Path, cluster: dict[str, Any], extra: list[dict[str, Any]], mode: str, catalog: list[str]
) -> None:
    """A config with one ``cluster``, the drawn ``extra`` rules, ``mode`` and ``catalog``, and
    "All" meaning one IPv4 and one IPv6 range.

    Without a catalog, a bound role the drawn rules do not name gets one rule of its own: a
    bound role nothing defines is a config error (it is what a mistyped binding looks like)."""
    named = {rule["role"] for rule in extra}
    if not catalog:
        extra = [
            *extra,
            *(
                {"role": role, "protocol": "tcp", "ports": "9", "peer": "self", "purpose": "app"}
                for role in cluster["roles"]
                if role not in named
            ),
        ]
    path.write_text(
        yaml.safe_dump(
            {
                "catalog": catalog,
                "mode": mode,
                "extra_rules": extra,
                # These properties are about convergence and ownership; drawn rules may open any
                # port to public ranges (the health checks), which the exposure floor would refuse.
                "allow_exposure": [
                    "etcd",
                    "kubelet",
                    "kube-scheduler",
                    "kube-controller-manager",
                    "retired",
                    "catalog-sensitive",
                    "kube-apiserver",
                    "nodeport",
                ],
                "sources": {"all": ["198.51.100.0/24", "2001:db8:1::/48"]},
                "clusters": [{"name": "prop", **cluster}],
            }
        )
    )
