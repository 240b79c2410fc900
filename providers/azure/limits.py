"""Azure limits and fixed values that portsync checks or relies on, each with its source."""

from __future__ import annotations

import re
from typing import Final

#: Custom security rules take a priority from 100 (evaluated first) to 4096; it must be unique
#: per direction within one NSG.
#: https://learn.microsoft.com/azure/virtual-network/network-security-groups-overview#security-rules
MIN_PRIORITY: Final = 100
MAX_PRIORITY: Final = 4096

#: portsync's default band of priorities for the rules it owns.
DEFAULT_PRIORITY_BAND: Final = (1000, 1999)

#: Security rules per network security group.
#: https://learn.microsoft.com/azure/azure-resource-manager/management/azure-subscription-service-limits#azure-resource-manager-virtual-networking-limits
MAX_RULES_PER_NSG: Final = 1000

#: Security rule and NSG names: 1-80 characters, starting with a word character, ending with a
#: word character or ``_``, otherwise word characters, ``.``, ``-`` and ``_``.
#: https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftnetwork
MAX_NAME_LENGTH: Final = 80
NAME_PATTERN: Final = re.compile(r"\w(?:[\w.-]{0,78}\w)?")

#: A rule's ``description`` is "restricted to 140 chars" (networkSecurityGroup.json).
#: https://learn.microsoft.com/rest/api/virtualnetwork/network-security-groups/create-or-update
MAX_DESCRIPTION_LENGTH: Final = 140

#: Resource group names: 1-90 characters of word characters, ``-``, ``_``, ``.``, ``(``, ``)``,
#: not ending with a period.
#: https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftresources
RESOURCE_GROUP_PATTERN: Final = r"^[-\w.()]{0,89}[-\w()]$"

#: The service tag of Azure's load-balancer health probes (the neutral peer ``load-balancers``).
#: https://learn.microsoft.com/azure/virtual-network/service-tags-overview#available-service-tags
LOAD_BALANCER_TAG: Final = "AzureLoadBalancer"

#: The public Azure Resource Manager endpoint.
#: https://learn.microsoft.com/azure/azure-resource-manager/management/overview
DEFAULT_ENDPOINT: Final = "https://management.azure.com"

#: portsync's own cap on ``name_prefix``, so that every generated name fits in 80 characters.
MAX_NAME_PREFIX_LENGTH: Final = 30

#: Hex digits of the digest at the end of every generated rule name.
NAME_HASH_LENGTH: Final = 8

LIMITS: Final = {
    "min_priority": MIN_PRIORITY,
    "max_priority": MAX_PRIORITY,
    "rules_per_nsg": MAX_RULES_PER_NSG,
    "name_length": MAX_NAME_LENGTH,
    "description_length": MAX_DESCRIPTION_LENGTH,
    "name_prefix_length": MAX_NAME_PREFIX_LENGTH,
}

#: Azure Resource Manager throttling, token buckets per subscription (and region):
#: (bucket size, refill per second) for reads and for writes.
#: https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling
READ_BUCKET = (250, 25.0)
WRITE_BUCKET = (200, 10.0)
