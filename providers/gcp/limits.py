"""GCP limits and fixed values that portsync checks or relies on, each with its source."""

from __future__ import annotations

import re
from typing import Final

#: Longest resource name; names match :data:`NAME_PATTERN` (RFC 1035).
#: https://cloud.google.com/compute/docs/naming-resources#resource-name-format
MAX_NAME_LENGTH: Final = 63

#: Firewall names, network tags and network names: a lowercase letter, then lowercase letters,
#: digits or hyphens, not ending with a hyphen, 1-63 characters (RFC 1035).
#: https://cloud.google.com/vpc/docs/add-remove-network-tags#restrictions
NAME_PATTERN: Final = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")

#: Longest ``description`` of a firewall rule.
#: https://cloud.google.com/compute/docs/reference/rest/v1/firewalls
MAX_DESCRIPTION_LENGTH: Final = 2048

#: Firewall priorities: 0 is the highest precedence, 65535 the lowest; 1000 is the default.
#: https://cloud.google.com/firewall/docs/firewalls#priority_order_for_firewall_rules
MIN_PRIORITY: Final = 0
MAX_PRIORITY: Final = 65535
DEFAULT_PRIORITY: Final = 1000

#: ``firewalls.list`` returns at most this many items per page (``maxResults`` 0-500).
#: https://cloud.google.com/compute/docs/reference/rest/v1/firewalls/list
MAX_RESULTS_PER_PAGE: Final = 500

#: Per-rule limits on tags and service accounts.
#: https://cloud.google.com/firewall/docs/quotas#per_firewall_rule
MAX_SOURCE_TAGS: Final = 30
MAX_TARGET_TAGS: Final = 70
MAX_SOURCE_SERVICE_ACCOUNTS: Final = 10
MAX_TARGET_SERVICE_ACCOUNTS: Final = 10

#: Source ranges of Google Cloud load-balancer health checks and proxies (the neutral peer
#: ``load-balancers``): 35.191.0.0/16 and 130.211.0.0/22 for every load balancer, 209.85.152.0/22
#: and 209.85.204.0/22 for the passthrough Network Load Balancers that Services of type
#: LoadBalancer get, and the two IPv6 ranges for IPv6 backends.
#: https://cloud.google.com/load-balancing/docs/health-check-concepts#ip-ranges
#: https://cloud.google.com/load-balancing/docs/firewall-rules
HEALTH_CHECK_RANGES_IPV4: Final = (
    "35.191.0.0/16",
    "130.211.0.0/22",
    "209.85.152.0/22",
    "209.85.204.0/22",
)
HEALTH_CHECK_RANGES_IPV6: Final = ("2600:2d00:1:b029::/64", "2600:2d00:1:1::/64")
HEALTH_CHECK_RANGES: Final = HEALTH_CHECK_RANGES_IPV4 + HEALTH_CHECK_RANGES_IPV6

#: portsync's own cap on ``name_prefix``, so that every generated name fits in 63 characters.
MAX_NAME_PREFIX_LENGTH: Final = 30

#: Hex digits of the digest at the end of every generated firewall name.
NAME_HASH_LENGTH: Final = 8

LIMITS: Final = {
    "name_length": MAX_NAME_LENGTH,
    "description_length": MAX_DESCRIPTION_LENGTH,
    "page_size": MAX_RESULTS_PER_PAGE,
    "max_priority": MAX_PRIORITY,
    "name_prefix_length": MAX_NAME_PREFIX_LENGTH,
}

#: Client-side pacing of Compute API calls per project: (bucket, refill per second). Compute
#: Engine meters API requests per project per minute (read, write and list groups); these
#: defaults stay well inside the default per-minute quotas.
#: https://cloud.google.com/compute/api-quota
READ_BUCKET = (100, 20.0)
WRITE_BUCKET = (50, 10.0)
