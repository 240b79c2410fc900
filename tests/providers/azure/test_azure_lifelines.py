"""Lifelines on Azure (the emulator): see tests/providers/lifeline_cases.py."""

from __future__ import annotations

from ..lifeline_cases import run
from .test_azure_engine import AzureWorld, world  # noqa: F401 (fixture)


def test_a_plan_that_cuts_a_lifeline_is_refused_before_any_write(world: AzureWorld) -> None:  # noqa: F811
    run(world.write_config, lambda cidrs: {"all": cidrs})
