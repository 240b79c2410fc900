"""No secret leaves the process, on any command, in any output mode.

Sentinel credentials sit in the environment (AWS keys and session token, Azure client secret,
a Google token), in a Google service-account key file (its key id and private key), and in the
config (endpoints' passwords). The clouds are one local endpoint that echoes every request's
headers into its 403 error body — so the SDKs' own ``Authorization`` (SigV4, and the JWT bearer
token Google's client signs with the key) and ``X-Amz-Security-Token`` headers come back in the
error text. Every command runs with the default output, ``--debug`` and ``--log-format json``;
stdout, stderr and every file written (plans, summaries, the written config, crash logs, the
state folder) must hold no sentinel, no JWT and no private key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from portsync.cli import app
from tests.recording import RecordingEndpoint

KEY_ID = "AKIASENTINEL00KEYID0"
SECRET_KEY = "SENTINEL0secret0access0key0abcdefghijklmn"
SESSION_TOKEN = "SENTINEL0session0token0IQoJb3JpZ2luX2VjEJr"
AZURE_SECRET = "SENTINEL0azure0client0secret"
GOOGLE_TOKEN = "SENTINEL0google0env0token"
KEY_NAME = "SENTINEL0private0key0id"
URL_PASSWORD = "SENTINEL0url0password"
#: Google's client signs its own bearer token (a JWT) with the service account's key; the token
#: is not known in advance, so it is found by its shape.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.")

SENTINELS = (
    KEY_ID,
    SECRET_KEY,
    SESSION_TOKEN,
    AZURE_SECRET,
    GOOGLE_TOKEN,
    KEY_NAME,
    URL_PASSWORD,
    "SENTINEL0",  # any part of any of them
)

MODES = ([], ["--debug"], ["--log-format", "json"])

runner = CliRunner()


def _private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, Path, RecordingEndpoint]]:
    state = tmp_path / "state"
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", AZURE_SECRET)
    monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", GOOGLE_TOKEN)
    monkeypatch.setenv("AZURE_CLIENT_ID", "portsync-test")
    monkeypatch.setenv("AZURE_TENANT_ID", "00000000-0000-4000-8000-000000000001")
    endpoint = RecordingEndpoint(tmp_path, echo=True)
    try:
        adc = tmp_path / "adc.json"
        adc.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": "fuzz-project",
                    "private_key_id": KEY_NAME,
                    "private_key": _private_key(),
                    "client_email": "portsync@fuzz-project.iam.gserviceaccount.com",
                    "client_id": "1",
                    "token_uri": f"{endpoint.http_url}/token",
                }
            )
        )
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
        config = tmp_path / "portsync.yaml"
        config.write_text(yaml.safe_dump(_config(endpoint), sort_keys=False))
        yield config, out, endpoint
    finally:
        endpoint.close()


def _config(endpoint: RecordingEndpoint) -> dict[str, object]:
    return {
        "sources": {"all": ["203.0.113.0/24"]},
        "clusters": [
            {
                "name": "prod-aws",
                "provider": "aws",
                "region": "eu-west-1",
                "endpoint": endpoint.http_url,
                "max_attempts": 1,
                "roles": {"control-plane": {"security_group": "sg-0aaa"}},
            },
            {
                "name": "prod-gcp",
                "provider": "gcp",
                "project": "fuzz-project",
                "endpoint": endpoint.http_url,
                "roles": {"control-plane": {"target_tag": "cp"}},
            },
            {
                "name": "prod-azure",
                "provider": "azure",
                "subscription_id": "00000000-0000-4000-8000-000000000000",
                "resource_group": "rg",
                "endpoint": f"https://ops:{URL_PASSWORD}@127.0.0.1:{endpoint.port}",
                "ca_bundle": str(endpoint.ca_path),
                "credentials": "anonymous",
                "roles": {"control-plane": {"nsg": "cp", "address_prefixes": ["10.0.0.0/24"]}},
            },
        ],
    }


def _commands(config: Path, out: Path, n: int) -> list[list[str]]:
    plan = out / f"plan-{n}.json"
    table = Path(__file__).resolve().parents[1] / "core/data"
    tables = sorted(table.rglob("*.md"))
    return [
        ["version"],
        ["rules"],
        ["catalog", "list"],
        ["catalog", "show", "kubernetes"],
        *([["catalog", "parse", str(tables[0])]] if tables else []),
        ["validate"],
        ["plan"],
        ["plan", "--output", "json", "--out", str(plan)],
        ["plan", "--cluster", "prod-gcp"],
        ["audit", "--summary", str(out / f"summary-{n}.md")],
        ["audit", "--output", "sarif"],
        ["explain", "any", "control-plane:6443"],
        ["apply", "--auto-approve"],
        ["apply", str(plan), "--auto-approve"],
        ["show", str(plan)],
        [
            "init",
            "--discover",
            "aws",
            "--region",
            "eu-west-1",
            "--endpoint",
            f"http://ops:{URL_PASSWORD}@127.0.0.1:1",
            "--out",
            str(out / f"init-{n}.yaml"),
        ],
    ]


def _found(text: str) -> list[str]:
    found = [s for s in SENTINELS if s in text]
    found += [f"a JWT {m.group()}" for m in JWT.finditer(text)]
    found += ["a private key"] if "PRIVATE KEY" in text else []
    return found


def test_no_sentinel_in_any_output_of_any_command(
    world: tuple[Path, Path, RecordingEndpoint], tmp_path: Path
) -> None:
    config, out, endpoint = world
    leaks: list[str] = []
    runs = 0
    for n, mode in enumerate(MODES):
        for command in _commands(config, out, n):
            result = runner.invoke(app, [*mode, "--config", str(config), *command])
            runs += 1
            assert result.exit_code in (0, 1, 2), (command, result.output)
            assert "internal error" not in result.output, (command, result.output)
            for where, text in (("stdout", result.stdout), ("stderr", result.stderr)):
                leaks += [f"{mode} {command[:2]} {where}: {s}" for s in _found(text)]
    # Every file written: plans, summaries, the written config, crash logs, the state folder.
    inputs = {config, tmp_path / "adc.json"}
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p not in inputs]
    for path in written:
        leaks += [f"{path}: {s}" for s in _found(path.read_text(errors="replace"))]
    assert runs >= len(MODES) * 15
    # The test is real only if the secrets went out and came back in the error bodies.
    sent = "\n".join(endpoint.requests)
    assert KEY_ID in sent and SESSION_TOKEN in sent and JWT.search(sent)
    assert not leaks, "\n".join(leaks[:20])
