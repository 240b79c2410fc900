"""Cloud-neutral scaffolding shared by the local cloud emulators.

Each provider's ``emulator`` package speaks its cloud's wire format (routes, validation, error
bodies, TLS, long-running operations).  What is left is the same for every cloud, and lives here:

* :class:`EmulatorHTTPServer`, :class:`EmulatorRequestHandler` and :class:`ServerThread`: a
  threaded HTTP/1.1 server on a daemon thread, with keep-alive, ``TCP_NODELAY``, quiet handling
  of clients that go away, request bodies (``Content-Length`` or chunked) and a TCP reset
  (:func:`reset_connection`) for injected faults;
* :class:`CallCounter`: thread-safe per-route request counters;
* :class:`FaultQueue` of :class:`Fault`: scripted faults consumed in order by the first request
  whose route matches (a name or a glob);
* :class:`Epoch`: numbers the resets of an emulator so that a request which arrived before a
  reset, and is still sleeping (added latency, a ``slow`` fault, a blocking wait) when the next
  test starts, can be told apart and dropped instead of consuming that test's faults, counting
  in its counters or changing its state;
* :class:`ObserverList`: callbacks that receive a deep copy of the state after every change;
* :func:`serve_in_foreground`: the ``python -m …emulator`` loop.

Only the standard library is used.  A sketch of an emulator built on it::

    class Emulator:
        def __init__(self) -> None:
            self._lock = threading.RLock()
            self._epoch = Epoch()
            self._faults = FaultQueue({"server_error", "slow"})
            self.calls = CallCounter()

        def handle(self, route: str) -> int:
            ticket = self._epoch.ticket()
            try:
                self._epoch.sleep(self.latency, ticket)
                with self._lock:  # reset() takes the same lock around advance() + clear()
                    self._epoch.check(ticket)
                    self.calls.add(route)
                    fault = self._faults.take((route,))
                ...
            except StaleRequest:
                ...  # drop the connection: the request belongs to a forgotten run
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import fnmatch
import logging
import signal
import socket
import struct
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, Generic, ParamSpec, TypeVar

__all__ = [
    "CallCounter",
    "EmulatorHTTPServer",
    "EmulatorRequestHandler",
    "Epoch",
    "Fault",
    "FaultQueue",
    "ObserverList",
    "ServerThread",
    "StaleRequest",
    "reset_connection",
    "serve_in_foreground",
]

log = logging.getLogger(__name__)

AppT = TypeVar("AppT")
P = ParamSpec("P")

#: How often ``serve_forever`` checks for a shutdown request, in seconds.
POLL_INTERVAL = 0.05


# --------------------------------------------------------------------------------------------
# Counters


class CallCounter(Mapping[str, int]):
    """Thread-safe per-route request counter; missing keys read as 0."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._order: list[str] = []

    def __getitem__(self, key: str) -> int:
        with self._lock:
            return self._counts.get(key, 0)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._counts

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(sorted(self._counts))

    def __len__(self) -> int:
        with self._lock:
            return len(self._counts)

    def __repr__(self) -> str:
        return f"CallCounter({self.snapshot()!r})"

    def total(self) -> int:
        """Number of requests counted under every key."""
        with self._lock:
            return sum(self._counts.values())

    def snapshot(self) -> dict[str, int]:
        """A plain copy of the counts."""
        with self._lock:
            return dict(self._counts)

    def add(self, key: str, amount: int = 1) -> None:
        """Count ``amount`` more requests under ``key``."""
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + amount
            self._order.extend([key] * amount)

    def order(self) -> list[str]:
        """Every counted key in arrival order (a copy): tests check which write came first."""
        with self._lock:
            return list(self._order)

    def clear(self) -> None:
        """Forget every count."""
        with self._lock:
            self._counts.clear()
            self._order.clear()


# --------------------------------------------------------------------------------------------
# Resets and stale requests


class StaleRequest(Exception):
    """The request arrived before the emulator's last reset; drop it without an answer."""


class Epoch:
    """Numbers the resets of an emulator so requests from before a reset can be recognised.

    A request takes a :meth:`ticket` when it arrives.  :meth:`advance` (called by the
    emulator's reset) makes every earlier ticket stale and wakes requests sleeping in
    :meth:`sleep`, which then raise :class:`StaleRequest` at once.  A request that outlived its
    client (a client timeout during added latency or a ``slow`` fault) therefore cannot consume
    a fault, count a call or change state after the next test has reset the emulator.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._value = 0
        self._issued = 0
        self._serving = 0

    def ticket(self) -> int:
        """The current epoch, to be kept by a request as it arrives."""
        with self._changed:
            self._issued += 1
            self._changed.notify_all()
            return self._value

    # Tests wait on these instead of sleeping: "the request has arrived (its ticket is taken, so
    # a reset from now on makes it stale)" and "no request is being served any more".

    @property
    def issued(self) -> int:
        """How many tickets were taken since the emulator was made (resets do not zero it)."""
        with self._changed:
            return self._issued

    def wait_issued(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` tickets were taken; False when ``timeout`` ran out first."""
        with self._changed:
            return self._changed.wait_for(lambda: self._issued >= count, timeout=timeout)

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Count one request as being served (its handler's whole turn) until the block ends."""
        with self._changed:
            self._serving += 1
        try:
            yield
        finally:
            with self._changed:
                self._serving -= 1
                self._changed.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is being served; False when ``timeout`` ran out first."""
        with self._changed:
            return self._changed.wait_for(lambda: self._serving == 0, timeout=timeout)

    def is_current(self, ticket: int) -> bool:
        """Whether no reset happened since ``ticket`` was taken."""
        with self._changed:
            return self._value == ticket

    def check(self, ticket: int) -> None:
        """Return quietly while ``ticket`` is current.

        Raises:
            StaleRequest: the emulator was reset since ``ticket`` was taken.
        """
        if not self.is_current(ticket):
            raise StaleRequest(f"epoch {ticket} has ended")

    def sleep(self, seconds: float, ticket: int) -> None:
        """Sleep ``seconds`` (nothing when not positive), cut short by a reset.

        Raises:
            StaleRequest: the emulator was reset before or during the sleep.
        """
        if seconds > 0:
            with self._changed:
                self._changed.wait_for(lambda: self._value != ticket, timeout=seconds)
        self.check(ticket)

    def advance(self) -> int:
        """Start a new epoch (a reset); returns its number."""
        with self._changed:
            self._value += 1
            self._changed.notify_all()
            return self._value


# --------------------------------------------------------------------------------------------
# Faults


@dataclasses.dataclass(slots=True)
class Fault:
    """One scripted fault; the fields a kind does not use keep their defaults.

    Attributes:
        kind: what to do, one of the emulator's fault kinds (``"slow"``, ``"reset"``, …).
        remaining: how many more matching requests it hits.
        route: route name or glob (``"firewalls.insert"``, ``"rule.*"``) it is limited to;
            None for any route.
        status: HTTP status to answer with; 0 for the kind's default.
        delay: seconds to wait (``slow`` faults).
        code: cloud error code to report.
        message: cloud error message to report.
        retry_after: ``Retry-After`` seconds to send; None for the emulator's default.
    """

    kind: str
    remaining: int = 1
    route: str | None = None
    status: int = 0
    delay: float = 0.0
    code: str | None = None
    message: str | None = None
    retry_after: int | None = None

    def matches(self, names: Iterable[str]) -> bool:
        """Whether the fault's route is None or matches (exactly or as a glob) one of ``names``."""
        route = self.route
        return route is None or any(fnmatch.fnmatchcase(name, route) for name in names)


class FaultQueue:
    """Thread-safe queue of faults, consumed in the order they were queued.

    A request takes the first queued fault whose route matches it and that the emulator says
    applies to it (some kinds only hit writes, say); each take uses up one of the fault's
    ``times``.

    Args:
        kinds: the fault kinds :meth:`add` accepts.
    """

    def __init__(self, kinds: Iterable[str]) -> None:
        self.kinds = frozenset(kinds)
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        kind: str,
        *,
        times: int = 1,
        route: str | None = None,
        status: int = 0,
        delay: float = 0.0,
        code: str | None = None,
        message: str | None = None,
        retry_after: int | None = None,
    ) -> Fault:
        """Queue a fault for the next ``times`` matching requests; returns (a copy of) it.

        Raises:
            ValueError: ``kind`` is not one of :attr:`kinds`, or ``times`` is below 1.
        """
        if kind not in self.kinds:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(self.kinds)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        fault = Fault(kind, times, route, status, delay, code, message, retry_after)
        with self._lock:
            self._faults.append(fault)
        return dataclasses.replace(fault)

    def take(
        self, names: Sequence[str], applies: Callable[[Fault], bool] | None = None
    ) -> Fault | None:
        """Use up one hit of the first fault matching ``names`` (and ``applies``, if given).

        Returns:
            A copy of the fault as it was taken (``remaining`` counts the hits left after
            this one), or None when no queued fault matches.
        """
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(names) and (applies is None or applies(fault)):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del self._faults[index]
                    return dataclasses.replace(fault)
        return None

    def pending(self) -> list[Fault]:
        """Copies of the faults not yet used up, in queue order."""
        with self._lock:
            return [dataclasses.replace(fault) for fault in self._faults]

    def clear(self) -> None:
        """Forget every queued fault."""
        with self._lock:
            self._faults.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)


# --------------------------------------------------------------------------------------------
# Observers


class ObserverList(Generic[P]):
    """Callbacks told about state changes, each with its own deep copy of the arguments.

    Args:
        on_error: called with an exception an observer raised, after which the other observers
            still run; None lets the exception propagate to the notifier.
    """

    def __init__(self, *, on_error: Callable[[Exception], object] | None = None) -> None:
        self._on_error = on_error
        self._lock = threading.Lock()
        self._observers: list[Callable[P, object]] = []

    def add(self, observer: Callable[P, object]) -> Callable[[], None]:
        """Register ``observer``; returns a function that removes it again (idempotent)."""
        with self._lock:
            self._observers.append(observer)

        def remove() -> None:
            self.discard(observer)

        return remove

    def remove(self, observer: Callable[P, object]) -> None:
        """Unregister ``observer``.

        Raises:
            ValueError: ``observer`` is not registered.
        """
        with self._lock:
            self._observers.remove(observer)

    def discard(self, observer: Callable[P, object]) -> None:
        """Unregister ``observer`` if it is registered."""
        with self._lock, contextlib.suppress(ValueError):
            self._observers.remove(observer)

    def clear(self) -> None:
        """Unregister every observer."""
        with self._lock:
            self._observers.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._observers)

    def notify(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Call every observer, in registration order, with a deep copy of the arguments.

        The caller may pass live state: no observer can change it, or see what another
        observer did to its copy.
        """
        with self._lock:
            observers = list(self._observers)
        for observer in observers:
            call_args, call_kwargs = copy.deepcopy((args, kwargs))
            try:
                observer(*call_args, **call_kwargs)
            except Exception as exc:
                if self._on_error is None:
                    raise
                self._on_error(exc)


# --------------------------------------------------------------------------------------------
# HTTP plumbing


def reset_connection(sock: socket.socket) -> None:
    """Abort a TCP connection: with a zero linger time, closing sends RST instead of FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class EmulatorHTTPServer(ThreadingHTTPServer, Generic[AppT]):
    """A threaded HTTP server that hands requests to ``app``, the emulator it serves.

    Handler threads are daemons, the port is reusable at once, an IPv6 literal host binds an
    IPv6 socket, and a client that goes away mid-request (a timeout, an injected reset, a
    failed TLS handshake) is logged at DEBUG instead of printing a traceback.
    """

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: sixteen clients connecting at once on a loaded
    # machine would see SYNs dropped and wait on retransmits, which no cloud endpoint makes them do.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        app: AppT,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log a dropped client at DEBUG; report anything else as ``socketserver`` does."""
        if isinstance(sys.exc_info()[1], OSError):
            log.debug("emulator connection error from %s", client_address, exc_info=True)
            return
        super().handle_error(request, client_address)


class EmulatorRequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that routes every method to :meth:`serve`.

    Subclasses implement :meth:`serve` with :meth:`read_body`, :meth:`write_response` and
    :meth:`reset_connection`.  Headers and body go out in separate writes, so Nagle's
    algorithm is off: with it, the client's delayed ACK adds ~40 ms to every response.
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self.serve()

    def do_POST(self) -> None:
        self.serve()

    def do_PUT(self) -> None:
        self.serve()

    def do_PATCH(self) -> None:
        self.serve()

    def do_DELETE(self) -> None:
        self.serve()

    def serve(self) -> None:
        """Answer the request in ``self.command`` / ``self.path`` / ``self.headers``."""
        raise NotImplementedError

    def handle(self) -> None:
        """Serve requests until the client closes the connection or goes away."""
        try:
            super().handle()
        except OSError:  # the client went away (timeouts, resets, TLS failures)
            self.close_connection = True

    def finish(self) -> None:
        """Flush and close, ignoring a connection that is already gone."""
        with contextlib.suppress(OSError, ValueError):
            super().finish()

    def read_body(self) -> bytes:
        """The request body, sent with ``Content-Length`` or chunked; empty when there is none."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def write_response(
        self, status: int, body: bytes, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        """Send a complete response: status line, ``headers``, ``Content-Length`` and ``body``."""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def reset_connection(self) -> None:
        """Abort the connection (TCP RST) without answering the request."""
        self.close_connection = True
        reset_connection(self.connection)


class ServerThread:
    """Runs one :class:`~http.server.ThreadingHTTPServer` at a time on a daemon thread."""

    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether a server is being served."""
        return self._server is not None

    def start(self, server: ThreadingHTTPServer, name: str) -> int:
        """Serve ``server`` on a daemon thread called ``<name>-<port>``; returns the port.

        Raises:
            RuntimeError: a server is already running.
        """
        if self._server is not None:
            server.server_close()
            raise RuntimeError(f"{name} is already running")
        port = int(server.server_address[1])
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL},
            name=f"{name}-{port}",
            daemon=True,
        )
        self._server, self._thread = server, thread
        thread.start()
        return port

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, release the port and wait for the thread; a no-op when not running."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=timeout)


def serve_in_foreground(stop: Callable[[], None]) -> None:
    """Block until Ctrl-C or SIGTERM, then call ``stop`` (the ``python -m`` entry points).

    SIGTERM is only caught when called from the main thread (where Python delivers signals);
    the previous SIGTERM handler is restored on return.
    """
    stopped = threading.Event()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_sigterm) if in_main else None
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        stop()
