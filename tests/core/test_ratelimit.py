"""The token bucket, on a fake clock (no real sleeping, no timing assertions)."""

from __future__ import annotations

import pytest

from portsync.ratelimit import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_bucket_burst_is_free_then_paced_at_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=5, burst=50, clock=clock, sleep=clock.sleep)
    for _ in range(50):
        assert bucket.acquire() == 0
    bucket.acquire()
    assert clock.now == pytest.approx(0.2)
    for _ in range(10):
        bucket.acquire()
    assert clock.now == pytest.approx(2.2)


def test_bucket_refills_while_idle_up_to_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        bucket.acquire()
    clock.now += 100
    for _ in range(3):
        assert bucket.acquire() == 0
    assert bucket.acquire() == pytest.approx(0.1)


def test_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1)
    with pytest.raises(ValueError):
        TokenBucket(rate=1, burst=2).acquire(3)
