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
from typing import Any

from portsync.errors import NotFoundError, ProviderError
from portsync.ratelimit import TokenBucket, take
from portsync.readahead import read_ahead

from .errors import is_retryable, map_sdk_errors, operation_error
from .limits import MAX_RESULTS_PER_PAGE

__all__ = ["GcpAdapter", "make_clients", "make_retry"]

#: Seconds one HTTP attempt may take.
CALL_TIMEOUT = 30.0
#: Longest time portsync waits for one operation to finish (each ``wait`` call blocks up to
#: about two minutes on the server side).
OPERATION_DEADLINE = 600.0


def _import_compute() -> Any:
    try:
        from google.cloud import compute_v1
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ProviderError(
            "the GCP provider needs google-cloud-compute", hint="pip install 'portsync[gcp]'"
        ) from exc
    return compute_v1


def make_clients(*, endpoint: str | None = None, anonymous: bool = False) -> tuple[Any, Any]:
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

        with map_sdk_errors("loading Application Default Credentials"):
            credentials, _project = google.auth.default(
                scopes=["https://www.googleapis.com/auth/compute"]
            )
        kwargs["credentials"] = credentials
    return compute_v1.FirewallsClient(**kwargs), compute_v1.GlobalOperationsClient(**kwargs)


def make_retry(*, deadline: float = 60.0) -> Any:
    """The retry policy of every call: 0.1 s doubling up to 5 s, with jitter, for ``deadline`` s."""
    from google.api_core.retry import Retry

    return Retry(predicate=is_retryable, initial=0.1, multiplier=2.0, maximum=5.0, timeout=deadline)


class GcpAdapter:
    """Firewall reads and writes for one project. The clients are injectable for tests.

    Firewalls cross this boundary as plain dicts in the REST JSON shape (camelCase keys).
    """

    def __init__(
        self,
        firewalls: Any,
        operations: Any,
        *,
        project: str,
        retry: Any = None,
        timeout: float = CALL_TIMEOUT,
        operation_deadline: float = OPERATION_DEADLINE,
        read_bucket: TokenBucket | None = None,
        write_bucket: TokenBucket | None = None,
    ) -> None:
        self.read_bucket = read_bucket
        self.write_bucket = write_bucket
        self.firewalls = firewalls
        self.operations = operations
        self.project = project
        self.retry = retry if retry is not None else make_retry()
        self.timeout = timeout
        self.operation_deadline = operation_deadline
        self._compute = _import_compute()

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
        request = self._compute.ListFirewallsRequest(
            project=self.project, max_results=MAX_RESULTS_PER_PAGE
        )
        if filter:
            request.filter = filter
        what = f"listing the firewalls of project {self.project}"

        def pages() -> Iterator[Any]:
            take(self.read_bucket)
            pager = self.firewalls.list(request=request, retry=self.retry, timeout=self.timeout)
            for page in pager.pages:
                yield page
                if page.next_page_token:
                    take(self.read_bucket)  # the next page is one more request

        stream = read_ahead(pages, name=f"gcp-list-{self.project}")
        while True:
            with map_sdk_errors(what):
                page = next(stream, None)
            if page is None:
                return
            yield [self._to_dict(item) for item in page.items]

    def get_firewall(self, name: str) -> dict[str, Any] | None:
        """One firewall, or None when it does not exist.

        Raises:
            ProviderError: or a subclass, when the API refuses after retries.
        """
        try:
            with map_sdk_errors(f"reading firewall {name}"):
                item = self.firewalls.get(
                    project=self.project, firewall=name, retry=self.retry, timeout=self.timeout
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
        take(self.write_bucket)
        with map_sdk_errors(what):
            operation = self.firewalls.insert_unary(
                request=request, retry=self.retry, timeout=self.timeout
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
        take(self.write_bucket)
        with map_sdk_errors(what):
            operation = self.firewalls.patch_unary(
                request=request, retry=self.retry, timeout=self.timeout
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
        take(self.write_bucket)
        with map_sdk_errors(what):
            operation = self.firewalls.update_unary(
                request=request, retry=self.retry, timeout=self.timeout
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
        take(self.write_bucket)
        with map_sdk_errors(what):
            operation = self.firewalls.delete_unary(
                request=request, retry=self.retry, timeout=self.timeout
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
            with map_sdk_errors(f"{what} (waiting for operation {operation.name})"):
                operation = self.operations.wait(
                    project=self.project,
                    operation=operation.name,
                    retry=self.retry,
                    timeout=max(self.timeout, 150.0),
                )
        error = operation_error(what, operation)
        if error is not None:
            raise error
