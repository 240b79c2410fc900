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


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        # AWS: key ids, secret keys and session tokens in headers, XML and pairs.
        ("used ASIAQWERTYUIOPASDFGH for the call", "QWERTYUIOPASDFGH"),
        ("<SecretAccessKey>wJalrXUtnFEMI/K7MDENG</SecretAccessKey>", "wJalrXUtnFEMI"),
        ("<SessionToken>IQoJb3JpZ2luX2VjEJr</SessionToken>", "IQoJb3JpZ2luX2VjEJr"),
        ("aws_secret_access_key = wJalrXUtnFEMIK7MDENG", "wJalrXUtnFEMIK7MDENG"),
        ("X-Amz-Security-Token: IQoJb3JpZ2luX2VjEJr/+=", "IQoJb3JpZ2luX2VjEJr"),
        ("{'X-Amz-Security-Token': b'IQoJb3JpZ2luX2VjEJr'}", "IQoJb3JpZ2luX2VjEJr"),
        # Authorization headers, whole: SigV4 and bearer.
        (
            "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/eu-west-1/"
            "ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=fe5f80f77d5fa3beca038a2",
            "fe5f80f77d5fa3beca038a2",
        ),
        ('"authorization": "Bearer opaque-token-value"', "opaque-token-value"),
        ("authorization=Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        # GCP: x-goog-iam-* headers, OAuth access tokens.
        ("x-goog-iam-authorization-token: iam-token-value-1", "iam-token-value-1"),
        ("{'x-goog-iam-authority-selector': 'someone@example.com'}", "someone@example.com"),
        ("token ya29.a0AfH6SMBx3jlOq_value", "a0AfH6SMBx3jlOq_value"),
        # JWTs anywhere, client secrets, SAS signatures, private keys.
        ("id eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl end", "eyJzdWIiOiIxMjM0In0"),
        ("grant_type=client_credentials&client_secret=Abc~123.xyz&scope=x", "Abc~123.xyz"),
        ("https://acct.blob.core.windows.net/c?sv=2022-11-02&sig=K2x%2Bq%3D&se=1", "K2x%2Bq%3D"),
        ("AccountKey=bm90LWEta2V5LXJlYWxseQ==;EndpointSuffix=core", "bm90LWEta2V5LXJlYWxseQ"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "MIIEow"),
        # Passwords in URLs.
        ("cannot reach http://admin:hunter2-pass@10.0.0.1:8080/x", "hunter2-pass"),
        ("endpoint 'https://u:p%40ss@host'", "p%40ss"),
    ],
)
def test_redact_masks_every_secret_shape(line: str, secret: str) -> None:
    masked = redact(line)
    assert secret not in masked
    assert "***" in masked


@pytest.mark.parametrize(
    "text",
    [
        "cluster prod-aws: tcp 6443 from cidr:10.0.0.0/8 on sg-0123456789abcdef0",
        "http://127.0.0.1:5000/ and http://[::1]:8080/path",
        "role [/x] of a[/b] in [/]x.md",
        "Authorizing ingress on sg-1",
    ],
)
def test_redact_leaves_ordinary_text_alone(text: str) -> None:
    assert redact(text) == text


def test_redact_masks_secret_named_environment_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", "opaque-VALUE-1234")
    monkeypatch.setenv("MY_TOKEN_FILE", "/var/run/secrets/token")  # a path, not a secret
    assert redact("got opaque-VALUE-1234 from /var/run/secrets/token") == (
        "got *** from /var/run/secrets/token"
    )


def test_register_secret_masks_it_everywhere() -> None:
    from portsync.redact import register_secret

    register_secret("config-PASSWORD-42")
    assert redact("sent config-PASSWORD-42") == "sent ***"


def test_redact_keeps_commands_in_hints() -> None:
    hint = "check the Azure credentials (DefaultAzureCredential: `az login`, a managed identity)"
    assert redact(hint) == hint
