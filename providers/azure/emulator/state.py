"""The emulator's state and its transitions: NSGs, application security groups, long-running
operations, and the dispatch of each served operation to the change it makes."""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, unquote

from ... import emulation
from ...emulation import CallCounter, Fault, StaleRequest
from .errors import ArmError, _bad_format, _not_found
from .routes import (
    _ASG_ID_RE,
    _ROUTES,
    _T,
    ASG_TYPE,
    DEFAULT_RULE_TYPE,
    DEFAULT_SECURITY_RULES,
    FAULT_KINDS,
    JSON,
    MAX_RULES_PER_NSG,
    NSG_TYPE,
    RULE_TYPE,
    Observer,
)
from .server import RecordedRequest, _Handler, _Request, _Response, _TLSServer
from .validation import (
    _API_VERSION_RE,
    _check_name,
    _check_rule_set,
    _checked,
    _decode_token,
    _encode_token,
    _flat_rule,
    _parse_json,
    _parse_tags,
    _too_many_rules,
    _validate_rule,
)

log = logging.getLogger(__package__)


def _fault_applies(fault: Fault, operation: str, method: str) -> bool:
    """Whether a fault of this kind may hit a request (the route is matched by the queue)."""
    if fault.kind == "another_operation":
        return method in {"PUT", "PATCH", "DELETE"}
    if fault.kind == "operation_failed":
        return method in {"PUT", "DELETE"} and operation not in {"nsg.update_tags"}
    return True


@dataclass(slots=True)
class _Nsg:
    subscription: str
    resource_group: str
    name: str
    location: str
    tags: dict[str, str] | None
    rules: list[JSON]  # each {"name": str, "properties": {...}} in stored order
    etag: str
    guid: str
    flush_connection: bool = False

    @property
    def id(self) -> str:
        return _nsg_id(self.subscription, self.resource_group, self.name)


@dataclass(slots=True)
class _Asg:
    subscription: str
    resource_group: str
    name: str
    location: str
    tags: dict[str, str] | None
    etag: str
    guid: str

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Network/applicationSecurityGroups/{self.name}"
        )


@dataclass(slots=True)
class _Operation:
    id: str
    subscription: str
    location: str
    kind: str  # "put" | "delete"
    resource_path: str
    api_version: str
    done_at: float
    error: JSON | None = None

    def status(self, now: float) -> str:
        if now < self.done_at:
            return "InProgress"
        return "Failed" if self.error is not None else "Succeeded"


def _new_etag() -> str:
    return f'W/"{uuid.uuid4()}"'


def _nsg_id(subscription: str, resource_group: str, name: str) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.Network/networkSecurityGroups/{name}"
    )


def _key(*parts: str) -> tuple[str, ...]:
    return tuple(p.lower() for p in parts)


def _norm_location(location: str) -> str:
    return location.replace(" ", "").lower()


class AzureEmulator:
    """ARM emulator for network security groups, served over HTTPS on a background thread.

    Args:
        host: Address to bind (default ``127.0.0.1``).
        port: Port to bind; ``0`` picks a free one.
        page_size: Items per page of every list operation.
        latency: Seconds to sleep before answering each request.
        operation_delay: Seconds a long-running write stays ``InProgress``.  While it does, the
            resource reports ``provisioningState: Updating`` and other writes to the same NSG
            get ``409 AnotherOperationInProgress``.  Default 0: operations finish at once.
        retry_after: Value of the ``Retry-After`` header on LRO and throttle responses.
        require_auth: When true, a request without ``Authorization: Bearer …`` gets 401 as on
            real ARM.  Default false, so ``credentials: anonymous`` works.
        ca_out: Where to write the CA bundle PEM; default a fresh temporary directory.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        page_size: int = 100,
        latency: float = 0.0,
        operation_delay: float = 0.0,
        retry_after: int = 0,
        require_auth: bool = False,
        ca_out: str | os.PathLike[str] | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.host = host
        self.port = port
        self.page_size = page_size
        self.latency = latency
        self.operation_delay = operation_delay
        self.retry_after = retry_after
        self.require_auth = require_auth
        self.calls = CallCounter()
        self.requests: deque[RecordedRequest] = deque(maxlen=10_000)
        self.observer_errors: list[BaseException] = []
        self._ca_out = Path(ca_out) if ca_out is not None else None
        self._ca_path: Path | None = None
        self._tmpdir: str | None = None
        self._lock = threading.RLock()
        self._nsgs: dict[tuple[str, ...], _Nsg] = {}
        self._asgs: dict[tuple[str, ...], _Asg] = {}
        self._operations: dict[str, _Operation] = {}
        self._busy: dict[tuple[str, ...], tuple[float, str]] = {}
        self._faults = emulation.FaultQueue(FAULT_KINDS)
        self._observers: emulation.ObserverList[[JSON]] = emulation.ObserverList(
            on_error=self._observer_failed
        )
        self._epoch = emulation.Epoch()
        self._serving = emulation.ServerThread()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> str:
        """Make the certificates, bind, serve on a daemon thread; return the base URL."""
        if self._serving.running:
            return self.base_url
        from ..tlscert import make_tls

        identities = ["127.0.0.1", "localhost", "::1"]
        if self.host not in identities and self.host not in {"0.0.0.0", "::"}:
            identities.append(self.host)
        tls = make_tls(identities)
        if self._ca_out is not None:
            self._ca_out.parent.mkdir(parents=True, exist_ok=True)
            self._ca_path = self._ca_out
        else:
            self._tmpdir = tempfile.mkdtemp(prefix="portsync-azure-emulator-")
            self._ca_path = Path(self._tmpdir) / "ca.pem"
        self._ca_path.write_bytes(tls.ca_pem)
        context = tls.context
        server = _TLSServer((self.host, self.port), _Handler, self, context)
        self.port = self._serving.start(server, "azure-emulator")
        return self.base_url

    def stop(self) -> None:
        """Stop serving and remove the temporary CA directory (if the emulator made it)."""
        self._serving.stop()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> AzureEmulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``https://127.0.0.1:PORT`` once started."""
        if not self._serving.running:
            raise RuntimeError("the emulator is not running; call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def ca_bundle_path(self) -> str:
        """Path of the PEM CA bundle that verifies the emulator's certificate."""
        if self._ca_path is None:
            raise RuntimeError("the emulator has not been started; call start() first")
        return str(self._ca_path)

    # -- instrumentation and setup -----------------------------------------------------------

    def reset(self) -> None:
        """Zero the call counters, forget recorded requests and pending faults (keeps state).

        Requests still in flight (sleeping in ``latency`` or a ``slow`` fault) belong to the run
        before the reset: their connection is dropped without an answer, and they neither
        count, take a fault, get recorded nor change state.
        """
        with self._lock:
            self._epoch.advance()
            self.calls.clear()
            self.requests.clear()
            self._faults.clear()
            self.observer_errors.clear()

    def clear(self) -> None:
        """Delete every resource, operation and observer, and :meth:`reset` (one atomic step)."""
        with self._lock:  # one step, so no request from before it sees half of it
            self.reset()
            self._observers.clear()
            self._nsgs.clear()
            self._asgs.clear()
            self._operations.clear()
            self._busy.clear()

    def add_observer(self, observer: Observer) -> None:
        """Call ``observer(nsg)`` with a deep copy of an NSG after every committed change.

        The copy has the shape of a GET response.  For a deletion it is the last state with
        ``properties.provisioningState == "Deleting"``.  Observers run under the emulator's
        lock, in commit order; exceptions they raise are kept in :attr:`observer_errors`.
        """
        self._observers.add(observer)

    def remove_observer(self, observer: Observer) -> None:
        """Stop calling ``observer``.

        Raises:
            ValueError: ``observer`` was not added.
        """
        self._observers.remove(observer)

    def _observer_failed(self, exc: Exception) -> None:
        log.error("azure emulator observer failed", exc_info=exc)
        self.observer_errors.append(exc)

    def inject(
        self,
        kind: str,
        *,
        times: int = 1,
        route: str | None = None,
        status: int | None = None,
        retry_after: int | None = None,
        delay: float = 1.0,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        """Queue a fault for the next matching request(s); faults are consumed in order.

        Args:
            kind: ``throttle`` (429 + Retry-After), ``server_error`` (500, or ``status=503``),
                ``another_operation`` (409 AnotherOperationInProgress, writes only),
                ``operation_failed`` (the LRO ends ``Failed`` and the change is not applied;
                PUT/DELETE only), ``slow`` (sleep ``delay`` seconds, then answer normally) or
                ``reset`` (drop the connection without answering).
            times: How many matching requests the fault hits.
            route: Operation name or glob the fault is limited to, e.g. ``"nsg.put"``,
                ``"rule.*"``; ``None`` matches any request the kind applies to.
            status: HTTP status for ``server_error`` (500 or 503).
            retry_after: Retry-After seconds for ``throttle`` (default :attr:`retry_after`).
            delay: Seconds for ``slow``.
            code: Error code for ``operation_failed`` / ``server_error``.
            message: Error message for ``operation_failed`` / ``server_error``.

        Raises:
            ValueError: Unknown kind, ``times`` < 1, or an unsupported ``status``.
        """
        if kind == "server_error" and status not in {None, 500, 503}:
            raise ValueError("server_error status must be 500 or 503")
        self._faults.add(
            kind,
            times=times,
            route=route,
            status=status or 0,
            delay=delay,
            code=code,
            message=message,
            retry_after=retry_after,
        )

    # -- waiting for requests (tests wait on events, never on a sleep) --------------------------

    @property
    def requests_seen(self) -> int:
        """Requests that reached the emulator since it was made (resets do not zero this)."""
        return self._epoch.issued

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` requests have reached the emulator (see :attr:`requests_seen`);
        from then on a reset makes them stale. False when ``timeout`` ran out first."""
        return self._epoch.wait_issued(count, timeout)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no request is being served: a stale one has been dropped, a current one
        answered. False when ``timeout`` ran out first."""
        return self._epoch.wait_idle(timeout)

    def pending_faults(self) -> list[tuple[str, int, str | None]]:
        """``(kind, remaining, route)`` of every fault not yet consumed."""
        return [(f.kind, f.remaining, f.route) for f in self._faults.pending()]

    def seed_nsg(
        self,
        subscription: str,
        resource_group: str,
        name: str,
        location: str = "eastus",
        rules: Iterable[Mapping[str, Any]] = (),
        *,
        tags: Mapping[str, str] | None = None,
    ) -> JSON:
        """Create or replace an NSG directly (no request, no counters, no observers).

        ``rules`` take the ARM shape ``{"name", "properties": {...}}`` or a flat dict with the
        property keys next to ``name``.  They are validated exactly like a PUT.

        Returns:
            The NSG as a GET would return it.

        Raises:
            ValueError: A rule is invalid (the message carries the ARM error code).
        """
        nsg_id = _nsg_id(subscription, resource_group, name)
        try:
            _check_name(name)
            normalised = []
            for index, rule in enumerate(rules):
                flat = _flat_rule(rule)
                rule_name = str(flat.get("name") or "")
                normalised.append(
                    _validate_rule(
                        flat,
                        rule_name,
                        f"{nsg_id}/securityRules/{rule_name}",
                        self._asg_exists,
                        f"rules[{index}]",
                    )
                )
            _check_rule_set(normalised)
        except ArmError as exc:
            raise ValueError(f"{exc.code}: {exc.message}") from exc
        with self._lock:
            key = _key(subscription, resource_group, name)
            old = self._nsgs.get(key)
            self._nsgs[key] = _Nsg(
                subscription=subscription,
                resource_group=resource_group,
                name=name,
                location=location,
                tags=dict(tags) if tags is not None else None,
                rules=normalised,
                etag=_new_etag(),
                guid=old.guid if old else str(uuid.uuid4()),
            )
            return self._render_nsg(self._nsgs[key], time.monotonic())

    def seed_asg(
        self,
        subscription: str,
        resource_group: str,
        name: str,
        location: str = "eastus",
        *,
        tags: Mapping[str, str] | None = None,
    ) -> JSON:
        """Create an application security group directly; returns it as a GET would."""
        with self._lock:
            key = _key(subscription, resource_group, name)
            self._asgs[key] = _Asg(
                subscription,
                resource_group,
                name,
                location,
                dict(tags) if tags is not None else None,
                _new_etag(),
                str(uuid.uuid4()),
            )
            return self._render_asg(self._asgs[key], time.monotonic())

    def get_nsg(self, subscription: str, resource_group: str, name: str) -> JSON | None:
        """The NSG as a GET would return it, or ``None``; does not count as a call."""
        with self._lock:
            nsg = self._nsgs.get(_key(subscription, resource_group, name))
            return self._render_nsg(nsg, time.monotonic()) if nsg else None

    def nsgs(self) -> list[JSON]:
        """Every NSG (all subscriptions), sorted by id."""
        with self._lock:
            now = time.monotonic()
            items = sorted(self._nsgs.values(), key=lambda n: n.id.lower())
            return [self._render_nsg(n, now) for n in items]

    # -- rendering ---------------------------------------------------------------------------

    def _provisioning_state(self, key: tuple[str, ...], now: float) -> str:
        busy = self._busy.get(key)
        return "Updating" if busy is not None and now < busy[0] else "Succeeded"

    def _render_rule(self, nsg: _Nsg, rule: JSON, state: str) -> JSON:
        props = rule["properties"]
        out_props: JSON = {"provisioningState": state}
        if "description" in props:
            out_props["description"] = props["description"]
        out_props["protocol"] = props["protocol"]
        for key in (
            "sourcePortRange",
            "destinationPortRange",
            "sourceAddressPrefix",
            "destinationAddressPrefix",
        ):
            if key in props:
                out_props[key] = props[key]
        for key in ("sourceApplicationSecurityGroups", "destinationApplicationSecurityGroups"):
            if key in props:
                out_props[key] = copy.deepcopy(props[key])
        out_props.update(
            {
                "access": props["access"],
                "priority": props["priority"],
                "direction": props["direction"],
                "sourcePortRanges": list(props["sourcePortRanges"]),
                "destinationPortRanges": list(props["destinationPortRanges"]),
                "sourceAddressPrefixes": list(props["sourceAddressPrefixes"]),
                "destinationAddressPrefixes": list(props["destinationAddressPrefixes"]),
            }
        )
        return {
            "name": rule["name"],
            "id": f"{nsg.id}/securityRules/{rule['name']}",
            "etag": nsg.etag,
            "type": RULE_TYPE,
            "properties": out_props,
        }

    @staticmethod
    def _render_default_rules(nsg: _Nsg) -> list[JSON]:
        out = []
        for name, description, src, dst, access, priority, direction in DEFAULT_SECURITY_RULES:
            out.append(
                {
                    "name": name,
                    "id": f"{nsg.id}/defaultSecurityRules/{name}",
                    "etag": nsg.etag,
                    "type": DEFAULT_RULE_TYPE,
                    "properties": {
                        "provisioningState": "Succeeded",
                        "description": description,
                        "protocol": "*",
                        "sourcePortRange": "*",
                        "destinationPortRange": "*",
                        "sourceAddressPrefix": src,
                        "destinationAddressPrefix": dst,
                        "access": access,
                        "priority": priority,
                        "direction": direction,
                        "sourcePortRanges": [],
                        "destinationPortRanges": [],
                        "sourceAddressPrefixes": [],
                        "destinationAddressPrefixes": [],
                    },
                }
            )
        return out

    def _render_nsg(self, nsg: _Nsg, now: float, *, state: str | None = None) -> JSON:
        if state is None:
            state = self._provisioning_state(
                _key("nsg", nsg.subscription, nsg.resource_group, nsg.name), now
            )
        body: JSON = {
            "name": nsg.name,
            "id": nsg.id,
            "etag": nsg.etag,
            "type": NSG_TYPE,
            "location": nsg.location,
        }
        if nsg.tags is not None:
            body["tags"] = dict(nsg.tags)
        body["properties"] = {
            "flushConnection": nsg.flush_connection,
            "provisioningState": state,
            "resourceGuid": nsg.guid,
            "securityRules": [self._render_rule(nsg, r, state) for r in nsg.rules],
            "defaultSecurityRules": self._render_default_rules(nsg),
        }
        return body

    def _render_asg(self, asg: _Asg, now: float) -> JSON:
        state = self._provisioning_state(
            _key("asg", asg.subscription, asg.resource_group, asg.name), now
        )
        body: JSON = {
            "name": asg.name,
            "id": asg.id,
            "etag": asg.etag,
            "type": ASG_TYPE,
            "location": asg.location,
        }
        if asg.tags is not None:
            body["tags"] = dict(asg.tags)
        body["properties"] = {"provisioningState": state, "resourceGuid": asg.guid}
        return body

    # -- internal state helpers (call with the lock held) -------------------------------------

    def _asg_exists(self, asg_id: str) -> bool:
        match = _ASG_ID_RE.match(asg_id)
        if not match:
            return False
        with self._lock:
            return _key(match["sub"], match["rg"], unquote(match["asg"])) in self._asgs

    def _notify(self, snapshot: JSON) -> None:
        # Each observer gets its own deep copy; one that raises must not break the request.
        self._observers.notify(snapshot)

    def _operation_url(self, req: _Request, op: _Operation, kind: str = "operations") -> str:
        return (
            f"https://{req.host}/subscriptions/{op.subscription}/providers/Microsoft.Network"
            f"/locations/{op.location}/{kind}/{op.id}?api-version={quote(op.api_version)}"
        )

    def _check_busy(self, key: tuple[str, ...], req: _Request, now: float) -> None:
        busy = self._busy.get(key)
        if busy is None or now >= busy[0]:
            return
        op = self._operations[busy[1]]
        raise ArmError(
            409,
            "AnotherOperationInProgress",
            "Another operation on this or dependent resource is in progress. To retrieve "
            f"status of the operation use uri: {self._operation_url(req, op)}.",
        )

    @staticmethod
    def _check_preconditions(req: _Request, current_etag: str | None) -> None:
        if_match = req.headers.get("if-match")
        if if_match is not None:
            wanted = [v.strip() for v in if_match.split(",") if v.strip()]
            if current_etag is None or ("*" not in wanted and current_etag not in wanted):
                raise ArmError(
                    412,
                    "PreconditionFailed",
                    f"The condition 'If-Match: {if_match}' is not met: the resource "
                    + (
                        f"has etag {current_etag}."
                        if current_etag is not None
                        else "does not exist."
                    ),
                )
        if_none_match = req.headers.get("if-none-match")
        if if_none_match is not None and current_etag is not None:
            wanted = [v.strip() for v in if_none_match.split(",") if v.strip()]
            if "*" in wanted or current_etag in wanted:
                raise ArmError(
                    412,
                    "PreconditionFailed",
                    f"The condition 'If-None-Match: {if_none_match}' is not met: the resource "
                    f"exists with etag {current_etag}.",
                )

    def _start_operation(
        self,
        req: _Request,
        busy_key: tuple[str, ...],
        subscription: str,
        location: str,
        kind: str,
        fail: Fault | None,
    ) -> _Operation:
        now = time.monotonic()
        error: JSON | None = None
        if fail is not None:
            error = {
                "code": fail.code or "InternalServerError",
                "message": fail.message or "An error occurred while processing the operation.",
                "details": [],
            }
        op = _Operation(
            id=str(uuid.uuid4()),
            subscription=subscription,
            location=_norm_location(location) or "global",
            kind=kind,
            resource_path=req.path,
            api_version=req.api_version,
            done_at=now + max(self.operation_delay, 0.0),
            error=error,
        )
        self._operations[op.id] = op
        if self.operation_delay > 0:
            self._busy[busy_key] = (op.done_at, op.id)
        return op

    def _lro_headers(self, req: _Request, op: _Operation, *, location: bool) -> dict[str, str]:
        headers = {
            "Azure-AsyncOperation": self._operation_url(req, op),
            "Retry-After": str(self.retry_after),
        }
        if location:
            headers["Location"] = self._operation_url(req, op, "operationResults")
        return headers

    def _page(
        self, req: _Request, items: Sequence[tuple[str, _T]], render: Callable[[_T], JSON]
    ) -> _Response:
        """One page of ``items`` (sorted by key) after ``$skipToken``; renders only that page."""
        token = req.query.get("$skiptoken") or req.query.get("$skipToken")
        remaining = sorted(items, key=lambda item: item[0])
        if token:
            after = _decode_token(token)
            remaining = [item for item in remaining if item[0] > after]
        page = remaining[: self.page_size]
        body: JSON = {"value": [render(item) for _, item in page]}
        if len(remaining) > len(page):
            next_link = (
                f"https://{req.host}{quote(req.path)}?api-version={quote(req.api_version)}"
                f"&%24skipToken={_encode_token(page[-1][0])}"
            )
            body["nextLink"] = next_link
        return _Response(200, body)

    # -- request entry point -----------------------------------------------------------------

    def _handle(self, req: _Request) -> _Response:
        ticket = self._epoch.ticket()
        try:
            self._epoch.sleep(self.latency, ticket)
            with self._lock:  # reset() advances the epoch and clears counters under this lock
                self._epoch.check(ticket)
                route_error = self._route(req)
                self.calls.add(req.operation)
            try:
                if route_error is not None:
                    raise route_error
                self._check_auth(req)
                self._check_api_version(req)
                fault = self._take_fault(req, ticket)
                fail: Fault | None = None
                if fault is not None:
                    if fault.kind == "operation_failed":
                        fail = fault
                    else:
                        early = self._apply_fault(fault, req, ticket)
                        if early is not None:
                            return early
                return self._dispatch(req, fail)
            except ArmError as exc:
                return _Response(exc.status, exc.body(), dict(exc.headers))
        except StaleRequest:  # the emulator was reset while this request slept
            return _Response(0, drop=True, record=False)

    def _route(self, req: _Request) -> ArmError | None:
        for pattern, methods in _ROUTES:
            match = pattern.match(req.path)
            if not match:
                continue
            req.params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
            operation = methods.get(req.method)
            if operation is None:
                req.operation = "unsupported_method"
                return ArmError(
                    405,
                    "MethodNotAllowed",
                    f"The requested resource does not support http method '{req.method}'.",
                )
            req.operation = operation
            return None
        req.operation = "unknown"
        return ArmError(
            404,
            "InvalidResourceType",
            f"The emulator has no resource at '{req.path}'; it serves "
            "Microsoft.Network/networkSecurityGroups (with securityRules and "
            "defaultSecurityRules) and Microsoft.Network/applicationSecurityGroups.",
        )

    def _check_auth(self, req: _Request) -> None:
        header = req.headers.get("authorization")
        if header is None:
            if self.require_auth:
                raise ArmError(
                    401,
                    "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is missing.",
                )
            return
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ArmError(
                401,
                "AuthenticationFailedInvalidHeader",
                "Authentication failed. The 'Authorization' header is provided in an invalid "
                "format.",
            )

    @staticmethod
    def _check_api_version(req: _Request) -> None:
        version = req.query.get("api-version")
        if not version:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if not _API_VERSION_RE.match(version):
            raise ArmError(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{version}' is invalid. The supported versions are dates of "
                "the form 'YYYY-MM-DD' or 'YYYY-MM-DD-preview'.",
            )

    def _take_fault(self, req: _Request, ticket: int) -> Fault | None:
        """The first queued fault for the request, unless a reset made it stale.

        Raises:
            StaleRequest: the emulator was reset since the request arrived.
        """
        with self._lock:  # reset() advances the epoch and clears faults under this lock
            self._epoch.check(ticket)
            return self._faults.take(
                (req.operation,), lambda fault: _fault_applies(fault, req.operation, req.method)
            )

    def _apply_fault(self, fault: Fault, req: _Request, ticket: int) -> _Response | None:
        if fault.kind == "slow":
            self._epoch.sleep(fault.delay, ticket)
            return None
        if fault.kind == "reset":
            return _Response(0, drop=True)
        if fault.kind == "throttle":
            retry_after = self.retry_after if fault.retry_after is None else fault.retry_after
            raise ArmError(
                429,
                "SubscriptionRequestsThrottled",
                "Number of requests for subscription exceeded the limit. Please try again "
                f"after '{retry_after}' seconds.",
                headers={"Retry-After": str(retry_after)},
            )
        if fault.kind == "server_error":
            if fault.status == 503:
                raise ArmError(
                    503,
                    fault.code or "ServiceUnavailable",
                    fault.message or "The service is temporarily unavailable.",
                    headers={"Retry-After": str(self.retry_after)},
                )
            raise ArmError(
                500,
                fault.code or "InternalServerError",
                fault.message or "Encountered internal server error.",
            )
        if fault.kind == "another_operation":
            with self._lock:
                op = _Operation(
                    id=str(uuid.uuid4()),
                    subscription=req.params.get("sub", "unknown"),
                    location="eastus",
                    kind="put",
                    resource_path=req.path,
                    api_version=req.api_version,
                    done_at=time.monotonic(),
                )
                self._operations[op.id] = op
            raise ArmError(
                409,
                "AnotherOperationInProgress",
                "Another operation on this or dependent resource is in progress. To retrieve "
                f"status of the operation use uri: {self._operation_url(req, op)}.",
            )
        raise AssertionError(f"unhandled fault {fault.kind}")  # pragma: no cover

    def _dispatch(self, req: _Request, fail: Fault | None) -> _Response:
        handler = getattr(self, "_op_" + req.operation.replace(".", "_"))
        if req.method in {"PUT", "DELETE"}:
            return cast(Callable[[_Request, Fault | None], _Response], handler)(req, fail)
        return cast(Callable[[_Request], _Response], handler)(req)

    # -- NSG operations ------------------------------------------------------------------------

    def _get_nsg(self, req: _Request) -> _Nsg:
        p = req.params
        nsg = self._nsgs.get(_key(p["sub"], p["rg"], p["nsg"]))
        if nsg is None:
            raise _not_found("networkSecurityGroups", p["rg"], p["nsg"])
        return nsg

    def _op_nsg_get(self, req: _Request) -> _Response:
        with self._lock:
            return _Response(200, self._render_nsg(self._get_nsg(req), time.monotonic()))

    def _op_nsg_list(self, req: _Request) -> _Response:
        p = req.params
        with self._lock:
            now = time.monotonic()
            items = [
                (n.name.lower(), n)
                for k, n in self._nsgs.items()
                if k[:2] == _key(p["sub"], p["rg"])
            ]
            return self._page(req, items, lambda n: self._render_nsg(n, now))

    def _op_nsg_list_all(self, req: _Request) -> _Response:
        sub = req.params["sub"].lower()
        with self._lock:
            now = time.monotonic()
            items = [
                (f"{n.resource_group.lower()}/{n.name.lower()}", n)
                for k, n in self._nsgs.items()
                if k[0] == sub
            ]
            return self._page(req, items, lambda n: self._render_nsg(n, now))

    def _op_nsg_put(self, req: _Request, fail: Fault | None) -> _Response:
        p = req.params
        sub, rg, name = p["sub"], p["rg"], p["nsg"]
        _check_name(name)
        payload = _checked(
            "NetworkSecurityGroup", _parse_json(req.body), "", stop_at=("SecurityRule",)
        )
        with self._lock:
            now = time.monotonic()
            key = _key(sub, rg, name)
            busy_key = _key("nsg", sub, rg, name)
            self._check_busy(busy_key, req, now)
            existing = self._nsgs.get(key)
            self._check_preconditions(req, existing.etag if existing else None)
            location = payload.get("location")
            if not isinstance(location, str) or not location.strip():
                raise ArmError(
                    400,
                    "LocationRequired",
                    "The location property is required for this definition.",
                )
            if existing is not None and _norm_location(existing.location) != _norm_location(
                location
            ):
                raise ArmError(
                    409,
                    "InvalidResourceLocation",
                    f"The resource '{name}' already exists in location '{existing.location}' in "
                    f"resource group '{existing.resource_group}'. A resource with the same name "
                    "cannot be created in location "
                    f"'{location}'. Please select a new resource name.",
                )
            tags = _parse_tags(payload.get("tags"), "tags")
            props = payload.get("properties")
            if props is None:
                props = {}
            if not isinstance(props, dict):
                raise _bad_format("properties", "Expected an object.")
            flush = props.get("flushConnection", False)
            if not isinstance(flush, bool):
                raise _bad_format("properties.flushConnection", "Expected a boolean.")
            raw_rules = props.get("securityRules")
            if raw_rules is None:
                raw_rules = []
            if not isinstance(raw_rules, list):
                raise _bad_format("properties.securityRules", "Expected an array.")
            rg_name = existing.resource_group if existing else rg
            nsg_name = existing.name if existing else name
            nsg_id = _nsg_id(sub, rg_name, nsg_name)
            if len(raw_rules) > MAX_RULES_PER_NSG:
                raise _too_many_rules()
            rules = []
            for index, raw in enumerate(raw_rules):
                rule_name = raw.get("name") if isinstance(raw, dict) else None
                if not isinstance(rule_name, str):
                    rule_name = ""
                rules.append(
                    _validate_rule(
                        raw,
                        rule_name,
                        f"{nsg_id}/securityRules/{rule_name}",
                        self._asg_exists,
                        f"properties.securityRules[{index}]",
                    )
                )
            _check_rule_set(rules)
            new = _Nsg(
                subscription=existing.subscription if existing else sub,
                resource_group=rg_name,
                name=nsg_name,
                location=existing.location if existing else location,
                tags=tags,
                rules=rules,
                etag=_new_etag(),
                guid=existing.guid if existing else str(uuid.uuid4()),
                flush_connection=flush,
            )
            op = self._start_operation(req, busy_key, sub, new.location, "put", fail)
            now = time.monotonic()
            if fail is None:
                self._nsgs[key] = new
                self._notify(self._render_nsg(new, now))
            body = self._render_nsg(new, now)
            return _Response(
                200 if existing else 201, body, self._lro_headers(req, op, location=False)
            )

    def _op_nsg_update_tags(self, req: _Request) -> _Response:
        payload = _parse_json(req.body)
        tags = _parse_tags(payload.get("tags"), "tags")
        p = req.params
        with self._lock:
            now = time.monotonic()
            nsg = self._get_nsg(req)
            self._check_busy(_key("nsg", p["sub"], p["rg"], p["nsg"]), req, now)
            self._check_preconditions(req, nsg.etag)
            nsg.tags = tags if tags is not None else {}
            nsg.etag = _new_etag()
            body = self._render_nsg(nsg, now)
            self._notify(body)
            return _Response(200, body)

    def _op_nsg_delete(self, req: _Request, fail: Fault | None) -> _Response:
        p = req.params
        with self._lock:
            now = time.monotonic()
            key = _key(p["sub"], p["rg"], p["nsg"])
            nsg = self._nsgs.get(key)
            if nsg is None:
                if "if-match" in req.headers:
                    self._check_preconditions(req, None)
                return _Response(204)
            busy_key = _key("nsg", p["sub"], p["rg"], p["nsg"])
            self._check_busy(busy_key, req, now)
            self._check_preconditions(req, nsg.etag)
            op = self._start_operation(
                req, busy_key, nsg.subscription, nsg.location, "delete", fail
            )
            if fail is None:
                del self._nsgs[key]
                self._notify(self._render_nsg(nsg, now, state="Deleting"))
            return _Response(202, None, self._lro_headers(req, op, location=True))

    # -- security rule operations -------------------------------------------------------------

    def _op_rule_list(self, req: _Request) -> _Response:
        with self._lock:
            nsg = self._get_nsg(req)
            state = self._provisioning_state(
                _key("nsg", nsg.subscription, nsg.resource_group, nsg.name), time.monotonic()
            )
            items = [(f"{i:05d}", r) for i, r in enumerate(nsg.rules)]
            return self._page(req, items, lambda r: self._render_rule(nsg, r, state))

    def _find_rule(self, nsg: _Nsg, name: str) -> int | None:
        lowered = name.lower()
        for index, rule in enumerate(nsg.rules):
            if rule["name"].lower() == lowered:
                return index
        return None

    def _op_rule_get(self, req: _Request) -> _Response:
        with self._lock:
            nsg = self._get_nsg(req)
            index = self._find_rule(nsg, req.params["rule"])
            if index is None:
                raise ArmError(
                    404,
                    "NotFound",
                    f"Resource {nsg.id}/securityRules/{req.params['rule']} not found.",
                )
            state = self._provisioning_state(
                _key("nsg", nsg.subscription, nsg.resource_group, nsg.name), time.monotonic()
            )
            return _Response(200, self._render_rule(nsg, nsg.rules[index], state))

    def _op_rule_put(self, req: _Request, fail: Fault | None) -> _Response:
        p = req.params
        rule_name = p["rule"]
        payload = _parse_json(req.body)
        with self._lock:
            now = time.monotonic()
            nsg = self._get_nsg(req)
            busy_key = _key("nsg", p["sub"], p["rg"], p["nsg"])
            self._check_busy(busy_key, req, now)
            index = self._find_rule(nsg, rule_name)
            self._check_preconditions(req, nsg.etag if index is not None else None)
            if index is not None:
                rule_name = nsg.rules[index]["name"]
            rule = _validate_rule(
                payload,
                rule_name,
                f"{nsg.id}/securityRules/{rule_name}",
                self._asg_exists,
                "",
            )
            rules = [copy.deepcopy(r) for r in nsg.rules]
            if index is None:
                rules.append(rule)
            else:
                rules[index] = rule
            _check_rule_set(rules)
            new = dataclasses.replace(
                nsg, tags=copy.deepcopy(nsg.tags), rules=rules, etag=_new_etag()
            )
            op = self._start_operation(req, busy_key, nsg.subscription, nsg.location, "put", fail)
            now = time.monotonic()
            if fail is None:
                self._nsgs[_key(p["sub"], p["rg"], p["nsg"])] = new
                self._notify(self._render_nsg(new, now))
            state = self._provisioning_state(busy_key, now)
            return _Response(
                201 if index is None else 200,
                self._render_rule(new, rule, state),
                self._lro_headers(req, op, location=False),
            )

    def _op_rule_delete(self, req: _Request, fail: Fault | None) -> _Response:
        p = req.params
        with self._lock:
            now = time.monotonic()
            nsg = self._get_nsg(req)
            index = self._find_rule(nsg, p["rule"])
            if index is None:
                return _Response(204)
            busy_key = _key("nsg", p["sub"], p["rg"], p["nsg"])
            self._check_busy(busy_key, req, now)
            self._check_preconditions(req, nsg.etag)
            op = self._start_operation(
                req, busy_key, nsg.subscription, nsg.location, "delete", fail
            )
            if fail is None:
                rules = [copy.deepcopy(r) for i, r in enumerate(nsg.rules) if i != index]
                new = dataclasses.replace(
                    nsg, tags=copy.deepcopy(nsg.tags), rules=rules, etag=_new_etag()
                )
                self._nsgs[_key(p["sub"], p["rg"], p["nsg"])] = new
                self._notify(self._render_nsg(new, now))
            return _Response(202, None, self._lro_headers(req, op, location=True))

    def _op_default_rule_list(self, req: _Request) -> _Response:
        with self._lock:
            nsg = self._get_nsg(req)
            rules = self._render_default_rules(nsg)
        return self._page(req, [(f"{i:05d}", r) for i, r in enumerate(rules)], lambda r: r)

    def _op_default_rule_get(self, req: _Request) -> _Response:
        with self._lock:
            nsg = self._get_nsg(req)
            wanted = req.params["rule"].lower()
            for rule in self._render_default_rules(nsg):
                if rule["name"].lower() == wanted:
                    return _Response(200, rule)
            raise ArmError(
                404,
                "NotFound",
                f"Resource {nsg.id}/defaultSecurityRules/{req.params['rule']} not found.",
            )

    # -- application security groups -----------------------------------------------------------

    def _op_asg_get(self, req: _Request) -> _Response:
        p = req.params
        with self._lock:
            asg = self._asgs.get(_key(p["sub"], p["rg"], p["asg"]))
            if asg is None:
                raise _not_found("applicationSecurityGroups", p["rg"], p["asg"])
            return _Response(200, self._render_asg(asg, time.monotonic()))

    def _op_asg_list(self, req: _Request) -> _Response:
        p = req.params
        with self._lock:
            now = time.monotonic()
            items = [
                (a.name.lower(), a)
                for k, a in self._asgs.items()
                if k[:2] == _key(p["sub"], p["rg"])
            ]
            return self._page(req, items, lambda a: self._render_asg(a, now))

    def _op_asg_put(self, req: _Request, fail: Fault | None) -> _Response:
        p = req.params
        _check_name(p["asg"])
        payload = _parse_json(req.body)
        with self._lock:
            now = time.monotonic()
            key = _key(p["sub"], p["rg"], p["asg"])
            busy_key = _key("asg", p["sub"], p["rg"], p["asg"])
            self._check_busy(busy_key, req, now)
            existing = self._asgs.get(key)
            self._check_preconditions(req, existing.etag if existing else None)
            location = payload.get("location")
            if not isinstance(location, str) or not location.strip():
                raise ArmError(
                    400,
                    "LocationRequired",
                    "The location property is required for this definition.",
                )
            new = _Asg(
                existing.subscription if existing else p["sub"],
                existing.resource_group if existing else p["rg"],
                existing.name if existing else p["asg"],
                existing.location if existing else location,
                _parse_tags(payload.get("tags"), "tags"),
                _new_etag(),
                existing.guid if existing else str(uuid.uuid4()),
            )
            op = self._start_operation(req, busy_key, p["sub"], new.location, "put", fail)
            if fail is None:
                self._asgs[key] = new
            return _Response(
                200 if existing else 201,
                self._render_asg(new, time.monotonic()),
                self._lro_headers(req, op, location=False),
            )

    def _op_asg_delete(self, req: _Request, fail: Fault | None) -> _Response:
        p = req.params
        with self._lock:
            key = _key(p["sub"], p["rg"], p["asg"])
            asg = self._asgs.get(key)
            if asg is None:
                return _Response(204)
            busy_key = _key("asg", p["sub"], p["rg"], p["asg"])
            self._check_busy(busy_key, req, time.monotonic())
            self._check_preconditions(req, asg.etag)
            op = self._start_operation(
                req, busy_key, asg.subscription, asg.location, "delete", fail
            )
            if fail is None:
                del self._asgs[key]
            return _Response(202, None, self._lro_headers(req, op, location=True))

    # -- operation status ------------------------------------------------------------------------

    def _get_operation(self, req: _Request) -> _Operation:
        with self._lock:
            op = self._operations.get(req.params["op"])
        if op is None or op.subscription.lower() != req.params["sub"].lower():
            raise ArmError(404, "NotFound", f"Operation {req.params['op']} was not found.")
        return op

    def _op_operation_get(self, req: _Request) -> _Response:
        op = self._get_operation(req)
        status = op.status(time.monotonic())
        body: JSON = {"status": status}
        if status == "Failed" and op.error is not None:
            body["error"] = copy.deepcopy(op.error)
        headers = {"Retry-After": str(self.retry_after)} if status == "InProgress" else {}
        return _Response(200, body, headers)

    def _op_operation_result_get(self, req: _Request) -> _Response:
        op = self._get_operation(req)
        status = op.status(time.monotonic())
        if status == "InProgress":
            return _Response(
                202,
                None,
                {
                    "Location": self._operation_url(req, op, "operationResults"),
                    "Retry-After": str(self.retry_after),
                },
            )
        if status == "Failed" and op.error is not None:
            raise ArmError(400, op.error["code"], op.error["message"])
        if op.kind == "delete":
            return _Response(204)
        inner = _Request(
            "GET", op.resource_path, {"api-version": op.api_version}, {}, b"", req.host
        )
        if self._route(inner) is not None:  # pragma: no cover - paths come from our own routes
            return _Response(204)
        try:
            return self._dispatch(inner, None)
        except ArmError as exc:
            return _Response(exc.status, exc.body())
