"""Fuzz: hostile port-table documents (front matter and tables) named by a config, through the
command line, against a recording endpoint.

Each document is also parsed on its own (``portsync catalog parse``). Either it works or one
clear line refuses it — never a traceback, never "internal error" — and a config whose catalog is
refused never opens a connection to the cloud endpoint.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path

import pytest

from tests.recording import recording_endpoint
from tests.reliability.hostile import (
    CATALOG_FRONT,
    CATALOG_TABLE,
    HOSTILE_TEXT,
    Harness,
    catalog_text,
    config_data,
    dump,
    mutate_data,
    mutate_text,
    seeds,
    special_file,
    write,
)

CATALOGS = 500


def _rows(rng: random.Random) -> list[list[str]]:
    rows = copy.deepcopy(CATALOG_TABLE)
    for _ in range(rng.randint(1, 3)):
        row = rng.choice(rows)
        row[rng.randrange(len(row))] = rng.choice(HOSTILE_TEXT)[:200].replace("\n", " ")
    if rng.random() < 0.2:
        rows.append(list(rng.choice(rows)))  # a repeated row
    if rng.random() < 0.1:
        del rng.choice(rows)[-1]  # a short row
    return rows


@pytest.mark.slow
def test_fuzz_hostile_catalogs(tmp_path: Path, fast_cli: None) -> None:
    with recording_endpoint(tmp_path) as endpoint:
        harness = Harness(endpoint)
        inputs = seeds(CATALOGS, 100_000)
        for seed in inputs:
            rng = random.Random(seed)
            catalog = tmp_path / f"t{seed}.md"
            roll = rng.random()
            if roll < 0.05:
                catalog = special_file(rng, tmp_path, f"t{seed}.md")
            elif roll < 0.5:
                front = mutate_data(rng, CATALOG_FRONT, rng.randint(1, 3))
                write(catalog, catalog_text(front, CATALOG_TABLE))
            elif roll < 0.8:
                write(catalog, catalog_text(CATALOG_FRONT, _rows(rng)))
            else:
                text = catalog_text(CATALOG_FRONT, CATALOG_TABLE)
                write(catalog, mutate_text(rng, text, rng.randint(1, 4)))
            data = config_data(endpoint, catalog=str(catalog))
            data["clusters"] = [data["clusters"][seed % 3]]
            config = write(tmp_path / f"c{seed}.yaml", dump(data))
            label = f"seed {seed}"
            harness._run(["catalog", "parse", str(catalog)], label=label, may_connect=False)
            command = rng.choice((["plan"], ["audit"], ["apply", "--auto-approve"]))
            harness.check(["--config", str(config), *command], config=config, label=label)
    print(harness.figures())
    assert harness.runs == len(inputs)
    assert not harness.failures, "\n\n".join(harness.failures[:5])
    assert harness.rejected > len(inputs) // 4
    assert harness.accepted > 20
    assert harness.reached_cloud >= harness.cloud_sample
