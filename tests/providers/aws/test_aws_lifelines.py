"""Lifelines on AWS (moto): see tests/providers/lifeline_cases.py."""

from __future__ import annotations

from ..lifeline_cases import run
from .conftest import AwsWorld


def test_a_plan_that_cuts_a_lifeline_is_refused_before_any_write(aws_world: AwsWorld) -> None:
    run(
        aws_world.write_config,
        lambda cidrs: {"all": cidrs, "load_balancers": [aws_world.lb]},
    )
