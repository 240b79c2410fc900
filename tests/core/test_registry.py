"""Providers are plugins found through entry points, built-ins included."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from portsync import registry
from portsync.errors import ConfigError


def test_registry_lists_builtin_aws_provider() -> None:
    assert "aws" in registry.available_providers()


def test_registry_loads_provider_class_satisfying_protocol() -> None:
    cls = registry.get_provider_class("aws")
    assert cls.name == "aws"
    for method in ("targets", "translate", "read", "managing_tool", "compile", "execute"):
        assert callable(getattr(cls, method))


def test_registry_unknown_name_lists_installed() -> None:
    with pytest.raises(ConfigError, match=r"installed providers: .*aws"):
        registry.get_provider_class("nope")


def test_registry_two_packages_claiming_one_name_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    eps = [
        EntryPoint("aws", "a.provider:A", registry.ENTRY_POINT_GROUP),
        EntryPoint("aws", "b.provider:B", registry.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps)
    registry._entry_points.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"a\.provider:A and b\.provider:B"):
            registry._entry_points()
    finally:
        monkeypatch.undo()
        registry._entry_points.cache_clear()


def test_a_provider_without_the_three_verbs_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from portsync.config import parse_config
    from portsync.provider import Settings
    from portsync.session import Session

    class FirstContract:
        """A provider written for the first contract: fetch and apply, no compile."""

        def __init__(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("must not be built")

        def fetch(self) -> None: ...

        def apply(self) -> None: ...

    loaded = parse_config(
        "clusters:\n  - name: prod\n    provider: aws\n    region: eu-west-1\n"
        "    roles: {worker: {security_group: sg-1}}\n"
    )
    monkeypatch.setattr("portsync.session.get_provider_class", lambda name: FirstContract)
    session = Session(loaded, Settings())
    with pytest.raises(ConfigError, match="does not implement read, compile and execute"):
        session.provider(loaded.config.clusters[0])
