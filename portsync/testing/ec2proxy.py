"""An HTTP proxy in front of moto server that counts EC2 calls, injects faults and pages results.

moto speaks the EC2 query protocol faithfully but never throttles, never fails and never pages.
Tests and benchmarks put this proxy between boto3 and moto to get those behaviours back, while
the real SDK still parses real EC2 XML::

    with MotoServer() as moto, EC2Proxy(moto.url, page_size_cap=2) as proxy:
        proxy.inject("throttle", action="DescribeSecurityGroups", times=3)
        ...  # point the client (or the cluster's ``endpoint:``) at proxy.url
        assert proxy.calls["DescribeSecurityGroups"] == 4

Faults are queued with :meth:`EC2Proxy.inject` and consumed in order by the first request whose
``Action`` matches (``action=None`` matches any). Every request that names an ``Action`` is counted,
whether it was forwarded or answered by a fault. The proxy uses the standard library only.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import socket
import struct
import threading
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

__all__ = ["FAULT_KINDS", "PAGED_ACTIONS", "EC2Proxy", "Fault"]

FaultKind = Literal["throttle", "server_error", "timeout", "reset", "duplicate", "after"]

#: The fault kinds :meth:`EC2Proxy.inject` accepts.
FAULT_KINDS: tuple[str, ...] = (
    "throttle",
    "server_error",
    "timeout",
    "reset",
    "duplicate",
    "after",
)

#: Actions the proxy pages, and the list element holding their items (botocore's ec2 model,
#: ``DescribeSecurityGroupsResult`` / ``DescribeSecurityGroupRulesResult`` locationNames).
PAGED_ACTIONS: dict[str, str] = {
    "DescribeSecurityGroups": "securityGroupInfo",
    "DescribeSecurityGroupRules": "securityGroupRuleSet",
}

#: EC2 accepts MaxResults between these bounds on the paged describe calls.
MIN_RESULTS, MAX_RESULTS = 5, 1000

_SERVER_ERRORS = {
    503: ("Unavailable", "The server is overloaded and can't handle the request."),
    500: ("InternalError", "An internal error has occurred."),
}

# Hop-by-hop or recomputed headers that are never copied between the two connections.
_SKIP_HEADERS = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "server", "date"}
)


@dataclass
class Fault:
    """One queued fault: what to do, to which action, how many more times."""

    kind: FaultKind
    action: str | None = None
    times: int = 1
    status: int = 503
    delay: float | None = None
    callback: Callable[[Mapping[str, str]], object] | None = None

    def matches(self, action: str) -> bool:
        """Whether this fault applies to a request for ``action``."""
        return self.action is None or self.action == action


@dataclass
class _Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def error_xml(code: str, message: str) -> bytes:
    """An EC2 error document, as AWS sends it (``Response/Errors/Error`` plus ``RequestID``)."""
    root = ET.Element("Response")
    error = ET.SubElement(ET.SubElement(root, "Errors"), "Error")
    ET.SubElement(error, "Code").text = code
    ET.SubElement(error, "Message").text = message
    ET.SubElement(root, "RequestID").text = str(uuid.uuid4())
    out: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return out


def encode_token(action: str, offset: int) -> str:
    """An opaque next-page token carrying the action and the offset of the next item."""
    return base64.urlsafe_b64encode(f"{action}:{offset}".encode()).decode()


def decode_token(action: str, token: str) -> int | None:
    """The offset a token carries, or None if it is not a token this proxy issued for ``action``."""
    try:
        name, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        value = int(offset)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return value if name == action and value >= 0 else None


class EC2Proxy:
    """A threaded HTTP proxy to an EC2 endpoint (moto server), on 127.0.0.1.

    Args:
        upstream_url: base URL of moto server, e.g. ``http://127.0.0.1:5000``.
        page_size_cap: serve at most this many items per page even when the client asks for
            more, or for everything by leaving ``MaxResults`` out (real AWS may return fewer
            items than asked, with a ``NextToken``).
        timeout_delay: seconds a ``"timeout"`` fault holds the request before closing the
            connection; set it above the client's read timeout.
        strict: refuse ``MaxResults`` together with ``GroupId.N`` on DescribeSecurityGroups,
            as EC2 does (moto accepts it).
    """

    def __init__(
        self,
        upstream_url: str,
        *,
        page_size_cap: int | None = None,
        timeout_delay: float = 2.0,
        strict: bool = True,
    ) -> None:
        parsed = urllib.parse.urlsplit(upstream_url)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"upstream_url must be an http:// URL, not {upstream_url!r}")
        if page_size_cap is not None and page_size_cap < 1:
            raise ValueError("page_size_cap must be at least 1")
        self.upstream_url = upstream_url.rstrip("/")
        self._upstream = (parsed.hostname, parsed.port or 80)
        self.page_size_cap = page_size_cap
        self.timeout_delay = timeout_delay
        self.strict = strict
        self.url = ""
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._faults: list[Fault] = []
        self._log: list[tuple[str, str]] = []
        self._params: list[tuple[str, dict[str, str]]] = []
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> str:
        """Listen on a free port of 127.0.0.1 and return the proxy's base URL."""
        if self._server is not None:
            return self.url
        self._stopping.clear()
        server = _QuietServer(("127.0.0.1", 0), _make_handler(self))
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="ec2proxy",
            daemon=True,
        )
        self._thread.start()
        host, port = server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        return self.url

    def stop(self) -> None:
        """Stop listening; requests still held by a ``"timeout"`` fault are released."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> EC2Proxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- counting --------------------------------------------------------------------------------

    @property
    def calls(self) -> Counter[str]:
        """Requests received per EC2 action since the last :meth:`reset_counts` (a snapshot)."""
        with self._lock:
            return Counter(self._calls)

    @property
    def log(self) -> list[tuple[str, str]]:
        """``(action, outcome)`` of every counted request, in arrival order (a snapshot)."""
        with self._lock:
            return list(self._log)

    def requests(self, action: str) -> list[dict[str, str]]:
        """The query parameters of every counted ``action`` request, in arrival order."""
        with self._lock:
            return [dict(p) for a, p in self._params if a == action]

    def reset_counts(self) -> None:
        """Forget the call counts, the log and the recorded parameters (faults are kept)."""
        with self._lock:
            self._calls.clear()
            self._log.clear()
            self._params.clear()

    # -- faults ----------------------------------------------------------------------------------

    def inject(
        self,
        kind: FaultKind,
        *,
        action: str | None = None,
        times: int = 1,
        status: int = 503,
        delay: float | None = None,
        callback: Callable[[Mapping[str, str]], object] | None = None,
    ) -> None:
        """Queue a fault for the next ``times`` requests matching ``action`` (None: any).

        Kinds:
            ``throttle``: HTTP 400 ``RequestLimitExceeded``.
            ``server_error``: HTTP ``status`` 503 ``Unavailable`` or 500 ``InternalError``.
            ``timeout``: hold the request ``delay`` seconds (default ``timeout_delay``), then
            close the connection without an answer; nothing is forwarded.
            ``reset``: close the connection with a TCP reset; nothing is forwarded.
            ``duplicate``: forward (the write happens), then answer 400
            ``InvalidPermission.Duplicate`` as if another writer had got there first.
            ``after``: forward, call ``callback(params)`` with the request's form fields, then
            return moto's answer; the callback runs before the client sees the answer.

        Raises:
            ValueError: unknown kind, ``times`` < 1, an unsupported status, or ``after``
                without a callback.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        if kind == "server_error" and status not in _SERVER_ERRORS:
            raise ValueError(f"status must be one of {sorted(_SERVER_ERRORS)}")
        if kind == "after" and callback is None:
            raise ValueError("an 'after' fault needs a callback")
        with self._lock:
            self._faults.append(Fault(kind, action, times, status, delay, callback))

    def pending_faults(self) -> list[Fault]:
        """Faults not yet (fully) consumed."""
        with self._lock:
            return [
                Fault(f.kind, f.action, f.times, f.status, f.delay, f.callback)
                for f in self._faults
            ]

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    def _admit(self, action: str, params: list[tuple[str, str]]) -> Fault | None:
        """Count a request and take the first queued fault matching it."""
        with self._lock:
            self._calls[action] += 1
            self._params.append((action, dict(params)))
            for index, fault in enumerate(self._faults):
                if fault.matches(action):
                    fault.times -= 1
                    if fault.times == 0:
                        del self._faults[index]
                    self._log.append((action, fault.kind))
                    return fault
            self._log.append((action, "forwarded"))
            return None

    # -- forwarding ------------------------------------------------------------------------------

    def _send_upstream(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> _Reply:
        conn = http.client.HTTPConnection(*self._upstream, timeout=600)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", f"{self._upstream[0]}:{self._upstream[1]}")
            for name, value in headers:
                if name.lower() not in _SKIP_HEADERS:
                    conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            data = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _SKIP_HEADERS]
            return _Reply(response.status, kept, data)
        finally:
            conn.close()

    def forward(
        self,
        method: str,
        path: str,
        headers: list[tuple[str, str]],
        body: bytes,
        params: list[tuple[str, str]],
    ) -> _Reply:
        """Send a request to moto, paging the answer of a paged describe call."""
        fields = dict(params)
        action = fields.get("Action", "")
        asked_for_pages = bool({"MaxResults", "NextToken"} & fields.keys())
        # With a cap, even a request for every item gets pages: AWS documents that omitting
        # MaxResults returns all items, but a client must still follow a NextToken it gets.
        if action not in PAGED_ACTIONS or not (asked_for_pages or self.page_size_cap):
            return self._send_upstream(method, path, headers, body)
        if (
            self.strict
            and action == "DescribeSecurityGroups"
            and "MaxResults" in fields
            and any(k.startswith("GroupId.") for k in fields)
        ):
            return _error_reply(
                400,
                "InvalidParameterCombination",
                "The parameter groupIds cannot be used with the parameter maxResults",
            )
        try:
            asked = int(fields.get("MaxResults", MAX_RESULTS))
        except ValueError:
            asked = -1
        if not MIN_RESULTS <= asked <= MAX_RESULTS:
            return _error_reply(
                400,
                "InvalidParameterValue",
                f"Value ({fields.get('MaxResults')}) for parameter maxResults is invalid. "
                f"Expecting a value between {MIN_RESULTS} and {MAX_RESULTS}.",
            )
        offset = 0
        if "NextToken" in fields:
            decoded = decode_token(action, fields["NextToken"])
            if decoded is None:
                return _error_reply(400, "InvalidParameterValue", "The token is not valid.")
            offset = decoded
        size = min(asked, self.page_size_cap or asked)
        stripped = [(k, v) for k, v in params if k not in ("MaxResults", "NextToken")]
        reply = self._send_upstream(
            method, path, headers, urllib.parse.urlencode(stripped).encode()
        )
        if reply.status != 200:
            return reply
        reply.body = _page(reply.body, action, offset, size)
        return reply


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hang up on purpose here (timeouts, resets); no tracebacks on stderr.
        pass


def _error_reply(status: int, code: str, message: str) -> _Reply:
    return _Reply(status, [("Content-Type", "text/xml;charset=UTF-8")], error_xml(code, message))


def _page(document: bytes, action: str, offset: int, size: int) -> bytes:
    """Keep items ``[offset, offset + size)`` of the action's list; add ``nextToken`` if more."""
    root = ET.fromstring(document)
    namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
    qualify = (lambda tag: f"{{{namespace}}}{tag}") if namespace else (lambda tag: tag)
    holder = root.find(qualify(PAGED_ACTIONS[action]))
    if holder is None:
        holder = ET.SubElement(root, qualify(PAGED_ACTIONS[action]))
    items = list(holder)
    for item in items:
        holder.remove(item)
    for item in items[offset : offset + size]:
        holder.append(item)
    for stale in root.findall(qualify("nextToken")):
        root.remove(stale)
    if offset + size < len(items):
        ET.SubElement(root, qualify("nextToken")).text = encode_token(action, offset + size)
    out: bytes = ET.tostring(
        root, encoding="utf-8", xml_declaration=True, default_namespace=namespace or None
    )
    return out


def _make_handler(proxy: EC2Proxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "ec2proxy"
        timeout = 60  # an idle keep-alive connection is dropped after this long
        disable_nagle_algorithm = True  # headers and body go out as separate writes

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            query = urllib.parse.urlsplit(self.path).query
            text = body.decode("utf-8", "replace") if self.command == "POST" else query
            params = urllib.parse.parse_qsl(text, keep_blank_values=True)
            headers = list(self.headers.items())
            action = dict(params).get("Action", "")
            if not action or proxy._stopping.is_set():
                self._reply(proxy._send_upstream(self.command, self.path, headers, body))
                return
            fault = proxy._admit(action, params)
            if fault is None:
                self._reply(proxy.forward(self.command, self.path, headers, body, params))
            elif fault.kind == "throttle":
                self._reply(_error_reply(400, "RequestLimitExceeded", "Request limit exceeded."))
            elif fault.kind == "server_error":
                code, message = _SERVER_ERRORS[fault.status]
                self._reply(_error_reply(fault.status, code, message))
            elif fault.kind == "timeout":
                proxy._stopping.wait(proxy.timeout_delay if fault.delay is None else fault.delay)
                self.close_connection = True
            elif fault.kind == "reset":
                self._reset()
            elif fault.kind == "duplicate":
                proxy.forward(self.command, self.path, headers, body, params)
                self._reply(
                    _error_reply(
                        400,
                        "InvalidPermission.Duplicate",
                        "the specified rule already exists (added by another writer)",
                    )
                )
            else:  # "after"
                reply = proxy.forward(self.command, self.path, headers, body, params)
                assert fault.callback is not None
                fault.callback(dict(params))
                self._reply(reply)

        def _reply(self, reply: _Reply) -> None:
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            self.wfile.flush()

        def _reset(self) -> None:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True

    return Handler
