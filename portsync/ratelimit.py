"""A client-side token bucket, so apply at scale never trips a cloud's throttle buckets.

Each provider creates buckets matching its cloud's documented limits (for example EC2's mutating
calls: 50 burst, 5 per second) and takes a token before each call. Retries with backoff stay as
the second line of defence.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """Thread-safe token bucket: ``burst`` tokens, refilled at ``rate`` per second."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = float(rate)
        self.burst = int(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()
        self.waited = 0.0  # total seconds callers spent waiting, for benchmarks

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def acquire(self, tokens: float = 1.0) -> float:
        """Take ``tokens``, waiting as long as needed; returns the seconds waited."""
        if tokens > self.burst:
            raise ValueError(f"cannot take {tokens} tokens from a bucket of {self.burst}")
        waited = 0.0
        while True:
            with self._lock:
                self._refill()
                if self._tokens >= tokens - 1e-9:  # float refills may fall a hair short
                    self._tokens = max(0.0, self._tokens - tokens)
                    self.waited += waited
                    return waited
                delay = (tokens - self._tokens) / self.rate
            self._sleep(delay)
            waited += delay
