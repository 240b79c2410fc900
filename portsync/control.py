"""How long a run may wait, and whether it should stop: the command's ``--deadline``, a stop
request (SIGINT / SIGTERM during apply) and the notices printed when a call is retried.

One :class:`RunControl` is shared by every provider of a run (it travels in
:class:`~portsync.provider.Settings`). Providers ask it before each retry and each write, and
clip their SDK timeouts to what is left of the deadline, so a run never waits much past it: a
call already in flight finishes or times out (``timeout.read``) first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from portsync.errors import DeadlineExceeded, ProviderError, StopRequested

__all__ = ["TIMEOUT_ATTEMPTS", "RunControl", "worst_case_wait"]

#: How many times one call that got no answer (connect or read timeout, connection refused or
#: reset) is tried in all. Throttling and 5xx answers have their own, larger budget: an endpoint
#: that answers is alive; one that does not is most likely a mistake, to be reported soon.
TIMEOUT_ATTEMPTS = 3


def worst_case_wait(connect: float, read: float, *, backoff: float = 0.0) -> float:
    """Seconds before a call to an endpoint that never answers is reported: every attempt may
    spend ``connect`` then ``read`` seconds, plus the SDK's ``backoff`` between attempts."""
    return TIMEOUT_ATTEMPTS * (connect + read) + backoff


@dataclass
class RunControl:
    """The deadline, the stop request and the retry-notice sink of one run."""

    #: ``--deadline`` in seconds (None: no deadline), counted from when this object is made.
    deadline: float | None = None
    #: Where retry notices go (the CLI's progress stream); None drops them.
    notice: Callable[[str], None] | None = None
    clock: Callable[[], float] = time.monotonic
    _start: float = field(init=False, default=0.0)
    _stop: threading.Event = field(init=False, default_factory=threading.Event)
    _writing: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self._start = self.clock()

    # ------------------------------------------------------------------ deadline

    def remaining(self) -> float | None:
        """Seconds left before the deadline (0 when passed), or None without a deadline."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - (self.clock() - self._start))

    def expired(self) -> bool:
        """Whether the deadline has passed."""
        left = self.remaining()
        return left is not None and left <= 0

    def clip(self, seconds: float) -> float:
        """``seconds``, or less when the deadline comes sooner (never below 10 ms, so an SDK
        timeout stays valid; the next :meth:`check` reports the deadline)."""
        left = self.remaining()
        if left is None:
            return seconds
        return max(0.01, min(seconds, left))

    def allows_wait(self, seconds: float) -> bool:
        """Whether sleeping ``seconds`` (a retry's backoff) still ends before the deadline."""
        left = self.remaining()
        return left is None or seconds < left

    def check(self, what: str) -> None:
        """Raise when the deadline has passed.

        Raises:
            DeadlineExceeded: naming ``what`` was about to happen.
        """
        if self.expired():
            raise DeadlineExceeded(
                f"the --deadline of {self.deadline:g} s passed before {what}",
                hint="raise --deadline, or check the endpoint and the clusters' timeout: settings",
            )

    @contextmanager
    def bounded(self) -> Iterator[None]:
        """A cloud error met once the deadline has passed is reported as the deadline: the
        deadline is why the call was cut short (its timeouts were clipped, its retries stopped).

        Raises:
            DeadlineExceeded: carrying the cloud error's message.
        """
        try:
            yield
        except ProviderError as exc:
            if not self.expired() or isinstance(exc, DeadlineExceeded):
                raise
            raise DeadlineExceeded(
                f"the --deadline of {self.deadline:g} s passed: {exc.message}",
                hint="raise --deadline, or check the endpoint and the clusters' timeout: settings",
            ) from exc

    # ------------------------------------------------------------------ stop

    def begin_writes(self) -> None:
        """Mark the start of the write phase: from now on a signal asks for a clean stop."""
        self._writing = True

    @property
    def writing(self) -> bool:
        """Whether the run has started writing."""
        return self._writing

    def request_stop(self) -> None:
        """Ask the run to start no new write (a signal handler calls this)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether a stop was requested."""
        return self._stop.is_set()

    def check_write(self, what: str) -> None:
        """Raise instead of starting a write when a stop was requested or the deadline passed.

        Raises:
            StopRequested: a stop was requested (nothing of ``what`` was sent).
            DeadlineExceeded: the deadline passed.
        """
        if self._stop.is_set():
            raise StopRequested(f"stopped before {what}")
        self.check(what)

    # ------------------------------------------------------------------ notices

    def retrying(self, cluster: str, call: str, reason: str, attempt: int, of: int | None) -> None:
        """Report that ``call`` of ``cluster`` is tried again (``attempt`` is the next one)."""
        if self.notice is not None:
            count = f"{attempt}/{of}" if of else str(attempt)
            self.notice(f"retrying {cluster} {call} after {reason} ({count})")
