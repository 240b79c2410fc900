"""A client-side token bucket, so apply at scale never trips a cloud's throttle buckets.

Each provider creates buckets matching its cloud's documented limits (for example EC2's mutating
calls: 50 burst, 5 per second) and takes a token before each call. Retries with backoff stay as
the second line of defence.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["LimiterRegistry", "TokenBucket", "take"]


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

    @property
    def available(self) -> float:
        """Tokens in the bucket now."""
        with self._lock:
            self._refill()
            return self._tokens

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


class LimiterRegistry:
    """Buckets shared by every provider of one run, keyed by the cloud's throttling scope.

    Two clusters in the same AWS account and region draw from one EC2 bucket, as AWS counts them
    together; clusters in different regions or subscriptions get their own.
    """

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, ...], TokenBucket] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...], *, rate: float, burst: int) -> TokenBucket:
        """The bucket for ``key``, created with ``rate``/``burst`` on first use."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(rate, burst)
            return bucket

    def waited(self) -> float:
        """Seconds every caller spent waiting, all buckets together."""
        with self._lock:
            return sum(b.waited for b in self._buckets.values())


def take(bucket: TokenBucket | None) -> None:
    """Wait for one token of ``bucket`` before a call; ``None`` means the call is not paced."""
    if bucket is not None:
        bucket.acquire()
