"""The portsync error tree.

Every error portsync raises on purpose is a :class:`PortsyncError`; the CLI prints its message as
one line and exits 1. Misuse of the Python API raises ``TypeError`` / ``ValueError`` instead::

    PortsyncError
    ├── InputError              bad config, port table or plan file
    │   ├── ConfigError
    │   ├── PortTableError
    │   ├── PlanFileError
    │   └── StalePlanError      a saved plan no longer matches the live state
    ├── TranslationError        a neutral rule cannot be expressed on a cloud
    │   ├── UnsupportedFeatureError
    │   └── ProviderLimitError
    ├── ProviderError           the cloud said no
    │   ├── AuthError
    │   ├── NotFoundError
    │   ├── ConflictError
    │   ├── ThrottledError
    │   └── DeadlineExceeded    the command's --deadline passed
    ├── MissingDependencyError  an optional package is not installed (names the extra)
    ├── GuardrailError          apply refused by a safety rule (--max-deletes, approval)
    ├── ApplyError              carries the failed op and the ops already done
    │   ├── ConvergenceError
    │   ├── Interrupted         SIGINT/SIGTERM or the deadline stopped apply between writes
    │   └── LifelineCutDuringApply  a re-read after a write found a lifeline cut
    └── StopRequested           raised inside a provider instead of starting a write
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class PortsyncError(Exception):
    """Base of every error portsync raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.context = context

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class InputError(PortsyncError):
    """User input (config, port table, plan file) is invalid; nothing reached a cloud."""


class ConfigError(InputError):
    """The configuration file is invalid."""


class PortTableError(InputError):
    """A port table could not be read; ``problems`` lists every bad row as ``file:line: why``."""

    def __init__(self, message: str, *, problems: Sequence[str] = (), **context: Any) -> None:
        self.problems = tuple(problems)
        if self.problems:
            message = message + "\n" + "\n".join(f"  {p}" for p in self.problems)
        super().__init__(message, **context)


class PlanFileError(InputError):
    """A saved plan file is unreadable, of another format version, or made from another config."""


class StalePlanError(InputError):
    """The live state changed since the saved plan was made; the plan is refused."""


class TranslationError(PortsyncError):
    """A neutral rule cannot be expressed on a provider."""


class UnsupportedFeatureError(TranslationError):
    """The provider does not support a field the rule uses."""


class ProviderLimitError(TranslationError):
    """The result would exceed a provider quota or per-rule limit (checked at plan time)."""


class ProviderError(PortsyncError):
    """A cloud API call failed."""


class AuthError(ProviderError):
    """Credentials are missing or lack a permission."""


class NotFoundError(ProviderError):
    """A bound target (security group, network, NSG) does not exist."""


class ConflictError(ProviderError):
    """A concurrent writer changed the target (etag mismatch, duplicate)."""


class ThrottledError(ProviderError):
    """The cloud kept throttling after portsync's bounded retries."""


class DeadlineExceeded(ProviderError):
    """The command's ``--deadline`` passed before the work was done."""


class StopRequested(PortsyncError):
    """A stop was requested (SIGINT / SIGTERM during apply): the write was not started."""


class MissingDependencyError(PortsyncError):
    """An optional package is not installed; the hint names the extra that brings it."""


class GuardrailError(PortsyncError):
    """A safety guardrail refused the apply (too many deletes, no approval)."""


class ApplyError(PortsyncError):
    """Apply failed part way; ``done`` lists what was applied before ``op`` failed."""

    def __init__(
        self, message: str, *, op: Any = None, done: Sequence[Any] = (), **context: Any
    ) -> None:
        super().__init__(message, **context)
        self.op = op
        self.done = tuple(done)


class ConvergenceError(ApplyError):
    """After apply, a re-read still shows differences."""


class Interrupted(ApplyError):
    """Apply stopped between writes (a signal, or the deadline); ``done`` lists what was applied
    and ``total`` how many changes the plan held."""

    def __init__(
        self, message: str, *, done: Sequence[Any] = (), total: int = 0, **context: Any
    ) -> None:
        super().__init__(message, done=done, **context)
        self.total = total


class LifelineCutDuringApply(ApplyError):
    """A lifeline open before the apply was found cut when apply read its target back after a
    write; no further write was sent.

    ``lifeline`` names it, ``where`` the target (``cluster/label``), ``write`` the number of
    writes sent when it was found (this one included), ``total`` the plan's writes, ``sent`` the
    writes sent in all (``write`` and those already in flight on other targets), ``reason`` why
    the flow no longer passes, ``unit`` and ``method`` the write after which it was found.
    """

    def __init__(
        self,
        message: str,
        *,
        lifeline: str,
        where: str,
        write: int,
        total: int,
        reason: str,
        sent: int = 0,
        unit: str = "",
        method: str = "",
        done: Sequence[Any] = (),
        **context: Any,
    ) -> None:
        super().__init__(message, done=done, **context)
        self.sent = sent or write
        self.lifeline = lifeline
        self.where = where
        self.write = write
        self.total = total
        self.reason = reason
        self.unit = unit
        self.method = method

    def to_dict(self) -> dict[str, Any]:
        """The ``lifeline`` object of the JSON error document (docs/reports.md)."""
        return {
            "name": self.lifeline,
            "target": self.where,
            "write": self.write,
            "of": self.total,
            "sent": self.sent,
            "reason": self.reason,
            "unit": self.unit,
            "method": self.method,
        }
