"""The emulator's state and its transitions: projects, firewalls, operations, and the dispatch
of each served method to the change it makes."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any, Final

from ... import emulation
from ...emulation import Fault, StaleRequest
from .errors import (
    _already_exists,
    _ApiError,
    _as_bool,
    _as_int,
    _as_str,
    _as_str_list,
    _bad_request,
    _invalid,
    _link,
    _merge_patch,
    _not_found,
    _not_ready,
    _now,
    _rate_limited,
    _required,
    _server_error,
)
from .filters import _FIREWALL_FILTER_FIELDS, _OPERATION_FILTER_FIELDS, _FilterParser, _matches
from .routes import (
    _NETWORK_REF,
    _RESOURCES,
    _ROUTE_IDS,
    _ROUTE_PATTERNS,
    _UINT64_BASE,
    DEFAULT_PRIORITY,
    FAULT_KINDS,
    IGNORED_QUERY,
    MAX_SOURCE_SERVICE_ACCOUNTS,
    MAX_SOURCE_TAGS,
    MAX_TARGET_SERVICE_ACCOUNTS,
    MAX_TARGET_TAGS,
    STANDARD_QUERY,
    Json,
    Observer,
    Route,
)
from .server import _Handler, _Response
from .validation import (
    _FIREWALL_ACCEPTED,
    _FIREWALL_INPUT,
    _check_fields,
    _decode_token,
    _encode_token,
    _family,
    _page_size,
    _validate_accounts,
    _validate_log_config,
    _validate_name,
    _validate_ranges,
    _validate_request_id,
    _validate_rules,
    _validate_tags,
    check_request,
)


@dataclasses.dataclass(slots=True)
class _PendingOp:
    name: str
    target: str
    due: float
    apply: Callable[[], None] | None
    failure: Json | None


@dataclasses.dataclass(slots=True)
class _Project:
    firewalls: dict[str, Json] = dataclasses.field(default_factory=dict)
    created: dict[str, int] = dataclasses.field(default_factory=dict)
    operations: dict[str, Json] = dataclasses.field(default_factory=dict)
    op_seq: dict[str, int] = dataclasses.field(default_factory=dict)
    pending: list[_PendingOp] = dataclasses.field(default_factory=list)
    request_ids: dict[str, str] = dataclasses.field(default_factory=dict)
    networks: set[str] = dataclasses.field(default_factory=set)


_RESET: Final = object()


class GcpEmulator:
    """Compute Engine v1 firewall-rules emulator on a loopback HTTP port.

    Args:
        host: interface to bind; keep it on loopback.
        port: TCP port, 0 for a free one.
        latency: seconds added to every request.
        operation_delay: seconds before a mutation takes effect and its
            operation turns ``DONE`` (0: at once, still reported ``RUNNING``
            in the mutation's own response, as the real API does).
        wait_deadline: longest time ``globalOperations.wait`` blocks
            (the real API: about 2 minutes).
        networks: VPC networks that exist in every project.
        firewall_quota: most rules a project may hold (the ``FIREWALLS``
            quota); None for no limit. An insert beyond it is answered 403
            ``quotaExceeded``.
        user: the ``user`` written into operations.
        verbose: log every request to stderr.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency: float = 0.0,
        operation_delay: float = 0.0,
        wait_deadline: float = 120.0,
        networks: Iterable[str] = ("default",),
        firewall_quota: int | None = None,
        user: str = "emulator@portsync.invalid",
        verbose: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.verbose = verbose
        self._defaults = (latency, operation_delay, wait_deadline, firewall_quota)
        self.latency = latency
        self.operation_delay = operation_delay
        self.wait_deadline = wait_deadline
        self.firewall_quota = firewall_quota
        self._default_networks = tuple(networks)
        self._lock = threading.RLock()
        self._projects: dict[str, _Project] = {}
        self._calls = emulation.CallCounter()
        self._faults = emulation.FaultQueue(FAULT_KINDS)
        self._observers: emulation.ObserverList[[str, list[Json]]] = emulation.ObserverList()
        self._epoch = emulation.Epoch()
        self._ids = itertools.count(_UINT64_BASE + 1)
        self._seq = itertools.count(1)
        self._serving = emulation.ServerThread()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        """Start serving in a background thread and return the base URL.

        Raises:
            RuntimeError: the emulator is already running.
        """
        if self._serving.running:
            raise RuntimeError("the GCP emulator is already running")
        server = emulation.EmulatorHTTPServer((self.host, self.port), _Handler, self)
        self.port = self._serving.start(server, "gcp-emulator")
        return self.url

    def stop(self) -> None:
        """Stop serving and release the port; a no-op when not running."""
        self._serving.stop()

    def __enter__(self) -> GcpEmulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL to pass as ``api_endpoint``, e.g. ``http://127.0.0.1:8085``."""
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ instrumentation

    @property
    def calls(self) -> Counter[str]:
        """Copy of the request counters, keyed by route, e.g. ``"firewalls.list"``.

        Every routed request counts, including ones answered by a fault.
        """
        return Counter(self._calls.snapshot())

    def reset_calls(self) -> None:
        """Zero the request counters only."""
        self._calls.clear()

    def reset(self) -> None:
        """Forget every project, operation, counter, fault and observer.

        ``latency``, ``operation_delay``, ``wait_deadline`` and
        ``firewall_quota`` return to the constructor values. The server keeps
        listening on the same port. Requests still in flight (sleeping in
        ``latency``, a ``slow`` fault or ``globalOperations.wait``) belong to
        the run before the reset: they are dropped without an answer and
        neither count, take a fault nor change state.
        """
        with self._lock:
            self._epoch.advance()
            self._projects.clear()
            self._calls.clear()
            self._faults.clear()
            self._observers.clear()
            (
                self.latency,
                self.operation_delay,
                self.wait_deadline,
                self.firewall_quota,
            ) = self._defaults

    def add_observer(self, observer: Observer) -> Callable[[], None]:
        """Call ``observer(project, firewalls)`` after every change of a project's rules.

        ``firewalls`` is a deep copy of the project's rules, sorted by name, as
        ``firewalls.get`` would return them. Observers run on the request thread,
        under the emulator lock, in order of change; they must be quick and must
        not call the emulator over HTTP. Returns a function that removes it.
        """
        return self._observers.add(observer)

    def inject(
        self,
        kind: str,
        *,
        times: int = 1,
        route: str | None = None,
        status: int | None = None,
        seconds: float = 1.0,
        code: str = "INTERNAL_ERROR",
    ) -> None:
        """Queue a fault for the next ``times`` matching requests.

        Faults are consumed in the order queued; a request takes the first
        queued fault that matches it.

        Args:
            kind: ``"rate_limit"`` (403 ``rateLimitExceeded``, or 429 with
                ``status=429``), ``"server_error"`` (500, or 503 with
                ``status=503``), ``"slow"`` (sleep ``seconds``, then answer
                normally), ``"operation_failed"`` (mutations only: the call
                returns an operation that ends ``DONE`` with ``error`` and the
                change is not applied) or ``"reset"`` (the connection is reset
                without a response).
            times: how many requests the fault affects.
            route: a method id (``"firewalls.insert"``) or resource
                (``"firewalls"``, ``"globalOperations"``); None for any.
            status: HTTP status for ``rate_limit``/``server_error``; for
                ``operation_failed``, the operation's ``httpErrorStatusCode``.
            seconds: the delay of a ``slow`` fault.
            code: the ``error.errors[].code`` of an ``operation_failed`` fault.

        Raises:
            ValueError: unknown kind or route, a status the kind cannot
                take, or ``times`` below 1.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {sorted(FAULT_KINDS)}")
        if route is not None and route not in _ROUTE_IDS and route not in _RESOURCES:
            raise ValueError(f"unknown route {route!r}; use one of {sorted(_ROUTE_IDS)}")
        allowed = {"rate_limit": (403, 429), "server_error": (500, 503)}
        default = {"rate_limit": 403, "server_error": 500, "operation_failed": 500}
        chosen = status if status is not None else default.get(kind, 0)
        if kind in allowed and chosen not in allowed[kind]:
            raise ValueError(f"a {kind} fault takes status {allowed[kind]}, not {status}")
        if status is not None and kind not in (*allowed, "operation_failed"):
            raise ValueError(f"a {kind} fault takes no status")
        self._faults.add(kind, times=times, route=route, status=chosen, delay=seconds, code=code)

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

    def pending_faults(self) -> list[tuple[str, str | None, int]]:
        """The queued faults as ``(kind, route, remaining)``."""
        return [(f.kind, f.route, f.remaining) for f in self._faults.pending()]

    # ------------------------------------------------------------------ direct state access

    def add_network(self, project: str, network: str) -> None:
        """Make a VPC network exist in a project (``default`` always exists)."""
        _validate_name(network, "network")
        with self._lock:
            self._project(project).networks.add(network)

    def firewalls(self, project: str) -> list[Json]:
        """Deep copy of a project's rules, sorted by name, as ``get`` returns them."""
        with self._lock:
            state = self._project(project)
            self._settle(project, state)
            return self._snapshot(state)

    def seed(self, project: str, firewalls: Iterable[Mapping[str, Any]]) -> list[Json]:
        """Create rules directly (validated like ``insert``; no counters, no operations).

        Returns:
            The created resources.

        Raises:
            ValueError: a rule is invalid or its name is taken; nothing from that
                rule on is created.
        """
        created: list[Json] = []
        with self._lock:
            state = self._project(project)
            self._settle(project, state)
            for body in firewalls:
                try:
                    check_request("firewalls.insert", body)
                    resource = self._new_firewall(project, state, dict(body))
                    if resource["name"] in state.firewalls:
                        path = f"projects/{project}/global/firewalls/{resource['name']}"
                        raise _already_exists(path)
                except _ApiError as exc:
                    raise ValueError(exc.message) from None
                self._store(state, resource)
                self._notify(project, state)
                created.append(copy.deepcopy(resource))
        return created

    # ------------------------------------------------------------------ request handling

    def _handle(self, method: str, target: str, body: bytes) -> _Response | object:
        """Answer one request; :data:`_RESET` asks the handler to reset the connection."""
        ticket = self._epoch.ticket()
        split = urllib.parse.urlsplit(target)
        route, params = self._route(method, split.path)
        if route is None:
            return _Response(
                404,
                _ApiError(404, "notFound", f"The requested URL {split.path} was not found.").body(),
            )
        project = params["project"]
        try:
            with self._lock:  # reset() advances the epoch and zeroes counters under this lock
                self._epoch.check(ticket)
                self._calls.add(route.method_id)
            self._epoch.sleep(self.latency, ticket)
            fault = self._take_fault(route, ticket)
            failure: Json | None = None
            if fault is not None:
                if fault.kind == "reset":
                    return _RESET
                if fault.kind == "slow":
                    self._epoch.sleep(fault.delay, ticket)
                elif fault.kind == "rate_limit":
                    return self._error(_rate_limited(fault.status, project))
                elif fault.kind == "server_error":
                    return self._error(_server_error(fault.status))
                elif fault.kind == "operation_failed":
                    failure = {
                        "status": fault.status,
                        "code": fault.code,
                        "message": "The operation failed (injected by the emulator).",
                    }
            query = self._query(route, split.query)
            payload = self._body(route, body)
            if payload is not None:
                check_request(route.method_id, payload)
            return self._dispatch(route, params, query, payload, failure, ticket)
        except _ApiError as exc:
            return self._error(exc)
        except StaleRequest:
            return _RESET  # the emulator was reset while this request slept

    @staticmethod
    def _error(exc: _ApiError) -> _Response:
        return _Response(exc.code, exc.body())

    @staticmethod
    def _route(method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route, pattern in _ROUTE_PATTERNS:
            match = pattern.fullmatch(path)
            if match is not None and route.http_method == method:
                params = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
                return route, params
        return None, {}

    def _take_fault(self, route: Route, ticket: int) -> Fault | None:
        """The first queued fault for ``route``, unless a reset made the request stale.

        Raises:
            StaleRequest: the emulator was reset since the request arrived.
        """

        def applies(fault: Fault) -> bool:
            return route.mutation or fault.kind != "operation_failed"

        with self._lock:  # reset() advances the epoch and clears faults under this lock
            self._epoch.check(ticket)
            return self._faults.take((route.method_id, route.resource), applies)

    @staticmethod
    def _query(route: Route, raw: str) -> dict[str, str]:
        query: dict[str, str] = {}
        for key, value in urllib.parse.parse_qsl(raw, keep_blank_values=True):
            if key not in route.query and key not in STANDARD_QUERY | IGNORED_QUERY:
                raise _bad_request(
                    f'Invalid JSON payload received. Unknown name "{key}": Cannot bind query '
                    f"parameter. Field '{key}' could not be found in request message."
                )
            query[key] = value
        return query

    @staticmethod
    def _body(route: Route, raw: bytes) -> Json | None:
        if route.http_method not in ("POST", "PUT", "PATCH") or route.method_id.endswith(".wait"):
            return None
        try:
            payload = json.loads(raw.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _bad_request(f"Invalid JSON payload received. {exc}", "parseError") from None
        if not isinstance(payload, dict):
            raise _bad_request(
                "Invalid JSON payload received. Expected a JSON object as the request body.",
                "parseError",
            )
        return payload

    def _dispatch(
        self,
        route: Route,
        params: Mapping[str, str],
        query: Mapping[str, str],
        body: Json | None,
        failure: Json | None,
        ticket: int,
    ) -> _Response:
        project = params["project"]
        method = route.method_id
        if method in ("firewalls.list", "globalOperations.list"):
            return _Response(200, self._list(route, project, query))
        if method == "firewalls.get":
            with self._lock:
                state = self._project(project)
                self._settle(project, state)
                return _Response(200, copy.deepcopy(self._firewall(project, state, params)))
        if method == "firewalls.testIamPermissions":
            return _Response(200, self._test_permissions(project, params["resource"], body))
        if method == "globalOperations.get":
            with self._lock:
                state = self._project(project)
                self._settle(project, state)
                return _Response(200, copy.deepcopy(self._operation(project, state, params)))
        if method == "globalOperations.wait":
            return _Response(200, self._wait(project, params["operation"], ticket))
        if method == "globalOperations.delete":
            with self._lock:
                state = self._project(project)
                self._operation(project, state, params)
                del state.operations[params["operation"]]
                return _Response(200, {})
        assert route.mutation, method
        return _Response(200, self._mutate(route, project, params, query, body or {}, failure))

    # ------------------------------------------------------------------ reads

    def _project(self, project: str) -> _Project:
        state = self._projects.get(project)
        if state is None:
            state = _Project(networks=set(self._default_networks))
            self._projects[project] = state
        return state

    @staticmethod
    def _firewall(project: str, state: _Project, params: Mapping[str, str]) -> Json:
        name = params["firewall"]
        resource = state.firewalls.get(name)
        if resource is None:
            raise _not_found(f"projects/{project}/global/firewalls/{name}")
        return resource

    @staticmethod
    def _operation(project: str, state: _Project, params: Mapping[str, str]) -> Json:
        name = params["operation"]
        operation = state.operations.get(name)
        if operation is None:
            raise _not_found(f"projects/{project}/global/operations/{name}")
        return operation

    def _list(self, route: Route, project: str, query: Mapping[str, str]) -> Json:
        firewalls = route.resource == "firewalls"
        fields = _FIREWALL_FILTER_FIELDS if firewalls else _OPERATION_FILTER_FIELDS
        size = _page_size(query.get("maxResults"))
        order = query.get("orderBy", "").strip()
        if order not in ("", "name", "creationTimestamp desc"):
            raise _invalid(
                "orderBy", order, "Only 'name' and 'creationTimestamp desc' are supported."
            )
        text = query.get("filter", "").strip()
        node = _FilterParser(text, fields).parse() if text else None
        digest = hashlib.sha256(f"{text}\0{order}".encode()).hexdigest()[:16]
        after = _decode_token(query.get("pageToken", ""), digest)
        with self._lock:
            state = self._project(project)
            self._settle(project, state)
            source = state.firewalls if firewalls else state.operations
            seqs = state.created if firewalls else state.op_seq
            keyed = [
                ((-seqs[name],) if order == "creationTimestamp desc" else (name,), item)
                for name, item in source.items()
            ]
            keyed.sort(key=lambda pair: pair[0])
            selected = [
                (key, item)
                for key, item in keyed
                if (after is None or list(key) > after)
                and (node is None or _matches(node, item, fields))
            ]
            page = selected[:size]
            collection = "firewalls" if firewalls else "operations"
            result: Json = {
                "kind": "compute#firewallList" if firewalls else "compute#operationList",
                "id": f"projects/{project}/global/{collection}",
                "selfLink": _link(project, collection),
            }
            if page:
                result["items"] = [copy.deepcopy(item) for _, item in page]
            if len(selected) > size:
                result["nextPageToken"] = _encode_token(list(page[-1][0]), digest)
            return result

    def _test_permissions(self, project: str, name: str, body: Json | None) -> Json:
        payload = body or {}
        _check_fields(payload, ("permissions",), "resource")
        permissions = _as_str_list(payload.get("permissions", []), "resource.permissions")
        with self._lock:
            state = self._project(project)
            self._settle(project, state)
            self._firewall(project, state, {"firewall": name})
        granted = [p for p in permissions if p.startswith("compute.firewalls.")]
        return {"permissions": granted} if granted else {}

    def _wait(self, project: str, name: str, ticket: int) -> Json:
        deadline = time.monotonic() + self.wait_deadline
        while True:
            with self._lock:
                state = self._project(project)
                self._settle(project, state)
                operation = self._operation(project, state, {"operation": name})
                if operation["status"] == "DONE":
                    return copy.deepcopy(operation)
                due = min(
                    (p.due for p in state.pending if p.name == name), default=time.monotonic()
                )
            now = time.monotonic()
            if now >= deadline:
                return copy.deepcopy(operation)
            self._epoch.sleep(max(0.001, min(due, deadline) - now), ticket)

    # ------------------------------------------------------------------ writes

    def _mutate(
        self,
        route: Route,
        project: str,
        params: Mapping[str, str],
        query: Mapping[str, str],
        body: Json,
        failure: Json | None,
    ) -> Json:
        request_id = query.get("requestId")
        if request_id is not None:
            _validate_request_id(request_id)
        kind = route.method_id.split(".", 1)[1]
        with self._lock:
            state = self._project(project)
            self._settle(project, state)
            if request_id is not None and request_id in state.request_ids:
                return copy.deepcopy(state.operations[state.request_ids[request_id]])
            if kind == "insert":
                resource = self._new_firewall(project, state, body)
                name = resource["name"]
                path = f"projects/{project}/global/firewalls/{name}"
                self._ensure_idle(state, name, path)
                if name in state.firewalls:
                    raise _already_exists(path)
                self._check_quota(state)

                def apply() -> None:
                    self._store(state, resource)

            else:
                name = params["firewall"]
                path = f"projects/{project}/global/firewalls/{name}"
                current = self._firewall(project, state, params)
                self._ensure_idle(state, name, path)
                if kind == "delete":
                    resource = current

                    def apply() -> None:
                        state.firewalls.pop(name, None)
                        state.created.pop(name, None)

                else:
                    resource = self._changed_firewall(project, state, current, body, kind)

                    def apply() -> None:
                        state.firewalls[name] = resource

            operation = self._new_operation(project, kind, resource, request_id)
            op_name = operation["name"]
            state.operations[op_name] = operation
            state.op_seq[op_name] = next(self._seq)
            if request_id is not None:
                state.request_ids[request_id] = op_name
            due = time.monotonic() + max(0.0, self.operation_delay)
            state.pending.append(
                _PendingOp(op_name, name, due, None if failure else apply, failure)
            )
            response = copy.deepcopy(operation)
            self._settle(project, state)
            return response

    def _check_quota(self, state: _Project) -> None:
        quota = self.firewall_quota
        if quota is None:
            return
        inserting = sum(1 for p in state.pending if p.target not in state.firewalls)
        if len(state.firewalls) + inserting >= quota:
            raise _ApiError(
                403,
                "quotaExceeded",
                f"Quota 'FIREWALLS' exceeded.  Limit: {float(quota)} globally.",
                domain="usageLimits",
            )

    @staticmethod
    def _ensure_idle(state: _Project, name: str, path: str) -> None:
        if any(p.target == name for p in state.pending):
            raise _not_ready(path)

    def _new_operation(
        self,
        project: str,
        kind: str,
        resource: Json,
        request_id: str | None,
    ) -> Json:
        stamp = _now()
        token = uuid.uuid4().hex
        name = f"operation-{int(time.time() * 1000)}-{token[:13]}-{token[13:21]}-{token[21:29]}"
        operation: Json = {
            "kind": "compute#operation",
            "id": str(next(self._ids)),
            "name": name,
            "operationType": kind,
            "targetLink": _link(project, "firewalls", resource["name"]),
            "targetId": resource["id"],
            "status": "RUNNING",
            "user": self.user,
            "progress": 0,
            "insertTime": stamp,
            "startTime": stamp,
            "selfLink": _link(project, "operations", name),
        }
        if request_id is not None:
            operation["clientOperationId"] = request_id
        return operation

    def _settle(self, project: str, state: _Project) -> None:
        """Complete every pending operation whose time has come, in order."""
        now = time.monotonic()
        while state.pending and state.pending[0].due <= now:
            pending = state.pending.pop(0)
            operation = state.operations.get(pending.name)
            if pending.failure is not None and operation is not None:
                failure = pending.failure
                status = int(failure["status"])
                operation["error"] = {
                    "errors": [{"code": failure["code"], "message": failure["message"]}]
                }
                operation["httpErrorStatusCode"] = status
                operation["httpErrorMessage"] = HTTPStatus(status).phrase.upper()
            if operation is not None:
                operation.update(status="DONE", progress=100, endTime=_now())
            if pending.failure is None and pending.apply is not None:
                pending.apply()
                self._notify(project, state)

    def _notify(self, project: str, state: _Project) -> None:
        if self._observers:  # each observer gets its own deep copy
            self._observers.notify(project, [state.firewalls[n] for n in sorted(state.firewalls)])

    @staticmethod
    def _snapshot(state: _Project) -> list[Json]:
        return [copy.deepcopy(state.firewalls[name]) for name in sorted(state.firewalls)]

    def _store(self, state: _Project, resource: Json) -> None:
        state.firewalls[resource["name"]] = resource
        state.created[resource["name"]] = next(self._seq)

    def _new_firewall(self, project: str, state: _Project, body: Json) -> Json:
        if "name" not in body:
            raise _required("resource.name")
        resource = self._normalise(project, state, body)
        name = resource["name"]
        return {
            "kind": "compute#firewall",
            "id": str(next(self._ids)),
            "creationTimestamp": _now(),
            **resource,
            "selfLink": _link(project, "firewalls", name),
        }

    def _changed_firewall(
        self, project: str, state: _Project, current: Json, body: Json, kind: str
    ) -> Json:
        name = current["name"]
        if "name" in body and body["name"] != name:
            raise _invalid(
                "resource.name", body["name"], f"Must match the firewall in the URL, '{name}'."
            )
        _check_fields(body, _FIREWALL_ACCEPTED, "resource")
        if kind == "patch":
            editable = {k: v for k, v in current.items() if k in _FIREWALL_INPUT}
            merged = _merge_patch(editable, body)
        else:
            merged = dict(body)
        merged["name"] = name
        resource = self._normalise(project, state, merged)
        for field in ("network", "direction"):
            if resource[field] != current[field]:
                raise _invalid(
                    f"resource.{field}",
                    body.get(field, resource[field]),
                    f"The {field} of an existing firewall rule cannot be changed.",
                )
        return {
            "kind": "compute#firewall",
            "id": current["id"],
            "creationTimestamp": current["creationTimestamp"],
            **resource,
            "selfLink": current["selfLink"],
        }

    def _normalise(self, project: str, state: _Project, body: Json) -> Json:
        """Validate an input Firewall and return its stored form (no output-only fields)."""
        _check_fields(body, _FIREWALL_ACCEPTED, "resource")
        out: Json = {"name": _validate_name(body.get("name"))}
        out["description"] = _as_str(body.get("description", ""), "resource.description")
        out["network"] = self._network(
            project, state, body.get("network", "global/networks/default")
        )
        out["priority"] = _as_int(body.get("priority", DEFAULT_PRIORITY), "resource.priority")
        direction = _as_str(body.get("direction", "INGRESS"), "resource.direction")

        lists: dict[str, list[str]] = {}
        for field in ("sourceRanges", "destinationRanges"):
            if field in body:
                lists[field] = _validate_ranges(body[field], f"resource.{field}")
        limits = {
            "sourceTags": MAX_SOURCE_TAGS,
            "targetTags": MAX_TARGET_TAGS,
        }
        for field, limit in limits.items():
            if field in body:
                lists[field] = _validate_tags(body[field], f"resource.{field}", limit)
        accounts = {
            "sourceServiceAccounts": MAX_SOURCE_SERVICE_ACCOUNTS,
            "targetServiceAccounts": MAX_TARGET_SERVICE_ACCOUNTS,
        }
        for field, limit in accounts.items():
            if field in body:
                lists[field] = _validate_accounts(body[field], f"resource.{field}", limit)
        lists = {k: v for k, v in lists.items() if v}

        allowed = _validate_rules(body["allowed"], "resource.allowed") if "allowed" in body else []
        denied = _validate_rules(body["denied"], "resource.denied") if "denied" in body else []
        if allowed and denied:
            raise _invalid(
                "resource.denied", denied, "A firewall rule cannot have both allowed and denied."
            )
        if not allowed and not denied:
            raise _bad_request(
                "Invalid value for field 'resource': ''. "
                "Exactly one of 'allowed' or 'denied' must be specified."
            )

        self._check_combinations(direction, lists)
        ranges = lists.get("sourceRanges", []) + lists.get("destinationRanges", [])
        families = {_family(cidr) for cidr in ranges}
        any_range = "::/0" if families == {6} else "0.0.0.0/0"
        if direction == "INGRESS" and not (
            {"sourceRanges", "sourceTags", "sourceServiceAccounts"} & lists.keys()
        ):
            lists["sourceRanges"] = [any_range]
        if direction == "EGRESS" and "destinationRanges" not in lists:
            lists["destinationRanges"] = [any_range]

        for field in (
            "sourceRanges",
            "destinationRanges",
            "sourceTags",
            "targetTags",
            "sourceServiceAccounts",
            "targetServiceAccounts",
        ):
            if field in lists:
                out[field] = lists[field]
        if allowed:
            out["allowed"] = allowed
        if denied:
            out["denied"] = denied
        out["direction"] = direction
        out["logConfig"] = _validate_log_config(body.get("logConfig", {"enable": False}))
        out["disabled"] = _as_bool(body.get("disabled", False), "resource.disabled")
        return out

    @staticmethod
    def _check_combinations(direction: str, lists: Mapping[str, list[str]]) -> None:
        ranges = [
            (field, i, cidr)
            for field in ("sourceRanges", "destinationRanges")
            for i, cidr in enumerate(lists.get(field, []))
        ]
        if len({_family(cidr) for _, _, cidr in ranges}) > 1:
            field, i, cidr = next(r for r in ranges if _family(r[2]) != _family(ranges[0][2]))
            raise _invalid(
                f"resource.{field}[{i}]",
                cidr,
                "A firewall rule cannot contain both IPv4 and IPv6 ranges.",
            )
        if direction == "EGRESS":
            for field in ("sourceTags", "sourceServiceAccounts"):
                if field in lists:
                    raise _invalid(
                        f"resource.{field}",
                        lists[field],
                        f"{field} cannot be specified for an EGRESS firewall rule.",
                    )
        if "sourceServiceAccounts" in lists and ({"sourceTags", "targetTags"} & lists.keys()):
            raise _invalid(
                "resource.sourceServiceAccounts",
                lists["sourceServiceAccounts"],
                "Source service accounts cannot be used together with source or target tags.",
            )
        if "targetServiceAccounts" in lists and ({"sourceTags", "targetTags"} & lists.keys()):
            raise _invalid(
                "resource.targetServiceAccounts",
                lists["targetServiceAccounts"],
                "Target service accounts cannot be used together with source or target tags.",
            )

    @staticmethod
    def _network(project: str, state: _Project, value: Any) -> str:
        reference = _as_str(value, "resource.network")
        match = _NETWORK_REF.fullmatch(reference.strip())
        if match is None:
            raise _invalid(
                "resource.network",
                reference,
                "Must be a URL or partial URL such as 'global/networks/default'.",
            )
        owner = match.group("project") or project
        name = match.group("name")
        if owner != project:
            raise _invalid(
                "resource.network",
                reference,
                "Cross-project references for this resource are not allowed.",
            )
        if name not in state.networks:
            raise _not_found(f"projects/{project}/global/networks/{name}")
        return _link(project, "networks", name)
