"""Keep credentials out of every log line, whatever library wrote it.

A logging filter replaces the values of credential environment variables (and anything that looks
like a bearer token or an AWS session token header) with ``***``. The CLI installs it on the root
handler, so even third-party debug logs cannot leak a secret.
"""

from __future__ import annotations

import logging
import os
import re

__all__ = ["SECRET_ENV_VARS", "RedactingFilter", "redact"]

#: Environment variables whose values are secrets.
SECRET_ENV_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_PASSWORD",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
)

_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)(x-amz-security-token['\"]?\s*[:=]\s*b?['\"]?)[^'\",}\s]+"),
    re.compile(r"(?i)(credential=)[^,\s'\"]+"),
    re.compile(r"(?i)(signature=)[0-9a-f]{16,}"),
    re.compile(r"\b(A(?:KIA|SIA))[0-9A-Z]{16}\b"),
    # key=value / key: value / "key": "value" pairs whose key names a secret.
    re.compile(
        r"(?i)([\"']?\b[\w-]*(?:secret|password|passwd|token|signature|credential|"
        r"authorization|api[_-]?key|private[_-]?key|sas)[\w-]*[\"']?\s*[:=]\s*[\"']?)"
        r"([^\s,;'\"}&]+)"
    ),
)


def redact(text: str) -> str:
    """``text`` with known secrets replaced by ``***``."""
    for name in SECRET_ENV_VARS:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    for pattern in _PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with secrets removed."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place; never drops a record."""
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
