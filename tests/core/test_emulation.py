"""The cloud-neutral emulator scaffolding: counters, faults, epochs, observers, the HTTP server."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from portsync.providers.emulation import (
    CallCounter,
    EmulatorHTTPServer,
    EmulatorRequestHandler,
    Epoch,
    Fault,
    FaultQueue,
    ObserverList,
    ServerThread,
    StaleRequest,
    serve_in_foreground,
)

# --------------------------------------------------------------------------------------------
# CallCounter


def test_counter_missing_key_reads_zero_and_is_not_contained() -> None:
    counter = CallCounter()
    assert counter["x"] == 0
    assert "x" not in counter
    assert len(counter) == 0


def test_counter_add_counts_per_key_sorted_and_totals() -> None:
    counter = CallCounter()
    counter.add("b")
    counter.add("a", 2)
    counter.add("b")
    assert list(counter) == ["a", "b"]
    assert counter.snapshot() == {"a": 2, "b": 2}
    assert counter.total() == 4
    assert dict(counter) == {"a": 2, "b": 2}
    assert repr(counter) == "CallCounter({'b': 2, 'a': 2})"


def test_counter_snapshot_is_a_copy_and_clear_forgets_all() -> None:
    counter = CallCounter()
    counter.add("a")
    snapshot = counter.snapshot()
    counter.clear()
    assert snapshot == {"a": 1}
    assert counter.snapshot() == {}


def test_counter_concurrent_adds_lose_no_count() -> None:
    counter = CallCounter()

    def work() -> None:
        for _ in range(1000):
            counter.add("k")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter["k"] == 8000


# --------------------------------------------------------------------------------------------
# FaultQueue


def test_fault_queue_faults_are_taken_in_queue_order() -> None:
    queue = FaultQueue({"a", "b"})
    queue.add("a")
    queue.add("b", times=2)
    taken = [queue.take(("r",)) for _ in range(4)]
    assert [f.kind if f else None for f in taken] == ["a", "b", "b", None]
    assert len(queue) == 0


def test_fault_queue_take_reports_hits_left_and_pending_shows_them() -> None:
    queue = FaultQueue({"a"})
    queue.add("a", times=3, route="r")
    first = queue.take(("r",))
    assert first is not None and first.remaining == 2
    assert [(f.kind, f.remaining, f.route) for f in queue.pending()] == [("a", 2, "r")]


def test_fault_queue_route_matches_any_name_exactly_or_as_glob() -> None:
    queue = FaultQueue({"a"})
    queue.add("a", route="rule.*")
    queue.add("a", route="firewalls")
    assert queue.take(("nsg.get",)) is None
    assert queue.take(("firewalls.list", "firewalls")) is not None
    hit = queue.take(("rule.put",))
    assert hit is not None and hit.route == "rule.*"


def test_fault_queue_applies_predicate_skips_to_next_matching_fault() -> None:
    queue = FaultQueue({"write_only", "any"})
    queue.add("write_only")
    queue.add("any")
    taken = queue.take(("get",), lambda fault: fault.kind != "write_only")
    assert taken is not None and taken.kind == "any"
    assert [f.kind for f in queue.pending()] == ["write_only"]


def test_fault_queue_add_keeps_fields_and_returns_a_copy() -> None:
    queue = FaultQueue({"server_error"})
    added = queue.add(
        "server_error",
        route="x",
        status=503,
        delay=0.5,
        code="C",
        message="M",
        retry_after=7,
    )
    assert added == Fault("server_error", 1, "x", 503, 0.5, "C", "M", 7)
    added.remaining = 99
    assert queue.pending()[0].remaining == 1


def test_fault_queue_pending_returns_copies() -> None:
    queue = FaultQueue({"a"})
    queue.add("a")
    queue.pending()[0].remaining = 0
    assert queue.take(("r",)) is not None


@pytest.mark.parametrize(
    ("kind", "times", "message"),
    [("nope", 1, "unknown fault kind 'nope'"), ("a", 0, "times must be at least 1")],
)
def test_fault_queue_add_bad_arguments_raise_value_error(
    kind: str, times: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        FaultQueue({"a"}).add(kind, times=times)


def test_fault_queue_clear_forgets_every_fault() -> None:
    queue = FaultQueue({"a"})
    queue.add("a", times=5)
    queue.clear()
    assert queue.pending() == []
    assert queue.take(("r",)) is None


def test_fault_queue_concurrent_takes_use_each_hit_once() -> None:
    queue = FaultQueue({"a"})
    queue.add("a", times=500)
    hits: list[Fault] = []
    lock = threading.Lock()

    def work() -> None:
        while (fault := queue.take(("r",))) is not None:
            with lock:
                hits.append(fault)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(hits) == 500
    assert sorted(f.remaining for f in hits) == list(range(500))


# --------------------------------------------------------------------------------------------
# Epoch


def test_epoch_ticket_stays_current_until_advance() -> None:
    epoch = Epoch()
    ticket = epoch.ticket()
    assert epoch.is_current(ticket)
    epoch.check(ticket)
    assert epoch.advance() == ticket + 1
    assert not epoch.is_current(ticket)
    with pytest.raises(StaleRequest):
        epoch.check(ticket)


def test_epoch_sleep_waits_the_full_time_without_reset() -> None:
    epoch = Epoch()
    started = time.monotonic()
    epoch.sleep(0.1, epoch.ticket())
    assert time.monotonic() - started >= 0.1


def test_epoch_sleep_zero_does_not_wait_but_still_checks() -> None:
    epoch = Epoch()
    ticket = epoch.ticket()
    epoch.sleep(0, ticket)
    epoch.advance()
    with pytest.raises(StaleRequest):
        epoch.sleep(0, ticket)


def test_epoch_advance_wakes_sleeper_which_raises_stale_at_once() -> None:
    epoch = Epoch()
    ticket = epoch.ticket()
    outcome: list[BaseException | None] = []

    def sleeper() -> None:
        try:
            epoch.sleep(30, ticket)
            outcome.append(None)
        except StaleRequest as exc:
            outcome.append(exc)

    thread = threading.Thread(target=sleeper)
    started = time.monotonic()
    thread.start()
    time.sleep(0.05)
    epoch.advance()
    thread.join(timeout=5)
    assert time.monotonic() - started < 5
    assert len(outcome) == 1 and isinstance(outcome[0], StaleRequest)


def test_epoch_new_ticket_after_advance_is_current() -> None:
    epoch = Epoch()
    epoch.advance()
    ticket = epoch.ticket()
    epoch.sleep(0.01, ticket)
    assert epoch.is_current(ticket)


# --------------------------------------------------------------------------------------------
# ObserverList


def test_observers_get_deep_copies_in_registration_order() -> None:
    observers: ObserverList[[str, list[dict[str, Any]]]] = ObserverList()
    seen: list[tuple[str, str, list[dict[str, Any]]]] = []

    def first(scope: str, items: list[dict[str, Any]]) -> None:
        seen.append(("first", scope, items))
        items[0]["name"] = "changed"

    observers.add(first)
    observers.add(lambda scope, items: seen.append(("second", scope, items)))
    live = [{"name": "a"}]
    observers.notify("p", live)
    assert [who for who, _, _ in seen] == ["first", "second"]
    assert seen[1][2] == [{"name": "a"}]
    assert live == [{"name": "a"}]
    assert seen[0][2] is not seen[1][2]


def test_observers_remove_function_is_idempotent() -> None:
    observers: ObserverList[[int]] = ObserverList()
    seen: list[int] = []
    remove = observers.add(seen.append)
    observers.notify(1)
    remove()
    remove()
    observers.notify(2)
    assert seen == [1]
    assert len(observers) == 0


def test_observers_remove_unknown_raises_value_error_discard_does_not() -> None:
    observers: ObserverList[[int]] = ObserverList()
    with pytest.raises(ValueError):
        observers.remove(print)
    observers.discard(print)


def test_observers_clear_unregisters_all() -> None:
    observers: ObserverList[[int]] = ObserverList()
    seen: list[int] = []
    observers.add(seen.append)
    observers.add(seen.append)
    observers.clear()
    observers.notify(1)
    assert seen == []
    assert not observers


def test_observers_error_without_handler_propagates() -> None:
    observers: ObserverList[[int]] = ObserverList()

    def boom(value: int) -> None:
        raise RuntimeError("boom")

    observers.add(boom)
    with pytest.raises(RuntimeError, match="boom"):
        observers.notify(1)


def test_observers_error_with_handler_is_reported_and_others_still_run() -> None:
    errors: list[Exception] = []
    observers: ObserverList[[int]] = ObserverList(on_error=errors.append)
    seen: list[int] = []

    def boom(value: int) -> None:
        raise RuntimeError("boom")

    observers.add(boom)
    observers.add(seen.append)
    observers.notify(1)
    assert seen == [1]
    assert [str(e) for e in errors] == ["boom"]


# --------------------------------------------------------------------------------------------
# HTTP server, handler and thread


class _Echo:
    """A tiny app: answers the method, path and body; path ``/reset`` resets the connection."""

    def __init__(self) -> None:
        self.calls = CallCounter()


class _EchoHandler(EmulatorRequestHandler):
    server: EmulatorHTTPServer[_Echo]

    def serve(self) -> None:
        self.server.app.calls.add(self.command)
        body = self.read_body()
        if self.path == "/reset":
            self.reset_connection()
            return
        answer = f"{self.command} {self.path} {body.decode()}".encode()
        self.write_response(200, answer, [("Content-Type", "text/plain")])

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[tuple[_Echo, int]]:
    app = _Echo()
    serving = ServerThread()
    port = serving.start(EmulatorHTTPServer(("127.0.0.1", 0), _EchoHandler, app), "echo")
    try:
        yield app, port
    finally:
        serving.stop()


def _request(
    port: int, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, bytes, http.client.HTTPConnection]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.read(), connection


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_handler_every_method_reaches_serve(echo_server: tuple[_Echo, int], method: str) -> None:
    app, port = echo_server
    status, body, connection = _request(port, method, "/p", b"x")
    connection.close()
    assert status == 200
    assert body == f"{method} /p x".encode()
    assert app.calls[method] == 1


def test_handler_keep_alive_serves_several_requests_on_one_connection(
    echo_server: tuple[_Echo, int],
) -> None:
    _, port = echo_server
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    for index in range(3):
        connection.request("GET", f"/{index}")
        response = connection.getresponse()
        assert response.read() == f"GET /{index} ".encode()
    assert connection.sock is not None
    assert connection.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    connection.close()


def test_handler_reads_chunked_body(echo_server: tuple[_Echo, int]) -> None:
    _, port = echo_server
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("POST", "/c", body=iter([b"ab", b"cd"]), encode_chunked=True)
    assert connection.getresponse().read() == b"POST /c abcd"
    connection.close()


def test_handler_reset_connection_aborts_without_answer(echo_server: tuple[_Echo, int]) -> None:
    app, port = echo_server
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        _request(port, "GET", "/reset")
    status, _, connection = _request(port, "GET", "/after")
    connection.close()
    assert status == 200
    assert app.calls["GET"] == 2


def test_server_thread_start_twice_raises_runtime_error() -> None:
    serving = ServerThread()
    serving.start(EmulatorHTTPServer(("127.0.0.1", 0), _EchoHandler, _Echo()), "echo")
    try:
        assert serving.running
        with pytest.raises(RuntimeError, match="echo is already running"):
            serving.start(EmulatorHTTPServer(("127.0.0.1", 0), _EchoHandler, _Echo()), "echo")
    finally:
        serving.stop()
    assert not serving.running
    serving.stop()  # a no-op when stopped


def test_server_thread_stop_releases_port_and_names_thread() -> None:
    serving = ServerThread()
    port = serving.start(EmulatorHTTPServer(("127.0.0.1", 0), _EchoHandler, _Echo()), "echo")
    assert any(t.name == f"echo-{port}" for t in threading.enumerate())
    serving.stop()
    with pytest.raises(ConnectionError):
        _request(port, "GET", "/")
    again = ServerThread()
    assert again.start(EmulatorHTTPServer(("127.0.0.1", port), _EchoHandler, _Echo()), "e") == port
    again.stop()


@pytest.mark.host_dependent
def test_server_ipv6_literal_binds_ipv6_socket() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    try:
        server = EmulatorHTTPServer(("::1", 0), _EchoHandler, _Echo())
    except OSError:
        pytest.skip("::1 is not configured")
    try:
        assert server.address_family == socket.AF_INET6
    finally:
        server.server_close()


# --------------------------------------------------------------------------------------------
# serve_in_foreground


@pytest.mark.host_dependent
def test_serve_in_foreground_sigterm_stops_and_restores_handler() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are only delivered to the main thread")
    stopped: list[bool] = []
    before = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        serve_in_foreground(lambda: stopped.append(True))
    finally:
        timer.cancel()
    assert stopped == [True]
    assert signal.getsignal(signal.SIGTERM) == before


@pytest.mark.host_dependent
def test_serve_in_foreground_keyboard_interrupt_stops() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("KeyboardInterrupt is only raised in the main thread")
    stopped: list[bool] = []
    timer = threading.Timer(0.2, signal.raise_signal, (signal.SIGINT,))
    timer.start()
    try:
        serve_in_foreground(lambda: stopped.append(True))
    finally:
        timer.cancel()
    assert stopped == [True]


def test_epoch_counts_tickets_taken_across_resets_and_wakes_who_waits_for_them() -> None:
    epoch = Epoch()
    assert epoch.issued == 0
    assert not epoch.wait_issued(1, timeout=0)
    epoch.ticket()
    epoch.advance()
    epoch.ticket()
    assert epoch.issued == 2
    arrived = threading.Event()
    waiter = threading.Thread(target=lambda: epoch.wait_issued(3, 10) and arrived.set())
    waiter.start()
    epoch.ticket()
    waiter.join(timeout=10)
    assert arrived.is_set()


def test_epoch_is_idle_when_every_request_being_served_is_over() -> None:
    epoch = Epoch()
    assert epoch.wait_idle(timeout=0)
    release = threading.Event()
    idle = threading.Event()

    def serve() -> None:
        with epoch.serving():
            release.wait(10)

    server = threading.Thread(target=serve)
    with epoch.serving():
        server.start()
        assert not epoch.wait_idle(timeout=0)
        watcher = threading.Thread(target=lambda: epoch.wait_idle(10) and idle.set())
        watcher.start()
    assert not idle.is_set()  # the other request is still being served
    release.set()
    server.join(timeout=10)
    watcher.join(timeout=10)
    assert idle.is_set() and epoch.wait_idle(timeout=0)
