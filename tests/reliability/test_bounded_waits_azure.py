"""Azure: a hung endpoint is reported after a bounded number of attempts, naming the cluster and
the endpoint (azure-core's defaults took over 15 minutes); 5xx and 429 answers are retried
whatever their body, with a notice per retry; an answer that is not ARM JSON is reported as such.
azure-mgmt-network talks real HTTPS to the misbehaving endpoints of
:mod:`tests.reliability.endpoints`.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from portsync.cli import app
from portsync.config import Timeouts
from portsync.control import TIMEOUT_ATTEMPTS, worst_case_wait
from portsync.providers.azure.adapter import NO_ANSWER_BACKOFF

from .endpoints import CannedEndpoint, HungEndpoint

runner = CliRunner()

# Imported here, not in the first test: ``--deadline`` counts from the command's start, and a
# first import of the SDK can take seconds on a busy machine.
pytest.importorskip("azure.mgmt.network")

SHORT = {"connect": 0.5, "read": 0.3}


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


def _config(tmp_path: Path, url: str, **cluster: Any) -> Path:
    path = tmp_path / "portsync.yaml"
    entry = {
        "name": "prod-azure",
        "provider": "azure",
        "subscription_id": "00000000-0000-0000-0000-000000000000",
        "resource_group": "k8s",
        "endpoint": url,
        "credentials": "anonymous",
        "roles": {"control-plane": {"nsg": "cp-nsg", "address_prefixes": ["10.0.1.0/24"]}},
        **cluster,
    }
    path.write_text(yaml.safe_dump({"sources": {"all": ["203.0.113.0/24"]}, "clusters": [entry]}))
    return path


def test_default_timeouts_report_a_hung_endpoint_within_two_minutes() -> None:
    defaults = Timeouts()
    assert worst_case_wait(defaults.connect, defaults.read, backoff=NO_ANSWER_BACKOFF) < 120


def test_hung_endpoint_is_reported_after_three_attempts_naming_cluster_and_endpoint(
    tmp_path: Path,
) -> None:
    with HungEndpoint(scheme="https") as hung:
        config = _config(tmp_path, hung.url, timeout=SHORT)
        result = runner.invoke(app, ["--config", str(config), "plan"])
        attempts = hung.accepted
    assert result.exit_code == 1, result.output
    assert attempts == TIMEOUT_ATTEMPTS
    assert (
        "cluster prod-azure: Azure listing the network security groups of resource group k8s"
        in (result.stderr)
    )
    assert f"no answer from {hung.url}" in result.stderr
    assert "retrying prod-azure networkSecurityGroups.list after a " in result.stderr
    assert f"(2/{TIMEOUT_ATTEMPTS})" in result.stderr
    assert "internal error" not in result.stderr


@pytest.mark.parametrize(
    ("status", "reason"), [(500, "HTTP 500"), (503, "HTTP 503"), (429, "throttling")]
)
def test_transient_answers_with_a_body_that_is_not_json_are_retried(
    tmp_path: Path, tls: tuple[ssl.SSLContext, Path], status: int, reason: str
) -> None:
    context, pem = tls
    with CannedEndpoint(status, b"upstream overloaded, try later", tls=context) as canned:
        config = _config(tmp_path, canned.url, ca_bundle=str(pem))
        result = runner.invoke(app, ["--config", str(config), "plan", "--deadline", "3"])
        count = canned.count
    assert result.exit_code == 1, result.output
    assert count >= 2
    assert f"retrying prod-azure networkSecurityGroups.list after {reason} (2/7)" in result.stderr
    assert "internal error" not in result.stderr


def test_an_answer_that_is_not_arm_is_reported_not_retried(
    tmp_path: Path, tls: tuple[ssl.SSLContext, Path]
) -> None:
    context, pem = tls
    page = b"<!doctype html><html><body>Welcome to nginx!</body></html>"
    with CannedEndpoint(200, page, content_type="text/html", tls=context) as canned:
        config = _config(tmp_path, canned.url, ca_bundle=str(pem))
        result = runner.invoke(app, ["--config", str(config), "plan"])
        count = canned.count
    assert result.exit_code == 1, result.output
    assert count == 1
    assert f"the answer from {canned.url} is not Azure Resource Manager JSON" in result.stderr
    assert "internal error" not in result.stderr
