"""Reading pages ahead: the next page of a listing travels while the caller works on this one.

A cloud listing is a chain of requests, each waiting on the network. Walking the chain in a
reader thread lets the caller convert and expand page k while page k + 1 is on its way, so on a
real network portsync's own work mostly disappears behind the round trips.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

__all__ = ["read_ahead"]

T = TypeVar("T")


class _Failed:
    """An exception raised in the reader thread, carried to the caller's thread."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()


def read_ahead(produce: Callable[[], Iterable[T]], *, name: str) -> Iterator[T]:
    """Run ``produce()`` in a reader thread and yield its items here, in order, as they arrive.

    The reader never waits for the caller (pages are small next to the listing they belong to),
    so a caller that stops early leaves a thread that finishes the listing and ends. An exception
    raised while producing is raised here, after the items produced before it.
    """
    arrived: queue.SimpleQueue[object] = queue.SimpleQueue()

    def read() -> None:
        try:
            for item in produce():
                arrived.put(item)
        except BaseException as exc:  # raised again in the caller's thread
            arrived.put(_Failed(exc))
        else:
            arrived.put(_END)

    threading.Thread(target=read, name=name, daemon=True).start()
    while True:
        item = arrived.get()
        if item is _END:
            return
        if isinstance(item, _Failed):
            raise item.error
        yield item  # type: ignore[misc]
