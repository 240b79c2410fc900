"""GCP: a hung endpoint is reported after a bounded number of attempts, naming the cluster and the
endpoint; 5xx and 429 answers are retried whatever their body, with a notice per retry; an
answer that is not Compute Engine JSON is reported as such. google-cloud-compute talks real HTTP
to the misbehaving endpoints of :mod:`tests.reliability.endpoints`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from portsync.cli import app
from portsync.config import Timeouts
from portsync.control import TIMEOUT_ATTEMPTS, worst_case_wait
from portsync.providers.gcp.adapter import NO_ANSWER_BACKOFF

from .endpoints import CannedEndpoint, HungEndpoint

runner = CliRunner()

# Imported here, not in the first test: ``--deadline`` counts from the command's start, and a
# first import of the SDK can take seconds on a busy machine.
pytest.importorskip("google.cloud.compute_v1")

SHORT = {"connect": 0.5, "read": 0.3}


def _config(tmp_path: Path, url: str, **cluster: Any) -> Path:
    path = tmp_path / "portsync.yaml"
    entry = {
        "name": "prod-gcp",
        "provider": "gcp",
        "project": "portsync-test",
        "endpoint": url,
        "credentials": "anonymous",
        "roles": {"control-plane": {"target_tag": "k8s-cp"}},
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
    with HungEndpoint() as hung:
        config = _config(tmp_path, hung.url, timeout=SHORT)
        result = runner.invoke(app, ["--config", str(config), "plan"])
        attempts = hung.accepted
    assert result.exit_code == 1
    assert attempts == TIMEOUT_ATTEMPTS
    assert (
        f"cluster prod-gcp: GCP listing the firewalls of project portsync-test failed: "
        f"no answer from {hung.url} (read timeout" in result.stderr
    )
    assert "retrying prod-gcp firewalls.list after a read timeout (2/3)" in result.stderr
    assert "internal error" not in result.stderr


@pytest.mark.parametrize(
    ("status", "reason"), [(500, "HTTP 500"), (503, "HTTP 503"), (429, "throttling")]
)
def test_transient_answers_with_a_body_that_is_not_json_are_retried(
    tmp_path: Path, status: int, reason: str
) -> None:
    with CannedEndpoint(status, b"upstream overloaded, try later") as canned:
        config = _config(tmp_path, canned.url)
        result = runner.invoke(
            app, ["--config", str(config), "plan", "--deadline", "3"], catch_exceptions=False
        )
        count = canned.count
    assert result.exit_code == 1
    assert count >= 2
    assert f"retrying prod-gcp firewalls.list after {reason} (2)" in result.stderr


def test_an_answer_that_is_not_compute_engine_is_reported_not_retried(tmp_path: Path) -> None:
    page = b"<!doctype html><html><body>Welcome to nginx!</body></html>"
    with CannedEndpoint(200, page, content_type="text/html") as canned:
        config = _config(tmp_path, canned.url)
        result = runner.invoke(app, ["--config", str(config), "plan"])
        count = canned.count
    assert result.exit_code == 1
    assert count == 1
    assert f"the answer from {canned.url} is not Compute Engine JSON" in result.stderr
    assert "internal error" not in result.stderr
