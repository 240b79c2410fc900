"""Credentials never appear in output or logs, on success or on error paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from portsync.cli import app

from .conftest import AwsWorld

SECRET = "SENTINELsecretKEY0123456789abcdefSENTINEL"
KEY_ID = "AKIASENTINELKEYID000"


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SECRET + "token")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)


def _assert_clean(text: str) -> None:
    assert SECRET not in text
    assert KEY_ID not in text


def test_plan_and_apply_with_debug_never_print_credentials(
    aws_world: AwsWorld, secret_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    runner = CliRunner()
    cfg = str(aws_world.config_path)
    for args in (["plan"], ["plan", "--output", "json"], ["apply", "--auto-approve"]):
        result = runner.invoke(app, ["--debug", "--config", cfg, *args])
        assert result.exit_code == 0, result.output
        _assert_clean(result.output)
    _assert_clean(caplog.text)


def test_cloud_error_path_never_prints_credentials(
    aws_world: AwsWorld, secret_env: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A dead endpoint: the error names the endpoint problem, never the keys.
    aws_world.url = "http://127.0.0.1:9"
    aws_world.config_path = tmp_path / "dead.yaml"
    aws_world.write_config()
    data = yaml.safe_load(aws_world.config_path.read_text())
    data["clusters"][0]["max_attempts"] = 2
    aws_world.config_path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["--config", str(aws_world.config_path), "plan"])
    assert result.exit_code == 1
    assert "cannot reach http://127.0.0.1:9" in result.stderr
    _assert_clean(result.output)
    _assert_clean(caplog.text)
