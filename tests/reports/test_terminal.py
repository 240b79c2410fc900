"""Terminal manners: JSON logs, redaction, --quiet, progress only on a terminal, colours."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from rich.console import Console
from typer.testing import CliRunner

from portsync import cli
from portsync.cli import app
from portsync.logs import JsonFormatter, configure_logging, redact
from portsync.output import Output

from .conftest import AwsWorld, open_to

runner = CliRunner()

_SGR = re.compile(r"\x1b\[([0-9;]*)m")


def _has_color(text: str) -> bool:
    for params in _SGR.findall(text):
        codes = [int(p) for p in params.split(";") if p]
        if any(30 <= c <= 38 or 90 <= c <= 97 for c in codes):
            return True
    return False


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    yield
    configure_logging("text")


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("key AKIAIOSFODNN7EXAMPLE used", "IOSFODNN7EXAMPLE"),
        ("Authorization: AWS4-HMAC-SHA256 Credential=testing/2024/eu", "testing/2024"),
        ("'X-Amz-Security-Token': 'FwoGZXIvYXdzE'", "FwoGZXIvYXdzE"),
        ("Signature=0123456789abcdef", "0123456789abcdef"),
        ("Authorization: Bearer eyJ0eXAiOiJKV1Qi.abc", "eyJ0eXAiOiJKV1Qi"),
        ("client_secret=s3cr3t&x=1", "s3cr3t"),
        ('{"password": "hunter2"}', "hunter2"),
    ],
)
def test_redact_secret_shapes_are_masked(line: str, secret: str) -> None:
    masked = redact(line)
    assert secret not in masked
    assert "***" in masked


def test_redact_plain_text_is_untouched() -> None:
    text = "cluster prod-aws: 3 rules on sg-0aaa from cidr:10.0.0.0/8"
    assert redact(text) == text


def test_json_formatter_one_object_with_level_logger_message_time() -> None:
    record = logging.LogRecord("portsync.api", logging.WARNING, "x", 1, "hi %s", ("there",), None)
    data = json.loads(JsonFormatter().format(record))
    assert data["level"] == "warning" and data["logger"] == "portsync.api"
    assert data["message"] == "hi there"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["time"])


def test_cli_log_format_json_stderr_is_only_json_lines(aws_world: AwsWorld) -> None:
    cfg = str(aws_world.config_path)
    result = runner.invoke(app, ["--config", cfg, "--log-format", "json", "--debug", "plan"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines
    records = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["logger"] == "portsync.progress" and "prod-aws" in r["message"] for r in records)
    # botocore logs signed request headers at DEBUG: the signature never reaches the log.
    assert not re.search(r"Signature=[0-9a-f]{16}", result.stderr)
    assert "Credential=testing" not in result.stderr


def test_cli_log_format_json_error_is_a_json_record(tmp_path: object) -> None:
    result = runner.invoke(app, ["--log-format", "json", "explain", "any", "nowhere"])
    assert result.exit_code == 1
    (record,) = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert record["level"] == "error" and "ROLE:PORT/PROTO" in record["message"]


def test_cli_quiet_silences_progress_lines(aws_world: AwsWorld) -> None:
    cfg = str(aws_world.config_path)
    loud = runner.invoke(app, ["--config", cfg, "plan"])
    assert "reading prod-aws (aws)" in loud.stderr  # plain line: stderr is not a terminal
    assert "\x1b[" not in loud.stderr
    quiet = runner.invoke(app, ["--config", cfg, "--quiet", "plan"])
    assert quiet.exit_code == 0
    assert quiet.stderr == ""


def test_progress_live_status_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    captured: list[str] = []
    monkeypatch.setattr(Output, "info", lambda self, message: captured.append(message))
    out = Output()
    out._consoles["err"] = Console(file=io.StringIO(), force_terminal=False)
    monkeypatch.setattr(cli.state, "output", out)
    with cli._progress("reading") as progress:
        progress("reading c1 (aws)")
    assert captured == ["reading c1 (aws)"]

    tty = Output()
    tty._consoles["err"] = Console(file=io.StringIO(), force_terminal=True)
    monkeypatch.setattr(cli.state, "output", tty)
    captured.clear()
    with cli._progress("reading") as progress:
        assert progress._status is not None
        progress("reading c1 (aws)")
    assert captured == []


def test_cli_colors_follow_no_color_flag_and_env(
    aws_world: AwsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_to(aws_world, aws_world.cp, "tcp", (2379, 2380), "0.0.0.0/0")
    cfg = str(aws_world.config_path)
    monkeypatch.setenv("FORCE_COLOR", "1")
    colored = runner.invoke(app, ["--config", cfg, "audit"])
    assert colored.exit_code == 0, colored.output
    assert _has_color(colored.stdout)
    flag = runner.invoke(app, ["--config", cfg, "--no-color", "audit"])
    assert "PS-EXPOSED-ETCD" in flag.stdout and not _has_color(flag.stdout)
    monkeypatch.setenv("NO_COLOR", "1")
    env = runner.invoke(app, ["--config", cfg, "audit"])
    assert "PS-EXPOSED-ETCD" in env.stdout and not _has_color(env.stdout)
