"""Two of moto's lookups made direct for the AWS benchmarks: a resource's tags, a rule's group.

moto (5.2) answers "the tags of resource X" by scanning every tag of every resource in the region
and matching each resource id against X. Every tagged object in a listing asks that once, so
``DescribeSecurityGroupRules`` over N rules that carry portsync's three owner tags costs
N × 3N pattern matches: about 50 s for 5,000 rules and, at 20,000 rules, a quarter of an hour per
listing. The quadratic part is moto's, not EC2's and not portsync's, and it swamped the
benchmark (the client's read timeout then fired and its retries stacked more listings on the
server). Likewise ``DescribeSecurityGroupRules`` filtered on 200 group ids matches every rule of
the region against each id as a pattern: the reads of 2,000 groups, ten such calls, made 44
million pattern matches.

:func:`direct_lookups` answers exactly those questions — a ``resource-id`` filter naming one id,
a rule's ``group-id`` filter naming ids, none of them a pattern — by key, and leaves every other
filter to moto's own code. The answers are the same, in the same order;
``tests/test_bench_motoindex.py`` compares them with moto's. Only the benchmarks use it; the test
suite runs moto as shipped.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator
from typing import Any

__all__ = ["direct_lookups"]

#: Characters that make a tag filter value a pattern (``simple_aws_filter_to_re``), not an id.
_PATTERN = frozenset("*?[]\\")
#: A rule filter value is a regular expression (``aws_api_matches``); these make it a literal id.
_LITERAL = re.compile(r"[A-Za-z0-9-]+")


@functools.lru_cache(maxsize=64)
def _literal_ids(values: tuple[Any, ...]) -> frozenset[str] | None:
    """``values`` as a set of ids, or None when one of them is a pattern (moto's own code then
    decides). Cached: moto asks once per rule, with the same values, for every rule it lists."""
    if all(isinstance(v, str) and _LITERAL.fullmatch(v) for v in values):
        return frozenset(values)
    return None


@contextlib.contextmanager
def direct_lookups() -> Iterator[None]:
    """Within the block, moto looks up one resource's tags, and the rules of given groups, by key
    (see the module docstring); outside it, as shipped. Enter it before moto makes any rule (a
    rule keeps its filter functions from its creation). Does nothing without moto."""
    try:
        from moto.ec2.models.security_groups import SecurityGroupRule
        from moto.ec2.models.tags import TagBackend
        from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix
    except ImportError:  # pragma: no cover - moto is in the dev extra
        yield
        return

    shipped = TagBackend.describe_tags
    shipped_group_id = SecurityGroupRule.filter_group_id

    def describe_tags(self: Any, filters: dict[str, list[str]] | None = None) -> Any:
        ids = filters.get("resource-id") if filters is not None and len(filters) == 1 else None
        if not ids or len(ids) != 1 or _PATTERN.intersection(ids[0]):
            return shipped(self, filters)
        rid = ids[0]
        # .get: the table is a defaultdict, and a lookup must not add an empty entry.
        tags = dict(self.tags.get(rid) or {})
        kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(rid), "")
        return [
            {"resource_id": rid, "key": key, "value": value, "resource_type": kind}
            for key, value in tags.items()
        ]

    def filter_group_id(self: Any, values: list[Any]) -> bool:
        ids = _literal_ids(tuple(values))
        if ids is None:
            return bool(shipped_group_id(self, values))
        return str(self.group_id) in ids

    TagBackend.describe_tags = describe_tags  # type: ignore[method-assign]
    SecurityGroupRule.filter_group_id = filter_group_id  # type: ignore[method-assign]
    try:
        yield
    finally:
        TagBackend.describe_tags = shipped  # type: ignore[method-assign]
        SecurityGroupRule.filter_group_id = shipped_group_id  # type: ignore[method-assign]
