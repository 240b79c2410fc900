"""Every output path is redacted: the error line, --debug tracebacks (text and JSON logs) and
crash logs, which go only to a private file in the user's state folder."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from portsync import synthesis
from portsync.cli import app

runner = CliRunner()

KEY_ID = "AKIASENTINELKEY00042"
TOKEN = "SENTINEL-bearer-token-77"
PASSWORD = "SENTINEL-url-pass-99"
BOOM = f"boom with Authorization: Bearer {TOKEN} by {KEY_ID} to https://ops:{PASSWORD}@example.com/"


def _assert_clean(text: str) -> None:
    for sentinel in (KEY_ID, TOKEN, PASSWORD):
        assert sentinel not in text


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    return home


@pytest.fixture
def bug(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(BOOM)

    monkeypatch.setattr(synthesis, "synthesize", broken)


def test_internal_error_writes_a_private_redacted_crash_log_it_names(
    state_home: Path, tmp_path: Path, bug: None
) -> None:
    result = runner.invoke(app, ["rules"])
    assert result.exit_code == 1
    assert "internal error, please report" in result.stderr
    _assert_clean(result.output)
    logs = list((state_home / "portsync").glob("crash-*.log"))
    assert len(logs) == 1
    assert str(logs[0]) in result.stderr
    assert stat.S_IMODE(logs[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(logs[0].parent.stat().st_mode) == 0o700
    text = logs[0].read_text()
    assert "Traceback" in text and "RuntimeError" in text
    _assert_clean(text)
    assert not list((tmp_path / "tmp").iterdir())  # nothing left in the shared temp folder


def test_crash_log_defaults_to_local_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bug: None
) -> None:
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    result = runner.invoke(app, ["rules"])
    assert result.exit_code == 1
    logs = list((tmp_path / ".local/state/portsync").glob("crash-*.log"))
    assert len(logs) == 1 and str(logs[0]) in result.stderr


def test_debug_traceback_is_redacted(state_home: Path, bug: None) -> None:
    result = runner.invoke(app, ["--debug", "rules"])
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError" in result.stderr
    _assert_clean(result.output)


def test_debug_traceback_in_json_logs_is_one_redacted_record(state_home: Path, bug: None) -> None:
    result = runner.invoke(app, ["--debug", "--log-format", "json", "rules"])
    assert result.exit_code == 1
    records = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert any("RuntimeError" in r.get("exception", "") for r in records)
    assert any("internal error" in r["message"] for r in records)
    _assert_clean(result.output)


def test_error_line_is_redacted(tmp_path: Path) -> None:
    # A config error quoting a URL with a password: the password never prints.
    path = tmp_path / "portsync.yaml"
    path.write_text(f"catalog: 'https://ops:{PASSWORD}@example.com/x.md'\n")
    result = runner.invoke(app, ["--config", str(path), "rules"])
    assert result.exit_code == 1
    assert "example.com" in result.stderr
    _assert_clean(result.output)
