"""read_ahead: items in order, errors where they happened, the reader on its own thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from portsync.readahead import read_ahead


def test_items_arrive_in_order_from_another_thread() -> None:
    seen_on: list[str] = []

    def produce() -> Iterator[int]:
        for i in range(5):
            seen_on.append(threading.current_thread().name)
            yield i

    assert list(read_ahead(produce, name="reader-x")) == [0, 1, 2, 3, 4]
    assert set(seen_on) == {"reader-x"}


def test_the_next_item_is_read_before_the_caller_asks_for_it() -> None:
    second_read = threading.Event()

    def produce() -> Iterator[str]:
        yield "first"
        second_read.set()
        yield "second"

    stream = read_ahead(produce, name="reader-y")
    assert next(stream) == "first"
    # The caller is still busy with "first": the reader has gone on by itself.
    assert second_read.wait(timeout=10)
    assert next(stream) == "second"


def test_an_error_is_raised_in_the_caller_after_the_items_before_it() -> None:
    def produce() -> Iterator[int]:
        yield 1
        raise ConnectionError("page 2 failed")

    stream = read_ahead(produce, name="reader-z")
    assert next(stream) == 1
    with pytest.raises(ConnectionError, match="page 2 failed"):
        next(stream)


def test_an_empty_listing_ends_at_once() -> None:
    assert list(read_ahead(lambda: iter(()), name="reader-empty")) == []
