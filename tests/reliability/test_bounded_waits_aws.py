"""AWS: a hung endpoint is reported after a bounded number of attempts, naming the cluster and the
endpoint; 5xx and 429 answers are retried whatever their body, with a notice per retry; an
answer that is not EC2 XML is reported as such. boto3 talks real HTTP to the misbehaving
endpoints of :mod:`tests.reliability.endpoints`; small ``timeout:`` values keep each test short.
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
from portsync.providers.aws.retries import NO_ANSWER_BACKOFF

from .endpoints import CannedEndpoint, HungEndpoint

runner = CliRunner()

SHORT = {"connect": 0.5, "read": 0.3}

#: A plan's read sends the groups' listing and the rules' listing side by side (one group here,
#: so one rules' filter), each with a retry budget of its own: the attempts below are per call.
LISTINGS = 2


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


@pytest.fixture
def fast_throttle_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore backs off 1 s, 2 s, 4 s … after throttling; 0.05 s scale here (private knob;
    without it the tests only run slower)."""
    from botocore.retries.standard import ExponentialBackoff

    scales = getattr(ExponentialBackoff, "_DEFAULT_BACKOFF_CONFIG", None)
    if isinstance(scales, dict) and "throttling_base_scale" in scales:
        monkeypatch.setitem(scales, "throttling_base_scale", 0.05)


def _config(tmp_path: Path, url: str, **cluster: Any) -> Path:
    path = tmp_path / "portsync.yaml"
    entry = {
        "name": "prod-aws",
        "provider": "aws",
        "region": "eu-west-1",
        "endpoint": url,
        "roles": {"control-plane": {"security_group": "sg-0123"}},
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
        config = _config(tmp_path, hung.url, timeout=SHORT, retry_mode="standard")
        result = runner.invoke(app, ["--config", str(config), "plan"])
        attempts = hung.accepted
    assert result.exit_code == 1
    # max_attempts is 8 by default: a call that gets no answer is tried three times only.
    assert attempts == LISTINGS * TIMEOUT_ATTEMPTS
    assert f"cluster prod-aws: AWS describe_security_groups failed: no answer from {hung.url}" in (
        result.stderr
    )
    assert "retrying prod-aws DescribeSecurityGroups after a read timeout (2/3)" in result.stderr
    assert "internal error" not in result.stderr


@pytest.mark.usefixtures("fast_throttle_backoff")
@pytest.mark.parametrize(
    ("status", "reason"),
    [(500, "HTTP 500 InternalError"), (503, "HTTP 503 Unavailable"), (429, "throttling")],
)
def test_transient_answers_with_a_body_that_is_not_xml_are_retried(
    tmp_path: Path, status: int, reason: str
) -> None:
    with CannedEndpoint(status, b"upstream overloaded, try later") as canned:
        config = _config(tmp_path, canned.url, max_attempts=3, retry_mode="standard")
        result = runner.invoke(app, ["--config", str(config), "plan"])
    assert result.exit_code == 1
    assert canned.count == LISTINGS * 3
    assert f"retrying prod-aws DescribeSecurityGroups after {reason} (2/3)" in result.stderr
    assert f"retrying prod-aws DescribeSecurityGroups after {reason} (3/3)" in result.stderr
    assert f"HTTP {status} with a body that is not EC2 XML" in result.stderr
    # The body itself is not repeated: an error page may echo the request's headers.
    assert "upstream overloaded" not in result.stderr


def test_an_answer_that_is_not_ec2_is_reported_not_retried(tmp_path: Path) -> None:
    page = b"<!doctype html><html><body>Welcome to nginx!</body></html>"
    with CannedEndpoint(200, page, content_type="text/html") as canned:
        config = _config(tmp_path, canned.url)
        result = runner.invoke(app, ["--config", str(config), "plan"])
    assert result.exit_code == 1
    assert canned.count == LISTINGS
    assert f"the answer from {canned.url} is not EC2 XML" in result.stderr
    assert "internal error" not in result.stderr


def test_deadline_stops_the_retries(tmp_path: Path) -> None:
    with HungEndpoint() as hung:
        # Without the deadline this would take 3 × 60 s.
        config = _config(tmp_path, hung.url, timeout={"connect": 60, "read": 60})
        result = runner.invoke(app, ["--config", str(config), "plan", "--deadline", "1"])
        attempts = hung.accepted
    assert result.exit_code == 1
    # The read timeout is clipped to the deadline and no retry starts after it (on a slow
    # machine the deadline may even pass before the first call).
    assert attempts <= LISTINGS
    assert "error: the --deadline of 1 s passed" in result.stderr
    assert "retrying" not in result.stderr


def test_unknown_profile_is_a_config_error(tmp_path: Path) -> None:
    config = _config(tmp_path, "http://127.0.0.1:9", profile="prodution")
    result = runner.invoke(app, ["--config", str(config), "plan"])
    assert result.exit_code == 1
    assert "cluster prod-aws: AWS profile 'prodution' is not defined in" in result.stderr
    assert "aws configure --profile prodution" in result.stderr
