"""Fixtures of the reliability tests."""

from __future__ import annotations

import functools
from typing import Any

import pytest
import typer.main
import typer.testing


@functools.cache
def _command(app: Any) -> Any:
    return typer.main.get_command(app)


@pytest.fixture
def fast_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build the click command of the app once, not on every CliRunner.invoke.

    Building it costs about 80 ms (typer reads every command's signature); a fuzz run invokes the
    command line thousands of times. The command built is the same one each time.
    """
    if hasattr(typer.testing, "_get_command"):
        monkeypatch.setattr(typer.testing, "_get_command", _command)
