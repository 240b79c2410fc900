"""Secrets are redacted from log lines."""

from __future__ import annotations

import logging

import pytest

from portsync.redact import RedactingFilter, redact


def test_redact_env_secret_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value-XYZ")
    assert redact("key is s3cr3t-value-XYZ here") == "key is *** here"


def test_redact_bearer_tokens_and_signatures() -> None:
    text = "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig Signature=0123456789abcdef0123"
    out = redact(text)
    assert "eyJhbGci" not in out
    assert "0123456789abcdef0123" not in out


def test_filter_rewrites_record_with_args(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "tok-SENTINEL-123")
    record = logging.LogRecord(
        "x", logging.DEBUG, __file__, 1, "headers %s", ("tok-SENTINEL-123",), None
    )
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "headers ***"
