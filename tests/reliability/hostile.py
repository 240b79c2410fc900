"""Seeded generators of hostile configs, catalogs and plan files, and the harness that runs them.

Each generator starts from a valid file and mutates it the way careless hands and attackers do:
values swapped for hostile scalars (brackets, foreign digits, YAML 1.1 forms, NUL, huge numbers,
URLs with passwords …), keys dropped, renamed, duplicated or invented, lines duplicated, cut,
swapped or re-indented, anchors, aliases, tags, merge keys and alias bombs added, and files
replaced by devices, FIFOs, directories, symlinks and oversized files.

:class:`Harness` runs each input through the real command line against a
:class:`~tests.recording.RecordingEndpoint` and checks: no traceback, no "internal error", an
exit code of 0, 1 or 2, and — for every input the offline checks (``portsync validate``'s
checks) reject — no connection to the endpoint.
"""

from __future__ import annotations

import copy
import json
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from portsync.cli import app
from portsync.config import load_config
from portsync.errors import InputError
from portsync.synthesis import synthesize
from portsync.validate import validate
from tests.recording import RecordingEndpoint

__all__ = ["Harness", "catalog_text", "config_data", "mutate_data", "mutate_text"]

AZURE_SUBSCRIPTION = "00000000-0000-4000-8000-000000000000"

HOSTILE_TEXT = [
    "",
    " ",
    "[",
    "]",
    "[/x]",
    "a[/b]",
    "[bold]x[/bold]",
    "[/]x.md",
    "٢٢",
    "２２",
    "1:47:23",
    "010250",
    "0o777",
    "0x50",
    "true",
    "yes",
    "off",
    "~",
    "null",
    "-1",
    "65536",
    "99999999999999999999999",
    "1e3",
    ".inf",
    ".nan",
    "22.0",
    "\x00",
    "a\x00b",
    "\u202e",
    "\ufeff",
    "${HOME}",
    "$(id)",
    "http://user:SENTINEL-pw@127.0.0.1:9/",
    "127.0.0.1:9",
    "/dev/zero",
    "/dev/stdin",
    "~nobody-here/x",
    "../../../../etc/passwd",
    "x" * 5000,
    "0.0.0.0/0",
    "::/0",
    "10.0.0.0/33",
    "300.1.1.1/8",
    "sg-1",
    "pl-1",
    "role:worker",
    "role:[/x]",
    "cidr:0.0.0.0/0",
    "all",
    "any",
    "load-balancers",
    "tcp",
    "udp",
    "icmp",
    "esp",
    "*",
    "-",
    "6443",
    "2379-2380",
    "30000-32767",
    "2380-2379",
    "0",
    "owned",
    "exclusive",
    "additive",
    "stacked",
    "kubernetes",
    "calico",
    "aws",
    "gcp",
    "azure",
    "anonymous",
    "default",
]
HOSTILE_VALUES: list[Any] = [
    *HOSTILE_TEXT,
    0,
    1,
    22,
    6443,
    65535,
    65536,
    -5,
    2**64,
    True,
    False,
    None,
    1.5,
    [],
    {},
    [1, 2],
    ["[/x]"],
    {"a": 1},
    {"[/x]": "[bold]"},
    [[[[]]]],
]
HOSTILE_KEYS = [
    "x",
    "[/x]",
    "a[b]",
    "catalog",
    "mode",
    "name",
    "provider",
    "roles",
    "endpoint",
    "profile",
    "credentials",
    "ports",
    "peer",
    "role",
    "protocol",
    "all",
    "<<",
    "",
    "٢٢",
    "max_deletes",
    "timeout",
]
TEXT_INSERTS = [
    "\t",
    ": ",
    "- ",
    "&a ",
    "*a",
    "!!binary ",
    "!!python/object:os.system ",
    "<<: *a\n",
    "? [a]\n: b\n",
    "'",
    '"',
    "{",
    "[",
    "#",
    "\x00",
    "%YAML 1.1\n---\n",
    "--- \n",
    "...\n",
    "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: [*d, *d, *d, *d, *d, *d, *d, *d]\n",
    "deep: " + "[" * 120 + "]" * 120 + "\n",
    "٢٢",
    "\u2028",
]


def config_data(endpoint: RecordingEndpoint, catalog: str | None = None) -> dict[str, Any]:
    """A valid config with one cluster on each cloud, all pointed at ``endpoint``."""
    data: dict[str, Any] = {
        "catalog": [catalog] if catalog else "kubernetes",
        "mode": "owned",
        "max_deletes": 10,
        "sources": {"all": ["203.0.113.0/24"], "load_balancers": ["10.0.0.0/16"]},
        "extra_rules": [
            {
                "role": "worker",
                "protocol": "tcp",
                "ports": 9100,
                "peer": "cidr:10.0.0.0/8",
                "purpose": "node exporter",
            }
        ],
        "overrides": {"kube-apiserver": 6443},
        "clusters": [
            {
                "name": "fuzz-aws",
                "provider": "aws",
                "region": "eu-west-1",
                "endpoint": endpoint.http_url,
                "credentials": "anonymous",
                "max_attempts": 1,
                "roles": {
                    "control-plane": {"security_group": "sg-0aaa"},
                    "worker": {"security_group": "sg-0bbb"},
                },
            },
            {
                "name": "fuzz-gcp",
                "provider": "gcp",
                "project": "fuzz-project",
                "endpoint": endpoint.http_url,
                "credentials": "anonymous",
                "roles": {
                    "control-plane": {"target_tag": "cp"},
                    "worker": {"target_tag": "worker"},
                },
            },
            {
                "name": "fuzz-azure",
                "provider": "azure",
                "subscription_id": AZURE_SUBSCRIPTION,
                "resource_group": "fuzz-rg",
                "endpoint": endpoint.https_url,
                "ca_bundle": str(endpoint.ca_path),
                "credentials": "anonymous",
                "roles": {
                    "control-plane": {"nsg": "cp-nsg", "address_prefixes": ["10.0.1.0/24"]},
                    "worker": {"nsg": "worker-nsg", "address_prefixes": ["10.0.2.0/24"]},
                },
            },
        ],
    }
    return data


CATALOG_FRONT = {
    "title": "Fuzz port table",
    "upstream": {"project": "Fuzz", "url": "https://example.com/ports", "version": "1.0"},
    "options": {"tunnel": {"values": ["vxlan", "geneve"], "default": "vxlan", "about": "overlay"}},
    "retired_ports": [
        {"ports": 10255, "protocol": "tcp", "component": "kubelet", "roles": ["worker"], "why": "x"}
    ],
    "sensitive_ports": [{"ports": 9099, "protocol": "tcp", "why": "felix health"}],
}
CATALOG_TABLE = [
    ["Protocol", "Direction", "Port Range", "Purpose", "Used By"],
    ["TCP", "Inbound", "6443", "Kubernetes API server", "All"],
    ["TCP", "Inbound", "2379-2380", "etcd server client API", "kube-apiserver, etcd"],
    ["TCP", "Inbound", "10250", "Kubelet API", "Self, Control plane"],
    ["UDP", "Inbound", "4789", "VXLAN", "Self"],
]


def catalog_text(front: Any, rows: list[list[str]]) -> str:
    """A port-table document: YAML front matter and one table under a role heading."""
    head = yaml.safe_dump(front, sort_keys=False, allow_unicode=True) if front is not None else ""
    table = ["| " + " | ".join(row) + " |" for row in rows[:1]]
    table.append("|" + "---|" * max(1, len(rows[0]) if rows else 1))
    table += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return f"---\n{head}---\n\n## Control plane\n\n" + "\n".join(table) + "\n"


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


def mutate_data(rng: random.Random, data: Any, rounds: int = 1) -> Any:
    """``data`` with ``rounds`` structural mutations."""
    data = copy.deepcopy(data)
    for _ in range(rounds):
        paths = [p for p in _paths(data) if p]
        if not paths:
            return rng.choice(HOSTILE_VALUES)
        path = rng.choice(paths)
        parent = _get(data, path[:-1])
        last = path[-1]
        op = rng.randrange(7)
        if op <= 2:
            parent[last] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
        elif op == 3:
            del parent[last]
        elif op == 4 and isinstance(parent, dict):
            parent[rng.choice(HOSTILE_KEYS)] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
        elif op == 5 and isinstance(parent, dict):
            value = parent.pop(last)
            parent[rng.choice(HOSTILE_KEYS)] = value
        elif op == 6:
            parent[last] = [copy.deepcopy(parent[last])] if rng.random() < 0.5 else {"x": 1}
        else:
            parent[last] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
    return data


def mutate_text(rng: random.Random, text: str, rounds: int = 1) -> str:
    """``text`` with ``rounds`` line- or character-level mutations."""
    for _ in range(rounds):
        lines = text.split("\n")
        op = rng.randrange(7)
        i = rng.randrange(len(lines))
        if op == 0:
            lines.insert(i, lines[rng.randrange(len(lines))])  # duplicate a line: duplicate key
        elif op == 1 and len(lines) > 1:
            del lines[i]
        elif op == 2:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 3:
            lines[i] = rng.choice(["  ", "", "\t", "    "]) + lines[i].lstrip()
        elif op == 4:
            pos = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:pos] + rng.choice(TEXT_INSERTS) + lines[i][pos:]
        elif op == 5:
            lines.insert(i, rng.choice(TEXT_INSERTS).rstrip("\n"))
        else:
            text = text[: rng.randrange(len(text) + 1)]  # truncated
            continue
        text = "\n".join(lines)
    return text


def special_file(rng: random.Random, folder: Path, name: str) -> Path:
    """A path that is not a regular file of sane size: a device, FIFO, directory, symlink to a
    device, a sparse 2 MiB file, a missing file, or a name holding brackets."""
    kind = rng.randrange(6)
    path = folder / name
    if kind == 0:
        path.symlink_to("/dev/zero")
    elif kind == 1:
        os.mkfifo(path)
    elif kind == 2:
        path.mkdir()
    elif kind == 3:
        with path.open("wb") as fh:
            fh.truncate(2 * 1024 * 1024)
    elif kind == 4:
        return folder / "[/x]missing.yaml"
    else:
        return Path("/dev/zero")
    return path


@dataclass
class Harness:
    """Runs inputs through the command line and keeps the figures.

    Every input the offline checks refuse (what ``portsync validate`` checks, called in-process)
    is run through a command that would call the cloud, and must open no connection. Inputs the
    offline checks accept are run through ``portsync validate``, and a sample of them through the
    cloud command too, to show the endpoint is reachable (each such call costs an SDK client).
    """

    endpoint: RecordingEndpoint
    cloud_sample: int = 6
    runner: CliRunner = field(default_factory=CliRunner)
    runs: int = 0
    rejected: int = 0
    accepted: int = 0
    reached_cloud: int = 0
    failures: list[str] = field(default_factory=list)

    def check(self, args: list[str], *, config: Path | None, label: str) -> None:
        """Run ``args`` (a command that calls the cloud) for one generated input."""
        verdict = self.offline_verdict(config, args)
        self.runs += 1
        if verdict == "rejected":
            self.rejected += 1
            self._run(args, label=label, may_connect=False)
            return
        self.accepted += 1
        self._run(self.offline_args(args), label=label, may_connect=False)
        if verdict == "ours" and self.reached_cloud < self.cloud_sample:
            self._run(args, label=label, may_connect=True)

    def figures(self) -> str:
        """One line of figures, printed by the fuzz tests (``pytest -s``) for the docs."""
        return (
            f"{self.runs} inputs: {self.rejected} refused (0 connections allowed), "
            f"{self.accepted} accepted, {self.reached_cloud} runs reached the endpoint, "
            f"{len(self.failures)} failures"
        )

    @staticmethod
    def offline_args(args: list[str]) -> list[str]:
        """The same global options, with ``validate`` as the command."""
        globals_ = args[: args.index("--config") + 2] if "--config" in args else []
        return [*globals_, "validate"]

    def _run(self, args: list[str], *, label: str, may_connect: bool) -> None:
        before = self.endpoint.connections
        result = self.runner.invoke(app, args)
        connections = self.endpoint.connections - before
        output = result.output
        problems = []
        if "Traceback" in output:
            problems.append("traceback")
        if "internal error" in output:
            problems.append("internal error")
        if result.exit_code not in (0, 1, 2):
            problems.append(f"exit {result.exit_code}")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            problems.append(f"exception {type(result.exception).__name__}: {result.exception}")
        if connections:
            self.reached_cloud += 1
            if not may_connect:
                problems.append(f"{connections} connection(s) for a rejected input")
        if problems:
            self.failures.append(f"{label} {args}: {', '.join(problems)}\n{output[-2000:]}")

    def offline_verdict(self, config: Path | None, args: list[str]) -> str:
        """``rejected`` when the offline checks refuse the config for this command; else
        ``ours`` when every cluster's endpoint is the recording endpoint, ``elsewhere`` when a
        cluster would go to another endpoint (a real cloud, which the test sandbox blocks)."""
        if config is None:
            return "ours"
        try:
            loaded = load_config(config)
            if args[args.index("--config") + 2] in ("plan", "apply"):
                # plan and apply need every rule translated: validate checks exactly that.
                if not validate(loaded).ok:
                    return "rejected"
            else:
                # audit and explain read live rules; they need the port tables and the clusters.
                synthesize(loaded)
                if not loaded.config.clusters:
                    return "rejected"
        except InputError:
            return "rejected"
        ours = (self.endpoint.http_url, self.endpoint.https_url)
        clusters = loaded.config.clusters
        return "ours" if all(c.endpoint in ours for c in clusters) else "elsewhere"


def seeds(count: int, base: int) -> range:
    """The seeds of one fuzz run; PORTSYNC_FUZZ_SCALE multiplies the count (nightly runs)."""
    scale = float(os.environ.get("PORTSYNC_FUZZ_SCALE", "1"))
    return range(base, base + max(1, int(count * scale)))


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


def plan_json(mutator: Callable[[dict[str, Any]], Any], body: dict[str, Any]) -> str:
    return json.dumps(mutator(body), ensure_ascii=False)
