"""Log set-up for the command line: ``--log-format text`` (default) or ``json``.

Logs go to stderr, never stdout (stdout carries results: JSON, SARIF, Markdown). In ``json``
format every line is one JSON object with ``time`` (UTC, ISO 8601), ``level``, ``logger`` and
``message`` (plus ``exception`` and any ``extra=`` fields), so log shippers need no parsing rules.

Credentials never reach a log line. Every record is redacted when it is created (a log-record
factory, so every handler sees the clean text, test-capture handlers included), by
:func:`portsync.redact.redact` — values of credential environment variables, bearer tokens,
security-token headers, SigV4 credentials and signatures, access-key ids, and ``secret=…`` /
``"password": …`` style pairs. Each formatted line is
redacted once more. Not even ``--debug`` output of the cloud SDKs (which log request headers)
can leak a credential.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any, TextIO

from portsync.output import Output
from portsync.redact import RedactingFilter
from portsync.redact import redact as _redact_known

__all__ = [
    "LOG_FORMATS",
    "JsonFormatter",
    "LogOutput",
    "TextFormatter",
    "configure_logging",
    "redact",
]

LOG_FORMATS = ("text", "json")

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
) | {"message", "asctime", "taskName"}


def redact(text: str) -> str:
    """Mask anything in ``text`` that looks like a credential.

    Args:
        text: a log line or message.

    Returns:
        The text with secrets replaced by ``***``.

    Raises:
        Nothing.
    """
    return _redact_known(text)


class TextFormatter(logging.Formatter):
    """``LEVEL logger: message``, redacted."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Format and redact one record."""
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        """Format and redact one record."""
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in body:
                body[key] = value if isinstance(value, int | float | bool) else redact(str(value))
        if record.exc_info:
            text = "".join(traceback.format_exception(*record.exc_info))
            body["exception"] = redact(text.rstrip())
        return json.dumps(body, ensure_ascii=False, default=str)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at emit time (test runners swap it)."""

    portsync = True

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:  # the base class assigns it; ignore
        pass


def _install_record_factory() -> None:
    """Redact every log record at creation, once per process."""
    current = logging.getLogRecordFactory()
    if getattr(current, "portsync", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return record

    factory.portsync = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def configure_logging(log_format: str = "text", *, debug: bool = False) -> None:
    """Install portsync's stderr handler on the root logger (replacing an earlier one) and the
    redaction of every log record.

    Args:
        log_format: ``text`` or ``json``.
        debug: log at DEBUG instead of WARNING.

    Raises:
        ValueError: unknown ``log_format``.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r} is not one of {', '.join(LOG_FORMATS)}")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "portsync", False):
            root.removeHandler(handler)
    _install_record_factory()
    handler = _StderrHandler()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    # Progress notes are INFO records; they pass even at the default WARNING level and are
    # silenced by --quiet in LogOutput, not here.
    logging.getLogger("portsync.progress").setLevel(logging.INFO)


_PROGRESS = logging.getLogger("portsync.progress")
_CLI = logging.getLogger("portsync.cli")


class LogOutput(Output):
    """An :class:`~portsync.output.Output` whose diagnostics are log records.

    With ``--log-format json`` progress notes and error lines become JSON log lines too, so
    stderr holds nothing but JSON objects; results still go to stdout unchanged.
    """

    def info(self, message: str) -> None:
        """A progress note as an INFO record (silenced by --quiet)."""
        if not self.quiet:
            _PROGRESS.info(message)

    def warning(self, message: str) -> None:
        """A warning line as a WARNING record."""
        _CLI.warning(message)

    def error(self, message: str) -> None:
        """An error line as an ERROR record."""
        _CLI.error(message)

    def traceback(self, exc: BaseException) -> None:
        """The traceback (``--debug``) as the ``exception`` of an ERROR record, redacted."""
        _CLI.error(
            "traceback of %s", type(exc).__name__, exc_info=(type(exc), exc, exc.__traceback__)
        )
