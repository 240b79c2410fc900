"""Fuzz: hostile configs through the command line, against a recording endpoint.

Every generated config (seeded, so a failure replays) either works or is refused with one clear
line — never a traceback, never "internal error" — and a config the offline checks refuse never
opens a connection to the cloud endpoint.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.recording import recording_endpoint
from tests.reliability.hostile import (
    Harness,
    config_data,
    dump,
    mutate_data,
    mutate_text,
    seeds,
    special_file,
    write,
)

CONFIGS = 1000
# Commands that call the cloud (the ones a rejected input must never let through).
COMMANDS = (
    ["plan"],
    ["plan"],
    ["audit"],
    ["apply", "--auto-approve"],
    ["explain", "any", "control-plane:6443"],
)


@pytest.mark.slow
def test_fuzz_hostile_configs(tmp_path: Path, fast_cli: None) -> None:
    with recording_endpoint(tmp_path) as endpoint:
        harness = Harness(endpoint)
        base = config_data(endpoint)
        inputs = seeds(CONFIGS, 0)
        for seed in inputs:
            rng = random.Random(seed)
            data = dict(base)
            # One cloud per input keeps each accepted input to one failed cloud call.
            data["clusters"] = [base["clusters"][seed % 3]]
            path = tmp_path / f"c{seed}.yaml"
            roll = rng.random()
            if roll < 0.04:
                path = special_file(rng, tmp_path, f"c{seed}.yaml")
            elif roll < 0.2:
                write(path, mutate_text(rng, dump(data), rng.randint(1, 4)))
            else:
                text = dump(mutate_data(rng, data, rng.randint(1, 3)))
                if rng.random() < 0.3:
                    text = mutate_text(rng, text, rng.randint(1, 2))
                write(path, text)
            command = rng.choice(COMMANDS)
            harness.check(["--config", str(path), *command], config=path, label=f"seed {seed}")
    print(harness.figures())
    assert harness.runs == len(inputs)
    assert not harness.failures, "\n\n".join(harness.failures[:5])
    # The generator must produce both kinds, and accepted inputs must reach the endpoint, or the
    # "no connection" result proves nothing.
    assert harness.rejected > len(inputs) // 2
    assert harness.accepted > 20
    assert harness.reached_cloud >= harness.cloud_sample


def test_fuzz_budget_is_at_least_2000_inputs() -> None:
    from tests.reliability.test_fuzz_catalogs import CATALOGS
    from tests.reliability.test_fuzz_plans import PLANS

    assert CONFIGS + CATALOGS + PLANS >= 2000
