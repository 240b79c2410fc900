"""portsync plan next to Cloud Custodian's read-only audit of the same AWS security groups.

Setup (not counted): moto server behind the counting :class:`~portsync.testing.ec2proxy.EC2Proxy`,
N security groups with 10 owned ingress rules each and the matching portsync config — both made
by :mod:`benchmarks.bench_aws`. The Custodian policy audits the same groups::

    resource: aws.security-group
    filters: [{type: ingress, Ports: [10000..10009], Cidr: {value: 10.0.0.0/8}}]

Custodian (boto3 underneath) reaches moto through ``AWS_ENDPOINT_URL``, which botocore honours
for every service, so its calls pass through the same proxy and are counted the same way. Two
comparisons, alternated and best of ``repeats``:

* **in-process**: ``Policy(...).run()`` (fresh boto3 session each time, policy validation and its
  ``resources.json`` output included, ``--dryrun``) against ``api.plan`` (fresh client each time);
  each tool's reads are also timed bare — Custodian's one unpaged DescribeSecurityGroups,
  portsync's one DescribeSecurityGroups without ``MaxResults`` (a group-id filter up to 200
  groups) — to tell the tools' own cost from moto's;
* **command line**: ``custodian run --dryrun`` against ``portsync plan``, each a new process, so
  interpreter start-up and imports count too.

Cloud Custodian is not a dependency of portsync itself: it comes with the ``bench`` extra (which
the ``dev`` extra includes, so ``make test`` runs this at a tiny scale). Without it the benchmark
returns a single row saying it was skipped.

    python -m benchmarks.bench_c7n                  # N=200
    python -m benchmarks.bench_c7n --scale 2000
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from benchmarks.bench_aws import (
    REGION,
    RULES_PER_GROUP,
    _bare_reads,
    _client,
    _create_groups,
    _write_config,
)
from benchmarks.common import command_line, emit, make_row, ratio, timed
from benchmarks.motoindex import direct_lookups
from portsync import api
from portsync.config import load_config
from portsync.providers.aws.emulator import MotoServer
from portsync.testing.ec2proxy import EC2Proxy

__all__ = ["DEFAULT_SCALE", "POLICY", "available", "main", "run"]

DEFAULT_SCALE = 200
ACCOUNT = "123456789012"

#: The Custodian policy: security groups allowing any of the ten benchmark ports from 10/8.
POLICY: dict[str, Any] = {
    "name": "portsync-bench-sg-ports",
    "resource": "aws.security-group",
    "filters": [
        {
            "type": "ingress",
            "Ports": [10000 + j for j in range(RULES_PER_GROUP)],
            "Cidr": {"value": "10.0.0.0/8"},
        }
    ],
}

SKIP_NOTE = (
    "skipped: Cloud Custodian is not installed in this venv "
    "(.venv/bin/pip install -e '.[bench]', then run again)"
)


def available() -> bool:
    """Whether Cloud Custodian (the ``c7n`` package) can be imported."""
    return importlib.util.find_spec("c7n") is not None


@contextlib.contextmanager
def _aws_env(url: str) -> Iterator[dict[str, str]]:
    """Point boto3 (and so Custodian) at ``url`` with dummy credentials, then restore."""
    values = {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield dict(os.environ)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _custodian_in_process(out: Path) -> int:
    """One Custodian audit as ``custodian run --dryrun`` does it; returns the groups matched."""
    from c7n.config import Config
    from c7n.policy import Policy
    from c7n.provider import clouds
    from c7n.resources import load_resources
    from c7n.utils import reset_session_cache

    load_resources(("aws.security-group",))
    reset_session_cache()  # a fresh boto3 session, as portsync makes a fresh client
    shutil.rmtree(out, ignore_errors=True)
    config = Config.empty(
        region=REGION,
        regions=[REGION],
        output_dir=str(out),
        dryrun=True,
        account_id=ACCOUNT,
        cache="",
        cache_period=0,
    )
    options = clouds["aws"]().initialize(config)
    policy = Policy(dict(POLICY), options)
    policy.validate()
    return len(policy.run())


def _bare_unpaged(url: str) -> int:
    """The read Custodian makes: one DescribeSecurityGroups without MaxResults (a new client)."""
    return len(_client(url).describe_security_groups()["SecurityGroups"])


#: Seconds one command-line run may take before the benchmark gives up on it.
CLI_TIMEOUT = 900


def _cli(argv: Sequence[str], env: Mapping[str, str]) -> None:
    done = subprocess.run(
        argv, env=dict(env), capture_output=True, text=True, check=False, timeout=CLI_TIMEOUT
    )
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {done.returncode}: {done.stderr[-2000:]}")


def _calls(proxy: EC2Proxy) -> tuple[int, str]:
    calls = dict(proxy.calls)
    reads = sum(n for action, n in calls.items() if action.startswith(("Describe", "Get")))
    detail = ", ".join(f"{n} {action}" for action, n in sorted(calls.items())) or "none"
    return reads, detail


def run(
    scale: int = DEFAULT_SCALE, *, repeats: int | None = None, cli: bool = True
) -> list[dict[str, Any]]:
    """Run portsync plan and Custodian's audit side by side over ``scale`` groups.

    ``repeats`` defaults to 3 up to 200 groups, else 2; ``cli=False`` skips the command-line pair.
    Returns one "skipped" row when Cloud Custodian is not installed.
    """
    if scale < 1:
        raise ValueError("scale must be at least 1")
    if not available():
        return [make_row(cloud="aws", scale=scale, what="c7n audit vs plan", note=SKIP_NOTE)]
    for name in ("custodian", "c7n", "botocore", "boto3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    repeats = repeats or (3 if scale <= 200 else 2)
    bindir = Path(sys.executable).parent
    rows: list[dict[str, Any]] = []
    with (
        direct_lookups(),
        MotoServer() as moto,
        EC2Proxy(moto.url) as proxy,
        tempfile.TemporaryDirectory(prefix="portsync-bench-c7n-") as tmp,
        _aws_env(proxy.url) as env,
    ):
        moto.reset()  # moto keeps its state per process: start from no groups at all
        groups, setup_s = timed(lambda: _create_groups(proxy.url, scale))
        config = _write_config(Path(tmp) / "portsync.yaml", proxy.url, groups)
        loaded = load_config(config)
        policy_file = Path(tmp) / "policy.yml"
        policy_file.write_text(yaml.safe_dump({"policies": [POLICY]}), encoding="utf-8")
        out = Path(tmp) / "c7n-out"

        # Untimed warm-up of both sides (imports, resource registry); checks the setup too.
        matched = _custodian_in_process(out)
        if matched != scale:
            raise RuntimeError(f"Custodian matched {matched} groups, expected {scale}")
        if not api.plan(loaded).is_empty():
            raise RuntimeError("the portsync plan over the benchmark groups is not empty")

        # Each tool's reads made bare, to tell its own cost from moto's.
        c7n_s = plan_s = unpaged_s = paged_s = math.inf
        c7n_calls = plan_calls = (0, "")
        for _ in range(repeats):
            proxy.reset_counts()
            c7n_s = min(c7n_s, timed(lambda: _custodian_in_process(out))[1])
            c7n_calls = _calls(proxy)
            unpaged_s = min(unpaged_s, timed(lambda: _bare_unpaged(proxy.url))[1])
            proxy.reset_counts()
            plan_s = min(plan_s, timed(lambda: api.plan(loaded))[1])
            plan_calls = _calls(proxy)
            paged_s = min(paged_s, timed(lambda: _bare_reads(proxy.url, groups))[1])
        c7n_own = max(c7n_s - unpaged_s, 0.0)
        plan_own = max(plan_s - paged_s, 0.0)
        rows.append(
            make_row(
                cloud="aws",
                scale=scale,
                what="c7n audit (in-process)",
                calls_read=c7n_calls[0],
                calls_write=0,
                seconds=c7n_s,
                note=f"Cloud Custodian Policy.run, --dryrun; {c7n_calls[1]}; {matched} groups "
                f"matched; the same call bare {unpaged_s:.3f}s, so Custodian's own cost "
                f"{c7n_own:.3f}s; setup {setup_s:.1f}s not counted; best of {repeats}",
            )
        )
        rows.append(
            make_row(
                cloud="aws",
                scale=scale,
                what="plan vs c7n (in-process)",
                calls_read=plan_calls[0],
                calls_write=0,
                seconds=plan_s,
                baseline_seconds=c7n_s,
                ratio=ratio(plan_s, c7n_s),
                note=f"api.plan, {scale * RULES_PER_GROUP} rules compared; {plan_calls[1]}; "
                f"the same calls bare {paged_s:.3f}s, so "
                f"portsync's own cost {plan_own:.3f}s; baseline = the c7n row above (ratio < 1: "
                f"portsync faster); best of {repeats}",
            )
        )

        if cli:
            custodian = [
                str(bindir / "custodian"),
                "run",
                "--dryrun",
                "-s",
                str(out),
                "-r",
                REGION,
                "--cache-period",
                "0",
                str(policy_file),
            ]
            portsync = [sys.executable, "-m", "portsync", "-q", "-c", str(config), "plan"]
            c7n_cli_s = plan_cli_s = math.inf
            c7n_cli_calls = plan_cli_calls = (0, "")
            for _ in range(repeats):
                proxy.reset_counts()
                c7n_cli_s = min(c7n_cli_s, timed(lambda: _cli(custodian, env))[1])
                c7n_cli_calls = _calls(proxy)
                proxy.reset_counts()
                plan_cli_s = min(plan_cli_s, timed(lambda: _cli(portsync, env))[1])
                plan_cli_calls = _calls(proxy)
            rows.append(
                make_row(
                    cloud="aws",
                    scale=scale,
                    what="custodian run (CLI)",
                    calls_read=c7n_cli_calls[0],
                    calls_write=0,
                    seconds=c7n_cli_s,
                    note=f"custodian run --dryrun, new process; {c7n_cli_calls[1]}; "
                    f"best of {repeats}",
                )
            )
            rows.append(
                make_row(
                    cloud="aws",
                    scale=scale,
                    what="portsync plan vs custodian (CLI)",
                    calls_read=plan_cli_calls[0],
                    calls_write=0,
                    seconds=plan_cli_s,
                    baseline_seconds=c7n_cli_s,
                    ratio=ratio(plan_cli_s, c7n_cli_s),
                    note=f"portsync plan, new process; {plan_cli_calls[1]}; baseline = the "
                    f"custodian row above; best of {repeats}",
                )
            )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run and print the table (or JSON rows)."""
    parser = command_line("python -m benchmarks.bench_c7n", __doc__)
    parser.add_argument("--scale", type=int, default=DEFAULT_SCALE, help="security groups")
    parser.add_argument("--repeat", type=int, default=None, help="timing repeats (best kept)")
    parser.add_argument("--no-cli", action="store_true", help="in-process comparison only")
    args = parser.parse_args(argv)
    if not available():
        sys.stderr.write(f"note: bench_c7n {SKIP_NOTE}\n")
    rows = run(args.scale, repeats=args.repeat, cli=not args.no_cli)
    return emit(rows, as_json=args.json)


if __name__ == "__main__":
    raise SystemExit(main())
