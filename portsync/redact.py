"""One redaction pass for every line portsync writes: credentials never leave the process.

Every output path goes through :func:`redact` — the error line, progress lines, log records (text
and JSON), ``--debug`` tracebacks and crash logs. It removes:

* the values of credential environment variables (a fixed list, and any variable whose name says
  secret, token, password, credential or private key) and of secrets the config named
  (:func:`register_secret`: an endpoint's password);
* AWS access-key ids (``AKIA…``, ``ASIA…``), secret keys and session tokens in headers, XML and
  ``key=value`` pairs, SigV4 credentials and signatures;
* the ``Authorization``, ``X-Amz-Security-Token`` and ``x-goog-iam-*`` headers, whatever their
  spelling (``Name: value``, ``'Name': b'value'``, ``"name": "value"``);
* bearer tokens, JWTs, Google OAuth access tokens (``ya29.…``), PEM private keys;
* ``client_secret``, ``password``, ``token``, ``AccountKey`` … pairs and SAS signatures
  (``sig=…``);
* passwords in URLs (``https://user:PASS@host``).

The CLI also installs :class:`RedactingFilter` on the root log handler, so even third-party debug
logs (the SDKs print request headers at DEBUG) cannot leak a secret.
"""

from __future__ import annotations

import functools
import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

__all__ = ["MASK", "SECRET_ENV_VARS", "RedactingFilter", "redact", "register_secret"]

MASK = "***"

#: Environment variables whose values are secrets (any length of 4 or more).
SECRET_ENV_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_PASSWORD",
    "ARM_CLIENT_SECRET",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
    "CLOUDSDK_AUTH_ACCESS_TOKEN",
)

# Other variables whose *name* says they hold a secret; their values are masked when long enough
# (8+) that masking cannot eat ordinary words.
_SECRET_NAME = (
    r"(?i)(secret|token|passw(or)?d|credential|private[_-]?key|access[_-]?key|api[_-]?key|"
    r"account[_-]?key|(^|_)sas(_|$))"
)
# ... unless the variable names a file or folder holding them: its value is a path, not a secret.
_PATH_NAME = r"(?i)(file|path|dir|config)$"

# Secrets learnt at run time (an endpoint's password in the config).
_registered: set[str] = set()

# A header value runs to the end of its quotes; unquoted, it is a scheme and a credential
# (``Bearer abc``), plus SigV4's ``, SignedHeaders=…, Signature=…`` parts.
_HEADER_VALUE = (
    r"(?:b?'[^'\n]*'|b?\"[^\"\n]*\""
    r"|[^\s,;}'\"]+(?:[ \t]+[^\s,;}'\"]+)?(?:,\s*(?:SignedHeaders|Signature)=[^\s,}'\"]+)*)"
)


@functools.cache
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """The secret-shaped patterns, compiled on the first redaction: most runs (``--help``, a
    command that succeeds quietly) never redact anything, and compiling them all took longer
    than the rest of the start-up portsync adds to the CLI framework's."""
    return (
        # PEM private keys, whole.
        (
            re.compile(
                r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|$)", re.S
            ),
            "-----BEGIN PRIVATE KEY-----" + MASK,
        ),
        # Whole header values: Authorization, Proxy-Authorization, X-Amz-Security-Token, x-goog-iam-*.
        (
            re.compile(
                r"(?i)((?:proxy-)?authorization|x-amz-security-token|x-goog-iam-[\w-]+)"
                r"(['\"]?\s*[:=]\s*)" + _HEADER_VALUE
            ),
            r"\1\2" + MASK,
        ),
        # Passwords in URLs: scheme://user:PASS@host (also as a path squashed it: scheme:/user:…).
        (
            re.compile(r"(?i)\b([a-z][a-z0-9+.-]*:/{1,2}[^\s/:@'\"]*:)[^\s/@'\"]+(@)"),
            r"\1" + MASK + r"\2",
        ),
        # Bearer tokens, JWTs, Google OAuth access tokens.
        (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"), r"\1" + MASK),
        (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*)?"), MASK),
        (re.compile(r"\bya29\.[A-Za-z0-9._-]+"), MASK),
        # SigV4 credential scope and signature, SAS signature.
        (re.compile(r"(?i)(credential=)[^,\s'\"&]+"), r"\1" + MASK),
        (re.compile(r"(?i)(signature=)[^,\s'\"&]+"), r"\1" + MASK),
        (re.compile(r"(?i)([?&;]sig=)[^&\s'\"]+"), r"\1" + MASK),
        # AWS access-key ids (long-term AKIA, temporary ASIA).
        (re.compile(r"\b(A(?:KIA|SIA))[0-9A-Z]{12,}\b"), r"\1" + MASK),
        # XML elements whose name says secret: <SecretAccessKey>…</SecretAccessKey>, <SessionToken>.
        (
            re.compile(
                r"(?i)(<(\w*(?:secret|token|password|accesskeyid)\w*)>)[^<]*(</\2>)",
            ),
            r"\1" + MASK + r"\3",
        ),
        # key=value / key: value / "key": "value" pairs whose key names a secret.
        (
            re.compile(
                r"(?i)([\"']?\b[\w-]*(?:secret|password|passwd|token|signature|credentials?|"
                r"api[_-]?key|private[_-]?key|accountkey|access[_-]?key[_-]?id|sas)[\w-]*[\"']?"
                r"\s*[:=]\s*b?[\"']?)"
                # (a value in backquotes is a command in a hint, such as `az login`, not a secret)
                r"([^\s,;'\"}&<`]+)"
            ),
            r"\1" + MASK,
        ),
    )


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever it appears from now on (a password read from the config)."""
    if value and len(value) >= 4:
        _registered.add(value)


def _known_secrets() -> list[str]:
    values = set(_registered)
    for name in SECRET_ENV_VARS:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            values.add(value)
    for name, value in os.environ.items():
        if len(value) >= 8 and re.search(_SECRET_NAME, name) and not re.search(_PATH_NAME, name):
            values.add(value)
    # Longest first: a secret that contains another is masked whole.
    return sorted(values, key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every known secret and every secret-shaped value replaced by ``***``."""
    if not text:
        return text
    for value in _known_secrets():
        if value in text:
            text = text.replace(value, MASK)
    for pattern, replacement in _patterns():
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter:
    """A log filter (``Handler.addFilter`` takes any object with this ``filter``) that rewrites
    each record's message with secrets removed. Not a ``logging.Filter`` subclass, so that
    importing this module does not import :mod:`logging` for commands that never log."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place; never drops a record."""
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
