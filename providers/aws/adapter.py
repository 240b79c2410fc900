"""The only module that talks to AWS: boto3 EC2 calls, imported lazily."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from portsync.control import RunControl
from portsync.errors import ConfigError, ProviderError
from portsync.ratelimit import TokenBucket, take
from portsync.session import fan_out

from .errors import map_sdk_errors
from .limits import MAX_FILTER_VALUES, MAX_RESULTS_PER_PAGE, READ_WORKERS
from .retries import install_retries

__all__ = ["Ec2Adapter", "make_client"]


def make_client(
    *,
    region: str,
    endpoint: str | None = None,
    profile: str | None = None,
    anonymous: bool = False,
    max_attempts: int = 8,
    retry_mode: str = "adaptive",
    connect_timeout: float = 5.0,
    read_timeout: float = 20.0,
    cluster: str = "",
    control: RunControl | None = None,
) -> Any:
    """An EC2 client with bounded retries (standard/adaptive: throttling and 5xx, with jitter;
    see :mod:`.retries` for what portsync adds) and per-attempt timeouts.

    Raises:
        ProviderError: boto3 is not installed.
    """
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ProviderError(
            "the AWS provider needs boto3", hint="pip install 'portsync[aws]'"
        ) from exc
    session = _session(boto3, profile, cluster)
    control = control or RunControl()
    config = Config(
        region_name=region,
        retries={"total_max_attempts": max_attempts, "mode": retry_mode},
        connect_timeout=control.clip(connect_timeout),
        read_timeout=control.clip(read_timeout),
        user_agent_extra="portsync",
    )
    kwargs: dict[str, Any] = {"config": config}
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    if anonymous:
        # Emulators only: static dummy keys, never the caller's real credentials.
        kwargs["aws_access_key_id"] = "portsync-emulator"
        kwargs["aws_secret_access_key"] = "portsync-emulator"
    client = session.client("ec2", **kwargs)
    install_retries(client, cluster=cluster, control=control, max_attempts=max_attempts)
    return client


def _session(boto3: Any, profile: str | None, cluster: str) -> Any:
    """A boto3 session for ``profile`` (None: the default chain).

    Raises:
        ConfigError: the profile is defined in neither AWS config file.
    """
    from botocore.exceptions import ProfileNotFound

    if not profile:
        return boto3.session.Session()
    try:
        return boto3.session.Session(profile_name=profile)
    except ProfileNotFound:
        import os

        files = " and ".join(
            os.environ.get(var) or default
            for var, default in (
                ("AWS_CONFIG_FILE", "~/.aws/config"),
                ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
            )
        )
        known = ", ".join(boto3.session.Session().available_profiles) or "none"
        raise ConfigError(
            f"cluster {cluster}: AWS profile {profile!r} is not defined in {files}",
            hint=f"profiles defined: {known}; fix profile: in the cluster, or create it with "
            f"`aws configure --profile {profile}`",
        ) from None


class Ec2Adapter:
    """Batched EC2 reads and writes. ``client`` is injectable for tests and benchmarks.

    ``read_bucket`` / ``write_bucket`` pace calls client-side to EC2's documented throttle
    buckets, so a large apply never trips ``RequestLimitExceeded`` in the first place.
    """

    def __init__(
        self,
        client: Any,
        *,
        read_bucket: TokenBucket | None = None,
        write_bucket: TokenBucket | None = None,
        page_size: int | None = None,
        cluster: str = "",
        control: RunControl | None = None,
    ) -> None:
        self.client = client
        self.read_bucket = read_bucket
        self.write_bucket = write_bucket
        self.page_size = page_size
        self.cluster = cluster
        self.control = control or RunControl()

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        endpoint = str(getattr(getattr(self.client, "meta", None), "endpoint_url", "") or "")
        with self.control.bounded(), map_sdk_errors(what, cluster=self.cluster, endpoint=endpoint):
            yield

    def _before_write(self, what: str) -> None:
        self.control.check_write(what)
        take(self.write_bucket)

    def _pages(self, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator(operation)
        self.control.check(f"{operation} of cluster {self.cluster}")
        with self._errors(operation):
            take(self.read_bucket)
            for page in paginator.paginate(**kwargs):
                items = page.get(key, [])
                if page.get("NextToken"):
                    take(self.read_bucket)  # the next page is one more call
                yield from items

    def all_groups(self) -> Iterator[dict[str, Any]]:
        """Every security group of the region, tags included (``portsync init --discover``)."""
        return self._pages("describe_security_groups", "SecurityGroups")

    def describe_groups(self, group_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Every permission of ``group_ids``: one filtered call, or the region's groups when many.

        Without ``page_size`` the call leaves ``MaxResults`` out, which EC2 documents as "all
        items are returned": one request for the whole region instead of one per 1,000 groups
        (a ``NextToken``, should one come back anyway, is followed). With ``page_size`` it asks
        for pages of that size, for regions whose single answer would be too large to read in
        one request. Missing groups are simply absent from the result.
        """
        wanted = sorted(set(group_ids))
        if not wanted:
            return []
        paging = {"PageSize": self.page_size} if self.page_size else {}
        filters = (
            {"Filters": [{"Name": "group-id", "Values": wanted}]}
            if len(wanted) <= MAX_FILTER_VALUES
            else {}
        )
        items = self._pages(
            "describe_security_groups",
            "SecurityGroups",
            **filters,
            PaginationConfig=paging,
        )
        keep = set(wanted)
        return [g for g in items if g.get("GroupId") in keep]

    def prefix_list_weights(self, prefix_list_ids: Sequence[str]) -> dict[str, tuple[str, int]]:
        """How many rules a reference to each prefix list counts as, and its address family.

        A customer-managed list weighs its ``MaxEntries`` (what EC2 reserves, however few
        entries it holds now); a list without one (AWS-managed lists, whose weight AWS sets) is
        counted by its entries (``GetManagedPrefixListEntries``), at least 1. Lists that do not
        exist are absent from the result.
        """
        wanted = sorted(set(prefix_list_ids))
        if not wanted:
            return {}
        found = {
            str(item["PrefixListId"]): item
            for item in self._pages(
                "describe_managed_prefix_lists",
                "PrefixLists",
                Filters=[{"Name": "prefix-list-id", "Values": wanted}],
            )
            if item.get("PrefixListId") in wanted
        }
        out: dict[str, tuple[str, int]] = {}
        for pl_id, item in found.items():
            family = str(item.get("AddressFamily") or "IPv4")
            weight = item.get("MaxEntries")
            if not isinstance(weight, int) or weight < 1:
                entries = self._pages(
                    "get_managed_prefix_list_entries", "Entries", PrefixListId=pl_id
                )
                weight = max(1, sum(1 for _ in entries))
            out[pl_id] = (family, weight)
        return out

    def describe_rules(self, group_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Rule items (with ids and tags) of ``group_ids``, 200 groups a filter; the filters'
        listings run side by side (:data:`~.limits.READ_WORKERS`), their items in filter order."""
        wanted = sorted(set(group_ids))
        chunks = [
            wanted[start : start + MAX_FILTER_VALUES]
            for start in range(0, len(wanted), MAX_FILTER_VALUES)
        ]

        def listing(chunk: list[str]) -> list[dict[str, Any]]:
            return list(
                self._pages(
                    "describe_security_group_rules",
                    "SecurityGroupRules",
                    Filters=[{"Name": "group-id", "Values": chunk}],
                    PaginationConfig={"PageSize": MAX_RESULTS_PER_PAGE},
                )
            )

        listings = fan_out(listing, chunks, workers=READ_WORKERS, name="aws-rules")
        return [item for items in listings for item in items]

    def describe_groups_and_rules(
        self, group_ids: Sequence[str]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """:meth:`describe_groups` and :meth:`describe_rules` of ``group_ids``, side by side: the
        groups' listing (the region's, above 200 groups) is the largest answer of a read and no
        longer holds up the rules'. When both fail (no credentials, access denied), the groups'
        error is the one raised, as a read one call after another would report it."""
        listings: list[Callable[[Sequence[str]], list[dict[str, Any]]]] = [
            self.describe_groups,
            self.describe_rules,
        ]
        groups, rules = fan_out(
            lambda list_: list_(group_ids), listings, workers=2, name="aws-read"
        )
        return groups, rules

    def call(self, method: str, body: Mapping[str, Any]) -> None:
        """Send one compiled write: the EC2 operation ``method`` (its API name, such as
        ``AuthorizeSecurityGroupIngress``) with exactly ``body`` as its parameters.

        Raises:
            ProviderError: or a subclass (see :mod:`.errors`).
        """
        from botocore import xform_name

        what = _what(method, body)
        operation = getattr(self.client, xform_name(method))
        params = json.loads(json.dumps(dict(body)))  # a private, plain copy for botocore
        self._before_write(what)
        with self._errors(what):
            operation(**params)


def _what(method: str, body: Mapping[str, Any]) -> str:
    """How a write is named in messages: the verb and the security group."""
    gid = body.get("GroupId", "")
    if method.startswith("Authorize"):
        return f"authorize on {gid}"
    if method.startswith("Revoke"):
        return f"revoke on {gid}"
    if method == "ModifySecurityGroupRules":
        return f"modify rules of {gid}"
    if method == "CreateTags":
        return "tag rules"
    return f"{method} on {gid}" if gid else method
