"""Lifelines on GCP (the emulator): see tests/providers/lifeline_cases.py."""

from __future__ import annotations

from ..lifeline_cases import run
from .test_gcp_engine import GcpWorld, gcp_world  # noqa: F401 (fixture)


def test_a_plan_that_cuts_a_lifeline_is_refused_before_any_write(gcp_world: GcpWorld) -> None:  # noqa: F811
    run(gcp_world.write_config, lambda cidrs: {"all": cidrs})
