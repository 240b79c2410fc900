"""Common mistakes get one line naming what is wrong and the fix, exit 1 — never "internal error".

Each mapped error of docs/errors.md is driven here through the CLI: a mistyped endpoint, an
unreachable one, no credentials on each cloud, access denied on each cloud (answered by a local
endpoint with the cloud's own 403 document), a missing optional dependency, a NUL byte in a
path and a plan file nested too deeply to parse.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from portsync.cli import app
from tests.reliability.endpoints import CannedEndpoint, HungEndpoint

runner = CliRunner()

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ssl.SSLContext, Path]]:
    """A server TLS context for 127.0.0.1 and the PEM of the CA that signed it."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    pem = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    yield context, pem


def _cluster(cloud: str, url: str, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": f"prod-{cloud}", "provider": cloud, "endpoint": url}
    if cloud == "aws":
        base |= {"region": "eu-west-1", "roles": {"control-plane": {"security_group": "sg-0123"}}}
    elif cloud == "gcp":
        base |= {"project": "portsync-test", "roles": {"control-plane": {"target_tag": "k8s-cp"}}}
    else:
        base |= {
            "subscription_id": SUBSCRIPTION,
            "resource_group": "k8s",
            "roles": {"control-plane": {"nsg": "cp-nsg", "address_prefixes": ["10.0.1.0/24"]}},
        }
    return base | extra


def _write(tmp_path: Path, *clusters: dict[str, Any], **top: Any) -> Path:
    path = tmp_path / "portsync.yaml"
    data = {"sources": {"all": ["203.0.113.0/24"]}, "clusters": list(clusters), **top}
    path.write_text(yaml.safe_dump(data))
    return path


def _plan(config: Path, *args: str) -> Any:
    result = runner.invoke(app, ["--config", str(config), "plan", *args])
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.stderr
    assert "Traceback" not in result.output
    return result


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- endpoints -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("127.0.0.1:5000", "has no scheme: write http://127.0.0.1:5000"),
        ("${HOME}/ec2", "portsync does not expand environment variables"),
        ("http://$EMULATOR:5000", "portsync does not expand environment variables"),
        ("ftp://127.0.0.1", "must be an http:// or https:// URL"),
        ("http://", "names no host"),
    ],
)
def test_a_malformed_endpoint_is_a_config_error_before_any_call(
    tmp_path: Path, endpoint: str, message: str
) -> None:
    with HungEndpoint() as probe:  # would see a connection if portsync tried one
        config = _write(tmp_path, _cluster("aws", endpoint))
        result = _plan(config)
        assert probe.accepted == 0
    assert message in result.stderr
    assert "clusters.0.endpoint" in result.stderr


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_an_unreachable_endpoint_names_cluster_and_endpoint(
    tmp_path: Path, cloud: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    scheme = "https" if cloud == "azure" else "http"
    url = f"{scheme}://127.0.0.1:{_closed_port()}"
    cluster = _cluster(cloud, url, credentials="anonymous", timeout=1)
    if cloud == "aws":
        cluster.pop("credentials")
    config = _write(tmp_path, cluster)
    result = _plan(config)
    assert f"cluster prod-{cloud}: " in result.stderr
    assert f"cannot reach {url}" in result.stderr


# -- credentials -----------------------------------------------------------------------------------


def test_aws_without_credentials_names_the_chain(tmp_path: Path) -> None:
    with HungEndpoint() as probe:
        config = _write(tmp_path, _cluster("aws", probe.url))
        result = _plan(config)
        assert probe.accepted == 0
    assert "cluster prod-aws: AWS describe_security_groups failed: no AWS credentials found" in (
        result.stderr
    )
    assert "AWS_ACCESS_KEY_ID" in result.stderr
    assert "instance metadata" in result.stderr


def test_gcp_without_credentials_names_the_chain(tmp_path: Path) -> None:
    pytest.importorskip("google.auth")
    config = _write(tmp_path, _cluster("gcp", "http://127.0.0.1:9"))
    result = _plan(config)
    assert "no Google credentials found; looked at GOOGLE_APPLICATION_CREDENTIALS" in result.stderr
    assert "gcloud auth application-default login" in result.stderr


def test_azure_without_credentials_names_the_chain(
    tmp_path: Path, tls: tuple[ssl.SSLContext, Path]
) -> None:
    pytest.importorskip("azure.identity")
    context, pem = tls
    with CannedEndpoint(200, b"{}", content_type="application/json", tls=context) as canned:
        config = _write(tmp_path, _cluster("azure", canned.url, ca_bundle=str(pem)))
        result = _plan(config)
        assert canned.count == 0
    assert "no usable Azure credentials were found" in result.stderr
    assert "managed identity, the Azure CLI" in result.stderr
    assert "az login" in result.stderr


# -- access denied ---------------------------------------------------------------------------------

_AWS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>UnauthorizedOperation'
    b"</Code><Message>You are not authorized to perform this operation.</Message></Error>"
    b"</Errors><RequestID>2d1e6b1c</RequestID></Response>"
)
_GCP_DENIED = json.dumps(
    {
        "error": {
            "code": 403,
            "message": "Required 'compute.firewalls.list' permission for 'projects/portsync-test'",
            "errors": [
                {"message": "Required permission", "domain": "global", "reason": "forbidden"}
            ],
        }
    }
).encode()
_AZURE_DENIED = json.dumps(
    {
        "error": {
            "code": "AuthorizationFailed",
            "message": "The client does not have authorization to perform action "
            "'Microsoft.Network/networkSecurityGroups/read' over scope '/subscriptions/x'.",
        }
    }
).encode()


def test_aws_access_denied_names_the_call_and_the_action(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with CannedEndpoint(403, _AWS_DENIED, content_type="text/xml") as canned:
        result = _plan(_write(tmp_path, _cluster("aws", canned.url)))
        # The groups' and the rules' listings go out side by side, each once: a refusal is
        # not retried.
        assert canned.count == 2
    assert (
        "cluster prod-aws: AWS describe_security_groups was denied (UnauthorizedOperation): the "
        "caller may not call ec2:DescribeSecurityGroups" in result.stderr
    )
    assert "allow ec2:DescribeSecurityGroups in the IAM policy" in result.stderr


def test_gcp_access_denied_names_the_call_and_the_permission(tmp_path: Path) -> None:
    with CannedEndpoint(403, _GCP_DENIED, content_type="application/json") as canned:
        config = _write(tmp_path, _cluster("gcp", canned.url, credentials="anonymous"))
        result = _plan(config)
        assert canned.count == 1
    assert (
        "cluster prod-gcp: GCP listing the firewalls of project portsync-test was denied (403): "
        "the caller lacks the permission compute.firewalls.list" in result.stderr
    )


def test_azure_access_denied_names_the_call_and_the_permission(
    tmp_path: Path, tls: tuple[ssl.SSLContext, Path]
) -> None:
    context, pem = tls
    with CannedEndpoint(403, _AZURE_DENIED, content_type="application/json", tls=context) as c:
        cluster = _cluster("azure", c.url, credentials="anonymous", ca_bundle=str(pem))
        result = _plan(_write(tmp_path, cluster))
        assert c.count == 1
    assert (
        "cluster prod-azure: Azure listing the network security groups of resource group k8s was "
        "denied (AuthorizationFailed): the caller may not perform "
        "Microsoft.Network/networkSecurityGroups/read" in result.stderr
    )


# -- files and dependencies ------------------------------------------------------------------------


def test_a_nul_byte_in_a_catalog_path_is_an_input_error(tmp_path: Path) -> None:
    config = tmp_path / "portsync.yaml"
    config.write_text('catalog: "tables\\0.md"\n')
    result = runner.invoke(app, ["--config", str(config), "rules"])
    assert result.exit_code == 1, result.output
    assert "NUL" in result.stderr
    assert "internal error" not in result.stderr


def test_a_plan_file_nested_too_deeply_is_a_plan_file_error(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    result = runner.invoke(app, ["show", str(deep)])
    assert result.exit_code == 1, result.output
    assert f"{deep}: not a JSON plan file" in result.stderr
    assert "internal error" not in result.stderr


def test_demo_without_the_emulators_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # As if moto were not installed: importing it raises ImportError.
    monkeypatch.setitem(sys.modules, "moto", None)
    monkeypatch.setitem(sys.modules, "moto.server", None)
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 1, result.output
    assert "pip install 'portsync[emulators]'" in result.stderr
    assert "internal error" not in result.stderr
