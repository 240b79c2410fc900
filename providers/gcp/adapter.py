"""The only module that talks to GCP: google-cloud-compute firewall calls, imported lazily.

Every call goes through a ``google.api_core.retry.Retry`` (rate limits, 429 and transient 5xx,
connection errors; exponential backoff with jitter, bounded). Mutations carry a ``requestId``
that stays the same across retries, so a retried insert is never applied twice, and they are
waited on through ``GlobalOperationsClient.wait`` on our own client — never
``ExtendedOperation.result()``, which polls the public endpoint whatever ``api_endpoint`` says.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from portsync.control import TIMEOUT_ATTEMPTS, RunControl
from portsync.errors import NotFoundError, ProviderError
from portsync.ratelimit import TokenBucket, take
from portsync.readahead import read_ahead

from .errors import is_no_answer, is_retryable, map_sdk_errors, operation_error, retry_reason
from .limits import MAX_RESULTS_PER_PAGE

__all__ = ["NO_ANSWER_BACKOFF", "GcpAdapter", "make_clients", "make_retry"]

#: Where google-cloud-compute sends requests when no endpoint is configured.
DEFAULT_ENDPOINT = "https://compute.googleapis.com"

#: Seconds one HTTP attempt may wait to connect and to read (a cluster's ``timeout:`` overrides).
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
#: Longest time one call keeps retrying throttling and server errors (google-api-core's
#: ``Retry(timeout=…)``, checked before each retry).
RETRY_WINDOW = 60.0
#: ``globalOperations.wait`` holds the request up to two minutes on the server before it answers
#: with the operation still running, so its read timeout is this much longer than a cluster's.
WAIT_HOLD = 120.0
#: Longest time portsync waits for one operation to finish.
OPERATION_DEADLINE = 600.0
#: Backoff of :func:`make_retry`: 0.1 s doubling up to 5 s.
_INITIAL, _MULTIPLIER, _MAXIMUM = 0.1, 2.0, 5.0
#: Longest total backoff between the attempts of a call that gets no answer (jitter only
#: shortens it): 0.1 s then 0.2 s.
NO_ANSWER_BACKOFF = sum(
    min(_MAXIMUM, _INITIAL * _MULTIPLIER**i) for i in range(TIMEOUT_ATTEMPTS - 1)
)


def _import_compute() -> Any:
    try:
        from google.cloud import compute_v1
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ProviderError(
            "the GCP provider needs google-cloud-compute", hint="pip install 'portsync[gcp]'"
        ) from exc
    return compute_v1


def make_clients(
    *, endpoint: str | None = None, anonymous: bool = False, cluster: str = ""
) -> tuple[Any, Any]:
    """A ``FirewallsClient`` and a ``GlobalOperationsClient`` (REST transport).

    With ``endpoint`` both clients talk to it (an emulator or a private endpoint); with
    ``anonymous`` they send no credentials (emulators only), otherwise Application Default
    Credentials are used.

    Raises:
        ProviderError: google-cloud-compute is not installed.
        AuthError: no Application Default Credentials are available.
    """
    compute_v1 = _import_compute()
    from google.api_core.client_options import ClientOptions

    kwargs: dict[str, Any] = {"transport": "rest"}
    if endpoint:
        kwargs["client_options"] = ClientOptions(api_endpoint=endpoint)
    if anonymous:
        from google.auth.credentials import AnonymousCredentials

        kwargs["credentials"] = AnonymousCredentials()  # type: ignore[no-untyped-call]
    else:
        import google.auth

        with map_sdk_errors("loading Application Default Credentials", cluster=cluster):
            credentials, _project = google.auth.default(
                scopes=["https://www.googleapis.com/auth/compute"]
            )
        kwargs["credentials"] = credentials
    return compute_v1.FirewallsClient(**kwargs), compute_v1.GlobalOperationsClient(**kwargs)


def make_retry(*, deadline: float = RETRY_WINDOW) -> Any:
    """The retry policy of every call: 0.1 s doubling up to 5 s, with jitter, for ``deadline`` s."""
    from google.api_core.retry import Retry

    return Retry(
        predicate=is_retryable,
        initial=_INITIAL,
        multiplier=_MULTIPLIER,
        maximum=_MAXIMUM,
        timeout=deadline,
    )


class GcpAdapter:
    """Firewall reads and writes for one project. The clients are injectable for tests.

    Firewalls cross this boundary as plain dicts in the REST JSON shape (camelCase keys), or
    as their raw protobuf messages for a read to look at (:meth:`firewall_messages`).
    """

    def __init__(
        self,
        firewalls: Any,
        operations: Any,
        *,
        project: str,
        retry: Any = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        operation_deadline: float = OPERATION_DEADLINE,
        read_bucket: TokenBucket | None = None,
        write_bucket: TokenBucket | None = None,
        cluster: str = "",
        endpoint: str | None = None,
        control: RunControl | None = None,
    ) -> None:
        self.read_bucket = read_bucket
        self.write_bucket = write_bucket
        self.firewalls = firewalls
        self.operations = operations
        self.project = project
        self._fixed_retry = retry
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.operation_deadline = operation_deadline
        self.cluster = cluster
        self.endpoint = endpoint or DEFAULT_ENDPOINT
        self.control = control or RunControl()
        self._compute = _import_compute()

    # ------------------------------------------------------------------ call policy

    @contextmanager
    def _errors(self, what: str, permission: str = "") -> Iterator[None]:
        with (
            self.control.bounded(),
            map_sdk_errors(
                what, cluster=self.cluster, endpoint=self.endpoint, permission=permission
            ),
        ):
            yield

    def _timeout(self, *, hold: float = 0.0) -> Any:
        """Per-attempt (connect, read) timeouts, clipped to the deadline; ``hold`` is how long
        the server may keep the request before it answers."""
        from google.api_core.timeout import ConstantTimeout

        limits = (
            self.control.clip(self.connect_timeout),
            self.control.clip(self.read_timeout + hold),
        )
        return ConstantTimeout(limits)  # type: ignore[no-untyped-call]

    def _retry(self, call: str) -> Any:
        """The retry policy of one call: :func:`make_retry`'s, but a call that gets no answer is
        tried :data:`TIMEOUT_ATTEMPTS` times at most, no retry starts after the deadline, and
        each retry is announced."""
        if self._fixed_retry is not None:
            return self._fixed_retry
        from google.api_core.retry import Retry

        no_answer = 0
        attempt = 1

        def predicate(exc: Exception) -> bool:
            nonlocal no_answer
            if not is_retryable(exc):
                return False
            if is_no_answer(exc):
                no_answer += 1
                return no_answer < TIMEOUT_ATTEMPTS
            return True

        def on_error(exc: Exception) -> None:
            nonlocal attempt
            attempt += 1
            of = TIMEOUT_ATTEMPTS if is_no_answer(exc) else None
            self.control.retrying(self.cluster, call, retry_reason(exc), attempt, of)

        return Retry(
            predicate=predicate,
            initial=_INITIAL,
            multiplier=_MULTIPLIER,
            maximum=_MAXIMUM,
            timeout=self.control.clip(RETRY_WINDOW),
            on_error=on_error,
        )

    def _before_write(self, what: str) -> None:
        self.control.check_write(what)
        take(self.write_bucket)

    # ------------------------------------------------------------------ conversion

    def _to_dict(self, message: Any) -> dict[str, Any]:
        # The same dict as the SDK's to_dict, without json_format's cost (see .convert).
        from .convert import message_to_dict

        return message_to_dict(message)

    def _firewall(self, body: Mapping[str, Any]) -> Any:
        return self._compute.Firewall.from_json(json.dumps(dict(body)))

    # ------------------------------------------------------------------ reads

    def firewall_pages(self, *, filter: str | None = None) -> Iterator[list[dict[str, Any]]]:
        """The project's firewalls (matching ``filter``), page by page (500 a page).

        A reader thread walks the pages while the caller works on the ones already here, so on
        a real network the caller's work on page k overlaps the round trip of page k + 1.

        Raises:
            ProviderError: or a subclass, when the API refuses after retries (raised where the
                failing page would have been).
        """
        from .convert import items_to_dicts

        for page in self._pages(filter):
            yield items_to_dicts(page)

    def firewall_messages(self, *, filter: str | None = None) -> Iterator[list[Any]]:
        """As :meth:`firewall_pages`, each firewall as its raw protobuf message: a read expands
        them from their fields (:func:`.convert.view_of_message`) and converts one whole
        (:class:`.convert.Converted`) only when a write needs it.

        Raises:
            ProviderError: or a subclass, as :meth:`firewall_pages`.
        """
        from .convert import items_of

        for page in self._pages(filter):
            yield items_of(page)

    def _pages(self, filter: str | None) -> Iterator[Any]:
        """The list pages as the SDK gives them, read ahead (see :meth:`firewall_pages`)."""
        request = self._compute.ListFirewallsRequest(
            project=self.project, max_results=MAX_RESULTS_PER_PAGE
        )
        if filter:
            request.filter = filter
        what = f"listing the firewalls of project {self.project}"

        def pages() -> Iterator[Any]:
            self.control.check(f"{what} (cluster {self.cluster})")
            take(self.read_bucket)
            pager = self.firewalls.list(
                request=request, retry=self._retry("firewalls.list"), timeout=self._timeout()
            )
            for page in pager.pages:
                yield page
                if page.next_page_token:
                    take(self.read_bucket)  # the next page is one more request

        stream = read_ahead(pages, name=f"gcp-list-{self.project}")
        while True:
            with self._errors(what, "compute.firewalls.list"):
                page = next(stream, None)
            if page is None:
                return
            yield page

    def get_firewall(self, name: str) -> dict[str, Any] | None:
        """One firewall, or None when it does not exist.

        Raises:
            ProviderError: or a subclass, when the API refuses after retries.
        """
        try:
            with self._errors(f"reading firewall {name}", "compute.firewalls.get"):
                item = self.firewalls.get(
                    project=self.project,
                    firewall=name,
                    retry=self._retry("firewalls.get"),
                    timeout=self._timeout(),
                )
        except NotFoundError:
            return None
        return self._to_dict(item)

    # ------------------------------------------------------------------ writes

    def insert(self, body: Mapping[str, Any]) -> None:
        """Create a firewall and wait until it exists.

        Raises:
            ConflictError: a firewall of that name exists already.
            ProviderError: or another subclass, when the call or its operation fails.
        """
        name = str(body["name"])
        request = self._compute.InsertFirewallRequest(
            project=self.project,
            firewall_resource=self._firewall(body),
            request_id=str(uuid.uuid4()),
        )
        what = f"inserting firewall {name}"
        self._before_write(what)
        with self._errors(what, "compute.firewalls.create"):
            operation = self.firewalls.insert_unary(
                request=request, retry=self._retry("firewalls.insert"), timeout=self._timeout()
            )
        self._wait(what, operation)

    def patch(self, name: str, fields: Mapping[str, Any]) -> None:
        """Change the given fields of a firewall (JSON merge patch) and wait.

        The body always carries ``name``: the discovery document marks ``Firewall.name``
        required for ``compute.firewalls.patch``, and Compute Engine refuses a patch without it.

        Raises:
            NotFoundError: the firewall does not exist.
            ProviderError: or another subclass, when the call or its operation fails.
        """
        request = self._compute.PatchFirewallRequest(
            project=self.project,
            firewall=name,
            firewall_resource=self._firewall({**fields, "name": name}),
            request_id=str(uuid.uuid4()),
        )
        what = f"patching firewall {name}"
        self._before_write(what)
        with self._errors(what, "compute.firewalls.update"):
            operation = self.firewalls.patch_unary(
                request=request, retry=self._retry("firewalls.patch"), timeout=self._timeout()
            )
        self._wait(what, operation)

    def update(self, name: str, body: Mapping[str, Any]) -> None:
        """Replace a firewall as a whole (clears fields a patch cannot clear) and wait.

        Raises:
            NotFoundError: the firewall does not exist.
            ProviderError: or another subclass, when the call or its operation fails.
        """
        request = self._compute.UpdateFirewallRequest(
            project=self.project,
            firewall=name,
            firewall_resource=self._firewall(body),
            request_id=str(uuid.uuid4()),
        )
        what = f"replacing firewall {name}"
        self._before_write(what)
        with self._errors(what, "compute.firewalls.update"):
            operation = self.firewalls.update_unary(
                request=request, retry=self._retry("firewalls.update"), timeout=self._timeout()
            )
        self._wait(what, operation)

    def delete(self, name: str) -> None:
        """Delete a firewall and wait until it is gone.

        Raises:
            NotFoundError: the firewall does not exist (any more).
            ProviderError: or another subclass, when the call or its operation fails.
        """
        request = self._compute.DeleteFirewallRequest(
            project=self.project, firewall=name, request_id=str(uuid.uuid4())
        )
        what = f"deleting firewall {name}"
        self._before_write(what)
        with self._errors(what, "compute.firewalls.delete"):
            operation = self.firewalls.delete_unary(
                request=request, retry=self._retry("firewalls.delete"), timeout=self._timeout()
            )
        self._wait(what, operation)

    def _wait(self, what: str, operation: Any) -> None:
        """Block until the operation is DONE (``globalOperations.wait`` on our own client).

        Raises:
            ProviderError: or a subclass, when the operation ends with an error or takes longer
                than ``operation_deadline``.
        """
        done = self._compute.Operation.Status.DONE
        deadline = time.monotonic() + self.operation_deadline
        while operation.status != done:
            if time.monotonic() > deadline:
                raise ProviderError(
                    f"GCP {what}: operation {operation.name} did not finish within "
                    f"{self.operation_deadline:.0f} s",
                    hint="check the operation in the console; run apply again to converge",
                )
            with self._errors(
                f"{what} (waiting for operation {operation.name})", "compute.globalOperations.get"
            ):
                operation = self.operations.wait(
                    project=self.project,
                    operation=operation.name,
                    retry=self._retry("globalOperations.wait"),
                    timeout=self._timeout(hold=WAIT_HOLD),
                )
        error = operation_error(what, operation)
        if error is not None:
            raise error
